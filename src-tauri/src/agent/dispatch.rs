//! What the app does for each agent command. `token`, `credential` and `api_key` act as an
//! account: they need the person's consent for the asking program (or its "always" grant);
//! the others hand out nothing that acts. Errors become the protocol's stable codes.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use gatehouse_client::{ProviderType, UserState};
use gatehouse_proto::agent::{
    AccountSelector, AgentApiKey, AgentCommand, AgentConnection, AgentCredential, AgentError,
    AgentErrorCode, AgentResult, AgentSecret, AgentStatus, AgentToken, ApiKeyAction, LoginRequest,
};

use super::select::{agent_account, connection_matches, resolve, resolve_exact, Resolved};
use super::Gone;
use crate::consent::Outcome;
use crate::desktop::Desktop;
use crate::error::DesktopError;
use crate::sign_in::{SignIn, PENDING_TTL};
use crate::sync::lock;
use crate::views::{ConsentPrompt, Overview, ProgramView};

type Answer = Result<AgentResult, AgentError>;

fn err(code: AgentErrorCode, message: impl Into<String>) -> AgentError {
    AgentError::new(code, message)
}

/// The command's name, for the log (never its body).
pub(crate) fn command_name(c: &AgentCommand) -> &'static str {
    match c {
        AgentCommand::Status => "status",
        AgentCommand::Switch { .. } => "switch",
        AgentCommand::Token { .. } => "token",
        AgentCommand::Credential { .. } => "credential",
        AgentCommand::Login(_) => "login",
        AgentCommand::Logout { .. } => "logout",
        AgentCommand::ApiKey { .. } => "api_key",
    }
}

pub(crate) async fn dispatch(
    d: &Arc<Desktop>,
    command: AgentCommand,
    program: Option<&ProgramView>,
    gone: &mut Gone<'_>,
) -> Answer {
    match command {
        AgentCommand::Status => Ok(AgentResult::Status(status(d.peek_overview().await))),
        AgentCommand::Switch { select } => switch(d, &select).await,
        AgentCommand::Token { select } => token(d, &select, program, gone).await,
        AgentCommand::Credential { host, .. } => credential(d, &host, program, gone).await,
        AgentCommand::Login(request) => login(d, request, gone).await,
        AgentCommand::Logout { select } => {
            let r = resolve(d, &select).await?;
            let mut ov = d
                .log_out(&r.view.connection, &r.view.id)
                .await
                .map_err(map_error)?;
            d.keep_notices(&mut ov);
            Ok(AgentResult::Status(status(ov)))
        }
        AgentCommand::ApiKey { select, action } => api_key(d, &select, action, program, gone).await,
    }
}

/// A `DesktopError` (most often the SDK's) as the protocol's code and the same sentence.
pub(crate) fn map_error(e: DesktopError) -> AgentError {
    use gatehouse_client::Error as Sdk;
    let code = match &e {
        DesktopError::Sdk(s) if s.is_transient() => AgentErrorCode::Unavailable,
        DesktopError::Sdk(Sdk::Keychain { .. }) => AgentErrorCode::Unavailable,
        DesktopError::Sdk(Sdk::LoggedOut(_) | Sdk::UnknownUser(_)) => {
            AgentErrorCode::SignInRequired
        }
        DesktopError::Sdk(s) if s.is_invalid_session() => AgentErrorCode::SignInRequired,
        DesktopError::Sdk(Sdk::RecentSignInRequired { .. }) => AgentErrorCode::RecentSignInRequired,
        DesktopError::UnknownConnection(_) => AgentErrorCode::UnknownConnection,
        DesktopError::UnknownAccount | DesktopError::NoActiveAccount => {
            AgentErrorCode::UnknownAccount
        }
        DesktopError::Unavailable(_) | DesktopError::LocalBackend(_) => AgentErrorCode::Unavailable,
        DesktopError::InvalidInput(_) => AgentErrorCode::BadRequest,
        _ => AgentErrorCode::Server,
    };
    err(code, e.to_string())
}

fn tracked<T>(
    offline: &std::sync::atomic::AtomicBool,
    r: gatehouse_client::Result<T>,
) -> Result<T, AgentError> {
    Desktop::track(offline, r).map_err(map_error)
}

