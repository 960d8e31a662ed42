//! New-device sign-in alerts (issue 17, `[apps.<id>.new_device_alerts]`, off by default).
//!
//! Which devices are known lives in the `known_devices` table rather than being read back from
//! `sign_in` events: the activity log is pruned after `[activity] keep_days`, and a device used
//! long ago must not turn "new" then. Every sign-in remembers its device (alerts on or off), so
//! turning alerts on later does not flag every device at once. An account's very first device
//! is never an alert, nor is any sign-in of an anonymous user (nobody to tell).
//!
//! The alert goes to the account's confirmed email, or by text to its phone for phone-only
//! accounts, in the background (the login does not wait for it). Its "this wasn't me" link opens
//! a page with a button (mail scanners fetch links; only the POST acts) that ends every session
//! and starts a password reset, as the reset endpoint would. Links are single-use, stored hashed,
//! and work for [`LINK_TTL_SECS`].

use gatehouse_proto::auth::DeviceInfo;
use gatehouse_proto::routes::provider;
use gatehouse_proto::ErrorCode;
use serde_json::Value;

use crate::activity::{self, Origin};
use crate::crypto::{secret_256, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::mail::Mail;
use crate::ratelimit::Group;
use crate::state::AppState;
use crate::store::activity::Kind;
use crate::store::device_alerts::{self as alerts, Refused};
use crate::store::sessions::{self as session_rows, SessionRow};
use crate::store::{userpass as email_accounts, Purpose};

/// How long a "this wasn't me" link works: the owner may read the alert days later.
pub const LINK_TTL_SECS: i64 = 7 * 24 * 3600;

/// Whether a sign-in of `session` is remembered (by `activity::sign_in`, in the unit that
/// records the `sign_in` event): not for anonymous users (nobody to tell).
pub fn remembers(session: &SessionRow) -> bool {
    session.provider_type != provider::ANONYMOUS
}

/// Alerts the owner of `session`'s user of a sign-in from a new device, in the background: for
/// a login whose transaction recorded its `new_device` event as alerted
/// (`crate::activity::sign_in`), once committed.
pub async fn alert(state: &AppState, session: &SessionRow) {
    let now = state.now();
    let (later, session) = (state.clone(), session.clone());
    state
        .background
        .run("new-device alert", async move {
            send_alert(&later, &session, now).await
        })
        .await;
}

/// Where the owner hears of it: the confirmed email, else a confirmed phone.
enum Contact {
    Email(String),
    Phone(String),
}

async fn contact(state: &AppState, user_id: &str) -> ApiResult<Option<Contact>> {
    if let Some(a) = email_accounts::by_user(state.db.reader(), user_id).await? {
        if a.confirmed {
            return Ok(Some(Contact::Email(a.email)));
        }
    }
    Ok(alerts::confirmed_phone(state.db.reader(), user_id)
        .await?
        .map(Contact::Phone))
}

async fn send_alert(state: &AppState, session: &SessionRow, now: i64) -> ApiResult<()> {
    let Some(to) = contact(state, &session.user_id).await? else {
        return Ok(());
    };
    let app = state.app(&session.app_id)?;
    let app_name = if app.name.is_empty() {
        session.app_id.as_str()
    } else {
        app.name.as_str()
    };
    let token = secret_256();
    let owner = (session.app_id.as_str(), session.user_id.as_str());
    let id = alerts::issue(
        state.db.writer(),
        owner,
        &sha256_hex(token.as_bytes()),
        now,
        LINK_TTL_SECS,
    )
    .await?;
    let link = format!(
        "{}/app/{}/not-me?token={token}&tokenId={id}",
        state.public_url, session.app_id
    );
    let device = describe(session);
    let from = session.ip.as_deref().unwrap_or("an unknown address");
    let when = utc(now);
    let mail = match to {
        Contact::Email(email) => Mail {
            to: email,
            subject: format!("New sign-in to {app_name} from {}", short(session)),
            text: format!(
                "Your {app_name} account was just signed in from a device it has not used \
                 before.\n\nDevice: {device}\nAddress: {from}\nTime: {when}\n\nIf this was you, \
                 there is nothing to do. If it wasn't, this link signs out every device and \
                 sends you a password reset (it works for 7 days):\n{link}\n"
            ),
            links: vec![link],
            channel: "email",
        },
        Contact::Phone(phone) => {
            state.sms.send(
                &phone,
                format!(
                    "New {app_name} sign-in: {} from {from} at {when}. Not you? {link}",
                    short(session)
                ),
            );
            return Ok(());
        }
    };
    state.mailer.send(mail);
    Ok(())
}

/// Platform, app name and version, and user agent, as far as the login told them.
fn describe(session: &SessionRow) -> String {
    let d = serde_json::from_str::<DeviceInfo>(&session.device).unwrap_or_default();
    let mut parts = vec![short(session)];
    if let Some(app) = &d.app_id {
        let version = d.app_version.as_deref().unwrap_or("");
        parts.push(format!("app {app} {version}").trim_end().to_string());
    }
    if let Some(ua) = &session.user_agent {
        parts.push(format!("user agent \"{ua}\""));
    }
    parts.join(", ")
}

fn short(session: &SessionRow) -> String {
    let d = serde_json::from_str::<DeviceInfo>(&session.device).unwrap_or_default();
    match (&d.platform, &d.platform_version) {
        (Some(p), Some(v)) => format!("{p} {v}"),
        (Some(p), None) => p.clone(),
        _ => "an unknown device".into(),
    }
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM:SS UTC` (civil-from-days, proleptic Gregorian).
pub fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// What the button did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotMe {
    pub sessions: u64,
    /// `email` or `sms`: where the reset went.
    pub reset_by: &'static str,
}

/// The link's POST: consumes it, ends every session of the user (one `lockdown` event), then
/// asks for a password reset the way the reset endpoints do.
pub async fn not_me(
    state: &AppState,
    app_id: &str,
    (token, token_id): (&str, &str),
    from: Origin<'_>,
) -> ApiResult<NotMe> {
    state.app(app_id)?;
    state.limiter.check(Group::Redeem, from.ip).await?;
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let consumed = alerts::consume(
        &mut tx,
        (app_id, token_id),
        &sha256_hex(token.as_bytes()),
        now,
    )
    .await?;
    let user_id = consumed.map_err(|why| {
        let message = match why {
            Refused::Unknown => "this link is not valid: it is not complete or not one we sent",
            Refused::Used => {
                "this link was already used: every session was ended then; sign in with your \
                 new password"
            }
            Refused::Expired => {
                "this link has expired (links in sign-in alerts work for 7 days); reset your \
                 password from the app instead"
            }
        };
        ApiError::new(ErrorCode::UserpassTokenInvalid, message)
    })?;
    let sessions =
        session_rows::revoke_user(&mut *tx, &user_id, None, "not me (new-device alert)", now)
            .await?;
    tx.commit().await?;
    let detail = activity::detail([
        ("sessions_ended", Value::from(sessions)),
        ("via", Value::from("new_device_alert")),
    ]);
    activity::record(
        state,
        (app_id, &user_id),
        Kind::Lockdown,
        detail,
        Some(from),
    )
    .await;
    tracing::info!(
        app_id,
        user_id,
        sessions,
        "sessions ended from a new-device alert"
    );
    // The sessions are ended and the link used: a reset that cannot be sent now (a budget, a
    // provider the app turned off) must not turn that into an error page. The page then says
    // to reset from the app.
    let reset_by = match start_reset(state, app_id, &user_id, from.ip).await {
        Ok(by) => by,
        Err(e) => {
            tracing::warn!(error = %e.message, "could not start the reset after \"not me\"");
            "none"
        }
    };
    Ok(NotMe { sessions, reset_by })
}

/// Asks for a password reset for the user's confirmed email (or phone) as the reset endpoints do.
async fn start_reset(
    state: &AppState,
    app_id: &str,
    user_id: &str,
    ip: std::net::IpAddr,
) -> ApiResult<&'static str> {
    Ok(match contact(state, user_id).await? {
        Some(Contact::Email(email)) => {
            crate::providers::userpass::send_reset(state, app_id, &email, ip).await?;
            "email"
        }
        Some(Contact::Phone(phone)) => {
            let to = (phone.as_str(), None);
            crate::providers::phone::send(state, app_id, Purpose::Reset, to, ip).await?;
            "sms"
        }
        None => "none",
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc(1_798_761_599), "2026-12-31 23:59:59 UTC");
    }
}
