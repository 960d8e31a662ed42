//! Custom confirmation and reset functions of `local-userpass` (App Services'
//! `runConfirmationFunction` / `runResetFunction`), served by the app's signed webhooks. The hook
//! gets `{token, tokenId, username}` (reset: also `password` and `arguments`) and answers
//! `{"status": "success" | "pending" | "fail"}`: success acts at once; pending leaves the token
//! for the app to deliver its own way (then `confirm` / `reset` with it); fail refuses.
//!
//! Enumeration safety: `confirm/call` and `reset/call` answer the same 204 for an unknown
//! address (and `confirm/call` for a confirmed one) as for an account the function runs for,
//! unless `strict_app_services_errors` restores App Services' `UserNotFound` /
//! `UserAlreadyConfirmed`.

use gatehouse_proto::userpass::{ResetCallRequest, ResetRequest, TokenRequest};
use gatehouse_proto::{ErrorCode, ProviderType};
use serde_json::{json, Value};

use super::strict_words;
use crate::config::WebhookConfig;
use crate::crypto::{secret_256, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::idp::webhook;
use crate::ratelimit::Group;
use crate::state::AppState;
use crate::store::userpass::{self as accounts, Account, Purpose};

/// What a confirmation or reset function answers (other members are the app's business).
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct FunctionAnswer {
    status: super::credentials::Param,
}

#[derive(Debug, PartialEq, Eq)]
enum Status {
    Success,
    Pending,
}

fn user_not_found() -> ApiError {
    ApiError::new(ErrorCode::UserNotFound, "user not found")
}

fn not_configured(app_id: &str, what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotConfigured,
        format!("the custom {what} function is not configured for app {app_id:?}"),
    )
}

async fn issue(
    state: &AppState,
    account: &Account,
    purpose: Purpose,
    ttl: i64,
) -> ApiResult<(String, String)> {
    let token = secret_256();
    let mut tx = state.db.writer().begin().await?;
    let token_id = accounts::issue_token(
        &mut tx,
        account,
        purpose,
        &sha256_hex(token.as_bytes()),
        state.now(),
        ttl,
    )
    .await?;
    tx.commit().await?;
    Ok((token, token_id))
}

/// Runs the function; `refused` is the answer when it says `fail`.
async fn run(
    state: &AppState,
    app_id: &str,
    hook: &WebhookConfig,
    kind: &str,
    data: Value,
    what: &str,
    refused: ApiError,
) -> ApiResult<Status> {
    let answer = webhook::call(&state.outbound, hook, kind, app_id, data, state.now())
        .await
        .map_err(|e| {
            tracing::warn!(app_id, error = %e, "{what} function webhook failed");
            ApiError::unavailable(format!(
                "the {what} function could not be run; try again shortly"
            ))
        })?;
    let answer: FunctionAnswer = serde_json::from_value(Value::Object(answer)).unwrap_or_default();
    match answer.status.text() {
        Some("success") => Ok(Status::Success),
        Some("pending") => Ok(Status::Pending),
        Some("fail") => Err(refused),
        _ => {
            tracing::warn!(app_id, "{what} function answered without a valid status");
            Err(ApiError::unavailable(format!(
                "the {what} function gave no valid status"
            )))
        }
    }
}

/// Confirms `account` through the function: called at registration and by `confirm/call`.
pub async fn confirm_with_function(
    state: &AppState,
    app_id: &str,
    hook: &WebhookConfig,
    account: &Account,
) -> ApiResult<()> {
    let (token, token_id) = issue(
        state,
        account,
        Purpose::Confirm,
        state.config.tokens.confirm_ttl_secs,
    )
    .await?;
    let data = json!({"token": token, "tokenId": token_id, "username": account.email});
    let strict = state.app(app_id)?.strict_app_services_errors;
    if run(
        state,
        app_id,
        hook,
        "local-userpass.confirm",
        data,
        "confirmation",
        strict_words::confirmation_refused(strict, &account.email),
    )
    .await?
        == Status::Success
    {
        super::userpass::confirm_token(state, app_id, TokenRequest { token, token_id }).await?;
    }
    Ok(())
}

/// `confirm/call` (`retryCustomConfirmation`).
pub async fn call_confirm(
    state: &AppState,
    app_id: &str,
    email: &str,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::Userpass)?;
    let strict = app.strict_app_services_errors;
    if let Some(e) = strict_words::automatic_confirmation(strict, app.userpass.auto_confirm, email)
    {
        return Err(e);
    }
    let hook = app
        .confirm_function
        .as_ref()
        .ok_or_else(|| not_configured(app_id, "confirmation"))?;
    state.limiter.check(Group::EmailSend, ip).await?;
    let email = crate::email::canonicalize(email).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidEmail,
            format!("invalid email address: {e}"),
        )
    })?;
    let account = accounts::by_email(state.db.reader(), app_id, &email).await?;
    match account {
        Some(account) if !account.confirmed => {
            confirm_with_function(state, app_id, hook, &account).await
        }
        Some(_) if app.strict_app_services_errors => Err(ApiError::new(
            ErrorCode::UserAlreadyConfirmed,
            "already confirmed",
        )),
        None if app.strict_app_services_errors => Err(user_not_found()),
        _ => Ok(()),
    }
}

/// `reset/call` (`callResetPasswordFunction`).
pub async fn call_reset(
    state: &AppState,
    app_id: &str,
    req: ResetCallRequest,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::Userpass)?;
    let hook = app
        .reset_function
        .as_ref()
        .ok_or_else(|| not_configured(app_id, "password reset"))?;
    state.limiter.check(Group::EmailSend, ip).await?;
    let email = crate::email::canonicalize(&req.email).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidEmail,
            format!("invalid email address: {e}"),
        )
    })?;
    let account = accounts::by_email(state.db.reader(), app_id, &email).await?;
    // A password the policy refuses is refused before the function is asked to approve it (for
    // an unknown address too, so both answer alike).
    super::userpass::check_policy(state, app, &email, &req.password)?;
    let Some(account) = account else {
        return if app.strict_app_services_errors {
            Err(user_not_found())
        } else {
            Ok(())
        };
    };
    let (token, token_id) = issue(
        state,
        &account,
        Purpose::Reset,
        state.config.tokens.reset_ttl_secs,
    )
    .await?;
    let data = json!({
        "token": token,
        "tokenId": token_id,
        "username": account.email,
        "password": req.password,
        "arguments": req.arguments,
    });
    if run(
        state,
        app_id,
        hook,
        "local-userpass.reset",
        data,
        "password reset",
        strict_words::reset_refused(app.strict_app_services_errors, &account.email),
    )
    .await?
        == Status::Success
    {
        super::userpass::reset_with_token(
            state,
            app_id,
            ResetRequest {
                token,
                token_id,
                password: req.password,
            },
        )
        .await?;
    }
    Ok(())
}
