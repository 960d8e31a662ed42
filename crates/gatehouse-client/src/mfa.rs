//! Multi-factor sign-in (Gatehouse extension, issue 13; wire types in `gatehouse_proto::mfa`).
//!
//! A login whose first factor was right, of a user with a second factor, fails with
//! [`Error::MfaRequired`] carrying an [`MfaChallenge`]; nothing is stored. The app asks the
//! person for a code and calls [`App::complete_mfa`] (or sends them to the server's passkey page
//! with [`App::begin_mfa_passkey`]); only then is the user recorded, by the same code path as a
//! login. An app that requires a second factor of everyone answers a user without one with
//! [`Error::MfaEnrollmentRequired`]: [`App::enroll_totp_for_challenge`] gives a TOTP secret and
//! [`App::complete_mfa_enrollment`] confirms it with a first code and signs in.
//!
//! A challenge is bound to the device the login described: completing it sends the same
//! `options.device` again (the challenge keeps the device id that was sent).
//!
//! Signed-in users manage their factors through [`User::mfa`]. Secrets (a TOTP secret, recovery
//! codes, codes typed by the person) never appear in `Debug`.

use std::time::Instant;

use gatehouse_proto::mfa::{
    routes, BrowserPage, ChallengeRef, CodeBody, CodeRedemption, MfaChallengeInfo,
    MfaCompleteRequest, MfaCompleteResponse, PasskeyRegistrationStart, RecoveryCodes,
    TotpEnrollRequest,
};
use gatehouse_proto::ProviderType;
use reqwest::Method;

pub use gatehouse_proto::mfa::{MfaFactor, MfaStatus, TotpConfirmed, TotpEnrollment};

use crate::app::{login_options, App};
use crate::callback_url::browser_url_of_server;
use crate::clock::unix_now;
use crate::error::{Error, Result};
use crate::http::{Body, Request, Void};
use crate::pending_redirects::{Pending, Purpose};
use crate::pkce::{challenge, random_b64};
use crate::user::{path_segment, User};

/// A sign-in waiting for its second factor: short-lived (`expires_at`), single use, bound to
/// this app, the user, the first factor's provider and this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub id: String,
    /// What may answer it: some of `totp`, `recovery_code`, `passkey` (for an enrollment
    /// challenge, `totp`, enrolled first).
    pub methods: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// The first factor's provider: the session opened at the end is of this provider.
    pub provider: String,
    enroll: bool,
    /// The device id the first login sent (none for a device's first login).
    device_id: Option<String>,
}

impl MfaChallenge {
    pub(crate) fn from_info(info: MfaChallengeInfo, enroll: bool) -> MfaChallenge {
        MfaChallenge {
            id: info.challenge_id,
            methods: info.methods,
            expires_at: info.expires_at,
            provider: info.provider,
            enroll,
            device_id: None,
        }
    }

    /// True for an [`Error::MfaEnrollmentRequired`] challenge: a factor must be set up first.
    pub fn is_enrollment(&self) -> bool {
        self.enroll
    }

    /// True once `expires_at` has passed (by this machine's clock): sign in again.
    pub fn is_expired(&self) -> bool {
        unix_now() >= self.expires_at
    }
}

/// Records the device id a challenged login sent in its challenge (the completion must send it
/// again); other errors pass unchanged.
pub(crate) fn bind_device(error: Error, sent: Option<String>) -> Error {
    match error {
        Error::MfaRequired { mut challenge } => {
            challenge.device_id = sent;
            Error::MfaRequired { challenge }
        }
        Error::MfaEnrollmentRequired { mut challenge } => {
            challenge.device_id = sent;
            Error::MfaEnrollmentRequired { challenge }
        }
        other => other,
    }
}

/// The `options` the challenged login sent: each step of the challenge sends them again, and
/// the server checks the device is the same.
fn device_options(challenge: &MfaChallenge) -> Result<serde_json::Value> {
    serde_json::to_value(login_options(challenge.device_id.as_deref()))
        .map_err(|e| Error::InvalidArgument(format!("cannot encode the device: {e}")))
}

/// `POST {app}/auth/mfa/enroll`: the challenge and, as a completion does, the login's device.
#[derive(serde::Serialize)]
struct EnrollBody {
    #[serde(flatten)]
    challenge: ChallengeRef,
    options: serde_json::Value,
}

