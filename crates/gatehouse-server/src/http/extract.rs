//! Request extractors: bounded EJSON bodies and the caller's address and user agent.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use gatehouse_proto::ErrorCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// Largest accepted request body on the client API (security.md S-71).
pub const MAX_BODY: usize = 64 * 1024;
/// Deepest accepted JSON nesting.
pub const MAX_DEPTH: usize = 32;

/// A JSON body, size- and depth-limited, with canonical EJSON relaxed to plain JSON.
pub struct EJson(pub Value);

impl FromRequest<AppState> for EJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<EJson, ApiError> {
        let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::ReadSizeLimitExceeded,
            format!("request body is larger than {MAX_BODY} bytes"));
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            if !ct.trim_start().to_ascii_lowercase().starts_with("application/json") {
                return Err(ApiError::bad_request(format!("Content-Type must be application/json, not {ct:?}")));
            }
        }
        let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| too_large())?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(EJson(Value::Object(Default::default())));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
        if gatehouse_proto::ejson::depth(&value) > MAX_DEPTH {
            return Err(ApiError::bad_request(format!("request body nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(EJson(gatehouse_proto::ejson::relax(value)))
    }
}

impl EJson {
    /// Decodes into a typed body (unknown fields are refused where the type says so).
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        serde_json::from_value(self.0).map_err(|e| ApiError::invalid_parameter(format!("invalid request body: {e}")))
    }
}

/// Who is calling: the client IP (trusted-proxy aware) and user agent.
#[derive(Debug, Clone)]
pub struct Caller {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let ip = state.limiter.client_ip(peer, forwarded);
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string);
        Ok(Caller { ip, user_agent })
    }
}

/// The body of a request we never read (keeps handler signatures honest).
pub type Ignored = Body;
