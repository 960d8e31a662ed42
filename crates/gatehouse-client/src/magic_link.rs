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
        let url = crate::callback_url::CallbackUrl::parse(url)?;
        let get = |name: &str| url.get(name);
        if get("state").as_deref() != Some(pending.state.as_str()) {
            return Err(Error::InvalidArgument(
                "this sign-in link belongs to another request (state does not match)".into(),
            ));
        }
        let code = get("code")
            .ok_or_else(|| Error::InvalidArgument("the sign-in URL has no code".into()))?;
        let body = PkceCodeLogin {
            code,
            code_verifier: pending.verifier.clone(),
        };
        self.log_in(Credentials::magic(LoginCredential::PkceCode(body)))
            .await
    }

    /// Completes with the short code from the mail, typed by the person.
    pub async fn complete_magic_link_with_code(
        &self,
        pending: &PendingMagicLink,
        otp: &str,
    ) -> Result<User> {
        let body = MagicOtpLogin {
            email: pending.email.clone(),
            otp: otp.into(),
            code_verifier: pending.verifier.clone(),
        };
        self.log_in(Credentials::magic(LoginCredential::MagicOtp(body)))
            .await
    }
}
