//! The server's one error type. It says *what* went wrong — a stable [`ErrorCode`], a message
//! for people, and when to retry — and nothing about HTTP: the status each code is answered with
//! lives in one table at the edge (`http::status`), which also renders the body.

use gatehouse_proto::ErrorCode;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds after which a retry may succeed (sent as `Retry-After`).
    pub retry_after: Option<u64>,
    /// The challenge of an `MfaRequired` / `MfaEnrollmentRequired` answer (the body's `mfa`).
    pub mfa: Option<Box<gatehouse_proto::mfa::MfaChallengeInfo>>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
            mfa: None,
        }
    }

    /// A first factor that was right, answered with the challenge that finishes the sign-in
    /// (`enroll`: the app requires a factor the user does not have yet).
    pub fn mfa_required(info: gatehouse_proto::mfa::MfaChallengeInfo, enroll: bool) -> ApiError {
        let (code, message) = if enroll {
            (
                ErrorCode::MfaEnrollmentRequired,
                "this app requires two-step sign-in: set up an authenticator app to finish \
                 signing in (Gatehouse multi-factor extension)",
            )
        } else {
            (
                ErrorCode::MfaRequired,
                "two-step sign-in: this account needs a code from its authenticator app, a \
                 recovery code or a passkey to finish signing in (Gatehouse multi-factor \
                 extension)",
            )
        };
        ApiError {
            mfa: Some(Box::new(info)),
            ..ApiError::new(code, message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidParameter, message)
    }

    pub fn missing_parameter(name: &str) -> ApiError {
        ApiError::new(
            ErrorCode::MissingParameter,
            format!("missing parameter: {name}"),
        )
    }

    /// Every token problem on an endpoint that needs a token: the only case that makes clients
    /// refresh (realm-web) or log out (failed refresh).
    pub fn invalid_session(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidSession, message)
    }

    /// The one answer for every failed credential check (unknown account, wrong password,
    /// disabled key, soft lock): identical status, body and code.
    pub fn invalid_credentials() -> ApiError {
        ApiError::new(ErrorCode::InvalidPassword, "invalid username/password")
    }

    pub fn too_many_requests(retry_after: u64) -> ApiError {
        let secs = retry_after.max(1);
        ApiError {
            retry_after: Some(secs),
            ..ApiError::new(
                ErrorCode::TooManyRequests,
                format!("too many requests; try again in {secs} seconds"),
            )
        }
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(2),
            ..ApiError::new(ErrorCode::ServiceUnavailable, message)
        }
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            ErrorCode::InternalServerError,
            "internal server error; the server log has the details",
        )
    }
}

/// True when `err` is a unique-constraint violation: a write that collided with a row that
/// exists (often one a concurrent request just made).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// For `map_err` at a call site that knows what a collision there means (an identity that
/// belongs to someone, a name in use): a unique violation becomes `code` with `message`; any
/// other database error goes through `From<sqlx::Error>`.
pub fn on_conflict(code: ErrorCode, message: &str) -> impl FnOnce(sqlx::Error) -> ApiError + '_ {
    move |err| {
        if is_unique_violation(&err) {
            tracing::info!(error = %err, %code, "write conflict");
            ApiError::new(code, message)
        } else {
            ApiError::from(err)
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// A database that is down, slow or full answers 503 so clients keep their tokens and retry;
    /// never 401, which would throw credentials away. A unique-constraint violation is no outage:
    /// it is a conflict (call sites that know its meaning use [`on_conflict`]).
    fn from(err: sqlx::Error) -> ApiError {
        if is_unique_violation(&err) {
            tracing::warn!(error = %err, "unique constraint violated");
            return ApiError::new(
                ErrorCode::Conflict,
                "the change conflicts with data that exists; reload and try again",
            );
        }
        tracing::error!(error = %err, "database error");
        match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Database(_) => {
                ApiError::unavailable("the database is unavailable; try again shortly")
            }
            _ => ApiError::internal(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use gatehouse_proto::ErrorCode;

    use super::{on_conflict, ApiError};
    use crate::db::Db;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .expect("database");
        (dir, db)
    }

    #[tokio::test]
    async fn unique_violations_are_conflicts_and_other_database_errors_stay_503() {
        let (_dir, db) = db().await;
        let data = serde_json::Map::new();
        let user = crate::store::users::create(db.writer(), "app", "normal", &data, 1)
            .await
            .expect("user");
        let add = || {
            crate::store::users::add_identity(
                db.writer(),
                "app",
                &user,
                "custom-token",
                "custom-token",
                "sub-1",
                &data,
                1,
            )
        };
        add().await.expect("first identity");
        let generic = ApiError::from(add().await.expect_err("the same identity twice"));
        assert_eq!(generic.code, ErrorCode::Conflict);
        let specific = add()
            .await
            .map_err(on_conflict(ErrorCode::IdentityInUse, "in use"))
            .expect_err("again");
        assert_eq!(
            (specific.code, specific.message.as_str()),
            (ErrorCode::IdentityInUse, "in use")
        );

        let broken = sqlx::query("SELECT * FROM no_such_table")
            .execute(db.reader())
            .await
            .expect_err("no table");
        let mapped = ApiError::from(broken);
        assert_eq!(mapped.code, ErrorCode::ServiceUnavailable);
        assert_eq!(mapped.retry_after, Some(2));
        let other = sqlx::query("SELECT * FROM no_such_table")
            .execute(db.reader())
            .await
            .expect_err("no table");
        assert_eq!(
            on_conflict(ErrorCode::IdentityInUse, "in use")(other).code,
            ErrorCode::ServiceUnavailable
        );
    }
}
