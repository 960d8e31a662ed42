//! Changing the number of a phone account (Gatehouse extension, in the manner of Altogic's
//! `changePhone`; issue 17): a six-digit code texted to the new number, bound to the asking
//! flow's PKCE challenge and to the user, proves it; then the account (and the identity and
//! profile that carry the number) moves, and the old number gets a notice.

use gatehouse_proto::ErrorCode;
use serde_json::{Map, Value};

use crate::activity::{record, Origin};
use crate::error::{ApiError, ApiResult};
use crate::providers::magic_link::{is_pkce, s256};
use crate::providers::phone::{flow_of_challenge, new_code, parse, MAX_ATTEMPTS};
use crate::ratelimit::Group;
use crate::sessions::AccessAuth;
use crate::state::AppState;
use crate::store::activity::Kind;
use crate::store::phone::{self as phones, CodeCheck};
use crate::store::phone_changes as rows;
use crate::store::Purpose;

fn no_phone() -> ApiError {
    ApiError::bad_request(
        "this user has no phone identity: only a phone account has a number to change",
    )
}

fn taken() -> ApiError {
    ApiError::new(
        ErrorCode::AccountNameInUse,
        "an account with this phone number already exists",
    )
}

/// The keyed hash of a change code: bound to the app, the user, the new number and the flow.
fn code_hash(
    state: &AppState,
    (app_id, user_id): (&str, &str),
    phone: &str,
    flow: &str,
    code: &str,
) -> String {
    let context = format!("{app_id}/{user_id}/{phone}/{flow}");
    state.keys.code_hash("sms-change_phone", &context, code)
}

fn detail(from: &str, to: &str, stage: &str) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("from".into(), from.into());
    d.insert("to".into(), to.into());
    d.insert("stage".into(), stage.into());
    d
}

/// `POST /auth/phone/change`: texts a code to the new number for the flow of `challenge`. The
/// caller has passed the recent-sign-in check.
pub async fn request(
    state: &AppState,
    auth: &AccessAuth,
    (new_phone, challenge): (&str, &str),
    from: Origin<'_>,
) -> ApiResult<()> {
    let (app_id, user_id) = (&auth.session.app_id, &auth.session.user_id);
    let app = state.app(app_id)?;
    let flow = flow_of_challenge(Some(challenge))?;
    let (_, current) = rows::account_of(state.db.reader(), user_id)
        .await?
        .ok_or_else(no_phone)?;
    let phone = parse(app, new_phone)?;
    if phone.e164 == current {
        return Err(ApiError::bad_request(
            "this is already the account's phone number",
        ));
    }
    if phones::by_phone(state.db.reader(), app_id, &phone.e164)
        .await?
        .is_some()
    {
        return Err(taken());
    }
    state.limiter.check(Group::EmailSend, from.ip).await?;
    state.limiter.allow_sms(&phone.e164, from.ip).await?;
    let code = new_code();
    let now = state.now();
    let ttl = state.config.tokens.sms_code_ttl_secs;
    let hash = code_hash(state, (app_id, user_id), &phone.e164, flow, &code);
    let mut tx = state.db.writer().begin().await?;
    phones::issue_code(
        &mut tx,
        app_id,
        &phone.e164,
        Purpose::ChangePhone,
        flow,
        &hash,
        now,
        ttl,
    )
    .await?;
    tx.commit().await?;
    let name = if app.name.is_empty() {
        app_id.as_str()
    } else {
        &app.name
    };
    state.sms.send(
        &phone.e164,
        format!(
            "{code} is your {name} code to make this the number of your account. It expires in \
             {} minutes. Never share it.",
            ttl / 60
        ),
    );
    record(
        state,
        (app_id, user_id),
        Kind::PhoneChanged,
        detail(&current, &phone.e164, "requested"),
        Some(from),
    )
    .await;
    Ok(())
}

/// `POST /auth/phone/change/confirm`: checks the code texted for this flow, moves the account to
/// the new number and texts a notice to the old one.
pub async fn confirm(
    state: &AppState,
    auth: &AccessAuth,
    (new_phone, code, verifier): (&str, &str, &str),
    from: Origin<'_>,
) -> ApiResult<()> {
    let (app_id, user_id) = (&auth.session.app_id, &auth.session.user_id);
    let app = state.app(app_id)?;
    state.limiter.check(Group::Redeem, from.ip).await?;
    if !is_pkce(verifier) {
        return Err(ApiError::invalid_parameter(
            "code_verifier must be 43-128 unreserved characters",
        ));
    }
    let flow = s256(verifier);
    let (account_id, current) = rows::account_of(state.db.reader(), user_id)
        .await?
        .ok_or_else(no_phone)?;
    let phone = parse(app, new_phone)?;
    let wrong = || {
        ApiError::new(
            ErrorCode::InvalidCode,
            "the code is not right; check the latest text message",
        )
    };
    match rows::pending_number(state.db.reader(), app_id, &flow).await? {
        Some(sent_to) if sent_to != phone.e164 => {
            return Err(ApiError::new(
                ErrorCode::InvalidCode,
                "this code was sent to another number; enter the number you asked to change to, \
                 or ask for a new code",
            ))
        }
        _ => {}
    }
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(wrong());
    }
    let hash = code_hash(state, (app_id, user_id), &phone.e164, &flow, code);
    let check = phones::check_code(
        &state.db,
        app_id,
        &phone.e164,
        Purpose::ChangePhone,
        &flow,
        &hash,
        state.now(),
        MAX_ATTEMPTS,
    )
    .await?;
    match check {
        CodeCheck::Accepted => {}
        CodeCheck::Wrong | CodeCheck::NoCode => return Err(wrong()),
        CodeCheck::Expired => {
            return Err(ApiError::new(
                ErrorCode::CodeExpired,
                "the code has expired; ask for a new one",
            ))
        }
        CodeCheck::AlreadyUsed => {
            return Err(ApiError::new(
                ErrorCode::CodeAlreadyUsed,
                "the code was already used; ask for a new one",
            ))
        }
        CodeCheck::TooManyAttempts => {
            return Err(ApiError::new(
                ErrorCode::TooManyAttempts,
                "too many wrong tries for this code; ask for a new one",
            ))
        }
    }
    let mut tx = state.db.writer().begin().await?;
    if phones::by_phone(&mut *tx, app_id, &phone.e164)
        .await?
        .is_some()
    {
        return Err(taken());
    }
    let moved = rows::move_number(&mut tx, (&account_id, user_id), (&current, &phone.e164))
        .await
        .map_err(crate::error::on_conflict(
            ErrorCode::AccountNameInUse,
            "an account with this phone number already exists",
        ))?;
    if !moved {
        return Err(ApiError::bad_request(
            "the account's number changed meanwhile; ask for a new code",
        ));
    }
    tx.commit().await?;
    let name = if app.name.is_empty() {
        app_id.as_str()
    } else {
        &app.name
    };
    let last = &phone.e164[phone.e164.len().saturating_sub(2)..];
    state.sms.send(
        &current,
        format!(
            "The phone number of your {name} account was changed to a number ending in {last}. \
             If this was not you, reset your password at once."
        ),
    );
    record(
        state,
        (app_id, user_id),
        Kind::PhoneChanged,
        detail(&current, &phone.e164, "confirmed"),
        Some(from),
    )
    .await;
    tracing::info!(app_id, user_id = %user_id, "phone number changed");
    Ok(())
}
