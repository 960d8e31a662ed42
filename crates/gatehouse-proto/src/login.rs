//! Login bodies: `POST {app}/auth/providers/{provider}/login` carries one provider's credential
//! fields plus `options.device` (see `docs/protocol.md`, "Login credentials"). Field names are
//! exactly what the App Services clients send. Login bodies do not refuse unknown fields: clients
//! add `provider` and `options` next to the credential.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::auth::DeviceInfo;

/// `anon-user`: an empty object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnonymousLogin {}

/// `local-userpass`: note `username`, not `email`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserpassLogin {
    pub username: String,
    pub password: String,
}

/// `api-key`: user and server keys alike.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyLogin {
    pub key: String,
}

/// `custom-token`: a JWT from an external identity provider.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomTokenLogin {
    pub token: String,
}

/// `custom-function`: whatever the app's authentication function expects (arbitrary JSON).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FunctionLogin {
    pub payload: Value,
}

/// `oauth2-google` and `oauth2-apple` with an OpenID Connect ID token. `nonce` (Gatehouse
/// extension, optional): the nonce the app asked the provider for; the token must then carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenLogin {
    pub id_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// `oauth2-google` with a server auth code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCodeLogin {
    #[serde(rename = "authCode")]
    pub auth_code: String,
}

/// `oauth2-facebook` with a user access token; `oauth2-google` with an OAuth access token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenLogin {
    #[serde(rename = "accessToken")]
    pub access_token: String,
}

/// `phone-password` (Gatehouse extension).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhonePasswordLogin {
    pub phone: String,
    pub password: String,
}

/// `sms-code` (Gatehouse extension): a code texted to a confirmed number, with the PKCE verifier
/// of the `sms-code/send` that asked for it (only that flow can redeem it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsCodeLogin {
    pub phone: String,
    pub code: String,
    pub code_verifier: String,
}

/// The one-time code of a finished browser sign-in or magic link, with the PKCE verifier that
/// proves the same device asked for it (Gatehouse extension).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkceCodeLogin {
    pub code: String,
    pub code_verifier: String,
}

/// `magic-link` with the short code from the mail, typed by the person (Gatehouse extension).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MagicOtpLogin {
    pub email: String,
    pub otp: String,
    pub code_verifier: String,
}

// Passwords, keys, tokens and codes must never reach a log through `Debug`.
macro_rules! redacted_debug {
    ($($ty:ident),*) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($ty), " { .. redacted .. }"))
            }
        }
    )*};
}
redacted_debug!(
    UserpassLogin,
    ApiKeyLogin,
    CustomTokenLogin,
    FunctionLogin,
    IdTokenLogin,
    AuthCodeLogin,
    AccessTokenLogin,
    PhonePasswordLogin,
    SmsCodeLogin,
    PkceCodeLogin,
    MagicOtpLogin
);

/// The credential part of a login body, one variant per body shape. Serialises as the bare
/// credential object (`{"username": …, "password": …}`); which provider it goes to is the URL's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LoginCredential {
    Anonymous(AnonymousLogin),
    Userpass(UserpassLogin),
    ApiKey(ApiKeyLogin),
    CustomToken(CustomTokenLogin),
    Function(FunctionLogin),
    IdToken(IdTokenLogin),
    AuthCode(AuthCodeLogin),
    AccessToken(AccessTokenLogin),
    PhonePassword(PhonePasswordLogin),
    SmsCode(SmsCodeLogin),
    PkceCode(PkceCodeLogin),
    MagicOtp(MagicOtpLogin),
}

/// A whole login body as a client sends it: the credential's fields with `options` beside them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginRequest<'a> {
    #[serde(flatten)]
    pub credential: &'a LoginCredential,
    pub options: LoginOptions,
}

/// `options` of a login body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginOptions {
    pub device: LoginDevice,
}

/// `options.device` as a client sends it: the [`DeviceInfo`] fields, with `deviceId` in
/// canonical Extended JSON (`{"$oid": …}`, as realm-web sends it) and the CPU architecture
/// (`cpuArch`, sent by the SDKs, not recorded by the server). The server reads this block back
/// as a [`DeviceInfo`] (after relaxing EJSON) with [`DeviceInfo::from_login_body`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoginDevice {
    pub info: DeviceInfo,
    pub cpu_arch: Option<String>,
}

impl Serialize for LoginDevice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The wire form: `info` without its plain `deviceId`, which goes out as an ObjectId.
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            #[serde(flatten)]
            info: &'a DeviceInfo,
            #[serde(skip_serializing_if = "Option::is_none")]
            cpu_arch: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            device_id: Option<ObjectIdRef<'a>>,
        }
        let info = DeviceInfo {
            device_id: None,
            ..self.info.clone()
        };
        Wire {
            info: &info,
            cpu_arch: self.cpu_arch.as_deref(),
            device_id: self.info.device_id.as_deref().map(ObjectIdRef),
        }
        .serialize(serializer)
    }
}

