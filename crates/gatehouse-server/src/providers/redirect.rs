//! Redirect sign-in: browser → provider → server → back into the app (security.md A.10).
//!
//! 1. `GET {app}/auth/providers/{p}/login?redirect=…&state=…&code_challenge=…` (the browser)
//!    starts a 10-minute, single-use transaction bound to that browser by a cookie, and redirects
//!    to the provider with the server's own `state`, `nonce` and PKCE.
//! 2. The provider returns to `/api/client/v2.0/auth/callback/{p}` (one path per provider).
//!    The server checks state, cookie, provider and issuer, exchanges the code and verifies the
//!    identity, then redirects to the app's registered redirect URI with only a single-use,
//!    60-second code and the app's state.
//! 3. The app redeems `{code, code_verifier}` at the provider's login endpoint and gets the
//!    normal login response. A wrong verifier burns the code; a second use revokes the session
//!    the first one opened.
//!
//! realm-web's popup (`_baas_ua` tokens in the fragment, protocol.md A.13) is an opt-in
//! compatibility mode for exact-match `https` redirect URIs. Linking starts without a browser
//! (`providerRedirectHeader=true` answers 200 with `x-baas-location`), so the browser is bound
//! when it opens the one-time start link.

use base64::Engine as _;
use gatehouse_proto::auth::{DeviceInfo, LoginResponse};
use gatehouse_proto::routes::{self, provider};
use gatehouse_proto::{ErrorCode, ProviderType};
use serde_json::Value;

use super::credentials::RedirectRedeem;
use super::external;
use super::magic_link::{is_pkce, redirect_allowed, s256, urlencode};
use crate::crypto::{self, object_id, secret_256, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::idp::upstream::Upstream;
use crate::idp::ExternalIdentity;
use crate::sessions::{self, AccessAuth, LoginContext};
use crate::state::AppState;
use crate::store::oauth_flows::{self as flows, FlowRow};

pub const FLOW_TTL_SECS: i64 = 600;
pub const APP_CODE_TTL_SECS: i64 = 60;

/// What `GET …/login` asks for.
#[derive(Debug, Default, serde::Deserialize)]
pub struct StartQuery {
    pub redirect: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// realm-web: base64 of the device JSON.
    pub device: Option<String>,
    pub link: Option<String>,
    #[serde(rename = "providerRedirectHeader")]
    pub provider_redirect_header: Option<String>,
    /// Passed to OIDC providers to preselect the account.
    pub login_hint: Option<String>,
}

pub enum Start {
    /// Send the browser on, setting the binding cookie.
    Browser { location: String, cookie: String },
    /// Linking from an app: the URL the app opens in a browser.
    Header { location: String },
}

/// How the callback ends.
pub enum Finish {
    /// Back to the app (success or an error the app should show).
    Redirect(String),
    /// A page for the person at the browser; nothing is sent to any app. `code` decides the
    /// page's status, as it would an error body's.
    Page {
        code: ErrorCode,
        title: &'static str,
        message: String,
    },
}

fn page(code: ErrorCode, title: &'static str, message: impl Into<String>) -> Finish {
    Finish::Page {
        code,
        title,
        message: message.into(),
    }
}

fn upstream(state: &AppState, app_id: &str, name: &str) -> ApiResult<Upstream> {
    let (app, provider) = state.provider_named(app_id, name)?;
    if !provider.is_redirect() {
        return Err(ApiError::bad_request(format!(
            "{name} has no browser sign-in; POST its credentials to …/login instead"
        )));
    }
    app.oauth_client(name)
        .and_then(|c| Upstream::resolve(name, c))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotConfigured,
                format!("{name} is not configured for app {app_id:?}"),
            )
        })
}

fn callback_url(state: &AppState, name: &str) -> String {
    format!("{}{}", state.public_url, routes::oauth_callback(name))
}

/// The binding cookie's name: `__Host-` on https (RFC 6265bis: Secure, Path=/, no Domain).
pub fn cookie_name(state: &AppState, flow_id: &str) -> String {
    let prefix = if state.public_url.starts_with("https://") {
        "__Host-"
    } else {
        ""
    };
    format!("{prefix}gatehouse-oauth-{flow_id}")
}

/// Apple returns with a cross-site POST, which SameSite=Lax cookies do not accompany (S-58).
fn cookie(state: &AppState, flow_id: &str, value: &str, cross_site_post: bool) -> String {
    let secure = state.public_url.starts_with("https://");
    let same_site = if cross_site_post { "None" } else { "Lax" };
    format!(
        "{}={value}; Path=/; Max-Age={FLOW_TTL_SECS}; HttpOnly; SameSite={same_site}{}",
        cookie_name(state, flow_id),
        if secure || cross_site_post {
            "; Secure"
        } else {
            ""
        }
    )
}

