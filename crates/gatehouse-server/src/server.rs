//! Running the server: bind, serve with client addresses, shut down gracefully.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::state::AppState;

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    pruner: JoinHandle<()>,
    key_watcher: JoinHandle<()>,
}

/// How often the signing-key file (or the shared row) is re-read, so `gatehoused admin
/// rotate-keys` takes effect in every running server without a restart.
const KEY_RELOAD_EVERY: Duration = Duration::from_secs(2);

fn spawn_key_watcher(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(KEY_RELOAD_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            state.keys.reload_if_changed(&state.db).await;
        }
    })
}

/// Prunes dead rows at start and then hourly; errors are logged (the next round retries).
fn spawn_pruner(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            let window = state.config.rate_limits.lockout_window_secs;
            let keep = state.config.activity.keep_days * 24 * 3600;
            let round =
                crate::store::maintenance::prune_keeping(&state.db, state.now(), window, keep);
            match round.await {
                Ok(p) => tracing::debug!(
                    sessions = p.sessions,
                    tokens = p.tokens,
                    failures = p.failures,
                    activity = p.activity,
                    "pruned old rows"
                ),
                Err(e) => tracing::warn!(error = %e, "pruning old rows failed"),
            }
        }
    })
}

impl Server {
    /// Builds the state and starts serving on `config.listen` (port 0 picks a free port; the
    /// public URL then follows the real port unless configured).
    pub async fn start(mut config: Config) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        config.listen = addr;
        config.public_url = config
            .public_url
            .map(|url| with_bound_port(&url, addr.port()));
        let state = AppState::build(config).await?;
        let app = crate::http::router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        // Every connection must send its request headers in time (slowloris); `tap_io` only
        // makes axum's `ConnectInfo<SocketAddr>` available for a listener of our own.
        let header_timeout = Duration::from_millis(state.config.limits.header_read_timeout_ms);
        let listener = axum::serve::ListenerExt::tap_io(
            crate::read_deadline::DeadlineListener::new(listener, header_timeout),
            |_| {},
        );
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
        });
        tracing::info!(%addr, "gatehoused listening");
        let pruner = spawn_pruner(state.clone());
        let key_watcher = spawn_key_watcher(state.clone());
        Ok(Server {
            addr,
            state,
            stop: Some(stop),
            task,
            pruner,
            key_watcher,
        })
    }

    pub fn url(&self) -> String {
        self.state.public_url.clone()
    }

    /// Stops accepting, lets in-flight requests finish (up to 10 s), checkpoints the database.
    pub async fn shutdown(mut self) {
        self.pruner.abort();
        self.key_watcher.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        // Work queued by the last answers (issue 12, item 10) finishes before the pools close.
        self.state.background.drain(Duration::from_secs(10)).await;
        self.state.db.close().await;
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        wait_for_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await;
        Ok(())
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C shuts down \
                                            gracefully");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// `public_url` with an explicit port 0 replaced by the port the server bound (see
/// [`Config::public_url`]); any other URL as it is.
fn with_bound_port(url: &str, port: u16) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if url.contains(":0") && u.port() == Some(0) => {
            let _ = u.set_port(Some(port));
            u.as_str().trim_end_matches('/').to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod bound_port_tests {
    use super::with_bound_port;

    #[test]
    fn port_zero_becomes_the_bound_port_and_nothing_else_changes() {
        assert_eq!(
            with_bound_port("http://localhost:0", 4242),
            "http://localhost:4242"
        );
        assert_eq!(
            with_bound_port("http://localhost:0/", 4242),
            "http://localhost:4242"
        );
        assert_eq!(
            with_bound_port("https://a.example:8443", 1),
            "https://a.example:8443"
        );
        assert_eq!(with_bound_port("https://a.example", 1), "https://a.example");
    }
}
