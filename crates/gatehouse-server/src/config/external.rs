//! Configuration of everything that makes the server call out: the outbound HTTP guard, the
//! custom JWT provider, webhooks (custom function, custom confirmation and reset) and the
//! upstream OAuth providers. Every upstream endpoint defaults to the real provider's URL and can
//! be pointed elsewhere (a self-hosted IdP, a test stand-in on loopback).

use serde::Deserialize;

use crate::Secret;

/// Outbound HTTP (JWKS, webhooks, providers) — security.md S-54.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Allows plain `http` to loopback addresses (`127.0.0.0/8`, `::1`, `localhost`). For
    /// development and test suites only; everything else must be `https`.
    pub allow_loopback_http: bool,
    /// If not empty, the only hosts the server may call.
    pub allowed_hosts: Vec<String>,
    pub connect_timeout_ms: u64,
    pub timeout_ms: u64,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            allow_loopback_http: false,
            allowed_hosts: Vec::new(),
            connect_timeout_ms: 5000,
            timeout_ms: 10_000,
        }
    }
}

/// `custom-token`: JWTs issued by the app's own identity system (security.md S-50..S-53).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomTokenConfig {
    /// Exact `iss`. Not set (the default, as in App Services): tokens need no `iss`, and one
    /// they carry is not compared. Set it to refuse tokens from any other issuer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accepted `aud` values; every audience in a token must be one of them.
    pub audience: Vec<String>,
    /// The one algorithm tokens must use: RS256, RS384, RS512, PS256, PS384, PS512, ES256,
    /// ES384, EdDSA, or HS256 (with `secret`).
    pub algorithm: String,
    /// Exactly one key source: a JWKS URL (https, cached), a PEM public key, or an HMAC secret
    /// of at least 32 random bytes.
    pub jwks_url: Option<String>,
    pub public_key_pem: Option<String>,
    pub secret: Option<Secret>,
    /// Not set (the default, as in App Services): tokens need no `iat`; only `exp` limits them.
    /// Set (60 to 604800): tokens must carry `iat` and are refused when issued longer ago.
    #[serde(default)]
    pub max_age_secs: Option<i64>,
    /// Claims copied into the user's profile data: `{claim = "email", field = "email"}`.
    #[serde(default)]
    pub metadata: Vec<ClaimMapping>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    /// A top-level claim name, or a dotted path into nested objects (`user_data.name`).
    pub claim: String,
    /// The profile data field it becomes.
    pub field: String,
    /// Refuse tokens that lack the claim.
    #[serde(default)]
    pub required: bool,
}

/// A webhook the server signs its calls to (Standard Webhooks; security.md S-55).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// The signing secret. In the specification's form, `whsec_` + base64 (24 to 64 bytes once
    /// decoded), the decoded bytes are the HMAC-SHA256 key, as every Standard Webhooks library
    /// reads it. Without the prefix the text itself is the key (at least 32 bytes); a receiver
    /// then has to hand its library those bytes, not a string it would base64-decode.
    pub secret: Secret,
}

/// The prefix of a Standard Webhooks secret whose key is base64-encoded after it.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

impl WebhookConfig {
    /// The HMAC key (see `secret`); the error says what is wrong without showing the secret.
    pub fn signing_key(&self) -> Result<Vec<u8>, String> {
        webhook_key(self.secret.expose())
    }
}

/// A webhook secret's HMAC key: base64-decoded after `whsec_`, else the text's bytes.
pub fn webhook_key(secret: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let Some(encoded) = secret.strip_prefix(WEBHOOK_SECRET_PREFIX) else {
        return if secret.len() >= 32 {
            Ok(secret.as_bytes().to_vec())
        } else {
            Err("must be at least 32 bytes of random data, or whsec_ + base64".into())
        };
    };
    // Padding is optional, as the reference libraries accept either form.
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let key = engine
        .decode(encoded)
        .map_err(|e| format!("is not valid base64 after {WEBHOOK_SECRET_PREFIX}: {e}"))?;
    if (24..=64).contains(&key.len()) {
        Ok(key)
    } else {
        Err(format!(
            "must decode to 24 to 64 bytes after {WEBHOOK_SECRET_PREFIX} (it has {})",
            key.len()
        ))
    }
}

