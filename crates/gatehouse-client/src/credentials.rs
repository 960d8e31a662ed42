//! Credentials for every login provider. Secrets inside are redacted in `Debug`.

use gatehouse_proto::routes::provider;
use serde_json::{json, Value};

/// How to log in. Build with the constructors; the payload is sent as the App Services clients
/// send it.
#[derive(Clone)]
pub struct Credentials {
    pub(crate) provider: &'static str,
    pub(crate) payload: Value,
    /// `anonymous()` reuses this device's logged-in anonymous user instead of making another.
    pub(crate) reuse_anonymous: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("provider", &self.provider).finish_non_exhaustive()
    }
}

impl Credentials {
    fn new(provider: &'static str, payload: Value) -> Credentials {
        Credentials { provider, payload, reuse_anonymous: false }
    }

    /// The device's anonymous user: reused while it is logged in, created otherwise.
    pub fn anonymous() -> Credentials {
        Credentials { reuse_anonymous: true, ..Self::new(provider::ANONYMOUS, json!({})) }
    }

    /// Always a new anonymous user.
    pub fn anonymous_new() -> Credentials {
        Self::new(provider::ANONYMOUS, json!({}))
    }

    pub fn email_password(email: &str, password: &str) -> Credentials {
        Self::new(provider::USERPASS, json!({"username": email, "password": password}))
    }

    /// A user or server API key.
    pub fn api_key(key: &str) -> Credentials {
        Self::new(provider::API_KEY, json!({"key": key}))
    }

    /// A JWT from an external identity provider (`custom-token`).
    pub fn jwt(token: &str) -> Credentials {
        Self::new(provider::CUSTOM_TOKEN, json!({"token": token}))
    }

    /// A payload for the app's authentication function (`custom-function`).
    pub fn function(payload: Value) -> Credentials {
        Self::new(provider::CUSTOM_FUNCTION, payload)
    }

    pub fn google_auth_code(code: &str) -> Credentials {
        Self::new(provider::GOOGLE, json!({"authCode": code}))
    }

    pub fn google_id_token(id_token: &str) -> Credentials {
        Self::new(provider::GOOGLE, json!({"id_token": id_token}))
    }

    pub fn apple(id_token: &str) -> Credentials {
        Self::new(provider::APPLE, json!({"id_token": id_token}))
    }

    pub fn facebook(access_token: &str) -> Credentials {
        Self::new(provider::FACEBOOK, json!({"accessToken": access_token}))
    }

    /// A phone number (international format) and password.
    pub fn phone_password(phone: &str, password: &str) -> Credentials {
        Self::new(provider::PHONE_PASSWORD, json!({"phone": phone, "password": password}))
    }

    /// A code texted to a confirmed number (see `App::send_sms_code`).
    pub fn sms_code(phone: &str, code: &str) -> Credentials {
        Self::new(provider::SMS_CODE, json!({"phone": phone, "code": code}))
    }

    /// A magic-link redemption (built by `App::complete_magic_link*`).
    /// Redeems the one-time code a finished browser sign-in sent back.
    pub(crate) fn redirect_code(provider: &'static str, payload: Value) -> Credentials {
        Self::new(provider, payload)
    }

    pub(crate) fn magic(payload: Value) -> Credentials {
        Self::new(provider::MAGIC_LINK, payload)
    }

    /// The provider name on the wire.
    pub fn provider(&self) -> &str {
        self.provider
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_match_the_app_services_wire_and_debug_hides_secrets() {
        let c = Credentials::email_password("a@b.c", "hunter2-very-secret");
        assert_eq!(c.payload, json!({"username": "a@b.c", "password": "hunter2-very-secret"}));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(Credentials::google_id_token("t").payload, json!({"id_token": "t"}));
        assert_eq!(Credentials::google_auth_code("c").payload, json!({"authCode": "c"}));
        assert_eq!(Credentials::facebook("f").payload, json!({"accessToken": "f"}));
        assert!(Credentials::anonymous().reuse_anonymous && !Credentials::anonymous_new().reuse_anonymous);
        assert!(!format!("{:?}", Credentials::api_key("gh_uk_secret")).contains("gh_uk_secret"));
    }
}
