//! A user's security events (Gatehouse extension): what happened to the account, newest first —
//! today a refresh token presented again after it was rotated away (`refresh_token_reuse`, the
//! session was ended).

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
}
