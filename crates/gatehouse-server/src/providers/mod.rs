//! Login providers. Each one turns a credential payload into a user (existing or new) and a
//! session; linking turns it into an identity added to the logged-in user.

pub mod anonymous;
pub mod api_key;
pub mod magic_link;
pub mod phone;
pub mod throttle;
pub mod userpass;

use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::routes::provider;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::sessions::{self, AccessAuth, LoginContext};
use crate::state::AppState;

/// Providers this build implements.
pub const SUPPORTED: &[&str] = &[provider::ANONYMOUS, provider::USERPASS, provider::API_KEY, provider::PHONE_PASSWORD, provider::SMS_CODE, provider::MAGIC_LINK];

/// `POST {app}/auth/providers/{provider}/login`.
pub async fn login(state: &AppState, app_id: &str, provider_name: &str, body: &Value, ctx: &LoginContext,
    ip: std::net::IpAddr) -> ApiResult<LoginResponse> {
    state.provider(app_id, provider_name)?;
    match provider_name {
        provider::ANONYMOUS => anonymous::login(state, app_id, ctx, ip).await,
        provider::USERPASS => userpass::login(state, app_id, body, ctx, ip).await,
        provider::API_KEY => api_key::login(state, app_id, body, ctx, ip).await,
        provider::PHONE_PASSWORD => phone::login_password(state, app_id, body, ctx, ip).await,
        provider::SMS_CODE => phone::login_code(state, app_id, body, ctx, ip).await,
        provider::MAGIC_LINK => magic_link::login(state, app_id, body, ctx, ip).await,
        other => Err(not_implemented(other)),
    }
}

/// `POST {app}/auth/providers/{provider}/login?link=true`: adds the identity to the user of the
/// access token and answers with a fresh access token for the same session.
pub async fn link(state: &AppState, app_id: &str, provider_name: &str, body: &Value, auth: &AccessAuth,
    ip: std::net::IpAddr) -> ApiResult<LoginResponse> {
    state.provider(app_id, provider_name)?;
    if auth.session.app_id != app_id {
        return Err(ApiError::invalid_session("invalid session: the token belongs to another app"));
    }
    match provider_name {
        provider::USERPASS => userpass::link(state, app_id, body, &auth.session.user_id, ip).await?,
        provider::ANONYMOUS => return Err(ApiError::bad_request("anonymous credentials cannot be linked to an existing user")),
        provider::API_KEY => return Err(ApiError::bad_request("API keys belong to a user already and cannot be linked")),
        provider::PHONE_PASSWORD | provider::SMS_CODE | provider::MAGIC_LINK => {
            return Err(ApiError::bad_request(format!("{provider_name} identities cannot be linked to an existing user yet")));
        }
        other => return Err(not_implemented(other)),
    }
    let now = state.now();
    Ok(LoginResponse {
        access_token: sessions::access_token(state, &auth.session, now),
        refresh_token: None,
        user_id: auth.session.user_id.clone(),
        device_id: auth.session.device_id.clone(),
    })
}

fn not_implemented(name: &str) -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_FOUND, gatehouse_proto::ErrorCode::AuthProviderNotFound,
        format!("authentication provider {name:?} is not available on this server"))
}

/// A required string field of a credential payload.
pub(crate) fn field<'a>(body: &'a Value, name: &str) -> ApiResult<&'a str> {
    match body.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid_parameter(format!("{name} must be a string"))),
        None => Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, gatehouse_proto::ErrorCode::MissingParameter,
            format!("missing parameter: {name}"))),
    }
}
