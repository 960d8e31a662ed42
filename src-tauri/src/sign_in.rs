//! Signing in: the form-based methods, the browser and magic-link methods that finish through a
//! deep link (`gatehouse://auth/callback?…`), and the "type the code instead" fallback. State
//! and PKCE verifiers stay in this process (the SDK keeps the browser ones); the window only
//! ever sees the state, which names a waiting sign-in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_client::{App, Credentials, PendingMagicLink, PendingSmsCode, ProviderType, User};
use serde::Deserialize;

use crate::desktop::{Desktop, REDIRECT_URI};
use crate::error::{DesktopError, Result};
use crate::shell::UiEvent;
use crate::sync::lock;
use crate::views::{AccountView, PendingView, StartedSignIn};

/// The SDK forgets a browser sign-in after this long; so does the app, for magic links too
/// (their verifier lives in this table only).
pub(crate) const PENDING_TTL: Duration = gatehouse_client::PENDING_REDIRECT_TTL;

/// A sign-in form's content; `method` names the provider.
#[derive(Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum SignIn {
    /// `new`: a new anonymous user even when one is signed in on this connection.
    Anonymous {
        #[serde(default)]
        new: bool,
    },
    Email {
        email: String,
        password: String,
    },
    Phone {
        phone: String,
        password: String,
    },
    SmsCode {
        phone: String,
        code: String,
    },
    ApiKey {
        key: String,
    },
    Jwt {
        token: String,
    },
    /// The payload as the person typed it: must be a JSON object.
    Function {
        payload: String,
    },
    GoogleIdToken {
        token: String,
    },
    AppleIdToken {
        token: String,
    },
    Facebook {
        token: String,
    },
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignIn(<redacted>)")
    }
}

/// `value` trimmed, or an error naming `what` when nothing is left.
pub(crate) fn required<'a>(value: &'a str, what: &str) -> Result<&'a str> {
    let v = value.trim();
    if v.is_empty() {
        Err(DesktopError::InvalidInput(format!("{what} is missing")))
    } else {
        Ok(v)
    }
}

impl SignIn {
    pub fn credentials(&self) -> Result<Credentials> {
        Ok(match self {
            SignIn::Anonymous { new: false } => Credentials::anonymous(),
            SignIn::Anonymous { new: true } => Credentials::anonymous_new(),
            SignIn::Email { email, password } => {
                if password.is_empty() {
                    return Err(DesktopError::InvalidInput("The password is missing".into()));
                }
                Credentials::email_password(required(email, "The email address")?, password)
            }
            SignIn::Phone { phone, password } => {
                if password.is_empty() {
                    return Err(DesktopError::InvalidInput("The password is missing".into()));
                }
                Credentials::phone_password(required(phone, "The phone number")?, password)
            }
            // The code is redeemable only with the verifier of the send that asked for it,
            // which the desktop keeps (`Desktop::form_credentials`).
            SignIn::SmsCode { .. } => {
                return Err(DesktopError::InvalidInput(
                    "Send a code to this number first".into(),
                ))
            }
            SignIn::ApiKey { key } => Credentials::api_key(required(key, "The API key")?),
            SignIn::Jwt { token } => Credentials::jwt(required(token, "The token")?),
            SignIn::Function { payload } => {
                let value: serde_json::Value =
                    serde_json::from_str(required(payload, "The payload")?).map_err(|e| {
                        DesktopError::InvalidInput(format!("The payload is not valid JSON: {e}"))
                    })?;
                if !value.is_object() {
                    return Err(DesktopError::InvalidInput(
                        "The payload must be a JSON object, like {\"username\": \"ada\"}".into(),
                    ));
                }
                Credentials::function(value)
            }
            SignIn::GoogleIdToken { token } => {
                Credentials::google_id_token(required(token, "The ID token")?)
            }
            SignIn::AppleIdToken { token } => Credentials::apple(required(token, "The ID token")?),
            SignIn::Facebook { token } => {
                Credentials::facebook(required(token, "The access token")?)
            }
        })
    }
}

