//! `local-userpass`: email/password accounts — login, linking, registration, confirmation,
//! resend, reset.
//!
//! Enumeration safety (security.md S-11–S-13): every failed login answers the same generic 401
//! after the same work (one Argon2id verification, the same queries); register, resend and reset
//! answer 204 whether or not the address has an account, and the owner gets a notice instead of a
//! second account. `strict_app_services_errors` restores the App Services codes for apps that
//! depend on them.

use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::routes::provider;
use gatehouse_proto::userpass::{RegisterRequest, ResetRequest, TokenRequest};
use gatehouse_proto::{ErrorCode, ProviderType};
use serde_json::{Map, Value};

use super::credentials::UserpassLogin;
use super::throttle::check_password;
use crate::config::AppConfig;
use crate::crypto::{secret_256, sha256_hex};
use crate::error::{on_conflict, ApiError, ApiResult};
use crate::mail::Mail;
use crate::ratelimit::Group;
use crate::sessions::LoginContext;
use crate::state::AppState;
use crate::store::failures;
use crate::store::unconfirmed::{self, PasswordTable};
use crate::store::userpass::{self as accounts, Account, Purpose};
use crate::store::{sessions as session_rows, users};

/// Checks an email/password pair (throttled, equal work on every path).
async fn verify(
    state: &AppState,
    app_id: &str,
    username: &str,
    password: &str,
    from: crate::activity::Origin<'_>,
) -> ApiResult<Account> {
    let email = crate::email::canonicalize(username).ok();
    let account_key = email
        .clone()
        .unwrap_or_else(|| username.trim().to_lowercase().chars().take(254).collect());
    let account = match &email {
        Some(email) => accounts::by_email(state.db.reader(), app_id, email).await?,
        None => None,
    };
    let stale = check_password(
        state,
        app_id,
        &account_key,
        account.as_ref().map(|a| a.password_hash.clone()),
        password,
        from,
        account
            .as_ref()
            .and_then(|a| a.user_id.as_deref())
            .map(|u| (u, provider::USERPASS)),
    )
    .await?;
    let account = account.ok_or_else(ApiError::invalid_credentials)?;
    if stale {
        let hash = state
            .hasher
            .hash(crate::password::policy::normalize(password))
            .await?;
        accounts::set_password(state.db.writer(), &account.id, &hash).await?;
    }
    Ok(account)
}

fn confirmation_required() -> ApiError {
    ApiError::new(
        ErrorCode::AuthError,
        "confirmation required: open the link in the confirmation email, or ask for a new one",
    )
}

pub async fn login(
    state: &AppState,
    app_id: &str,
    creds: UserpassLogin,
    ctx: &LoginContext,
    ip: std::net::IpAddr,
) -> ApiResult<LoginResponse> {
    let from = crate::activity::Origin {
        ip,
        user_agent: ctx.user_agent.as_deref(),
    };
    let account = verify(
        state,
        app_id,
        creds.username.required("username")?,
        creds.password.required("password")?,
        from,
    )
    .await?;
    if !account.confirmed {
        return Err(confirmation_required());
    }
    open_session(state, app_id, &account, provider::USERPASS, ctx).await
}

/// The account's user and a new session for it (see [`super::open_account_session`]).
pub(crate) async fn open_session(
    state: &AppState,
    app_id: &str,
    account: &Account,
    session_provider: &str,
    ctx: &LoginContext,
) -> ApiResult<LoginResponse> {
    super::open_account_session(state, app_id, local(account), session_provider, ctx).await
}

/// The account as the provider-independent code sees it.
pub(crate) fn local(account: &Account) -> super::LocalAccount<'_> {
    super::LocalAccount {
        kind: super::AccountKind::Userpass,
        id: &account.id,
        user_id: account.user_id.as_deref(),
        field: "email",
        value: &account.email,
    }
}

