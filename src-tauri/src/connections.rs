//! Adding, editing and removing remote connections. A connection is saved only after the server
//! answered the App Services location request for its app id, so a typo never becomes a saved
//! connection that fails later.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_client::{App, SecretStorage};

use crate::desktop::{ConnectionSpec, Desktop};
use crate::error::{DesktopError, Result};
use crate::settings::RemoteConnection;
use crate::shell::UiEvent;
use crate::sync::lock;
use crate::views::{ConnectionView, ProviderView};

/// Checks the address and app id before anything is saved; the error says what to fix.
async fn check(url: &str, app_id: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/').to_string();
    let invalid = |text: String| Err(DesktopError::InvalidInput(text));
    let parsed = match url::Url::parse(&url) {
        Ok(parsed) => parsed,
        Err(e) => {
            return invalid(format!(
                "The server address is not a URL ({e}); it looks like https://auth.example.com"
            ))
        }
    };
    let this_computer = parsed
        .host_str()
        .is_some_and(|h| ["localhost", "127.0.0.1", "[::1]"].contains(&h));
    match parsed.scheme() {
        "https" => {}
        "http" if this_computer => {}
        "http" => {
            return invalid(
                "Use https:// for a server on another machine (tokens would cross the network in \
                 clear text); http:// is only for this computer"
                    .into(),
            )
        }
        other => {
            return invalid(format!(
                "The server address must start with https:// (not {other}://)"
            ))
        }
    }
    if parsed.path() != "/" && !parsed.path().is_empty() || parsed.query().is_some() {
        return invalid(
            "Give only the server's address (scheme, host and port), without a path".into(),
        );
    }
    let app_id = app_id.trim();
    if app_id.is_empty() {
        return Err(DesktopError::InvalidInput("The app id is missing".into()));
    }
    // A throwaway app with memory-only secrets: checking must not touch the keychain or lists.
    // Creating and removing it touch the disk: off the async runtime.
    let scratch = tokio::task::spawn_blocking(tempfile::tempdir)
        .await
        .map_err(std::io::Error::other)
        .and_then(|made| made)
        .map_err(|e| {
            DesktopError::ConnectionCheck(format!(
                "Cannot create a scratch folder for the check: {e}"
            ))
        })?;
    let probe = App::builder(app_id)
        .base_url(&url)
        .data_dir(scratch.path())
        .secret_storage(SecretStorage::MemoryOnly)
        .request_timeout(Duration::from_secs(10))
        .build()
        .await;
    let answer = match probe {
        Ok(probe) => Ok(probe.location().await),
        Err(e) => Err(DesktopError::from(e)),
    };
    tokio::task::spawn_blocking(move || drop(scratch));
    let why = match answer? {
        Ok(_) => return Ok(url),
        Err(gatehouse_client::Error::Transport { detail, .. }) => format!(
            "No server answered at {url} ({detail}). Check the address and that the server is \
             running"
        ),
        Err(gatehouse_client::Error::Server { status: 404, .. }) => {
            format!("The server at {url} answered, but has no app {app_id:?}. Check the app id")
        }
        Err(gatehouse_client::Error::Decode(_)) => {
            format!("Something answered at {url}, but not an App Services server")
        }
        Err(e) => format!(
            "The server at {url} refused the check: {}",
            DesktopError::from(e)
        ),
    };
    Err(DesktopError::ConnectionCheck(why))
}

fn clean_name(name: &str, url: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| url.to_string())
    } else {
        name.chars().take(60).collect()
    }
}

impl Desktop {
    pub async fn add_connection(
        self: &Arc<Self>,
        name: &str,
        url: &str,
        app_id: &str,
    ) -> Result<ConnectionView> {
        self.ready().await;
        let url = check(url, app_id).await?;
        let app_id = app_id.trim().to_string();
        let remote = {
            let mut settings = lock(&self.settings);
            if settings
                .remotes
                .iter()
                .any(|r| r.url == url && r.app_id == app_id)
            {
                return Err(DesktopError::InvalidInput(format!(
                    "{url} with app {app_id:?} is already a connection"
                )));
            }
            let remote = RemoteConnection {
                id: Desktop::next_remote_id(&settings),
                name: clean_name(name, &url),
                url,
                app_id,
            };
            settings.remotes.push(remote.clone());
            remote
        };
        if let Err(e) = self.save_settings().await {
            lock(&self.settings).remotes.retain(|r| r.id != remote.id);
            return Err(e);
        }
        let c = self.open(ConnectionSpec::remote(&remote)).await;
        self.connections.write().await.push(c);
        self.shell.emit(UiEvent::AccountsChanged);
        self.connection_view(&remote.id).await
    }

