//! A user's sessions on all their devices (Gatehouse extension): list, end one, end the others,
//! end all.

use gatehouse_proto::auth::SessionInfo;
use gatehouse_proto::routes;
use reqwest::Method;

use crate::error::{Error, Result};
use crate::user::User;

pub struct Sessions {
    pub(crate) user: User,
}

impl Sessions {
    /// Live sessions, newest first; the one of this device has `current == true`.
    pub async fn list(&self) -> Result<Vec<SessionInfo>> {
        let v = self.user.access_request(Method::GET, routes::SESSIONS.into(), None).await?;
        serde_json::from_value(v).map_err(|e| Error::Decode(format!("sessions: {e}")))
    }

    /// Ends one session (of another device; ending the current one is `user.log_out()`).
    pub async fn revoke(&self, session_id: &str) -> Result<()> {
        if !gatehouse_proto::auth::is_object_id(session_id) {
            return Err(Error::InvalidArgument(format!("{session_id:?} is not a session id")));
        }
        self.user.access_request(Method::DELETE, routes::session(session_id), None).await.map(|_| ())
    }

    /// Ends every session except this device's.
    pub async fn revoke_others(&self) -> Result<()> {
        self.user.access_request(Method::DELETE, format!("{}?scope=others", routes::SESSIONS), None).await.map(|_| ())
    }

    /// Ends every session including this one; the user is then logged out here too.
    pub async fn revoke_all(&self) -> Result<()> {
        self.user.access_request(Method::DELETE, format!("{}?scope=all", routes::SESSIONS), None).await?;
        self.user.shared.session_ended(self.user.id()).await;
        Ok(())
    }
}
