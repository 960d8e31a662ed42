//! The upstream OAuth 2.0 / OpenID Connect providers: their default endpoints, the authorization
//! request, the code exchange, and turning what they answer into an [`ExternalIdentity`].
//! OIDC providers (Google, Apple) are believed through their ID token, verified against their
//! JWKS with our nonce; the others (GitHub, Discord, X, Facebook) through their user API, keyed
//! by the immutable numeric id (security.md S-60, S-61).

use gatehouse_proto::routes::provider as p;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

mod oauth;
mod token_audience;
mod userinfo;
pub use oauth::TokenAnswer;

use super::jwt::{self, KeySource, Rules};
use super::{jwt_error, oidc_profile, refused, upstream_unavailable, ExternalIdentity};
use crate::config::OAuthClientConfig;
use crate::error::{ApiError, ApiResult};
use crate::outbound::Reply;
use crate::state::AppState;

/// Algorithms an upstream ID token may use: asymmetric only (S-60).
const ID_TOKEN_ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// A configured upstream provider with its endpoints resolved.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub provider: &'static str,
    pub client_id: String,
    pub extra_audiences: Vec<String>,
    pub issuers: Vec<String>,
    pub authorize_url: String,
    pub token_url: String,
    pub jwks_url: Option<String>,
    pub api_url: Option<String>,
    /// OpenID Connect `userinfo_endpoint` (Google's `accessToken` logins).
    pub userinfo_url: Option<String>,
    /// RFC 7662 introspection, else Google's tokeninfo: which client an access token is for.
    pub introspection_url: Option<String>,
    pub tokeninfo_url: Option<String>,
    pub scopes: Vec<String>,
    /// OpenID Connect: sends a nonce and trusts the ID token.
    pub oidc: bool,
    /// Apple returns with a cross-site `form_post`.
    pub form_post: bool,
    cfg: OAuthClientConfig,
}

fn static_name(provider: &str) -> Option<&'static str> {
    p::REDIRECT.iter().find(|n| **n == provider).copied()
}

