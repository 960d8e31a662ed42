//! Real third-party peers for the external identity provider tests, all on 127.0.0.1 with
//! ephemeral ports: the certified `oidc-provider` OP (Google/Apple style, run from Node), a
//! cookie-keeping redirect-following `Browser`, HTTP stand-ins that speak the real wire formats
//! and error bodies of GitHub, Discord, X and Facebook, a Standard Webhooks receiver (verified by
//! the official `standardwebhooks` library), a JWKS server that signs tokens by hand (including
//! forged ones) and a real SMTP server (aiosmtpd) whose captured mail is read as a client would.
//!
//! Nothing here mocks HTTP itself: the server under test talks to these over real sockets, so its
//! HTTP client, timeouts, redirects and error handling are exercised as in production.

// The helpers are shared by many test files; not every test uses every knob.
#![allow(dead_code, unused_imports)]

pub mod browser;
pub mod chromium;
pub mod hooks;
pub mod jose;
pub mod nginx;
pub mod oidc;
pub mod smtp;
pub mod standins;

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SecureRandom as _;

pub use browser::{Browser, Landing};
pub use hooks::{HookRequest, JwksServer, Responder, WebhookReceiver};
pub use oidc::OidcPeer;
pub use smtp::SmtpPeer;
pub use standins::{
    DiscordStandin, DiscordUser, FacebookStandin, FacebookUser, GithubEmail, GithubStandin,
    GithubUser, XStandin, XUser,
};

/// base64url without padding (JWS, PKCE).
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `len` random ASCII letters and digits (codes, tokens, state, nonces).
pub fn random_token(len: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    bytes
        .iter()
        .map(|b| ALNUM[*b as usize % ALNUM.len()] as char)
        .collect()
}

/// RFC 7636 S256: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    b64url(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// A fresh PKCE pair `(code_verifier, code_challenge)` with method S256.
pub fn pkce_pair() -> (String, String) {
    let verifier = random_token(64);
    let challenge = s256(&verifier);
    (verifier, challenge)
}

/// Decodes an `application/x-www-form-urlencoded` string (form bodies and query strings).
pub fn parse_form(encoded: &str) -> HashMap<String, String> {
    let url = reqwest::Url::parse("http://form.invalid/").unwrap();
    let mut url = url;
    url.set_query(Some(encoded));
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Encodes pairs as `application/x-www-form-urlencoded`.
pub fn encode_form<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").unwrap();
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k.as_ref(), v.as_ref());
        }
    }
    url.query().unwrap_or("").to_string()
}

/// `url` with the pairs appended to its query (keeps an existing query, as providers do with a
/// redirect_uri that already has one).
pub fn with_query<K: AsRef<str>, V: AsRef<str>>(url: &str, pairs: &[(K, V)]) -> String {
    let mut url = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("not a URL: {url}: {e}"));
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k.as_ref(), v.as_ref());
        }
    }
    url.to_string()
}

/// One query parameter of a URL, decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A port that was free a moment ago (bind 127.0.0.1:0, then release) for peers that must be
/// told their port before they start (the Node OP builds its issuer URL from it).
/// A port that is free now, for a server that must know its address before it starts (an OP's
/// registered callback). Taken below the kernel's ephemeral range (32768–60999), which the many
/// client connections of parallel tests draw from: a port from there could be handed to one of
/// them between this check and the server's bind.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 4_000) as u16 * 2,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..2_000 {
        let port = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (port - 20_000) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000");
}

/// An axum app served on 127.0.0.1:0 until dropped. In-process servers die with the test's
/// runtime anyway; aborting on drop also frees the port when a test drops a peer early.
pub struct Served {
    pub base: String,
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn serve(app: axum::Router) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Served {
        base: format!("http://127.0.0.1:{port}"),
        port,
        task,
    }
}
