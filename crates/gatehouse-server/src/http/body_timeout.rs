//! The body read timeout (issue 12, item 17): a request that declares a body must deliver all of
//! it within `[limits] body_read_timeout_ms`, else the answer is 408 `RequestTimeout` with
//! `Connection: close`. The body is read here, at most one byte past the largest body any
//! route accepts (so the route still gives its own 413), and handed on whole.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_proto::ErrorCode;

use crate::error::ApiError;

/// Enough for every body a route reads ([`super::extract::MAX_BODY`] and the HTML forms).
const READ_AT_MOST: usize = 1024 * 1024;

pub async fn body_read_timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > READ_AT_MOST) {
        // Refused from the declared length alone, as the routes do: nothing is read.
        return too_large();
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(limit, axum::body::to_bytes(body, READ_AT_MOST)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => too_large(),
        Err(_) => closing(ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} ms",
                limit.as_millis()
            ),
        )),
    }
}

fn too_large() -> Response {
    closing(ApiError::new(
        ErrorCode::ReadSizeLimitExceeded,
        format!("request body is larger than {READ_AT_MOST} bytes"),
    ))
}

/// The rest of such a body is never read, so the connection cannot carry another request.
fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
