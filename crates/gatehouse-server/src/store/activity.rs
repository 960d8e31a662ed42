//! The activity log: security events per user (issue 12: refresh-token reuse; issue 17 adds the
//! rest), appended, listed newest first for their owner, pruned after [`KEEP_SECS`].

use serde_json::{Map, Value};
use sqlx::{Any, Executor, Row as _};

use crate::crypto::object_id;

/// How long events are kept (the maintenance round deletes older ones).
pub const KEEP_SECS: i64 = 90 * 24 * 3600;

/// What happened; stored as [`Kind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A rotated-away refresh token was presented again; its session was ended.
    RefreshTokenReuse,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RefreshTokenReuse => "refresh_token_reuse",
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

pub async fn record<'c>(
    ex: impl Executor<'c, Database = Any>,
    event: &NewEvent<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO activity (id, app_id, user_id, kind, detail, ip, user_agent, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(object_id(now))
    .bind(event.app_id)
    .bind(event.user_id)
    .bind(event.kind.as_str())
    .bind(super::json_text(&event.detail))
    .bind(event.ip.as_deref())
    .bind(event.user_agent)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

/// The user's own events, newest first, at most `limit`.
pub async fn list<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    user_id: &str,
    limit: i64,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, kind, detail, ip, user_agent, created_at FROM activity \
         WHERE app_id = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(app_id)
    .bind(user_id)
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
