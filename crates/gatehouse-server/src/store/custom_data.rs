//! A user's custom data: one JSON object (as text) in `users.custom_data`, NULL when unset.

use serde_json::{Map, Value};
use sqlx::{Any, Executor};

/// The document, if the user has one (a user that does not exist has none).
pub async fn get<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Option<Map<String, Value>>, sqlx::Error> {
    let text: Option<Option<String>> =
        sqlx::query_scalar("SELECT custom_data FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(ex)
            .await?;
    Ok(parse(text.flatten()))
}

/// [`get`] for a plain read, on the calling thread where it can be (`Db::read_inline`): every
/// login signs the document into its access token.
pub async fn read(
    db: &crate::db::Db,
    user_id: &str,
) -> Result<Option<Map<String, Value>>, sqlx::Error> {
    use rusqlite::OptionalExtension as _;
    let inline = db.read_inline(|c| {
        c.prepare_cached("SELECT custom_data FROM users WHERE id = $1")?
            .query_row([user_id], |r| r.get::<_, Option<String>>(0))
            .optional()
    });
    match inline {
        Some(text) => Ok(parse(text.flatten())),
        None => get(db.reader(), user_id).await,
    }
}

/// The document in the text of `users.custom_data` (none for NULL or a text that is no object).
pub fn parse(text: Option<String>) -> Option<Map<String, Value>> {
    text.and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
}

/// Replaces the document (`None` clears it). False when there is no such user.
pub async fn set<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    doc: Option<&Map<String, Value>>,
) -> Result<bool, sqlx::Error> {
    let text = doc.map(|d| Value::Object(d.clone()).to_string());
    let done = sqlx::query("UPDATE users SET custom_data = $1 WHERE id = $2")
        .bind(text)
        .bind(user_id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}
