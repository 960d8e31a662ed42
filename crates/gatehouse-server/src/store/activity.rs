//! The activity log: security events per user (issue 12: refresh-token reuse; issue 17 adds the
//! rest), appended, listed newest first for their owner, pruned after `[activity] keep_days`
//! ([`KEEP_SECS`] by default).

use serde_json::{Map, Value};
use sqlx::{Any, Executor, Row as _};

use crate::crypto::object_id;
use crate::db::{Arg, Statement};

/// How long events are kept by default (`[activity] keep_days`; the maintenance round deletes
/// older ones).
pub const KEEP_SECS: i64 = 90 * 24 * 3600;

/// What happened; stored as [`Kind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A login opened a session (detail: provider_type, session_id, device).
    SignIn,
    /// A login was refused for a known account (detail: provider_type, reason).
    SignInFailed,
    /// The session's owner ended it (logout).
    SignOut,
    /// A session was ended from another one, by the owner or the server (detail: session_id).
    SessionRevoked,
    PasswordChanged,
    PasswordReset,
    /// A new address was asked for / confirmed / the change undone (detail: from, to, stage).
    EmailChanged,
    /// The same for a phone number.
    PhoneChanged,
    /// Display name or picture edited.
    ProfileChanged,
    IdentityLinked,
    IdentityUnlinked,
    ApiKeyCreated,
    ApiKeyEnabled,
    ApiKeyDisabled,
    ApiKeyDeleted,
    /// A rotated-away refresh token was presented again; its session was ended.
    RefreshTokenReuse,
    /// Too many wrong passwords: the account's sign-in is slowed or locked for a while.
    Lockout,
    /// A sign-in from a device the account had not used before; an alert was sent.
    NewDevice,
    /// The owner used a "this wasn't me" or lockdown link.
    Lockdown,
    /// A second factor was confirmed (detail: factor_id, factor kind).
    MfaEnrolled,
    /// A second factor was removed by its owner (detail: factor_id, factor kind).
    MfaRemoved,
    /// Ten new recovery codes; the old ones are void.
    MfaRecoveryCodesRegenerated,
    /// A recovery code answered a sign-in challenge (also mailed to the owner).
    MfaRecoveryCodeUsed,
    /// A wrong second-factor code, a voided challenge or a lockout (detail: method, reason).
    MfaFailed,
    /// An operator removed every factor and recovery code (`admin user reset-mfa`).
    MfaReset,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::SignInFailed => "sign_in_failed",
            Kind::SignOut => "sign_out",
            Kind::SessionRevoked => "session_revoked",
            Kind::PasswordChanged => "password_changed",
            Kind::PasswordReset => "password_reset",
            Kind::EmailChanged => "email_changed",
            Kind::PhoneChanged => "phone_changed",
            Kind::ProfileChanged => "profile_changed",
            Kind::IdentityLinked => "identity_linked",
            Kind::IdentityUnlinked => "identity_unlinked",
            Kind::ApiKeyCreated => "api_key_created",
            Kind::ApiKeyEnabled => "api_key_enabled",
            Kind::ApiKeyDisabled => "api_key_disabled",
            Kind::ApiKeyDeleted => "api_key_deleted",
            Kind::RefreshTokenReuse => "refresh_token_reuse",
            Kind::Lockout => "lockout",
            Kind::NewDevice => "new_device",
            Kind::Lockdown => "lockdown",
            Kind::MfaEnrolled => "mfa_enrolled",
            Kind::MfaRemoved => "mfa_removed",
            Kind::MfaRecoveryCodesRegenerated => "mfa_recovery_codes_regenerated",
            Kind::MfaRecoveryCodeUsed => "mfa_recovery_code_used",
            Kind::MfaFailed => "mfa_failed",
            Kind::MfaReset => "mfa_reset",
        }
    }
}

/// One event to append; `ip` and `user_agent` are the causing request's.
pub struct NewEvent<'a> {
    pub app_id: &'a str,
    pub user_id: &'a str,
    pub kind: Kind,
    pub detail: Map<String, Value>,
    pub ip: Option<String>,
    pub user_agent: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct ActivityRow {
    pub id: String,
    pub kind: String,
    pub detail: Map<String, Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
}