pub async fn link(
    state: &AppState,
    app_id: &str,
    creds: UserpassLogin,
    user_id: &str,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let from = crate::activity::Origin::ip_only(ip);
    let account = verify(
        state,
        app_id,
        creds.username.required("username")?,
        creds.password.required("password")?,
        from,
    )
    .await?;
    if !account.confirmed {
        return Err(confirmation_required());
    }
    match account.user_id.as_deref() {
        Some(owner) if owner == user_id => Ok(()),
        Some(_) => Err(ApiError::new(
            ErrorCode::IdentityInUse,
            "this email/password account already belongs to another user; \
             log in with it instead of linking",
        )),
        None => {
            let now = state.now();
            let mut tx = state.db.writer().begin().await?;
            let mut identity = Map::new();
            identity.insert("email".into(), Value::String(account.email.clone()));
            let linked_elsewhere = "this account was just linked elsewhere";
            users::add_identity(
                &mut *tx,
                app_id,
                user_id,
                provider::USERPASS,
                provider::USERPASS,
                &account.id,
                &identity,
                now,
            )
            .await
            .map_err(on_conflict(ErrorCode::IdentityInUse, linked_elsewhere))?;
            if !accounts::attach_user(&mut *tx, &account.id, user_id).await? {
                return Err(ApiError::new(ErrorCode::IdentityInUse, linked_elsewhere));
            }
            if let Some(user) = users::get(&mut *tx, user_id).await? {
                let mut data = user.data;
                data.insert("email".into(), Value::String(account.email.clone()));
                users::set_data(&mut *tx, user_id, &data).await?;
            }
            tx.commit().await?;
            tracing::info!(app_id, user_id, "linked an email/password identity");
            Ok(())
        }
    }
}

fn canonical(email: &str) -> ApiResult<String> {
    crate::email::canonicalize(email).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidEmail,
            format!("invalid email address: {e}"),
        )
    })
}

pub(crate) fn check_policy(
    state: &AppState,
    app: &AppConfig,
    email: &str,
    password: &str,
) -> ApiResult<String> {
    let local = email.split('@').next().unwrap_or("");
    state
        .policy
        .check(password, &[app.name.as_str(), local, "gatehouse"])
        .map_err(|v| ApiError::new(ErrorCode::WeakPassword, v.to_string()))
}

pub async fn register(
    state: &AppState,
    app_id: &str,
    req: RegisterRequest,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::Userpass)?;
    state.limiter.check(Group::Register, ip).await?;
    let email = canonical(&req.email)?;
    let normalized = check_policy(state, app, &email, &req.password)?;
    // Hash even when the address is taken, so both answers cost the same.
    let hash = state.hasher.hash(normalized).await?;
    if app.strict_app_services_errors || app.userpass.auto_confirm || app.confirm_function.is_some()
    {
        // The answer depends on the outcome here (409 for a confirmed address, an account that
        // can log in at once, the function's verdict), so the work is done before answering.
        return store_registration(state, app_id, app, &email, &hash).await;
    }
    // By mail, the answer is 204 whatever happens: the address-dependent work (a new account,
    // or a replaced password, or a notice, and the mail) is done after answering, so that a new
    // address and a known one take the same time (issue 12, item 10).
    let (later, app_id) = (state.clone(), app_id.to_string());
    state
        .background
        .run("registration", async move {
            let app = later.provider(&app_id, ProviderType::Userpass)?;
            store_registration(&later, &app_id, app, &email, &hash).await
        })
        .await;
    Ok(())
}

/// The account (or, for a taken address, [`existing_registration`]), its confirmation and mail.
async fn store_registration(
    state: &AppState,
    app_id: &str,
    app: &AppConfig,
    email: &str,
    hash: &str,
) -> ApiResult<()> {
    let now = state.now();
    let auto = app.userpass.auto_confirm;
    let mut tx = state.db.writer().begin().await?;
    let Some(id) = accounts::insert(&mut *tx, app_id, email, hash, auto, now).await? else {
        tx.rollback().await?;
        return existing_registration(state, app_id, app, email, hash).await;
    };
    let by_function = !auto && app.confirm_function.is_some();
    let mail = if auto || by_function {
        None
    } else {
        let account = accounts::by_id(&mut *tx, &id)
            .await?
            .ok_or_else(ApiError::internal)?;
        Some(confirmation_mail(state, &mut tx, app_id, app, &account, now).await?)
    };
    tx.commit().await?;
    if let Some(mail) = mail {
        send_limited(state, "confirm", mail).await;
    }
    if let (true, Some(hook)) = (by_function, &app.confirm_function) {
        let account = accounts::by_id(state.db.reader(), &id)
            .await?
            .ok_or_else(ApiError::internal)?;
        if let Err(e) =
            super::userpass_functions::confirm_with_function(state, app_id, hook, &account).await
        {
            // A refused (or unreachable) confirmation leaves no account behind to squat the
            // address.
            accounts::delete_unconfirmed(state.db.writer(), &id).await?;
            return Err(e);
        }
    }
    tracing::info!(
        app_id,
        auto_confirmed = auto,
        "registered an email/password account"
    );
    Ok(())
}

