//! Signing a JWT in compact form with keys parsed once.
//!
//! `jsonwebtoken::encode` rebuilds the Ed25519 key pair from its PKCS#8 bytes for every token
//! (one extra base-point multiplication: about 8 % of a refresh's CPU, docs/benchmarks.md) and
//! serialises the same header each time. These signers keep the parsed key and the encoded
//! header, and produce byte for byte what `jsonwebtoken::encode` produces, so
//! `jsonwebtoken::decode` (and every client) verifies them unchanged.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The algorithm's key, parsed once.
enum Key {
    Ed25519(ring::signature::Ed25519KeyPair),
    Hs256(ring::hmac::Key),
}

/// Signs JWTs with one key and one fixed header (`{"typ":"JWT","alg":…,"kid":…}`).
pub(super) struct Signer {
    /// `base64url(header) + "."`.
    header_dot: String,
    key: Key,
}

impl Signer {
    /// An EdDSA signer for the key pair in `pkcs8`, naming `kid`.
    pub(super) fn ed25519(pkcs8: &[u8], kid: &str) -> anyhow::Result<Signer> {
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| anyhow::anyhow!("the Ed25519 signing key in keys.json is malformed"))?;
        Ok(Signer {
            header_dot: header_dot(Algorithm::EdDSA, kid)?,
            key: Key::Ed25519(pair),
        })
    }

    /// An HS256 signer with `secret`, naming `kid`.
    pub(super) fn hs256(secret: &[u8], kid: &str) -> anyhow::Result<Signer> {
        Ok(Signer {
            header_dot: header_dot(Algorithm::HS256, kid)?,
            key: Key::Hs256(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret)),
        })
    }

    /// `header.claims.signature`.
    pub(super) fn sign<T: Serialize>(&self, claims: &T) -> Result<String, serde_json::Error> {
        let claims = serde_json::to_vec(claims)?;
        let mut token = String::with_capacity(self.header_dot.len() + claims.len() * 4 / 3 + 90);
        token.push_str(&self.header_dot);
        B64.encode_string(&claims, &mut token);
        let signature = match &self.key {
            Key::Ed25519(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
            Key::Hs256(key) => ring::hmac::sign(key, token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        B64.encode_string(&signature, &mut token);
        Ok(token)
    }
}

fn header_dot(alg: Algorithm, kid: &str) -> anyhow::Result<String> {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    let mut encoded = B64.encode(serde_json::to_vec(&header)?);
    encoded.push('.');
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, EncodingKey};
    use ring::signature::KeyPair as _;

    #[derive(Serialize)]
    struct Claims {
        sub: &'static str,
        exp: i64,
        note: &'static str,
    }

    const CLAIMS: Claims = Claims {
        sub: "u",
        exp: 4_000_000_000,
        note: "ünïcode \"quoted\"",
    };

    #[test]
    fn ed25519_tokens_are_those_jsonwebtoken_makes() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let signer = Signer::ed25519(pkcs8.as_ref(), "k1").unwrap();
        let ours = signer.sign(&CLAIMS).unwrap();

        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let theirs =
            jsonwebtoken::encode(&header, &CLAIMS, &EncodingKey::from_ed_der(pkcs8.as_ref()))
                .unwrap();
        // Ed25519 is deterministic: the same key and message give the same signature.
        assert_eq!(ours, theirs);

        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let key = DecodingKey::from_ed_der(pair.public_key().as_ref());
        let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        validation.validate_aud = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(&ours, &key, &validation).unwrap();
        assert_eq!(decoded.claims["note"], CLAIMS.note);
        assert_eq!(decoded.header.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn hs256_tokens_are_those_jsonwebtoken_makes() {
        let secret = [7u8; 32];
        let ours = Signer::hs256(&secret, "refresh")
            .unwrap()
            .sign(&CLAIMS)
            .unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("refresh".into());
        let theirs =
            jsonwebtoken::encode(&header, &CLAIMS, &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_malformed_key_is_refused() {
        assert!(Signer::ed25519(b"not pkcs8", "k").is_err());
    }
}