/// A code answering an [`MfaChallenge`].
#[derive(Clone, PartialEq, Eq)]
pub enum MfaProof {
    /// The 6 digits an authenticator app shows (spaces are ignored).
    Totp(String),
    /// One of the ten single-use recovery codes.
    RecoveryCode(String),
}

impl std::fmt::Debug for MfaProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MfaProof::Totp(_) => "Totp(<redacted>)",
            MfaProof::RecoveryCode(_) => "RecoveryCode(<redacted>)",
        })
    }
}

/// Every proof the completion endpoint takes, a passkey page's one-time code included.
pub(crate) enum Proof {
    Totp(String),
    Recovery(String),
    Passkey { code: String, verifier: String },
}

impl From<MfaProof> for Proof {
    fn from(proof: MfaProof) -> Proof {
        match proof {
            MfaProof::Totp(code) => Proof::Totp(code),
            MfaProof::RecoveryCode(code) => Proof::Recovery(code),
        }
    }
}

/// A TOTP code as typed: "123 456" is "123456".
fn digits(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

impl App {
    /// Answers `challenge` with a TOTP or recovery code. On success the user is recorded and
    /// made active exactly as [`App::log_in`] does. On failure,
    /// [`Error::keeps_mfa_challenge`] tells whether the same challenge can be answered again (a
    /// wrong code: yes, until the server voids it; `MfaChallengeInvalid`: no, sign in again).
    pub async fn complete_mfa(&self, challenge: &MfaChallenge, proof: MfaProof) -> Result<User> {
        let (user, _) = self.finish_challenge(challenge, proof.into()).await?;
        Ok(user)
    }

    /// A TOTP secret for an [`Error::MfaEnrollmentRequired`] challenge, to put in an
    /// authenticator app; then [`App::complete_mfa_enrollment`] with its first code.
    pub async fn enroll_totp_for_challenge(
        &self,
        challenge: &MfaChallenge,
    ) -> Result<TotpEnrollment> {
        let body = Body::json(&EnrollBody {
            challenge: ChallengeRef {
                challenge_id: challenge.id.clone(),
            },
            options: device_options(challenge)?,
        })?;
        let path = routes::enroll(&self.shared.app_id);
        self.shared
            .http
            .send(Request::new(Method::POST, path).body(&body))
            .await
    }

    /// Confirms the factor [`App::enroll_totp_for_challenge`] made with its first `code` and
    /// signs in (as [`App::complete_mfa`]); the answer carries the new recovery codes, shown
    /// once (empty if the server made none).
    pub async fn complete_mfa_enrollment(
        &self,
        challenge: &MfaChallenge,
        code: &str,
    ) -> Result<(User, Vec<String>)> {
        let (user, codes) = self
            .finish_challenge(challenge, Proof::Totp(code.into()))
            .await?;
        Ok((user, codes.unwrap_or_default()))
    }

    /// Starts answering `challenge` with a passkey: open the returned URL (the server's passkey
    /// page) in the system browser; it sends the browser back to `redirect_uri` with a one-time
    /// code and the state, and [`App::complete_redirect_login`] finishes the sign-in with the
    /// PKCE verifier that never left this process.
    pub fn begin_mfa_passkey(
        &self,
        challenge: &MfaChallenge,
        redirect_uri: &str,
    ) -> Result<String> {
        let verifier = random_b64(32);
        let state = random_b64(16);
        let q = crate::redirect_login::query(&[
            ("redirect", redirect_uri),
            ("state", &state),
            ("code_challenge", &crate::pkce::challenge(&verifier)),
            ("challenge_id", &challenge.id),
        ])?;
        let page = routes::passkey_challenge_page(&self.shared.app_id);
        let url = format!("{}?{q}", self.shared.http.url(&page));
        let started = self.shared.redirects.remember(Pending {
            purpose: Purpose::MfaPasskey(challenge.clone()),
            state,
            verifier,
            url,
            started: Instant::now(),
        });
        Ok(started.url)
    }

    /// Sends one proof for `challenge` with the first login's device options; records the
    /// session it opens. The recovery codes an enrollment made come back beside the user.
    pub(crate) async fn finish_challenge(
        &self,
        challenge: &MfaChallenge,
        proof: Proof,
    ) -> Result<(User, Option<Vec<String>>)> {
        let provider = ProviderType::parse(&challenge.provider).ok_or_else(|| {
            Error::Decode(format!(
                "the challenge names a provider this SDK does not know: {:?}",
                challenge.provider
            ))
        })?;
        let mut request = MfaCompleteRequest {
            challenge_id: challenge.id.clone(),
            options: Some(device_options(challenge)?),
            ..MfaCompleteRequest::default()
        };
        match proof {
            Proof::Totp(code) => request.totp_code = Some(digits(&code)),
            Proof::Recovery(code) => request.recovery_code = Some(code.trim().into()),
            Proof::Passkey { code, verifier } => {
                request.passkey_code = Some(code);
                request.code_verifier = Some(verifier);
            }
        }
        let body = Body::json(&request)?;
        let path = routes::complete(&self.shared.app_id);
        let answer: MfaCompleteResponse = self
            .shared
            .http
            .send(Request::new(Method::POST, path).body(&body))
            .await?;
        let user = self.record_session(answer.login, provider).await?;
        Ok((user, answer.recovery_codes))
    }
}

/// A user's second factors: [`User::mfa`]. Listing needs a session; adding or removing a factor
/// and new recovery codes need a recent sign-in ([`Error::RecentSignInRequired`]).
#[derive(Debug, Clone)]
pub struct Mfa {
    user: User,
}

impl User {
    /// This user's second factors and recovery codes.
    pub fn mfa(&self) -> Mfa {
        Mfa { user: self.clone() }
    }
}

impl Mfa {
    /// The factors (confirmed or not), how many recovery codes are left, and whether the app
    /// requires a second factor.
    pub async fn status(&self) -> Result<MfaStatus> {
        self.user
            .access_request(Method::GET, routes::STATUS.into(), None)
            .await
    }

    /// A new, unconfirmed TOTP factor: its secret (as text and as an `otpauth://` URI for a QR
    /// code), shown once. It counts only after [`Mfa::confirm_totp`].
    pub async fn enroll_totp(&self, name: Option<&str>) -> Result<TotpEnrollment> {
        let body = Body::json(&TotpEnrollRequest {
            name: name.map(str::to_string),
        })?;
        self.user
            .access_request(Method::POST, routes::TOTP.into(), Some(&body))
            .await
    }

    /// Confirms a TOTP factor with a first code. For the user's first factor the answer carries
    /// ten recovery codes, shown once.
    pub async fn confirm_totp(&self, factor_id: &str, code: &str) -> Result<TotpConfirmed> {
        let body = Body::json(&CodeBody { code: digits(code) })?;
        let path = routes::totp_confirm(&path_segment(factor_id));
        self.user
            .access_request(Method::POST, path, Some(&body))
            .await
    }

    /// Removes a factor (TOTP or passkey).
    pub async fn remove_factor(&self, factor_id: &str) -> Result<()> {
        let path = routes::factor(&path_segment(factor_id));
        self.user
            .access_request::<Void>(Method::DELETE, path, None)
            .await
            .map(|_| ())
    }

    /// Ten new recovery codes (shown once); the old ones stop working.
    pub async fn regenerate_recovery_codes(&self) -> Result<Vec<String>> {
        let codes: RecoveryCodes = self
            .user
            .access_request(Method::POST, routes::RECOVERY_CODES.into(), None)
            .await?;
        Ok(codes.recovery_codes)
    }

    /// Starts registering a passkey named `name`: open the returned URL (the server's page) in
    /// the system browser; the page runs the ceremony and sends the browser to `redirect_uri`
    /// with a one-time code, which [`Mfa::complete_passkey_registration`] (or
    /// [`App::complete_redirect_login`]) redeems with the PKCE verifier kept here.
    pub async fn begin_passkey_registration(
        &self,
        name: &str,
        redirect_uri: &str,
    ) -> Result<String> {
        let verifier = random_b64(32);
        let state = random_b64(16);
        let body = Body::json(&PasskeyRegistrationStart {
            name: name.into(),
            redirect_uri: redirect_uri.into(),
            state: state.clone(),
            code_challenge: challenge(&verifier),
        })?;
        let page: BrowserPage = self
            .user
            .access_request(
                Method::POST,
                routes::PASSKEY_REGISTRATIONS.into(),
                Some(&body),
            )
            .await?;
        let url = browser_url_of_server(&page.url, &self.user.shared.http.base)?;
        let started = self.user.shared.redirects.remember(Pending {
            purpose: Purpose::PasskeyRegistration {
                user_id: self.user.id().into(),
            },
            state,
            verifier,
            url,
            started: Instant::now(),
        });
        Ok(started.url)
    }

    /// Finishes a registration from the URL the page sent the browser back to
    /// (`…?code=…&state=…`). A URL whose state is not a registration of this user is refused
    /// ([`Error::UnknownRedirect`]) and left for whoever it belongs to.
    pub async fn complete_passkey_registration(&self, url: &str) -> Result<MfaFactor> {
        let app = App {
            shared: self.user.shared.clone(),
        };
        let (pending, code) = app.take_redirect(url)?;
        let mine = matches!(&pending.purpose,
            Purpose::PasskeyRegistration { user_id } if user_id == self.user.id());
        if !mine {
            self.user.shared.redirects.put_back(pending);
            return Err(Error::UnknownRedirect);
        }
        let result = self.redeem_registration(&code, &pending.verifier).await;
        app.keep_if_retryable(pending, &result);
        result
    }

    pub(crate) async fn redeem_registration(
        &self,
        code: &str,
        verifier: &str,
    ) -> Result<MfaFactor> {
        let body = Body::json(&CodeRedemption {
            code: code.into(),
            code_verifier: verifier.into(),
        })?;
        self.user
            .access_request(
                Method::POST,
                routes::PASSKEY_REGISTRATIONS_COMPLETE.into(),
                Some(&body),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> MfaChallengeInfo {
        MfaChallengeInfo {
            challenge_id: "c1".into(),
            methods: vec!["totp".into()],
            expires_at: unix_now() + 300,
            provider: "local-userpass".into(),
        }
    }

    #[test]
    fn a_challenge_keeps_the_device_the_login_sent() {
        let e = Error::MfaRequired {
            challenge: MfaChallenge::from_info(info(), false),
        };
        let bound = bind_device(e, Some("65f000000000000000000001".into()));
        let c = bound.mfa_challenge().unwrap();
        assert_eq!(c.device_id.as_deref(), Some("65f000000000000000000001"));
        assert!(!c.is_expired() && !c.is_enrollment());
        let other = bind_device(Error::UnknownRedirect, Some("x".into()));
        assert!(matches!(other, Error::UnknownRedirect));
        let old = MfaChallenge {
            expires_at: unix_now() - 1,
            ..MfaChallenge::from_info(info(), true)
        };
        assert!(old.is_expired() && old.is_enrollment());
    }

    #[test]
    fn codes_stay_out_of_debug() {
        let proofs = [
            MfaProof::Totp("123456".into()),
            MfaProof::RecoveryCode("abcd-efgh".into()),
        ];
        for p in proofs {
            let text = format!("{p:?}");
            assert!(!text.contains("123456") && !text.contains("abcd"), "{text}");
        }
        let enrollment = TotpEnrollment {
            factor_id: "f1".into(),
            secret: "JBSWY3DPEHPK3PXP".into(),
            otpauth_uri: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into(),
        };
        assert!(!format!("{enrollment:?}").contains("JBSWY3DP"));
        assert_eq!(digits(" 123 456 "), "123456");
    }

    #[test]
    fn the_completion_sends_the_same_device_options_as_the_login() {
        let id = "65f000000000000000000001";
        let login = serde_json::to_value(login_options(Some(id))).unwrap();
        let request = MfaCompleteRequest {
            challenge_id: "c1".into(),
            totp_code: Some("123456".into()),
            options: Some(serde_json::to_value(login_options(Some(id))).unwrap()),
            ..MfaCompleteRequest::default()
        };
        let sent = serde_json::to_value(&request).unwrap();
        assert_eq!(sent["options"], login);
        assert_eq!(sent["options"]["device"]["deviceId"]["$oid"], id);
    }
}
