//! The login bodies, one type per provider. A field is a [`Param`] rather than a `String` so
//! that the answers stay what clients know: a missing field is 400 `MissingParameter`
//! "missing parameter: NAME", a field that is not a string is 400 `InvalidParameter` "NAME must
//! be a string" — decided when the provider reads the field, after it checked its own setup.
//! Unknown members (`options`, which carries the device) are ignored.
//!
//! These are the server's reading of the bodies the client writes as `gatehouse_proto::login`
//! types; those have plain `String` fields, which would turn the answers above into serde's
//! messages, so the server decodes through these views and a test below checks that every
//! proto login body reads back field for field.

use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// One member of a credential payload, as sent. Its `Debug` never shows the value.
#[derive(Default, Clone, PartialEq, Eq)]
pub enum Param {
    #[default]
    Missing,
    Text(String),
    /// Present, but `null`, a number, an object…
    NotText,
}

impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Param, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Param::Text(s),
            _ => Param::NotText,
        })
    }
}

impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Param::Missing => "Missing",
            Param::Text(_) => "Text(<redacted>)",
            Param::NotText => "NotText",
        })
    }
}

impl Param {
    /// The field `name`, which the provider needs as a string.
    pub fn required(&self, name: &str) -> ApiResult<&str> {
        match self {
            Param::Text(s) => Ok(s),
            Param::NotText => Err(ApiError::invalid_parameter(format!(
                "{name} must be a string"
            ))),
            Param::Missing => Err(ApiError::missing_parameter(name)),
        }
    }

    /// The value when it is a string; an optional field of another type counts as absent.
    pub fn text(&self) -> Option<&str> {
        match self {
            Param::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_present(&self) -> bool {
        !matches!(self, Param::Missing)
    }
}

/// Decodes a login body into a provider's credential type. A body that is not a JSON object has
/// no members (every field is then missing), as clients have always been told.
pub fn parse<T: DeserializeOwned>(body: Value) -> ApiResult<T> {
    let body = match body {
        Value::Object(map) => Value::Object(map),
        _ => Value::Object(Map::new()),
    };
    serde_json::from_value(body)
        .map_err(|e| ApiError::invalid_parameter(format!("invalid request body: {e}")))
}

/// `local-userpass` (login and link).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct UserpassLogin {
    pub username: Param,
    pub password: Param,
}

/// `api-key`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ApiKeyLogin {
    pub key: Param,
}

/// `phone-password`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PhonePasswordLogin {
    pub phone: Param,
    pub password: Param,
}

/// `sms-code`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct SmsCodeLogin {
    pub phone: Param,
    pub code: Param,
    pub code_verifier: Param,
}

/// `magic-link`: `{code, code_verifier}` from the redirect, or `{email, otp, code_verifier}`
/// typed by hand.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct MagicLinkLogin {
    pub code_verifier: Param,
    pub code: Param,
    pub email: Param,
    pub otp: Param,
}

/// A redirect provider's `{code, code_verifier}`: redeems the app code of a finished browser
/// sign-in (present `code` is what tells it from a token-mode login).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct RedirectRedeem {
    pub code: Param,
    pub code_verifier: Param,
}

/// `custom-token`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct CustomTokenLogin {
    pub token: Param,
}

/// `oauth2-google`, `oauth2-apple`, `oauth2-facebook` in token mode: an ID token (both
/// spellings) with the app's optional `nonce`, Google's auth code (with its redirect URI and
/// PKCE verifier), Facebook's and Google's access tokens.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct OAuthTokenLogin {
    pub id_token: Param,
    #[serde(rename = "idToken")]
    pub id_token_camel: Param,
    pub nonce: Param,
    #[serde(rename = "authCode")]
    pub auth_code: Param,
    #[serde(rename = "redirectUri")]
    pub redirect_uri: Param,
    #[serde(rename = "codeVerifier")]
    pub code_verifier_camel: Param,
    pub code_verifier: Param,
    #[serde(rename = "accessToken")]
    pub access_token: Param,
}

