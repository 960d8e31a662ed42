//! A user's API keys. These endpoints take the refresh token (App Services convention).

use gatehouse_proto::auth::ApiKey;
use gatehouse_proto::routes;
use reqwest::Method;
use serde_json::json;

use crate::error::{Error, Result};
use crate::user::User;

pub struct ApiKeys {
    pub(crate) user: User,
}

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::Decode(format!("API key answer: {e}")))
}

fn check_id(id: &str) -> Result<&str> {
    if gatehouse_proto::auth::is_object_id(id) {
        Ok(id)
    } else {
        Err(Error::InvalidArgument(format!("{id:?} is not an API key id (24 hex characters)")))
    }
}

impl ApiKeys {
    /// Creates a key; the answer is the only time its secret (`key`) is available.
    pub async fn create(&self, name: &str) -> Result<ApiKey> {
        decode(self.user.refresh_request(Method::POST, routes::API_KEYS.into(), Some(&json!({"name": name}))).await?)
    }

    pub async fn fetch(&self, id: &str) -> Result<ApiKey> {
        decode(self.user.refresh_request(Method::GET, routes::api_key(check_id(id)?), None).await?)
    }

    pub async fn fetch_all(&self) -> Result<Vec<ApiKey>> {
        decode(self.user.refresh_request(Method::GET, routes::API_KEYS.into(), None).await?)
    }

    pub async fn enable(&self, id: &str) -> Result<()> {
        self.user.refresh_request(Method::PUT, format!("{}/enable", routes::api_key(check_id(id)?)), None).await.map(|_| ())
    }

    pub async fn disable(&self, id: &str) -> Result<()> {
        self.user.refresh_request(Method::PUT, format!("{}/disable", routes::api_key(check_id(id)?)), None).await.map(|_| ())
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        self.user.refresh_request(Method::DELETE, routes::api_key(check_id(id)?), None).await.map(|_| ())
    }
}
