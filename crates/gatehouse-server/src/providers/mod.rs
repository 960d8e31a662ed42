//! Login providers. Each one turns a credential payload into a user (existing or new) and a
//! session; linking turns it into an identity added to the logged-in user.

pub mod anonymous;
pub mod api_key;
pub mod credentials;
pub mod external;
pub mod lockdown;
pub mod magic_link;
pub mod phone;
pub mod redirect;
pub mod strict_words;
pub mod throttle;
pub mod userpass;
pub mod userpass_functions;

use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::routes::provider;
use gatehouse_proto::{ErrorCode, ProviderType};
use serde_json::Value;

use self::credentials::{parse, FunctionPayload, RedirectRedeem};
use crate::error::{ApiError, ApiResult};
use crate::sessions::{self, AccessAuth, LoginContext};
use crate::state::AppState;

/// Providers this build implements (every one the protocol names).
pub const SUPPORTED: &[ProviderType] = ProviderType::ALL;

/// What a token-mode external login sends: the provider decides which fields it reads.
pub(crate) enum ExternalCredentials {
    Token(credentials::CustomTokenLogin),
    Function(FunctionPayload),
    OAuth(credentials::OAuthTokenLogin),
}

impl ExternalCredentials {
    fn parse(provider: ProviderType, body: Value) -> ApiResult<ExternalCredentials> {
        Ok(match provider {
            ProviderType::CustomToken => ExternalCredentials::Token(parse(body)?),
            ProviderType::CustomFunction => ExternalCredentials::Function(FunctionPayload(body)),
            _ => ExternalCredentials::OAuth(parse(body)?),
        })
    }
}

/// A redirect provider's login body that redeems the app code of a finished browser sign-in.
fn redemption(provider: ProviderType, body: &Value) -> ApiResult<Option<RedirectRedeem>> {
    if !provider.is_redirect() {
        return Ok(None);
    }
    let redeem: RedirectRedeem = parse(body.clone())?;
    Ok(redeem.code.is_present().then_some(redeem))
}

/// `POST {app}/auth/providers/{provider}/login`. `body` is the relaxed EJSON body; each provider
/// decodes its own credential type from it.
pub async fn login(
    state: &AppState,
    app_id: &str,
    provider_name: &str,
    body: Value,
    ctx: &LoginContext,
    ip: std::net::IpAddr,
) -> ApiResult<LoginResponse> {
    let (_, provider) = state.provider_named(app_id, provider_name)?;
    match provider {
        ProviderType::Anonymous => anonymous::login(state, app_id, ctx, ip).await,
        ProviderType::Userpass => userpass::login(state, app_id, parse(body)?, ctx, ip).await,
        ProviderType::ApiKey => api_key::login(state, app_id, parse(body)?, ctx, ip).await,
        ProviderType::PhonePassword => {
            phone::login_password(state, app_id, parse(body)?, ctx, ip).await
        }
        ProviderType::SmsCode => phone::login_code(state, app_id, parse(body)?, ctx, ip).await,
        ProviderType::MagicLink => magic_link::login(state, app_id, parse(body)?, ctx, ip).await,
        external_provider => {
            if let Some(redeem) = redemption(external_provider, &body)? {
                return redirect::redeem(state, app_id, external_provider, redeem, ctx, None).await;
            }
            state
                .limiter
                .check(crate::ratelimit::Group::Login, ip)
                .await?;
            let credentials = ExternalCredentials::parse(external_provider, body)?;
            let identity =
                external::identity_from_payload(state, app_id, external_provider, credentials)
                    .await?;
            external::open_session(state, app_id, &identity, ctx).await
        }
    }
}

