//! `gatehoused`: a self-hostable auth server that speaks the MongoDB Atlas App Services client
//! auth protocol (so `realm-web` and the other official clients work unchanged) and stores its
//! state in SQLite (default) or PostgreSQL.
//!
//! The crate is a library with a thin binary: [`Server::start`] runs the whole server on any
//! address (tests bind `127.0.0.1:0`), [`http::router`] is the HTTP app, [`admin`] holds the
//! operator commands.

pub mod activity;
pub mod admin;
pub mod background;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod custom_data;
pub mod db;
pub mod email;
pub mod email_change;
pub mod error;
pub mod files;
pub mod functions;
pub mod http;
pub mod idp;
pub mod mail;
pub mod mfa;
pub mod new_device;
pub mod outbound;
pub mod passkey;
pub mod password;
pub mod phone;
pub mod phone_change;
pub mod profile_edit;
pub mod providers;
pub mod ratelimit;
pub mod read_deadline;
pub mod server;
pub mod sessions;
pub mod sms;
pub mod state;
pub mod step_up;
pub mod store;
pub mod sync;
pub mod tokens;
pub mod user_identities;
pub mod user_sessions;

pub use config::Config;
pub use error::ApiError;
pub use server::Server;
pub use state::AppState;

/// A secret string (password, SMTP credential, token): redacted in `Debug`, never logged.
#[derive(Clone, serde::Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
