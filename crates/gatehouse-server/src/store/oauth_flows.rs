//! Redirect-login transactions (security.md S-58, S-65). A row is created when the browser
//! starts, used once by the provider's callback (which records the verified identity and the
//! hash of the one-time code for the app), and redeemed once by the app with its PKCE verifier.
//! Every step is a conditional update, so each happens at most once.

use sqlx::{Any, Executor, Row as _};

#[derive(Debug, Clone)]
pub struct FlowRow {
    pub id: String,
    pub app_id: String,
    pub provider: String,
    pub state_hash: String,
    /// Hash of the browser-binding cookie; `None` until a browser opened a flow started by an app.
    pub binding_hash: Option<String>,
    /// Hash of the one-time key of `…/oauth2/start` (flows started without a browser).
    pub start_hash: Option<String>,
    pub nonce: String,
    pub upstream_verifier: String,
    /// The app's PKCE challenge; `None` for realm-web popup flows (tokens in the fragment).
    pub code_challenge: Option<String>,
    pub redirect_uri: String,
    pub client_state: String,
    pub device: String,
    pub link_user_id: Option<String>,
    pub expires_at: i64,
    pub callback_at: Option<i64>,
    pub identity: Option<String>,
    pub app_code_hash: Option<String>,
    pub app_code_expires_at: Option<i64>,
    pub redeemed_at: Option<i64>,
    pub session_user_id: Option<String>,
    pub session_device_id: Option<String>,
}

const COLUMNS: &str = "id, app_id, provider, state_hash, binding_hash, start_hash, nonce, \
                       upstream_verifier, code_challenge, \
    redirect_uri, client_state, device, link_user_id, expires_at, callback_at, identity, \
                       app_code_hash, app_code_expires_at, \
                       redeemed_at, session_user_id, session_device_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<FlowRow, sqlx::Error> {
    Ok(FlowRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        provider: r.try_get("provider")?,
        state_hash: r.try_get("state_hash")?,
        binding_hash: r.try_get("binding_hash")?,
        start_hash: r.try_get("start_hash")?,
        nonce: r.try_get("nonce")?,
        upstream_verifier: r.try_get("upstream_verifier")?,
        code_challenge: r.try_get("code_challenge")?,
        redirect_uri: r.try_get("redirect_uri")?,
        client_state: r.try_get("client_state")?,
        device: r.try_get("device")?,
        link_user_id: r.try_get("link_user_id")?,
        expires_at: r.try_get("expires_at")?,
        callback_at: r.try_get("callback_at")?,
        identity: r.try_get("identity")?,
        app_code_hash: r.try_get("app_code_hash")?,
        app_code_expires_at: r.try_get("app_code_expires_at")?,
        redeemed_at: r.try_get("redeemed_at")?,
        session_user_id: r.try_get("session_user_id")?,
        session_device_id: r.try_get("session_device_id")?,
    })
}

pub async fn insert<'c>(
    ex: impl Executor<'c, Database = Any>,
    f: &FlowRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_flows (id, app_id, provider, state_hash, binding_hash, \
         start_hash, nonce, upstream_verifier, \
         code_challenge, redirect_uri, client_state, device, link_user_id, expires_at, \
         created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&f.id)
    .bind(&f.app_id)
    .bind(&f.provider)
    .bind(&f.state_hash)
    .bind(&f.binding_hash)
    .bind(&f.start_hash)
    .bind(&f.nonce)
    .bind(&f.upstream_verifier)
    .bind(&f.code_challenge)
    .bind(&f.redirect_uri)
    .bind(&f.client_state)
    .bind(&f.device)
    .bind(&f.link_user_id)
    .bind(f.expires_at)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn get<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<FlowRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM oauth_flows WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn by_state<'c>(
    ex: impl Executor<'c, Database = Any>,
    state_hash: &str,
) -> Result<Option<FlowRow>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM oauth_flows WHERE state_hash = $1"
    ))
    .bind(state_hash)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A flow started by an app is bound to the first browser that opens its start link, and gets
/// the upstream state that browser will carry (only its hash is stored, so it is made now).
pub async fn bind<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    binding_hash: &str,
    state_hash: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE oauth_flows SET binding_hash = $1, state_hash = $2, start_hash = NULL \
         WHERE id = $3 AND binding_hash IS NULL AND start_hash IS NOT NULL",
    )
    .bind(binding_hash)
    .bind(state_hash)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The provider came back: the flow is used up whatever happens next.
pub async fn mark_callback<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE oauth_flows SET callback_at = $1 WHERE id = $2 AND callback_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the verified identity and the hash of the code handed to the app.
pub async fn set_identity<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    identity: &str,
    code_hash: &str,
    code_expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE oauth_flows SET identity = $1, app_code_hash = $2, app_code_expires_at = \
         $3 WHERE id = $4",
    )
    .bind(identity)
    .bind(code_hash)
    .bind(code_expires_at)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(())
}

/// Uses the app code once (right or wrong verifier alike: a failed attempt burns it).
pub async fn redeem<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE oauth_flows SET redeemed_at = $1 WHERE id = $2 AND redeemed_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Remembers which session the redemption opened, so a replayed code can revoke it.
pub async fn set_session<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    user_id: &str,
    device_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE oauth_flows SET session_user_id = $1, session_device_id = $2 WHERE id = $3",
    )
    .bind(user_id)
    .bind(device_id)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(())
}