fn bad(message: &str) -> ApiError {
    ApiError::invalid_parameter(message.to_string())
}

/// Step 1: validates the request and creates the transaction.
pub async fn start(
    state: &AppState,
    app_id: &str,
    name: &str,
    q: StartQuery,
    link: Option<AccessAuth>,
) -> ApiResult<Start> {
    let up = upstream(state, app_id, name)?;
    let app = state.app(app_id)?;
    let redirect = q
        .redirect
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("redirect is required: the URI to return to"))?;
    let client_state = q
        .state
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("state is required"))?;
    if client_state.len() > 512 {
        return Err(bad("state is longer than 512 characters"));
    }
    let code_challenge = match q.code_challenge {
        Some(challenge) => {
            if q.code_challenge_method.as_deref() != Some("S256") {
                return Err(bad(
                    "code_challenge_method must be S256 (plain is not accepted)",
                ));
            }
            if challenge.len() != 43 || !is_pkce(&challenge) {
                return Err(bad(
                    "code_challenge must be the base64url SHA-256 of a 43-128 \
                     character code_verifier",
                ));
            }
            if !redirect_allowed(&app.redirect_uris, &redirect) {
                return Err(bad("redirect is not registered for this app"));
            }
            Some(challenge)
        }
        None => {
            // realm-web's popup: tokens in the fragment, so only to an exact https URI and only
            // when the operator turned it on.
            if !app.realm_web_redirects {
                return Err(bad("code_challenge (S256) is required"));
            }
            if !redirect.starts_with("https://")
                || !app.redirect_uris.iter().any(|u| u == &redirect)
            {
                return Err(bad(
                    "redirect is not a registered https URI (required for realm-web redirects)",
                ));
            }
            None
        }
    };
    if let Some(auth) = &link {
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
    }
    let device = q
        .device
        .as_deref()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    let now = state.now();
    let upstream_state = secret_256();
    let nonce = secret_256();
    let verifier = secret_256();
    let headless = link.is_some() || q.provider_redirect_header.as_deref() == Some("true");
    let binding = secret_256();
    let start_key = secret_256();
    let flow = FlowRow {
        id: object_id(now),
        app_id: app_id.into(),
        provider: name.into(),
        state_hash: sha256_hex(upstream_state.as_bytes()),
        binding_hash: (!headless).then(|| sha256_hex(binding.as_bytes())),
        start_hash: headless.then(|| sha256_hex(start_key.as_bytes())),
        nonce: nonce.clone(),
        upstream_verifier: verifier.clone(),
        code_challenge,
        redirect_uri: redirect,
        client_state,
        device: device.to_string(),
        link_user_id: link.map(|a| a.session.user_id),
        expires_at: now + FLOW_TTL_SECS,
        callback_at: None,
        identity: None,
        app_code_hash: None,
        app_code_expires_at: None,
        redeemed_at: None,
        session_user_id: None,
        session_device_id: None,
    };
    flows::insert(state.db.writer(), &flow, now).await?;
    if headless {
        let location = format!(
            "{}{}?flow={}&key={start_key}",
            state.public_url,
            routes::OAUTH_START,
            flow.id
        );
        return Ok(Start::Header { location });
    }
    let hint = q.login_hint.filter(|h| h.len() <= 256);
    let location = up.authorize(
        &callback_url(state, name),
        &upstream_state,
        &verifier,
        &nonce,
        hint.as_deref(),
    )?;
    Ok(Start::Browser {
        location,
        cookie: cookie(state, &flow.id, &binding, up.form_post),
    })
}

/// `GET /auth/oauth2/start?flow=…&key=…`: binds a flow an app started to this browser.
pub async fn start_bound(state: &AppState, flow_id: &str, key: &str) -> ApiResult<Start> {
    let now = state.now();
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidCode,
            "this sign-in link is not valid or was already opened",
        )
    };
    let flow = flows::get(state.db.reader(), flow_id)
        .await?
        .ok_or_else(invalid)?;
    if !flow
        .start_hash
        .as_deref()
        .is_some_and(|h| crypto::ct_eq(h, &sha256_hex(key.as_bytes())))
        || flow.expires_at <= now
    {
        return Err(invalid());
    }
    let up = upstream(state, &flow.app_id, &flow.provider)?;
    let binding = secret_256();
    let upstream_state = secret_256();
    if !flows::bind(
        state.db.writer(),
        &flow.id,
        &sha256_hex(binding.as_bytes()),
        &sha256_hex(upstream_state.as_bytes()),
    )
    .await?
    {
        return Err(invalid());
    }
    let location = up.authorize(
        &callback_url(state, &flow.provider),
        &upstream_state,
        &flow.upstream_verifier,
        &flow.nonce,
        None,
    )?;
    Ok(Start::Browser {
        location,
        cookie: cookie(state, &flow.id, &binding, up.form_post),
    })
}

