//! `POST {app}/auth/providers/{provider}/{action}`: one route per provider action (login for
//! every provider; register, confirm, reset… for `local-userpass` and `phone-password`; `send`
//! for `sms-code` and `magic-link`), each with its typed body, and one answer for actions no
//! provider has. The `Authorization` header realm-web attaches to these is ignored (protocol.md
//! A.0.3), except by a link (`login?link=true`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_proto::auth::DeviceInfo;
use gatehouse_proto::userpass::{
    EmailRequest, MagicLinkRequest, PhoneCodeRequest, PhonePasswordRequest, PhoneRequest,
    RegisterRequest, ResetCallRequest, ResetRequest, SmsCodeRequest, TokenRequest,
};
use gatehouse_proto::{ErrorCode, ProviderType};
use serde::Deserialize;

use super::client_api::{no_content, no_store};
use super::extract::{Authorization, Caller, EJson, Typed};
use crate::error::{ApiError, ApiResult};
use crate::providers::{self, magic_link, phone, strict_words, userpass, userpass_functions};
use crate::sessions::LoginContext;
use crate::state::AppState;
use crate::store::Purpose;

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    link: Option<String>,
}

/// `POST …/{provider}/login` (and `?link=true`): every provider's login, dispatched on its type.
pub async fn login(
    State(state): State<AppState>,
    Path((app, provider)): Path<(String, String)>,
    Query(query): Query<LoginQuery>,
    authorization: Authorization,
    caller: Caller,
    body: EJson,
) -> ApiResult<Response> {
    let device = DeviceInfo::from_login_body(&body.0);
    if query.link.as_deref() == Some("true") {
        let auth = authorization.access(&state).await?;
        let response = providers::link(&state, &app, &provider, body.0, &auth, caller.ip).await?;
        return Ok(no_store(StatusCode::OK, response));
    }
    let ctx = LoginContext {
        device,
        user_agent: caller.user_agent,
        ip: Some(caller.ip.to_string()),
    };
    let response = providers::login(&state, &app, &provider, body.0, &ctx, caller.ip).await?;
    Ok(no_store(StatusCode::OK, response))
}

/// Any other `POST …/{provider}/{action}`: the provider has no such action. The body is still
/// read first (a broken body is reported as such), as it always was.
pub async fn unknown_action(
    State(state): State<AppState>,
    Path((app, provider, action)): Path<(String, String, String)>,
    _body: EJson,
) -> ApiResult<Response> {
    if provider == ProviderType::Userpass.as_str() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("unknown email/password action {action:?}"),
        ));
    }
    state.provider_named(&app, &provider)?;
    Err(ApiError::new(
        ErrorCode::NotFound,
        format!("provider {provider:?} has no action {action:?}"),
    ))
}

pub async fn userpass_register(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<RegisterRequest>,
) -> ApiResult<Response> {
    userpass::register(&state, &app, req, caller.ip)
        .await
        .map(|()| no_content())
}

pub async fn userpass_confirm(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<TokenRequest>,
) -> ApiResult<Response> {
    userpass::confirm(&state, &app, req, caller.ip)
        .await
        .map_err(|e| strict_words::token_refused(strict(&state, &app), e))
        .map(|()| no_content())
}

/// Whether the app answers in App Services' words (`strict_app_services_errors`).
fn strict(state: &AppState, app: &str) -> bool {
    state
        .app(app)
        .is_ok_and(|config| config.strict_app_services_errors)
}

pub async fn userpass_confirm_send(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<EmailRequest>,
) -> ApiResult<Response> {
    userpass::resend_confirmation(&state, &app, &req.email, caller.ip)
        .await
        .map(|()| no_content())
}

pub async fn userpass_reset_send(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<EmailRequest>,
) -> ApiResult<Response> {
    userpass::send_reset(&state, &app, &req.email, caller.ip)
        .await
        .map(|()| no_content())
}

pub async fn userpass_reset(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<ResetRequest>,
) -> ApiResult<Response> {
    userpass::reset(&state, &app, req, caller.ip)
        .await
        .map_err(|e| strict_words::token_refused(strict(&state, &app), e))
        .map(|()| no_content())
}

pub async fn userpass_confirm_call(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<EmailRequest>,
) -> ApiResult<Response> {
    userpass_functions::call_confirm(&state, &app, &req.email, caller.ip)
        .await
        .map(|()| no_content())
}

pub async fn userpass_reset_call(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<ResetCallRequest>,
) -> ApiResult<Response> {
    userpass_functions::call_reset(&state, &app, req, caller.ip)
        .await
        .map(|()| no_content())
}

pub async fn phone_register(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<PhonePasswordRequest>,
) -> ApiResult<Response> {
    let challenge = req.code_challenge.as_deref();
    phone::register(
        &state,
        &app,
        (&req.phone, &req.password),
        challenge,
        caller.ip,
    )
    .await
    .map(|()| no_content())
}

pub async fn phone_confirm(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<PhoneCodeRequest>,
) -> ApiResult<Response> {
    let verifier = req.code_verifier.as_deref();
    phone::confirm(&state, &app, (&req.phone, &req.code), verifier, caller.ip)
        .await
        .map(|()| no_content())
}

pub async fn phone_confirm_send(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<PhoneRequest>,
) -> ApiResult<Response> {
    let to = (req.phone.as_str(), req.code_challenge.as_deref());
    phone::send(&state, &app, Purpose::Confirm, to, caller.ip)
        .await
        .map(|()| no_content())
}

pub async fn phone_reset_send(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<PhoneRequest>,
) -> ApiResult<Response> {
    let to = (req.phone.as_str(), req.code_challenge.as_deref());
    phone::send(&state, &app, Purpose::Reset, to, caller.ip)
        .await
        .map(|()| no_content())
}

pub async fn phone_reset(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<PhonePasswordRequest>,
) -> ApiResult<Response> {
    let code = req
        .code
        .ok_or_else(|| ApiError::missing_parameter("code"))?;
    let verifier = req.code_verifier.as_deref();
    let what = (req.phone.as_str(), code.as_str(), req.password.as_str());
    phone::reset(&state, &app, what, verifier, caller.ip)
        .await
        .map(|()| no_content())
}

pub async fn sms_code_send(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<SmsCodeRequest>,
) -> ApiResult<Response> {
    phone::send_login_code(&state, &app, req, caller.ip)
        .await
        .map(|()| no_content())
}

pub async fn magic_link_send(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Typed(req): Typed<MagicLinkRequest>,
) -> ApiResult<Response> {
    magic_link::send(&state, &app, req, caller.ip, caller.user_agent.as_deref())
        .await
        .map(|()| no_content())
}
