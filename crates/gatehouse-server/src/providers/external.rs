//! Logins and links with identities vouched for from outside: custom JWTs, the custom-function
//! webhook, and the OAuth providers' tokens. The user is found by (provider, subject) — never by
//! email, which would let whoever controls an unverified address take over an account
//! (security.md S-52, S-62) — and created with its identity and first session in one transaction.

use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::routes::provider;
use gatehouse_proto::{ErrorCode, ProviderType};
use serde_json::{Map, Value};

use super::credentials::{CustomTokenLogin, FunctionPayload, Param};
use super::ExternalCredentials;
use crate::error::{on_conflict, ApiError, ApiResult};
use crate::idp::jwt::{self, KeySource, Rules};
use crate::idp::upstream::Upstream;
use crate::idp::{jwt_error, refused, webhook, ExternalIdentity};
use crate::sessions::{self, LoginContext};
use crate::state::AppState;
use crate::store::users;

/// Finds or creates the identity's user and opens a session, in one transaction.
pub async fn open_session(
    state: &AppState,
    app_id: &str,
    identity: &ExternalIdentity,
    ctx: &LoginContext,
) -> ApiResult<LoginResponse> {
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let user_id = match users::find_identity(&mut *tx, app_id, identity.provider, &identity.subject)
        .await?
    {
        Some(user_id) => user_id,
        None => {
            let user_id = users::create(&mut *tx, app_id, "normal", &identity.data, now).await?;
            // A concurrent first login with the same identity won the race: it is in use.
            users::add_identity(
                &mut *tx,
                app_id,
                &user_id,
                identity.provider,
                identity.provider,
                &identity.subject,
                &identity_data(identity),
                now,
            )
            .await
            .map_err(on_conflict(
                ErrorCode::IdentityInUse,
                "this identity was just signed in elsewhere; try again",
            ))?;
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
        identity.provider,
        None,
        ctx,
    )
    .await?;
    tx.commit().await?;
    let response = opened.respond(state).await?;
    tracing::info!(app_id, user_id, provider = identity.provider, "login");
    Ok(response)
}

fn identity_data(identity: &ExternalIdentity) -> Map<String, Value> {
    let mut data = identity.data.clone();
    data.insert("iss".into(), Value::String(identity.issuer.clone()));
    data
}

/// Adds the identity to `user_id`. An identity that belongs to another user stays where it is.
pub async fn link(
    state: &AppState,
    app_id: &str,
    identity: &ExternalIdentity,
    user_id: &str,
) -> ApiResult<()> {
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    match users::find_identity(&mut *tx, app_id, identity.provider, &identity.subject).await? {
        Some(owner) if owner == user_id => return Ok(()),
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::IdentityInUse,
                format!(
                    "this {} identity already belongs to another user; sign in with it instead",
                    identity.provider
                ),
            ));
        }
        None => {}
    }
    users::add_identity(
        &mut *tx,
        app_id,
        user_id,
        identity.provider,
        identity.provider,
        &identity.subject,
        &identity_data(identity),
        now,
    )
    .await
    .map_err(on_conflict(
        ErrorCode::IdentityInUse,
        "this identity was just linked to another user",
    ))?;
    if let Some(user) = users::get(&mut *tx, user_id).await? {
        // Fill profile fields the user does not have yet; never overwrite (e.g. a confirmed email).
        let mut data = user.data;
        for (k, v) in &identity.data {
            data.entry(k.clone()).or_insert_with(|| v.clone());
        }
        users::set_data(&mut *tx, user_id, &data).await?;
    }
    tx.commit().await?;
    tracing::info!(
        app_id,
        user_id,
        provider = identity.provider,
        "linked an identity"
    );
    Ok(())
}

