//! Users and their identities. An identity is keyed by (app, provider type, subject) — never by
//! email — so two providers that report the same address never merge accounts by themselves.

use gatehouse_proto::auth::Identity;
use serde_json::{Map, Value};
use sqlx::{Any, Executor, Row as _};

use super::{json_map, json_text};
use crate::crypto::object_id;
use crate::db::Statement;

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
    let (id, insert) = create_statement(app_id, user_type, data, now);
    insert.execute(ex).await?;
    Ok(id)
}

/// [`create`] as a statement for a [`crate::db::Script`]: the new user's id and its insert.
pub fn create_statement(
    app_id: &str,
    user_type: &str,
    data: &Map<String, Value>,
    now: i64,
) -> (String, Statement) {
    let id = object_id(now);
    let insert = Statement::new(
        "INSERT INTO users (id, app_id, user_type, disabled, data, created_at) VALUES \
         ($1, $2, $3, 0, $4, $5)",
        vec![
            (&id).into(),
            app_id.into(),
            user_type.into(),
            json_text(data).into(),
            now.into(),
        ],
    );
    (id, insert)
}

/// Whether the user exists (`Some`) and is enabled, read on the calling thread where it can be
/// (`Db::read_inline`): an API-key login's check, before its write.
pub async fn enabled(db: &crate::db::Db, id: &str) -> Result<Option<bool>, sqlx::Error> {
    use rusqlite::OptionalExtension as _;
    const SQL: &str = "SELECT disabled FROM users WHERE id = $1";
    let inline = db.read_inline(|c| {
        c.prepare_cached(SQL)?
            .query_row([id], |r| r.get::<_, i64>(0))
            .optional()
    });
    let disabled = match inline {
        Some(found) => found,
        None => {
            sqlx::query_scalar(SQL)
                .bind(id)
                .fetch_optional(db.reader())
                .await?
        }
    };
    Ok(disabled.map(|d| d == 0))
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
    let identity = NewIdentity {
        app_id,
        user_id,
        provider_type,
        provider_id,
        subject,
        data,
    };
    identity_statement(&identity, now).execute(ex).await?;
    Ok(())
}

/// An identity to add ([`identity_statement`]).
pub struct NewIdentity<'a> {
    pub app_id: &'a str,
    pub user_id: &'a str,
    pub provider_type: &'a str,
    pub provider_id: &'a str,
    pub subject: &'a str,
    pub data: &'a Map<String, Value>,
}

/// [`add_identity`] as a statement for a [`crate::db::Script`].
pub fn identity_statement(identity: &NewIdentity<'_>, now: i64) -> Statement {
    Statement::new(
        "INSERT INTO identities (id, app_id, user_id, provider_type, provider_id, \
         subject, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            object_id(now).into(),
            identity.app_id.into(),
            identity.user_id.into(),
            identity.provider_type.into(),
            identity.provider_id.into(),
            identity.subject.into(),
            json_text(identity.data).into(),
            now.into(),
        ],
    )
}
