//! Token minting and verification.
//!
//! * Access tokens: EdDSA (Ed25519) JWTs carrying the claims App Services clients read
//!   ([`gatehouse_proto::auth::AccessClaims`]); the public key is published as a JWKS.
//! * Refresh tokens: JWT-shaped envelopes (stock SDKs parse them for `exp`/`iat`) signed with a
//!   server-only HMAC key, wrapping a session id and a 256-bit secret. The envelope alone is never
//!   trusted: the secret's SHA-256 must match the session row, so revocation is immediate.
//!
//! Keys are generated on first start into `<data-dir>/keys.json` (mode 0600), or the file named
//! by `tokens.key_file` ([`key_file`]); with a key-encryption key configured they live in the
//! database instead, sealed, shared by every instance on it ([`key_store`]).
//! `gatehoused admin rotate-keys` replaces the access-token key; a running server re-reads the
//! file (or row) every few seconds, signs with the new key at once, and still verifies (and
//! publishes in its JWKS) a retired key for one access-token lifetime.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use gatehouse_proto::auth::AccessClaims;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ring::signature::KeyPair as _;
use serde::{Deserialize, Serialize};

use crate::crypto;

mod compact;
pub mod key_file;
pub mod key_store;

/// Tokens longer than this are refused before any crypto (security.md S-38).
const MAX_TOKEN_LEN: usize = 8 * 1024;

pub struct Keys {
    issuer: String,
    /// How long a retired key keeps verifying: the access-token lifetime.
    access_ttl_secs: i64,
    /// Where the keys are kept, re-read by [`Keys::reload_if_changed`].
    origin: Origin,
    set: RwLock<Arc<KeySet>>,
}

/// Where a server's keys live.
enum Origin {
    /// In-memory test keys.
    #[cfg(test)]
    Memory,
    File(PathBuf),
    /// The `signing_keys` row, sealed under this key-encryption key.
    Database(Box<crate::mfa::secret_box::SecretBox>),
}

/// One reading of the key file (or row).
struct KeySet {
    /// The file (or sealed row) as read, to notice a rotation.
    source: Vec<u8>,
    kid: String,
    access_signer: compact::Signer,
    access_decoding: DecodingKey,
    public_key: Vec<u8>,
    refresh_hmac: Vec<u8>,
    refresh_signer: compact::Signer,
    refresh_decoding: DecodingKey,
    retired: Vec<Retired>,
}

struct Retired {
    kid: String,
    public_key: Vec<u8>,
    decoding: DecodingKey,
    retired_at: i64,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.current().kid)
            .finish_non_exhaustive()
    }
}

/// What a valid refresh envelope says. `secret` is checked against the session row by the caller.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub typ: String,
    pub sub: String,
    pub aud: String,
    pub iss: String,
    /// Session id.
    pub baas_id: String,
    pub baas_device_id: String,
    pub sec: String,
    pub iat: i64,
    pub exp: i64,
}