/// `custom-function`: the payload goes to the app's webhook as sent, less the client's
/// `options`; the hook, not the server, knows its fields.
#[derive(Debug, Default)]
pub struct FunctionPayload(pub Value);

#[cfg(test)]
mod tests {
    use gatehouse_proto::login as wire;
    use serde_json::json;

    use super::*;

    fn read<T: DeserializeOwned>(body: impl serde::Serialize) -> T {
        parse(serde_json::to_value(body).unwrap()).unwrap()
    }

    /// A field renamed in `gatehouse_proto::login` without the server following fails here.
    #[test]
    fn every_proto_login_body_reads_back() {
        let t = |s: &str| Param::Text(s.into());
        let u: UserpassLogin = read(wire::UserpassLogin {
            username: "u".into(),
            password: "p".into(),
        });
        assert_eq!((u.username, u.password), (t("u"), t("p")));
        let k: ApiKeyLogin = read(wire::ApiKeyLogin { key: "k".into() });
        assert_eq!(k.key, t("k"));
        let p: PhonePasswordLogin = read(wire::PhonePasswordLogin {
            phone: "+1".into(),
            password: "p".into(),
        });
        assert_eq!((p.phone, p.password), (t("+1"), t("p")));
        let s: SmsCodeLogin = read(wire::SmsCodeLogin {
            phone: "+1".into(),
            code: "123456".into(),
            code_verifier: "v".into(),
        });
        assert_eq!(
            (s.phone, s.code, s.code_verifier),
            (t("+1"), t("123456"), t("v"))
        );
        let pkce = wire::PkceCodeLogin {
            code: "c".into(),
            code_verifier: "v".into(),
        };
        let r: RedirectRedeem = read(pkce.clone());
        assert_eq!((r.code, r.code_verifier), (t("c"), t("v")));
        let m: MagicLinkLogin = read(pkce);
        assert_eq!((m.code, m.code_verifier), (t("c"), t("v")));
        let m: MagicLinkLogin = read(wire::MagicOtpLogin {
            email: "e".into(),
            otp: "o".into(),
            code_verifier: "v".into(),
        });
        assert_eq!(
            (m.email, m.otp, m.code_verifier, m.code),
            (t("e"), t("o"), t("v"), Param::Missing)
        );
        let c: CustomTokenLogin = read(wire::CustomTokenLogin { token: "j".into() });
        assert_eq!(c.token, t("j"));
        let o: OAuthTokenLogin = read(wire::IdTokenLogin {
            id_token: "i".into(),
            nonce: Some("n".into()),
        });
        assert_eq!((o.id_token, o.nonce), (t("i"), t("n")));
        let o: OAuthTokenLogin = read(wire::AuthCodeLogin {
            auth_code: "a".into(),
        });
        assert_eq!(o.auth_code, t("a"));
        let o: OAuthTokenLogin = read(wire::AccessTokenLogin {
            access_token: "f".into(),
        });
        assert_eq!(o.access_token, t("f"));
    }

    #[test]
    fn missing_and_non_string_fields_keep_their_answers() {
        let creds: UserpassLogin =
            parse(json!({"username": 3, "options": {"device": {}}})).unwrap();
        let e = creds.username.required("username").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                gatehouse_proto::ErrorCode::InvalidParameter,
                "username must be a string"
            )
        );
        let e = creds.password.required("password").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                gatehouse_proto::ErrorCode::MissingParameter,
                "missing parameter: password"
            )
        );
        let null: UserpassLogin = parse(json!({"username": null})).unwrap();
        assert_eq!(null.username, Param::NotText);
        let not_object: UserpassLogin = parse(json!(["a", "b"])).unwrap();
        assert_eq!(not_object.username, Param::Missing);
        assert!(!format!(
            "{:?}",
            parse::<UserpassLogin>(json!({"password": "hunter2"})).unwrap()
        )
        .contains("hunter2"));
    }
}
