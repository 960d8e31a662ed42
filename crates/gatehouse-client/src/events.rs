//! Typed events for whoever shows users (the desktop app forwards them to its window).

/// Something happened to a user of this app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    LoggedIn {
        user_id: String,
    },
    LoggedOut {
        user_id: String,
        reason: LogoutReason,
    },
    Removed {
        user_id: String,
    },
    ActiveUserChanged {
        user_id: Option<String>,
    },
    TokensRefreshed {
        user_id: String,
    },
    /// The session ended on the server side (revoked, expired, password reset): the person must
    /// sign in again to use this account.
    ReauthenticationNeeded {
        user_id: String,
    },
    /// The profile was fetched again (`refresh_profile`, after a link, …).
    ProfileRefreshed {
        user_id: String,
    },
    /// The user's identities differ from the last profile seen (linked or unlinked).
    IdentitiesChanged {
        user_id: String,
    },
    /// A new access token carries other custom data than the one it replaced.
    CustomDataChanged {
        user_id: String,
    },
}

impl Event {
    /// The user the event is about (none for "no user is active any more").
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Event::LoggedIn { user_id }
            | Event::LoggedOut { user_id, .. }
            | Event::Removed { user_id }
            | Event::TokensRefreshed { user_id }
            | Event::ReauthenticationNeeded { user_id }
            | Event::ProfileRefreshed { user_id }
            | Event::IdentitiesChanged { user_id }
            | Event::CustomDataChanged { user_id } => Some(user_id),
            Event::ActiveUserChanged { user_id } => user_id.as_deref(),
        }
    }
}

/// One user's events (`User::subscribe`), in the spirit of Realm's `User` change listeners and
/// Altogic's `onUserEvent`: the app's events, filtered to this user.
pub struct UserEvents {
    pub(crate) user_id: String,
    pub(crate) events: tokio::sync::broadcast::Receiver<Event>,
}

impl UserEvents {
    /// The next event about this user; `None` once the app is gone. Events missed because the
    /// receiver fell behind are skipped (call `User` getters for the current state).
    pub async fn recv(&mut self) -> Option<Event> {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match self.events.recv().await {
                Ok(e) if e.user_id() == Some(self.user_id.as_str()) => return Some(e),
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutReason {
    /// `log_out()` was called.
    Requested,
    /// The server no longer accepts the session.
    SessionEnded,
}