impl std::fmt::Debug for RefreshClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshClaims")
            .field("sub", &self.sub)
            .field("baas_id", &self.baas_id)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Loads the key file, or creates it (0600) on first start. A key file that group or others
    /// may read is refused.
    pub fn load_or_create(path: &Path, issuer: &str, access_ttl_secs: i64) -> anyhow::Result<Keys> {
        let bytes = match key_file::read(path)? {
            Some(bytes) => bytes,
            None => {
                key_file::create_new(path, &key_file::generate()?)?;
                tracing::info!(path = %path.display(), "generated new token signing keys");
                key_file::read(path)?.ok_or_else(|| {
                    anyhow::anyhow!("{} vanished right after it was created", path.display())
                })?
            }
        };
        let set = KeySet::parse(key_file::parse(path, &bytes)?, bytes)?;
        Ok(Keys {
            issuer: issuer.to_string(),
            access_ttl_secs,
            origin: Origin::File(path.to_path_buf()),
            set: RwLock::new(Arc::new(set)),
        })
    }

    /// The keys every instance on `db` shares, sealed under `kek`; made (or imported from the
    /// key file at `import`) by the first instance to start.
    pub async fn load_or_create_in_db(
        db: &crate::db::Db,
        kek: crate::mfa::secret_box::SecretBox,
        import: &Path,
        issuer: &str,
        access_ttl_secs: i64,
    ) -> anyhow::Result<Keys> {
        let sealed = key_store::load_or_create(db, &kek, import).await?;
        let set = KeySet::parse(key_store::open(&kek, &sealed)?, sealed.into_bytes())?;
        Ok(Keys {
            issuer: issuer.to_string(),
            access_ttl_secs,
            origin: Origin::Database(Box::new(kek)),
            set: RwLock::new(Arc::new(set)),
        })
    }

    /// True when the keys are the database's (shared by every instance on it).
    pub fn shared(&self) -> bool {
        matches!(self.origin, Origin::Database(_))
    }

    /// Fresh in-memory keys (tests).
    #[cfg(test)]
    pub fn ephemeral(issuer: &str) -> Keys {
        let file = key_file::generate().expect("OS RNG");
        let bytes = serde_json::to_vec(&file).expect("serialises");
        Keys {
            issuer: issuer.to_string(),
            access_ttl_secs: 900,
            origin: Origin::Memory,
            set: RwLock::new(Arc::new(
                KeySet::parse(file, bytes).expect("fresh keys are valid"),
            )),
        }
    }

    fn current(&self) -> Arc<KeySet> {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the key file (or row) and switches to it when it changed (a rotation). True
    /// when it did; an unreadable file or row keeps the keys in use (and is logged).
    pub async fn reload_if_changed(&self, db: &crate::db::Db) -> bool {
        let read = match &self.origin {
            #[cfg(test)]
            Origin::Memory => return false,
            Origin::File(path) => {
                let path = path.clone();
                // A small file read; kept off the async workers all the same.
                let bytes = tokio::task::spawn_blocking(move || key_file::read(&path)).await;
                match bytes {
                    Ok(Ok(Some(bytes))) => Ok(bytes),
                    Ok(Ok(None)) => Err(anyhow::anyhow!("the signing key file is gone")),
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(anyhow::anyhow!("{e}")),
                }
            }
            Origin::Database(_) => match key_store::read(db).await {
                Ok(Some(sealed)) => Ok(sealed.into_bytes()),
                Ok(None) => Err(anyhow::anyhow!("the signing_keys row is gone")),
                Err(e) => Err(anyhow::anyhow!("cannot read the signing keys: {e}")),
            },
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %e, "keeping the signing keys in memory");
                return false;
            }
        };
        if bytes == self.current().source {
            return false;
        }
        let parsed = match &self.origin {
            #[cfg(test)]
            Origin::Memory => return false,
            Origin::File(path) => key_file::parse(path, &bytes),
            Origin::Database(kek) => key_store::open(kek, &String::from_utf8_lossy(&bytes)),
        };
        match parsed.and_then(|file| KeySet::parse(file, bytes)) {
            Ok(set) => {
                tracing::info!(kid = %set.kid, "signing keys reloaded (rotation)");
                *self.set.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "keeping the signing keys in memory");
                false
            }
        }
    }

    /// The key that signs new access tokens.
    pub fn kid(&self) -> String {
        self.current().kid.clone()
    }

    /// A retired key is usable while tokens it signed may still be unexpired.
    fn live(&self, retired: &Retired, now: i64) -> bool {
        now <= retired.retired_at + self.access_ttl_secs
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    // Invariant: the key was parsed from valid PKCS#8 at load and the claims are plain strings
    // and numbers, so neither serialising nor signing can fail.
    #[allow(clippy::expect_used)]
    pub fn sign_access(&self, claims: &AccessClaims) -> String {
        self.current()
            .access_signer
            .sign(claims)
            .expect("Ed25519 signing cannot fail")
    }

    /// Verifies signature, type, issuer and expiry (no leeway: this server is the only clock
    /// involved), with the key the header's `kid` names: the current one, or a retired one for an
    /// access-token lifetime after its rotation (`now`). The session's liveness is the caller's
    /// second check.
    pub fn verify_access(&self, token: &str, now: i64) -> Option<AccessClaims> {
        let set = self.current();
        let kid = jsonwebtoken::decode_header(token).ok()?.kid;
        let key = match kid.as_deref() {
            None => &set.access_decoding,
            Some(kid) if kid == set.kid => &set.access_decoding,
            Some(kid) => {
                &set.retired
                    .iter()
                    .find(|r| r.kid == kid && self.live(r, now))?
                    .decoding
            }
        };
        let claims: AccessClaims = decode(token, key, Algorithm::EdDSA)?;
        (claims.typ == "access" && claims.iss == self.issuer).then_some(claims)
    }

    // Invariant: HMAC takes any key and the claims are plain strings and numbers, so neither
    // serialising nor signing can fail.
    #[allow(clippy::expect_used)]
    pub fn sign_refresh(&self, claims: &RefreshClaims) -> String {
        self.current()
            .refresh_signer
            .sign(claims)
            .expect("HMAC signing cannot fail")
    }

    pub fn verify_refresh(&self, token: &str) -> Option<RefreshClaims> {
        let claims: RefreshClaims =
            decode(token, &self.current().refresh_decoding, Algorithm::HS256)?;
        (claims.typ == "refresh" && claims.iss == self.issuer).then_some(claims)
    }

    /// The successor of a rotating session's secret. Derived rather than stored so that, within
    /// the grace period, presenting the previous token returns the *same* successor again
    /// (security.md S-41) while the database still holds only hashes.
    pub fn successor_secret(&self, session_id: &str, secret: &str) -> String {
        let input = format!("rotate\n{session_id}\n{secret}");
        crypto::b64(&crypto::hmac_sha256(
            &self.current().refresh_hmac,
            input.as_bytes(),
        ))
    }

    /// Keyed hash of a short one-time code, bound to what it is for: six digits are too few to
    /// store under a plain hash.
    pub fn code_hash(&self, purpose: &str, subject: &str, code: &str) -> String {
        hex::encode(crypto::hmac_sha256(
            &self.current().refresh_hmac,
            format!("code\n{purpose}\n{subject}\n{code}").as_bytes(),
        ))
    }

    /// The public halves as a JWKS document, for resource servers that verify access tokens: the
    /// current key and the retired ones whose tokens may still be unexpired at `now`.
    pub fn jwks(&self, now: i64) -> serde_json::Value {
        let set = self.current();
        let jwk = |kid: &str, public: &[u8]| {
            serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                "kid": kid, "x": crypto::b64(public),
            })
        };
        let mut keys = vec![jwk(&set.kid, &set.public_key)];
        for r in set.retired.iter().filter(|r| self.live(r, now)) {
            keys.push(jwk(&r.kid, &r.public_key));
        }
        serde_json::json!({ "keys": keys })
    }
}