impl Upstream {
    /// The provider's settings with the real service's URLs where the configuration has none.
    pub fn resolve(provider: &str, cfg: &OAuthClientConfig) -> Option<Upstream> {
        let name = static_name(provider)?;
        let or = |v: &Option<String>, d: &str| {
            v.clone()
                .unwrap_or_else(|| d.to_string())
                .trim_end_matches('/')
                .to_string()
        };
        let scopes = |d: &[&str]| {
            cfg.scopes
                .clone()
                .unwrap_or_else(|| d.iter().map(|s| s.to_string()).collect())
        };
        let base = Upstream {
            provider: name,
            client_id: cfg.client_id.clone(),
            extra_audiences: cfg.extra_audiences.clone(),
            issuers: vec![],
            authorize_url: String::new(),
            token_url: String::new(),
            jwks_url: None,
            api_url: None,
            userinfo_url: None,
            introspection_url: None,
            tokeninfo_url: None,
            scopes: vec![],
            oidc: false,
            form_post: false,
            cfg: cfg.clone(),
        };
        Some(match name {
            p::GOOGLE => {
                let issuer = or(&cfg.issuer, "https://accounts.google.com");
                // Google's ID tokens carry either spelling of its issuer.
                let mut issuers = vec![issuer.clone()];
                if issuer == "https://accounts.google.com" {
                    issuers.push("accounts.google.com".into());
                }
                Upstream {
                    issuers,
                    oidc: true,
                    authorize_url: or(
                        &cfg.authorize_url,
                        "https://accounts.google.com/o/oauth2/v2/auth",
                    ),
                    token_url: or(&cfg.token_url, "https://oauth2.googleapis.com/token"),
                    jwks_url: Some(or(
                        &cfg.jwks_url,
                        "https://www.googleapis.com/oauth2/v3/certs",
                    )),
                    userinfo_url: Some(or(
                        &cfg.userinfo_url,
                        "https://openidconnect.googleapis.com/v1/userinfo",
                    )),
                    introspection_url: cfg
                        .introspection_url
                        .as_ref()
                        .map(|u| u.trim_end_matches('/').to_string()),
                    tokeninfo_url: Some(or(
                        &cfg.tokeninfo_url,
                        "https://oauth2.googleapis.com/tokeninfo",
                    )),
                    scopes: scopes(&["openid", "email", "profile"]),
                    ..base
                }
            }
            p::APPLE => Upstream {
                issuers: vec![or(&cfg.issuer, "https://appleid.apple.com")],
                oidc: true,
                form_post: true,
                authorize_url: or(
                    &cfg.authorize_url,
                    "https://appleid.apple.com/auth/authorize",
                ),
                token_url: or(&cfg.token_url, "https://appleid.apple.com/auth/token"),
                jwks_url: Some(or(&cfg.jwks_url, "https://appleid.apple.com/auth/keys")),
                scopes: scopes(&["openid", "name", "email"]),
                ..base
            },
            p::FACEBOOK => {
                let api = or(&cfg.api_url, "https://graph.facebook.com/v19.0");
                Upstream {
                    issuers: vec![or(&cfg.issuer, "https://www.facebook.com")],
                    authorize_url: or(
                        &cfg.authorize_url,
                        "https://www.facebook.com/v19.0/dialog/oauth",
                    ),
                    token_url: or(&cfg.token_url, &format!("{api}/oauth/access_token")),
                    api_url: Some(api),
                    scopes: scopes(&["email", "public_profile"]),
                    ..base
                }
            }
            p::GITHUB => Upstream {
                issuers: vec![or(&cfg.issuer, "https://github.com")],
                authorize_url: or(
                    &cfg.authorize_url,
                    "https://github.com/login/oauth/authorize",
                ),
                token_url: or(
                    &cfg.token_url,
                    "https://github.com/login/oauth/access_token",
                ),
                api_url: Some(or(&cfg.api_url, "https://api.github.com")),
                scopes: scopes(&["read:user", "user:email"]),
                ..base
            },
            p::DISCORD => Upstream {
                issuers: vec![or(&cfg.issuer, "https://discord.com")],
                authorize_url: or(&cfg.authorize_url, "https://discord.com/oauth2/authorize"),
                token_url: or(&cfg.token_url, "https://discord.com/api/oauth2/token"),
                api_url: Some(or(&cfg.api_url, "https://discord.com/api")),
                scopes: scopes(&["identify", "email"]),
                ..base
            },
            p::TWITTER => Upstream {
                issuers: vec![or(&cfg.issuer, "https://x.com")],
                authorize_url: or(&cfg.authorize_url, "https://x.com/i/oauth2/authorize"),
                token_url: or(&cfg.token_url, "https://api.x.com/2/oauth2/token"),
                api_url: Some(or(&cfg.api_url, "https://api.x.com/2")),
                scopes: scopes(&["users.read", "tweet.read"]),
                ..base
            },
            _ => return None,
        })
    }

    fn secret(&self) -> String {
        self.cfg
            .client_secret
            .as_ref()
            .map(|s| s.expose().to_string())
            .unwrap_or_default()
    }

    /// Apple's `client_secret` is a short ES256 JWT signed with the developer key, when one is
    /// configured; otherwise the fixed secret.
    fn client_secret(&self, now: i64) -> ApiResult<String> {
        if let (p::APPLE, Some(team), Some(kid), Some(pem)) = (
            self.provider,
            &self.cfg.apple_team_id,
            &self.cfg.apple_key_id,
            &self.cfg.apple_private_key_pem,
        ) {
            let key =
                jsonwebtoken::EncodingKey::from_ec_pem(pem.expose().as_bytes()).map_err(|e| {
                    tracing::error!(error = %e, "apple_private_key_pem is not an EC private key");
                    ApiError::internal()
                })?;
            let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
            header.kid = Some(kid.clone());
            let claims = serde_json::json!({
                "iss": team, "iat": now, "exp": now + 300,
                "aud": "https://appleid.apple.com", "sub": self.client_id
            });
            return jsonwebtoken::encode(&header, &claims, &key).map_err(|_| ApiError::internal());
        }
        Ok(self.secret())
    }

