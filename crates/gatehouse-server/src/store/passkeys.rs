//! Passkeys: their credentials (rows of `mfa_factors` of kind `passkey`, looked up by
//! `credential_id`) and the browser ceremonies that register or use them (`passkey_ceremonies`,
//! migration 12). A ceremony is used once: every step is a conditional update.

use sqlx::{Any, Executor, Row as _};

/// What a ceremony is for.
pub mod purpose {
    /// A signed-in user adds a passkey.
    pub const REGISTER: &str = "register";
    /// A passwordless sign-in (the passkey is the first factor).
    pub const SIGN_IN: &str = "sign_in";
    /// A passkey answers an `MfaRequired` challenge.
    pub const CHALLENGE: &str = "challenge";
}

#[derive(Debug, Clone)]
pub struct CeremonyRow {
    pub id: String,
    pub app_id: String,
    pub purpose: String,
    /// The user it is bound to (registration, challenge); for a sign-in, who signed in.
    pub user_id: Option<String>,
    pub challenge_id: Option<String>,
    /// The new passkey's name (registration).
    pub name: Option<String>,
    pub redirect_uri: String,
    pub client_state: String,
    pub code_challenge: String,
    /// Hash of the key in the page's address: only that page may finish the ceremony.
    pub key_hash: String,
    /// webauthn-rs's serialised ceremony state; set when the page is served.
    pub webauthn_state: Option<String>,
    pub expires_at: i64,
    pub finished_at: Option<i64>,
    pub factor_id: Option<String>,
    pub app_code_hash: Option<String>,
    pub app_code_expires_at: Option<i64>,
    pub redeemed_at: Option<i64>,
}

const COLUMNS: &str = "id, app_id, purpose, user_id, challenge_id, name, redirect_uri, \
                       client_state, code_challenge, key_hash, webauthn_state, expires_at, \
                       finished_at, factor_id, app_code_hash, app_code_expires_at, redeemed_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<CeremonyRow, sqlx::Error> {
    Ok(CeremonyRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        purpose: r.try_get("purpose")?,
        user_id: r.try_get("user_id")?,
        challenge_id: r.try_get("challenge_id")?,
        name: r.try_get("name")?,
        redirect_uri: r.try_get("redirect_uri")?,
        client_state: r.try_get("client_state")?,
        code_challenge: r.try_get("code_challenge")?,
        key_hash: r.try_get("key_hash")?,
        webauthn_state: r.try_get("webauthn_state")?,
        expires_at: r.try_get("expires_at")?,
        finished_at: r.try_get("finished_at")?,
        factor_id: r.try_get("factor_id")?,
        app_code_hash: r.try_get("app_code_hash")?,
        app_code_expires_at: r.try_get("app_code_expires_at")?,
        redeemed_at: r.try_get("redeemed_at")?,
    })
}

pub async fn insert<'c>(
    ex: impl Executor<'c, Database = Any>,
    c: &CeremonyRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO passkey_ceremonies (id, app_id, purpose, user_id, challenge_id, name, \
         redirect_uri, client_state, code_challenge, key_hash, webauthn_state, expires_at, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&c.id)
    .bind(&c.app_id)
    .bind(&c.purpose)
    .bind(&c.user_id)
    .bind(&c.challenge_id)
    .bind(&c.name)
    .bind(&c.redirect_uri)
    .bind(&c.client_state)
    .bind(&c.code_challenge)
    .bind(&c.key_hash)
    .bind(&c.webauthn_state)
    .bind(c.expires_at)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn get<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<CeremonyRow>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM passkey_ceremonies WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A registration page was (re)loaded: its new WebAuthn challenge replaces the old one.
pub async fn set_state<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    webauthn_state: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE passkey_ceremonies SET webauthn_state = $1 WHERE id = $2 AND finished_at IS NULL",
    )
    .bind(webauthn_state)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the ceremony for one answer of the browser: right or wrong, it is used up.
pub async fn finish<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE passkey_ceremonies SET finished_at = $1 WHERE id = $2 AND finished_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records what the ceremony proved and the hash of the one-time code handed to the app.
pub async fn set_result<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    user_id: &str,
    factor_id: &str,
    code_hash: &str,
    code_expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE passkey_ceremonies SET user_id = $1, factor_id = $2, app_code_hash = $3, \
         app_code_expires_at = $4 WHERE id = $5",
    )
    .bind(user_id)
    .bind(factor_id)
    .bind(code_hash)
    .bind(code_expires_at)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(())
}

/// Uses the app code once (a wrong verifier burns it too).
pub async fn redeem<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE passkey_ceremonies SET redeemed_at = $1 WHERE id = $2 AND redeemed_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes ceremonies whose page and app code both expired before `cutoff` (maintenance).
pub async fn prune_ceremonies<'c>(
    ex: impl Executor<'c, Database = Any>,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM passkey_ceremonies WHERE expires_at < $1 \
         AND (app_code_expires_at IS NULL OR app_code_expires_at < $1)",
    )
    .bind(cutoff)
    .execute(ex)
    .await?;
    Ok(done.rows_affected())
}

/// A stored passkey: its factor row and webauthn-rs's credential (JSON).
#[derive(Debug, Clone)]
pub struct StoredPasskey {
    pub factor_id: String,
    pub user_id: String,
    pub app_id: String,
    pub credential: String,
    pub confirmed: bool,
}

