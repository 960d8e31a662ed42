//! The one table from error code to HTTP status. The match is exhaustive on purpose: a code added
//! to `gatehouse-proto` does not compile here until it has a status.

use axum::http::StatusCode;
use gatehouse_proto::ErrorCode;

/// The status every error with `code` is answered with.
pub fn of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        BadRequest | InvalidParameter | MissingParameter | UserAlreadyConfirmed
        | UserpassTokenInvalid | WeakPassword | InvalidEmail | NotConfigured | InvalidPhone
        | CountryNotAllowed | InvalidCode | CodeExpired | CodeAlreadyUsed | TooManyAttempts
        // App Services answers a function that threw (or timed out) with 400.
        | FunctionExecutionError
        // Not 401: confirming a factor is an authenticated call whose token is still good.
        | MfaChallengeInvalid | MfaCodeInvalid | PasskeyOriginMismatch | PasskeyReplay
        | PasskeyCounterRegressed | PasskeyUnknown | PasskeyInvalid => StatusCode::BAD_REQUEST,
        // 401 `InvalidSession` means "this token is no good"; the others are failed credentials.
        InvalidSession | MissingAuthReq | InvalidPassword | AuthError => StatusCode::UNAUTHORIZED,
        // Only ever answered to a login (no token involved): the first factor was right.
        MfaRequired | MfaEnrollmentRequired => StatusCode::UNAUTHORIZED,
        // 403, not 401: the token is good and must not be refreshed or dropped for this.
        UserDisabled | Forbidden | RecentSignInRequired => StatusCode::FORBIDDEN,
        UserNotFound | AuthProviderNotFound | APIKeyNotFound | FunctionNotFound | AppNotFound
        | NotFound | SessionNotFound => StatusCode::NOT_FOUND,
        AccountNameInUse | APIKeyAlreadyExists | IdentityInUse | Conflict => StatusCode::CONFLICT,
        ReadSizeLimitExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        // Never 401: clients keep their tokens through an outage.
        ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}
