//! Token minting and verification.
//!
//! * Access tokens: EdDSA (Ed25519) JWTs carrying the claims App Services clients read
//!   ([`gatehouse_proto::auth::AccessClaims`]); the public key is published as a JWKS.
//! * Refresh tokens: JWT-shaped envelopes (stock SDKs parse them for `exp`/`iat`) signed with a
//!   server-only HMAC key, wrapping a session id and a 256-bit secret. The envelope alone is never
//!   trusted: the secret's SHA-256 must match the session row, so revocation is immediate.
//!
//! Keys are generated on first start into `<data-dir>/keys.json` (mode 0600), or the file named
//! by `tokens.key_file`.

use std::path::Path;

use base64::Engine as _;
use gatehouse_proto::auth::AccessClaims;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::KeyPair as _;
use serde::{Deserialize, Serialize};

use crate::crypto;

/// Tokens longer than this are refused before any crypto (security.md S-38).
const MAX_TOKEN_LEN: usize = 8 * 1024;

#[derive(Serialize, Deserialize)]
struct KeyFile {
    kid: String,
    ed25519_pkcs8: String,
    refresh_hmac: String,
}

pub struct Keys {
    kid: String,
    issuer: String,
    access_encoding: EncodingKey,
    access_decoding: DecodingKey,
    public_key: Vec<u8>,
    refresh_hmac: Vec<u8>,
    refresh_encoding: EncodingKey,
    refresh_decoding: DecodingKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.kid)
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
    /// Loads the key file, or creates it (0600) on first start.
    pub fn load_or_create(path: &Path, issuer: &str) -> anyhow::Result<Keys> {
        let file: KeyFile = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!(
                    "signing key file {} is unreadable ({e}); restore it from backup \
                    (deleting it invalidates every issued token)",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = Self::generate_file()?;
                write_private(path, &serde_json::to_vec_pretty(&file)?)?;
                tracing::info!(path = %path.display(), "generated new token signing keys");
                file
            }
            Err(e) => anyhow::bail!("cannot read signing key file {}: {e}", path.display()),
        };
        Self::from_file(file, issuer)
    }

    /// Fresh in-memory keys (tests).
    #[cfg(test)]
    pub fn ephemeral(issuer: &str) -> Keys {
        Self::from_file(Self::generate_file().expect("OS RNG"), issuer)
            .expect("fresh keys are valid")
    }

    fn generate_file() -> anyhow::Result<KeyFile> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| {
            anyhow::anyhow!("cannot generate a signing key: the OS random number generator failed")
        })?;
        Ok(KeyFile {
            kid: crypto::b64(&crypto::random_bytes::<9>()),
            ed25519_pkcs8: crypto::b64(pkcs8.as_ref()),
            refresh_hmac: crypto::b64(&crypto::random_bytes::<32>()),
        })
    }

    fn from_file(file: KeyFile, issuer: &str) -> anyhow::Result<Keys> {
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
        Ok(Keys {
            kid: file.kid,
            issuer: issuer.to_string(),
            access_encoding: EncodingKey::from_ed_der(&pkcs8),
            access_decoding: DecodingKey::from_ed_der(&public_key),
            public_key,
            refresh_encoding: EncodingKey::from_secret(&refresh_hmac),
            refresh_decoding: DecodingKey::from_secret(&refresh_hmac),
            refresh_hmac,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    // Invariant: the key was parsed from valid PKCS#8 at load and the claims are plain strings
    // and numbers, so neither serialising nor signing can fail.
    #[allow(clippy::expect_used)]
    pub fn sign_access(&self, claims: &AccessClaims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.access_encoding)
            .expect("Ed25519 signing cannot fail")
    }

    /// Verifies signature, type, issuer and expiry (no leeway: this server is the only clock
    /// involved). The session's liveness is the caller's second check.
    pub fn verify_access(&self, token: &str) -> Option<AccessClaims> {
        let claims: AccessClaims = decode(token, &self.access_decoding, Algorithm::EdDSA)?;
        (claims.typ == "access" && claims.iss == self.issuer).then_some(claims)
    }

    // Invariant: HMAC takes any key and the claims are plain strings and numbers, so neither
    // serialising nor signing can fail.
    #[allow(clippy::expect_used)]
    pub fn sign_refresh(&self, claims: &RefreshClaims) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("refresh".into());
        jsonwebtoken::encode(&header, claims, &self.refresh_encoding)
            .expect("HMAC signing cannot fail")
    }

    pub fn verify_refresh(&self, token: &str) -> Option<RefreshClaims> {
        let claims: RefreshClaims = decode(token, &self.refresh_decoding, Algorithm::HS256)?;
        (claims.typ == "refresh" && claims.iss == self.issuer).then_some(claims)
    }

    /// The successor of a rotating session's secret. Derived rather than stored so that, within
    /// the grace period, presenting the previous token returns the *same* successor again
    /// (security.md S-41) while the database still holds only hashes.
    pub fn successor_secret(&self, session_id: &str, secret: &str) -> String {
        let input = format!("rotate\n{session_id}\n{secret}");
        crypto::b64(&crypto::hmac_sha256(&self.refresh_hmac, input.as_bytes()))
    }

    /// Keyed hash of a short one-time code, bound to what it is for: six digits are too few to
    /// store under a plain hash.
    pub fn code_hash(&self, purpose: &str, subject: &str, code: &str) -> String {
        hex::encode(crypto::hmac_sha256(
            &self.refresh_hmac,
            format!("code\n{purpose}\n{subject}\n{code}").as_bytes(),
        ))
    }

    /// The public half as a JWKS document, for resource servers that verify access tokens.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid, "x": crypto::b64(&self.public_key),
        }]})
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

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
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
        assert_eq!(keys.verify_access(&good).unwrap().sub, "u");
        let expired = keys.sign_access(&access(&keys, now() - 1));
        assert!(keys.verify_access(&expired).is_none());
        assert!(
            Keys::ephemeral("iss").verify_access(&good).is_none(),
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
        assert!(keys.verify_access(&refresh).is_none());
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
            assert!(keys.verify_access(&forged).is_none(), "{header}");
        }
        // HS256 signed with the public key bytes (algorithm confusion) must fail.
        let confused = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &access(&keys, now() + 60),
            &EncodingKey::from_secret(&keys.public_key),
        )
        .unwrap();
        assert!(keys.verify_access(&confused).is_none());
        assert!(keys.verify_access(&"a".repeat(9000)).is_none());
    }

    #[test]
    fn a_damaged_key_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(&path, b"{ not json").unwrap();
        let err = Keys::load_or_create(&path, "iss").unwrap_err().to_string();
        assert!(err.contains("restore it from backup"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"{ not json");
    }

    #[test]
    fn key_file_persists_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let a = Keys::load_or_create(&path, "iss").unwrap();
        let b = Keys::load_or_create(&path, "iss").unwrap();
        let token = a.sign_access(&access(&a, now() + 60));
        assert!(
            b.verify_access(&token).is_some(),
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
}
