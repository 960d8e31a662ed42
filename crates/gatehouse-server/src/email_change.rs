//! Changing the address of an email/password account (Gatehouse extension, in the manner of
//! Altogic's `changeEmail`; issue 17). The request mails a link to the new address and changes
//! nothing: the account keeps signing in with its old address until that link's page is
//! submitted. Then the address moves, and the old address gets a notice with an undo link valid
//! for 72 hours that restores it and ends every session. Links open a page with a button; only
//! its POST acts (mail scanners fetch links).

use gatehouse_proto::ErrorCode;
use serde_json::{Map, Value};

use crate::activity::{record, Origin};
use crate::crypto::{secret_256, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::mail::Mail;
use crate::ratelimit::Group;
use crate::sessions::AccessAuth;
use crate::state::AppState;
use crate::store::activity::Kind;
use crate::store::email_changes::{self as changes, Change, Refusal, Step};
use crate::store::{sessions as session_rows, userpass as accounts};

/// How long the confirmation link mailed to the new address works.
pub const CONFIRM_TTL_SECS: i64 = 24 * 3600;
/// How long the undo link mailed to the old address works.
pub const UNDO_TTL_SECS: i64 = 72 * 3600;

/// What a followed confirmation link did.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub new_email: String,
}

/// What a followed undo link did.
#[derive(Debug, Clone)]
pub struct Undone {
    pub email: String,
    pub sessions: u64,
}

fn taken() -> ApiError {
    ApiError::new(
        ErrorCode::AccountNameInUse,
        "an account with this email address already exists",
    )
}

fn detail(change: &Change, stage: &str) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("from".into(), change.old_email.as_str().into());
    d.insert("to".into(), change.new_email.as_str().into());
    d.insert("stage".into(), stage.into());
    d
}

fn app_name<'a>(state: &'a AppState, app_id: &'a str) -> &'a str {
    match state.app(app_id) {
        Ok(app) if !app.name.is_empty() => &app.name,
        _ => app_id,
    }
}

/// `POST /auth/email/change`: checks the new address and mails it a confirmation link (a newer
/// request voids the older link). The caller has passed the recent-sign-in check.
pub async fn request(
    state: &AppState,
    auth: &AccessAuth,
    new_email: &str,
    from: Origin<'_>,
) -> ApiResult<()> {
    let session = &auth.session;
    let account = accounts::by_user(state.db.reader(), &session.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::bad_request(
                "this user has no email/password identity: only an email/password account has an \
                 address to change",
            )
        })?;
    let new_email = crate::email::canonicalize(new_email).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidEmail,
            format!("invalid email address: {e}"),
        )
    })?;
    if new_email == account.email {
        return Err(ApiError::bad_request(
            "this is already the account's email address",
        ));
    }
    if accounts::by_email(state.db.reader(), &session.app_id, &new_email)
        .await?
        .is_some()
    {
        return Err(taken());
    }
    let change = Change {
        userpass_id: account.id.clone(),
        user_id: session.user_id.clone(),
        old_email: account.email.clone(),
        new_email,
    };
    let token = secret_256();
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    changes::void(&mut *tx, &account.id, Step::Confirm, now).await?;
    let token_id = changes::insert(
        &mut *tx,
        (&session.app_id, &change),
        Step::Confirm,
        &sha256_hex(token.as_bytes()),
        now,
        CONFIRM_TTL_SECS,
    )
    .await?;
    tx.commit().await?;
    let link = format!(
        "{}/app/{}/email-change?token={token}&tokenId={token_id}",
        state.public_url, session.app_id
    );
    let name = app_name(state, &session.app_id);
    let mail = Mail {
        to: change.new_email.clone(),
        subject: format!("Confirm your new email address for {name}"),
        text: format!(
            "Someone signed in to {name} asked to make this the email address of their \
             account. Open this link and press the button to confirm (it works for 24 hours):\n\
             {link}\n\nIf this was not you, ignore this mail: nothing changes.\n"
        ),
        links: vec![link],
        channel: "email",
    };
    if state.limiter.allow_mail("email_change", &mail.to).await {
        state.mailer.send(mail);
    } else {
        tracing::info!("email-change mail suppressed by the per-address limit");
    }
    let event = detail(&change, "requested");
    record(
        state,
        (&session.app_id, &session.user_id),
        Kind::EmailChanged,
        event,
        Some(from),
    )
    .await;
    tracing::info!(user_id = %session.user_id, "email change requested");
    Ok(())
}

fn refused(refusal: Refusal, step: Step) -> ApiError {
    let message = match (refusal, step) {
        (Refusal::Unknown, _) => "this link is not valid: it is not complete or was not sent by us",
        (Refusal::Used, Step::Confirm) => {
            "this link was already used, or a newer change request replaced it; ask for the \
             change again from the app"
        }
        (Refusal::Expired, Step::Confirm) => {
            "this link has expired (it works for 24 hours); ask for the change again from the app"
        }
        (Refusal::Used, Step::Undo) => "this undo link was already used",
        (Refusal::Expired, Step::Undo) => {
            "this undo link has expired: it works for 72 hours after the change. If you did not \
             make the change, reset your password with the new address or contact support"
        }
    };
    ApiError::new(ErrorCode::UserpassTokenInvalid, message)
}