/// The identity a token-mode credential payload proves: `custom-token`, `custom-function`,
/// `oauth2-google` (`authCode`, `id_token` or `accessToken`), `oauth2-apple` (`id_token`),
/// `oauth2-facebook` (`accessToken`).
pub(crate) async fn identity_from_payload(
    state: &AppState,
    app_id: &str,
    provider: ProviderType,
    credentials: ExternalCredentials,
) -> ApiResult<ExternalIdentity> {
    let app = state.provider(app_id, provider)?;
    let name = provider.as_str();
    match (provider, credentials) {
        (ProviderType::CustomToken, ExternalCredentials::Token(creds)) => {
            custom_token(state, app_id, creds).await
        }
        (ProviderType::CustomFunction, ExternalCredentials::Function(payload)) => {
            custom_function(state, app_id, payload).await
        }
        (
            ProviderType::Google | ProviderType::Apple | ProviderType::Facebook,
            ExternalCredentials::OAuth(creds),
        ) => {
            let upstream = app
                .oauth_client(name)
                .and_then(|c| Upstream::resolve(name, c))
                .ok_or_else(ApiError::internal)?;
            if provider == ProviderType::Facebook {
                return upstream
                    .facebook_identity(state, creds.access_token.required("accessToken")?)
                    .await;
            }
            // The first spelling present decides, as for any client that sends both.
            let id_token = if creds.id_token.is_present() {
                creds.id_token.text()
            } else {
                creds.id_token_camel.text()
            };
            if let Some(token) = id_token {
                let nonce = match &creds.nonce {
                    Param::Missing => None,
                    nonce => Some(nonce.required("nonce")?),
                };
                return upstream
                    .verify_client_id_token(state, app_id, token, nonce)
                    .await;
            }
            if provider == ProviderType::Google {
                if creds.access_token.is_present() {
                    // Checked to be issued to this client before userinfo is believed, so a
                    // token another app obtained for the user does not sign them in here.
                    let access = creds.access_token.required("accessToken")?;
                    return upstream.access_token_identity(state, access).await;
                }
                if let Some(code) = creds.auth_code.text() {
                    let cfg = app.google.as_ref().ok_or_else(ApiError::internal)?;
                    let redirect = creds
                        .redirect_uri
                        .text()
                        .map(str::to_string)
                        .or_else(|| cfg.auth_code_redirect_uri.clone())
                        .unwrap_or_else(|| "postmessage".into());
                    let verifier = if creds.code_verifier_camel.is_present() {
                        creds.code_verifier_camel.text()
                    } else {
                        creds.code_verifier.text()
                    };
                    let tokens = upstream.exchange(state, code, &redirect, verifier).await?;
                    let id_token = upstream.id_token_of(&tokens)?;
                    return upstream
                        .verify_client_id_token(state, app_id, id_token, None)
                        .await;
                }
                return Err(ApiError::new(
                    ErrorCode::MissingParameter,
                    "oauth2-google needs authCode, id_token or accessToken \
                     (or a redirect login: GET …/login?redirect=…)",
                ));
            }
            Err(ApiError::new(
                ErrorCode::MissingParameter,
                format!("{name} needs id_token"),
            ))
        }
        _ => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "{name} signs in through a browser redirect only: \
                     GET …/auth/providers/{name}/login?redirect=…"
            ),
        )),
    }
}