pub(crate) enum Waiting {
    Browser {
        url: String,
        provider: String,
    },
    /// A mailed link; with `link_user`, the address is added to that account when it comes back.
    MagicLink {
        flow: PendingMagicLink,
        link_user: Option<String>,
    },
    /// The server's passkey page answering the second-factor challenge `challenge` (an id in
    /// `Desktop::mfa_challenges`).
    MfaPasskey {
        url: String,
        challenge: String,
    },
    /// The server's passkey page registering a passkey for the account `user`.
    AddPasskey {
        url: String,
        user: String,
    },
}

/// A sign-in waiting for its deep link (or typed code).
pub(crate) struct Pending {
    pub connection: String,
    pub waiting: Waiting,
    started: Instant,
}

impl Pending {
    pub fn new(connection: &str, waiting: Waiting, started: Instant) -> Pending {
        Pending {
            connection: connection.into(),
            waiting,
            started,
        }
    }

    pub fn expired(&self) -> bool {
        self.started.elapsed() > PENDING_TTL
    }

    pub fn view(&self, state: &str) -> PendingView {
        let (kind, provider, url) = match &self.waiting {
            Waiting::Browser { url, provider } => ("browser", provider.clone(), Some(url.clone())),
            Waiting::MagicLink { .. } => (
                "magic_link",
                ProviderType::MagicLink.as_str().to_string(),
                None,
            ),
            Waiting::MfaPasskey { url, .. } | Waiting::AddPasskey { url, .. } => (
                "browser",
                ProviderType::Passkey.as_str().to_string(),
                Some(url.clone()),
            ),
        };
        PendingView {
            state: state.into(),
            connection: self.connection.clone(),
            provider,
            kind: kind.into(),
            url,
        }
    }
}

/// A browser or magic-link sign-in that ended (or failed and still waits, `still_waiting`),
/// for whoever started it and waits for it (the local agent's `login`). Sent on
/// `Desktop::sign_in_done` next to the window's `SignInFinished`.
#[derive(Debug, Clone)]
pub(crate) struct SignInDone {
    pub state: String,
    /// The account signed in (connection id, user id), when it worked.
    pub account: Option<(String, String)>,
    pub message: String,
    pub still_waiting: bool,
}

/// An SMS sign-in code waiting to be typed: the SDK's flow and when it was asked for.
pub(crate) struct SmsWaiting {
    flow: PendingSmsCode,
    started: Instant,
}

fn sms_key(connection: &str, phone: &str) -> (String, String) {
    (connection.to_string(), phone.trim().to_string())
}

impl Desktop {
    pub async fn sign_in(
        self: &Arc<Self>,
        connection: &str,
        request: SignIn,
    ) -> Result<AccountView> {
        let credentials = self.form_credentials(connection, &request)?;
        let (app, offline) = self.app(connection).await?;
        let signed_in = Desktop::track(&offline, app.log_in(credentials).await);
        // A challenge means the code was right (and spent) too.
        let spent = match &signed_in {
            Ok(_) => true,
            Err(DesktopError::Sdk(e)) => e.mfa_challenge().is_some(),
            Err(_) => false,
        };
        if let (true, SignIn::SmsCode { phone, .. }) = (spent, &request) {
            lock(&self.sms_codes).remove(&sms_key(connection, phone));
        }
        let user = self.hold_challenge(connection, signed_in)?;
        self.signed_in(connection, &app, &user).await
    }

