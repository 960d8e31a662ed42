//! The OAuth 2.0 client mechanics towards an upstream provider, done by the `oauth2` crate: the
//! authorization request (state, PKCE S256, scopes, redirect URI) and the code exchange (client
//! authentication, PKCE verifier, token and error responses). Its HTTP goes through
//! [`crate::outbound::Outbound`], so the SSRF guard, timeouts and the size cap apply to it too.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use gatehouse_proto::routes::provider as p;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde_json::Value;

use super::Upstream;
use crate::error::{ApiError, ApiResult};
use crate::idp::{refused, upstream_unavailable};
use crate::outbound::{Outbound, OutboundError};
use crate::state::AppState;

/// The one member of a token response beyond RFC 6749 that is read: OpenID Connect's `id_token`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl oauth2::ExtraTokenFields for IdTokenField {}

impl std::fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.id_token.is_some() {
            "IdTokenField(<redacted>)"
        } else {
            "IdTokenField(None)"
        })
    }
}

/// A provider's token response (the access token's `Debug` is redacted by the crate).
pub type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// The access token of a token response.
pub fn access_token(answer: &TokenAnswer) -> &str {
    answer.access_token().secret()
}

/// The ID token of a token response, when the provider sent one.
pub fn id_token(answer: &TokenAnswer) -> Option<&str> {
    answer.extra_fields().id_token.as_deref()
}

/// A client with the authorization and token endpoints set (and none of the others).
type Client<HasAuthUrl = EndpointSet, HasTokenUrl = EndpointSet> = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasTokenUrl,
>;

/// Why a token-endpoint call produced no answer to read.
#[derive(Debug, thiserror::Error)]
enum Transport {
    #[error(transparent)]
    Call(#[from] OutboundError),
    /// A 5xx is the provider being down, not a refusal: retryable, nothing changed.
    #[error("the token endpoint answered HTTP {0}")]
    ServerError(u16),
}

/// The `oauth2` crate's HTTP client: our guarded one.
struct Guarded<'o>(&'o Outbound);

impl<'c> oauth2::AsyncHttpClient<'c> for Guarded<'_> {
    type Error = Transport;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, Transport>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.0.execute(request).await?;
            if response.status().is_server_error() {
                return Err(Transport::ServerError(response.status().as_u16()));
            }
            Ok(response)
        })
    }
}

impl Upstream {
    fn oauth_client(&self, secret: Option<String>) -> ApiResult<Client> {
        let misconfigured = |what: &str, e: oauth2::url::ParseError| {
            tracing::error!(provider = self.provider, error = %e, "the {what} URL is not valid");
            ApiError::internal()
        };
        let auth_type = match self.cfg.token_endpoint_auth.as_deref() {
            Some("client_secret_basic") => AuthType::BasicAuth,
            Some(_) => AuthType::RequestBody,
            // Each provider's documented client authentication (RFC 6749 §2.3.1).
            None if matches!(self.provider, p::DISCORD | p::TWITTER) => AuthType::BasicAuth,
            None => AuthType::RequestBody,
        };
        let client =
            Client::<EndpointNotSet, EndpointNotSet>::new(ClientId::new(self.client_id.clone()))
                .set_auth_uri(
                    AuthUrl::new(self.authorize_url.clone())
                        .map_err(|e| misconfigured("authorize", e))?,
                )
                .set_token_uri(
                    TokenUrl::new(self.token_url.clone()).map_err(|e| misconfigured("token", e))?,
                )
                .set_auth_type(auth_type);
        Ok(match secret.filter(|s| !s.is_empty()) {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret)),
            None => client,
        })
    }

    /// The authorization request the browser is sent to: our `state`, the S256 challenge of
    /// `verifier`, and (OpenID Connect) the `nonce`.
    pub fn authorize(
        &self,
        callback: &str,
        state: &str,
        verifier: &str,
        nonce: &str,
        login_hint: Option<&str>,
    ) -> ApiResult<String> {
        let callback = RedirectUrl::new(callback.to_string()).map_err(|_| ApiError::internal())?;
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            verifier.to_string(),
        ));
        // Facebook documents a comma-separated scope list.
        let scopes: Vec<Scope> = if self.provider == p::FACEBOOK {
            vec![Scope::new(self.scopes.join(","))]
        } else {
            self.scopes.iter().cloned().map(Scope::new).collect()
        };
        let client = self.oauth_client(None)?;
        let mut request = client
            .authorize_url(|| CsrfToken::new(state.to_string()))
            .set_redirect_uri(Cow::Owned(callback))
            .set_pkce_challenge(challenge)
            .add_scopes(scopes);
        if self.oidc {
            request = request.add_extra_param("nonce", nonce);
            if let Some(hint) = login_hint {
                request = request.add_extra_param("login_hint", hint);
            }
        }
        if self.form_post {
            request = request.add_extra_param("response_mode", "form_post");
        }
        Ok(request.url().0.into())
    }

    /// Exchanges an authorization code for the provider's token response.
    pub async fn exchange(
        &self,
        state: &AppState,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> ApiResult<TokenAnswer> {
        let client = self.oauth_client(Some(self.client_secret(state.now())?))?;
        let mut request = client.exchange_code(AuthorizationCode::new(code.to_string()));
        request = match RedirectUrl::new(redirect_uri.to_string()) {
            Ok(url) => request.set_redirect_uri(Cow::Owned(url)),
            // Google Sign-In binds its codes to `postmessage`, which is not a URL.
            Err(_) => request.add_extra_param("redirect_uri", redirect_uri.to_string()),
        };
        if let Some(v) = verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(v.to_string()));
        }
        let provider = self.provider;
        match request.request_async(&Guarded(&state.outbound)).await {
            Ok(answer) => Ok(answer),
            Err(RequestTokenError::Request(e)) => Err(upstream_unavailable(provider, e)),
            Err(RequestTokenError::ServerResponse(e)) => Err(refused(
                provider,
                format!(
                    "the provider refused the authorization code ({})",
                    e.error().as_ref()
                ),
            )),
            // Not RFC 6749's shapes: GitHub's errors come with HTTP 200, Facebook's `error` is an
            // object, and an answer may lack `access_token`.
            Err(RequestTokenError::Parse(_, body)) => {
                Err(match serde_json::from_slice::<Value>(&body) {
                    Ok(Value::Object(map)) => match map.get("error") {
                        Some(error) => refused(
                            provider,
                            format!(
                                "the provider refused the authorization code ({})",
                                error_code(error)
                            ),
                        ),
                        None => refused(provider, "the token response has no access token"),
                    },
                    _ => upstream_unavailable(
                        provider,
                        "the token endpoint's answer is not a JSON object",
                    ),
                })
            }
            Err(RequestTokenError::Other(why)) => Err(upstream_unavailable(provider, why)),
        }
    }
}