/// A registration for an address that has an account: no second account. A confirmed owner
/// hears of it; an unconfirmed account takes the new registrant's password (the earlier one is
/// dropped, and with it every confirmation link issued for it) and a new link is mailed, so only
/// whoever reads the mailbox can make the account live, with the password they chose.
async fn existing_registration(
    state: &AppState,
    app_id: &str,
    app: &AppConfig,
    email: &str,
    hash: &str,
) -> ApiResult<()> {
    let account = accounts::by_email(state.db.writer(), app_id, email).await?;
    let taken = || ApiError::new(ErrorCode::AccountNameInUse, "name already in use");
    let Some(account) = account else {
        return if app.strict_app_services_errors {
            Err(taken())
        } else {
            Ok(())
        };
    };
    if !account.confirmed {
        let mut tx = state.db.writer().begin().await?;
        if unconfirmed::replace_password(&mut *tx, PasswordTable::Userpass, &account.id, hash)
            .await?
        {
            let account = accounts::by_id(&mut *tx, &account.id)
                .await?
                .ok_or_else(ApiError::internal)?;
            let now = state.now();
            if app.userpass.auto_confirm {
                accounts::confirm(&mut *tx, &account.id, now).await?;
                tx.commit().await?;
            } else if let Some(hook) = &app.confirm_function {
                // Links of the earlier password are bound to it; ask the function again.
                tx.commit().await?;
                super::userpass_functions::confirm_with_function(state, app_id, hook, &account)
                    .await?;
            } else {
                let mail = confirmation_mail(state, &mut tx, app_id, app, &account, now).await?;
                tx.commit().await?;
                send_limited(state, "confirm", mail).await;
            }
            tracing::info!(app_id, "re-registration replaced an unconfirmed password");
            return Ok(());
        }
        // Confirmed meanwhile: answer as for a confirmed account.
        tx.rollback().await?;
    }
    if app.strict_app_services_errors {
        return Err(taken());
    }
    send_limited(
        state,
        "notice",
        Mail {
            to: account.email.clone(),
            subject: format!(
                "Someone tried to sign up for {} with your address",
                app_display(app, app_id)
            ),
            text: "Someone tried to create an account with this email address, which already has \
               one. If it was you, log in instead or reset your password. Otherwise you can \
               ignore this message."
                .into(),
            links: vec![],
            channel: "email",
        },
    )
    .await;
    Ok(())
}

fn app_display<'a>(app: &'a AppConfig, app_id: &'a str) -> &'a str {
    if app.name.is_empty() {
        app_id
    } else {
        &app.name
    }
}

async fn send_limited(state: &AppState, kind: &str, mail: Mail) {
    if state.limiter.allow_mail(kind, &mail.to).await {
        state.mailer.send(mail);
    } else {
        tracing::info!(to = %mail.to, "mail to this address suppressed by the per-address limit");
    }
}

fn page_link(base: Option<&String>, default: String, token: &str, token_id: &str) -> String {
    let base = base.cloned().unwrap_or(default);
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}token={token}&tokenId={token_id}")
}

/// A new confirmation token (voiding older ones) and its mail, for an existing account.
async fn resend_confirmation_mail(
    state: &AppState,
    app_id: &str,
    app: &AppConfig,
    account: &Account,
) -> ApiResult<()> {
    let mut tx = state.db.writer().begin().await?;
    let mail = confirmation_mail(state, &mut tx, app_id, app, account, state.now()).await?;
    tx.commit().await?;
    send_limited(state, "confirm", mail).await;
    Ok(())
}

