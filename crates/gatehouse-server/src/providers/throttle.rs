//! The password check every password login shares (email and phone): per-IP bucket, per-account
//! progressive delay and soft lock, and the same work whether or not the account exists.

use crate::activity::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Group;
use crate::state::AppState;
use crate::store::activity::Kind;
use crate::store::failures::{self, Failures};

/// Seconds a client must wait after `count` consecutive failures: about 1 s at first, 10 s by
/// the 99th (security.md S-14).
pub fn delay_after(count: i64) -> i64 {
    if count <= 0 {
        0
    } else {
        (1 + count / 11).min(10)
    }
}

/// Checks `password` against `stored` (None: no such account — a dummy hash is verified instead)
/// for the account named `account_key`. Success returns whether the stored hash should be
/// upgraded; every failure is the same generic error.
///
/// Every attempt is counted atomically *before* anything is decided or verified, and the counter
/// is cleared on success: however many guesses arrive at once, each is counted (no
/// read-then-write race) and the soft lock engages at `lockout_after`. An attempt refused by the
/// progressive delay counts too (and restarts the delay), so hammering locks sooner instead of
/// slipping through. Unknown names are counted the same way.
///
/// `owner` is the account's user and provider type when it has a user: a wrong password then
/// records `sign_in_failed`, and the attempt that engages the soft lock records `lockout` (an
/// unknown name has nobody to tell). `from` is the request.
pub async fn check_password(
    state: &AppState,
    app_id: &str,
    account_key: &str,
    stored: Option<String>,
    password: &str,
    from: Origin<'_>,
    owner: Option<(&str, &str)>,
) -> ApiResult<bool> {
    state.limiter.check(Group::Login, from.ip).await?;
    let now = state.now();
    let limits = &state.config.rate_limits;
    let window = limits.lockout_window_secs;
    // The state before this attempt decides the delay (a late read only makes it shorter; the
    // count below is what locks).
    let mut before = failures::get(state.db.reader(), app_id, account_key).await?;
    if now - before.window_start >= window {
        before = Failures::default();
    }
    // Units of the group commit (SQLite): concurrent attempts share their fsyncs.
    let (app, account) = (app_id.to_string(), account_key.to_string());
    let count = state
        .db
        .write(move |tx| {
            Box::pin(async move {
                failures::count_attempt(&mut **tx, &app, &account, now, window).await
            })
        })
        .await?;
    // `rate_limits.enabled = false` (test suites, benchmarks) turns account throttling off too.
    let throttle = limits.enabled;
    // The attempts before this one (`count - 1`) decide the lock.
    let locked = throttle && count > limits.lockout_after;
    let wait = before.last_failure_at + delay_after(before.count) - now;
    if throttle && !locked && wait > 0 {
        return Err(ApiError::too_many_requests(wait as u64));
    }
    let exists = stored.is_some();
    let (matches, stale) = state.hasher.verify(password, stored).await?;
    if exists && matches && !locked {
        let (app, account) = (app_id.to_string(), account_key.to_string());
        state
            .db
            .write(move |tx| {
                Box::pin(async move { failures::clear(&mut **tx, &app, &account).await })
            })
            .await?;
        return Ok(stale);
    }
    tracing::info!(app_id, locked, "failed password login");
    // Written a moment after the answer (`record_later`): the unknown-name path writes nothing,
    // and a known account's failure must not take measurably longer (enumeration by timing).
    if let Some((user_id, provider_type)) = owner.filter(|_| exists) {
        let reason = if locked { "locked" } else { "wrong_password" };
        let detail = activity::detail([
            ("provider_type", provider_type.into()),
            ("reason", reason.into()),
        ]);
        let who = (app_id, user_id);
        activity::record_later(state, who, Kind::SignInFailed, detail, Some(from));
        // Exactly one attempt sees the count cross the threshold (the count is atomic).
        if locked && count == limits.lockout_after + 1 {
            let detail = activity::detail([
                ("provider_type", provider_type.into()),
                ("failures", count.into()),
                ("window_secs", window.into()),
            ]);
            activity::record_later(state, who, Kind::Lockout, detail, Some(from));
        }
    }
    Err(ApiError::invalid_credentials())
}