/// An ObjectId in canonical Extended JSON: `{"$oid": "<24 hex>"}`.
struct ObjectIdRef<'a>(&'a str);

impl Serialize for ObjectIdRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Map::new();
        map.insert("$oid".into(), Value::String(self.0.into()));
        map.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(credential: LoginCredential) -> Value {
        serde_json::to_value(&credential).unwrap()
    }

    /// Each body is exactly the object the SDK sent before it was typed.
    #[test]
    fn credentials_serialise_as_the_app_services_clients_send_them() {
        let s = |v: &str| v.to_string();
        assert_eq!(
            body(LoginCredential::Anonymous(AnonymousLogin {})),
            json!({})
        );
        assert_eq!(
            body(LoginCredential::Userpass(UserpassLogin {
                username: s("a@b.c"),
                password: s("pw")
            })),
            json!({"username": "a@b.c", "password": "pw"})
        );
        assert_eq!(
            body(LoginCredential::ApiKey(ApiKeyLogin { key: s("k") })),
            json!({"key": "k"})
        );
        assert_eq!(
            body(LoginCredential::CustomToken(CustomTokenLogin {
                token: s("t")
            })),
            json!({"token": "t"})
        );
        assert_eq!(
            body(LoginCredential::Function(FunctionLogin {
                payload: json!({"u": [1]})
            })),
            json!({"u": [1]})
        );
        assert_eq!(
            body(LoginCredential::IdToken(IdTokenLogin {
                id_token: s("i"),
                nonce: None
            })),
            json!({"id_token": "i"})
        );
        assert_eq!(
            body(LoginCredential::AuthCode(AuthCodeLogin {
                auth_code: s("c")
            })),
            json!({"authCode": "c"})
        );
        assert_eq!(
            body(LoginCredential::AccessToken(AccessTokenLogin {
                access_token: s("f")
            })),
            json!({"accessToken": "f"})
        );
        assert_eq!(
            body(LoginCredential::PhonePassword(PhonePasswordLogin {
                phone: s("+1"),
                password: s("pw")
            })),
            json!({"phone": "+1", "password": "pw"})
        );
        assert_eq!(
            body(LoginCredential::SmsCode(SmsCodeLogin {
                phone: s("+1"),
                code: s("123456"),
                code_verifier: s("v")
            })),
            json!({"phone": "+1", "code": "123456", "code_verifier": "v"})
        );
        assert_eq!(
            body(LoginCredential::PkceCode(PkceCodeLogin {
                code: s("c"),
                code_verifier: s("v")
            })),
            json!({"code": "c", "code_verifier": "v"})
        );
        assert_eq!(
            body(LoginCredential::MagicOtp(MagicOtpLogin {
                email: s("e"),
                otp: s("o"),
                code_verifier: s("v")
            })),
            json!({"email": "e", "otp": "o", "code_verifier": "v"})
        );
    }

    #[test]
    fn the_login_body_carries_the_device_with_an_ejson_device_id() {
        let credential = LoginCredential::Userpass(UserpassLogin {
            username: "u".into(),
            password: "p".into(),
        });
        let info = DeviceInfo {
            device_id: Some("65f000000000000000000001".into()),
            platform: Some("linux".into()),
            sdk: Some("Gatehouse Rust SDK".into()),
            sdk_version: Some("0.1.0".into()),
            ..DeviceInfo::default()
        };
        let request = LoginRequest {
            credential: &credential,
            options: LoginOptions {
                device: LoginDevice {
                    info,
                    cpu_arch: Some("x86_64".into()),
                },
            },
        };
        let sent = serde_json::to_value(&request).unwrap();
        assert_eq!(
            sent,
            json!({"username": "u", "password": "p", "options": {"device": {
            "sdk": "Gatehouse Rust SDK", "sdkVersion": "0.1.0", "platform": "linux",
            "cpuArch": "x86_64",
            "deviceId": {"$oid": "65f000000000000000000001"}}}})
        );
        // What the server reads back from it (after relaxing EJSON).
        let read = DeviceInfo::from_login_body(&crate::ejson::relax(sent));
        assert_eq!(read.device_id.as_deref(), Some("65f000000000000000000001"));
        assert_eq!(read.platform.as_deref(), Some("linux"));

        let first = LoginDevice {
            info: DeviceInfo {
                device_id: None,
                ..read
            },
            cpu_arch: None,
        };
        assert!(
            serde_json::to_value(&first)
                .unwrap()
                .get("deviceId")
                .is_none(),
            "no id yet: no deviceId at all"
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let c = LoginCredential::Userpass(UserpassLogin {
            username: "u".into(),
            password: "hunter2-secret".into(),
        });
        assert!(!format!("{c:?}").contains("hunter2"));
        let f = FunctionLogin {
            payload: json!({"secret": "s3cr3t"}),
        };
        assert!(!format!("{f:?}").contains("s3cr3t"));
    }
}