    /// Renames always; changing the address or app id is refused while the connection has
    /// accounts (their tokens are filed under the old address).
    pub async fn edit_connection(
        self: &Arc<Self>,
        id: &str,
        name: &str,
        url: &str,
        app_id: &str,
    ) -> Result<ConnectionView> {
        let (app, _) = self.app(id).await.map_err(|e| match e {
            DesktopError::Unavailable(_) => DesktopError::InvalidInput(
                "Fix the keychain first (or remove this connection)".into(),
            ),
            e => e,
        })?;
        let current = lock(&self.settings)
            .remotes
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| {
                DesktopError::InvalidInput("The Local connection cannot be edited".into())
            })?;
        let moved =
            url.trim().trim_end_matches('/') != current.url || app_id.trim() != current.app_id;
        let mut next = current.clone();
        if moved {
            if !app.all_users().is_empty() {
                return Err(DesktopError::InvalidInput(
                    "Remove this connection's accounts before changing its address or app id"
                        .into(),
                ));
            }
            next.url = check(url, app_id).await?;
            next.app_id = app_id.trim().into();
        }
        next.name = clean_name(name, &next.url);
        lock(&self.settings)
            .remotes
            .iter_mut()
            .filter(|r| r.id == id)
            .for_each(|r| *r = next.clone());
        if let Err(e) = self.save_settings().await {
            lock(&self.settings)
                .remotes
                .iter_mut()
                .filter(|r| r.id == id)
                .for_each(|r| *r = current.clone());
            return Err(e);
        }
        let reopened = if moved {
            Some(self.open(ConnectionSpec::remote(&next)).await)
        } else {
            None
        };
        {
            let mut conns = self.connections.write().await;
            if let Some(c) = conns.iter_mut().find(|c| c.id == id) {
                match reopened {
                    Some(r) => *c = r,
                    None => c.name = next.name.clone(),
                }
            }
        }
        self.shell.emit(UiEvent::AccountsChanged);
        self.connection_view(id).await
    }

    /// Removes the connection and its accounts from this device (their keychain entries too;
    /// the accounts themselves stay on the server).
    pub async fn remove_connection(self: &Arc<Self>, id: &str) -> Result<()> {
        self.ready().await;
        if id == crate::desktop::LOCAL_ID {
            return Err(DesktopError::InvalidInput(
                "The Local connection is built in and cannot be removed".into(),
            ));
        }
        let app = {
            let conns = self.connections.read().await;
            conns
                .iter()
                .find(|c| c.id == id)
                .ok_or_else(|| DesktopError::UnknownConnection(id.into()))?
                .app
                .clone()
        };
        if let Some(app) = &app {
            for user in app.all_users() {
                app.remove_user(&user).await?;
            }
        }
        lock(&self.settings).remotes.retain(|r| r.id != id);
        self.save_settings().await?;
        self.connections.write().await.retain(|c| c.id != id);
        self.activate_next().await;
        self.shell.emit(UiEvent::AccountsChanged);
        Ok(())
    }

    async fn connection_view(self: &Arc<Self>, id: &str) -> Result<ConnectionView> {
        self.overview()
            .await
            .connections
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| DesktopError::UnknownConnection(id.into()))
    }

    /// The sign-in methods the connection's app has enabled (asked of the server each time).
    pub async fn providers(self: &Arc<Self>, connection: &str) -> Result<Vec<ProviderView>> {
        let (app, offline) = self.app(connection).await?;
        let list = Desktop::track(&offline, app.providers().await)?;
        Ok(list
            .into_iter()
            .map(|p| ProviderView {
                name: p.name,
                provider_type: p.provider_type,
            })
            .collect())
    }
}
