//! Cached JSON Web Key Sets of the identity providers (security.md S-51): fetched through the
//! outbound guard, kept for the server's `max-age` clamped to 5 min – 24 h, refetched on an
//! unknown `kid` at most once per 30 s per URL, and the last good set kept when a fetch fails.

use std::collections::HashMap;
use std::sync::Mutex;

use jsonwebtoken::jwk::{Jwk, JwkSet};

use crate::outbound::Outbound;

const MIN_AGE: i64 = 300;
const MAX_AGE: i64 = 24 * 3600;
const DEFAULT_AGE: i64 = 3600;
const REFETCH_COOLDOWN: i64 = 30;

#[derive(Debug, Clone)]
struct Cached {
    set: Option<JwkSet>,
    fetched_at: i64,
    max_age: i64,
    last_attempt: i64,
}

#[derive(Debug, Default)]
pub struct JwksCache {
    sets: Mutex<HashMap<String, Cached>>,
    /// Requests sent, for tests and operators.
    pub fetches: std::sync::atomic::AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the signing keys at {0} could not be fetched: {1}")]
    Unavailable(String, String),
    #[error("no signing key matches the token")]
    NoKey,
}

fn max_age(headers: &reqwest::header::HeaderMap) -> i64 {
    headers
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',').find_map(|d| {
                d.trim()
                    .strip_prefix("max-age=")
                    .and_then(|n| n.parse::<i64>().ok())
            })
        })
        .unwrap_or(DEFAULT_AGE)
        .clamp(MIN_AGE, MAX_AGE)
}

impl JwksCache {
    /// The key for `kid` (or the only key when the token names none) from the set at `url`.
    pub async fn key(
        &self,
        outbound: &Outbound,
        url: &str,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Jwk, JwksError> {
        let cached = crate::sync::lock(&self.sets).get(url).cloned();
        let fresh = cached
            .as_ref()
            .is_some_and(|c| c.set.is_some() && now - c.fetched_at < c.max_age);
        if fresh {
            if let Some(key) = cached.as_ref().and_then(|c| pick(c.set.as_ref()?, kid)) {
                return Ok(key);
            }
        }
        // Stale, missing, or an unknown kid: refetch unless one was tried in the last 30 s.
        let may_fetch = cached
            .as_ref()
            .is_none_or(|c| now - c.last_attempt >= REFETCH_COOLDOWN);
        if may_fetch {
            self.refresh(outbound, url, now).await?;
        }
        let cached = crate::sync::lock(&self.sets).get(url).cloned();
        cached
            .and_then(|c| pick(c.set.as_ref()?, kid))
            .ok_or(JwksError::NoKey)
    }

    async fn refresh(&self, outbound: &Outbound, url: &str, now: i64) -> Result<(), JwksError> {
        {
            let mut sets = crate::sync::lock(&self.sets);
            let entry = sets.entry(url.to_string()).or_insert(Cached {
                set: None,
                fetched_at: 0,
                max_age: 0,
                last_attempt: 0,
            });
            entry.last_attempt = now;
        }
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fetched = async {
            let reply = outbound.get(url, None).await.map_err(|e| e.to_string())?;
            if !reply.ok() {
                return Err(format!("HTTP {}", reply.status));
            }
            let set: JwkSet =
                serde_json::from_slice(&reply.body).map_err(|e| format!("not a JWK set: {e}"))?;
            Ok((set, max_age(&reply.headers)))
        }
        .await;
        let mut sets = crate::sync::lock(&self.sets);
        let entry = sets.entry(url.to_string()).or_insert(Cached {
            set: None,
            fetched_at: 0,
            max_age: 0,
            last_attempt: now,
        });
        match fetched {
            Ok((set, age)) => {
                entry.set = Some(set);
                entry.fetched_at = now;
                entry.max_age = age;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(url, error = %e, kept_last_good = entry.set.is_some(), "JWKS fetch \
                                                                                       failed");
                if entry.set.is_some() {
                    Ok(())
                } else {
                    Err(JwksError::Unavailable(url.to_string(), e))
                }
            }
        }
    }
}

/// A token without `kid` is accepted only when the set has exactly one signing key: with several,
/// trying each would let any of them stand in for the others.
fn pick(set: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
    let signing = set.keys.iter().filter(|k| {
        !matches!(
            k.common.public_key_use,
            Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
        )
    });
    match kid {
        Some(kid) => signing
            .into_iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid))
            .cloned(),
        None => {
            let all: Vec<&Jwk> = signing.collect();
            if all.len() == 1 {
                Some(all[0].clone())
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_clamped() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(max_age(&h), DEFAULT_AGE);
        h.insert("cache-control", "public, max-age=10".parse().unwrap());
        assert_eq!(max_age(&h), MIN_AGE);
        h.insert("cache-control", "public, max-age=999999".parse().unwrap());
        assert_eq!(max_age(&h), MAX_AGE);
    }

    #[test]
    fn no_kid_means_the_only_key_or_nothing() {
        let key = |kid: &str| {
            let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid})
        };
        let one: JwkSet =
            serde_json::from_value(serde_json::json!({ "keys": [key("a")] })).unwrap();
        assert!(pick(&one, None).is_some());
        assert!(pick(&one, Some("b")).is_none());
        let two: JwkSet =
            serde_json::from_value(serde_json::json!({ "keys": [key("a"), key("b")] })).unwrap();
        assert!(pick(&two, None).is_none());
        assert!(pick(&two, Some("b")).is_some());
    }
}
