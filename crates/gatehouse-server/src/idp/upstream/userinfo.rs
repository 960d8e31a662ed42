//! Google `accessToken` logins (the Node SDK's `Credentials.google({accessToken})`): an opaque
//! OAuth access token is believed only through the provider's OpenID Connect userinfo endpoint,
//! called with the token as `Bearer`. Its `sub` is the subject the ID token and the redirect
//! flow carry for the same account, so the three forms sign in the same user. Anything short of
//! a 2xx JSON answer with a `sub` fails closed with 401 `AuthError`. Userinfo does not say which
//! client the token was issued to, so [`Upstream::access_token_identity`] first checks that
//! (`token_audience.rs`) and then requires both answers to name the same subject.

use serde_json::Value;

use super::Upstream;
use crate::error::{ApiError, ApiResult};
use crate::idp::{oidc_profile, refused, ExternalIdentity};
use crate::state::AppState;

impl Upstream {
    /// The identity behind an access token a client sends: issued to this client (introspection
    /// or tokeninfo), then described by userinfo, both about the same subject.
    pub async fn access_token_identity(
        &self,
        state: &AppState,
        access: &str,
    ) -> ApiResult<ExternalIdentity> {
        let checked = self.check_token_audience(state, access).await?;
        let identity = self.userinfo_identity(state, access).await?;
        if checked.is_some_and(|sub| sub != identity.subject) {
            return Err(refused(
                self.provider,
                "the userinfo answer is about another user than the access token",
            ));
        }
        Ok(identity)
    }

    /// The identity behind `access`, as the configured userinfo endpoint describes it.
    pub async fn userinfo_identity(
        &self,
        state: &AppState,
        access: &str,
    ) -> ApiResult<ExternalIdentity> {
        let url = self
            .userinfo_url
            .as_deref()
            .ok_or_else(ApiError::internal)?;
        let reply = state.outbound.get(url, Some(access)).await.map_err(|e| {
            tracing::warn!(provider = self.provider, error = %e, "userinfo endpoint unreachable");
            refused(
                self.provider,
                "the userinfo endpoint could not be reached to check the access token",
            )
        })?;
        if !reply.ok() {
            return Err(refused(
                self.provider,
                format!(
                    "the userinfo endpoint refused the access token (HTTP {})",
                    reply.status
                ),
            ));
        }
        let claims = match reply.json() {
            Some(Value::Object(map)) => map,
            _ => {
                return Err(refused(
                    self.provider,
                    "the userinfo answer is not a JSON object",
                ))
            }
        };
        let subject = match claims.get("sub").and_then(Value::as_str) {
            Some(sub) if !sub.is_empty() && sub.len() <= 255 => sub.to_string(),
            _ => return Err(refused(self.provider, "the userinfo answer has no sub")),
        };
        Ok(ExternalIdentity {
            provider: self.provider,
            // The same issuer the ID-token forms record, so the identity row is the same one.
            issuer: self.issuers.first().cloned().unwrap_or_default(),
            subject,
            data: oidc_profile(&claims),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::OAuthClientConfig;
    use crate::idp::upstream::Upstream;

    #[test]
    fn google_userinfo_defaults_to_google_and_can_be_pointed_elsewhere() {
        let mut cfg = OAuthClientConfig {
            client_id: "c".into(),
            ..OAuthClientConfig::default()
        };
        let google = Upstream::resolve("oauth2-google", &cfg).unwrap();
        assert_eq!(
            google.userinfo_url.as_deref(),
            Some("https://openidconnect.googleapis.com/v1/userinfo")
        );
        cfg.userinfo_url = Some("https://op.example/me/".into());
        let google = Upstream::resolve("oauth2-google", &cfg).unwrap();
        assert_eq!(
            google.userinfo_url.as_deref(),
            Some("https://op.example/me")
        );
        let apple = Upstream::resolve("oauth2-apple", &cfg).unwrap();
        assert_eq!(apple.userinfo_url, None, "only Google takes access tokens");
        assert_eq!(apple.tokeninfo_url, None);
    }

    #[test]
    fn google_checks_audience_at_tokeninfo_unless_introspection_is_set() {
        let mut cfg = OAuthClientConfig {
            client_id: "c".into(),
            ..OAuthClientConfig::default()
        };
        let google = Upstream::resolve("oauth2-google", &cfg).unwrap();
        assert_eq!(
            google.tokeninfo_url.as_deref(),
            Some("https://oauth2.googleapis.com/tokeninfo")
        );
        assert_eq!(google.introspection_url, None);
        cfg.introspection_url = Some("https://op.example/token/introspection/".into());
        let google = Upstream::resolve("oauth2-google", &cfg).unwrap();
        assert_eq!(
            google.introspection_url.as_deref(),
            Some("https://op.example/token/introspection")
        );
    }
}
