//! Phone/password accounts and texted sign-in codes (`app.phone_password_auth()`, Gatehouse
//! extension). Public endpoints: no token is sent with them.

use std::sync::Arc;

use gatehouse_proto::routes;
use gatehouse_proto::userpass::{PhoneCodeRequest, PhonePasswordRequest, PhoneRequest};
use gatehouse_proto::{ErrorCode, ProviderType};
use reqwest::Method;
use serde::Serialize;

use crate::app::Shared;
use crate::error::{Error, Result};
use crate::http::{Body, Request, Void};
use crate::phone_flows::{CodePurpose, PhoneFlows};

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

impl PhonePasswordAuth {
    async fn post(&self, action: &str, body: &impl Serialize) -> Result<()> {
        post(&self.shared, ProviderType::PhonePassword, action, body).await
    }

    fn flows(&self) -> &PhoneFlows {
        &self.shared.phone_flows
    }

    /// Asks for a code for `purpose`, bound to this app's flow for the number.
    async fn send_code(&self, action: &str, purpose: CodePurpose, number: &str) -> Result<()> {
        let body = PhoneRequest {
            phone: number.into(),
            code_challenge: Some(self.flows().challenge_for(purpose, number)),
        };
        self.post(action, &body).await
    }

    /// Registers a number (international format, e.g. `+14155552671`); a confirmation code is
    /// texted unless the app does not require one. The code is bound to this app (PKCE): only
    /// [`PhonePasswordAuth::confirm`] here can use it.
    pub async fn register(&self, phone: &str, password: &str) -> Result<()> {
        let challenge = self.flows().challenge_for(CodePurpose::Confirm, phone);
        self.post(
            "register",
            &PhonePasswordRequest {
                phone: phone.into(),
                password: password.into(),
                code: None,
                code_challenge: Some(challenge),
                code_verifier: None,
            },
        )
        .await
    }

    pub async fn confirm(&self, phone: &str, code: &str) -> Result<()> {
        let code_verifier = self.flows().verifier(CodePurpose::Confirm, phone);
        let kept = code_verifier.is_some();
        let body = PhoneCodeRequest {
            phone: phone.into(),
            code: code.into(),
            code_verifier,
        };
        self.post("confirm", &body)
            .await
            .map_err(|e| if kept { e } else { no_flow_kept(e) })?;
        self.flows().finish(CodePurpose::Confirm, phone);
        Ok(())
    }

    pub async fn resend_confirmation(&self, number: &str) -> Result<()> {
        self.send_code("confirm/send", CodePurpose::Confirm, number)
            .await
    }

    pub async fn send_reset_code(&self, number: &str) -> Result<()> {
        self.send_code("reset/send", CodePurpose::Reset, number)
            .await
    }

    pub async fn reset_password(&self, phone: &str, code: &str, password: &str) -> Result<()> {
        let code_verifier = self.flows().verifier(CodePurpose::Reset, phone);
        let kept = code_verifier.is_some();
        let body = PhonePasswordRequest {
            phone: phone.into(),
            password: password.into(),
            code: Some(code.into()),
            code_challenge: None,
            code_verifier,
        };
        self.post("reset", &body)
            .await
            .map_err(|e| if kept { e } else { no_flow_kept(e) })?;
        self.flows().finish(CodePurpose::Reset, phone);
        Ok(())
    }
}

/// A refused code that this app kept no flow for: codes asked for through the SDK are bound to a
/// verifier held in memory, so the likely cause is that the app restarted since it asked (or the
/// code was asked for elsewhere). "Check the latest text" would not help; a new code does.
fn no_flow_kept(e: Error) -> Error {
    match e {
        Error::Server { status, code, .. } if code == ErrorCode::InvalidCode.as_str() => {
            Error::Server {
                status,
                code,
                message: "the code is not right, and this app has no record of asking for a code \
                          for this number (it may have restarted since): ask for a new code"
                    .into(),
            }
        }
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_code_without_a_kept_flow_says_to_ask_for_a_new_one() {
        let refused = |code: &str| Error::Server {
            status: 400,
            code: code.into(),
            message: "the code is not right; check the latest text message".into(),
        };
        let e = no_flow_kept(refused("InvalidCode"));
        assert_eq!(e.code(), "InvalidCode");
        assert!(e.to_string().contains("ask for a new code"), "{e}");
        let other = no_flow_kept(refused("TooManyAttempts"));
        assert!(other.to_string().contains("latest text"), "{other}");
    }
}