impl From<ActivityRow> for gatehouse_proto::auth::ActivityEvent {
    fn from(r: ActivityRow) -> Self {
        gatehouse_proto::auth::ActivityEvent {
            id: r.id,
            kind: r.kind,
            detail: r.detail,
            ip: r.ip,
            user_agent: r.user_agent,
            created_at: r.created_at,
        }
    }
}

pub async fn record<'c>(
    ex: impl Executor<'c, Database = Any>,
    event: &NewEvent<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    record_as(ex, &object_id(now), event, now).await
}

/// [`record`] with an id and time fixed earlier (an event written after its request answered
/// keeps its place in the order).
pub async fn record_as<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    event: &NewEvent<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    record_statement(id, event, now).execute(ex).await?;
    Ok(())
}

const INSERT: &str =
    "INSERT INTO activity (id, app_id, user_id, kind, detail, ip, user_agent, created_at)";
/// The inserted row's values: `$3` is the user id.
const ROW: &str = "$1, $2, $3, $4, $5, $6, $7, $8";

fn row_args(id: &str, event: &NewEvent<'_>, now: i64) -> Vec<Arg> {
    vec![
        id.into(),
        event.app_id.into(),
        event.user_id.into(),
        event.kind.as_str().into(),
        super::json_text(&event.detail).into(),
        (&event.ip).into(),
        event.user_agent.into(),
        now.into(),
    ]
}

/// [`record_as`] as a statement for a [`crate::db::Script`].
pub fn record_statement(id: &str, event: &NewEvent<'_>, now: i64) -> Statement {
    Statement::new(format!("{INSERT} VALUES ({ROW})"), row_args(id, event, now))
}

/// [`record_statement`], recorded only when `condition` holds: SQL that may use `$3` (the user
/// id) and `$9`… (`extra`). Its row count (1 or 0) says whether it was.
pub fn record_if_statement(
    id: &str,
    event: &NewEvent<'_>,
    now: i64,
    condition: &str,
    extra: Vec<Arg>,
) -> Statement {
    let mut args = row_args(id, event, now);
    args.extend(extra);
    Statement::new(format!("{INSERT} SELECT {ROW} WHERE {condition}"), args)
}

/// Where a page starts: strictly older than this event (the last one of the previous page).
#[derive(Debug, Clone, Copy)]
pub struct Before<'a> {
    pub id: &'a str,
    pub created_at: i64,
}

/// The creation time of the user's own event `id`, if it is theirs (a page boundary).
pub async fn created_at<'c>(
    ex: impl Executor<'c, Database = Any>,
    (app_id, user_id): (&str, &str),
    id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT created_at FROM activity WHERE id = $1 AND app_id = $2 AND user_id = $3")
        .bind(id)
        .bind(app_id)
        .bind(user_id)
        .fetch_optional(ex)
        .await?
        .map(|r| r.try_get("created_at"))
        .transpose()
}

/// The user's own events, newest first (ties by id), at most `limit`.
pub async fn list<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    user_id: &str,
    limit: i64,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    list_page(ex, (app_id, user_id), limit, None).await
}

/// [`list`] from a page boundary.
pub async fn list_page<'c>(
    ex: impl Executor<'c, Database = Any>,
    (app_id, user_id): (&str, &str),
    limit: i64,
    before: Option<Before<'_>>,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    // Without a boundary, one past every real event (ids are 24 hex digits, "g" sorts after).
    let (at, id) = before.map_or((i64::MAX, "g"), |b| (b.created_at, b.id));
    let rows = sqlx::query(
        "SELECT id, kind, detail, ip, user_agent, created_at FROM activity \
         WHERE app_id = $1 AND user_id = $2 \
         AND (created_at < $3 OR (created_at = $3 AND id < $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(app_id)
    .bind(user_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ActivityRow {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                detail: super::json_map(&r.try_get::<String, _>("detail")?),
                ip: r.try_get("ip")?,
                user_agent: r.try_get("user_agent")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Deletes events created before `cutoff`.
pub async fn prune<'c>(
    ex: impl Executor<'c, Database = Any>,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM activity WHERE created_at < $1")
        .bind(cutoff)
        .execute(ex)
        .await?
        .rows_affected())
}
