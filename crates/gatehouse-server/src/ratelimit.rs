//! Per-IP token buckets per endpoint group (security.md S-15), per-address mail limits and SMS
//! budgets (S-29). In memory by design: losing them on restart is harmless, and they use the
//! monotonic clock — except that several instances on one PostgreSQL database can share the
//! per-IP buckets there (`[rate_limits] shared`, [`shared`]). IPv6 clients are keyed by their
//! /64 (one customer's allocation), and every map is bounded with O(1) work per request
//! ([`Generations`]).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{Bucket, RateLimitConfig};
use crate::error::ApiError;

pub mod shared;
pub mod shared_sends;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Login,
    Register,
    EmailSend,
    Refresh,
    Anonymous,
    /// Redeeming a mailed token or a texted code: confirm, reset, phone confirm and reset.
    Redeem,
}

/// At most this many keys per map (buckets, mail addresses, SMS numbers, SMS addresses).
const MAX_BUCKETS: usize = 100_000;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// A bounded map with O(1) work per access: entries live in `current`; when it holds half the
/// capacity, it becomes `previous` (the older `previous` is dropped) and an entry used again is
/// moved back. An entry unused for a whole generation is forgotten: for a rate limit that means
/// a fresh allowance, the price of bounded memory under a flood of new keys.
#[derive(Debug)]
struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    capacity: usize,
}

impl<K: Hash + Eq, V> Generations<K, V> {
    fn new(capacity: usize) -> Self {
        Generations {
            current: HashMap::new(),
            previous: HashMap::new(),
            capacity: capacity.max(2),
        }
    }

    fn entry(&mut self, key: K, init: impl FnOnce() -> V) -> &mut V {
        if !self.current.contains_key(&key) {
            let value = self.previous.remove(&key).unwrap_or_else(init);
            if self.current.len() >= self.capacity / 2 {
                self.previous = std::mem::take(&mut self.current);
            }
            return self.current.entry(key).or_insert(value);
        }
        self.current.entry(key).or_insert_with(init)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// The key a client address is limited under: an IPv4 address as is (also when mapped into
/// IPv6), an IPv6 address by its /64, which one customer usually holds whole.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match crate::client_addr::canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// Mails of one kind to one address per hour (security.md A.15; and one per minute).
const MAIL_PER_HOUR: u32 = 5;

fn window(key: &str, length: Duration, limit: u32) -> shared_sends::Window {
    shared_sends::Window {
        key: key.to_string(),
        secs: length.as_secs() as i64,
        limit,
    }
}

/// Sends in a rolling window, oldest first.
type Sent = VecDeque<Instant>;

#[derive(Debug)]
struct SmsBudgets {
    per_number: Generations<String, Sent>,
    per_ip: Generations<IpAddr, Sent>,
    global: Sent,
}

#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    /// The cluster's buckets, when `[rate_limits] shared`.
    shared: Option<shared::SharedBuckets>,
    buckets: Mutex<Generations<(Group, IpAddr), (f64, Instant)>>,
    mail: Mutex<Generations<String, Sent>>,
    sms: Mutex<SmsBudgets>,
}

/// Drops the sends older than `window` (the longest window the list is checked against).
fn prune(sent: &mut Sent, now: Instant, window: Duration) {
    while sent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        sent.pop_front();
    }
}

