//! Verifying JWTs from outside: custom-token JWTs and upstream ID tokens (security.md S-50,
//! S-60). One pinned algorithm per provider (the header's `alg` must equal it, so `none` and
//! HS/RS confusion fail), keys only from configuration or the configured JWKS URL (header `jku`,
//! `x5u`, `jwk`, `x5c` are never looked at), and every claim checked against the server's clock
//! with at most 60 s of leeway. A header or payload naming a member twice is refused first
//! (issue 12, item 17): parsers disagree on which one wins.

use std::collections::HashSet;
use std::str::FromStr as _;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::jwks::{JwksCache, JwksError};
use crate::outbound::Outbound;

pub const LEEWAY: i64 = 60;
/// Longer tokens are refused before any parsing.
const MAX_TOKEN_LEN: usize = 8 * 1024;

pub enum KeySource<'a> {
    Jwks(&'a str),
    Static(&'a DecodingKey),
}

pub struct Rules<'a> {
    pub algorithms: &'a [Algorithm],
    /// Accepted `iss` values (`iss` is then required). `None`: `iss` is neither required nor
    /// compared (a custom-token provider without a configured issuer, as App Services does).
    pub issuers: Option<&'a [String]>,
    pub audiences: &'a [String],
    /// Refuse tokens issued (`iat`) longer ago than this; `iat` becomes required.
    pub max_age_secs: Option<i64>,
    pub nonce: Option<&'a str>,
    /// OIDC: an `azp` claim, when present, must be one of these client ids.
    pub azp: Option<&'a [String]>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's {0} names the member {1} more than once")]
    DuplicateMember(&'static str, String),
    #[error("the token's algorithm is not the one configured for this provider")]
    Algorithm,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued too long ago or in the future")]
    IssuedAt,
    #[error("the token's issuer is not accepted")]
    Issuer,
    #[error("the token's audience is not accepted")]
    Audience,
    #[error("the token has no subject")]
    Subject,
    #[error("the token's nonce does not match this sign-in")]
    Nonce,
    #[error("no signing key matches the token")]
    UnknownKey,
    #[error("the provider's signing keys are unavailable")]
    KeysUnavailable(String),
}

pub fn algorithm(name: &str) -> Option<Algorithm> {
    Algorithm::from_str(name).ok()
}

/// Verifies signature and claims; answers the claims.
pub async fn verify(
    outbound: &Outbound,
    cache: &JwksCache,
    token: &str,
    keys: KeySource<'_>,
    rules: &Rules<'_>,
    now: i64,
) -> Result<Map<String, Value>, JwtError> {
    if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
        return Err(JwtError::Malformed);
    }
    unique_members(token)?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if !rules.algorithms.contains(&header.alg) {
        return Err(JwtError::Algorithm);
    }
    let jwk_key;
    let key = match keys {
        KeySource::Static(key) => key,
        KeySource::Jwks(url) => {
            let jwk = cache
                .key(outbound, url, header.kid.as_deref(), now)
                .await
                .map_err(|e| match e {
                    JwksError::NoKey => JwtError::UnknownKey,
                    JwksError::Unavailable(..) => JwtError::KeysUnavailable(e.to_string()),
                })?;
            if jwk
                .common
                .key_algorithm
                .is_some_and(|a| format!("{a:?}") != format!("{:?}", header.alg))
            {
                return Err(JwtError::Algorithm);
            }
            jwk_key = DecodingKey::from_jwk(&jwk).map_err(|_| JwtError::UnknownKey)?;
            &jwk_key
        }
    };
    let mut validation = Validation::new(header.alg);
    // jsonwebtoken wants one key family per validation; the header's alg is already one we allow.
    validation.algorithms = vec![header.alg];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => JwtError::Algorithm,
            _ => JwtError::Malformed,
        })?;
    check_claims(&data.claims, rules, now)?;
    Ok(data.claims)
}

/// Refuses a header or payload with a duplicate member, before either is read.
fn unique_members(token: &str) -> Result<(), JwtError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for (part, name) in token.split('.').take(2).zip(["header", "payload"]) {
        let json = b64.decode(part).map_err(|_| JwtError::Malformed)?;
        match super::unique_members::check(&json) {
            Ok(()) => {}
            Err(super::unique_members::Problem::Duplicate(member)) => {
                return Err(JwtError::DuplicateMember(name, member))
            }
            Err(super::unique_members::Problem::Invalid) => return Err(JwtError::Malformed),
        }
    }
    Ok(())
}

fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|f| Some(f as i64))
            .ok_or(JwtError::Malformed),
    }
}

