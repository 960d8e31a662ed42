//! Browser sign-in (Google, Apple, Facebook, GitHub, Discord, X): the app opens the URL from
//! [`App::begin_redirect_login`] in the system browser; the provider and the server send the
//! browser back to `redirect_uri` (the app's `gatehouse://` deep link, or a loopback URL) with a
//! one-time code and the state; [`App::complete_redirect_login`] redeems the code with the PKCE
//! verifier that never left this process. A URL whose state matches no pending sign-in is
//! refused, so a link crafted elsewhere cannot sign this app into someone else's account.

use std::time::Instant;

use gatehouse_proto::login::{LoginCredential, PkceCodeLogin};
use gatehouse_proto::routes;
use gatehouse_proto::ProviderType;

use crate::app::App;
use crate::callback_url::{browser_url_of_server, CallbackUrl};
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::pending_redirects::{Pending, Purpose};
use crate::pkce::{challenge, random_b64};
use crate::user::User;

/// A started browser sign-in: open `url` in the system browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectLogin {
    pub url: String,
    pub provider: String,
    /// Echoed back in the redirect; identifies this sign-in (e.g. to cancel it).
    pub state: String,
}

fn redirect_provider(name: &str) -> Result<ProviderType> {
    ProviderType::parse(name)
        .filter(|p| p.is_redirect())
        .ok_or_else(|| {
            let names: Vec<&str> = ProviderType::REDIRECT.iter().map(|p| p.as_str()).collect();
            Error::InvalidArgument(format!(
                "{name:?} has no browser sign-in (one of: {})",
                names.join(", ")
            ))
        })
}

pub(crate) fn query(pairs: &[(&str, &str)]) -> Result<String> {
    let mut url = reqwest::Url::parse("http://x/")
        .map_err(|e| Error::InvalidArgument(format!("cannot build a query: {e}")))?;
    url.query_pairs_mut().extend_pairs(pairs);
    Ok(url.query().unwrap_or_default().to_string())
}

impl App {
    /// Starts a browser sign-in with `provider` (e.g. `oauth2-github`) that returns to
    /// `redirect_uri` (registered for the app on the server). Nothing is sent yet.
    pub fn begin_redirect_login(
        &self,
        provider: &str,
        redirect_uri: &str,
    ) -> Result<RedirectLogin> {
        let provider = redirect_provider(provider)?;
        let verifier = random_b64(32);
        let state = random_b64(16);
        let q = query(&[
            ("redirect", redirect_uri),
            ("state", &state),
            ("code_challenge", &challenge(&verifier)),
            ("code_challenge_method", "S256"),
        ])?;
        let url = format!(
            "{}?{q}",
            self.shared
                .http
                .url(&routes::login(&self.shared.app_id, provider.as_str()))
        );
        Ok(self.shared.redirects.remember(Pending {
            purpose: Purpose::SignIn(provider),
            state,
            verifier,
            url,
            started: Instant::now(),
        }))
    }

    /// Forgets a started sign-in (the person cancelled); its redirect will then be refused.
    pub fn cancel_redirect_login(&self, state: &str) -> bool {
        self.shared.redirects.cancel(state)
    }

    /// How many browser sign-ins are waiting for their redirect.
    pub fn pending_redirect_logins(&self) -> usize {
        self.shared.redirects.all().len()
    }

    /// The browser sign-in waiting with this state, if any (not expired, not completed): lets an
    /// app tell whether a deep link belongs to a sign-in it started before completing it.
    pub fn pending_redirect_login(&self, state: &str) -> Option<RedirectLogin> {
        self.shared.redirects.find(state)
    }

    /// Every browser sign-in waiting for its redirect, oldest first.
    pub fn pending_redirect_login_list(&self) -> Vec<RedirectLogin> {
        self.shared.redirects.all()
    }

