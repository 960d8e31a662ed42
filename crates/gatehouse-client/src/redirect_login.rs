//! Browser sign-in (Google, Apple, Facebook, GitHub, Discord, X): the app opens the URL from
//! [`App::begin_redirect_login`] in the system browser; the provider and the server send the
//! browser back to `redirect_uri` (the app's `gatehouse://` deep link, or a loopback URL) with a
//! one-time code and the state; [`App::complete_redirect_login`] redeems the code with the PKCE
//! verifier that never left this process. A URL whose state matches no pending sign-in is
//! refused, so a link crafted elsewhere cannot sign this app into someone else's account.

use std::time::{Duration, Instant};

use gatehouse_proto::routes::{self, provider};
use serde_json::json;

use crate::app::App;
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::pkce::{challenge, random_b64};
use crate::user::User;

/// The server keeps a browser sign-in for 10 minutes; so do we.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// More parallel sign-ins than this drop the oldest.
const MAX_PENDING: usize = 8;

pub(crate) struct Pending {
    provider: &'static str,
    state: String,
    verifier: String,
    /// Set for a link: the user the new identity is added to.
    link_user: Option<String>,
    started: Instant,
}

/// A started browser sign-in: open `url` in the system browser.
#[derive(Debug, Clone)]
pub struct RedirectLogin {
    pub url: String,
    pub provider: String,
    /// Echoed back in the redirect; identifies this sign-in (e.g. to cancel it).
    pub state: String,
}

fn redirect_provider(name: &str) -> Result<&'static str> {
    provider::REDIRECT.iter().find(|p| **p == name).copied()
        .ok_or_else(|| Error::InvalidArgument(format!("{name:?} has no browser sign-in (one of: {})", provider::REDIRECT.join(", "))))
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").expect("static URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_string()
}

impl App {
    fn remember(&self, pending: Pending) {
        let mut list = self.shared.pending_redirects.lock().expect("pending redirects");
        list.retain(|p| p.started.elapsed() < PENDING_TTL);
        if list.len() >= MAX_PENDING {
            list.remove(0);
        }
        list.push(pending);
    }

    /// Starts a browser sign-in with `provider` (e.g. `oauth2-github`) that returns to
    /// `redirect_uri` (registered for the app on the server). Nothing is sent yet.
    pub fn begin_redirect_login(&self, provider: &str, redirect_uri: &str) -> Result<RedirectLogin> {
        let provider = redirect_provider(provider)?;
        let verifier = random_b64(32);
        let state = random_b64(16);
        let q = query(&[("redirect", redirect_uri), ("state", &state), ("code_challenge", &challenge(&verifier)),
            ("code_challenge_method", "S256")]);
        let url = format!("{}?{q}", self.shared.http.url(&routes::login(&self.shared.app_id, provider)));
        self.remember(Pending { provider, state: state.clone(), verifier, link_user: None, started: Instant::now() });
        Ok(RedirectLogin { url, provider: provider.into(), state })
    }

    /// Forgets a started sign-in (the person cancelled); its redirect will then be refused.
    pub fn cancel_redirect_login(&self, state: &str) -> bool {
        let mut list = self.shared.pending_redirects.lock().expect("pending redirects");
        let before = list.len();
        list.retain(|p| p.state != state);
        list.len() != before
    }

    /// How many browser sign-ins are waiting for their redirect.
    pub fn pending_redirect_logins(&self) -> usize {
        let mut list = self.shared.pending_redirects.lock().expect("pending redirects");
        list.retain(|p| p.started.elapsed() < PENDING_TTL);
        list.len()
    }

    /// Finishes a browser sign-in from the URL the browser was sent back to
    /// (`…?code=…&state=…`, or `…?error=…&state=…`). Only a URL whose state matches a pending
    /// sign-in of this app is accepted; each pending sign-in completes at most once. For a link
    /// started with [`User::begin_redirect_link`], the answer is the linked user.
    pub async fn complete_redirect_login(&self, url: &str) -> Result<User> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Error::InvalidArgument(format!("not a URL: {e}")))?;
        let get = |name: &str| parsed.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let state = get("state").ok_or(Error::UnknownRedirect)?;
        let pending = {
            let mut list = self.shared.pending_redirects.lock().expect("pending redirects");
            list.retain(|p| p.started.elapsed() < PENDING_TTL);
            let index = list.iter().position(|p| p.state == state).ok_or(Error::UnknownRedirect)?;
            list.remove(index)
        };
        if let Some(reason) = get("error") {
            let message = get("error_description").unwrap_or_else(|| "the sign-in was not completed".into());
            return Err(Error::RedirectFailed { reason, message });
        }
        let code = get("code").ok_or_else(|| Error::RedirectFailed { reason: "invalid_request".into(), message: "the redirect carries no code".into() })?;
        let credentials = Credentials::redirect_code(pending.provider, json!({"code": code, "code_verifier": pending.verifier}));
        let result = match &pending.link_user {
            None => self.log_in(credentials).await,
            Some(user_id) => match self.shared.user(user_id) {
                Some(user) => user.link_credentials(credentials).await.map(|()| user),
                None => Err(Error::UnknownUser(user_id.clone())),
            },
        };
        // The server never saw the code (network down): keep the sign-in so the same deep link
        // can be completed again once the server is reachable.
        if matches!(result, Err(Error::Transport { .. })) {
            self.shared.pending_redirects.lock().expect("pending redirects").push(pending);
        }
        result
    }
}

impl User {
    /// Starts a browser sign-in that adds a `provider` identity to this user. The server binds
    /// the flow to the browser that opens the returned URL.
    pub async fn begin_redirect_link(&self, provider: &str, redirect_uri: &str) -> Result<RedirectLogin> {
        let provider = redirect_provider(provider)?;
        let verifier = random_b64(32);
        let state = random_b64(16);
        let q = query(&[("link", "true"), ("providerRedirectHeader", "true"), ("redirect", redirect_uri), ("state", &state),
            ("code_challenge", &challenge(&verifier)), ("code_challenge_method", "S256")]);
        let path = format!("{}?{q}", routes::login(&self.shared.app_id, provider));
        let token = self.valid_access_token().await?;
        let url = self.shared.http.location_header(&path, &token).await?;
        let app = App { shared: self.shared.clone() };
        app.remember(Pending { provider, state: state.clone(), verifier, link_user: Some(self.id().to_string()), started: Instant::now() });
        Ok(RedirectLogin { url, provider: provider.into(), state })
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
