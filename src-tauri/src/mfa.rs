//! Two-step sign-in (issue 13): an account's second factors (TOTP with its QR code, recovery
//! codes, passkeys registered in the system browser), and the challenge a sign-in answers with
//! when the account has one.
//!
//! A challenge is kept here, in memory, under its id, until it is answered, cancelled or
//! expires; the window gets its id, methods and expiry only (`UiEvent::MfaChallenge`), never the
//! SDK's challenge, which carries the device binding the completion must send again.

use std::sync::Arc;
use std::time::Instant;

use gatehouse_client::{App, MfaChallenge, MfaProof, TotpEnrollment};

use crate::desktop::{Desktop, REDIRECT_URI};
use crate::error::{DesktopError, Result};
use crate::shell::UiEvent;
use crate::sign_in::{required, Pending, Waiting};
use crate::sync::lock;
use crate::views::{
    AccountView, ChallengeView, ConfirmedView, MfaAnswerView, MfaView, StartedSignIn,
    TotpEnrollmentView,
};

/// A challenge waiting for its answer: which connection's app asked for it, and the SDK's
/// challenge.
pub(crate) struct Held {
    pub connection: String,
    pub challenge: MfaChallenge,
}

impl Held {
    fn view(&self) -> ChallengeView {
        let c = &self.challenge;
        ChallengeView {
            id: c.id.clone(),
            connection: self.connection.clone(),
            provider: c.provider.clone(),
            methods: c.methods.clone(),
            expires_at: c.expires_at,
            enroll: c.is_enrollment(),
        }
    }
}

/// The smallest side of the QR code, in pixels: phone cameras read 200 px reliably from a
/// screen.
const QR_MIN_PX: u32 = 200;