async fn confirmation_mail(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    app_id: &str,
    app: &AppConfig,
    account: &Account,
    now: i64,
) -> ApiResult<Mail> {
    let token = secret_256();
    let token_id = accounts::issue_token(
        tx,
        account,
        Purpose::Confirm,
        &sha256_hex(token.as_bytes()),
        now,
        state.config.tokens.confirm_ttl_secs,
    )
    .await?;
    let link = page_link(
        app.userpass.confirm_url.as_ref(),
        format!("{}/app/{app_id}/confirm", state.public_url),
        &token,
        &token_id,
    );
    Ok(Mail {
        to: account.email.clone(),
        subject: format!(
            "Confirm your email address for {}",
            app_display(app, app_id)
        ),
        text: format!(
            "Open this link to confirm your email address:\n\n{link}\n\nThe link works once \
             and expires in {} minutes. If you did not sign up, ignore this message.",
            state.config.tokens.confirm_ttl_secs / 60
        ),
        links: vec![link],
        channel: "email",
    })
}

/// `confirm` (and the mailed link's page), under the per-IP bucket for redeeming tokens.
pub async fn confirm(
    state: &AppState,
    app_id: &str,
    req: TokenRequest,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    state.provider(app_id, ProviderType::Userpass)?;
    state.limiter.check(Group::Redeem, ip).await?;
    confirm_token(state, app_id, req).await
}

/// Confirms with a token (a confirmation function's success arrives here directly).
pub(crate) async fn confirm_token(
    state: &AppState,
    app_id: &str,
    req: TokenRequest,
) -> ApiResult<()> {
    state.provider(app_id, ProviderType::Userpass)?;
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let account = accounts::consume_token(
        &mut tx,
        app_id,
        &req.token_id,
        &sha256_hex(req.token.as_bytes()),
        Purpose::Confirm,
        now,
    )
    .await?
    .ok_or_else(invalid_token)?;
    // Only the password the token was issued for becomes live (a re-registration since then
    // replaced it and voided the token; this also closes the race with one in flight).
    if !account.confirmed
        && !unconfirmed::confirm_bound(
            &mut *tx,
            PasswordTable::Userpass,
            &account.id,
            &account.password_hash,
            now,
        )
        .await?
    {
        return Err(invalid_token());
    }
    tx.commit().await?;
    tracing::info!(app_id, "confirmed an email/password account");
    Ok(())
}

fn invalid_token() -> ApiError {
    ApiError::new(
        ErrorCode::UserpassTokenInvalid,
        "invalid token data: the link is wrong, expired or already used; ask for a new one",
    )
}

pub async fn resend_confirmation(
    state: &AppState,
    app_id: &str,
    email: &str,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::Userpass)?;
    state.limiter.check(Group::EmailSend, ip).await?;
    let email = canonical(email)?;
    if app.strict_app_services_errors {
        // Strict mode answers whether the address has an account, by design.
        match accounts::by_email(state.db.reader(), app_id, &email).await? {
            Some(account) if account.confirmed => {
                return Err(ApiError::new(
                    ErrorCode::UserAlreadyConfirmed,
                    "already confirmed",
                ))
            }
            Some(_) => {}
            None => return Err(ApiError::new(ErrorCode::UserNotFound, "user not found")),
        }
    }
    // The lookup, the new token and the mail happen after answering (issue 12, item 10).
    let (later, app_id) = (state.clone(), app_id.to_string());
    state
        .background
        .run("confirmation resend", async move {
            let app = later.provider(&app_id, ProviderType::Userpass)?;
            match accounts::by_email(later.db.reader(), &app_id, &email).await? {
                Some(account) if !account.confirmed => {
                    resend_confirmation_mail(&later, &app_id, app, &account).await
                }
                _ => Ok(()),
            }
        })
        .await;
    Ok(())
}

pub async fn send_reset(
    state: &AppState,
    app_id: &str,
    email: &str,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::Userpass)?;
    state.limiter.check(Group::EmailSend, ip).await?;
    let email = canonical(email)?;
    if app.strict_app_services_errors
        && accounts::by_email(state.db.reader(), app_id, &email)
            .await?
            .is_none()
    {
        // Strict mode answers whether the address has an account, by design.
        return Err(ApiError::new(ErrorCode::UserNotFound, "user not found"));
    }
    // The lookup, the token and the mail happen after answering (issue 12, item 10).
    let (later, app_id) = (state.clone(), app_id.to_string());
    state
        .background
        .run("reset mail", async move {
            mail_reset(&later, &app_id, &email).await
        })
        .await;
    Ok(())
}

