//! The activity log as its owner sees it (`GET /auth/activity`, a Gatehouse extension) and the
//! events the server records. Recording never decides an answer: a failed write is logged and
//! the request goes on as it would have.

use std::net::IpAddr;

use gatehouse_proto::auth::{ActivityEvent, DeviceInfo};
use serde_json::{Map, Value};

use crate::crypto::object_id;
use crate::db::Script;
use crate::error::{ApiError, ApiResult};
use crate::sessions::AccessAuth;
use crate::state::AppState;
use crate::store::activity::{self as rows, Kind, NewEvent};
use crate::store::device_alerts;
use crate::store::sessions::SessionRow;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

/// The request that caused an event.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub ip: IpAddr,
    pub user_agent: Option<&'a str>,
}

impl Origin<'_> {
    /// A request known by its address only (the path does not see its headers).
    pub fn ip_only(ip: IpAddr) -> Origin<'static> {
        Origin {
            ip,
            user_agent: None,
        }
    }
}

/// The caller's own events, newest first. `limit` is 1–100 (default 50); `before` is the id of
/// the last event of the previous page (the answer holds strictly older ones).
pub async fn list(
    state: &AppState,
    auth: &AccessAuth,
    limit: Option<&str>,
    before: Option<&str>,
) -> ApiResult<Vec<ActivityEvent>> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_parameter(format!("limit must be between 1 and {MAX_LIMIT}"))
            })?,
    };
    let owner = (auth.session.app_id.as_str(), auth.session.user_id.as_str());
    let boundary = match before {
        None => None,
        Some(id) => {
            // Only the caller's own, still kept, events can be a boundary: anything else would
            // silently answer a wrong page.
            let at = rows::created_at(state.db.reader(), owner, id)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "before must be the id of one of your events (the last of the previous \
                         page)",
                    )
                })?;
            Some(rows::Before { id, created_at: at })
        }
    };
    let rows = rows::list_page(state.db.reader(), owner, limit, boundary).await?;
    Ok(rows.into_iter().map(ActivityEvent::from).collect())
}

/// An event's detail from `(name, value)` pairs.
pub fn detail<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// What the owner needs to recognise a session: its id, device id, provider and device.
pub fn session_detail(session: &SessionRow) -> Map<String, Value> {
    let device = serde_json::from_str::<DeviceInfo>(&session.device).unwrap_or_default();
    let mut map = detail([
        ("session_id", Value::from(session.id.as_str())),
        ("device_id", Value::from(session.device_id.as_str())),
        ("provider_type", Value::from(session.provider_type.as_str())),
        ("device", serde_json::to_value(device).unwrap_or_default()),
    ]);
    if let Some(key) = &session.api_key_id {
        map.insert("api_key_id".into(), Value::from(key.as_str()));
    }
    map
}

/// A login is opening `session` (every provider's session is written by
/// `crate::sessions::open_session`, which calls this): the `sign_in` event, with the login's own
/// address and user agent as stored on the session; for a device the user never used before
/// (but not their very first), the `new_device` event, marked `alerted` when the app sends
/// alerts (`alerts`); and the device remembered. All of them are statements added to `script`,
/// which writes the session with them: a login costs one commit (one fsync, shared by the batch
/// on SQLite) and, on SQLite, one round trip. Answers where the `new_device` insert is in the
/// script: its row count says whether the device was new (then, when `alerts`, the owner is
/// alerted once the transaction is committed: [`crate::new_device::alert`]).
pub fn sign_in(
    session: &SessionRow,
    (now, alerts): (i64, bool),
    script: &mut Script,
) -> Option<usize> {
    let signed_in = session_event(session, Kind::SignIn, session_detail(session));
    script.push(rows::record_statement(&object_id(now), &signed_in, now));
    if !crate::new_device::remembers(session) {
        return None;
    }
    let mut detail = session_detail(session);
    detail.insert("alerted".into(), Value::Bool(alerts));
    let new_device = session_event(session, Kind::NewDevice, detail);
    let (user, device) = (&session.user_id, &session.device_id);
    let id = object_id(now);
    let new = script.push(device_alerts::new_device_event_statement(
        &id,
        &new_device,
        now,
        device,
    ));
    script.push(device_alerts::remember_statement(user, device, now));
    Some(new)
}

/// An event of `session`'s user with the session's own origin: the login's address and user
/// agent, as stored on the session.
fn session_event(session: &SessionRow, kind: Kind, detail: Map<String, Value>) -> NewEvent<'_> {
    NewEvent {
        app_id: &session.app_id,
        user_id: &session.user_id,
        kind,
        detail,
        ip: session.ip.clone(),
        user_agent: session.user_agent.as_deref(),
    }
}

