//! The server's one error type and how it goes on the wire: `{error, error_code, link}` with
//! `Content-Type: application/json` exactly (realm-core compares that header for equality).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_proto::{ErrorBody, ErrorCode};

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidParameter, message)
    }

    /// Every token problem on an endpoint that needs a token: the only case that makes clients
    /// refresh (realm-web) or log out (failed refresh).
    pub fn invalid_session(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidSession, message)
    }

    /// The one answer for every failed credential check (unknown account, wrong password,
    /// disabled key, soft lock): identical status, body and code.
    pub fn invalid_credentials() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidPassword, "invalid username/password")
    }

    pub fn too_many_requests(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests,
                format!("too many requests; try again in {} seconds", retry_after.max(1)))
        }
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(2),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ServiceUnavailable, message)
        }
    }

    pub fn internal() -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalServerError,
            "internal server error; the server log has the details")
    }
}

impl From<sqlx::Error> for ApiError {
    /// A database that is down, slow or full answers 503 so clients keep their tokens and retry;
    /// never 401, which would throw credentials away.
    fn from(err: sqlx::Error) -> ApiError {
        tracing::error!(error = %err, "database error");
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed | sqlx::Error::Database(_) => {
                ApiError::unavailable("the database is unavailable; try again shortly")
            }
            _ => ApiError::internal(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.message, error_code: self.code.as_str().to_string(), link: String::new() };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
