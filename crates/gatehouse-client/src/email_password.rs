//! Email/password account actions (`app.email_password_auth()`). Public endpoints: no token is
//! sent with them.

use std::sync::Arc;

use gatehouse_proto::routes;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::Shared;
use crate::error::Result;
use crate::http::Request;

pub struct EmailPasswordAuth {
    pub(crate) shared: Arc<Shared>,
}

impl EmailPasswordAuth {
    async fn post(&self, action: &str, body: Value) -> Result<()> {
        let path = routes::userpass_action(&self.shared.app_id, action);
        self.shared.http.send(Request { method: Method::POST, path, bearer: None, body: Some(&body), rotate: false }).await.map(|_| ())
    }

    /// Registers; a confirmation mail follows unless the app confirms automatically.
    pub async fn register(&self, email: &str, password: &str) -> Result<()> {
        self.post("register", json!({"email": email, "password": password})).await
    }

    /// Confirms with the `token` and `tokenId` from the confirmation link.
    pub async fn confirm(&self, token: &str, token_id: &str) -> Result<()> {
        self.post("confirm", json!({"token": token, "tokenId": token_id})).await
    }

    pub async fn resend_confirmation(&self, email: &str) -> Result<()> {
        self.post("confirm/send", json!({"email": email})).await
    }

    pub async fn retry_custom_confirmation(&self, email: &str) -> Result<()> {
        self.post("confirm/call", json!({"email": email})).await
    }

    pub async fn send_reset_password_email(&self, email: &str) -> Result<()> {
        self.post("reset/send", json!({"email": email})).await
    }

    /// Sets a new password with the `token` and `tokenId` from the reset link.
    pub async fn reset_password(&self, token: &str, token_id: &str, password: &str) -> Result<()> {
        self.post("reset", json!({"token": token, "tokenId": token_id, "password": password})).await
    }

    pub async fn call_reset_password_function(&self, email: &str, password: &str, args: Vec<Value>) -> Result<()> {
        self.post("reset/call", json!({"email": email, "password": password, "arguments": args})).await
    }
}
