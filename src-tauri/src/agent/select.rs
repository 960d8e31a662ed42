//! Which account a request means: `account` is an id (exact), an email or a display name
//! (case-insensitive, exact); `connection` an id or a name. Nothing named: the active account.
//! Several matches are an error listing them, never a guess.

use std::sync::Arc;

use gatehouse_client::User;
use gatehouse_proto::agent::{AccountSelector, AgentAccount, AgentError, AgentErrorCode};

use crate::desktop::{account_view, Connection, Desktop};
use crate::sync::lock;
use crate::views::{AccountState, AccountView};

/// The account a request resolved to, with what the answers need.
pub(crate) struct Resolved {
    pub user: User,
    pub view: AccountView,
    pub url: String,
    pub app_id: String,
}

pub(crate) fn agent_account(v: &AccountView) -> AgentAccount {
    AgentAccount {
        connection: v.connection.clone(),
        connection_name: v.connection_name.clone(),
        id: v.id.clone(),
        display_name: v.display_name.clone(),
        email: v.email.clone(),
        provider: v.provider.clone(),
        state: match v.state {
            AccountState::Active => "active",
            AccountState::LoggedIn => "logged_in",
            AccountState::LoggedOut => "logged_out",
            AccountState::Offline => "offline",
        }
        .into(),
        active: v.state == AccountState::Active,
        reauth_at: v.reauth_at,
    }
}

/// The connection `name` means (id exact, or name case-insensitive).
pub(crate) fn connection_matches(c: &Connection, name: &str) -> bool {
    c.id == name || c.name.eq_ignore_ascii_case(name.trim())
}

fn user_matches(view: &AccountView, wanted: &str) -> bool {
    let wanted = wanted.trim();
    view.id == wanted
        || view
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(wanted))
        || view.display_name.to_lowercase() == wanted.to_lowercase()
}

pub(crate) async fn resolve(
    desktop: &Arc<Desktop>,
    select: &AccountSelector,
) -> Result<Resolved, AgentError> {
    desktop.ready().await;
    let active = lock(&desktop.settings).active.clone();
    let conns = desktop.connections.read().await;
    let wanted_conn = select
        .connection
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let in_scope: Vec<&Connection> = conns
        .iter()
        .filter(|c| wanted_conn.is_none_or(|w| connection_matches(c, w)))
        .collect();
    if let (Some(w), true) = (wanted_conn, in_scope.is_empty()) {
        return Err(AgentError::new(
            AgentErrorCode::UnknownConnection,
            format!("There is no connection {w:?} in the app"),
        ));
    }
    let is_active = |c: &Connection, u: &User| {
        active
            .as_ref()
            .is_some_and(|a| a.connection == c.id && a.user == u.id())
    };
    let mut found: Vec<(&Connection, User, AccountView)> = Vec::new();
    for c in &in_scope {
        let Some(app) = &c.app else { continue };
        for user in app.all_users() {
            let view = account_view(c, &user, is_active(c, &user));
            let hit = match select.account.as_deref().filter(|a| !a.trim().is_empty()) {
                Some(wanted) => user_matches(&view, wanted),
                None => view.state == AccountState::Active,
            };
            if hit {
                found.push((c, user, view));
            }
        }
    }
    if found.is_empty() && select.account.is_none() && wanted_conn.is_some() {
        // That connection's own last active account.
        if let Some((c, user)) = in_scope
            .iter()
            .find_map(|c| Some((*c, c.app.as_ref()?.current_user()?)))
        {
            let view = account_view(c, &user, is_active(c, &user));
            found.push((c, user, view));
        }
    }
    match found.len() {
        0 => Err(AgentError::new(
            AgentErrorCode::UnknownAccount,
            match &select.account {
                Some(a) => format!("No account in the app matches {a:?}"),
                None => "No account is active: sign in in the app or name an account".into(),
            },
        )),
        1 => {
            let (c, user, view) = found.remove(0);
            Ok(Resolved {
                user,
                view,
                url: c.url.clone(),
                app_id: c.app_id.clone(),
            })
        }
        _ => {
            let mut e = AgentError::new(
                AgentErrorCode::AmbiguousAccount,
                format!(
                    "{:?} matches {} accounts: name one by its id, or add the connection",
                    select.account.as_deref().unwrap_or_default(),
                    found.len()
                ),
            );
            e.candidates = found.iter().map(|(_, _, v)| agent_account(v)).collect();
            Err(e)
        }
    }
}

/// The account with exactly this connection and user id (a host mapping names one).
pub(crate) async fn resolve_exact(
    desktop: &Arc<Desktop>,
    connection: &str,
    user_id: &str,
) -> Result<Resolved, AgentError> {
    desktop.ready().await;
    let active = lock(&desktop.settings).active.clone();
    let conns = desktop.connections.read().await;
    let gone = || {
        AgentError::new(
            AgentErrorCode::UnknownAccount,
            "The account mapped to that host is not in the app any more: map the host again",
        )
    };
    let c = conns.iter().find(|c| c.id == connection).ok_or_else(gone)?;
    let user = c
        .app
        .as_ref()
        .ok_or_else(gone)?
        .all_users()
        .into_iter()
        .find(|u| u.id() == user_id)
        .ok_or_else(gone)?;
    let is_active = active
        .as_ref()
        .is_some_and(|a| a.connection == c.id && a.user == user_id);
    Ok(Resolved {
        view: account_view(c, &user, is_active),
        user,
        url: c.url.clone(),
        app_id: c.app_id.clone(),
    })
}