    /// Verifies an ID token from this provider's token endpoint in a redirect flow we ran: our
    /// nonce, `iat` at most 5 minutes ago, `azp` (when present) our client id.
    pub async fn verify_id_token(
        &self,
        state: &AppState,
        token: &str,
        nonce: Option<&str>,
    ) -> ApiResult<ExternalIdentity> {
        let claims = self
            .verify_claims(
                state,
                token,
                nonce,
                300,
                std::slice::from_ref(&self.client_id),
            )
            .await?;
        Ok(self.id_token_identity(&claims))
    }

    /// Verifies an ID token a client sends in token mode (issue 12, item 17): the client's
    /// `nonce` when it gives one, `azp` (when present) one of the configured client ids, issued
    /// at most `id_token_max_age_secs` (10 min) ago, and used once: its `jti` (or, when the
    /// provider sends none, the token's hash) is remembered until it expires.
    pub async fn verify_client_id_token(
        &self,
        state: &AppState,
        app_id: &str,
        token: &str,
        nonce: Option<&str>,
    ) -> ApiResult<ExternalIdentity> {
        let mut client_ids = vec![self.client_id.clone()];
        client_ids.extend(self.extra_audiences.iter().cloned());
        let max_age = self.cfg.id_token_max_age_secs.unwrap_or(600);
        let claims = self
            .verify_claims(state, token, nonce, max_age, &client_ids)
            .await?;
        let once = match claims.get("jti").and_then(Value::as_str) {
            Some(jti) => format!("jti:{jti}"),
            None => format!("sha256:{}", crate::crypto::sha256_hex(token.as_bytes())),
        };
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| state.now());
        let fresh = crate::store::jti::remember_for(
            state.db.writer(),
            app_id,
            self.provider,
            &once,
            exp + jwt::LEEWAY,
        )
        .await?;
        if !fresh {
            return Err(refused(
                self.provider,
                "the ID token was already used (replay)",
            ));
        }
        Ok(self.id_token_identity(&claims))
    }

    async fn verify_claims(
        &self,
        state: &AppState,
        token: &str,
        nonce: Option<&str>,
        max_age_secs: i64,
        azp: &[String],
    ) -> ApiResult<Map<String, Value>> {
        let jwks = self
            .jwks_url
            .as_deref()
            .ok_or_else(|| refused(self.provider, "this provider has no ID tokens"))?;
        let mut audiences = vec![self.client_id.clone()];
        audiences.extend(self.extra_audiences.iter().cloned());
        let rules = Rules {
            algorithms: ID_TOKEN_ALGS,
            issuers: Some(&self.issuers),
            audiences: &audiences,
            max_age_secs: Some(max_age_secs),
            nonce,
            azp: Some(azp),
        };
        jwt::verify(
            &state.outbound,
            &state.jwks,
            token,
            KeySource::Jwks(jwks),
            &rules,
            state.now(),
        )
        .await
        .map_err(|e| jwt_error(self.provider, e))
    }

    fn id_token_identity(&self, claims: &Map<String, Value>) -> ExternalIdentity {
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        ExternalIdentity {
            provider: self.provider,
            // Google's two spellings are one issuer.
            issuer: self
                .issuers
                .first()
                .cloned()
                .unwrap_or_else(|| issuer.to_string()),
            subject: claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            data: oidc_profile(claims),
        }
    }

    /// The identity behind an upstream access token (non-OIDC providers), or behind the ID token
    /// of an OIDC token response.
    pub async fn identity(
        &self,
        state: &AppState,
        tokens: &TokenAnswer,
        nonce: Option<&str>,
    ) -> ApiResult<ExternalIdentity> {
        let access = oauth::access_token(tokens);
        if self.oidc {
            return self
                .verify_id_token(state, self.id_token_of(tokens)?, nonce)
                .await;
        }
        let api = self.api_url.as_deref().unwrap_or_default();
        let issuer = self.issuers[0].clone();
        match self.provider {
            p::GITHUB => {
                let user =
                    Value::Object(self.api_get(state, &format!("{api}/user"), access).await?);
                let id = numeric_id(&user["id"])
                    .ok_or_else(|| refused(self.provider, "the user API answered no id"))?;
                let mut data = Map::new();
                copy(&user, "name", &mut data, "name");
                copy(&user, "login", &mut data, "username");
                copy(&user, "avatar_url", &mut data, "picture_url");
                // Only the verified primary address counts (S-61); the public `email` field does
                // not.
                if let Value::Array(emails) = self
                    .api_value(state, &format!("{api}/user/emails"), access)
                    .await?
                {
                    if let Some(e) = emails.iter().find(|e| {
                        e["primary"] == Value::Bool(true) && e["verified"] == Value::Bool(true)
                    }) {
                        copy(e, "email", &mut data, "email");
                    }
                }
                Ok(ExternalIdentity {
                    provider: self.provider,
                    issuer,
                    subject: id,
                    data,
                })
            }
            p::DISCORD => {
                let user = Value::Object(
                    self.api_get(state, &format!("{api}/users/@me"), access)
                        .await?,
                );
                let id = numeric_id(&user["id"])
                    .ok_or_else(|| refused(self.provider, "the user API answered no id"))?;
                let mut data = Map::new();
                copy(&user, "username", &mut data, "username");
                if !copy(&user, "global_name", &mut data, "name") {
                    copy(&user, "username", &mut data, "name");
                }
                if user["verified"] == Value::Bool(true) {
                    copy(&user, "email", &mut data, "email");
                }
                if let Some(avatar) = user["avatar"].as_str() {
                    data.insert(
                        "picture_url".into(),
                        Value::String(format!(
                            "https://cdn.discordapp.com/avatars/{id}/{avatar}.png"
                        )),
                    );
                }
                Ok(ExternalIdentity {
                    provider: self.provider,
                    issuer,
                    subject: id,
                    data,
                })
            }
            p::TWITTER => {
                let answer = Value::Object(
                    self.api_get(state, &format!("{api}/users/me"), access)
                        .await?,
                );
                let user = &answer["data"];
                let id = numeric_id(&user["id"])
                    .ok_or_else(|| refused(self.provider, "the user API answered no id"))?;
                let mut data = Map::new();
                copy(user, "name", &mut data, "name");
                copy(user, "username", &mut data, "username");
                Ok(ExternalIdentity {
                    provider: self.provider,
                    issuer,
                    subject: id,
                    data,
                })
            }
            p::FACEBOOK => self.facebook_identity(state, access).await,
            _ => Err(ApiError::internal()),
        }
    }

    /// The ID token of an OpenID Connect token response.
    pub fn id_token_of<'a>(&self, tokens: &'a TokenAnswer) -> ApiResult<&'a str> {
        oauth::id_token(tokens)
            .ok_or_else(|| refused(self.provider, "the token response has no ID token"))
    }

    /// Facebook access tokens are checked with the Graph API's `debug_token` (valid, issued to
    /// this app) before `/me` is believed (security.md A.10).
    pub async fn facebook_identity(
        &self,
        state: &AppState,
        access: &str,
    ) -> ApiResult<ExternalIdentity> {
        let api = self.api_url.clone().unwrap_or_default();
        let secret = self.secret();
        let mut debug =
            url::Url::parse(&format!("{api}/debug_token")).map_err(|_| ApiError::internal())?;
        debug
            .query_pairs_mut()
            .append_pair("input_token", access)
            .append_pair("access_token", &format!("{}|{secret}", self.client_id));
        let reply = state
            .outbound
            .get(debug.as_str(), None)
            .await
            .map_err(|e| upstream_unavailable(self.provider, e))?;
        if reply.status >= 500 {
            return Err(upstream_unavailable(
                self.provider,
                format!("debug_token answered HTTP {}", reply.status),
            ));
        }
        let body = answer_object(self.provider, &reply)?;
        let data = &body.get("data").cloned().unwrap_or(Value::Null);
        if !reply.ok() || data["is_valid"] != Value::Bool(true) {
            return Err(refused(self.provider, "the access token is not valid"));
        }
        if data["app_id"].as_str() != Some(self.client_id.as_str()) {
            return Err(refused(
                self.provider,
                "the access token was issued to another app",
            ));
        }
        let user_id = numeric_id(&data["user_id"])
            .ok_or_else(|| refused(self.provider, "the token has no user"))?;
        let proof = hex::encode(crate::crypto::hmac_sha256(
            secret.as_bytes(),
            access.as_bytes(),
        ));
        let mut me = url::Url::parse(&format!("{api}/me")).map_err(|_| ApiError::internal())?;
        me.query_pairs_mut()
            .append_pair("fields", "id,name,email,first_name,last_name")
            .append_pair("access_token", access)
            .append_pair("appsecret_proof", &proof);
        let reply = state
            .outbound
            .get(me.as_str(), None)
            .await
            .map_err(|e| upstream_unavailable(self.provider, e))?;
        if reply.status >= 500 {
            return Err(upstream_unavailable(
                self.provider,
                format!("the Graph API answered HTTP {}", reply.status),
            ));
        }
        let user = Value::Object(answer_object(self.provider, &reply)?);
        if !reply.ok() || numeric_id(&user["id"]).as_deref() != Some(user_id.as_str()) {
            return Err(refused(
                self.provider,
                "the profile does not belong to the token's user",
            ));
        }
        let mut profile = Map::new();
        for (from, to) in [
            ("name", "name"),
            ("first_name", "first_name"),
            ("last_name", "last_name"),
            ("email", "email"),
        ] {
            copy(&user, from, &mut profile, to);
        }
        Ok(ExternalIdentity {
            provider: self.provider,
            issuer: self.issuers[0].clone(),
            subject: user_id,
            data: profile,
        })
    }

    async fn api_get(
        &self,
        state: &AppState,
        url: &str,
        access: &str,
    ) -> ApiResult<Map<String, Value>> {
        match self.api_value(state, url, access).await? {
            Value::Object(map) => Ok(map),
            _ => Err(upstream_unavailable(
                self.provider,
                "the user API answer is not a JSON object",
            )),
        }
    }

    async fn api_value(&self, state: &AppState, url: &str, access: &str) -> ApiResult<Value> {
        let reply = state
            .outbound
            .get(url, Some(access))
            .await
            .map_err(|e| upstream_unavailable(self.provider, e))?;
        if reply.status == 401 || reply.status == 403 {
            return Err(refused(
                self.provider,
                format!(
                    "the user API refused the access token (HTTP {})",
                    reply.status
                ),
            ));
        }
        if !reply.ok() {
            return Err(upstream_unavailable(
                self.provider,
                format!("user API answered HTTP {}", reply.status),
            ));
        }
        reply
            .json()
            .ok_or_else(|| upstream_unavailable(self.provider, "the user API answer is not JSON"))
    }
}

fn answer_object(provider: &str, reply: &Reply) -> ApiResult<Map<String, Value>> {
    match reply.json() {
        Some(Value::Object(map)) => Ok(map),
        _ => {
            if reply.ok() {
                Err(upstream_unavailable(
                    provider,
                    "the answer is not a JSON object",
                ))
            } else {
                Err(upstream_unavailable(
                    provider,
                    format!("HTTP {}", reply.status),
                ))
            }
        }
    }
}

/// Upstream ids as strings: numbers (GitHub) or numeric strings (Discord, X, Facebook).
fn numeric_id(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s)
            if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(s.clone())
        }
        _ => None,
    }
}

fn copy(from: &Value, key: &str, to: &mut Map<String, Value>, field: &str) -> bool {
    match from.get(key).and_then(Value::as_str) {
        Some(v) if !v.is_empty() => {
            to.insert(field.into(), Value::String(v.into()));
            true
        }
        _ => false,
    }
}
