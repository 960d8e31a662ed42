//! Signing keys shared by every instance on one database (issue 14): when a key-encryption key
//! (KEK) is configured — `GATEHOUSE_KEY_ENCRYPTION_KEY` (32 bytes, base64), else
//! `[tokens] key_encryption_key_file` — the key set of `key_file` (current Ed25519 key, refresh
//! HMAC key, retired public keys) lives in the database's `signing_keys` row instead of a file,
//! sealed with AES-256-GCM under the KEK (a database dump alone signs nothing). Every instance
//! reads it at start and re-reads it every few seconds, so a token one instance signs verifies
//! on all of them, and `gatehoused admin rotate-keys` rotates once for the cluster: each
//! instance signs with the new key within seconds and keeps publishing the old one.
//!
//! The first instance to start creates the row (or imports the key file it used before, so
//! tokens already issued stay valid); a concurrent start inserts nothing and reads the winner's.
//! A rotation is a compare-and-swap on the sealed text: two rotations at once cannot both win.

use std::path::Path;

use crate::db::Db;
use crate::mfa::secret_box::{decode_key, SecretBox};

use super::key_file::{self, KeyFile, Rotation};

/// The environment variable that carries the KEK (base64 of 32 bytes).
pub const KEK_ENV: &str = "GATEHOUSE_KEY_ENCRYPTION_KEY";
/// Associated data of the sealed row: a sealed value from another table does not open here.
const AAD: &str = "gatehouse-signing-keys-v1";

/// The KEK from the environment or the configured file; None when neither is set (the keys
/// then stay in the key file).
pub fn kek(config: &crate::config::Config) -> anyhow::Result<Option<SecretBox>> {
    if let Ok(text) = std::env::var(KEK_ENV) {
        let key = decode_key(text.trim()).ok_or_else(|| {
            anyhow::anyhow!("{KEK_ENV} must be 32 bytes in base64 (`openssl rand -base64 32`)")
        })?;
        return Ok(Some(SecretBox::new(&key)));
    }
    let Some(path) = &config.tokens.key_encryption_key_file else {
        return Ok(None);
    };
    Ok(Some(SecretBox::new(&read_kek_file(path)?)))
}

fn read_kek_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Some(mode) = crate::files::open_to_others(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read key-encryption key file {}: {e}",
            path.display()
        )
    })? {
        anyhow::bail!(
            "key-encryption key file {} has mode {mode:o}: group or others can read it, and \
             whoever reads it (with a database copy) can sign tokens for any user. Run \
             `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read key-encryption key file {} ({e}); every instance needs the same \
             32-byte key (`openssl rand -base64 32`)",
            path.display()
        )
    })?;
    decode_key(text.trim()).ok_or_else(|| {
        anyhow::anyhow!(
            "key-encryption key file {} is not 32 bytes of base64",
            path.display()
        )
    })
}

/// The sealed row as stored; None before the first start.
pub async fn read(db: &Db) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT sealed FROM signing_keys WHERE id = 1")
        .fetch_optional(db.writer())
        .await
}

/// Opens a sealed row; a wrong KEK (or a damaged row) is an error naming the fix.
pub fn open(kek: &SecretBox, sealed: &str) -> anyhow::Result<KeyFile> {
    let json = kek.open(AAD, sealed).map_err(|_| {
        anyhow::anyhow!(
            "the signing keys in the database do not open with this key-encryption key: every \
             instance must be given the same {KEK_ENV} (or key_encryption_key_file)"
        )
    })?;
    serde_json::from_slice(&json)
        .map_err(|e| anyhow::anyhow!("the signing keys in the database are unreadable: {e}"))
}

/// The sealed row, created on first start: from the key file at `import` when there is one
/// (tokens it signed stay valid), else new keys. A concurrent first start keeps one winner.
pub async fn load_or_create(db: &Db, kek: &SecretBox, import: &Path) -> anyhow::Result<String> {
    if let Some(sealed) = read(db).await? {
        return Ok(sealed);
    }
    let (file, from) = match key_file::read(import)? {
        Some(bytes) => (key_file::parse(import, &bytes)?, Some(import)),
        None => (key_file::generate()?, None),
    };
    let sealed = kek.seal(AAD, &serde_json::to_vec(&file)?);
    let now = crate::clock::Clock::default().now();
    let inserted = sqlx::query(
        "INSERT INTO signing_keys (id, sealed, updated_at) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&sealed)
    .bind(now)
    .execute(db.writer())
    .await?
    .rows_affected();
    if inserted == 1 {
        match from {
            Some(path) => tracing::info!(path = %path.display(), kid = %file.kid,
                "imported the signing keys into the database (sealed with the KEK)"),
            None => tracing::info!(kid = %file.kid, "generated signing keys in the database"),
        }
    }
    read(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the signing_keys row vanished right after it was made"))
}

/// Rotates the cluster's access-token key (see [`key_file::rotated`]): one compare-and-swap on
/// the row, so of two concurrent rotations one fails and says to retry.
pub async fn rotate(
    db: &Db,
    kek: &SecretBox,
    now: i64,
    keep_secs: i64,
) -> anyhow::Result<Rotation> {
    let sealed = read(db).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "the database has no signing keys to rotate (a server makes them at first start)"
        )
    })?;
    let (next, rotation) = key_file::rotated(open(kek, &sealed)?, now, keep_secs)?;
    let resealed = kek.seal(AAD, &serde_json::to_vec(&next)?);
    let swapped = sqlx::query(
        "UPDATE signing_keys SET sealed = $1, updated_at = $2 WHERE id = 1 AND sealed = $3",
    )
    .bind(&resealed)
    .bind(now)
    .bind(&sealed)
    .execute(db.writer())
    .await?
    .rows_affected();
    anyhow::ensure!(
        swapped == 1,
        "another rotation changed the signing keys at the same time; run rotate-keys again"
    );
    Ok(rotation)
}