fn status(ov: Overview) -> AgentStatus {
    AgentStatus {
        app_version: env!("CARGO_PKG_VERSION").into(),
        storage: ov.secrets.storage,
        connections: ov
            .connections
            .into_iter()
            .map(|c| AgentConnection {
                id: c.id,
                name: c.name,
                url: c.url,
                app_id: c.app_id,
                local: c.local,
                status: c.status,
                problem: c.problem,
            })
            .collect(),
        accounts: ov.accounts.iter().map(agent_account).collect(),
    }
}

fn signed_in(r: &Resolved) -> Result<(), AgentError> {
    if r.user.state() == UserState::LoggedIn {
        return Ok(());
    }
    Err(err(
        AgentErrorCode::SignInRequired,
        format!(
            "{} is signed out: sign in to it again in the app (or with gatehouse login)",
            r.view.display_name
        ),
    ))
}

/// The person's consent for `program` to act as the account: its "always" grant, else a
/// prompt. The program going away withdraws the prompt.
async fn consent(
    d: &Arc<Desktop>,
    program: Option<&ProgramView>,
    r: &Resolved,
    purpose: &str,
    host: Option<String>,
    gone: &mut Gone<'_>,
) -> Result<(), AgentError> {
    let program = program.ok_or_else(|| {
        err(
            AgentErrorCode::Forbidden,
            "The asking program could not be identified (it may have exited)",
        )
    })?;
    if d.use_grant(&program.exe, &r.view.connection, &r.view.id)
        .await
    {
        return Ok(());
    }
    let prompt = ConsentPrompt {
        id: String::new(),
        purpose: purpose.into(),
        program: program.clone(),
        account: r.view.clone(),
        connection_name: r.view.connection_name.clone(),
        host,
        expires_at_ms: 0,
    };
    let outcome = tokio::select! {
        o = d.ask_consent(prompt) => Some(o),
        () = gone.wait() => None,
    };
    match outcome {
        Some(Outcome::Allowed) => Ok(()),
        Some(Outcome::Denied) => Err(err(
            AgentErrorCode::ConsentDenied,
            format!(
                "The request to use {} was denied in the Gatehouse app",
                r.view.display_name
            ),
        )),
        Some(Outcome::Timeout) => Err(err(
            AgentErrorCode::ConsentTimeout,
            format!(
                "Nobody answered the Gatehouse app's prompt to use {} in time",
                r.view.display_name
            ),
        )),
        None => Err(err(AgentErrorCode::ConsentDenied, "The program went away")),
    }
}

/// A usable access token (the SDK refreshes it, single flight, when it is about to expire).
async fn access_token(d: &Arc<Desktop>, r: &Resolved) -> Result<String, AgentError> {
    let (_, user, offline) = d
        .user(&r.view.connection, &r.view.id)
        .await
        .map_err(map_error)?;
    Desktop::track(&offline, user.valid_access_token().await).map_err(map_error)
}

/// The token's `exp` claim (our own server's JWT: read, not verified).
fn jwt_exp(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()
}

async fn token(
    d: &Arc<Desktop>,
    select: &AccountSelector,
    program: Option<&ProgramView>,
    gone: &mut Gone<'_>,
) -> Answer {
    let r = resolve(d, select).await?;
    signed_in(&r)?;
    consent(d, program, &r, "token", None, gone).await?;
    let token = access_token(d, &r).await?;
    Ok(AgentResult::Token(AgentToken {
        expires_at: jwt_exp(&token),
        access_token: AgentSecret(token),
        base_url: r.url.clone(),
        app_id: r.app_id.clone(),
        account: agent_account(&r.view),
    }))
}