/// A reset token and its mail, when the address has an account.
async fn mail_reset(state: &AppState, app_id: &str, email: &str) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::Userpass)?;
    let Some(account) = accounts::by_email(state.db.reader(), app_id, email).await? else {
        return Ok(());
    };
    let now = state.now();
    let token = secret_256();
    let mut tx = state.db.writer().begin().await?;
    let token_id = accounts::issue_token(
        &mut tx,
        &account,
        Purpose::Reset,
        &sha256_hex(token.as_bytes()),
        now,
        state.config.tokens.reset_ttl_secs,
    )
    .await?;
    tx.commit().await?;
    let link = page_link(
        app.userpass.reset_url.as_ref(),
        format!("{}/app/{app_id}/reset", state.public_url),
        &token,
        &token_id,
    );
    send_limited(
        state,
        "reset",
        Mail {
            to: account.email.clone(),
            subject: format!("Reset your password for {}", app_display(app, app_id)),
            text: format!(
                "Open this link to choose a new password:\n\n{link}\n\nThe link works once and \
             expires in {} minutes. If you did not ask for this, ignore this message: your \
             password stays as it is.",
                state.config.tokens.reset_ttl_secs / 60
            ),
            links: vec![link],
            channel: "email",
        },
    )
    .await;
    Ok(())
}

/// `reset` (and the mailed link's page), under the per-IP bucket for redeeming tokens.
pub async fn reset(
    state: &AppState,
    app_id: &str,
    req: ResetRequest,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    state.provider(app_id, ProviderType::Userpass)?;
    state.limiter.check(Group::Redeem, ip).await?;
    reset_with_token(state, app_id, req).await
}

/// Resets with a token (a reset function's success arrives here directly).
pub(crate) async fn reset_with_token(
    state: &AppState,
    app_id: &str,
    req: ResetRequest,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::Userpass)?;
    // Check the token first (nothing is hashed for a wrong, used or expired one), then the new
    // password before consuming the token (a weak choice must not burn the link), and hash it
    // before opening the write transaction (hashing is slow; the writer is shared).
    let token_hash = sha256_hex(req.token.as_bytes());
    let now = state.now();
    let email = accounts::check_token(
        state.db.reader(),
        app_id,
        &req.token_id,
        &token_hash,
        Purpose::Reset,
        now,
    )
    .await?
    .ok_or_else(invalid_token)?;
    let normalized = check_policy(state, app, &email, &req.password)?;
    let hash = state.hasher.hash(normalized).await?;
    let mut tx = state.db.writer().begin().await?;
    let account = accounts::consume_token(
        &mut tx,
        app_id,
        &req.token_id,
        &token_hash,
        Purpose::Reset,
        now,
    )
    .await?
    .ok_or_else(invalid_token)?;
    accounts::set_password(&mut *tx, &account.id, &hash).await?;
    accounts::confirm(&mut *tx, &account.id, now).await?;
    let mut ended = 0;
    if let Some(user_id) = &account.user_id {
        ended = session_rows::revoke_user(&mut *tx, user_id, None, "password reset", now).await?;
    }
    failures::clear(&mut *tx, app_id, &account.email).await?;
    let notice =
        super::lockdown::reset_notice(state, &mut tx, app_display(app, app_id), &account, now)
            .await?;
    tx.commit().await?;
    tracing::info!(app_id, "password reset; every session of the user ended");
    if let Some(user_id) = &account.user_id {
        // One event for the reset and the sessions it ended, not one per session.
        crate::activity::password_reset(state, (app_id, user_id), provider::USERPASS, ended, None)
            .await;
    }
    send_security_notice(state, notice);
    Ok(())
}

/// Security notices bypass the per-address limit: the owner must hear of a password change.
fn send_security_notice(state: &AppState, mail: Mail) {
    state.mailer.send(mail);
}
