//! Gatehouse extension: the signed-in user changes their own email address, phone number and
//! profile fields (`/auth/email/change`, `/auth/phone/change[/confirm]`, `PATCH /auth/profile`).
//! Each needs a recent sign-in, like the other lasting changes.

use serde::{Deserialize, Deserializer, Serialize};

/// `POST /auth/email/change`: mail a confirmation link to `new_email`. Nothing changes until it
/// is followed; the account keeps signing in with its current address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    pub new_email: String,
}

/// `POST /auth/phone/change`: text a code to `new_phone`, bound to this PKCE S256 challenge.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePhoneRequest {
    pub new_phone: String,
    pub code_challenge: String,
}

/// `POST /auth/phone/change/confirm`: the texted code and the verifier of the challenge sent.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPhoneChangeRequest {
    pub new_phone: String,
    pub code: String,
    pub code_verifier: String,
}

impl std::fmt::Debug for ConfirmPhoneChangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmPhoneChangeRequest")
            .field("new_phone", &self.new_phone)
            .finish_non_exhaustive()
    }
}

/// `PATCH /auth/profile`: a field left out stays as it is, `null` clears it, a value sets it.
/// `name`: 1–100 characters after trimming; `picture_url`: an `https` URL of at most 2048.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub picture_url: Option<Option<String>>,
}

/// A member that is there (even as `null`) is `Some`; a missing one stays `None` (`default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_update_tells_missing_from_null() {
        let u: ProfileUpdate = serde_json::from_str(r#"{"name": null}"#).unwrap();
        assert_eq!(u.name, Some(None));
        assert_eq!(u.picture_url, None);
        let u: ProfileUpdate = serde_json::from_str(r#"{"picture_url": "https://x"}"#).unwrap();
        assert_eq!(u.picture_url, Some(Some("https://x".into())));
        assert_eq!(
            serde_json::to_string(&ProfileUpdate {
                name: Some(None),
                picture_url: None
            })
            .unwrap(),
            r#"{"name":null}"#
        );
        assert!(serde_json::from_str::<ProfileUpdate>(r#"{"nick": "x"}"#).is_err());
    }

    #[test]
    fn confirm_debug_hides_the_code_and_verifier() {
        let r = ConfirmPhoneChangeRequest {
            new_phone: "+14155552671".into(),
            code: "123456".into(),
            code_verifier: "v".repeat(43),
        };
        let s = format!("{r:?}");
        assert!(!s.contains("123456") && !s.contains("vvvv"), "{s}");
    }
}
