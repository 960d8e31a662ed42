//! Token minting and verification.
//!
//! * Access tokens: EdDSA (Ed25519) JWTs carrying the claims App Services clients read
//!   ([`gatehouse_proto::auth::AccessClaims`]); the public key is published as a JWKS.
//! * Refresh tokens: JWT-shaped envelopes (stock SDKs parse them for `exp`/`iat`) signed with a
//!   server-only HMAC key, wrapping a session id and a 256-bit secret. The envelope alone is never
//!   trusted: the secret's SHA-256 must match the session row, so revocation is immediate.
//!
//! Keys are generated on first start into `<data-dir>/keys.json` (mode 0600), or the file named
//! by `tokens.key_file` ([`key_file`]). `gatehoused admin rotate-keys` replaces the access-token
//! key; a running server re-reads the file every few seconds, signs with the new key at once, and
//! still verifies (and publishes in its JWKS) a retired key for one access-token lifetime.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use gatehouse_proto::auth::AccessClaims;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::KeyPair as _;
use serde::{Deserialize, Serialize};

use crate::crypto;

pub mod key_file;

/// Tokens longer than this are refused before any crypto (security.md S-38).
const MAX_TOKEN_LEN: usize = 8 * 1024;

pub struct Keys {
    issuer: String,
    /// How long a retired key keeps verifying: the access-token lifetime.
    access_ttl_secs: i64,
    /// The key file, re-read by [`Keys::reload_if_changed`]; None for in-memory test keys.
    path: Option<PathBuf>,
    set: RwLock<Arc<KeySet>>,
}

/// One reading of the key file.
struct KeySet {
    /// The file as read, to notice a rotation.
    source: Vec<u8>,
    kid: String,
    access_encoding: EncodingKey,
    access_decoding: DecodingKey,
    public_key: Vec<u8>,
    refresh_hmac: Vec<u8>,
    refresh_encoding: EncodingKey,
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
        let set = KeySet::parse(path, bytes)?;
        Ok(Keys {
            issuer: issuer.to_string(),
            access_ttl_secs,
            path: Some(path.to_path_buf()),
            set: RwLock::new(Arc::new(set)),
        })
    }

    /// Fresh in-memory keys (tests).
    #[cfg(test)]
    pub fn ephemeral(issuer: &str) -> Keys {
        let file = key_file::generate().expect("OS RNG");
        let bytes = serde_json::to_vec(&file).expect("serialises");
        Keys {
            issuer: issuer.to_string(),
            access_ttl_secs: 900,
            path: None,
            set: RwLock::new(Arc::new(
                KeySet::parse(Path::new("memory"), bytes).expect("fresh keys are valid"),
            )),
        }
    }

    fn current(&self) -> Arc<KeySet> {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the key file and switches to it when it changed (a rotation). True when it did;
    /// an unreadable file keeps the keys in use (and is logged).
    pub fn reload_if_changed(&self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        let bytes = match key_file::read(path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                tracing::error!(path = %path.display(), "signing key file is gone; keeping the \
                                                        keys in memory");
                return false;
            }
            Err(e) => {
                tracing::error!(error = %e, "keeping the signing keys in memory");
                return false;
            }
        };
        if bytes == self.current().source {
            return false;
        }
        match KeySet::parse(path, bytes) {
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
        let set = self.current();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(set.kid.clone());
        jsonwebtoken::encode(&header, claims, &set.access_encoding)
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
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("refresh".into());
        jsonwebtoken::encode(&header, claims, &self.current().refresh_encoding)
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
    fn parse(path: &Path, source: Vec<u8>) -> anyhow::Result<KeySet> {
        let file = key_file::parse(path, &source)?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let pkcs8 = b64.decode(&file.ed25519_pkcs8)?;
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
            .map_err(|_| anyhow::anyhow!("the Ed25519 signing key in keys.json is malformed"))?;
        let public_key = pair.public_key().as_ref().to_vec();
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
            access_encoding: EncodingKey::from_ed_der(&pkcs8),
            access_decoding: DecodingKey::from_ed_der(&public_key),
            public_key,
            refresh_encoding: EncodingKey::from_secret(&refresh_hmac),
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
            &Header::new(Algorithm::HS256),
            &access(&keys, now() + 60),
            &EncodingKey::from_secret(&keys.current().public_key),
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

    #[test]
    fn a_rotation_is_picked_up_and_the_old_key_verifies_for_one_access_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let keys = Keys::load_or_create(&path, "iss", 900).unwrap();
        let old_kid = keys.kid();
        let old = keys.sign_access(&access(&keys, now() + 60));
        assert!(!keys.reload_if_changed(), "nothing changed yet");
        let t = now();
        key_file::rotate(&path, t, 900).unwrap();
        assert!(keys.reload_if_changed());
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
}
