//! Rows and the SQL that reads and writes them, one module per table family. Functions take any
//! executor (a pool or an open transaction), so callers decide what is atomic.

pub mod activity;
pub mod api_keys;
pub mod custom_data;
pub mod device_alerts;
pub mod email_changes;
pub mod failures;
pub mod jti;
pub mod lockdown;
pub mod magic;
pub mod maintenance;
pub mod mfa;
pub mod oauth_flows;
pub mod passkeys;
pub mod phone;
pub mod phone_changes;
pub mod sessions;
pub mod unconfirmed;
pub mod unlink;
pub mod userpass;
pub mod users;

use serde_json::{Map, Value};

/// What a mailed token or a texted code is for; stored as its [`Purpose::as_str`] and part of a
/// code's keyed hash, so a code issued for one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Confirm,
    Reset,
    /// Signing in with a texted code (`sms-code`).
    Login,
    /// The one-time link in a password-reset notice that removes every other way in.
    Lockdown,
    /// A code texted to the new number of a phone change (`crate::phone_change`).
    ChangePhone,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Reset => "reset",
            Purpose::Login => "login",
            Purpose::Lockdown => "lockdown",
            Purpose::ChangePhone => "change_phone",
        }
    }
}

pub(crate) fn json_map(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn json_text(map: &Map<String, Value>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}