async fn credential(
    d: &Arc<Desktop>,
    host: &str,
    program: Option<&ProgramView>,
    gone: &mut Gone<'_>,
) -> Answer {
    let host = crate::host_accounts::normalise_host(host).ok_or_else(|| {
        err(
            AgentErrorCode::BadRequest,
            format!("{host:?} is not a host name"),
        )
    })?;
    d.ready().await;
    let mapping = d.host_account(&host).ok_or_else(|| {
        err(
            AgentErrorCode::NoMapping,
            format!(
                "No account is mapped to {host}: choose one in the Gatehouse app (Connections, \
                 \"use this account for these hosts\")"
            ),
        )
    })?;
    let r = resolve_exact(d, &mapping.connection, &mapping.user).await?;
    signed_in(&r)?;
    consent(d, program, &r, "git_credential", Some(host), gone).await?;
    let token = access_token(d, &r).await?;
    Ok(AgentResult::Credential(AgentCredential {
        username: r
            .view
            .email
            .clone()
            .unwrap_or_else(|| r.view.display_name.clone()),
        expires_at: jwt_exp(&token),
        password: AgentSecret(token),
        account: agent_account(&r.view),
    }))
}

async fn switch(d: &Arc<Desktop>, select: &AccountSelector) -> Answer {
    let r = resolve(d, select).await?;
    signed_in(&r)?;
    let mut ov = d
        .switch_account(&r.view.connection, &r.view.id)
        .await
        .map_err(map_error)?;
    d.keep_notices(&mut ov);
    let now = ov
        .accounts
        .iter()
        .find(|a| a.connection == r.view.connection && a.id == r.view.id)
        .unwrap_or(&r.view);
    Ok(AgentResult::Account(agent_account(now)))
}

/// The connection a login goes to: the one named, else the active account's, else Local,
/// else the first.
async fn login_connection(d: &Arc<Desktop>, named: Option<&str>) -> Result<String, AgentError> {
    d.ready().await;
    let active = lock(&d.settings).active.clone();
    let conns = d.connections.read().await;
    if let Some(name) = named.map(str::trim).filter(|n| !n.is_empty()) {
        return conns
            .iter()
            .find(|c| connection_matches(c, name))
            .map(|c| c.id.clone())
            .ok_or_else(|| {
                err(
                    AgentErrorCode::UnknownConnection,
                    format!("There is no connection {name:?} in the app"),
                )
            });
    }
    active
        .map(|a| a.connection)
        .or_else(|| conns.iter().find(|c| c.local).map(|c| c.id.clone()))
        .or_else(|| conns.first().map(|c| c.id.clone()))
        .ok_or_else(|| {
            err(
                AgentErrorCode::UnknownConnection,
                "The app has no connection",
            )
        })
}

fn sign_in_error(e: DesktopError) -> AgentError {
    let mapped = map_error(e);
    match mapped.code {
        AgentErrorCode::Server | AgentErrorCode::SignInRequired => {
            err(AgentErrorCode::SignInFailed, mapped.message)
        }
        _ => mapped,
    }
}

async fn login(d: &Arc<Desktop>, request: LoginRequest, gone: &mut Gone<'_>) -> Answer {
    let connection = login_connection(d, request.connection.as_deref()).await?;
    let provider = request.provider.trim().to_string();
    let enabled = d.providers(&connection).await.map_err(map_error)?;
    if !enabled.iter().any(|p| p.provider_type == provider) {
        let names: Vec<&str> = enabled.iter().map(|p| p.provider_type.as_str()).collect();
        return Err(err(
            AgentErrorCode::UnsupportedProvider,
            format!(
                "{provider:?} is not enabled on this connection (enabled: {})",
                names.join(", ")
            ),
        ));
    }
    let username = || {
        request
            .username
            .clone()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| err(AgentErrorCode::BadRequest, "The username is missing"))
    };
    let password = || {
        request
            .password
            .as_ref()
            .map(|p| p.expose().to_string())
            .filter(|p| !p.is_empty())
            .ok_or_else(|| err(AgentErrorCode::BadRequest, "The password is missing"))
    };
    use ProviderType as P;
    let form = match ProviderType::parse(&provider) {
        Some(P::Anonymous) => SignIn::Anonymous { new: false },
        Some(P::Userpass) => SignIn::Email {
            email: username()?,
            password: password()?,
        },
        Some(P::PhonePassword) => SignIn::Phone {
            phone: username()?,
            password: password()?,
        },
        Some(P::Google | P::Apple | P::Facebook | P::Github | P::Discord | P::Twitter) => {
            return browser_login(d, &connection, &provider, gone).await;
        }
        _ => {
            return Err(err(
                AgentErrorCode::UnsupportedProvider,
                format!("{provider} cannot be used from a terminal: sign in in the app"),
            ))
        }
    };
    let view = d.sign_in(&connection, form).await.map_err(sign_in_error)?;
    Ok(AgentResult::Account(agent_account(&view)))
}