/// One upstream OAuth/OIDC provider. Only `client_id` (and usually `client_secret`) is needed
/// for the real services; the URLs default to theirs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthClientConfig {
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// More client ids accepted as an ID token's audience (Google's Android/iOS clients, Apple's
    /// bundle id beside the services id), and as the client a Google access token is for. Token
    /// mode only.
    pub extra_audiences: Vec<String>,
    /// Token mode: an ID token a client sends is refused when issued (`iat`) longer ago than
    /// this (default 600 s, at most a day; 60 s of clock skew is allowed on top).
    pub id_token_max_age_secs: Option<i64>,
    pub issuer: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub jwks_url: Option<String>,
    /// Google `accessToken` logins: the OpenID Connect `userinfo_endpoint` that vouches for the
    /// token (default Google's `https://openidconnect.googleapis.com/v1/userinfo`).
    pub userinfo_url: Option<String>,
    /// Google `accessToken` logins: an RFC 7662 token introspection endpoint that proves the
    /// token was issued to this client (`client_id`, else `aud`); called with the client's
    /// credentials, so it needs `client_secret`. When set, `tokeninfo_url` is not used.
    pub introspection_url: Option<String>,
    /// Google `accessToken` logins without `introspection_url`: Google's tokeninfo endpoint
    /// (default `https://oauth2.googleapis.com/tokeninfo`), whose `aud` or `azp` must be ours.
    pub tokeninfo_url: Option<String>,
    /// API base for profile calls (GitHub, Discord, X, Facebook's versioned Graph URL).
    pub api_url: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// `client_secret_post` or `client_secret_basic` at the token endpoint (default: the
    /// provider's documented one — Basic for Discord and X, form fields for the others).
    pub token_endpoint_auth: Option<String>,
    /// Google `authCode` logins: the redirect URI the code was issued for (Google Sign-In uses
    /// `postmessage`); a login body's `redirectUri` overrides it.
    pub auth_code_redirect_uri: Option<String>,
    /// Apple: mint the `client_secret` JWT (ES256) from the developer key instead of a fixed one.
    pub apple_team_id: Option<String>,
    pub apple_key_id: Option<String>,
    pub apple_private_key_pem: Option<Secret>,
}

/// Algorithms a custom-token provider may pin (no `none`, nothing from two families at once).
pub const JWT_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
];

