//! Browser sign-ins started and not yet completed: state, PKCE verifier and where to go, in
//! memory only. Entries live [`PENDING_REDIRECT_TTL`]; at most [`MAX_PENDING`] wait at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use gatehouse_proto::ProviderType;

use crate::lock::lock;
use crate::mfa::MfaChallenge;
use crate::redirect_login::RedirectLogin;

/// How long a started browser sign-in can be completed: the server keeps its half for 10
/// minutes, and so does the SDK. Apps that list waiting sign-ins should use the same figure.
pub const PENDING_REDIRECT_TTL: Duration = Duration::from_secs(600);
/// More parallel sign-ins than this drop the oldest.
const MAX_PENDING: usize = 8;

/// What the redirect finishes.
pub(crate) enum Purpose {
    /// A sign-in with this provider.
    SignIn(ProviderType),
    /// A `provider` identity added to the user `user_id`.
    Link {
        provider: ProviderType,
        user_id: String,
    },
    /// A sign-in's second factor answered with a passkey on the server's page.
    MfaPasskey(MfaChallenge),
    /// A passkey registered for the user `user_id` on the server's page.
    PasskeyRegistration { user_id: String },
}

impl Purpose {
    /// The provider named in [`RedirectLogin::provider`].
    fn provider(&self) -> &str {
        match self {
            Purpose::SignIn(p) | Purpose::Link { provider: p, .. } => p.as_str(),
            Purpose::MfaPasskey(_) | Purpose::PasskeyRegistration { .. } => {
                gatehouse_proto::mfa::kind::PASSKEY
            }
        }
    }
}

pub(crate) struct Pending {
    pub purpose: Purpose,
    pub state: String,
    pub verifier: String,
    /// Where the person is sent (the server's or the provider's sign-in page).
    pub url: String,
    pub started: Instant,
}

impl Pending {
    fn live(&self) -> bool {
        self.started.elapsed() < PENDING_REDIRECT_TTL
    }

    pub fn view(&self) -> RedirectLogin {
        RedirectLogin {
            url: self.url.clone(),
            provider: self.purpose.provider().into(),
            state: self.state.clone(),
        }
    }
}

#[derive(Default)]
pub(crate) struct PendingRedirects {
    list: Mutex<Vec<Pending>>,
}

impl PendingRedirects {
    /// Live entries only, oldest first.
    fn live(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        let mut list = lock(&self.list);
        list.retain(Pending::live);
        list
    }

    /// Keeps `pending` until its redirect comes back; the answer is what to show of it.
    pub fn remember(&self, pending: Pending) -> RedirectLogin {
        let started = pending.view();
        let mut list = self.live();
        if list.len() >= MAX_PENDING {
            list.remove(0);
        }
        list.push(pending);
        started
    }

    /// Takes the entry with this state out (each completes at most once).
    pub fn take(&self, state: &str) -> Option<Pending> {
        let mut list = self.live();
        let index = list.iter().position(|p| p.state == state)?;
        Some(list.remove(index))
    }

    /// Puts an entry back after a completion that can be retried (the server was unreachable).
    pub fn put_back(&self, pending: Pending) {
        lock(&self.list).push(pending);
    }

    pub fn cancel(&self, state: &str) -> bool {
        self.take(state).is_some()
    }

    pub fn find(&self, state: &str) -> Option<RedirectLogin> {
        self.live()
            .iter()
            .find(|p| p.state == state)
            .map(Pending::view)
    }

    pub fn all(&self) -> Vec<RedirectLogin> {
        self.live().iter().map(Pending::view).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(state: &str) -> Pending {
        Pending {
            purpose: Purpose::SignIn(ProviderType::Github),
            state: state.into(),
            verifier: "v".into(),
            url: format!("https://server/login?state={state}"),
            started: Instant::now(),
        }
    }

    #[test]
    fn each_sign_in_is_found_by_state_and_completes_once() {
        let list = PendingRedirects::default();
        list.remember(pending("a"));
        list.remember(pending("b"));
        let found = list.find("b").unwrap();
        assert_eq!(
            (found.provider.as_str(), found.url.as_str()),
            ("oauth2-github", "https://server/login?state=b")
        );
        assert_eq!(
            list.all()
                .iter()
                .map(|p| p.state.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        let taken = list.take("a").unwrap();
        assert!(list.take("a").is_none() && list.find("a").is_none());
        list.put_back(taken);
        assert!(
            list.find("a").is_some(),
            "a retryable completion puts it back"
        );
        assert!(list.cancel("a") && !list.cancel("a"));
        assert!(list.find("unknown").is_none());
    }

    #[test]
    fn the_oldest_gives_way_and_expired_ones_are_gone() {
        let list = PendingRedirects::default();
        for i in 0..=MAX_PENDING {
            list.remember(pending(&i.to_string()));
        }
        assert_eq!(list.all().len(), MAX_PENDING);
        assert!(list.find("0").is_none());
        let Some(long_ago) = Instant::now().checked_sub(PENDING_REDIRECT_TTL) else {
            return;
        };
        list.remember(Pending {
            started: long_ago,
            ..pending("old")
        });
        assert!(list.find("old").is_none() && list.take("old").is_none());
    }
}