/// A new passkey, unconfirmed until the app that started the registration redeems its code.
#[allow(clippy::too_many_arguments)]
pub async fn insert_passkey<'c>(
    ex: impl Executor<'c, Database = Any>,
    factor_id: &str,
    app_id: &str,
    user_id: &str,
    name: &str,
    credential_id: &str,
    credential: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mfa_factors (id, user_id, app_id, kind, name, credential, credential_id, \
         confirmed, created_at) VALUES ($1, $2, $3, 'passkey', $4, $5, $6, 0, $7)",
    )
    .bind(factor_id)
    .bind(user_id)
    .bind(app_id)
    .bind(name)
    .bind(credential)
    .bind(credential_id)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn confirm<'c>(
    ex: impl Executor<'c, Database = Any>,
    factor_id: &str,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE mfa_factors SET confirmed = 1 WHERE id = $1 AND user_id = $2 AND \
         kind = 'passkey' AND confirmed = 0",
    )
    .bind(factor_id)
    .bind(user_id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn passkey_from(r: &sqlx::any::AnyRow) -> Result<StoredPasskey, sqlx::Error> {
    Ok(StoredPasskey {
        factor_id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        app_id: r.try_get("app_id")?,
        credential: r
            .try_get::<Option<String>, _>("credential")?
            .unwrap_or_default(),
        confirmed: r.try_get::<i64, _>("confirmed")? != 0,
    })
}

/// The passkey with this credential id (base64url) in the app, confirmed or not.
pub async fn by_credential_id<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    credential_id: &str,
) -> Result<Option<StoredPasskey>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, user_id, app_id, credential, confirmed FROM mfa_factors \
         WHERE app_id = $1 AND credential_id = $2 AND kind = 'passkey'",
    )
    .bind(app_id)
    .bind(credential_id)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(passkey_from).transpose()
}

/// The user's passkeys (`confirmed_only`: those that count as factors).
pub async fn of_user<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    confirmed_only: bool,
) -> Result<Vec<StoredPasskey>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, user_id, app_id, credential, confirmed FROM mfa_factors \
         WHERE user_id = $1 AND kind = 'passkey' AND (confirmed = 1 OR $2 = 0) \
         ORDER BY created_at",
    )
    .bind(user_id)
    .bind(i64::from(confirmed_only))
    .fetch_all(ex)
    .await?;
    rows.iter().map(passkey_from).collect()
}

/// A successful use: the credential's new state (counter, backup flags) and when.
pub async fn used<'c>(
    ex: impl Executor<'c, Database = Any>,
    factor_id: &str,
    credential: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mfa_factors SET credential = COALESCE($1, credential), last_used_at = $2 \
         WHERE id = $3",
    )
    .bind(credential)
    .bind(now)
    .bind(factor_id)
    .execute(ex)
    .await?;
    Ok(())
}

/// The factor as the API lists it.
pub async fn factor<'c>(
    ex: impl Executor<'c, Database = Any>,
    factor_id: &str,
) -> Result<Option<gatehouse_proto::mfa::MfaFactor>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, kind, name, confirmed, created_at, last_used_at FROM mfa_factors \
         WHERE id = $1",
    )
    .bind(factor_id)
    .fetch_optional(ex)
    .await?;
    row.map(|r| {
        Ok(gatehouse_proto::mfa::MfaFactor {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            name: r.try_get("name")?,
            confirmed: r.try_get::<i64, _>("confirmed")? != 0,
            created_at: r.try_get("created_at")?,
            last_used_at: r.try_get("last_used_at")?,
        })
    })
    .transpose()
}

/// The parts of an `mfa_challenges` row a passkey page needs.
#[derive(Debug, Clone)]
pub struct ChallengeRow {
    pub id: String,
    pub app_id: String,
    pub user_id: String,
    pub kind: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub passkey_code_hash: Option<String>,
    pub code_challenge: Option<String>,
}

pub async fn challenge<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<ChallengeRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, app_id, user_id, kind, expires_at, used_at, passkey_code_hash, \
         code_challenge FROM mfa_challenges WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(ex)
    .await?;
    row.map(|r| {
        Ok(ChallengeRow {
            id: r.try_get("id")?,
            app_id: r.try_get("app_id")?,
            user_id: r.try_get("user_id")?,
            kind: r.try_get("kind")?,
            expires_at: r.try_get("expires_at")?,
            used_at: r.try_get("used_at")?,
            passkey_code_hash: r.try_get("passkey_code_hash")?,
            code_challenge: r.try_get("code_challenge")?,
        })
    })
    .transpose()
}

/// A passkey answered the challenge: the app gets a one-time code, kept as its hash with the
/// app's PKCE challenge. `None` for the code clears it (a wrong verifier burns the code).
pub async fn set_challenge_code<'c>(
    ex: impl Executor<'c, Database = Any>,
    challenge_id: &str,
    code: Option<(&str, &str)>,
) -> Result<bool, sqlx::Error> {
    let (hash, pkce) = code.map_or((None, None), |(h, c)| (Some(h), Some(c)));
    let done = sqlx::query(
        "UPDATE mfa_challenges SET passkey_code_hash = $1, code_challenge = $2 \
         WHERE id = $3 AND used_at IS NULL",
    )
    .bind(hash)
    .bind(pkce)
    .bind(challenge_id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}
