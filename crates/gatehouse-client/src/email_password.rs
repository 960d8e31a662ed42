//! Email/password account actions (`app.email_password_auth()`). Public endpoints: no token is
//! sent with them.

use std::sync::Arc;

use gatehouse_proto::routes;
use gatehouse_proto::userpass::{
    EmailRequest, RegisterRequest, ResetCallRequest, ResetRequest, TokenRequest,
};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use crate::app::Shared;
use crate::error::Result;
use crate::http::{Body, Request, Void};

pub struct EmailPasswordAuth {
    pub(crate) shared: Arc<Shared>,
}

impl EmailPasswordAuth {
    async fn post(&self, action: &str, body: &impl Serialize) -> Result<()> {
        let body = Body::json(body)?;
        let path = routes::userpass_action(&self.shared.app_id, action);
        self.shared
            .http
            .send::<Void>(Request::new(Method::POST, path).body(&body))
            .await
            .map(|_| ())
    }

    /// Registers; a confirmation mail follows unless the app confirms automatically.
    pub async fn register(&self, email: &str, password: &str) -> Result<()> {
        self.post(
            "register",
            &RegisterRequest {
                email: email.into(),
                password: password.into(),
            },
        )
        .await
    }

    /// Confirms with the `token` and `tokenId` from the confirmation link.
    pub async fn confirm(&self, token: &str, token_id: &str) -> Result<()> {
        self.post(
            "confirm",
            &TokenRequest {
                token: token.into(),
                token_id: token_id.into(),
            },
        )
        .await
    }

    pub async fn resend_confirmation(&self, email: &str) -> Result<()> {
        self.post(
            "confirm/send",
            &EmailRequest {
                email: email.into(),
            },
        )
        .await
    }

    pub async fn retry_custom_confirmation(&self, email: &str) -> Result<()> {
        self.post(
            "confirm/call",
            &EmailRequest {
                email: email.into(),
            },
        )
        .await
    }

    pub async fn send_reset_password_email(&self, email: &str) -> Result<()> {
        self.post(
            "reset/send",
            &EmailRequest {
                email: email.into(),
            },
        )
        .await
    }

    /// Sets a new password with the `token` and `tokenId` from the reset link.
    pub async fn reset_password(&self, token: &str, token_id: &str, password: &str) -> Result<()> {
        self.post(
            "reset",
            &ResetRequest {
                token: token.into(),
                token_id: token_id.into(),
                password: password.into(),
            },
        )
        .await
    }

    pub async fn call_reset_password_function(
        &self,
        email: &str,
        password: &str,
        args: Vec<Value>,
    ) -> Result<()> {
        self.post(
            "reset/call",
            &ResetCallRequest {
                email: email.into(),
                password: password.into(),
                arguments: args,
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_proto::userpass::{
        EmailRequest, MagicLinkRequest, PhoneCodeRequest, PhonePasswordRequest, PhoneRequest,
    };
    use serde_json::json;

    fn sent(body: &impl Serialize) -> Value {
        serde_json::to_value(body).unwrap()
    }

    /// The public-endpoint bodies equal the `json!` the SDK sent before they were typed.
    #[test]
    fn bodies_match_what_the_sdk_sent_before() {
        let s = |v: &str| v.to_string();
        assert_eq!(
            sent(&RegisterRequest {
                email: s("e"),
                password: s("p")
            }),
            json!({"email": "e", "password": "p"})
        );
        assert_eq!(
            sent(&TokenRequest {
                token: s("t"),
                token_id: s("i")
            }),
            json!({"token": "t", "tokenId": "i"})
        );
        assert_eq!(sent(&EmailRequest { email: s("e") }), json!({"email": "e"}));
        assert_eq!(
            sent(&ResetRequest {
                token: s("t"),
                token_id: s("i"),
                password: s("p")
            }),
            json!({"token": "t", "tokenId": "i", "password": "p"})
        );
        assert_eq!(
            sent(&ResetCallRequest {
                email: s("e"),
                password: s("p"),
                arguments: vec![json!(1)]
            }),
            json!({"email": "e", "password": "p", "arguments": [1]})
        );
        assert_eq!(
            sent(&ResetCallRequest {
                email: s("e"),
                password: s("p"),
                arguments: vec![]
            }),
            json!({"email": "e", "password": "p", "arguments": []})
        );
        // Phone and magic-link actions (phone.rs, magic_link.rs).
        assert_eq!(
            sent(&PhonePasswordRequest {
                phone: s("+1"),
                password: s("p"),
                code: None,
                code_challenge: Some(s("c")),
                code_verifier: None,
            }),
            json!({"phone": "+1", "password": "p", "code_challenge": "c"})
        );
        assert_eq!(
            sent(&PhonePasswordRequest {
                phone: s("+1"),
                password: s("p"),
                code: Some(s("1")),
                code_challenge: None,
                code_verifier: Some(s("v")),
            }),
            json!({"phone": "+1", "code": "1", "password": "p", "code_verifier": "v"})
        );
        assert_eq!(
            sent(&PhoneCodeRequest {
                phone: s("+1"),
                code: s("1"),
                code_verifier: None,
            }),
            json!({"phone": "+1", "code": "1"})
        );
        assert_eq!(
            sent(&PhoneRequest {
                phone: s("+1"),
                code_challenge: None
            }),
            json!({"phone": "+1"})
        );
        let magic = MagicLinkRequest {
            email: s("e"),
            code_challenge: s("c"),
            code_challenge_method: s("S256"),
            redirect_uri: s("gatehouse://auth/callback"),
            state: s("st"),
        };
        assert_eq!(
            sent(&magic),
            json!({"email": "e", "code_challenge": "c", "code_challenge_method": "S256",
            "redirect_uri": "gatehouse://auth/callback", "state": "st"})
        );
    }
}
