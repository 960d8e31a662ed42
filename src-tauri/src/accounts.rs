//! One account's actions: switch to it, look at it, link another identity, log out, remove from
//! this device, delete on the server.

use std::sync::Arc;

use gatehouse_client::UserState;

use crate::desktop::{account_view, Desktop};
use crate::error::{DesktopError, Result};
use crate::sign_in::SignIn;
use crate::sync::lock;
use crate::views::{self, AccountDetails, IdentityView, Overview};

impl Desktop {
    pub async fn switch_account(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
    ) -> Result<Overview> {
        let (app, user, _) = self.user(connection, user_id).await?;
        if user.state() != UserState::LoggedIn {
            return Err(DesktopError::InvalidInput(format!(
                "{} is signed out: sign in to it again first",
                views::display_name(&user)
            )));
        }
        self.activate(connection, &app, &user).await?;
        Ok(self.overview().await)
    }

    /// Profile and identities, fresh from the server when it answers (else as last seen).
    pub async fn account_details(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
    ) -> Result<AccountDetails> {
        let (_, user, offline) = self.user(connection, user_id).await?;
        let profile = match user.state() {
            UserState::LoggedIn => match Desktop::track(&offline, user.refresh_profile().await) {
                Ok(p) => Some(p),
                Err(DesktopError::Sdk(e)) if e.is_transient() => user.profile(),
                Err(e) => return Err(e),
            },
            _ => user.profile(),
        };
        let active = lock(&self.settings)
            .active
            .as_ref()
            .is_some_and(|a| a.connection == connection && a.user == user_id);
        let conns = self.connections.read().await;
        let c = conns
            .iter()
            .find(|c| c.id == connection)
            .ok_or_else(|| DesktopError::UnknownConnection(connection.into()))?;
        Ok(AccountDetails {
            account: account_view(c, &user, active),
            user_type: profile
                .as_ref()
                .map(|p| p.user_type.clone())
                .unwrap_or_default(),
            identities: profile
                .as_ref()
                .map(|p| {
                    p.identities
                        .iter()
                        .map(|i| IdentityView {
                            provider: i.provider_type.clone(),
                            id: i.id.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            profile: profile.map(|p| p.data).unwrap_or_default(),
            device_id: user.device_id(),
            custom_data: user.custom_data(),
        })
    }

    /// Adds a form-based identity (email, API key, JWT, …) to the account.
    pub async fn link_identity(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
        request: SignIn,
    ) -> Result<AccountDetails> {
        let credentials = self.form_credentials(connection, &request)?;
        let (_, user, offline) = self.user(connection, user_id).await?;
        Desktop::track(&offline, user.link_credentials(credentials).await)?;
        self.account_details(connection, user_id).await
    }

    /// Gets a fresh access token, and with it the custom data as the server has it now.
    pub async fn refresh_custom_data(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
    ) -> Result<AccountDetails> {
        let (_, user, offline) = self.user(connection, user_id).await?;
        Desktop::track(&offline, user.refresh_custom_data().await)?;
        self.account_details(connection, user_id).await
    }

    /// Removes one identity from the account (the server keeps one it can sign in with).
    pub async fn unlink_identity(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
        provider: &str,
        id: &str,
    ) -> Result<AccountDetails> {
        let (_, user, offline) = self.user(connection, user_id).await?;
        Desktop::track(&offline, user.unlink_identity(provider, id).await)?;
        self.account_details(connection, user_id).await
    }

    /// Ends the session on the server, then on this device; if the server cannot be reached
    /// nothing changes (the session would stay live there). An anonymous account cannot sign in
    /// again, so it also leaves the list instead of lingering as "signed out".
    pub async fn log_out(self: &Arc<Self>, connection: &str, user_id: &str) -> Result<Overview> {
        let (app, user, offline) = self.user(connection, user_id).await?;
        Desktop::track(&offline, user.log_out().await)?;
        if views::is_anonymous(&user) {
            app.remove_user(&user).await?;
        }
        self.activate_next().await;
        Ok(self.overview().await)
    }

    pub async fn remove_account(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
    ) -> Result<Overview> {
        let (app, user, _) = self.user(connection, user_id).await?;
        app.remove_user(&user).await?;
        self.activate_next().await;
        Ok(self.overview().await)
    }

    /// Deletes the account on the server, then from this device. Nothing local changes if the
    /// server could not be asked.
    pub async fn delete_account(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
    ) -> Result<Overview> {
        let (app, user, offline) = self.user(connection, user_id).await?;
        Desktop::track(&offline, app.delete_user(&user).await)?;
        self.activate_next().await;
        Ok(self.overview().await)
    }
}
