//! Phone/password accounts and texted sign-in codes (`app.phone_password_auth()`, Gatehouse
//! extension). Public endpoints: no token is sent with them.

use std::sync::Arc;

use gatehouse_proto::routes::{self, provider};
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::Shared;
use crate::error::Result;
use crate::http::Request;

pub struct PhonePasswordAuth {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) async fn post(shared: &Shared, provider: &str, action: &str, body: Value) -> Result<()> {
    let path = format!("{}/auth/providers/{provider}/{action}", routes::app_base(&shared.app_id));
    shared.http.send(Request { method: Method::POST, path, bearer: None, body: Some(&body), rotate: false }).await.map(|_| ())
}

impl PhonePasswordAuth {
    /// Registers a number (international format, e.g. `+14155552671`); a confirmation code is
    /// texted unless the app does not require one.
    pub async fn register(&self, phone: &str, password: &str) -> Result<()> {
        post(&self.shared, provider::PHONE_PASSWORD, "register", json!({"phone": phone, "password": password})).await
    }

    pub async fn confirm(&self, phone: &str, code: &str) -> Result<()> {
        post(&self.shared, provider::PHONE_PASSWORD, "confirm", json!({"phone": phone, "code": code})).await
    }

    pub async fn resend_confirmation(&self, phone: &str) -> Result<()> {
        post(&self.shared, provider::PHONE_PASSWORD, "confirm/send", json!({"phone": phone})).await
    }

    pub async fn send_reset_code(&self, phone: &str) -> Result<()> {
        post(&self.shared, provider::PHONE_PASSWORD, "reset/send", json!({"phone": phone})).await
    }

    pub async fn reset_password(&self, phone: &str, code: &str, password: &str) -> Result<()> {
        post(&self.shared, provider::PHONE_PASSWORD, "reset", json!({"phone": phone, "code": code, "password": password})).await
    }
}