/// What the provider sent back (query or `form_post` body).
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// Step 2. `cookies` is the request's Cookie header.
pub async fn callback(
    state: &AppState,
    name: &str,
    params: CallbackParams,
    cookies: &str,
) -> Finish {
    match callback_inner(state, name, params, cookies).await {
        Ok(finish) => finish,
        Err(e) => page(e.code, "Sign-in failed", e.message),
    }
}

async fn callback_inner(
    state: &AppState,
    name: &str,
    params: CallbackParams,
    cookies: &str,
) -> ApiResult<Finish> {
    let now = state.now();
    let restart = "Start the sign-in again from the app.";
    let Some(upstream_state) = params.state.filter(|s| !s.is_empty()) else {
        return Ok(page(
            ErrorCode::BadRequest,
            "Sign-in failed",
            format!("The provider's answer has no state. {restart}"),
        ));
    };
    let Some(flow) =
        flows::by_state(state.db.reader(), &sha256_hex(upstream_state.as_bytes())).await?
    else {
        return Ok(page(
            ErrorCode::BadRequest,
            "Sign-in failed",
            format!("This sign-in is unknown or was already used. {restart}"),
        ));
    };
    if flow.provider != name {
        // An answer meant for another provider's callback: a mix-up attack or a misconfiguration.
        let _ = flows::mark_callback(state.db.writer(), &flow.id, now).await?;
        return Ok(page(
            ErrorCode::BadRequest,
            "Sign-in failed",
            format!("The answer came back to the wrong provider. {restart}"),
        ));
    }
    let bound = flow.binding_hash.as_deref().is_some_and(|expected| {
        cookie_value(cookies, &cookie_name(state, &flow.id))
            .is_some_and(|v| crypto::ct_eq(expected, &sha256_hex(v.as_bytes())))
    });
    if !bound {
        return Ok(page(
            ErrorCode::BadRequest,
            "Sign-in failed",
            format!(
                "This sign-in was started in another browser (or its cookie was blocked). \
                 {restart}"
            ),
        ));
    }
    if !flows::mark_callback(state.db.writer(), &flow.id, now).await? {
        return Ok(page(
            ErrorCode::BadRequest,
            "Sign-in failed",
            format!("This sign-in was already used. {restart}"),
        ));
    }
    // From here the browser is the one that started the flow: errors go back to the app too.
    let fail = |code: &str, description: String| {
        Ok(Finish::Redirect(error_redirect(&flow, code, &description)))
    };
    if flow.expires_at <= now {
        return fail(
            "expired",
            "the sign-in took longer than 10 minutes; start again".into(),
        );
    }
    let up = upstream(state, &flow.app_id, name)?;
    if let Some(iss) = &params.iss {
        if !up.issuers.iter().any(|i| i == iss) {
            return fail(
                "invalid_request",
                "the answer came from an unexpected issuer".into(),
            );
        }
    }
    if let Some(error) = params.error {
        let description = params
            .error_description
            .unwrap_or_else(|| match error.as_str() {
                "access_denied" => "you declined the sign-in at the provider".into(),
                _ => "the provider reported an error".into(),
            });
        return fail(
            if error == "access_denied" {
                "access_denied"
            } else {
                "provider_error"
            },
            description,
        );
    }
    let Some(code) = params.code.filter(|c| !c.is_empty()) else {
        return fail(
            "invalid_request",
            "the provider's answer has no authorization code".into(),
        );
    };
    let identity = match async {
        let tokens = up
            .exchange(
                state,
                &code,
                &callback_url(state, name),
                Some(&flow.upstream_verifier),
            )
            .await?;
        up.identity(state, &tokens, Some(&flow.nonce)).await
    }
    .await
    {
        Ok(identity) => identity,
        Err(e) => {
            return fail(
                if e.code == ErrorCode::ServiceUnavailable {
                    "temporarily_unavailable"
                } else {
                    "access_denied"
                },
                e.message,
            )
        }
    };
    if flow.code_challenge.is_none() {
        return realm_web_finish(state, &flow, &identity).await;
    }
    let app_code = secret_256();
    flows::set_identity(
        state.db.writer(),
        &flow.id,
        &identity_json(&identity),
        &sha256_hex(app_code.as_bytes()),
        now + APP_CODE_TTL_SECS,
    )
    .await?;
    let sep = if flow.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    Ok(Finish::Redirect(format!(
        "{}{sep}code={}.{app_code}&state={}",
        flow.redirect_uri,
        flow.id,
        urlencode(&flow.client_state)
    )))
}