pub fn check_claims(
    claims: &Map<String, Value>,
    rules: &Rules<'_>,
    now: i64,
) -> Result<(), JwtError> {
    let exp = number(claims, "exp")?.ok_or(JwtError::Expired)?;
    if now > exp + LEEWAY {
        return Err(JwtError::Expired);
    }
    if number(claims, "nbf")?.is_some_and(|nbf| nbf > now + LEEWAY) {
        return Err(JwtError::NotYetValid);
    }
    match (number(claims, "iat")?, rules.max_age_secs) {
        (Some(iat), max_age) => {
            if iat > now + LEEWAY || max_age.is_some_and(|m| now - iat > m + LEEWAY) {
                return Err(JwtError::IssuedAt);
            }
        }
        (None, Some(_)) => return Err(JwtError::IssuedAt),
        (None, None) => {}
    }
    if let Some(issuers) = rules.issuers {
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(JwtError::Issuer)?;
        if !issuers.iter().any(|i| i == iss) {
            return Err(JwtError::Issuer);
        }
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| a.as_str().ok_or(JwtError::Audience))
            .collect::<Result<_, _>>()?,
        _ => return Err(JwtError::Audience),
    };
    // Every audience must be trusted: a token also meant for someone else is not ours to accept.
    if audiences.is_empty()
        || !audiences
            .iter()
            .all(|a| rules.audiences.iter().any(|ours| ours == a))
    {
        return Err(JwtError::Audience);
    }
    if let (Some(expected), Some(azp)) = (rules.azp, claims.get("azp")) {
        if !azp
            .as_str()
            .is_some_and(|a| expected.iter().any(|e| e == a))
        {
            return Err(JwtError::Audience);
        }
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() && sub.len() <= 255 => {}
        _ => return Err(JwtError::Subject),
    }
    if let Some(nonce) = rules.nonce {
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(JwtError::Nonce);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn rules<'a>(iss: &'a [String], aud: &'a [String]) -> Rules<'a> {
        Rules {
            algorithms: &[Algorithm::HS256],
            issuers: Some(iss),
            audiences: aud,
            max_age_secs: Some(3600),
            nonce: None,
            azp: None,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        let mut base = json!({
            "iss": "https://idp", "aud": "app", "sub": "u1", "exp": NOW + 300, "iat": NOW - 10
        });
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        base.as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn iss_and_iat_are_needed_only_when_configured() {
        let (iss, aud) = (vec!["https://idp".to_string()], vec!["app".to_string()]);
        // What realm-js's own integration test signs: aud, exp, sub and nothing else.
        let bare = claims(json!({"iss": null, "iat": null}));
        let open = Rules {
            issuers: None,
            max_age_secs: None,
            ..rules(&iss, &aud)
        };
        assert_eq!(check_claims(&bare, &open, NOW), Ok(()));
        let foreign = claims(json!({"iss": "https://elsewhere", "iat": NOW - 86_400 * 30}));
        assert_eq!(check_claims(&foreign, &open, NOW), Ok(()));
        // A configured issuer makes `iss` required and compared.
        let with_issuer = Rules {
            max_age_secs: None,
            ..rules(&iss, &aud)
        };
        assert_eq!(
            check_claims(&bare, &with_issuer, NOW),
            Err(JwtError::Issuer)
        );
        assert_eq!(
            check_claims(&foreign, &with_issuer, NOW),
            Err(JwtError::Issuer)
        );
        // A configured maximum age makes `iat` required and bounded.
        let with_age = Rules {
            issuers: None,
            ..rules(&iss, &aud)
        };
        assert_eq!(check_claims(&bare, &with_age, NOW), Err(JwtError::IssuedAt));
        assert_eq!(
            check_claims(&foreign, &with_age, NOW),
            Err(JwtError::IssuedAt)
        );
        // `iat` in the future is refused either way; `exp` always counts.
        let future = claims(json!({"iss": null, "iat": NOW + 3600}));
        assert_eq!(check_claims(&future, &open, NOW), Err(JwtError::IssuedAt));
        let expired = claims(json!({"iss": null, "iat": null, "exp": NOW - 61}));
        assert_eq!(check_claims(&expired, &open, NOW), Err(JwtError::Expired));
    }

    #[test]
    fn time_claims_follow_the_leeway_table() {
        let (iss, aud) = (vec!["https://idp".to_string()], vec!["app".to_string()]);
        let r = rules(&iss, &aud);
        assert_eq!(
            check_claims(&claims(json!({"exp": NOW - 61})), &r, NOW),
            Err(JwtError::Expired)
        );
        assert_eq!(
            check_claims(&claims(json!({"exp": NOW - 30})), &r, NOW),
            Ok(())
        );
        assert_eq!(
            check_claims(&claims(json!({"nbf": NOW + 300})), &r, NOW),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            check_claims(&claims(json!({"iat": NOW + 3600})), &r, NOW),
            Err(JwtError::IssuedAt)
        );
        assert_eq!(
            check_claims(&claims(json!({"exp": null})), &r, NOW),
            Err(JwtError::Expired)
        );
        assert_eq!(
            check_claims(&claims(json!({"iat": NOW - 7200})), &r, NOW),
            Err(JwtError::IssuedAt)
        );
        assert_eq!(
            check_claims(&claims(json!({"iat": null})), &r, NOW),
            Err(JwtError::IssuedAt)
        );
    }

    #[test]
    fn audience_issuer_and_subject_are_exact() {
        let (iss, aud) = (vec!["https://idp".to_string()], vec!["app".to_string()]);
        let r = rules(&iss, &aud);
        assert_eq!(
            check_claims(&claims(json!({"aud": "other"})), &r, NOW),
            Err(JwtError::Audience)
        );
        assert_eq!(
            check_claims(&claims(json!({"aud": ["app", "evil"]})), &r, NOW),
            Err(JwtError::Audience)
        );
        assert_eq!(
            check_claims(&claims(json!({"aud": ["app"]})), &r, NOW),
            Ok(())
        );
        assert_eq!(
            check_claims(&claims(json!({"iss": "https://idp/"})), &r, NOW),
            Err(JwtError::Issuer)
        );
        assert_eq!(
            check_claims(&claims(json!({"sub": null})), &r, NOW),
            Err(JwtError::Subject)
        );
        let r = Rules {
            nonce: Some("n1"),
            azp: Some(&aud),
            ..rules(&iss, &aud)
        };
        assert_eq!(
            check_claims(&claims(json!({"nonce": "n2"})), &r, NOW),
            Err(JwtError::Nonce)
        );
        assert_eq!(
            check_claims(&claims(json!({"nonce": "n1", "azp": "x"})), &r, NOW),
            Err(JwtError::Audience)
        );
        assert_eq!(
            check_claims(&claims(json!({"nonce": "n1", "azp": "app"})), &r, NOW),
            Ok(())
        );
    }

    #[tokio::test]
    async fn duplicate_members_are_refused_even_when_the_signature_is_good() {
        let outbound = Outbound::new(&crate::config::OutboundConfig::default()).unwrap();
        let cache = JwksCache::default();
        let key = b"0123456789abcdef0123456789abcdef";
        let (iss, aud) = (vec!["https://idp".to_string()], vec!["app".to_string()]);
        let r = rules(&iss, &aud);
        let b64 = |s: &str| crate::crypto::b64(s.as_bytes());
        let sign = |header: &str, payload: &str| {
            let input = format!("{}.{}", b64(header), b64(payload));
            let mac = crate::crypto::hmac_sha256(key, input.as_bytes());
            format!("{input}.{}", crate::crypto::b64(&mac))
        };
        let body = Value::Object(claims(json!({}))).to_string();
        let verify = |token: String| {
            let (outbound, cache, r) = (&outbound, &cache, &r);
            async move {
                let secret = DecodingKey::from_secret(key);
                verify(outbound, cache, &token, KeySource::Static(&secret), r, NOW).await
            }
        };
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        assert!(verify(sign(header, &body)).await.is_ok(), "the control");
        let two_subs = body.replacen('{', r#"{"sub":"victim","#, 1);
        assert_eq!(
            verify(sign(header, &two_subs)).await,
            Err(JwtError::DuplicateMember("payload", "\"sub\"".into()))
        );
        let two_algs = r#"{"alg":"none","typ":"JWT","alg":"HS256"}"#;
        assert_eq!(
            verify(sign(two_algs, &body)).await,
            Err(JwtError::DuplicateMember("header", "\"alg\"".into()))
        );
    }

    #[tokio::test]
    async fn header_tricks_do_not_pass() {
        let outbound = Outbound::new(&crate::config::OutboundConfig::default()).unwrap();
        let cache = JwksCache::default();
        let secret = DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let (iss, aud) = (vec!["https://idp".to_string()], vec!["app".to_string()]);
        let r = Rules {
            algorithms: &[Algorithm::HS256],
            issuers: Some(&iss),
            audiences: &aud,
            max_age_secs: None,
            nonce: None,
            azp: None,
        };
        let b64 = |v: Value| crate::crypto::b64(v.to_string().as_bytes());
        let body = b64(Value::Object(claims(json!({}))));
        for alg in ["none", "None", "NONE"] {
            let token = format!("{}.{body}.", b64(json!({"alg": alg, "typ": "JWT"})));
            assert!(
                verify(
                    &outbound,
                    &cache,
                    &token,
                    KeySource::Static(&secret),
                    &r,
                    NOW
                )
                .await
                .is_err(),
                "alg {alg}"
            );
        }
        let good = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims(json!({})),
            &jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert!(verify(
            &outbound,
            &cache,
            &good,
            KeySource::Static(&secret),
            &r,
            NOW
        )
        .await
        .is_ok());
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = b64(
            json!({"alg": "HS256", "jku": "https://evil.example/jwks", "kid": "../../etc/passwd"}),
        );
        parts[0] = &forged;
        assert_eq!(
            verify(
                &outbound,
                &cache,
                &parts.join("."),
                KeySource::Static(&secret),
                &r,
                NOW
            )
            .await,
            Err(JwtError::Signature)
        );
        for bad in ["a.b", "a.b.c.d", "!!!.###.$$$", &"x".repeat(20_000)] {
            assert!(
                verify(&outbound, &cache, bad, KeySource::Static(&secret), &r, NOW)
                    .await
                    .is_err()
            );
        }
        assert_eq!(
            cache.fetches.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "no key was fetched from anywhere"
        );
    }
}