    /// A form's credentials; an SMS code goes with the verifier of the send that asked for it
    /// on this connection and number (the window never sees it).
    pub(crate) fn form_credentials(
        &self,
        connection: &str,
        request: &SignIn,
    ) -> Result<Credentials> {
        let SignIn::SmsCode { phone, code } = request else {
            return request.credentials();
        };
        let key = sms_key(connection, required(phone, "The phone number")?);
        let code = required(code, "The code")?;
        let mut codes = lock(&self.sms_codes);
        codes.retain(|_, w| w.started.elapsed() <= PENDING_TTL);
        codes
            .get(&key)
            .map(|w| Credentials::sms_code(&w.flow, code))
            .ok_or_else(|| {
                DesktopError::InvalidInput(
                    "Send a code to this number first (or again: codes expire)".into(),
                )
            })
    }

    pub(crate) async fn signed_in(
        self: &Arc<Self>,
        connection: &str,
        app: &App,
        user: &User,
    ) -> Result<AccountView> {
        self.activate(connection, app, user).await?;
        let conns = self.connections.read().await;
        let c = conns
            .iter()
            .find(|c| c.id == connection)
            .ok_or_else(|| DesktopError::UnknownConnection(connection.into()))?;
        Ok(crate::desktop::account_view(c, user, true))
    }

    pub async fn register_email(
        self: &Arc<Self>,
        connection: &str,
        email: &str,
        password: &str,
    ) -> Result<()> {
        let (app, offline) = self.app(connection).await?;
        Desktop::track(
            &offline,
            app.email_password_auth()
                .register(required(email, "The email address")?, password)
                .await,
        )
    }

    /// Accepts the whole confirmation link (or just `token`/`tokenId` pasted as a query).
    pub async fn confirm_email(self: &Arc<Self>, connection: &str, link: &str) -> Result<()> {
        let (token, token_id) = token_pair(link)?;
        let (app, offline) = self.app(connection).await?;
        Desktop::track(
            &offline,
            app.email_password_auth().confirm(&token, &token_id).await,
        )
    }

    pub async fn resend_confirmation(
        self: &Arc<Self>,
        connection: &str,
        email: &str,
    ) -> Result<()> {
        let (app, offline) = self.app(connection).await?;
        Desktop::track(
            &offline,
            app.email_password_auth()
                .resend_confirmation(required(email, "The email address")?)
                .await,
        )
    }

    pub async fn send_password_reset(
        self: &Arc<Self>,
        connection: &str,
        email: &str,
    ) -> Result<()> {
        let (app, offline) = self.app(connection).await?;
        Desktop::track(
            &offline,
            app.email_password_auth()
                .send_reset_password_email(required(email, "The email address")?)
                .await,
        )
    }

    pub async fn reset_password(
        self: &Arc<Self>,
        connection: &str,
        link: &str,
        password: &str,
    ) -> Result<()> {
        let (token, token_id) = token_pair(link)?;
        let (app, offline) = self.app(connection).await?;
        Desktop::track(
            &offline,
            app.email_password_auth()
                .reset_password(&token, &token_id, password)
                .await,
        )
    }

