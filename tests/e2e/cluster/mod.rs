//! Several `gatehoused` on one PostgreSQL (issue 14), all real parts on loopback, started here:
//! PostgreSQL 15 serving TLS only (a test CA; clients verify it and the host name), pgbouncer in
//! transaction-pooling mode, three instances sharing their signing keys through the database
//! (sealed under one key-encryption key), HAProxy in front with health checks, a synchronous
//! streaming standby, and the kills an operator fears: an instance under load, then the primary.
//!
//! Needs root (PostgreSQL and pgbouncer run as the `postgres` user), HAProxy, PostgreSQL and
//! pgbouncer 1.24: scripts/setup.sh installs (and builds) them.

// Test code: a failed step panics with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod failover;
mod instances;
mod pgbouncer;
mod postgres;
mod rate_limits;
mod shared_keys;
mod tls;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::APP;

/// One request's outcome: status and JSON body (Null when none).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

/// A client of one base URL (an instance or the load balancer).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api::from_address(base, "127.0.0.1".parse().unwrap())
    }

    /// A client whose requests come from `local` (another loopback address: another client).
    pub fn from_address(base: &str, local: std::net::IpAddr) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .pool_max_idle_per_host(0)
                .local_address(local)
                .build()
                .unwrap(),
            base: base.to_string(),
        }
    }

    /// Sends; a connection failure is `Err` (what dies in flight).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Answer, String> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.json().await.unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    pub async fn anonymous(&self) -> Result<Answer, String> {
        let path = format!("/api/client/v2.0/app/{APP}/auth/providers/anon-user/login");
        self.send(Method::POST, &path, None, Some(json!({}))).await
    }

    pub async fn register(&self, email: &str, password: &str) -> Result<Answer, String> {
        let path = format!("/api/client/v2.0/app/{APP}/auth/providers/local-userpass/register");
        let body = json!({"email": email, "password": password});
        self.send(Method::POST, &path, None, Some(body)).await
    }

    pub async fn password_login(&self, email: &str, password: &str) -> Result<Answer, String> {
        let path = format!("/api/client/v2.0/app/{APP}/auth/providers/local-userpass/login");
        let body = json!({"username": email, "password": password});
        self.send(Method::POST, &path, None, Some(body)).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Answer, String> {
        self.send(
            Method::POST,
            "/api/client/v2.0/auth/session",
            Some(refresh_token),
            None,
        )
        .await
    }

    pub async fn logout(&self, refresh_token: &str) -> Result<Answer, String> {
        self.send(
            Method::DELETE,
            "/api/client/v2.0/auth/session",
            Some(refresh_token),
            None,
        )
        .await
    }

    pub async fn profile(&self, access_token: &str) -> Result<Answer, String> {
        self.send(
            Method::GET,
            "/api/client/v2.0/auth/profile",
            Some(access_token),
            None,
        )
        .await
    }

    /// The key ids this server publishes, current first.
    pub async fn kids(&self) -> Vec<String> {
        let a = self
            .send(Method::GET, "/.well-known/jwks.json", None, None)
            .await
            .unwrap();
        a.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The `kid` of a JWT's header.
pub fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["kid"].as_str().unwrap().to_string()
}

/// A scratch folder PostgreSQL's user can traverse.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("gatehouse-cluster-")
        .tempdir_in("/tmp")
        .unwrap()
}
