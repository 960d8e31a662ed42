//! Self-service changes of the signed-in user (Gatehouse extension, issue 17): the email address
//! (confirmed from the new address, undoable from the old one for 72 hours), the phone number
//! (a code texted to the new number, bound to this flow by PKCE) and the profile's name and
//! picture. Each needs a recent sign-in ([`Error::RecentSignInRequired`]) and refreshes the
//! cached profile after it succeeds.
//!
//! [`Error::RecentSignInRequired`]: crate::Error::RecentSignInRequired

use gatehouse_proto::auth::Profile;
use gatehouse_proto::routes;
use gatehouse_proto::self_service::{
    ChangeEmailRequest, ChangePhoneRequest, ConfirmPhoneChangeRequest,
};
use reqwest::Method;

pub use gatehouse_proto::self_service::ProfileUpdate;

use crate::error::Result;
use crate::http::{Body, Void};
use crate::pkce::{challenge, random_b64};
use crate::user::User;

/// A phone change that was asked for and not yet confirmed: the new number and the flow's PKCE
/// verifier. Keep it in memory only; its `Debug` leaves the verifier out.
pub struct PendingPhoneChange {
    pub new_phone: String,
    verifier: String,
}

impl std::fmt::Debug for PendingPhoneChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPhoneChange")
            .field("new_phone", &self.new_phone)
            .finish_non_exhaustive()
    }
}

impl User {
    /// Asks to change this user's email/password address to `new_email`: the server mails a
    /// confirmation link to the new address. Nothing changes (the user keeps signing in with
    /// the old address) until that link's button is pressed; the old address then gets a notice
    /// with an undo link.
    pub async fn change_email(&self, new_email: &str) -> Result<()> {
        let body = Body::json(&ChangeEmailRequest {
            new_email: new_email.into(),
        })?;
        self.access_request::<Void>(Method::POST, routes::EMAIL_CHANGE.into(), Some(&body))
            .await?;
        self.refresh_profile().await.map(|_| ())
    }

    /// Asks to change this user's phone number: the server texts a code to `new_phone`, which
    /// only this [`PendingPhoneChange`] can redeem ([`User::confirm_phone_change`]).
    pub async fn change_phone(&self, new_phone: &str) -> Result<PendingPhoneChange> {
        let pending = PendingPhoneChange {
            new_phone: new_phone.into(),
            verifier: random_b64(32),
        };
        let body = Body::json(&ChangePhoneRequest {
            new_phone: pending.new_phone.clone(),
            code_challenge: challenge(&pending.verifier),
        })?;
        self.access_request::<Void>(Method::POST, routes::PHONE_CHANGE.into(), Some(&body))
            .await?;
        self.refresh_profile().await?;
        Ok(pending)
    }

    /// Confirms a phone change with the texted code; the account signs in with the new number
    /// from now on (the old number gets a notice). Answers the refreshed profile.
    pub async fn confirm_phone_change(
        &self,
        pending: &PendingPhoneChange,
        code: &str,
    ) -> Result<Profile> {
        let body = Body::json(&ConfirmPhoneChangeRequest {
            new_phone: pending.new_phone.clone(),
            code: code.into(),
            code_verifier: pending.verifier.clone(),
        })?;
        self.access_request::<Void>(
            Method::POST,
            routes::PHONE_CHANGE_CONFIRM.into(),
            Some(&body),
        )
        .await?;
        self.refresh_profile().await
    }

    /// Sets or clears the profile's display name and picture URL: `None` leaves a field as it
    /// is, `Some(None)` clears it, `Some(Some(value))` sets it. Answers the refreshed profile.
    pub async fn update_profile(&self, update: ProfileUpdate) -> Result<Profile> {
        let body = Body::json(&update)?;
        self.access_request::<Void>(Method::PATCH, routes::PROFILE.into(), Some(&body))
            .await?;
        self.refresh_profile().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_phone_change_debug_hides_the_verifier() {
        let p = PendingPhoneChange {
            new_phone: "+14155552671".into(),
            verifier: "secret-verifier-value".into(),
        };
        let s = format!("{p:?}");
        assert!(
            s.contains("+14155552671") && !s.contains("secret-verifier"),
            "{s}"
        );
    }
}