/// The `otpauth://` URI as a QR code: an SVG document, dark modules on white, with the quiet
/// zone the standard asks for (cameras need it to find the code).
pub(crate) fn qr_svg(uri: &str) -> Result<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| DesktopError::InvalidInput(format!("Cannot draw the QR code: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(QR_MIN_PX, QR_MIN_PX)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

fn enrollment_view(e: TotpEnrollment) -> Result<TotpEnrollmentView> {
    Ok(TotpEnrollmentView {
        qr_svg: qr_svg(&e.otpauth_uri)?,
        factor_id: e.factor_id,
        secret: e.secret,
        otpauth_uri: e.otpauth_uri,
    })
}

/// A started browser ceremony's state: the SDK lists what it waits for, and the URL it returned
/// is one of them.
fn state_of(app: &App, url: &str) -> Result<String> {
    app.pending_redirect_login_list()
        .into_iter()
        .find(|p| p.url == url)
        .map(|p| p.state)
        .ok_or(DesktopError::NoPending)
}

impl Desktop {
    /// After a sign-in: when its answer is a challenge, keeps the challenge and tells the window
    /// (the answer, an error, is returned as it is).
    pub(crate) fn hold_challenge<T>(&self, connection: &str, result: Result<T>) -> Result<T> {
        if let Err(DesktopError::Sdk(e)) = &result {
            if let Some(challenge) = e.mfa_challenge() {
                let held = Held {
                    connection: connection.into(),
                    challenge: challenge.clone(),
                };
                let view = held.view();
                let mut all = lock(&self.mfa_challenges);
                all.retain(|_, h| !h.challenge.is_expired());
                all.insert(view.id.clone(), held);
                drop(all);
                self.shell.emit(UiEvent::MfaChallenge { challenge: view });
                // A sign-in started elsewhere (the `gatehouse` command) is finished here.
                self.shell.raise_window();
            }
        }
        result
    }

    /// The challenge waiting under `id` (a copy), or `NoPending` when it is not (any more).
    fn held(&self, id: &str) -> Result<(String, MfaChallenge)> {
        let mut all = lock(&self.mfa_challenges);
        all.retain(|_, h| !h.challenge.is_expired());
        all.get(id)
            .map(|h| (h.connection.clone(), h.challenge.clone()))
            .ok_or(DesktopError::NoPending)
    }

    /// Forgets a challenge after an answer that used it up (or one that voided it).
    pub(crate) fn settle_challenge<T>(&self, id: &str, result: &Result<T>) {
        let spent = match result {
            Ok(_) => true,
            Err(DesktopError::Sdk(e)) => !e.keeps_mfa_challenge(),
            Err(_) => false,
        };
        if spent {
            lock(&self.mfa_challenges).remove(id);
        }
    }

    /// Answers a challenge with a TOTP code (`kind` `totp`; for an enrollment challenge it
    /// confirms the factor `enroll_for_challenge` made) or a recovery code (`recovery_code`).
    /// A wrong code keeps the challenge for another try.
    pub async fn answer_mfa(
        self: &Arc<Self>,
        challenge: &str,
        kind: &str,
        code: &str,
    ) -> Result<MfaAnswerView> {
        let (connection, held) = self.held(challenge)?;
        let code = required(code, "The code")?;
        let proof = match kind {
            "totp" => MfaProof::Totp(code.into()),
            "recovery_code" if !held.is_enrollment() => MfaProof::RecoveryCode(code.into()),
            _ => {
                return Err(DesktopError::InvalidInput(format!(
                    "Answer with a code from the authenticator app{} (not {kind:?})",
                    if held.is_enrollment() {
                        ""
                    } else {
                        " or a recovery code"
                    }
                )))
            }
        };
        let (app, offline) = self.app(&connection).await?;
        let answer = if held.is_enrollment() {
            app.complete_mfa_enrollment(&held, code)
                .await
                .map(|(user, codes)| (user, Some(codes)))
        } else {
            app.complete_mfa(&held, proof)
                .await
                .map(|user| (user, None))
        };
        let answer = Desktop::track(&offline, answer);
        self.settle_challenge(challenge, &answer);
        let (user, recovery_codes) = answer?;
        let account = self.signed_in(&connection, &app, &user).await?;
        self.announce_signed_in(challenge, &account);
        Ok(MfaAnswerView {
            account,
            recovery_codes,
        })
    }

    /// Tells the window a challenged sign-in finished (the step-up flow waits for the account).
    pub(crate) fn announce_signed_in(&self, id: &str, account: &AccountView) {
        self.shell.emit(UiEvent::SignInFinished {
            state: id.into(),
            ok: true,
            message: format!("Signed in as {}", account.display_name),
            connection: Some(account.connection.clone()),
            user: Some(account.id.clone()),
        });
    }

    /// A TOTP secret for an enrollment challenge (the app requires a second factor and the
    /// account has none): shown as text and QR code; `answer_mfa` with its first code finishes.
    pub async fn enroll_for_challenge(
        self: &Arc<Self>,
        challenge: &str,
    ) -> Result<TotpEnrollmentView> {
        let (connection, held) = self.held(challenge)?;
        let (app, offline) = self.app(&connection).await?;
        let enrollment = Desktop::track(&offline, app.enroll_totp_for_challenge(&held).await);
        self.settle_challenge_on_error(challenge, &enrollment);
        enrollment_view(enrollment?)
    }

    fn settle_challenge_on_error<T>(&self, id: &str, result: &Result<T>) {
        if result.is_err() {
            self.settle_challenge(id, result);
        }
    }

    /// Answers a challenge with a passkey on the server's page in the system browser; the deep
    /// link (or the typed code) finishes the sign-in.
    pub async fn mfa_with_passkey(self: &Arc<Self>, challenge: &str) -> Result<StartedSignIn> {
        let (connection, held) = self.held(challenge)?;
        let (app, _) = self.app(&connection).await?;
        let url = app.begin_mfa_passkey(&held, REDIRECT_URI)?;
        let state = state_of(&app, &url)?;
        let waiting = Waiting::MfaPasskey {
            url: url.clone(),
            challenge: challenge.into(),
        };
        Ok(self.wait_for_browser(&connection, state, url, waiting))
    }

    /// Forgets a challenge (the person gave up), and any passkey page started for it.
    pub async fn cancel_mfa(self: &Arc<Self>, challenge: &str) -> Result<()> {
        let held = lock(&self.mfa_challenges).remove(challenge);
        let started: Vec<(String, String)> = lock(&self.pending)
            .iter()
            .filter_map(|(state, p)| match &p.waiting {
                Waiting::MfaPasskey { challenge: c, .. } if c == challenge => {
                    Some((state.clone(), p.connection.clone()))
                }
                _ => None,
            })
            .collect();
        for (state, connection) in &started {
            lock(&self.pending).remove(state);
            if let Ok((app, _)) = self.app(connection).await {
                app.cancel_redirect_login(state);
            }
        }
        if held.is_none() && started.is_empty() {
            return Err(DesktopError::NoPending);
        }
        self.shell.emit(UiEvent::AccountsChanged);
        Ok(())
    }

    /// Keeps a browser ceremony waiting for its deep link and opens the browser.
    pub(crate) fn wait_for_browser(
        &self,
        connection: &str,
        state: String,
        url: String,
        waiting: Waiting,
    ) -> StartedSignIn {
        lock(&self.pending).insert(
            state.clone(),
            Pending::new(connection, waiting, Instant::now()),
        );
        if let Err(e) = self.shell.open_browser(&url) {
            self.shell.emit(UiEvent::notice(
                "warning",
                DesktopError::Browser(e).to_string(),
            ));
        }
        StartedSignIn {
            state,
            url: Some(url),
        }
    }

    pub async fn mfa_status(self: &Arc<Self>, connection: &str, user: &str) -> Result<MfaView> {
        let (_, user, offline) = self.user(connection, user).await?;
        let status = Desktop::track(&offline, user.mfa().status().await)?;
        Ok(MfaView {
            factors: status.factors.into_iter().map(Into::into).collect(),
            recovery_codes_left: status.recovery_codes_left,
            required: status.required,
        })
    }

    /// A new TOTP factor (unconfirmed until `confirm_totp`): its secret and QR code.
    pub async fn enroll_totp(
        self: &Arc<Self>,
        connection: &str,
        user: &str,
        name: Option<String>,
    ) -> Result<TotpEnrollmentView> {
        let (_, user, offline) = self.user(connection, user).await?;
        let name = name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let enrollment = Desktop::track(&offline, user.mfa().enroll_totp(name).await)?;
        enrollment_view(enrollment)
    }

    pub async fn confirm_totp(
        self: &Arc<Self>,
        connection: &str,
        user: &str,
        factor_id: &str,
        code: &str,
    ) -> Result<ConfirmedView> {
        let (_, user, offline) = self.user(connection, user).await?;
        let code = required(code, "The code")?;
        let confirmed = Desktop::track(&offline, user.mfa().confirm_totp(factor_id, code).await)?;
        Ok(ConfirmedView {
            factor: confirmed.factor.into(),
            recovery_codes: confirmed.recovery_codes,
        })
    }

    pub async fn remove_mfa_factor(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
        factor_id: &str,
    ) -> Result<MfaView> {
        let (_, user, offline) = self.user(connection, user_id).await?;
        Desktop::track(&offline, user.mfa().remove_factor(factor_id).await)?;
        self.mfa_status(connection, user_id).await
    }

    pub async fn regenerate_recovery_codes(
        self: &Arc<Self>,
        connection: &str,
        user: &str,
    ) -> Result<Vec<String>> {
        let (_, user, offline) = self.user(connection, user).await?;
        Desktop::track(&offline, user.mfa().regenerate_recovery_codes().await)
    }

    /// Registers a passkey for the account on the server's page in the system browser; the
    /// deep link (or the typed code) finishes it and `gatehouse:signin-finished` reports it.
    pub async fn add_passkey(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
        name: &str,
    ) -> Result<StartedSignIn> {
        let (app, user, offline) = self.user(connection, user_id).await?;
        let name = required(name, "The passkey's name")?;
        let url = Desktop::track(
            &offline,
            user.mfa()
                .begin_passkey_registration(name, REDIRECT_URI)
                .await,
        )?;
        let state = state_of(&app, &url)?;
        let waiting = Waiting::AddPasskey {
            url: url.clone(),
            user: user_id.into(),
        };
        Ok(self.wait_for_browser(connection, state, url, waiting))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_qr_code_is_an_svg_of_at_least_200_px_with_dark_modules() {
        let svg = super::qr_svg("otpauth://totp/Gatehouse:ada?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        assert!(svg.contains("#000000") && svg.contains("#ffffff"));
        let size = |attr: &str| -> u32 {
            let at = svg.find(&format!("{attr}=\"")).unwrap() + attr.len() + 2;
            svg[at..].split('"').next().unwrap().parse().unwrap()
        };
        assert!(size("width") >= 200 && size("height") >= 200, "{svg}");
    }
}
