//! The "Local" backend: `gatehoused` running inside the app on 127.0.0.1 (a new ephemeral port
//! each start) with its SQLite database in the app's data dir, so a fresh install can sign in
//! with no account anywhere. The app still talks to it over HTTP through the client SDK, like to
//! any remote server; only starting and stopping it, and reading its dev outbox, happen here.

use std::path::{Path, PathBuf};

use gatehouse_server::config::DEV_APP_ID;
use gatehouse_server::{Config, Server};
use serde::Serialize;

use crate::error::{DesktopError, Result};

pub const APP_ID: &str = DEV_APP_ID;

pub struct LocalBackend {
    server: Server,
    outbox: PathBuf,
}

/// One message the Local backend would have mailed or texted.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct OutboxMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
    #[serde(default)]
    pub links: Vec<String>,
    pub channel: String,
}

impl LocalBackend {
    pub async fn start(data_dir: &Path) -> Result<LocalBackend> {
        let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let mut config = Config {
            listen,
            // `localhost`, not 127.0.0.1: passkeys need a domain name as their relying party;
            // port 0 becomes the port the OS picks.
            public_url: Some("http://localhost:0".into()),
            data_dir: data_dir.to_path_buf(),
            ..Config::default()
        };
        config.apply_dev_defaults();
        // One person on one machine: one password hash at a time is plenty, and its 19 MiB
        // Argon2id work area goes back to the OS afterwards instead of staying resident.
        config.passwords.max_concurrent_hashes = 1;
        config.passwords.reuse_hash_memory = false;
        config
            .validate()
            .map_err(|e| DesktopError::LocalBackend(e.to_string()))?;
        tokio::fs::create_dir_all(data_dir).await.map_err(|e| {
            DesktopError::LocalBackend(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let server = Server::start(config)
            .await
            .map_err(|e| DesktopError::LocalBackend(format!("{e:#}")))?;
        Ok(LocalBackend {
            server,
            outbox: data_dir.join("outbox.jsonl"),
        })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The newest `limit` messages, newest first. A missing outbox is empty; a line that does
    /// not parse is skipped (the server appends whole lines, a torn last line is possible after
    /// a crash).
    pub async fn outbox(&self, limit: usize) -> Vec<OutboxMessage> {
        let text = tokio::fs::read_to_string(&self.outbox)
            .await
            .unwrap_or_default();
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str(l).ok())
            .take(limit)
            .collect()
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}