/// The confirmation page's POST: moves the account to the new address (the password stays),
/// voids other pending changes and mails the old address a notice with an undo link.
pub async fn confirm(
    state: &AppState,
    app_id: &str,
    (token, token_id): (&str, &str),
    from: Origin<'_>,
) -> ApiResult<Confirmed> {
    state.app(app_id)?;
    state.limiter.check(Group::Redeem, from.ip).await?;
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let hash = sha256_hex(token.as_bytes());
    let change = changes::consume(&mut tx, (app_id, token_id), Step::Confirm, &hash, now)
        .await?
        .map_err(|r| refused(r, Step::Confirm))?;
    // Dropping `tx` on an error below rolls the use of the link back: nothing changed.
    if accounts::by_email(&mut *tx, app_id, &change.new_email)
        .await?
        .is_some()
    {
        return Err(taken());
    }
    let moved = changes::move_address(&mut tx, &change, (&change.old_email, &change.new_email))
        .await
        .map_err(crate::error::on_conflict(
            ErrorCode::AccountNameInUse,
            "an account with this email address already exists",
        ))?;
    if !moved {
        return Err(ApiError::new(
            ErrorCode::UserpassTokenInvalid,
            "the account's email address changed since this link was sent; ask again",
        ));
    }
    changes::void(&mut *tx, &change.userpass_id, Step::Confirm, now).await?;
    let undo = secret_256();
    let undo_id = changes::insert(
        &mut *tx,
        (app_id, &change),
        Step::Undo,
        &sha256_hex(undo.as_bytes()),
        now,
        UNDO_TTL_SECS,
    )
    .await?;
    tx.commit().await?;
    let link = format!(
        "{}/app/{app_id}/email-change/undo?token={undo}&tokenId={undo_id}",
        state.public_url
    );
    let name = app_name(state, app_id);
    // A security notice: never held back by the per-address mail limit.
    state.mailer.send(Mail {
        to: change.old_email.clone(),
        subject: format!("The email address of your {name} account was changed"),
        text: format!(
            "The email address of your {name} account was changed from this one to {}. \
             If this was not you, this link restores this address and signs out every device \
             (it works for 72 hours):\n{link}\n",
            change.new_email
        ),
        links: vec![link],
        channel: "email",
    });
    record(
        state,
        (app_id, &change.user_id),
        Kind::EmailChanged,
        detail(&change, "confirmed"),
        Some(from),
    )
    .await;
    tracing::info!(app_id, user_id = %change.user_id, "email change confirmed");
    Ok(Confirmed {
        new_email: change.new_email,
    })
}

/// The undo page's POST: restores the old address if no other account took it meanwhile, voids
/// pending changes and ends every session of the user.
pub async fn undo(
    state: &AppState,
    app_id: &str,
    (token, token_id): (&str, &str),
    from: Origin<'_>,
) -> ApiResult<Undone> {
    state.app(app_id)?;
    state.limiter.check(Group::Redeem, from.ip).await?;
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let hash = sha256_hex(token.as_bytes());
    let change = changes::consume(&mut tx, (app_id, token_id), Step::Undo, &hash, now)
        .await?
        .map_err(|r| refused(r, Step::Undo))?;
    let in_use = || {
        ApiError::new(
            ErrorCode::AccountNameInUse,
            "the old address now belongs to another account, so it cannot be restored; reset \
             your password with the current address instead",
        )
    };
    if accounts::by_email(&mut *tx, app_id, &change.old_email)
        .await?
        .is_some()
    {
        return Err(in_use());
    }
    let moved = changes::move_address(&mut tx, &change, (&change.new_email, &change.old_email))
        .await
        .map_err(|e| {
            if crate::error::is_unique_violation(&e) {
                in_use()
            } else {
                ApiError::from(e)
            }
        })?;
    if !moved {
        return Err(ApiError::new(
            ErrorCode::UserpassTokenInvalid,
            "the account's email address was changed again since this link was sent, so this \
             link no longer applies",
        ));
    }
    changes::void(&mut *tx, &change.userpass_id, Step::Confirm, now).await?;
    let sessions =
        session_rows::revoke_user(&mut *tx, &change.user_id, None, "email change undone", now)
            .await?;
    tx.commit().await?;
    record(
        state,
        (app_id, &change.user_id),
        Kind::EmailChanged,
        detail(&change, "undone"),
        Some(from),
    )
    .await;
    tracing::info!(app_id, user_id = %change.user_id, sessions, "email change undone");
    Ok(Undone {
        email: change.old_email,
        sessions,
    })
}
