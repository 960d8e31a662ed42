//! One place that talks HTTP: builds requests, maps answers to [`Error`]. Tokens are sent only
//! to endpoints that need them (unlike realm-web, nothing leaks onto public endpoints).

use gatehouse_proto::ErrorBody;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::error::{Error, Result};

pub(crate) struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

pub(crate) struct Request<'a> {
    pub method: Method,
    pub path: String,
    pub bearer: Option<&'a str>,
    pub body: Option<&'a Value>,
    pub rotate: bool,
}

impl Http {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends and returns the JSON body (`Value::Null` for a void answer), or the server's error.
    pub async fn send(&self, req: Request<'_>) -> Result<Value> {
        let url = self.url(&req.path);
        let mut builder = self.client.request(req.method, &url).header("accept", "application/json");
        if let Some(token) = req.bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = req.body {
            builder = builder.json(body);
        }
        if req.rotate {
            builder = builder.header(gatehouse_proto::routes::ROTATION_HEADER, "1");
        }
        let response = builder.send().await.map_err(|e| transport(&url, e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(&url, e))?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|e| Error::Decode(format!("{url}: {e}")));
        }
        Err(server_error(status, &bytes))
    }
}

impl Http {
    /// A `GET` answered with `200` and an `x-baas-location` header (the start of a link sign-in).
    pub async fn location_header(&self, path: &str, bearer: &str) -> Result<String> {
        let url = self.url(path);
        let response = self.client.get(&url).bearer_auth(bearer).send().await.map_err(|e| transport(&url, e))?;
        let status = response.status();
        let location = response.headers().get("x-baas-location").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = response.bytes().await.map_err(|e| transport(&url, e))?;
        if !status.is_success() {
            return Err(server_error(status, &bytes));
        }
        location.ok_or_else(|| Error::Decode(format!("{url}: no x-baas-location header in the answer")))
    }
}

fn transport(url: &str, e: reqwest::Error) -> Error {
    let detail = if e.is_timeout() {
        "the request timed out".to_string()
    } else if e.is_connect() {
        "connection refused or unreachable".to_string()
    } else {
        e.to_string()
    };
    Error::Transport { url: url.to_string(), detail }
}

fn server_error(status: StatusCode, bytes: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) if !body.error_code.is_empty() || !body.error.is_empty() => Error::Server {
            status: status.as_u16(),
            code: if body.error_code.is_empty() { "Unknown".into() } else { body.error_code },
            message: body.error,
        },
        _ => Error::Server {
            status: status.as_u16(),
            code: format!("HTTP{}", status.as_u16()),
            message: format!("the server answered {status} without an error body"),
        },
    }
}

/// Decodes a JWT's payload without verifying it (the server verifies; the client only reads
/// `exp`, `iat` and `user_data`).
pub(crate) fn jwt_claims(token: &str) -> Option<Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}
