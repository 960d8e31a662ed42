//! A user's sessions on all their devices (Gatehouse extension): list, end one, end the others,
//! end all.

use gatehouse_proto::auth::SessionInfo;
use gatehouse_proto::routes;
use reqwest::Method;

use crate::error::{Error, Result};
use crate::http::Void;
use crate::store::Ending;
use crate::user::User;

pub struct Sessions {
    pub(crate) user: User,
}

impl Sessions {
    /// Live sessions, newest first; the one of this device has `current == true`.
    pub async fn list(&self) -> Result<Vec<SessionInfo>> {
        self.user
            .access_request(Method::GET, routes::SESSIONS.into(), None)
            .await
    }

    /// Ends one session (of another device; ending the current one is `user.log_out()`).
    pub async fn revoke(&self, session_id: &str) -> Result<()> {
        if !gatehouse_proto::auth::is_object_id(session_id) {
            return Err(Error::InvalidArgument(format!(
                "{session_id:?} is not a session id"
            )));
        }
        self.user
            .access_request::<Void>(Method::DELETE, routes::session(session_id), None)
            .await
            .map(|_| ())
    }

    /// Ends every session except this device's.
    pub async fn revoke_others(&self) -> Result<()> {
        let path = format!("{}?scope=others", routes::SESSIONS);
        self.user
            .access_request::<Void>(Method::DELETE, path, None)
            .await
            .map(|_| ())
    }

    /// Ends every session including this one; the user is then logged out here too.
    pub async fn revoke_all(&self) -> Result<()> {
        let path = format!("{}?scope=all", routes::SESSIONS);
        self.user
            .access_request::<Void>(Method::DELETE, path, None)
            .await?;
        self.user
            .shared
            .accounts
            .end_session(self.user.id(), Ending::EndedByServer)
            .await
    }
}
