//! Login providers. Each one turns a credential payload into a user (existing or new) and a
//! session; linking turns it into an identity added to the logged-in user.

pub mod anonymous;
pub mod api_key;
pub mod external;
pub mod magic_link;
pub mod phone;
pub mod redirect;
pub mod throttle;
pub mod userpass;
pub mod userpass_functions;

use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::routes::provider;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::sessions::{self, AccessAuth, LoginContext};
use crate::state::AppState;

/// Providers this build implements.
pub const SUPPORTED: &[&str] = &[provider::ANONYMOUS, provider::USERPASS, provider::API_KEY, provider::PHONE_PASSWORD,
    provider::SMS_CODE, provider::MAGIC_LINK, provider::CUSTOM_TOKEN, provider::CUSTOM_FUNCTION, provider::GOOGLE,
    provider::APPLE, provider::FACEBOOK, provider::GITHUB, provider::DISCORD, provider::TWITTER];

/// A redirect provider's login body that redeems the app code of a finished browser sign-in.
fn is_redemption(provider_name: &str, body: &Value) -> bool {
    provider::REDIRECT.contains(&provider_name) && body.get("code").is_some()
}

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
        name if is_redemption(name, body) => redirect::redeem(state, app_id, name, body, ctx, None).await,
        name if name == provider::CUSTOM_TOKEN || name == provider::CUSTOM_FUNCTION || provider::REDIRECT.contains(&name) => {
            state.limiter.check(crate::ratelimit::Group::Login, ip)?;
            let identity = external::identity_from_payload(state, app_id, name, body).await?;
            external::open_session(state, app_id, &identity, ctx).await
        }
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
        name if is_redemption(name, body) => {
            let ctx = LoginContext { device: Default::default(), user_agent: None, ip: Some(ip.to_string()) };
            return redirect::redeem(state, app_id, name, body, &ctx, Some(auth)).await;
        }
        name if name == provider::CUSTOM_TOKEN || name == provider::CUSTOM_FUNCTION || provider::REDIRECT.contains(&name) => {
            let identity = external::identity_from_payload(state, app_id, name, body).await?;
            external::link(state, app_id, &identity, &auth.session.user_id).await?;
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

/// Which local account table an account lives in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AccountKind {
    Userpass,
    Phone,
}

/// A local (email or phone) account about to sign in.
pub(crate) struct LocalAccount<'a> {
    pub kind: AccountKind,
    pub id: &'a str,
    pub user_id: Option<&'a str>,
    /// Profile field the account contributes (`email` or `phone`) and its value.
    pub field: &'a str,
    pub value: &'a str,
}

/// The account's user — created on its first login, as App Services does — and a new session for
/// it, in one transaction. Shared by password, SMS-code and magic-link logins.
pub(crate) async fn open_account_session(state: &AppState, app_id: &str, account: LocalAccount<'_>, session_provider: &str,
    ctx: &LoginContext) -> ApiResult<LoginResponse> {
    use crate::store::{phone as phone_accounts, userpass as email_accounts, users};
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let user_id = match account.user_id {
        Some(user_id) => user_id.to_string(),
        None => {
            let mut data = serde_json::Map::new();
            data.insert(account.field.into(), Value::String(account.value.into()));
            let identity = match account.kind {
                AccountKind::Userpass => provider::USERPASS,
                AccountKind::Phone => provider::PHONE_PASSWORD,
            };
            let user_id = users::create(&mut *tx, app_id, "normal", &data, now).await?;
            users::add_identity(&mut *tx, app_id, &user_id, identity, identity, account.id, &data, now).await?;
            let attached = match account.kind {
                AccountKind::Userpass => email_accounts::attach_user(&mut *tx, account.id, &user_id).await?,
                AccountKind::Phone => phone_accounts::attach_user(&mut *tx, account.id, &user_id).await?,
            };
            if !attached {
                return Err(ApiError::unavailable("a concurrent login is creating this user; try again"));
            }
            user_id
        }
    };
    let user = users::get(&mut *tx, &user_id).await?.ok_or_else(ApiError::invalid_credentials)?;
    if user.disabled {
        return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, gatehouse_proto::ErrorCode::UserDisabled,
            "this user has been disabled by an administrator"));
    }
    let response = sessions::open(state, &mut tx, app_id, &user_id, session_provider, None, ctx).await?;
    tx.commit().await?;
    tracing::info!(app_id, user_id, provider = session_provider, "login");
    Ok(response)
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
