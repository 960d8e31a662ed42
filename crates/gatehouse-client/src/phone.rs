//! Phone/password accounts and texted sign-in codes (`app.phone_password_auth()`, Gatehouse
//! extension). Public endpoints: no token is sent with them.

use std::sync::Arc;

use gatehouse_proto::routes;
use gatehouse_proto::userpass::{PhoneCodeRequest, PhonePasswordRequest, PhoneRequest};
use gatehouse_proto::ProviderType;
use reqwest::Method;
use serde::Serialize;

use crate::app::Shared;
use crate::error::Result;
use crate::http::{Body, Request, Void};

pub struct PhonePasswordAuth {
    pub(crate) shared: Arc<Shared>,
}

/// `POST {app}/auth/providers/{provider}/{action}` on a public endpoint, answer ignored.
pub(crate) async fn post(
    shared: &Shared,
    provider: ProviderType,
    action: &str,
    body: &impl Serialize,
) -> Result<()> {
    let body = Body::json(body)?;
    let path = format!(
        "{}/auth/providers/{provider}/{action}",
        routes::app_base(&shared.app_id)
    );
    shared
        .http
        .send::<Void>(Request::new(Method::POST, path).body(&body))
        .await
        .map(|_| ())
}

fn phone(phone: &str) -> PhoneRequest {
    PhoneRequest {
        phone: phone.into(),
    }
}

impl PhonePasswordAuth {
    async fn post(&self, action: &str, body: &impl Serialize) -> Result<()> {
        post(&self.shared, ProviderType::PhonePassword, action, body).await
    }

    /// Registers a number (international format, e.g. `+14155552671`); a confirmation code is
    /// texted unless the app does not require one.
    pub async fn register(&self, phone: &str, password: &str) -> Result<()> {
        self.post(
            "register",
            &PhonePasswordRequest {
                phone: phone.into(),
                password: password.into(),
                code: None,
            },
        )
        .await
    }

    pub async fn confirm(&self, phone: &str, code: &str) -> Result<()> {
        self.post(
            "confirm",
            &PhoneCodeRequest {
                phone: phone.into(),
                code: code.into(),
            },
        )
        .await
    }

    pub async fn resend_confirmation(&self, number: &str) -> Result<()> {
        self.post("confirm/send", &phone(number)).await
    }

    pub async fn send_reset_code(&self, number: &str) -> Result<()> {
        self.post("reset/send", &phone(number)).await
    }

    pub async fn reset_password(&self, phone: &str, code: &str, password: &str) -> Result<()> {
        let body = PhonePasswordRequest {
            phone: phone.into(),
            password: password.into(),
            code: Some(code.into()),
        };
        self.post("reset", &body).await
    }
}
