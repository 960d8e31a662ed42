//! User and server API keys. Only the SHA-256 of a key's secret is stored; the secret is shown
//! once, in the answer to create.

use gatehouse_proto::auth::ApiKey;
use sqlx::{Any, Executor, Row as _};

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub app_id: String,
    pub user_id: String,
    pub kind: String,
    pub name: String,
    pub disabled: bool,
    pub created_at: i64,
}

impl KeyRow {
    pub fn to_wire(&self) -> ApiKey {
        ApiKey {
            id: self.id.clone(),
            key: None,
            name: self.name.clone(),
            disabled: self.disabled,
        }
    }
}

const COLUMNS: &str = "id, app_id, user_id, kind, name, disabled, created_at";

/// A [`KeyRow`] from a result row of [`COLUMNS`]: `$get` is the row's by-name getter
/// (`try_get` for sqlx, `get` for rusqlite's inline reads).
macro_rules! key_row {
    ($r:expr, $get:ident) => {
        KeyRow {
            id: $r.$get("id")?,
            app_id: $r.$get("app_id")?,
            user_id: $r.$get("user_id")?,
            kind: $r.$get("kind")?,
            name: $r.$get("name")?,
            disabled: {
                let flag: i64 = $r.$get("disabled")?;
                flag != 0
            },
            created_at: $r.$get("created_at")?,
        }
    };
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<KeyRow, sqlx::Error> {
    Ok(key_row!(r, try_get))
}

pub enum Created {
    Ok,
    NameTaken,
}

pub async fn insert<'c>(
    ex: impl Executor<'c, Database = Any>,
    row: &KeyRow,
    key_hash: &str,
) -> Result<Created, sqlx::Error> {
    let result = sqlx::query(&format!(
        "INSERT INTO api_keys ({COLUMNS}, key_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&row.id)
    .bind(&row.app_id)
    .bind(&row.user_id)
    .bind(&row.kind)
    .bind(&row.name)
    .bind(crate::db::flag(row.disabled))
    .bind(row.created_at)
    .bind(key_hash)
    .execute(ex)
    .await;
    match result {
        Ok(_) => Ok(Created::Ok),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Created::NameTaken),
        Err(e) => Err(e),
    }
}

pub async fn count_for_user<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(ex)
        .await
}

pub async fn list_for_user<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Vec<KeyRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(ex)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn list_kind<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    kind: &str,
) -> Result<Vec<KeyRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE app_id = $1 AND kind = $2 ORDER BY created_at, id"
    ))
    .bind(app_id)
    .bind(kind)
    .fetch_all(ex)
    .await?;
    rows.iter().map(from_row).collect()
}

/// A key of this user (another user's key id is "not found", never "forbidden").
pub async fn get_for_user<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    id: &str,
) -> Result<Option<KeyRow>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<KeyRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The key whose secret hashes to `key_hash`: an API-key login's lookup, on the calling thread
/// where it can be (`Db::read_inline`).
pub async fn by_hash(
    db: &crate::db::Db,
    app_id: &str,
    key_hash: &str,
) -> Result<Option<KeyRow>, sqlx::Error> {
    use rusqlite::OptionalExtension as _;
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1 AND app_id = $2")
    });
    let inline = db.read_inline(|c| {
        c.prepare_cached(&SQL)?
            .query_row([key_hash, app_id], |r| Ok(key_row!(r, get)))
            .optional()
    });
    if let Some(found) = inline {
        return Ok(found);
    }
    let row = sqlx::query(&SQL)
        .bind(key_hash)
        .bind(app_id)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn set_disabled<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    disabled: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_keys SET disabled = $1 WHERE id = $2")
        .bind(crate::db::flag(disabled))
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn delete<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}
