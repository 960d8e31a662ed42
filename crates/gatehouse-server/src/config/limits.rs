//! `[limits]`: how long a client may take to send a request. A connection that trickles its
//! request headers (slowloris) or declares a body and never sends it would otherwise hold a
//! connection and a task for as long as it likes.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// From the connection's start (or the end of the previous answer on a kept-alive
    /// connection) to the end of the request headers; past it the connection is closed.
    pub header_read_timeout_ms: u64,
    /// From the end of the headers to the end of the body; past it the answer is 408
    /// `RequestTimeout` and the connection is closed.
    pub body_read_timeout_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
        }
    }
}

impl LimitsConfig {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (100..=300_000).contains(&self.header_read_timeout_ms),
            "limits.header_read_timeout_ms must be between 100 and 300000 (5 minutes)"
        );
        anyhow::ensure!(
            (100..=300_000).contains(&self.body_read_timeout_ms),
            "limits.body_read_timeout_ms must be between 100 and 300000 (5 minutes)"
        );
        Ok(())
    }
}
