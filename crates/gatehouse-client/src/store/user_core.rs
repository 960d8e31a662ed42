//! The live half of a user: its tokens in memory and the lock that keeps one refresh in flight.
//! Every `User` handle of one user id shares one `UserCore`. Only the account store changes the
//! tokens, after the keychain (see `AccountStore`).

use std::sync::Mutex;

use crate::lock::lock;
use crate::store::keychain::StoredTokens;

pub(crate) struct UserCore {
    id: String,
    tokens: Mutex<Option<StoredTokens>>,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl UserCore {
    pub(super) fn new(id: &str, tokens: Option<StoredTokens>) -> UserCore {
        UserCore {
            id: id.to_string(),
            tokens: Mutex::new(tokens),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// A copy of the tokens held now (`None`: logged out or removed).
    pub fn tokens(&self) -> Option<StoredTokens> {
        lock(&self.tokens).clone()
    }

    /// Replaces the tokens in memory; the old ones are returned.
    pub(super) fn replace_tokens(&self, tokens: Option<StoredTokens>) -> Option<StoredTokens> {
        std::mem::replace(&mut *lock(&self.tokens), tokens)
    }

    /// Held while refreshing: callers that waited find the new token instead of refreshing again.
    pub async fn refresh_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.refresh_lock.lock().await
    }
}
