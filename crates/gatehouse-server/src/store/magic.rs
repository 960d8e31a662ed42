//! Magic links. A row holds the link token's hash, the short code's keyed hash, the PKCE
//! challenge of the device that asked, and — once the link's page was used — the hash of the
//! one-time code handed to the app. Every step is a conditional update, so each happens once.

use sqlx::{Any, Executor, Row as _};

#[derive(Debug, Clone)]
pub struct MagicRow {
    pub id: String,
    pub app_id: String,
    pub userpass_id: String,
    pub email: String,
    pub link_hash: String,
    pub otp_hash: String,
    pub code_challenge: String,
    pub redirect_uri: String,
    pub state: String,
    pub expires_at: i64,
    pub opened_at: Option<i64>,
    pub app_code_hash: Option<String>,
    pub app_code_expires_at: Option<i64>,
    pub redeemed_at: Option<i64>,
}

const COLUMNS: &str = "id, app_id, userpass_id, email, link_hash, otp_hash, code_challenge, \
                       redirect_uri, state, expires_at, \
                       opened_at, app_code_hash, app_code_expires_at, redeemed_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<MagicRow, sqlx::Error> {
    Ok(MagicRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        userpass_id: r.try_get("userpass_id")?,
        email: r.try_get("email")?,
        link_hash: r.try_get("link_hash")?,
        otp_hash: r.try_get("otp_hash")?,
        code_challenge: r.try_get("code_challenge")?,
        redirect_uri: r.try_get("redirect_uri")?,
        state: r.try_get("state")?,
        expires_at: r.try_get("expires_at")?,
        opened_at: r.try_get("opened_at")?,
        app_code_hash: r.try_get("app_code_hash")?,
        app_code_expires_at: r.try_get("app_code_expires_at")?,
        redeemed_at: r.try_get("redeemed_at")?,
    })
}

pub async fn insert<'c>(
    ex: impl Executor<'c, Database = Any>,
    row: &MagicRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO magic_links ({COLUMNS}, otp_attempts, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, NULL, \
         NULL, 0, $11)"
    ))
    .bind(&row.id)
    .bind(&row.app_id)
    .bind(&row.userpass_id)
    .bind(&row.email)
    .bind(&row.link_hash)
    .bind(&row.otp_hash)
    .bind(&row.code_challenge)
    .bind(&row.redirect_uri)
    .bind(&row.state)
    .bind(row.expires_at)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn get<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<MagicRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM magic_links WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The newest link of an address in one flow (one PKCE challenge): the one a short code typed
/// with that flow's verifier belongs to. Another flow's links never shadow it.
pub async fn newest_for<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    email: &str,
    code_challenge: &str,
) -> Result<Option<MagicRow>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM magic_links WHERE app_id = $1 AND email \
         = $2 AND code_challenge = $3 ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(app_id)
    .bind(email)
    .bind(code_challenge)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Voids the live links of an address in one flow (the same PKCE challenge): they expire now,
/// and so does an app code already handed out for one. Links of other flows are left alone.
pub async fn void_flow<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    email: &str,
    code_challenge: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE magic_links SET expires_at = $1, app_code_expires_at = \
         CASE WHEN app_code_expires_at IS NULL THEN NULL ELSE $1 END \
         WHERE app_id = $2 AND email = $3 AND code_challenge = $4 \
         AND redeemed_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(app_id)
    .bind(email)
    .bind(code_challenge)
    .execute(ex)
    .await?;
    Ok(done.rows_affected())
}

/// The link's page was used: record the app code (once).
pub async fn open<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    app_code_hash: &str,
    code_expires_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE magic_links SET opened_at = $1, app_code_hash = $2, \
         app_code_expires_at = $3 \
         WHERE id = $4 AND opened_at IS NULL AND redeemed_at IS NULL AND \
         expires_at > $1",
    )
    .bind(now)
    .bind(app_code_hash)
    .bind(code_expires_at)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses the link up (signed in, or burnt by a wrong verifier); true only for the first caller.
pub async fn redeem<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE magic_links SET redeemed_at = $1 WHERE id = $2 AND redeemed_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes one of the short code's attempts; false once they are spent.
pub async fn take_otp_attempt<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    max: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE magic_links SET otp_attempts = otp_attempts + 1 WHERE id = $1 \
         AND otp_attempts < $2 AND redeemed_at IS NULL",
    )
    .bind(id)
    .bind(max)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}