/// Opens the browser at the provider and waits for the deep link's outcome (at most as long
/// as the sign-in stays pending). The asking program going away cancels it.
async fn browser_login(
    d: &Arc<Desktop>,
    connection: &str,
    provider: &str,
    gone: &mut Gone<'_>,
) -> Answer {
    let mut done = d.sign_in_done.subscribe();
    let started = d
        .begin_browser_sign_in(connection, provider, None)
        .await
        .map_err(sign_in_error)?;
    let wait = async {
        loop {
            match done.recv().await {
                Ok(x) if x.state == started.state && !x.still_waiting => return Some(x),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    let outcome = tokio::select! {
        x = tokio::time::timeout(PENDING_TTL + Duration::from_secs(1), wait) => x.ok().flatten(),
        () = gone.wait() => None,
    };
    let Some(finished) = outcome else {
        let _ = d.cancel_pending(&started.state).await;
        return Err(err(
            AgentErrorCode::SignInFailed,
            "The browser sign-in did not finish in time (or was abandoned)",
        ));
    };
    let Some((conn, user)) = finished.account else {
        return Err(err(AgentErrorCode::SignInFailed, finished.message));
    };
    let r = resolve_exact(d, &conn, &user).await?;
    Ok(AgentResult::Account(agent_account(&r.view)))
}

async fn api_key(
    d: &Arc<Desktop>,
    select: &AccountSelector,
    action: ApiKeyAction,
    program: Option<&ProgramView>,
    gone: &mut Gone<'_>,
) -> Answer {
    let r = resolve(d, select).await?;
    signed_in(&r)?;
    if crate::views::is_anonymous(&r.user) {
        return Err(err(
            AgentErrorCode::Server,
            "Anonymous accounts cannot have API keys",
        ));
    }
    consent(d, program, &r, "api_keys", None, gone).await?;
    let (_, user, offline) = d
        .user(&r.view.connection, &r.view.id)
        .await
        .map_err(map_error)?;
    let keys = user.api_keys();
    let view = |k: gatehouse_client::ApiKey| AgentApiKey {
        created_at: crate::views::object_id_time(&k.id),
        id: k.id,
        name: k.name,
        enabled: !k.disabled,
    };
    match action {
        ApiKeyAction::List => Ok(AgentResult::ApiKeys {
            keys: tracked(&offline, keys.fetch_all().await)?
                .into_iter()
                .map(view)
                .collect(),
        }),
        ApiKeyAction::Create { name } => {
            let name = name.trim();
            if name.is_empty() {
                return Err(err(AgentErrorCode::BadRequest, "Give the key a name"));
            }
            let mut created = tracked(&offline, keys.create(name).await)?;
            let secret = created.key.take().ok_or_else(|| {
                err(
                    AgentErrorCode::Server,
                    "The new key came back without its secret",
                )
            })?;
            Ok(AgentResult::NewApiKey {
                key: view(created),
                secret: AgentSecret(secret),
            })
        }
        ApiKeyAction::Enable { id } => {
            tracked(&offline, keys.enable(&id).await).map(|()| AgentResult::Done)
        }
        ApiKeyAction::Disable { id } => {
            tracked(&offline, keys.disable(&id).await).map(|()| AgentResult::Done)
        }
        ApiKeyAction::Delete { id } => {
            tracked(&offline, keys.delete(&id).await).map(|()| AgentResult::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiry_is_read_from_the_payload() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let t = format!("{}.{}.sig", b64("{}"), b64(r#"{"exp":1800000000}"#));
        assert_eq!(super::jwt_exp(&t), Some(1_800_000_000));
        assert_eq!(super::jwt_exp("nope"), None);
    }
}