    /// Registers a phone account; with `code`, confirms one that was registered before.
    pub async fn register_phone(
        self: &Arc<Self>,
        connection: &str,
        phone: &str,
        password: &str,
        code: Option<String>,
    ) -> Result<()> {
        let (app, offline) = self.app(connection).await?;
        let phone = required(phone, "The phone number")?;
        let auth = app.phone_password_auth();
        match code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(code) => Desktop::track(&offline, auth.confirm(phone, code).await),
            None => Desktop::track(&offline, auth.register(phone, password).await),
        }
    }

    pub async fn send_sms_code(self: &Arc<Self>, connection: &str, phone: &str) -> Result<()> {
        let (app, offline) = self.app(connection).await?;
        let phone = required(phone, "The phone number")?;
        let flow = Desktop::track(&offline, app.send_sms_code(phone).await)?;
        // A new send for the same number starts a new flow; the older code is then abandoned.
        lock(&self.sms_codes).insert(
            sms_key(connection, phone),
            SmsWaiting {
                flow,
                started: Instant::now(),
            },
        );
        Ok(())
    }

    /// Opens the system browser at the provider's sign-in; finishes when the deep link comes
    /// back. With `link_user`, the identity is added to that account instead.
    pub async fn begin_browser_sign_in(
        self: &Arc<Self>,
        connection: &str,
        provider: &str,
        link_user: Option<String>,
    ) -> Result<StartedSignIn> {
        let started = match &link_user {
            Some(id) => {
                let (_, user, offline) = self.user(connection, id).await?;
                Desktop::track(
                    &offline,
                    user.begin_redirect_link(provider, REDIRECT_URI).await,
                )?
            }
            None => self
                .app(connection)
                .await?
                .0
                .begin_redirect_login(provider, REDIRECT_URI)?,
        };
        lock(&self.pending).insert(
            started.state.clone(),
            Pending {
                connection: connection.into(),
                waiting: Waiting::Browser {
                    url: started.url.clone(),
                    provider: provider.into(),
                },
                started: Instant::now(),
            },
        );
        if let Err(e) = self.shell.open_browser(&started.url) {
            self.shell.emit(UiEvent::notice(
                "warning",
                DesktopError::Browser(e).to_string(),
            ));
        }
        Ok(StartedSignIn {
            state: started.state,
            url: Some(started.url),
        })
    }

    /// Mails a sign-in link; with `link_user`, the link adds the address to that account
    /// instead of signing in.
    pub async fn begin_magic_link(
        self: &Arc<Self>,
        connection: &str,
        email: &str,
        link_user: Option<String>,
    ) -> Result<StartedSignIn> {
        if let Some(id) = &link_user {
            self.user(connection, id).await?;
        }
        let (app, offline) = self.app(connection).await?;
        let sent = Desktop::track(
            &offline,
            app.send_magic_link(required(email, "The email address")?, REDIRECT_URI)
                .await,
        )?;
        let state = sent.state.clone();
        lock(&self.pending).insert(
            state.clone(),
            Pending {
                connection: connection.into(),
                waiting: Waiting::MagicLink {
                    flow: sent,
                    link_user,
                },
                started: Instant::now(),
            },
        );
        Ok(StartedSignIn { state, url: None })
    }

    pub async fn cancel_pending(self: &Arc<Self>, state: &str) -> Result<()> {
        let pending = lock(&self.pending)
            .remove(state)
            .ok_or(DesktopError::NoPending)?;
        let _ = self.sign_in_done.send(SignInDone {
            state: state.into(),
            account: None,
            message: "The sign-in was cancelled in the app".into(),
            still_waiting: false,
        });
        if let Waiting::Browser { .. } = pending.waiting {
            // The SDK keeps the verifier too: forget it there, so a late redirect cannot finish.
            if let Ok((app, _)) = self.app(&pending.connection).await {
                app.cancel_redirect_login(state);
            }
        }
        self.shell.emit(UiEvent::AccountsChanged);
        Ok(())
    }

    /// "Type the code instead": the magic-link code from the mail, or for a browser sign-in the
    /// code (or the whole `gatehouse://` address) the browser could not hand over.
    pub async fn complete_with_code(
        self: &Arc<Self>,
        state: &str,
        code: &str,
    ) -> Result<AccountView> {
        let code = required(code, "The code")?.to_string();
        let url = if code.starts_with("gatehouse:") {
            code.clone()
        } else {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("code", &code)
                .append_pair("state", state)
                .finish();
            format!("{REDIRECT_URI}?{query}")
        };
        self.finish(state, Some(code), &url).await
    }

    /// A `gatehouse://` address from the deep-link plugin (warm start: from a second instance;
    /// cold start: from this process's arguments). Links this app did not start are refused.
    pub async fn complete_from_url(self: &Arc<Self>, raw: &str) -> Result<AccountView> {
        self.ready().await;
        let refused = |why: &str| {
            self.shell.emit(UiEvent::notice(
                "warning",
                format!("A sign-in link was refused: {why}. Nothing was changed."),
            ));
            Err(DesktopError::Sdk(gatehouse_client::Error::UnknownRedirect))
        };
        let Ok(url) = url::Url::parse(raw) else {
            return refused("it is not a valid address");
        };
        if url.scheme() != "gatehouse"
            || url.host_str() != Some("auth")
            || url.path() != "/callback"
        {
            return refused("it is not a gatehouse://auth/callback address");
        }
        let params = match gatehouse_client::callback_url::CallbackUrl::parse(raw) {
            Ok(params) => params,
            Err(e) => return refused(&e.to_string()),
        };
        let Some(state) = params.get("state") else {
            return refused("it names no sign-in");
        };
        if !lock(&self.pending).contains_key(&state) {
            return refused(
                "it does not belong to a sign-in started in this app (or that sign-in already \
                 finished)",
            );
        }
        self.finish(&state, None, raw).await
    }

    /// The link this process was started with (cold start). Shown as a notice with the
    /// overview, because the window was not listening yet.
    pub async fn startup_link(self: &Arc<Self>, raw: &str) {
        self.ready().await;
        let address = raw.split('?').next().unwrap_or(raw);
        self.push_notice(format!(
            "The app was opened with a sign-in link ({address}) that belongs to a sign-in started \
             before the app was closed; it was ignored. Start the sign-in again from here."
        ));
        self.shell.emit(UiEvent::AccountsChanged);
    }

    async fn finish(
        self: &Arc<Self>,
        state: &str,
        typed: Option<String>,
        url: &str,
    ) -> Result<AccountView> {
        let pending = lock(&self.pending)
            .remove(state)
            .filter(|p| !p.expired())
            .ok_or(DesktopError::NoPending)?;
        let connection = pending.connection.clone();
        let result = self
            .redeem(&connection, &pending.waiting, typed.as_deref(), url)
            .await;
        if let Ok(account) = &result {
            let _ = self.sign_in_done.send(SignInDone {
                state: state.into(),
                account: Some((account.connection.clone(), account.id.clone())),
                message: format!("Signed in as {}", account.display_name),
                still_waiting: false,
            });
        }
        match &result {
            Ok(account) => self.shell.emit(UiEvent::SignInFinished {
                state: state.into(),
                ok: true,
                message: match &pending.waiting {
                    Waiting::MagicLink {
                        link_user: Some(_), ..
                    } => format!("The address is now linked to {}", account.display_name),
                    Waiting::AddPasskey { .. } => {
                        format!("A passkey was added to {}", account.display_name)
                    }
                    _ => format!("Signed in as {}", account.display_name),
                },
                connection: Some(account.connection.clone()),
                user: Some(account.id.clone()),
            }),
            Err(e) => {
                // Keep waiting when trying again can work: the server was unreachable (the SDK
                // kept its half too), or a typed magic-link code was wrong.
                let retry = matches!(e, DesktopError::Sdk(s) if s.is_transient())
                    || (typed.is_some() && matches!(pending.waiting, Waiting::MagicLink { .. }));
                let message = e.to_string();
                if retry {
                    lock(&self.pending).insert(state.into(), pending);
                }
                let _ = self.sign_in_done.send(SignInDone {
                    state: state.into(),
                    account: None,
                    message: message.clone(),
                    still_waiting: retry,
                });
                self.shell.emit(UiEvent::SignInFinished {
                    state: state.into(),
                    ok: false,
                    message,
                    connection: None,
                    user: None,
                });
            }
        }
        self.shell.emit(UiEvent::AccountsChanged);
        result
    }

    /// Spends what came back (redirect or typed code): signs in, or for a magic link started
    /// from "Link", adds the address to that account.
    async fn redeem(
        self: &Arc<Self>,
        connection: &str,
        waiting: &Waiting,
        typed: Option<&str>,
        url: &str,
    ) -> Result<AccountView> {
        let (app, offline) = self.app(connection).await?;
        let user = match waiting {
            Waiting::Browser { .. } => app.complete_redirect_login(url).await,
            Waiting::MfaPasskey { challenge, .. } => {
                let answer = Desktop::track(&offline, app.complete_redirect_login(url).await);
                self.settle_challenge(challenge, &answer);
                let user = answer?;
                let account = self.signed_in(connection, &app, &user).await?;
                self.announce_signed_in(challenge, &account);
                return Ok(account);
            }
            Waiting::AddPasskey { user, .. } => {
                let (_, user, _) = self.user(connection, user).await?;
                Desktop::track(
                    &offline,
                    user.mfa().complete_passkey_registration(url).await,
                )?;
                return self.account_of(connection, &user).await;
            }
            Waiting::MagicLink {
                flow,
                link_user: None,
            } => match typed {
                Some(code) => app.complete_magic_link_with_code(flow, code).await,
                None => app.complete_magic_link(flow, url).await,
            },
            Waiting::MagicLink {
                flow,
                link_user: Some(id),
            } => {
                let credentials = match typed {
                    Some(code) => flow.credentials_with_code(code),
                    None => flow.credentials_from_redirect(url)?,
                };
                let (_, user, _) = self.user(connection, id).await?;
                user.link_credentials(credentials).await.map(|()| user)
            }
        };
        let user = self.hold_challenge(connection, Desktop::track(&offline, user))?;
        self.signed_in(connection, &app, &user).await
    }

    /// The account's view as it is (not made active).
    async fn account_of(self: &Arc<Self>, connection: &str, user: &User) -> Result<AccountView> {
        let active = lock(&self.settings)
            .active
            .as_ref()
            .is_some_and(|a| a.connection == connection && a.user == user.id());
        let conns = self.connections.read().await;
        let c = conns
            .iter()
            .find(|c| c.id == connection)
            .ok_or_else(|| DesktopError::UnknownConnection(connection.into()))?;
        Ok(crate::desktop::account_view(c, user, active))
    }
}

