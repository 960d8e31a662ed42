//! What the desktop core needs from its surroundings: telling the window that something changed,
//! and opening the system browser. The Tauri app provides it from its `AppHandle`; command tests
//! provide a recorder.

use serde::Serialize;

/// Something the window should know without asking.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UiEvent {
    /// Accounts, their states or the active one changed: ask for the overview again.
    AccountsChanged,
    /// A sentence to show (level `info`, `success`, `warning` or `error`).
    Notice { level: String, message: String },
    /// A browser or magic-link sign-in that was waiting ended.
    SignInFinished {
        state: String,
        ok: bool,
        message: String,
        /// The account signed in (connection id and user id), when it worked: a window waiting
        /// to retry an action that needed a recent sign-in of that account goes on.
        connection: Option<String>,
        user: Option<String>,
    },
}

impl UiEvent {
    pub fn notice(level: &str, message: impl Into<String>) -> UiEvent {
        UiEvent::Notice {
            level: level.into(),
            message: message.into(),
        }
    }

    /// The event name the window listens to (ui/js/ipc.js, `EVENTS`). Namespaced, so they
    /// cannot be mistaken for Tauri's or a plugin's own events.
    pub fn name(&self) -> &'static str {
        match self {
            UiEvent::AccountsChanged => UiEvent::ACCOUNTS,
            UiEvent::Notice { .. } => UiEvent::NOTICE,
            UiEvent::SignInFinished { .. } => UiEvent::SIGN_IN_FINISHED,
        }
    }

    pub const ACCOUNTS: &'static str = "gatehouse:accounts";
    pub const NOTICE: &'static str = "gatehouse:notice";
    pub const SIGN_IN_FINISHED: &'static str = "gatehouse:signin-finished";
    /// Every event name (`tests/ipc_surface.rs` checks the window listens to exactly these).
    pub const NAMES: [&'static str; 3] = [
        UiEvent::ACCOUNTS,
        UiEvent::NOTICE,
        UiEvent::SIGN_IN_FINISHED,
    ];
}

pub trait Shell: Send + Sync + 'static {
    fn emit(&self, event: UiEvent);
    /// Opens `url` in the person's web browser.
    fn open_browser(&self, url: &str) -> std::result::Result<(), String>;
}