/// Records `kind` for `session`'s user with the session's own origin (events a login or its
/// session causes, when no request address is at hand).
pub async fn record_for_session(
    state: &AppState,
    session: &SessionRow,
    kind: Kind,
    detail: Map<String, Value>,
) {
    let event = session_event(session, kind, detail);
    if let Err(e) = rows::record(state.db.writer(), &event, state.now()).await {
        tracing::warn!(error = %e, kind = event.kind.as_str(), "recording activity failed");
    }
}

/// Records `kind` for a login that has no session yet (a second-factor answer): the origin is
/// the login's own address and user agent.
pub async fn record_for_login(
    state: &AppState,
    (app_id, user_id): (&str, &str),
    kind: Kind,
    detail: Map<String, Value>,
    ctx: &crate::sessions::LoginContext,
) {
    let event = NewEvent {
        app_id,
        user_id,
        kind,
        detail,
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.as_deref(),
    };
    if let Err(e) = rows::record(state.db.writer(), &event, state.now()).await {
        tracing::warn!(error = %e, kind = event.kind.as_str(), "recording activity failed");
    }
}

/// A rotated-away refresh token came back and `session` was ended: the owner should see which
/// session and device, and from where the token was presented.
pub async fn refresh_token_reuse(state: &AppState, session: &SessionRow, from: Origin<'_>) {
    record(
        state,
        (&session.app_id, &session.user_id),
        Kind::RefreshTokenReuse,
        session_detail(session),
        Some(from),
    )
    .await;
}

/// A sign-in method joined the user (`?link=true` logins); `identity_id` when the caller knows
/// it (external identities).
pub async fn identity_linked(
    state: &AppState,
    owner: (&str, &str),
    (provider_type, identity_id): (&str, Option<&str>),
    from: Option<Origin<'_>>,
) {
    let mut detail = detail([("provider_type", Value::from(provider_type))]);
    if let Some(id) = identity_id {
        detail.insert("identity_id".into(), Value::from(id));
    }
    record(state, owner, Kind::IdentityLinked, detail, from).await;
}

/// A password was reset; the sessions it ended are one count in the same event.
pub async fn password_reset(
    state: &AppState,
    owner: (&str, &str),
    provider_type: &str,
    sessions_ended: u64,
    from: Option<Origin<'_>>,
) {
    let detail = detail([
        ("provider_type", Value::from(provider_type)),
        ("sessions_ended", Value::from(sessions_ended)),
    ]);
    record(state, owner, Kind::PasswordReset, detail, from).await;
}

/// [`record`] a moment after the request has answered (its id and time are the request's, so
/// the event keeps its place in the order): for events on paths whose timing must tell nothing,
/// such as a wrong password for a known account against one for an unknown name. The write
/// waits 10–60 ms (random), so it lands during some later request, whatever that one is, never
/// during this answer. An event still waiting when the server stops is lost (logged nowhere):
/// the answer it belongs to was a refusal that changed nothing.
pub fn record_later(
    state: &AppState,
    (app_id, user_id): (&str, &str),
    kind: Kind,
    detail: Map<String, Value>,
    from: Option<Origin<'_>>,
) {
    let now = state.now();
    let id = crate::crypto::object_id(now);
    let (app_id, user_id) = (app_id.to_string(), user_id.to_string());
    let ip = from.map(|f| f.ip.to_string());
    let user_agent = from.and_then(|f| f.user_agent).map(str::to_string);
    let db = state.db.clone();
    let [jitter] = crate::crypto::random_bytes::<1>();
    let wait = std::time::Duration::from_millis(10 + u64::from(jitter) % 51);
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        let event = NewEvent {
            app_id: &app_id,
            user_id: &user_id,
            kind,
            detail,
            ip,
            user_agent: user_agent.as_deref(),
        };
        if let Err(e) = rows::record_as(db.writer(), &id, &event, now).await {
            tracing::warn!(error = %e, kind = kind.as_str(), "recording activity failed");
        }
    });
}

/// Appends one event for `(app_id, user_id)`; `from` is the causing request when there is one.
/// Never fails the caller: a failed write is logged.
pub async fn record(
    state: &AppState,
    (app_id, user_id): (&str, &str),
    kind: Kind,
    detail: Map<String, Value>,
    from: Option<Origin<'_>>,
) {
    let event = NewEvent {
        app_id,
        user_id,
        kind,
        detail,
        ip: from.map(|f| f.ip.to_string()),
        user_agent: from.and_then(|f| f.user_agent),
    };
    if let Err(e) = rows::record(state.db.writer(), &event, state.now()).await {
        tracing::warn!(error = %e, kind = event.kind.as_str(), "recording activity failed");
    }
}