/// Refuses an app whose enabled external providers are missing or misconfigured.
pub(super) fn validate_app(id: &str, app: &super::AppConfig) -> anyhow::Result<()> {
    use gatehouse_proto::routes::provider as p;
    let enabled = |name: &str| app.providers.iter().any(|x| x == name);
    if enabled(p::CUSTOM_TOKEN) {
        let c = app.custom_token.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "app {id}: custom-token is enabled but [apps.{id}.custom_token] is missing"
            )
        })?;
        anyhow::ensure!(
            c.issuer.as_ref().is_none_or(|i| !i.is_empty()),
            "app {id}: custom_token.issuer must not be empty (leave it out to accept any)"
        );
        anyhow::ensure!(
            !c.audience.is_empty() && c.audience.iter().all(|a| !a.is_empty()),
            "app {id}: custom_token.audience must list at least one audience"
        );
        anyhow::ensure!(
            JWT_ALGORITHMS.contains(&c.algorithm.as_str()),
            "app {id}: custom_token.algorithm {:?} is not allowed (one of {})",
            c.algorithm,
            JWT_ALGORITHMS.join(", ")
        );
        let sources = [
            c.jwks_url.is_some(),
            c.public_key_pem.is_some(),
            c.secret.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        anyhow::ensure!(
            sources == 1,
            "app {id}: custom_token needs exactly one of jwks_url, public_key_pem, secret"
        );
        if c.algorithm == "HS256" {
            let secret = c.secret.as_ref().ok_or_else(|| {
                anyhow::anyhow!("app {id}: custom_token.algorithm HS256 needs custom_token.secret")
            })?;
            anyhow::ensure!(
                secret.expose().len() >= 32,
                "app {id}: custom_token.secret must be at least 32 bytes of random data (256 \
                 bits), not a password"
            );
        } else {
            anyhow::ensure!(
                c.secret.is_none(),
                "app {id}: custom_token.secret is only for HS256; {} needs a public key",
                c.algorithm
            );
        }
        anyhow::ensure!(
            c.max_age_secs
                .is_none_or(|a| (60..=7 * 24 * 3600).contains(&a)),
            "app {id}: custom_token.max_age_secs must be between 60 and 604800"
        );
    }
    let custom_data = app
        .custom_data_webhook
        .as_ref()
        .map(super::CustomDataWebhookConfig::as_webhook);
    let hooks = [
        (p::CUSTOM_FUNCTION, "custom_function", &app.custom_function),
        ("", "confirm_function", &app.confirm_function),
        ("", "reset_function", &app.reset_function),
        ("", "custom_data_webhook", &custom_data),
    ];
    for (provider, key, hook) in hooks {
        if !provider.is_empty() && enabled(provider) && hook.is_none() {
            anyhow::bail!(
                "app {id}: {provider} is enabled but [apps.{id}.{key}] (url, secret) is missing"
            );
        }
        if let Some(hook) = hook {
            if let Err(why) = hook.signing_key() {
                anyhow::bail!("app {id}: {key}.secret {why}");
            }
            anyhow::ensure!(
                hook.url.starts_with("https://") || hook.url.starts_with("http://"),
                "app {id}: {key}.url must be an http(s) URL"
            );
        }
    }
    for provider in p::REDIRECT {
        if !enabled(provider) {
            continue;
        }
        let key = provider.trim_start_matches("oauth2-");
        let client = app.oauth_client(provider).ok_or_else(|| {
            anyhow::anyhow!(
                "app {id}: {provider} is enabled but [apps.{id}.{key}] (client_id, …) is missing"
            )
        })?;
        anyhow::ensure!(
            !client.client_id.is_empty(),
            "app {id}: {key}.client_id must be set"
        );
        anyhow::ensure!(
            client
                .id_token_max_age_secs
                .is_none_or(|a| (60..=24 * 3600).contains(&a)),
            "app {id}: {key}.id_token_max_age_secs must be between 60 and 86400"
        );
        // Introspection authenticates as the client (RFC 7662 §2.1).
        anyhow::ensure!(
            client.introspection_url.is_none()
                || client
                    .client_secret
                    .as_ref()
                    .is_some_and(|s| !s.expose().is_empty()),
            "app {id}: {key}.introspection_url needs {key}.client_secret"
        );
        for (field, url) in [
            ("introspection_url", &client.introspection_url),
            ("tokeninfo_url", &client.tokeninfo_url),
        ] {
            anyhow::ensure!(
                url.as_deref()
                    .is_none_or(|u| url::Url::parse(u)
                        .is_ok_and(|u| matches!(u.scheme(), "https" | "http"))),
                "app {id}: {key}.{field} must be an http(s) URL"
            );
        }
    }
    for uri in &app.redirect_uris {
        anyhow::ensure!(
            !uri.contains('#') && !uri.starts_with("javascript:"),
            "app {id}: redirect URI {uri:?} must not have a fragment"
        );
        if let Some((scheme, _)) = uri.split_once("://") {
            anyhow::ensure!(
                scheme == "https"
                    || scheme == "http"
                    || scheme.contains('.')
                    || scheme == "gatehouse",
                "app {id}: custom redirect scheme {scheme:?} must be a reverse-DNS name (RFC 8252 \
                 §7.1), like com.example.app"
            );
        } else {
            anyhow::bail!("app {id}: redirect URI {uri:?} is not an absolute URI");
        }
    }
    Ok(())
}