/// How long until one more send fits `limit` sends per rolling `window` (`None`: it fits now).
fn wait_for(sent: &Sent, now: Instant, window: Duration, limit: u32) -> Option<Duration> {
    let limit = limit.max(1) as usize;
    // Sorted oldest first: the window is full when the `limit`-th newest send is still in it.
    let nth_newest = *sent.get(sent.len().checked_sub(limit)?)?;
    let age = now.duration_since(nth_newest);
    (age < window).then(|| window - age)
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter::with_shared(config, None)
    }

    /// A limiter whose per-IP buckets live in the database (`shared`), or in memory (None).
    pub fn with_shared(
        config: RateLimitConfig,
        shared: Option<shared::SharedBuckets>,
    ) -> RateLimiter {
        RateLimiter {
            config,
            shared,
            buckets: Mutex::new(Generations::new(MAX_BUCKETS)),
            mail: Mutex::new(Generations::new(MAX_BUCKETS)),
            sms: Mutex::new(SmsBudgets {
                per_number: Generations::new(MAX_BUCKETS),
                per_ip: Generations::new(MAX_BUCKETS),
                global: VecDeque::new(),
            }),
        }
    }

    fn bucket(&self, group: Group) -> Bucket {
        match group {
            Group::Login => self.config.login,
            Group::Register => self.config.register,
            Group::EmailSend => self.config.email_send,
            Group::Refresh => self.config.refresh,
            Group::Anonymous => self.config.anonymous,
            Group::Redeem => self.config.redeem,
        }
    }

    /// Takes one token for `ip` in `group`, or answers 429 with the seconds until one is back.
    pub async fn check(&self, group: Group, ip: IpAddr) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        let Bucket {
            capacity,
            period_secs,
        } = self.bucket(group);
        let capacity = f64::from(capacity.max(1));
        let rate = capacity / f64::from(period_secs.max(1));
        if let Some(shared) = &self.shared {
            let bucket = format!("{group:?}:{}", client_key(ip));
            return shared.take(bucket, capacity, rate).await;
        }
        self.take_local(group, ip, capacity, rate)
    }

    fn take_local(
        &self,
        group: Group,
        ip: IpAddr,
        capacity: f64,
        rate: f64,
    ) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = crate::sync::lock(&self.buckets);
        let (tokens, at) = buckets.entry((group, client_key(ip)), || (capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::too_many_requests(
                ((1.0 - *tokens) / rate).ceil() as u64
            ))
        }
    }

    /// Whether another mail of this kind (confirmation, reset, notice, …) may go to this address
    /// now: at most 1 per 60 s and 5 per hour (security.md A.15). Over the limit the mail is
    /// silently not sent; the answer to the request is unchanged.
    pub async fn allow_mail(&self, kind: &str, address: &str) -> bool {
        if !self.config.enabled {
            return true;
        }
        if let Some(shared) = &self.shared {
            let key = format!("mail\n{kind}\n{address}");
            let windows = [window(&key, MINUTE, 1), window(&key, HOUR, MAIL_PER_HOUR)];
            let now = shared_sends::now();
            return match shared_sends::try_send(shared.db(), &windows, now).await {
                Ok(full) => full.is_none(),
                Err(e) => {
                    // Unsent rather than unlimited: the database that failed is the one every
                    // instance counts in.
                    tracing::error!(error = %e, "cannot check the shared mail limit; not sending");
                    false
                }
            };
        }
        let now = Instant::now();
        let mut mail = crate::sync::lock(&self.mail);
        let sent = mail.entry(format!("{kind}\n{address}"), VecDeque::new);
        prune(sent, now, HOUR);
        if wait_for(sent, now, MINUTE, 1).is_some()
            || wait_for(sent, now, HOUR, MAIL_PER_HOUR).is_some()
        {
            return false;
        }
        sent.push_back(now);
        true
    }

    /// Takes one text from the budgets for a text to `number` (E.164) requested by `ip`: one
    /// per number per minute and five per hour, `per_number_daily`, `per_ip_hourly` (IPv6 by
    /// /64) and the server's `global_daily`. Over any of them: 429 with the seconds until it
    /// fits, and nothing is taken. Checked before the number is looked up, so the answer says
    /// nothing about it.
    pub async fn allow_sms(&self, number: &str, ip: IpAddr) -> Result<(), ApiError> {
        let Some(shared) = self.shared.as_ref().filter(|_| self.config.enabled) else {
            return self.allow_sms_at(number, ip, Instant::now());
        };
        let budget = self.config.sms;
        let (to_number, from_ip) = (
            format!("sms\n{number}"),
            format!("sms-ip\n{}", client_key(ip)),
        );
        let windows = [
            window(&to_number, MINUTE, 1),
            window(&to_number, HOUR, 5),
            window(&to_number, DAY, budget.per_number_daily),
            window(&from_ip, HOUR, budget.per_ip_hourly),
            window("sms-global", DAY, budget.global_daily),
        ];
        let now = shared_sends::now();
        let Some(full) = shared_sends::try_send(shared.db(), &windows, now).await? else {
            return Ok(());
        };
        if full.windows.contains(&(windows.len() - 1)) {
            tracing::warn!("the server's daily SMS budget is spent");
        }
        Err(ApiError::too_many_requests(full.wait.max(1)))
    }

    fn allow_sms_at(&self, number: &str, ip: IpAddr, now: Instant) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        let budget = self.config.sms;
        let mut sms = crate::sync::lock(&self.sms);
        let SmsBudgets {
            per_number,
            per_ip,
            global,
        } = &mut *sms;
        let to_number = per_number.entry(number.to_string(), VecDeque::new);
        let from_ip = per_ip.entry(client_key(ip), VecDeque::new);
        prune(to_number, now, DAY);
        prune(from_ip, now, HOUR);
        prune(global, now, DAY);
        let waits = [
            wait_for(to_number, now, MINUTE, 1),
            wait_for(to_number, now, HOUR, 5),
            wait_for(to_number, now, DAY, budget.per_number_daily),
            wait_for(from_ip, now, HOUR, budget.per_ip_hourly),
            wait_for(global, now, DAY, budget.global_daily),
        ];
        if let Some(wait) = waits.into_iter().flatten().max() {
            if wait_for(global, now, DAY, budget.global_daily).is_some() {
                tracing::warn!("the server's daily SMS budget is spent");
            }
            return Err(ApiError::too_many_requests(wait.as_secs().max(1)));
        }
        to_number.push_back(now);
        from_ip.push_back(now);
        global.push_back(now);
        Ok(())
    }

    /// The client address: the peer, or, when the peer is a configured trusted proxy, the
    /// rightmost `X-Forwarded-For` hop that is not one ([`crate::client_addr`]).
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        crate::client_addr::client_address(peer, forwarded_for, &self.config.trusted_proxies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            login: Bucket {
                capacity: 3,
                period_secs: 300,
            },
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn a_bucket_empties_then_answers_429_with_retry_after_per_ip() {
        let l = limiter();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            l.check(Group::Login, a).await.unwrap();
        }
        let err = l.check(Group::Login, a).await.unwrap_err();
        assert_eq!(err.code, gatehouse_proto::ErrorCode::TooManyRequests);
        assert_eq!(crate::http::status::of(err.code).as_u16(), 429);
        assert!(err.retry_after.unwrap() >= 1);
        l.check(Group::Login, b)
            .await
            .expect("another IP is unaffected");
        l.check(Group::Register, a)
            .await
            .expect("another group is unaffected");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "127.0.0.2".parse().unwrap();
        let l = RateLimiter::new(RateLimitConfig {
            trusted_proxies: vec![proxy],
            ..Default::default()
        });
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        // The hop the proxy appended, not the leftmost one the client wrote.
        let appended = l.client_ip(proxy, ["203.0.113.9, 10.0.0.1"].into_iter());
        assert_eq!(appended, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(l.client_ip(other, ["203.0.113.9"].into_iter()), other);
    }

    fn sms_limiter() -> RateLimiter {
        RateLimiter::new(RateLimitConfig::default())
    }

    #[test]
    fn the_sixth_text_in_an_hour_from_one_ip_is_refused() {
        let l = sms_limiter();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let t0 = Instant::now();
        for n in 0..5 {
            l.allow_sms_at(&format!("+1415555260{n}"), ip, t0 + MINUTE * n)
                .unwrap();
        }
        let err = l
            .allow_sms_at("+14155552609", ip, t0 + MINUTE * 5)
            .unwrap_err();
        assert_eq!(err.code, gatehouse_proto::ErrorCode::TooManyRequests);
        assert_eq!(
            err.retry_after,
            Some(55 * 60),
            "until the first leaves the hour"
        );
        l.allow_sms_at(
            "+14155552609",
            "203.0.113.8".parse().unwrap(),
            t0 + MINUTE * 5,
        )
        .expect("another address has its own budget");
        l.allow_sms_at("+14155552608", ip, t0 + HOUR)
            .expect("an hour after the first text, one more fits");
    }

    #[test]
    fn a_number_gets_at_most_ten_texts_a_day_and_one_a_minute() {
        let l = sms_limiter();
        let number = "+14155552671";
        let t0 = Instant::now();
        let ip = |n: u32| IpAddr::from([198, 51, 100, n as u8]);
        l.allow_sms_at(number, ip(0), t0).unwrap();
        assert!(
            l.allow_sms_at(number, ip(1), t0 + MINUTE / 2).is_err(),
            "one per minute"
        );
        // Five per hour: the next five go out two hours later.
        for n in 1..5 {
            l.allow_sms_at(number, ip(n), t0 + MINUTE * (2 * n))
                .unwrap();
        }
        assert!(
            l.allow_sms_at(number, ip(5), t0 + MINUTE * 20).is_err(),
            "five per hour"
        );
        for n in 0..5 {
            l.allow_sms_at(number, ip(10 + n), t0 + HOUR * 2 + MINUTE * (2 * n))
                .unwrap();
        }
        let err = l
            .allow_sms_at(number, ip(20), t0 + HOUR * 5)
            .expect_err("the eleventh text in a day is refused");
        assert_eq!(
            err.retry_after,
            Some(19 * 3600),
            "until the first leaves the day"
        );
        l.allow_sms_at("+14155552672", ip(21), t0 + HOUR * 5)
            .expect("another number has its own budget");
        l.allow_sms_at(number, ip(22), t0 + DAY).unwrap();
    }

    #[test]
    fn the_global_budget_caps_every_number_and_address() {
        let l = RateLimiter::new(RateLimitConfig {
            sms: crate::config::SmsBudget {
                global_daily: 3,
                ..Default::default()
            },
            ..Default::default()
        });
        let t0 = Instant::now();
        for n in 0..3u8 {
            l.allow_sms_at(&format!("+1415555267{n}"), IpAddr::from([192, 0, 2, n]), t0)
                .unwrap();
        }
        assert!(l
            .allow_sms_at("+14155552679", IpAddr::from([192, 0, 2, 9]), t0)
            .is_err());
    }

    #[tokio::test]
    async fn ipv6_addresses_in_one_64_share_a_bucket() {
        let l = limiter();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:fffe".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        for ip in [a, b, a] {
            l.check(Group::Login, ip).await.unwrap();
        }
        assert!(
            l.check(Group::Login, b).await.is_err(),
            "the /64 shares one bucket"
        );
        l.check(Group::Login, other)
            .await
            .expect("another /64 is unaffected");
        assert_eq!(client_key(a), client_key(b));
        assert_eq!(
            client_key("::ffff:10.0.0.1".parse().unwrap()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
        // Texts from one /64 share their hourly budget too.
        let t0 = Instant::now();
        for n in 0..5u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 7, 7, n, n, n, n]);
            l.allow_sms_at(&format!("+1415555260{n}"), ip, t0).unwrap();
        }
        let ip = IpAddr::from([0x2001, 0xdb8, 7, 7, 9, 9, 9, 9]);
        assert!(l.allow_sms_at("+14155552609", ip, t0).is_err());
    }

    #[test]
    fn maps_stay_bounded_and_keep_recent_entries() {
        let mut g: Generations<u32, u32> = Generations::new(10);
        for n in 0..1000 {
            *g.entry(n, || 0) += 1;
            *g.entry(7, || 0) += 1;
            assert!(g.len() <= 10, "{}", g.len());
        }
        assert_eq!(*g.entry(7, || 0), 1001, "an entry in use is never dropped");
    }

    #[tokio::test]
    async fn mail_to_one_address_is_limited_to_one_per_minute() {
        let l = limiter();
        assert!(l.allow_mail("confirm", "a@example.org").await);
        assert!(!l.allow_mail("confirm", "a@example.org").await);
        assert!(
            l.allow_mail("reset", "a@example.org").await,
            "another kind of mail has its own limit"
        );
        assert!(l.allow_mail("confirm", "b@example.org").await);
    }
}