/// `custom-token`: `{"token": "<JWT>"}` verified per the app's configuration (S-50..S-53).
async fn custom_token(
    state: &AppState,
    app_id: &str,
    creds: CustomTokenLogin,
) -> ApiResult<ExternalIdentity> {
    let app = state.app(app_id)?;
    let cfg = app.custom_token.as_ref().ok_or_else(ApiError::internal)?;
    let token = creds.token.required("token")?;
    let alg = jwt::algorithm(&cfg.algorithm).ok_or_else(ApiError::internal)?;
    // No configured issuer: `iss` is neither needed nor compared (App Services' rule).
    let issuers: Vec<String> = cfg.issuer.iter().cloned().collect();
    let rules = Rules {
        algorithms: &[alg],
        issuers: cfg.issuer.as_ref().map(|_| issuers.as_slice()),
        audiences: &cfg.audience,
        max_age_secs: cfg.max_age_secs,
        nonce: None,
        azp: None,
    };
    let static_key;
    let keys = match (&cfg.jwks_url, &cfg.public_key_pem, &cfg.secret) {
        (Some(url), _, _) => KeySource::Jwks(url),
        (_, Some(pem), _) => {
            static_key = pem_key(alg, pem).map_err(|e| {
                tracing::error!(app_id, error = %e, "custom_token.public_key_pem cannot be used");
                ApiError::internal()
            })?;
            KeySource::Static(&static_key)
        }
        (_, _, Some(secret)) => {
            static_key = jsonwebtoken::DecodingKey::from_secret(secret.expose().as_bytes());
            KeySource::Static(&static_key)
        }
        _ => return Err(ApiError::internal()),
    };
    let claims = jwt::verify(
        &state.outbound,
        &state.jwks,
        token,
        keys,
        &rules,
        state.now(),
    )
    .await
    .map_err(|e| jwt_error(provider::CUSTOM_TOKEN, e))?;
    let mut data = Map::new();
    for mapping in &cfg.metadata {
        let value = mapping
            .claim
            .split('.')
            .try_fold(&Value::Object(claims.clone()), |v, part| v.get(part))
            .cloned();
        match value {
            Some(v) if !v.is_null() => {
                data.insert(mapping.field.clone(), v);
            }
            _ if mapping.required => {
                return Err(refused(
                    provider::CUSTOM_TOKEN,
                    format!("the token lacks the required claim {:?}", mapping.claim),
                ))
            }
            _ => {}
        }
    }
    if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| state.now());
        let writer = state.db.writer();
        let expires = exp + jwt::LEEWAY;
        let once = format!("jti:{jti}");
        if !crate::store::jti::remember_for(writer, app_id, provider::CUSTOM_TOKEN, &once, expires)
            .await?
        {
            return Err(refused(
                provider::CUSTOM_TOKEN,
                "the token was already used (jti replay)",
            ));
        }
    }
    let issuer = cfg
        .issuer
        .clone()
        .or_else(|| {
            claims
                .get("iss")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    Ok(ExternalIdentity {
        provider: provider::CUSTOM_TOKEN,
        issuer,
        subject: claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        data,
    })
}

fn pem_key(
    alg: jsonwebtoken::Algorithm,
    pem: &str,
) -> Result<jsonwebtoken::DecodingKey, jsonwebtoken::errors::Error> {
    use jsonwebtoken::Algorithm::*;
    match alg {
        ES256 | ES384 => jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes()),
        EdDSA => jsonwebtoken::DecodingKey::from_ed_pem(pem.as_bytes()),
        _ => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()),
    }
}

/// Profile fields a custom function may set.
const FUNCTION_FIELDS: &[&str] = &[
    "name",
    "email",
    "first_name",
    "last_name",
    "picture_url",
    "gender",
    "birthday",
    "min_age",
    "max_age",
];

/// `custom-function`: the payload goes to the app's signed webhook, which answers
/// `{"id": "<external id>", ...profile fields}` or refuses (any non-2xx answer). Ids live under
/// the custom-function provider only, so a hook cannot hand out another provider's user (S-56).
async fn custom_function(
    state: &AppState,
    app_id: &str,
    payload: FunctionPayload,
) -> ApiResult<ExternalIdentity> {
    let app = state.app(app_id)?;
    let hook = app
        .custom_function
        .as_ref()
        .ok_or_else(ApiError::internal)?;
    let FunctionPayload(mut payload) = payload;
    if let Value::Object(map) = &mut payload {
        map.remove("options");
    }
    let answer = webhook::call(
        &state.outbound,
        hook,
        "custom-function.login",
        app_id,
        payload,
        state.now(),
    )
    .await
    .map_err(|e| {
        tracing::warn!(app_id, error = %e, "custom function webhook failed");
        ApiError::new(
            ErrorCode::AuthError,
            "custom function authentication failed",
        )
    })?;
    let id = match answer.get("id") {
        Some(Value::String(id)) if !id.is_empty() && id.len() <= 255 => id.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            tracing::info!(
                app_id,
                "custom function refused the login (no id in its answer)"
            );
            return Err(ApiError::new(
                ErrorCode::AuthError,
                "custom function authentication failed",
            ));
        }
    };
    let data = FUNCTION_FIELDS
        .iter()
        .filter_map(|f| {
            answer
                .get(*f)
                .filter(|v| v.is_string())
                .map(|v| (f.to_string(), v.clone()))
        })
        .collect();
    Ok(ExternalIdentity {
        provider: provider::CUSTOM_FUNCTION,
        issuer: hook.url.clone(),
        subject: id,
        data,
    })
}
