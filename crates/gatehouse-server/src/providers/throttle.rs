//! The password check every password login shares (email and phone): per-IP bucket, per-account
//! progressive delay and soft lock, and the same work whether or not the account exists.

use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Group;
use crate::state::AppState;
use crate::store::failures::{self, Failures};

/// Seconds a client must wait after `count` consecutive failures: about 1 s at first, 10 s by
/// the 99th (security.md S-14).
pub fn delay_after(count: i64) -> i64 {
    if count <= 0 { 0 } else { (1 + count / 11).min(10) }
}

/// Checks `password` against `stored` (None: no such account — a dummy hash is verified instead)
/// for the account named `account_key`. Success returns whether the stored hash should be
/// upgraded; every failure is the same generic error.
pub async fn check_password(state: &AppState, app_id: &str, account_key: &str, stored: Option<String>, password: &str,
    ip: std::net::IpAddr) -> ApiResult<bool> {
    state.limiter.check(Group::Login, ip)?;
    let now = state.now();
    let window = state.config.rate_limits.lockout_window_secs;
    let mut record = failures::get(state.db.reader(), app_id, account_key).await?;
    if now - record.window_start >= window {
        record = Failures::default();
    }
    // `rate_limits.enabled = false` (test suites, benchmarks) turns account throttling off too.
    let throttle = state.config.rate_limits.enabled;
    let locked = throttle && record.count >= state.config.rate_limits.lockout_after;
    if throttle && !locked {
        let wait = record.last_failure_at + delay_after(record.count) - now;
        if wait > 0 {
            return Err(ApiError::too_many_requests(wait as u64));
        }
    }
    let exists = stored.is_some();
    let (matches, stale) = state.hasher.verify(password, stored).await?;
    if exists && matches && !locked {
        if record.count > 0 {
            failures::clear(state.db.writer(), app_id, account_key).await?;
        }
        return Ok(stale);
    }
    let next = Failures {
        count: record.count + 1,
        last_failure_at: now,
        window_start: if record.count == 0 { now } else { record.window_start },
    };
    failures::record(state.db.writer(), app_id, account_key, next).await?;
    tracing::info!(app_id, locked, "failed password login");
    Err(ApiError::invalid_credentials())
}
