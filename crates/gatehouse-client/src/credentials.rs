//! Credentials for every login provider: the provider and its typed login body
//! (`gatehouse_proto::login`). Secrets inside are redacted in `Debug`.

use gatehouse_proto::login::{
    AccessTokenLogin, AnonymousLogin, ApiKeyLogin, AuthCodeLogin, CustomTokenLogin, FunctionLogin,
    IdTokenLogin, LoginCredential, PhonePasswordLogin, SmsCodeLogin, UserpassLogin,
};
use gatehouse_proto::ProviderType;
use serde_json::Value;

/// How to log in. Build with the constructors; the body is sent as the App Services clients
/// send it.
#[derive(Clone)]
pub struct Credentials {
    pub(crate) provider: ProviderType,
    pub(crate) payload: LoginCredential,
    /// `anonymous()` reuses this device's logged-in anonymous user instead of making another.
    pub(crate) reuse_anonymous: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    fn new(provider: ProviderType, payload: LoginCredential) -> Credentials {
        Credentials {
            provider,
            payload,
            reuse_anonymous: false,
        }
    }

    /// The device's anonymous user: reused while it is logged in, created otherwise.
    pub fn anonymous() -> Credentials {
        Credentials {
            reuse_anonymous: true,
            ..Self::anonymous_new()
        }
    }

    /// Always a new anonymous user.
    pub fn anonymous_new() -> Credentials {
        Self::new(
            ProviderType::Anonymous,
            LoginCredential::Anonymous(AnonymousLogin {}),
        )
    }

    pub fn email_password(email: &str, password: &str) -> Credentials {
        let body = UserpassLogin {
            username: email.into(),
            password: password.into(),
        };
        Self::new(ProviderType::Userpass, LoginCredential::Userpass(body))
    }

    /// A user or server API key.
    pub fn api_key(key: &str) -> Credentials {
        Self::new(
            ProviderType::ApiKey,
            LoginCredential::ApiKey(ApiKeyLogin { key: key.into() }),
        )
    }

    /// A JWT from an external identity provider (`custom-token`).
    pub fn jwt(token: &str) -> Credentials {
        Self::new(
            ProviderType::CustomToken,
            LoginCredential::CustomToken(CustomTokenLogin {
                token: token.into(),
            }),
        )
    }

    /// A payload for the app's authentication function (`custom-function`).
    pub fn function(payload: Value) -> Credentials {
        Self::new(
            ProviderType::CustomFunction,
            LoginCredential::Function(FunctionLogin { payload }),
        )
    }

    pub fn google_auth_code(code: &str) -> Credentials {
        Self::new(
            ProviderType::Google,
            LoginCredential::AuthCode(AuthCodeLogin {
                auth_code: code.into(),
            }),
        )
    }

    pub fn google_id_token(id_token: &str) -> Credentials {
        Self::new(
            ProviderType::Google,
            LoginCredential::IdToken(IdTokenLogin {
                id_token: id_token.into(),
                nonce: None,
            }),
        )
    }

    /// A Google OAuth access token, as the Node SDK's `Credentials.google({accessToken})` sends
    /// it (`{"accessToken": "…"}`); the server checks it at Google's userinfo endpoint.
    pub fn google_access_token(access_token: &str) -> Credentials {
        let body = AccessTokenLogin {
            access_token: access_token.into(),
        };
        Self::new(ProviderType::Google, LoginCredential::AccessToken(body))
    }

    pub fn apple(id_token: &str) -> Credentials {
        Self::new(
            ProviderType::Apple,
            LoginCredential::IdToken(IdTokenLogin {
                id_token: id_token.into(),
                nonce: None,
            }),
        )
    }

    pub fn facebook(access_token: &str) -> Credentials {
        let body = AccessTokenLogin {
            access_token: access_token.into(),
        };
        Self::new(ProviderType::Facebook, LoginCredential::AccessToken(body))
    }

    /// A phone number (international format) and password.
    pub fn phone_password(phone: &str, password: &str) -> Credentials {
        let body = PhonePasswordLogin {
            phone: phone.into(),
            password: password.into(),
        };
        Self::new(
            ProviderType::PhonePassword,
            LoginCredential::PhonePassword(body),
        )
    }

