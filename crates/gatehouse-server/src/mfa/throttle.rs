//! Second-factor guessing limits. A six-digit code is 1 in a million per try (3 in a million
//! with the ±1 step window), so tries are few: [`PER_CHALLENGE`] wrong answers void a challenge
//! (the first factor must be given again), and more than [`PER_ACCOUNT`] wrong answers across
//! challenges within [`WINDOW_SECS`] lock the account's second-factor answers for
//! [`LOCK_SECS`]. The account counter is the `login_failures` row `mfa:{user_id}` (the password
//! throttle's table): each answer is counted atomically *before* it is checked, so concurrent
//! guesses are all counted, and a right answer clears it.

use gatehouse_proto::ErrorCode;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::failures;

/// Wrong answers one challenge takes before it is void.
pub const PER_CHALLENGE: i64 = 5;
/// Wrong answers per account per window before the lock.
pub const PER_ACCOUNT: i64 = 10;
pub const WINDOW_SECS: i64 = 15 * 60;
pub const LOCK_SECS: i64 = 15 * 60;

fn account(user_id: &str) -> String {
    format!("mfa:{user_id}")
}

/// `TooManyAttempts` with `Retry-After`: the account's second-factor answers are locked.
fn locked(retry_after: i64) -> ApiError {
    let secs = retry_after.max(1);
    ApiError {
        retry_after: Some(secs as u64),
        ..ApiError::new(
            ErrorCode::TooManyAttempts,
            format!(
                "too many wrong second-factor codes for this account; try again in {} minutes",
                (secs + 59) / 60
            ),
        )
    }
}

/// Counts this answer against the account, or refuses it while the account is locked.
pub async fn count(state: &AppState, app_id: &str, user_id: &str) -> ApiResult<()> {
    let now = state.now();
    let key = account(user_id);
    let seen = failures::get(state.db.writer(), app_id, &key).await?;
    if seen.count >= PER_ACCOUNT && now < seen.last_failure_at + LOCK_SECS {
        return Err(locked(seen.last_failure_at + LOCK_SECS - now));
    }
    let n = failures::count_attempt(state.db.writer(), app_id, &key, now, WINDOW_SECS).await?;
    if n > PER_ACCOUNT {
        // A concurrent guess took the last try of the window.
        return Err(locked(LOCK_SECS));
    }
    Ok(())
}

/// A right answer: the account's count starts again.
pub async fn clear(state: &AppState, app_id: &str, user_id: &str) -> ApiResult<()> {
    failures::clear(state.db.writer(), app_id, &account(user_id)).await?;
    Ok(())
}
