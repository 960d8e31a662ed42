//! What the desktop core needs from its surroundings: telling the window that something changed,
//! and opening the system browser. The Tauri app provides it from its `AppHandle`; command tests
//! provide a recorder.

use serde::Serialize;

use crate::views::{ChallengeView, ConsentPrompt, WindowPrefs};

/// Something the window should know without asking.
// A consent prompt is larger than the other events; events are few and short-lived, and the
// variant's shape is the contract the app's shell and the tests match on.
#[allow(clippy::large_enum_variant)]
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
    /// A program asks for an account through the local agent: show the prompt (and answer it
    /// with `answer_consent`).
    ConsentRequested { prompt: ConsentPrompt },
    /// A prompt closed (answered here or elsewhere, timed out, or the program went away):
    /// `outcome` is `allowed`, `denied` or `timeout`.
    ConsentSettled { id: String, outcome: String },
    /// A sign-in's first factor was right and a second is needed (or must be set up first,
    /// `enroll`): ask for it (`answer_mfa`, `mfa_with_passkey`, `cancel_mfa`). The command that
    /// signed in fails with `MfaRequired` / `MfaEnrollmentRequired` as well.
    MfaChallenge { challenge: ChallengeView },
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
            UiEvent::ConsentRequested { .. } => UiEvent::CONSENT,
            UiEvent::ConsentSettled { .. } => UiEvent::CONSENT_SETTLED,
            UiEvent::MfaChallenge { .. } => UiEvent::MFA_CHALLENGE,
        }
    }

    pub const ACCOUNTS: &'static str = "gatehouse:accounts";
    pub const NOTICE: &'static str = "gatehouse:notice";
    pub const SIGN_IN_FINISHED: &'static str = "gatehouse:signin-finished";
    pub const CONSENT: &'static str = "gatehouse:consent";
    pub const CONSENT_SETTLED: &'static str = "gatehouse:consent-settled";
    pub const MFA_CHALLENGE: &'static str = "gatehouse:mfa-challenge";
    /// Every event name (`tests/ipc_surface.rs` checks the window listens to exactly these).
    pub const NAMES: [&'static str; 6] = [
        UiEvent::ACCOUNTS,
        UiEvent::NOTICE,
        UiEvent::SIGN_IN_FINISHED,
        UiEvent::CONSENT,
        UiEvent::CONSENT_SETTLED,
        UiEvent::MFA_CHALLENGE,
    ];
}

pub trait Shell: Send + Sync + 'static {
    fn emit(&self, event: UiEvent);
    /// Opens `url` in the person's web browser.
    fn open_browser(&self, url: &str) -> std::result::Result<(), String>;
    /// Brings the window to the front (shown, unminimised, focused): a consent prompt opened.
    fn raise_window(&self) {}
    /// Applies the window preferences (tray behaviour, start at login): after they change and
    /// once at start-up.
    fn apply_window_prefs(&self, _prefs: &WindowPrefs) {}
}
