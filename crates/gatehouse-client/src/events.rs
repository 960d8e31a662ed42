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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutReason {
    /// `log_out()` was called.
    Requested,
    /// The server no longer accepts the session.
    SessionEnded,
}
