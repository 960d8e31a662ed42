//! How an [`ApiError`] goes on the wire: the status from [`super::status::of`], and the body
//! `{error, error_code, link}` with `Content-Type: application/json` exactly (realm-core
//! compares that header for equality).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_proto::{ErrorBody, ErrorCode};

use crate::error::ApiError;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = super::status::of(self.code);
        render(status, self)
    }
}

/// `405` for a method a path does not take. Its code is `BadRequest` (as App Services answers),
/// whose status in the table is 400: the one place where the status is set by the edge rather
/// than by the code, because "which methods does this path take" is a routing fact.
pub fn method_not_allowed() -> Response {
    render(
        StatusCode::METHOD_NOT_ALLOWED,
        ApiError::new(ErrorCode::BadRequest, "method not allowed on this endpoint"),
    )
}

fn render(status: StatusCode, error: ApiError) -> Response {
    let body = ErrorBody {
        error: error.message,
        error_code: error.code.as_str().to_string(),
        link: String::new(),
        mfa: error.mfa.map(|info| *info),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(secs) = error.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
