//! Login, session, profile, location and API-key shapes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET {app}/location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationResponse {
    pub deployment_model: String,
    pub location: String,
    pub hostname: String,
    pub ws_hostname: String,
}

/// `GET {app}/auth/providers` (Gatehouse extension): the providers this app has enabled, so a
/// client can show only the buttons that work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub provider_type: String,
}

/// Answer to every successful login (and to linking, where `refresh_token` is absent).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub user_id: String,
    pub device_id: String,
}

/// `POST /auth/session`. `refresh_token` is present only when the client opted into rotation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionResponse { .. redacted .. }")
    }
}

/// One identity in a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub id: String,
    pub provider_type: String,
    pub provider_id: String,
    #[serde(default)]
    pub provider_data: Map<String, Value>,
}

/// `GET /auth/profile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub user_id: String,
    pub domain_id: String,
    /// `normal`, or `server` for users created by server API keys.
    #[serde(rename = "type")]
    pub user_type: String,
    pub identities: Vec<Identity>,
    pub data: Map<String, Value>,
}

/// `options.device` sent with a login; informational, never a reason to fail a login.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

impl DeviceInfo {
    /// Reads `options.device` from a (relaxed) login body, ignoring anything malformed.
    pub fn from_login_body(body: &Value) -> DeviceInfo {
        body.get("options")
            .and_then(|o| o.get("device"))
            .and_then(|d| serde_json::from_value::<DeviceInfo>(lenient_strings(d)).ok())
            .unwrap_or_default()
    }
}

/// Keeps only string members so that a client sending a number where we expect text does not
/// make the whole device block unreadable.
fn lenient_strings(device: &Value) -> Value {
    match device {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| v.is_string())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// Claims of an access token that clients read (App Services names plus standard ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub aud: String,
    pub iss: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub typ: String,
    pub baas_device_id: String,
    /// Session id: logout and the sessions API revoke by it.
    pub baas_session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<Map<String, Value>>,
}

/// One session of the user, as listed by `GET /auth/sessions` (Gatehouse extension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
    pub device_id: String,
    /// Provider of the login that opened the session.
    pub provider_type: String,
    /// The login's `options.device` fields.
    #[serde(default)]
    pub device: DeviceInfo,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    /// Unix seconds. `last_used_at` is updated at most hourly.
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    /// The session of the token that asked.
    pub current: bool,
    /// Whether its refresh token rotates (clients that opted in) or is fixed (stock clients).
    pub rotating: bool,
}

/// One security event of the user, as listed by `GET /auth/activity` (Gatehouse extension),
/// newest first. `kind` names the event (`refresh_token_reuse`, …); `detail` is an object whose
/// members depend on it (for a reuse: `session_id`, `device_id`, `device`, `provider_type`).
/// `ip` and `user_agent` are those of the request that caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEvent {
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub detail: Map<String, Value>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// `POST /auth/password` body (Gatehouse extension): change the password of the logged-in user's
/// email/password account; every other session ends.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePasswordRequest { .. redacted .. }")
    }
}

/// `POST /auth/api_keys` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: String,
}

/// An API key as listed; `key` (the secret) is present only in the answer to create.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub name: String,
    pub disabled: bool,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("name", &self.name)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// All-zero device id: "no device id" in App Services.
pub const NO_DEVICE_ID: &str = "000000000000000000000000";

/// True for a 24-character hex ObjectId string.
pub fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn device_info_tolerates_junk_and_reads_relaxed_oids() {
        let device =
            json!({"deviceId": "65f000000000000000000001", "platform": "node", "sdkVersion": 5});
        let body = json!({ "options": { "device": device } });
        let d = DeviceInfo::from_login_body(&body);
        assert_eq!(d.device_id.as_deref(), Some("65f000000000000000000001"));
        assert_eq!(d.platform.as_deref(), Some("node"));
        assert_eq!(d.sdk_version, None);
        assert_eq!(
            DeviceInfo::from_login_body(&json!({"options": 3})),
            DeviceInfo::default()
        );
    }

    #[test]
    fn api_key_secret_is_only_serialised_when_present_and_never_debugged() {
        let listed = ApiKey {
            id: "a".repeat(24),
            key: None,
            name: "k".into(),
            disabled: false,
        };
        assert_eq!(
            serde_json::to_value(&listed).unwrap(),
            json!({"_id": "a".repeat(24), "name": "k", "disabled": false})
        );
        let created = ApiKey {
            key: Some("secret-value".into()),
            ..listed
        };
        assert!(!format!("{created:?}").contains("secret-value"));
    }

    #[test]
    fn login_response_omits_absent_refresh_token() {
        let r = LoginResponse {
            access_token: "a".into(),
            refresh_token: None,
            user_id: "u".into(),
            device_id: NO_DEVICE_ID.into(),
        };
        assert!(serde_json::to_value(&r)
            .unwrap()
            .get("refresh_token")
            .is_none());
    }
}
