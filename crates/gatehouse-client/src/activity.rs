//! A user's security events (Gatehouse extension): what happened to the account, newest first —
//! sign-ins (and failed ones), sign-outs, ended sessions, password, identity and API-key changes,
//! refresh-token reuse, lockouts, new devices (docs/protocol.md lists every kind). Paged with
//! [`User::activity_page`].

use gatehouse_proto::auth::ActivityEvent;
use gatehouse_proto::routes;
use reqwest::Method;

use crate::error::{Error, Result};
use crate::user::User;

impl User {
    /// The account's most recent security events (up to 50), newest first.
    pub async fn activity(&self) -> Result<Vec<ActivityEvent>> {
        self.access_request(Method::GET, routes::ACTIVITY.into(), None)
            .await
    }

    /// The most recent `limit` (1–100) security events, newest first.
    pub async fn activity_limited(&self, limit: u32) -> Result<Vec<ActivityEvent>> {
        if !(1..=100).contains(&limit) {
            return Err(Error::InvalidArgument(format!(
                "limit must be between 1 and 100, not {limit}"
            )));
        }
        let path = format!("{}?limit={limit}", routes::ACTIVITY);
        self.access_request(Method::GET, path, None).await
    }

    /// One page of at most `limit` (1–100) events, newest first: `before` is the id of the last
    /// event of the previous page (`None` for the first page); an empty page is the end.
    pub async fn activity_page(
        &self,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<ActivityEvent>> {
        if !(1..=100).contains(&limit) {
            return Err(Error::InvalidArgument(format!(
                "limit must be between 1 and 100, not {limit}"
            )));
        }
        let mut path = format!("{}?limit={limit}", routes::ACTIVITY);
        if let Some(id) = before {
            // Event ids are 24 hex digits: nothing to escape, and anything else is a mistake.
            if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::InvalidArgument(format!(
                    "before must be an event id (24 hex digits), not {id:?}"
                )));
            }
            path.push_str(&format!("&before={id}"));
        }
        self.access_request(Method::GET, path, None).await
    }
}