/// `POST {app}/auth/providers/{provider}/login?link=true`: adds the identity to the user of the
/// access token and answers with a fresh access token for the same session.
pub async fn link(
    state: &AppState,
    app_id: &str,
    provider_name: &str,
    body: Value,
    auth: &AccessAuth,
    ip: std::net::IpAddr,
) -> ApiResult<LoginResponse> {
    let (_, provider) = state.provider_named(app_id, provider_name)?;
    if auth.session.app_id != app_id {
        return Err(ApiError::invalid_session(
            "invalid session: the token belongs to another app",
        ));
    }
    crate::step_up::require_recent_sign_in(
        state,
        &auth.session,
        crate::step_up::LastingChange::LinkIdentity,
    )?;
    match provider {
        ProviderType::Userpass => {
            userpass::link(state, app_id, parse(body)?, &auth.session.user_id, ip).await?
        }
        ProviderType::Anonymous => {
            return Err(ApiError::bad_request(
                "anonymous credentials cannot be linked to an existing user",
            ))
        }
        ProviderType::ApiKey => {
            return Err(ApiError::bad_request(
                "API keys belong to a user already and cannot be linked",
            ))
        }
        ProviderType::PhonePassword => {
            phone::link_password(state, app_id, parse(body)?, &auth.session.user_id, ip).await?
        }
        ProviderType::SmsCode => {
            phone::link_code(state, app_id, parse(body)?, &auth.session.user_id, ip).await?
        }
        ProviderType::MagicLink => {
            magic_link::link(state, app_id, parse(body)?, &auth.session.user_id, ip).await?
        }
        external_provider => {
            if let Some(redeem) = redemption(external_provider, &body)? {
                let ctx = LoginContext {
                    device: Default::default(),
                    user_agent: None,
                    ip: Some(ip.to_string()),
                };
                return redirect::redeem(
                    state,
                    app_id,
                    external_provider,
                    redeem,
                    &ctx,
                    Some(auth),
                )
                .await;
            }
            let credentials = ExternalCredentials::parse(external_provider, body)?;
            let identity =
                external::identity_from_payload(state, app_id, external_provider, credentials)
                    .await?;
            external::link(state, app_id, &identity, &auth.session.user_id).await?;
            let from = crate::activity::Origin::ip_only(ip);
            let linked = (identity.provider, Some(identity.subject.as_str()));
            let owner = (app_id, auth.session.user_id.as_str());
            crate::activity::identity_linked(state, owner, linked, Some(from)).await;
            return Ok(LoginResponse {
                access_token: sessions::access_token(state, &auth.session, state.now()).await?,
                refresh_token: None,
                user_id: auth.session.user_id.clone(),
                device_id: auth.session.device_id.clone(),
            });
        }
    }
    let from = crate::activity::Origin::ip_only(ip);
    let owner = (app_id, auth.session.user_id.as_str());
    crate::activity::identity_linked(state, owner, (provider.as_str(), None), Some(from)).await;
    let now = state.now();
    Ok(LoginResponse {
        access_token: sessions::access_token(state, &auth.session, now).await?,
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

/// Links a local account (email or phone) to `user_id`: its identity joins the user and the
/// account is attached to it, in one transaction. An account that already belongs to the user
/// is fine; one that belongs to another user is `IdentityInUse` and never moves.
pub(crate) async fn attach_account(
    state: &AppState,
    app_id: &str,
    user_id: &str,
    account: LocalAccount<'_>,
) -> ApiResult<()> {
    use crate::store::{phone as phone_accounts, userpass as email_accounts, users};
    let (identity_type, what) = match account.kind {
        AccountKind::Userpass => (provider::USERPASS, "email"),
        AccountKind::Phone => (provider::PHONE_PASSWORD, "phone"),
    };
    let in_use = || {
        ApiError::new(
            ErrorCode::IdentityInUse,
            format!(
                "this {what} account already belongs to another user; log in with it instead \
                 of linking"
            ),
        )
    };
    match account.user_id {
        Some(owner) if owner == user_id => return Ok(()),
        Some(_) => return Err(in_use()),
        None => {}
    }
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let mut data = serde_json::Map::new();
    data.insert(account.field.into(), Value::String(account.value.into()));
    users::add_identity(
        &mut *tx,
        app_id,
        user_id,
        identity_type,
        identity_type,
        account.id,
        &data,
        now,
    )
    .await
    .map_err(crate::error::on_conflict(
        ErrorCode::IdentityInUse,
        "linked elsewhere just now",
    ))?;
    let attached = match account.kind {
        AccountKind::Userpass => email_accounts::attach_user(&mut *tx, account.id, user_id).await?,
        AccountKind::Phone => phone_accounts::attach_user(&mut *tx, account.id, user_id).await?,
    };
    if !attached {
        return Err(in_use());
    }
    if let Some(user) = users::get(&mut *tx, user_id).await? {
        let mut profile = user.data;
        profile.insert(account.field.into(), Value::String(account.value.into()));
        users::set_data(&mut *tx, user_id, &profile).await?;
    }
    tx.commit().await?;
    tracing::info!(app_id, user_id, what, "linked a local account");
    Ok(())
}

/// The account's user — created on its first login, as App Services does — and a new session for
/// it, in one transaction. Shared by password, SMS-code and magic-link logins.
pub(crate) async fn open_account_session(
    state: &AppState,
    app_id: &str,
    account: LocalAccount<'_>,
    session_provider: &str,
    ctx: &LoginContext,
) -> ApiResult<LoginResponse> {
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
            users::add_identity(
                &mut *tx, app_id, &user_id, identity, identity, account.id, &data, now,
            )
            .await?;
            let attached = match account.kind {
                AccountKind::Userpass => {
                    email_accounts::attach_user(&mut *tx, account.id, &user_id).await?
                }
                AccountKind::Phone => {
                    phone_accounts::attach_user(&mut *tx, account.id, &user_id).await?
                }
            };
            if !attached {
                return Err(ApiError::unavailable(
                    "a concurrent login is creating this user; try again",
                ));
            }
            user_id
        }
    };
    let user = users::get(&mut *tx, &user_id)
        .await?
        .ok_or_else(ApiError::invalid_credentials)?;
    if user.disabled {
        return Err(ApiError::new(
            ErrorCode::UserDisabled,
            "this user has been disabled by an administrator",
        ));
    }
    let opened = sessions::open(
        state,
        &mut tx,
        app_id,
        &user_id,
        session_provider,
        None,
        ctx,
    )
    .await?;
    tx.commit().await?;
    let response = opened.respond(state).await?;
    tracing::info!(app_id, user_id, provider = session_provider, "login");
    Ok(response)
}

/// A provider name an app enables but this build does not implement.
pub(crate) fn not_implemented(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AuthProviderNotFound,
        format!("authentication provider {name:?} is not available on this server"),
    )
}