impl KeySet {
    fn parse(file: key_file::KeyFile, source: Vec<u8>) -> anyhow::Result<KeySet> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let pkcs8 = b64.decode(&file.ed25519_pkcs8)?;
        let access_signer = compact::Signer::ed25519(&pkcs8, &file.kid)?;
        let public_key = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
            .map_err(|_| anyhow::anyhow!("the Ed25519 signing key in keys.json is malformed"))?
            .public_key()
            .as_ref()
            .to_vec();
        let refresh_hmac = b64.decode(&file.refresh_hmac)?;
        anyhow::ensure!(
            refresh_hmac.len() >= 32,
            "the refresh-token key in keys.json is shorter than 256 bits"
        );
        let mut retired = Vec::new();
        for r in &file.retired {
            let public_key = b64.decode(&r.ed25519_public)?;
            anyhow::ensure!(
                public_key.len() == 32,
                "the retired key {} in keys.json is malformed",
                r.kid
            );
            retired.push(Retired {
                kid: r.kid.clone(),
                decoding: DecodingKey::from_ed_der(&public_key),
                public_key,
                retired_at: r.retired_at,
            });
        }
        Ok(KeySet {
            source,
            kid: file.kid,
            access_signer,
            access_decoding: DecodingKey::from_ed_der(&public_key),
            public_key,
            refresh_signer: compact::Signer::hs256(&refresh_hmac, "refresh")?,
            refresh_decoding: DecodingKey::from_secret(&refresh_hmac),
            refresh_hmac,
            retired,
        })
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Option<T> {
    if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
        return None;
    }
    let mut validation = Validation::new(alg);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iat", "sub"]);
    jsonwebtoken::decode::<T>(token, key, &validation)
        .ok()
        .map(|d| d.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(keys: &Keys, exp: i64) -> AccessClaims {
        AccessClaims {
            sub: "u".into(),
            aud: "app".into(),
            iss: keys.issuer().into(),
            exp,
            iat: exp - 60,
            jti: "j".into(),
            typ: "access".into(),
            baas_device_id: "d".into(),
            baas_session_id: "s".into(),
            user_data: None,
        }
    }

    fn now() -> i64 {
        crate::clock::Clock::default().now()
    }

    #[test]
    fn access_tokens_verify_and_expire() {
        let keys = Keys::ephemeral("iss");
        let good = keys.sign_access(&access(&keys, now() + 60));
        assert_eq!(keys.verify_access(&good, now()).unwrap().sub, "u");
        let expired = keys.sign_access(&access(&keys, now() - 1));
        assert!(keys.verify_access(&expired, now()).is_none());
        assert!(
            Keys::ephemeral("iss").verify_access(&good, now()).is_none(),
            "another key must not verify"
        );
    }

    #[test]
    fn token_types_are_not_interchangeable() {
        let keys = Keys::ephemeral("iss");
        let refresh = keys.sign_refresh(&RefreshClaims {
            typ: "refresh".into(),
            sub: "u".into(),
            aud: "a".into(),
            iss: "iss".into(),
            baas_id: "s".into(),
            baas_device_id: "d".into(),
            sec: "x".into(),
            iat: now(),
            exp: now() + 60,
        });
        assert!(keys.verify_refresh(&refresh).is_some());
        assert!(keys.verify_access(&refresh, now()).is_none());
        let access = keys.sign_access(&access(&keys, now() + 60));
        assert!(keys.verify_refresh(&access).is_none());
    }

    #[test]
    fn alg_none_and_oversized_tokens_are_refused() {
        let keys = Keys::ephemeral("iss");
        let good = keys.sign_access(&access(&keys, now() + 60));
        let payload = good.split('.').nth(1).unwrap();
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"None"}"#,
            r#"{"alg":"HS256"}"#,
        ] {
            let forged = format!("{}.{payload}.", crypto::b64(header.as_bytes()));
            assert!(keys.verify_access(&forged, now()).is_none(), "{header}");
        }
        // HS256 signed with the public key bytes (algorithm confusion) must fail.
        let confused = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &access(&keys, now() + 60),
            &jsonwebtoken::EncodingKey::from_secret(&keys.current().public_key),
        )
        .unwrap();
        assert!(keys.verify_access(&confused, now()).is_none());
        assert!(keys.verify_access(&"a".repeat(9000), now()).is_none());
    }

    #[test]
    fn a_damaged_key_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        key_file::create_new(&path, &key_file::generate().unwrap()).unwrap();
        std::fs::write(&path, b"{ not json").unwrap();
        let err = Keys::load_or_create(&path, "iss", 900)
            .unwrap_err()
            .to_string();
        assert!(err.contains("restore it from backup"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"{ not json");
    }

    #[test]
    fn key_file_persists_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let a = Keys::load_or_create(&path, "iss", 900).unwrap();
        let b = Keys::load_or_create(&path, "iss", 900).unwrap();
        let token = a.sign_access(&access(&a, now() + 60));
        assert!(
            b.verify_access(&token, now()).is_some(),
            "a restart keeps the keys"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("keys.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(a.successor_secret("s", "x"), b.successor_secret("s", "x"));
        assert_ne!(a.successor_secret("s", "x"), a.successor_secret("s", "y"));
    }

    async fn temp_db(dir: &Path) -> crate::db::Db {
        let url = format!("sqlite://{}", dir.join("keys-test.db").display());
        crate::db::Db::connect(&url).await.unwrap()
    }

    #[tokio::test]
    async fn a_rotation_is_picked_up_and_the_old_key_verifies_for_one_access_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        let db = temp_db(dir.path()).await;
        let path = dir.path().join("keys.json");
        let keys = Keys::load_or_create(&path, "iss", 900).unwrap();
        let old_kid = keys.kid();
        let old = keys.sign_access(&access(&keys, now() + 60));
        assert!(!keys.reload_if_changed(&db).await, "nothing changed yet");
        let t = now();
        key_file::rotate(&path, t, 900).unwrap();
        assert!(keys.reload_if_changed(&db).await);
        assert_ne!(keys.kid(), old_kid);
        let new = keys.sign_access(&access(&keys, now() + 60));
        let kid_of = |tok: &str| jsonwebtoken::decode_header(tok).unwrap().kid.unwrap();
        assert_eq!(kid_of(&new), keys.kid());
        assert_eq!(kid_of(&old), old_kid);
        assert!(keys.verify_access(&new, t).is_some());
        assert!(
            keys.verify_access(&old, t + 900).is_some(),
            "within the TTL"
        );
        assert!(keys.verify_access(&old, t + 901).is_none(), "past the TTL");
        let kids = |at: i64| -> Vec<String> {
            keys.jwks(at)["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(kids(t), vec![keys.kid(), old_kid.clone()]);
        assert_eq!(kids(t + 901), vec![keys.kid()]);
        let restarted = Keys::load_or_create(&path, "iss", 900).unwrap();
        assert!(
            restarted.verify_access(&old, t).is_some(),
            "a restart keeps both"
        );
        assert!(restarted.verify_access(&new, t).is_some());
        assert_eq!(
            restarted.successor_secret("s", "x"),
            keys.successor_secret("s", "x"),
            "the refresh key is not rotated"
        );
    }

    #[tokio::test]
    async fn keys_in_the_database_are_shared_sealed_rotated_once_and_refused_with_another_kek() {
        use crate::mfa::secret_box::SecretBox;
        let dir = tempfile::tempdir().unwrap();
        let db = temp_db(dir.path()).await;
        // An existing key file is imported, so tokens it signed stay valid.
        let path = dir.path().join("keys.json");
        let before = Keys::load_or_create(&path, "iss", 900).unwrap();
        let old_token = before.sign_access(&access(&before, now() + 60));
        let kek = || SecretBox::new(&[3; 32]);
        let a = Keys::load_or_create_in_db(&db, kek(), &path, "iss", 900)
            .await
            .unwrap();
        let b = Keys::load_or_create_in_db(&db, kek(), &dir.path().join("none"), "iss", 900)
            .await
            .unwrap();
        assert!(a.shared() && !before.shared());
        assert_eq!(a.kid(), before.kid(), "imported, not regenerated");
        assert_eq!(a.kid(), b.kid(), "one key set for every instance");
        assert!(b.verify_access(&old_token, now()).is_some());
        let sealed = key_store::read(&db).await.unwrap().unwrap();
        let file = std::fs::read_to_string(&path).unwrap();
        let pkcs8: serde_json::Value = serde_json::from_str(&file).unwrap();
        assert!(
            !sealed.contains(pkcs8["ed25519_pkcs8"].as_str().unwrap()),
            "the private key is sealed in the database"
        );
        // Another KEK: a clear error at start, nothing replaced.
        let err = Keys::load_or_create_in_db(&db, SecretBox::new(&[4; 32]), &path, "iss", 900)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("do not open with this key-encryption key"),
            "{err}"
        );
        assert_eq!(key_store::read(&db).await.unwrap().unwrap(), sealed);
        // One rotation for the cluster: both instances pick it up and still verify the old key.
        let t = now();
        let r = key_store::rotate(&db, &kek(), t, 900).await.unwrap();
        assert_eq!(r.old_kid, before.kid());
        assert!(a.reload_if_changed(&db).await && b.reload_if_changed(&db).await);
        assert_eq!(a.kid(), r.new_kid);
        assert_eq!(b.kid(), r.new_kid);
        let new_token = a.sign_access(&access(&a, now() + 60));
        assert!(b.verify_access(&new_token, t).is_some());
        assert!(b.verify_access(&old_token, t).is_some());
        let kids: Vec<_> = b.jwks(t)["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kids, vec![r.new_kid.clone(), r.old_kid.clone()]);
        assert!(!b.reload_if_changed(&db).await, "nothing changed since");
    }
}
