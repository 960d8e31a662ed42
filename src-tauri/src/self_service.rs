//! What a person does to their own account from the window: change the password, the email
//! address, the phone number (a texted code, then confirm) and the profile's name and picture;
//! for phone accounts ask for a reset code, reset with it, or have the confirmation code texted
//! again.
//! The server wants a recent sign-in for the lasting changes; the window handles that answer
//! (`withRecentSignIn` in ui/js/step-up.js).

use std::sync::Arc;

use gatehouse_client::ProfileUpdate;

use crate::desktop::Desktop;
use crate::error::{DesktopError, Result};
use crate::sign_in::required;
use crate::sync::lock;
use crate::views::AccountDetails;

impl Desktop {
    /// Changes the password of the account's email or phone identity; the server ends its
    /// sessions on other devices. A wrong current password changes nothing and says so.
    pub async fn change_password(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
        current: &str,
        new: &str,
    ) -> Result<()> {
        if current.is_empty() {
            return Err(DesktopError::InvalidInput(
                "Type the current password first".into(),
            ));
        }
        if new.is_empty() {
            return Err(DesktopError::InvalidInput("Type the new password".into()));
        }
        if new == current {
            return Err(DesktopError::InvalidInput(
                "The new password is the same as the current one".into(),
            ));
        }
        let (_, user, offline) = self.user(connection, user_id).await?;
        match Desktop::track(&offline, user.change_password(current, new).await) {
            Err(DesktopError::Sdk(gatehouse_client::Error::Server { status, code, .. }))
                if code == "InvalidPassword" =>
            {
                // The server's words are the sign-in ones ("invalid username/password").
                Err(DesktopError::Sdk(gatehouse_client::Error::Server {
                    status,
                    code,
                    message: "the current password is not right: nothing was changed".into(),
                }))
            }
            other => other,
        }
    }

    /// Texts a password reset code to the number (bound to this app: only it can use it).
    pub async fn send_phone_reset_code(
        self: &Arc<Self>,
        connection: &str,
        phone: &str,
    ) -> Result<()> {
        let (app, offline) = self.app(connection).await?;
        let phone = required(phone, "The phone number")?;
        let auth = app.phone_password_auth();
        Desktop::track(&offline, auth.send_reset_code(phone).await)
    }

    /// Sets a new password with the texted reset code.
    pub async fn reset_phone_password(
        self: &Arc<Self>,
        connection: &str,
        phone: &str,
        code: &str,
        password: &str,
    ) -> Result<()> {
        let (app, offline) = self.app(connection).await?;
        let phone = required(phone, "The phone number")?;
        let code = required(code, "The texted code")?;
        if password.is_empty() {
            return Err(DesktopError::InvalidInput("Type the new password".into()));
        }
        let auth = app.phone_password_auth();
        Desktop::track(&offline, auth.reset_password(phone, code, password).await)
    }

    /// Texts the confirmation code of a registered number again (confirm it with the phone
    /// form's code field, as after registering).
    pub async fn resend_phone_confirmation(
        self: &Arc<Self>,
        connection: &str,
        phone: &str,
    ) -> Result<()> {
        let (app, offline) = self.app(connection).await?;
        let phone = required(phone, "The phone number")?;
        let auth = app.phone_password_auth();
        Desktop::track(&offline, auth.resend_confirmation(phone).await)
    }

    /// Asks to change the account's email address: a confirmation link goes to the new one,
    /// and the account keeps signing in with the old one until it is followed.
    pub async fn change_email(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
        new_email: &str,
    ) -> Result<()> {
        let new_email = required(new_email, "The new email address")?;
        let (_, user, offline) = self.user(connection, user_id).await?;
        Desktop::track(&offline, user.change_email(new_email).await)
    }

    /// Asks to change the account's phone number: a code is texted to the new number, to be
    /// given to [`Desktop::confirm_phone_change`]. A new ask replaces an older one.
    pub async fn change_phone(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
        new_phone: &str,
    ) -> Result<()> {
        let new_phone = required(new_phone, "The new phone number")?;
        let (_, user, offline) = self.user(connection, user_id).await?;
        let pending = Desktop::track(&offline, user.change_phone(new_phone).await)?;
        lock(&self.phone_changes).insert(phone_key(connection, user_id), pending);
        Ok(())
    }

    /// Confirms the phone change with the texted code. A wrong code keeps the change waiting.
    pub async fn confirm_phone_change(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
        code: &str,
    ) -> Result<AccountDetails> {
        let code = required(code, "The texted code")?;
        let (_, user, offline) = self.user(connection, user_id).await?;
        let key = phone_key(connection, user_id);
        let pending = lock(&self.phone_changes).remove(&key).ok_or_else(|| {
            DesktopError::InvalidInput(
                "No phone change is waiting for a code: ask for a code for the new number \
                     first"
                    .into(),
            )
        })?;
        let confirmed = Desktop::track(&offline, user.confirm_phone_change(&pending, code).await);
        if confirmed.is_err() {
            lock(&self.phone_changes).insert(key, pending);
        }
        confirmed?;
        self.account_details(connection, user_id).await
    }

    /// Sets the profile's display name and picture address; an empty field clears it.
    pub async fn update_profile(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
        name: &str,
        picture_url: &str,
    ) -> Result<AccountDetails> {
        let field = |v: &str| {
            let v = v.trim();
            Some((!v.is_empty()).then(|| v.to_string()))
        };
        let update = ProfileUpdate {
            name: field(name),
            picture_url: field(picture_url),
        };
        let (_, user, offline) = self.user(connection, user_id).await?;
        Desktop::track(&offline, user.update_profile(update).await)?;
        self.shell.emit(crate::shell::UiEvent::AccountsChanged);
        self.account_details(connection, user_id).await
    }
}

fn phone_key(connection: &str, user_id: &str) -> (String, String) {
    (connection.into(), user_id.into())
}
