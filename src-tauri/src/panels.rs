//! API keys and sessions: of the active account (the Keys and Sessions tabs), or of the account
//! the window names (the security centre).

use std::sync::Arc;

use gatehouse_client::{App, User};
use serde::Serialize;

use crate::desktop::Desktop;
use crate::error::{DesktopError, Result};
use crate::sync::lock;
use crate::views::{object_id_time, ApiKeyView, NewApiKey, SessionView};

#[derive(Debug, Clone, Serialize)]
pub struct ApiKeysPanel {
    pub available: bool,
    /// Why keys cannot be used for this account, when they cannot.
    pub reason: Option<String>,
    pub keys: Vec<ApiKeyView>,
}

pub(crate) fn key_view(k: gatehouse_client::ApiKey) -> ApiKeyView {
    ApiKeyView {
        created_at: object_id_time(&k.id),
        id: k.id,
        name: k.name,
        enabled: !k.disabled,
    }
}

impl Desktop {
    /// The account `scope` names, else the active one.
    pub(crate) async fn scoped_user(
        self: &Arc<Self>,
        scope: Scope<'_>,
    ) -> Result<(App, User, Arc<std::sync::atomic::AtomicBool>)> {
        match scope {
            Some((connection, user)) => self.user(connection, user).await,
            None => self.active_user().await,
        }
    }

    async fn active_user(
        self: &Arc<Self>,
    ) -> Result<(App, User, Arc<std::sync::atomic::AtomicBool>)> {
        self.ready().await;
        let active = lock(&self.settings)
            .active
            .clone()
            .ok_or(DesktopError::NoActiveAccount)?;
        self.user(&active.connection, &active.user).await
    }

    pub async fn api_keys(self: &Arc<Self>) -> Result<ApiKeysPanel> {
        let (_, user, offline) = self.active_user().await?;
        if crate::views::is_anonymous(&user) {
            return Ok(ApiKeysPanel {
                available: false,
                reason: Some(
                    "Anonymous accounts cannot have API keys: an API key signs in as this \
                     account, and an anonymous account ends when it signs out. Sign in with \
                     email or another provider to use keys."
                        .into(),
                ),
                keys: Vec::new(),
            });
        }
        let keys = Desktop::track(&offline, user.api_keys().fetch_all().await)?;
        Ok(ApiKeysPanel {
            available: true,
            reason: None,
            keys: keys.into_iter().map(key_view).collect(),
        })
    }

    pub async fn create_api_key(self: &Arc<Self>, name: &str) -> Result<NewApiKey> {
        let name = name.trim();
        if name.is_empty() {
            return Err(DesktopError::InvalidInput(
                "Give the key a name (for example the machine or script that will use it)".into(),
            ));
        }
        let (_, user, offline) = self.active_user().await?;
        let mut created = Desktop::track(&offline, user.api_keys().create(name).await)?;
        let secret = created.key.take().ok_or_else(|| {
            DesktopError::Sdk(gatehouse_client::Error::Decode(
                "the new key came back without its secret".into(),
            ))
        })?;
        Ok(NewApiKey {
            key: key_view(created),
            secret,
        })
    }

    pub async fn set_api_key_enabled(
        self: &Arc<Self>,
        scope: Scope<'_>,
        id: &str,
        enabled: bool,
    ) -> Result<Vec<ApiKeyView>> {
        let (_, user, offline) = self.scoped_user(scope).await?;
        let keys = user.api_keys();
        Desktop::track(
            &offline,
            if enabled {
                keys.enable(id).await
            } else {
                keys.disable(id).await
            },
        )?;
        Ok(Desktop::track(&offline, keys.fetch_all().await)?
            .into_iter()
            .map(key_view)
            .collect())
    }

    pub async fn delete_api_key(
        self: &Arc<Self>,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Vec<ApiKeyView>> {
        let (_, user, offline) = self.scoped_user(scope).await?;
        let keys = user.api_keys();
        Desktop::track(&offline, keys.delete(id).await)?;
        Ok(Desktop::track(&offline, keys.fetch_all().await)?
            .into_iter()
            .map(key_view)
            .collect())
    }

    pub async fn sessions(self: &Arc<Self>, scope: Scope<'_>) -> Result<Vec<SessionView>> {
        let (_, user, offline) = self.scoped_user(scope).await?;
        let list = Desktop::track(&offline, user.sessions().list().await)?;
        Ok(list.into_iter().map(session_view).collect())
    }

    pub async fn revoke_session(
        self: &Arc<Self>,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Vec<SessionView>> {
        let (_, user, offline) = self.scoped_user(scope).await?;
        Desktop::track(&offline, user.sessions().revoke(id).await)?;
        self.sessions(scope).await
    }

    pub async fn revoke_other_sessions(
        self: &Arc<Self>,
        scope: Scope<'_>,
    ) -> Result<Vec<SessionView>> {
        let (_, user, offline) = self.scoped_user(scope).await?;
        Desktop::track(&offline, user.sessions().revoke_others().await)?;
        self.sessions(scope).await
    }
}

/// A session as the window shows it.
pub(crate) fn session_view(s: gatehouse_client::SessionInfo) -> SessionView {
    SessionView {
        device_label: crate::device_label::device_label(&s),
        device: s
            .device
            .device_name
            .clone()
            .or_else(|| {
                s.device.platform.clone().map(|p| {
                    format!(
                        "{p} {}",
                        s.device.platform_version.clone().unwrap_or_default()
                    )
                    .trim()
                    .to_string()
                })
            })
            .unwrap_or_else(|| "Unknown device".into()),
        id: s.id,
        user_agent: s.user_agent,
        ip: s.ip,
        provider: s.provider_type,
        created_at: s.created_at,
        last_used_at: s.last_used_at,
        current: s.current,
    }
}

/// Which account a panel action is for: `(connection, user)` when the window names one (the
/// security centre acts on any account without switching to it), else the active account.
pub type Scope<'a> = Option<(&'a str, &'a str)>;

/// The scope the window's optional `connection` and `user` arguments name: both or neither.
pub fn scope<'a>(connection: &'a Option<String>, user: &'a Option<String>) -> Result<Scope<'a>> {
    match (connection, user) {
        (Some(c), Some(u)) => Ok(Some((c.as_str(), u.as_str()))),
        (None, None) => Ok(None),
        _ => Err(DesktopError::InvalidInput(
            "Name both the connection and the account, or neither (for the active account)".into(),
        )),
    }
}