/// `token` and `tokenId` from a confirmation or reset link, or from `token=…&tokenId=…`.
fn token_pair(link: &str) -> Result<(String, String)> {
    let link = link.trim();
    let query = match url::Url::parse(link) {
        Ok(u) => u.query().unwrap_or_default().to_string(),
        Err(_) => link.trim_start_matches('?').to_string(),
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    match (get("token"), get("tokenId")) {
        (Some(t), Some(id)) => Ok((t, id)),
        _ => Err(DesktopError::InvalidInput(
            "Paste the whole link from the mail (it contains token and tokenId)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_checked_before_anything_is_sent() {
        let bad = |s: SignIn| s.credentials().map(|_| ()).unwrap_err().to_string();
        assert!(bad(SignIn::Email {
            email: " ".into(),
            password: "x".into()
        })
        .contains("email address is missing"));
        assert!(bad(SignIn::Email {
            email: "a@b.c".into(),
            password: String::new()
        })
        .contains("password is missing"));
        assert!(bad(SignIn::Function {
            payload: "{nope".into()
        })
        .contains("not valid JSON"));
        assert!(bad(SignIn::Function {
            payload: "[1]".into()
        })
        .contains("JSON object"));
        assert_eq!(
            SignIn::Function {
                payload: r#"{"u":"ada"}"#.into()
            }
            .credentials()
            .unwrap()
            .provider(),
            "custom-function"
        );
    }

    #[test]
    fn confirmation_links_give_their_token_pair() {
        assert_eq!(
            token_pair("http://127.0.0.1:5/app/x/confirm?token=t1&tokenId=i1").unwrap(),
            ("t1".into(), "i1".into())
        );
        assert_eq!(
            token_pair("token=t1&tokenId=i1").unwrap(),
            ("t1".into(), "i1".into())
        );
        assert_eq!(
            token_pair("http://x/confirm?token=t1").unwrap_err().code(),
            "InvalidInput"
        );
    }
}
