//! Gatehouse client SDK: sign users in to an App Services–compatible server (`gatehoused`, or
//! any server speaking that protocol), keep several of them signed in with one active, refresh
//! their tokens, manage their API keys — with tokens in the OS keychain.
//!
//! ```no_run
//! # async fn demo() -> gatehouse_client::Result<()> {
//! use gatehouse_client::{App, Credentials};
//! let app = App::builder("gatehouse-dev").base_url("http://127.0.0.1:9090").build().await?;
//! let user = app.log_in(Credentials::email_password("me@example.com", "long passphrase")).await?;
//! let key = user.api_keys().create("ci").await?;        // key.key holds the secret, once
//! let anon = app.log_in(Credentials::anonymous()).await?; // a second user, now active
//! app.switch_user(&user)?;                                 // one call, no network
//! # Ok(()) }
//! ```
//!
//! Compared with realm-web it deliberately: refreshes at most once per failed call and at most
//! once at a time per user; reuses only a *logged-in* anonymous user; deletes the user you pass
//! (with its own token); sends no token to public endpoints; keeps users in a stable order and
//! persists the active user; never drops tokens because of a network error; opts into
//! refresh-token rotation and stores each new refresh token before using it.

// Lint gates of this crate (config in `clippy.toml` next to Cargo.toml): request bodies are
// `gatehouse-proto` types, never `serde_json::json!` (allowed in tests only); no `unwrap`/`expect`
// outside tests except where an `#[allow]` says why it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::disallowed_macros, clippy::unwrap_used, clippy::expect_used)
)]
#![cfg_attr(test, allow(clippy::disallowed_macros))]

mod activity;
mod api_keys;
mod app;
pub mod callback_url;
mod clock;
mod credentials;
mod email_password;
mod error;
mod events;
pub mod fs;
mod http;
mod lock;
mod magic_link;
mod mfa;
mod pending_redirects;
mod phone;
mod phone_flows;
mod pkce;
mod redirect_login;
mod self_service;
mod sessions;
mod sms_code;
pub mod store;
mod user;

pub use api_keys::ApiKeys;
pub use app::{App, AppBuilder, SecretStorage};
pub use credentials::Credentials;
pub use email_password::EmailPasswordAuth;
pub use error::{codes, Error, Result};
pub use events::{Event, LogoutReason, UserEvents};
pub use gatehouse_proto::auth::{
    ActivityEvent, ApiKey, Identity, Profile, ProviderInfo, SessionInfo,
};
pub use gatehouse_proto::ProviderType;
pub use magic_link::PendingMagicLink;
pub use mfa::{Mfa, MfaChallenge, MfaFactor, MfaProof, MfaStatus, TotpConfirmed, TotpEnrollment};
pub use pending_redirects::PENDING_REDIRECT_TTL;
pub use phone::PhonePasswordAuth;
pub use redirect_login::RedirectLogin;
pub use self_service::{PendingPhoneChange, ProfileUpdate};
pub use sessions::Sessions;
pub use sms_code::PendingSmsCode;
pub use user::{User, UserState};
