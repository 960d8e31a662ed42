//! Multi-factor sign-in routes (Gatehouse extension, issue 13; `gatehouse_proto::mfa::routes`):
//! the challenge's completion and enrolment (public: the challenge id is the authority), and
//! the signed-in user's own factors (access token). Passkey routes live with the passkeys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use gatehouse_proto::auth::DeviceInfo;
use gatehouse_proto::mfa::{routes, ChallengeRef, CodeBody, MfaCompleteRequest, TotpEnrollRequest};

use super::client_api::{no_content, no_store};
use super::extract::{AccessCaller, Caller, EJson, Typed};
use crate::error::{ApiError, ApiResult};
use crate::mfa::{self, manage, Proof};
use crate::passkey::sign_in::check_challenge_code;
use crate::ratelimit::Group;
use crate::sessions::LoginContext;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    let b = gatehouse_proto::routes::BASE;
    Router::new()
        .route(
            &format!("{b}/app/{{app}}/auth/mfa/complete"),
            post(complete),
        )
        .route(&format!("{b}/app/{{app}}/auth/mfa/enroll"), post(enroll))
        .route(routes::STATUS, get(status))
        .route(routes::TOTP, post(enroll_totp))
        .route(&routes::totp_confirm("{id}"), post(confirm_totp))
        .route(&routes::factor("{id}"), delete(remove_factor))
        .route(routes::RECOVERY_CODES, post(regenerate_codes))
}

/// The login context of a challenge answer: its `options.device` read as a login body's.
fn context(options: Option<&serde_json::Value>, caller: Caller) -> LoginContext {
    let body = serde_json::json!({ "options": options.cloned().unwrap_or_default() });
    LoginContext {
        device: DeviceInfo::from_login_body(&body),
        user_agent: caller.user_agent,
        ip: Some(caller.ip.to_string()),
    }
}

/// `POST {app}/auth/mfa/complete`: the login response (plus recovery codes after an
/// enrolment), or why not.
async fn complete(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<MfaCompleteRequest>,
) -> ApiResult<Response> {
    state.limiter.check(Group::Login, caller.ip).await?;
    let ctx = context(req.options.as_ref(), caller);
    let proof = match (req.totp_code, req.recovery_code, req.passkey_code) {
        (Some(code), None, None) => Proof::Totp(code),
        (None, Some(code), None) => Proof::Recovery(code),
        (None, None, Some(code)) => {
            // The passkey page's one-time code and the app's PKCE verifier, checked by the
            // passkey module: the assertion itself was verified on the page.
            let verifier = req
                .code_verifier
                .as_deref()
                .ok_or_else(|| ApiError::missing_parameter("code_verifier"))?;
            let challenge = req.challenge_id.as_str();
            check_challenge_code(&state, &app, challenge, &code, verifier).await?;
            Proof::PasskeyVerified
        }
        _ => {
            return Err(ApiError::invalid_parameter(
                "send exactly one of totp_code, recovery_code or passkey_code",
            ))
        }
    };
    let response = mfa::complete(&state, &app, &req.challenge_id, proof, &ctx).await?;
    Ok(no_store(StatusCode::OK, response))
}

/// `POST {app}/auth/mfa/enroll`: a TOTP secret for an enrolment challenge.
async fn enroll(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    body: EJson,
) -> ApiResult<Response> {
    state.limiter.check(Group::Login, caller.ip).await?;
    let options = body.0.get("options").cloned();
    let req: ChallengeRef = body.parse()?;
    let ctx = context(options.as_ref(), caller);
    let enrollment = manage::enroll_for_challenge(&state, &app, &req.challenge_id, &ctx).await?;
    Ok(no_store(StatusCode::OK, enrollment))
}

/// `GET /auth/mfa`.
async fn status(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
) -> ApiResult<Response> {
    Ok(no_store(
        StatusCode::OK,
        manage::status(&state, &auth).await?,
    ))
}

/// `POST /auth/mfa/totp` (recent sign-in).
async fn enroll_totp(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    Typed(req): Typed<TotpEnrollRequest>,
) -> ApiResult<Response> {
    let enrollment = manage::enroll_totp(&state, &auth, req.name.as_deref()).await?;
    Ok(no_store(StatusCode::OK, enrollment))
}

/// `POST /auth/mfa/totp/{id}/confirm`.
async fn confirm_totp(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    Path(id): Path<String>,
    caller: Caller,
    Typed(req): Typed<CodeBody>,
) -> ApiResult<Response> {
    let confirmed = manage::confirm_totp(&state, &auth, &id, &req.code, caller.origin()).await?;
    Ok(no_store(StatusCode::OK, confirmed))
}

/// `DELETE /auth/mfa/factors/{id}` (recent sign-in): 204.
async fn remove_factor(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    Path(id): Path<String>,
    caller: Caller,
) -> ApiResult<Response> {
    manage::remove_factor(&state, &auth, &id, caller.origin()).await?;
    Ok(no_content())
}

/// `POST /auth/mfa/recovery_codes` (recent sign-in).
async fn regenerate_codes(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    caller: Caller,
) -> ApiResult<Response> {
    let codes = manage::regenerate_codes(&state, &auth, caller.origin()).await?;
    Ok(no_store(StatusCode::OK, codes))
}
