//! Users and their identities. An identity is keyed by (app, provider type, subject) — never by
//! email — so two providers that report the same address never merge accounts by themselves.

use gatehouse_proto::auth::Identity;
use serde_json::{Map, Value};
use sqlx::{Any, Executor, Row as _};

use super::{json_map, json_text};
use crate::crypto::object_id;

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub app_id: String,
    pub user_type: String,
    pub disabled: bool,
    pub data: Map<String, Value>,
    pub created_at: i64,
}

fn user_from(row: &sqlx::any::AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        user_type: row.try_get("user_type")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        data: json_map(&row.try_get::<String, _>("data")?),
        created_at: row.try_get("created_at")?,
    })
}

pub async fn create<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    user_type: &str,
    data: &Map<String, Value>,
    now: i64,
) -> Result<String, sqlx::Error> {
    let id = object_id(now);
    sqlx::query(
        "INSERT INTO users (id, app_id, user_type, disabled, data, created_at) VALUES \
         ($1, $2, $3, 0, $4, $5)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(user_type)
    .bind(json_text(data))
    .bind(now)
    .execute(ex)
    .await?;
    Ok(id)
}

pub async fn get<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, app_id, user_type, disabled, data, created_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(user_from).transpose()
}

pub async fn list<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
) -> Result<Vec<UserRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, app_id, user_type, disabled, data, created_at FROM users \
         WHERE app_id = $1 ORDER BY created_at, id",
    )
    .bind(app_id)
    .fetch_all(ex)
    .await?;
    rows.iter().map(user_from).collect()
}

/// Sets `field` to `value` in the data of the user's identities of the local account `subject`
/// (an address or number that moved): the profile's identities show the new one.
pub async fn set_identity_field(
    tx: &mut sqlx::Transaction<'_, Any>,
    (user_id, subject): (&str, &str),
    field: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    let identities =
        sqlx::query("SELECT id, data FROM identities WHERE user_id = $1 AND subject = $2")
            .bind(user_id)
            .bind(subject)
            .fetch_all(&mut **tx)
            .await?;
    for row in identities {
        let mut data = json_map(&row.try_get::<String, _>("data")?);
        data.insert(field.into(), value.into());
        sqlx::query("UPDATE identities SET data = $1 WHERE id = $2")
            .bind(json_text(&data))
            .bind(row.try_get::<String, _>("id")?)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn set_data<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    data: &Map<String, Value>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET data = $1 WHERE id = $2")
        .bind(json_text(data))
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn set_disabled<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    disabled: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
        .bind(crate::db::flag(disabled))
        .bind(id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the user; identities, API keys, sessions and email/password accounts go with it
/// (ON DELETE CASCADE).
pub async fn delete<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await?
        .rows_affected()
        == 1)
}

pub async fn identities<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Vec<Identity>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT subject, provider_type, provider_id, data FROM identities \
         WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Identity {
                id: r.try_get("subject")?,
                provider_type: r.try_get("provider_type")?,
                provider_id: r.try_get("provider_id")?,
                provider_data: json_map(&r.try_get::<String, _>("data")?),
            })
        })
        .collect()
}

/// The user owning an identity, if any.
pub async fn find_identity<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    provider_type: &str,
    subject: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM identities WHERE app_id = $1 AND provider_type = $2 AND subject = $3",
    )
    .bind(app_id)
    .bind(provider_type)
    .bind(subject)
    .fetch_optional(ex)
    .await
}

#[allow(clippy::too_many_arguments)]
pub async fn add_identity<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    user_id: &str,
    provider_type: &str,
    provider_id: &str,
    subject: &str,
    data: &Map<String, Value>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO identities (id, app_id, user_id, provider_type, provider_id, \
         subject, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(object_id(now))
    .bind(app_id)
    .bind(user_id)
    .bind(provider_type)
    .bind(provider_id)
    .bind(subject)
    .bind(json_text(data))
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}
