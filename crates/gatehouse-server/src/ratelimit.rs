//! Per-IP token buckets per endpoint group (security.md S-15) and per-address mail limits.
//! In memory by design: losing them on restart is harmless, and they use the monotonic clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{Bucket, RateLimitConfig};
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Login,
    Register,
    EmailSend,
    Refresh,
    Anonymous,
}

/// Buckets are dropped once this many exist and they are full again, to bound memory.
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<(Group, IpAddr), (f64, Instant)>>,
    mail: Mutex<HashMap<String, Vec<Instant>>>,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter { config, buckets: Mutex::new(HashMap::new()), mail: Mutex::new(HashMap::new()) }
    }

    fn bucket(&self, group: Group) -> Bucket {
        match group {
            Group::Login => self.config.login,
            Group::Register => self.config.register,
            Group::EmailSend => self.config.email_send,
            Group::Refresh => self.config.refresh,
            Group::Anonymous => self.config.anonymous,
        }
    }

    /// Takes one token for `ip` in `group`, or answers 429 with the seconds until one is back.
    pub fn check(&self, group: Group, ip: IpAddr) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        let Bucket { capacity, period_secs } = self.bucket(group);
        let capacity = f64::from(capacity.max(1));
        let rate = capacity / f64::from(period_secs.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < capacity);
        }
        let (tokens, at) = buckets.entry((group, ip)).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::too_many_requests(((1.0 - *tokens) / rate).ceil() as u64))
        }
    }

    /// Whether another mail of this kind (confirmation, reset, notice, …) may go to this address
    /// now: at most 1 per 60 s and 5 per hour (security.md A.15). Over the limit the mail is
    /// silently not sent; the answer to the request is unchanged.
    pub fn allow_mail(&self, kind: &str, address: &str) -> bool {
        if !self.config.enabled {
            return true;
        }
        let now = Instant::now();
        let mut mail = self.mail.lock().expect("mail limiter lock");
        if mail.len() >= MAX_BUCKETS {
            mail.retain(|_, sent| sent.iter().any(|t| now.duration_since(*t) < Duration::from_secs(3600)));
        }
        let sent = mail.entry(format!("{kind}\n{address}")).or_default();
        sent.retain(|t| now.duration_since(*t) < Duration::from_secs(3600));
        let too_soon = sent.last().is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60));
        if too_soon || sent.len() >= 5 {
            return false;
        }
        sent.push(now);
        true
    }

    /// The client address: the peer, or the first `X-Forwarded-For` hop when the peer is a
    /// configured trusted proxy (forged headers from anyone else are ignored).
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if self.config.trusted_proxies.contains(&peer) {
            if let Some(ip) = forwarded_for.and_then(|v| v.split(',').next()).and_then(|s| s.trim().parse().ok()) {
                return ip;
            }
        }
        peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> RateLimiter {
        RateLimiter::new(RateLimitConfig { login: Bucket { capacity: 3, period_secs: 300 }, ..Default::default() })
    }

    #[test]
    fn a_bucket_empties_then_answers_429_with_retry_after_per_ip() {
        let l = limiter();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            l.check(Group::Login, a).unwrap();
        }
        let err = l.check(Group::Login, a).unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert!(err.retry_after.unwrap() >= 1);
        l.check(Group::Login, b).expect("another IP is unaffected");
        l.check(Group::Register, a).expect("another group is unaffected");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "127.0.0.2".parse().unwrap();
        let l = RateLimiter::new(RateLimitConfig { trusted_proxies: vec![proxy], ..Default::default() });
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        assert_eq!(l.client_ip(proxy, Some("203.0.113.9, 10.0.0.1")), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(l.client_ip(other, Some("203.0.113.9")), other);
    }

    #[test]
    fn mail_to_one_address_is_limited_to_one_per_minute() {
        let l = limiter();
        assert!(l.allow_mail("confirm", "a@example.org"));
        assert!(!l.allow_mail("confirm", "a@example.org"));
        assert!(l.allow_mail("reset", "a@example.org"), "another kind of mail has its own limit");
        assert!(l.allow_mail("confirm", "b@example.org"));
    }
}
