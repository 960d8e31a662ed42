//! The security centre: every account of every connection at once, each with its sessions, API
//! keys, recent activity and a one-line summary. Accounts are fetched concurrently, and one
//! account's failure (its server offline, its session ended) shows on its own card: it never
//! fails the whole view.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use gatehouse_client::{ActivityEvent, User, UserState};
use serde::Serialize;

use crate::desktop::{account_view, Desktop};
use crate::error::{DesktopError, Result};
use crate::panels::{key_view, session_view};
use crate::settings::looked_key;
use crate::sync::lock;
use crate::views::{AccountState, AccountView, ApiKeyView, SessionView};

/// How many events each card lists (the summary looks at every event fetched).
const SHOWN_EVENTS: usize = 10;

/// Events that ask for the person's attention when they happened since they last looked.
pub const UNUSUAL_KINDS: &[&str] = &[
    "refresh_token_reuse",
    "lockout",
    "new_device",
    "sign_in_failed",
];

#[derive(Debug, Clone, Serialize)]
pub struct SecurityCentre {
    pub accounts: Vec<AccountSecurity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountSecurity {
    pub account: AccountView,
    /// Signed out on this device (logged out, or the server ended its session): the card offers
    /// "Sign in again" instead of lists it cannot fetch.
    pub must_sign_in: bool,
    /// Why the lists could not be fetched (server offline, …), when they could not.
    pub problem: Option<String>,
    pub sessions: Vec<SessionView>,
    /// False for accounts that cannot have keys (anonymous ones).
    pub keys_available: bool,
    pub keys: Vec<ApiKeyView>,
    /// The newest events, newest first.
    pub activity: Vec<ActivityView>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActivityView {
    pub id: String,
    /// `sign_in`, `sign_in_failed`, … (the server's `Kind::as_str`); ui/js has the words.
    pub kind: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    /// The event's details (provider, device, …) as the server gives them.
    pub detail: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Unix seconds of the newest sign-in known (its event, else its session's start).
    pub last_sign_in: Option<i64>,
    /// Distinct devices among the live sessions.
    pub devices: usize,
    pub active_keys: usize,
    /// Unix seconds when the person last looked at this account's card.
    pub last_looked: Option<i64>,
    /// How many events of `UNUSUAL_KINDS` happened since `last_looked`, and their kinds.
    pub unusual_count: usize,
    pub unusual_kinds: Vec<String>,
}

/// What one account's card needs, taken while the connection list is locked.
struct Job {
    view: AccountView,
    user: User,
    offline: Arc<AtomicBool>,
    last_looked: Option<i64>,
}

impl Desktop {
    /// Every account on every connection, fetched concurrently.
    pub async fn security_centre(self: &Arc<Self>) -> Result<SecurityCentre> {
        self.ready().await;
        let (active, looked) = {
            let s = lock(&self.settings);
            (s.active.clone(), s.last_looked.clone())
        };
        let mut jobs = Vec::new();
        for c in self.connections.read().await.iter() {
            let Some(app) = &c.app else { continue };
            for user in app.all_users() {
                let is_active = active
                    .as_ref()
                    .is_some_and(|a| a.connection == c.id && a.user == user.id());
                jobs.push(Job {
                    view: account_view(c, &user, is_active),
                    last_looked: looked.get(&looked_key(&c.id, user.id())).copied(),
                    offline: c.offline.clone(),
                    user,
                });
            }
        }
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let view = job.view.clone();
                (view, tokio::spawn(fetch(job)))
            })
            .collect();
        let mut accounts = Vec::with_capacity(handles.len());
        for (view, handle) in handles {
            accounts.push(match handle.await {
                Ok(card) => card,
                Err(e) => failed(view, format!("the lookup stopped: {e}")),
            });
        }
        Ok(SecurityCentre { accounts })
    }

    /// The person looked at an account's card: what happened until now is no longer unusual.
    pub async fn mark_security_seen(self: &Arc<Self>, connection: &str, user: &str) -> Result<()> {
        self.user(connection, user).await?;
        lock(&self.settings).last_looked.insert(
            looked_key(connection, user),
            crate::desktop::now_ms() as i64 / 1000,
        );
        self.save_settings().await
    }

    /// Ends every session of the account, this device's too (it shows as signed out after);
    /// the next signed-in account becomes active when it was the active one.
    pub async fn revoke_all_sessions(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
    ) -> Result<crate::views::Overview> {
        let (_, user, offline) = self.user(connection, user_id).await?;
        Desktop::track(&offline, user.sessions().revoke_all().await)?;
        self.activate_next().await;
        Ok(self.overview().await)
    }
}

/// A card with nothing but the reason it is empty.
fn failed(account: AccountView, problem: String) -> AccountSecurity {
    AccountSecurity {
        account,
        must_sign_in: false,
        problem: Some(problem),
        sessions: Vec::new(),
        keys_available: false,
        keys: Vec::new(),
        activity: Vec::new(),
        summary: Summary::default(),
    }
}

async fn fetch(job: Job) -> AccountSecurity {
    let Job {
        mut view,
        user,
        offline,
        last_looked,
    } = job;
    let mut card = failed(view.clone(), String::new());
    card.problem = None;
    card.summary.last_looked = last_looked;
    if user.state() != UserState::LoggedIn {
        card.must_sign_in = true;
        return card;
    }
    let anonymous = crate::views::is_anonymous(&user);
    let keys = async {
        if anonymous {
            Ok(Vec::new())
        } else {
            user.api_keys().fetch_all().await
        }
    };
    let live = user.sessions();
    let (sessions, keys, activity) = tokio::join!(live.list(), keys, user.activity());
    let mut problems = Vec::new();
    let sessions = or_note(&offline, sessions, &mut problems);
    let keys = or_note(&offline, keys, &mut problems);
    let events = or_note(&offline, activity, &mut problems);
    // A session the server ended shows as "sign in again", not as an error.
    if user.state() != UserState::LoggedIn {
        view.state = AccountState::LoggedOut;
        card.account = view;
        card.must_sign_in = true;
        return card;
    }
    card.problem = problems.first().map(DesktopError::to_string);
    card.keys_available = !anonymous;
    card.summary = summary(&sessions, &keys, &events, last_looked);
    card.sessions = sessions.into_iter().map(session_view).collect();
    card.keys = keys.into_iter().map(key_view).collect();
    card.activity = events
        .into_iter()
        .take(SHOWN_EVENTS)
        .map(activity_view)
        .collect();
    card
}

/// The list, or an empty one with the error kept for the card.
fn or_note<T>(
    offline: &AtomicBool,
    result: gatehouse_client::Result<Vec<T>>,
    problems: &mut Vec<DesktopError>,
) -> Vec<T> {
    Desktop::track(offline, result).unwrap_or_else(|e| {
        problems.push(e);
        Vec::new()
    })
}

fn activity_view(e: ActivityEvent) -> ActivityView {
    ActivityView {
        id: e.id,
        kind: e.kind,
        ip: e.ip,
        user_agent: e.user_agent,
        created_at: e.created_at,
        detail: e.detail,
    }
}

fn summary(
    sessions: &[gatehouse_client::SessionInfo],
    keys: &[gatehouse_client::ApiKey],
    events: &[ActivityEvent],
    last_looked: Option<i64>,
) -> Summary {
    let signed_in_event = events
        .iter()
        .filter(|e| e.kind == "sign_in")
        .map(|e| e.created_at)
        .max();
    let session_start = sessions.iter().map(|s| s.created_at).max();
    let unusual: Vec<&ActivityEvent> = events
        .iter()
        .filter(|e| UNUSUAL_KINDS.contains(&e.kind.as_str()))
        .filter(|e| last_looked.is_none_or(|seen| e.created_at > seen))
        .collect();
    let kinds: BTreeSet<String> = unusual.iter().map(|e| e.kind.clone()).collect();
    Summary {
        last_sign_in: signed_in_event.max(session_start),
        devices: sessions
            .iter()
            .map(|s| s.device_id.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        active_keys: keys.iter().filter(|k| !k.disabled).count(),
        last_looked,
        unusual_count: unusual.len(),
        unusual_kinds: kinds.into_iter().collect(),
    }
}