/// A short name for a provider's `error` member: RFC 6749's string, or Facebook's
/// `{"message", "type", "code"}` object's type.
fn error_code(error: &Value) -> String {
    match error {
        Value::String(code) => code.clone(),
        Value::Object(e) => e
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("error")
            .to_string(),
        _ => "error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OAuthClientConfig;

    fn upstream(provider: &str) -> Upstream {
        let cfg = OAuthClientConfig {
            client_id: "client-1".into(),
            ..OAuthClientConfig::default()
        };
        Upstream::resolve(provider, &cfg).unwrap()
    }

    fn query(url: &str) -> Vec<(String, String)> {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    #[test]
    fn the_authorization_request_carries_state_pkce_nonce_and_form_post() {
        let verifier = "dBjftJeZ4CVP-mJ0kkFtDVs3dGzSmFGPyCwrjkL1oy0";
        let url = upstream(p::APPLE)
            .authorize(
                "https://auth.example/cb",
                "st",
                verifier,
                "n1",
                Some("a@b.c"),
            )
            .unwrap();
        assert!(
            url.starts_with("https://appleid.apple.com/auth/authorize?"),
            "{url}"
        );
        let q = query(&url);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("client-1"));
        assert_eq!(get("state"), Some("st"));
        // Computed independently (Python hashlib + base64.urlsafe_b64encode).
        assert_eq!(
            get("code_challenge"),
            Some("UAp9I0t3BiXfhHGC0vByQUMJEcasn_b0HFTgC1GkYnE")
        );
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("redirect_uri"), Some("https://auth.example/cb"));
        assert_eq!(get("scope"), Some("openid name email"));
        assert_eq!(
            (get("nonce"), get("response_mode"), get("login_hint")),
            (Some("n1"), Some("form_post"), Some("a@b.c"))
        );
    }

    #[test]
    fn non_oidc_providers_get_no_nonce_and_facebook_commas() {
        let verifier = "dBjftJeZ4CVP-mJ0kkFtDVs3dGzSmFGPyCwrjkL1oy0";
        let q = query(
            &upstream(p::FACEBOOK)
                .authorize("https://auth.example/cb", "st", verifier, "n1", Some("x"))
                .unwrap(),
        );
        assert!(
            q.iter()
                .all(|(k, _)| k != "nonce" && k != "login_hint" && k != "response_mode"),
            "{q:?}"
        );
        assert!(
            q.contains(&("scope".into(), "email,public_profile".into())),
            "{q:?}"
        );
    }

    #[test]
    fn an_id_token_never_shows_in_debug() {
        let field = IdTokenField {
            id_token: Some("eyJhbGciOi.secret.sig".into()),
        };
        assert!(!format!("{field:?}").contains("eyJ"));
    }
}
