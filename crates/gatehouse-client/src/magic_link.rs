//! Magic-link sign-in (Gatehouse extension): ask for a link bound to this device (PKCE S256),
//! then finish from the redirect the link's page sends to `redirect_uri` (a deep link), or from
//! the short code in the mail. The verifier never leaves this process.

use gatehouse_proto::login::{LoginCredential, MagicOtpLogin, PkceCodeLogin};
use gatehouse_proto::userpass::MagicLinkRequest;
use gatehouse_proto::ProviderType;

use crate::app::App;
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::pkce::{challenge, random_b64};
use crate::user::User;

/// A magic link that was asked for and not yet completed. Keep it in memory only.
pub struct PendingMagicLink {
    pub email: String,
    pub redirect_uri: String,
    /// Echoed back in the redirect; a redirect with another state is refused.
    pub state: String,
    verifier: String,
}

impl std::fmt::Debug for PendingMagicLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingMagicLink")
            .field("email", &self.email)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Asks the server to mail a sign-in link to `email` (a confirmed email/password account).
    /// The answer is the same whether or not the address has an account.
    pub async fn send_magic_link(
        &self,
        email: &str,
        redirect_uri: &str,
    ) -> Result<PendingMagicLink> {
        let verifier = random_b64(32);
        let state = random_b64(16);
        let body = MagicLinkRequest {
            email: email.into(),
            code_challenge: challenge(&verifier),
            code_challenge_method: "S256".into(),
            redirect_uri: redirect_uri.into(),
            state: state.clone(),
        };
        crate::phone::post(&self.shared, ProviderType::MagicLink, "send", &body).await?;
        Ok(PendingMagicLink {
            email: email.into(),
            redirect_uri: redirect_uri.into(),
            state,
            verifier,
        })
    }

    /// Completes from the URL the link's page redirected to (`…?code=…&state=…`).
    pub async fn complete_magic_link(&self, pending: &PendingMagicLink, url: &str) -> Result<User> {
        self.log_in(pending.credentials_from_redirect(url)?).await
    }

    /// Completes with the short code from the mail, typed by the person.
    pub async fn complete_magic_link_with_code(
        &self,
        pending: &PendingMagicLink,
        otp: &str,
    ) -> Result<User> {
        self.log_in(pending.credentials_with_code(otp)).await
    }
}

impl PendingMagicLink {
    /// The credentials the link's redirect carries (`…?code=…&state=…`), with this flow's
    /// verifier: sign in with them ([`App::log_in`], as `complete_magic_link` does) or add the
    /// address to a signed-in user ([`User::link_credentials`]).
    pub fn credentials_from_redirect(&self, url: &str) -> Result<Credentials> {
        let url = crate::callback_url::CallbackUrl::parse(url)?;
        if url.get("state").as_deref() != Some(self.state.as_str()) {
            return Err(Error::InvalidArgument(
                "this sign-in link belongs to another request (state does not match)".into(),
            ));
        }
        let code = url
            .get("code")
            .ok_or_else(|| Error::InvalidArgument("the sign-in URL has no code".into()))?;
        Ok(Credentials::magic(LoginCredential::PkceCode(
            PkceCodeLogin {
                code,
                code_verifier: self.verifier.clone(),
            },
        )))
    }

    /// The credentials for the short code from the mail, typed by the person (sign in or link,
    /// as with [`PendingMagicLink::credentials_from_redirect`]).
    pub fn credentials_with_code(&self, otp: &str) -> Credentials {
        Credentials::magic(LoginCredential::MagicOtp(MagicOtpLogin {
            email: self.email.clone(),
            otp: otp.trim().into(),
            code_verifier: self.verifier.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> PendingMagicLink {
        PendingMagicLink {
            email: "ada@example.com".into(),
            redirect_uri: "gatehouse://auth/callback".into(),
            state: "s1".into(),
            verifier: "v1".into(),
        }
    }

    #[test]
    fn a_redirect_gives_credentials_only_for_its_own_flow() {
        let p = pending();
        let good = p
            .credentials_from_redirect("gatehouse://auth/callback?code=c1&state=s1")
            .unwrap();
        assert_eq!(good.provider_type(), ProviderType::MagicLink);
        assert_eq!(
            serde_json::to_value(&good.payload).unwrap(),
            serde_json::json!({"code": "c1", "code_verifier": "v1"})
        );
        let other = p.credentials_from_redirect("gatehouse://auth/callback?code=c1&state=s2");
        assert!(matches!(other, Err(Error::InvalidArgument(m)) if m.contains("another request")));
        let no_code = p.credentials_from_redirect("gatehouse://auth/callback?state=s1");
        assert!(matches!(no_code, Err(Error::InvalidArgument(m)) if m.contains("no code")));
    }

    #[test]
    fn a_typed_code_carries_the_address_and_the_verifier() {
        let c = pending().credentials_with_code(" 123456 ");
        assert_eq!(
            serde_json::to_value(&c.payload).unwrap(),
            serde_json::json!({"email": "ada@example.com", "otp": "123456", "code_verifier": "v1"})
        );
    }
}
