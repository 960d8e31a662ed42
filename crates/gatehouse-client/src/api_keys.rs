//! A user's API keys. These endpoints take the refresh token (App Services convention).

use gatehouse_proto::auth::{ApiKey, CreateApiKeyRequest};
use gatehouse_proto::routes;
use reqwest::Method;

use crate::error::{Error, Result};
use crate::http::{Body, Void};
use crate::user::User;

pub struct ApiKeys {
    pub(crate) user: User,
}

fn check_id(id: &str) -> Result<&str> {
    if gatehouse_proto::auth::is_object_id(id) {
        Ok(id)
    } else {
        Err(Error::InvalidArgument(format!(
            "{id:?} is not an API key id (24 hex characters)"
        )))
    }
}

impl ApiKeys {
    /// Creates a key; the answer is the only time its secret (`key`) is available.
    pub async fn create(&self, name: &str) -> Result<ApiKey> {
        let body = Body::json(&CreateApiKeyRequest { name: name.into() })?;
        self.user
            .refresh_request(Method::POST, routes::API_KEYS.into(), Some(&body))
            .await
    }

    pub async fn fetch(&self, id: &str) -> Result<ApiKey> {
        self.user
            .refresh_request(Method::GET, routes::api_key(check_id(id)?), None)
            .await
    }

    pub async fn fetch_all(&self) -> Result<Vec<ApiKey>> {
        self.user
            .refresh_request(Method::GET, routes::API_KEYS.into(), None)
            .await
    }

    pub async fn enable(&self, id: &str) -> Result<()> {
        let path = format!("{}/enable", routes::api_key(check_id(id)?));
        self.user
            .refresh_request::<Void>(Method::PUT, path, None)
            .await
            .map(|_| ())
    }

    pub async fn disable(&self, id: &str) -> Result<()> {
        let path = format!("{}/disable", routes::api_key(check_id(id)?));
        self.user
            .refresh_request::<Void>(Method::PUT, path, None)
            .await
            .map(|_| ())
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        self.user
            .refresh_request::<Void>(Method::DELETE, routes::api_key(check_id(id)?), None)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_create_body_matches_what_the_sdk_sent_before() {
        let body = CreateApiKeyRequest { name: "ci".into() };
        assert_eq!(serde_json::to_value(&body).unwrap(), json!({"name": "ci"}));
    }
}