    /// Finishes a browser sign-in from the URL the browser was sent back to
    /// (`…?code=…&state=…`, or `…?error=…&state=…`). Only a URL whose state matches a pending
    /// sign-in of this app is accepted; each pending sign-in completes at most once. For a link
    /// started with [`User::begin_redirect_link`], the answer is the linked user; for a
    /// challenge answered with a passkey ([`App::begin_mfa_passkey`]), the user signed in; for
    /// a passkey registration ([`crate::Mfa::begin_passkey_registration`]), the user it was
    /// added to (use [`crate::Mfa::complete_passkey_registration`] to get the factor).
    ///
    /// A sign-in whose first factor was right but which needs a second one fails with
    /// [`Error::MfaRequired`] (or [`Error::MfaEnrollmentRequired`]); nothing is stored.
    pub async fn complete_redirect_login(&self, url: &str) -> Result<User> {
        let (pending, code) = self.take_redirect(url)?;
        let result = match &pending.purpose {
            Purpose::SignIn(provider) => {
                self.log_in(redirect_credentials(*provider, &code, &pending))
                    .await
            }
            Purpose::Link { provider, user_id } => match self.shared.user(user_id) {
                Some(user) => user
                    .link_credentials(redirect_credentials(*provider, &code, &pending))
                    .await
                    .map(|()| user),
                None => Err(Error::UnknownUser(user_id.clone())),
            },
            Purpose::MfaPasskey(challenge) => {
                let proof = crate::mfa::Proof::Passkey {
                    code: code.clone(),
                    verifier: pending.verifier.clone(),
                };
                self.finish_challenge(challenge, proof)
                    .await
                    .map(|(user, _)| user)
            }
            Purpose::PasskeyRegistration { user_id } => match self.shared.user(user_id) {
                Some(user) => user
                    .mfa()
                    .redeem_registration(&code, &pending.verifier)
                    .await
                    .map(|_| user),
                None => Err(Error::UnknownUser(user_id.clone())),
            },
        };
        self.keep_if_retryable(pending, &result);
        result
    }

    /// The pending redirect `url` belongs to, taken out (each completes at most once), and its
    /// code; the redirect's own error when it carries one.
    pub(crate) fn take_redirect(&self, url: &str) -> Result<(Pending, String)> {
        let parsed = CallbackUrl::parse(url)?;
        let get = |name: &str| parsed.get(name);
        let state = get("state").ok_or(Error::UnknownRedirect)?;
        let pending = self
            .shared
            .redirects
            .take(&state)
            .ok_or(Error::UnknownRedirect)?;
        if let Some(reason) = get("error") {
            let message =
                get("error_description").unwrap_or_else(|| "the sign-in was not completed".into());
            return Err(Error::RedirectFailed { reason, message });
        }
        let code = get("code").ok_or_else(|| Error::RedirectFailed {
            reason: "invalid_request".into(),
            message: "the redirect carries no code".into(),
        })?;
        Ok((pending, code))
    }

    /// The server never saw the code (network down): keep the sign-in so the same deep link can
    /// be completed again once the server is reachable.
    pub(crate) fn keep_if_retryable<T>(&self, pending: Pending, result: &Result<T>) {
        if matches!(result, Err(Error::Transport { .. })) {
            self.shared.redirects.put_back(pending);
        }
    }
}

/// A browser sign-in's one-time code with the verifier that alone can redeem it.
fn redirect_credentials(provider: ProviderType, code: &str, pending: &Pending) -> Credentials {
    let credential = LoginCredential::PkceCode(PkceCodeLogin {
        code: code.into(),
        code_verifier: pending.verifier.clone(),
    });
    Credentials::redirect_code(provider, credential)
}

impl User {
    /// Starts a browser sign-in that adds a `provider` identity to this user. The server binds
    /// the flow to the browser that opens the returned URL.
    pub async fn begin_redirect_link(
        &self,
        provider: &str,
        redirect_uri: &str,
    ) -> Result<RedirectLogin> {
        let provider = redirect_provider(provider)?;
        let verifier = random_b64(32);
        let state = random_b64(16);
        let q = query(&[
            ("link", "true"),
            ("providerRedirectHeader", "true"),
            ("redirect", redirect_uri),
            ("state", &state),
            ("code_challenge", &challenge(&verifier)),
            ("code_challenge_method", "S256"),
        ])?;
        let path = format!(
            "{}?{q}",
            routes::login(&self.shared.app_id, provider.as_str())
        );
        let token = self.valid_access_token().await?;
        let location = self.shared.http.location_header(&path, &token).await?;
        let url = browser_url_of_server(&location, &self.shared.http.base)?;
        Ok(self.shared.redirects.remember(Pending {
            purpose: Purpose::Link {
                provider,
                user_id: self.id().to_string(),
            },
            state,
            verifier,
            url,
            started: Instant::now(),
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_redirect_providers_have_browser_sign_in() {
        assert!(super::redirect_provider("oauth2-github").is_ok());
        assert!(super::redirect_provider("local-userpass").is_err());
    }
}