    /// The code texted for `pending` (see `App::send_sms_code`): only the flow that asked can
    /// redeem it, so the body carries that flow's PKCE verifier.
    pub fn sms_code(pending: &crate::PendingSmsCode, code: &str) -> Credentials {
        Self::new(
            ProviderType::SmsCode,
            LoginCredential::SmsCode(SmsCodeLogin {
                phone: pending.phone.clone(),
                code: code.into(),
                code_verifier: pending.verifier.clone(),
            }),
        )
    }

    /// Redeems the one-time code a finished browser sign-in sent back.
    pub(crate) fn redirect_code(provider: ProviderType, payload: LoginCredential) -> Credentials {
        Self::new(provider, payload)
    }

    /// A magic-link redemption (built by `App::complete_magic_link*`).
    pub(crate) fn magic(payload: LoginCredential) -> Credentials {
        Self::new(ProviderType::MagicLink, payload)
    }

    /// The provider name on the wire.
    pub fn provider(&self) -> &str {
        self.provider.as_str()
    }

    /// The provider.
    pub fn provider_type(&self) -> ProviderType {
        self.provider
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sent(c: &Credentials) -> Value {
        serde_json::to_value(&c.payload).unwrap()
    }

    /// Every constructor's body equals the `json!` the SDK sent before the bodies were typed.
    #[test]
    fn payloads_match_the_app_services_wire_and_debug_hides_secrets() {
        let c = Credentials::email_password("a@b.c", "hunter2-very-secret");
        assert_eq!(
            sent(&c),
            json!({"username": "a@b.c", "password": "hunter2-very-secret"})
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(sent(&Credentials::anonymous()), json!({}));
        assert_eq!(sent(&Credentials::anonymous_new()), json!({}));
        assert_eq!(sent(&Credentials::api_key("k")), json!({"key": "k"}));
        assert_eq!(sent(&Credentials::jwt("t")), json!({"token": "t"}));
        assert_eq!(
            sent(&Credentials::function(json!({"u": "ada", "n": [1]}))),
            json!({"u": "ada", "n": [1]})
        );
        assert_eq!(
            sent(&Credentials::google_id_token("t")),
            json!({"id_token": "t"})
        );
        assert_eq!(
            sent(&Credentials::google_auth_code("c")),
            json!({"authCode": "c"})
        );
        assert_eq!(
            sent(&Credentials::google_access_token("g")),
            json!({"accessToken": "g"})
        );
        assert_eq!(sent(&Credentials::apple("a")), json!({"id_token": "a"}));
        assert_eq!(
            sent(&Credentials::facebook("f")),
            json!({"accessToken": "f"})
        );
        assert_eq!(
            sent(&Credentials::phone_password("+1", "pw")),
            json!({"phone": "+1", "password": "pw"})
        );
        let sms = crate::PendingSmsCode {
            phone: "+1".into(),
            verifier: "v".into(),
        };
        assert_eq!(
            sent(&Credentials::sms_code(&sms, "123456")),
            json!({"phone": "+1", "code": "123456", "code_verifier": "v"})
        );
        assert!(
            Credentials::anonymous().reuse_anonymous
                && !Credentials::anonymous_new().reuse_anonymous
        );
        assert!(!format!("{:?}", Credentials::api_key("gh_uk_secret")).contains("gh_uk_secret"));
        let providers = [
            (Credentials::anonymous(), "anon-user"),
            (Credentials::email_password("e", "p"), "local-userpass"),
            (Credentials::api_key("k"), "api-key"),
            (Credentials::jwt("t"), "custom-token"),
            (Credentials::function(json!({})), "custom-function"),
            (Credentials::google_id_token("t"), "oauth2-google"),
            (Credentials::google_access_token("t"), "oauth2-google"),
            (Credentials::apple("t"), "oauth2-apple"),
            (Credentials::facebook("t"), "oauth2-facebook"),
            (Credentials::phone_password("p", "p"), "phone-password"),
            (Credentials::sms_code(&sms, "c"), "sms-code"),
        ];
        for (c, name) in providers {
            assert_eq!(c.provider(), name);
        }
    }
}