fn error_redirect(flow: &FlowRow, code: &str, description: &str) -> String {
    if flow.code_challenge.is_none() {
        return format!(
            "{}#_baas_error={}&_baas_state={}&_baas_client_app_id={}",
            flow.redirect_uri,
            urlencode(description),
            urlencode(&flow.client_state),
            urlencode(&flow.app_id)
        );
    }
    let sep = if flow.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    format!(
        "{}{sep}error={}&error_description={}&state={}",
        flow.redirect_uri,
        urlencode(code),
        urlencode(description),
        urlencode(&flow.client_state)
    )
}

/// realm-web's popup result:
/// `#_baas_client_app_id=…&_baas_ua=access$refresh$user$device&_baas_state=…`.
async fn realm_web_finish(
    state: &AppState,
    flow: &FlowRow,
    identity: &ExternalIdentity,
) -> ApiResult<Finish> {
    let device: DeviceInfo = serde_json::from_str::<Value>(&flow.device)
        .ok()
        .map(|d| DeviceInfo::from_login_body(&serde_json::json!({"options": {"device": d}})))
        .unwrap_or_default();
    let ctx = LoginContext {
        device,
        user_agent: None,
        ip: None,
    };
    let (response, link) = match &flow.link_user_id {
        Some(user_id) => {
            if let Err(e) = external::link(state, &flow.app_id, identity, user_id).await {
                return Ok(Finish::Redirect(error_redirect(
                    flow,
                    "link_failed",
                    &e.message,
                )));
            }
            let linked = (identity.provider, Some(identity.subject.as_str()));
            let owner = (flow.app_id.as_str(), user_id.as_str());
            crate::activity::identity_linked(state, owner, linked, None).await;
            let mut tx = state.db.writer().begin().await?;
            let opened = sessions::open(
                state,
                &mut tx,
                &flow.app_id,
                user_id,
                identity.provider,
                None,
                &ctx,
            )
            .await?;
            tx.commit().await?;
            (opened.respond(state).await?, true)
        }
        None => match external::open_session(state, &flow.app_id, identity, &ctx).await {
            Ok(response) => (response, false),
            Err(e) => {
                return Ok(Finish::Redirect(error_redirect(
                    flow,
                    "login_failed",
                    &e.message,
                )))
            }
        },
    };
    let ua = format!(
        "{}${}${}${}",
        response.access_token,
        response.refresh_token.unwrap_or_default(),
        response.user_id,
        response.device_id
    );
    Ok(Finish::Redirect(format!(
        "{}#_baas_client_app_id={}&_baas_ua={}&_baas_state={}{}",
        flow.redirect_uri,
        urlencode(&flow.app_id),
        urlencode(&ua),
        urlencode(&flow.client_state),
        if link { "&_baas_link=ok" } else { "" }
    )))
}

/// The identity a callback verified, kept in the flow's row until the app redeems its code.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredIdentity {
    provider: ProviderType,
    issuer: String,
    subject: String,
    #[serde(default)]
    data: serde_json::Map<String, Value>,
}

fn identity_json(identity: &ExternalIdentity) -> String {
    let stored = ProviderType::parse(identity.provider).map(|provider| StoredIdentity {
        provider,
        issuer: identity.issuer.clone(),
        subject: identity.subject.clone(),
        data: identity.data.clone(),
    });
    stored
        .and_then(|s| serde_json::to_string(&s).ok())
        .unwrap_or_default()
}

/// `None` for a row that names no redirect provider (or is not ours): redeeming it fails.
fn identity_from_json(text: &str) -> Option<ExternalIdentity> {
    let stored: StoredIdentity = serde_json::from_str(text).ok()?;
    let name = provider::REDIRECT
        .iter()
        .find(|p| **p == stored.provider.as_str())?;
    Some(ExternalIdentity {
        provider: name,
        issuer: stored.issuer,
        subject: stored.subject,
        data: stored.data,
    })
}

fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|pair| {
        pair.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

fn invalid_code(message: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidCode, message.to_string())
}

/// Step 3: `{code, code_verifier}` at `POST {app}/auth/providers/{p}/login` (with `?link=true`
/// and the linking user's token for a link flow).
pub(crate) async fn redeem(
    state: &AppState,
    app_id: &str,
    provider: ProviderType,
    body: RedirectRedeem,
    ctx: &LoginContext,
    link: Option<&AccessAuth>,
) -> ApiResult<LoginResponse> {
    let now = state.now();
    let code = body.code.text().unwrap_or_default();
    let (flow_id, secret) = code
        .split_once('.')
        .ok_or_else(|| invalid_code("the sign-in code is not valid"))?;
    let flow = flows::get(state.db.reader(), flow_id)
        .await?
        .filter(|f| f.app_id == app_id && f.provider == provider.as_str())
        .filter(|f| {
            f.app_code_hash
                .as_deref()
                .is_some_and(|h| crypto::ct_eq(h, &sha256_hex(secret.as_bytes())))
        })
        .ok_or_else(|| invalid_code("the sign-in code is not valid"))?;
    if flow.redeemed_at.is_some() || !flows::redeem(state.db.writer(), &flow.id, now).await? {
        // A second use: whoever has the code now, the session the first use opened ends (S-65).
        let flow = flows::get(state.db.reader(), flow_id)
            .await?
            .unwrap_or(flow);
        if let (Some(user_id), Some(device_id)) = (&flow.session_user_id, &flow.session_device_id) {
            crate::store::sessions::revoke_device(state.db.writer(), user_id, device_id, now)
                .await?;
            tracing::warn!(
                app_id,
                user_id,
                "sign-in code replayed; the session it opened was revoked"
            );
        }
        return Err(ApiError::new(
            ErrorCode::CodeAlreadyUsed,
            "this sign-in code was already used",
        ));
    }
    if flow.app_code_expires_at.is_none_or(|t| t <= now) {
        return Err(ApiError::new(
            ErrorCode::CodeExpired,
            "the sign-in code has expired; start the sign-in again",
        ));
    }
    let challenge = flow
        .code_challenge
        .as_deref()
        .ok_or_else(|| invalid_code("this sign-in has no PKCE challenge"))?;
    let verifier = body
        .code_verifier
        .text()
        .ok_or_else(|| invalid_code("code_verifier is required"))?;
    if !is_pkce(verifier) || !crypto::ct_eq(&s256(verifier), challenge) {
        return Err(invalid_code(
            "the code_verifier does not match this sign-in; start the sign-in again",
        ));
    }
    let identity = flow
        .identity
        .as_deref()
        .and_then(identity_from_json)
        .ok_or_else(ApiError::internal)?;
    if let Some(link_user) = &flow.link_user_id {
        let auth = link
            .filter(|a| &a.session.user_id == link_user)
            .ok_or_else(|| {
                ApiError::invalid_session("this link sign-in belongs to another user's session")
            })?;
        external::link(state, app_id, &identity, link_user).await?;
        let linked = (identity.provider, Some(identity.subject.as_str()));
        let from = ctx.ip.as_deref().and_then(|ip| ip.parse().ok());
        let from = from.map(|ip| crate::activity::Origin {
            ip,
            user_agent: ctx.user_agent.as_deref(),
        });
        crate::activity::identity_linked(state, (app_id, link_user), linked, from).await;
        return Ok(LoginResponse {
            access_token: sessions::access_token(state, &auth.session, now).await?,
            refresh_token: None,
            user_id: auth.session.user_id.clone(),
            device_id: auth.session.device_id.clone(),
        });
    }
    if link.is_some() {
        return Err(ApiError::bad_request(
            "this sign-in was not started as a link (start it with ?link=true)",
        ));
    }
    let response = external::open_session(state, app_id, &identity, ctx).await?;
    flows::set_session(
        state.db.writer(),
        &flow.id,
        &response.user_id,
        &response.device_id,
    )
    .await?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cookie_values_are_found_by_exact_name() {
        let header = "a=1; gatehouse-oauth-abc=xyz; gatehouse-oauth-abcd=no";
        assert_eq!(
            super::cookie_value(header, "gatehouse-oauth-abc"),
            Some("xyz")
        );
        assert_eq!(super::cookie_value(header, "gatehouse-oauth-ab"), None);
    }
}
