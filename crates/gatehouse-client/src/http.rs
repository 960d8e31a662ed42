//! One place that talks HTTP: builds requests, maps answers to [`Error`]. Tokens are sent only
//! to endpoints that need them (unlike realm-web, nothing leaks onto public endpoints). Bodies go
//! out and come back as `gatehouse-proto` types.

use gatehouse_proto::{ErrorBody, ErrorCode};
use reqwest::{Method, StatusCode};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mfa::MfaChallenge;

/// The answer of an endpoint whose body (usually none: `204`) is not read.
pub(crate) type Void = IgnoredAny;

pub(crate) struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

/// A JSON request body, serialised once (a request retried after a refresh sends the same bytes).
pub(crate) struct Body(Vec<u8>);

impl Body {
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Body> {
        serde_json::to_vec(value)
            .map(Body)
            .map_err(|e| Error::InvalidArgument(format!("cannot encode the request: {e}")))
    }

    #[cfg(test)]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

pub(crate) struct Request<'a> {
    pub method: Method,
    pub path: String,
    pub bearer: Option<&'a str>,
    pub body: Option<&'a Body>,
    pub rotate: bool,
}

impl<'a> Request<'a> {
    /// A request without token, body or rotation (public endpoints).
    pub fn new(method: Method, path: impl Into<String>) -> Request<'a> {
        Request {
            method,
            path: path.into(),
            bearer: None,
            body: None,
            rotate: false,
        }
    }

    pub fn bearer(self, token: &'a str) -> Request<'a> {
        Request {
            bearer: Some(token),
            ..self
        }
    }

    pub fn body(self, body: &'a Body) -> Request<'a> {
        Request {
            body: Some(body),
            ..self
        }
    }
}

impl Http {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends and decodes the JSON answer (an empty answer decodes as `null`), or returns the
    /// server's error.
    pub async fn send<T: DeserializeOwned>(&self, req: Request<'_>) -> Result<T> {
        let url = self.url(&req.path);
        let mut builder = self
            .client
            .request(req.method, &url)
            .header("accept", "application/json");
        if let Some(token) = req.bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some(Body(bytes)) = req.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone());
        }
        if req.rotate {
            builder = builder.header(gatehouse_proto::routes::ROTATION_HEADER, "1");
        }
        let response = builder.send().await.map_err(|e| transport(&url, e))?;
        let status = response.status();
        let bytes = read_capped(response, &url).await?;
        if status.is_success() {
            let json: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(json).map_err(|e| Error::Decode(format!("{url}: {e}")));
        }
        Err(server_error(status, &bytes))
    }

    /// A `GET` answered with `200` and an `x-baas-location` header (the start of a link sign-in).
    pub async fn location_header(&self, path: &str, bearer: &str) -> Result<String> {
        let url = self.url(path);
        let response = self
            .client
            .get(&url)
            .bearer_auth(bearer)
            .send()
            .await
            .map_err(|e| transport(&url, e))?;
        let status = response.status();
        let location = response
            .headers()
            .get("x-baas-location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_capped(response, &url).await?;
        if !status.is_success() {
            return Err(server_error(status, &bytes));
        }
        location
            .ok_or_else(|| Error::Decode(format!("{url}: no x-baas-location header in the answer")))
    }
}

/// The largest answer read from a server. Every answer of the protocol is a few KiB at most
/// (a profile, a list of sessions or keys); a server that sends more is refused before it can
/// fill this process's memory.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The body of `response`, or a `Decode` error once it passes [`MAX_RESPONSE_BYTES`] (declared
/// or actual). A refused answer is not a 401, so it never ends a session.
async fn read_capped(mut response: reqwest::Response, url: &str) -> Result<Vec<u8>> {
    let too_large = || {
        Error::Decode(format!(
            "{url}: the answer is larger than {MAX_RESPONSE_BYTES} bytes; it was not read"
        ))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(url, e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport(url: &str, e: reqwest::Error) -> Error {
    let detail = if e.is_timeout() {
        "the request timed out".to_string()
    } else if e.is_connect() {
        "connection refused or unreachable".to_string()
    } else {
        e.to_string()
    };
    Error::Transport {
        url: url.to_string(),
        detail,
    }
}

fn server_error(status: StatusCode, bytes: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) if body.error_code == ErrorCode::RecentSignInRequired.as_str() => {
            Error::RecentSignInRequired {
                message: body.error,
            }
        }
        // A challenge is usable only with its `mfa` member; without one (a server that does not
        // speak the extension) the code stays a plain server error.
        Ok(ErrorBody {
            error_code,
            mfa: Some(info),
            ..
        }) if error_code == ErrorCode::MfaRequired.as_str() => Error::MfaRequired {
            challenge: MfaChallenge::from_info(info, false),
        },
        Ok(ErrorBody {
            error_code,
            mfa: Some(info),
            ..
        }) if error_code == ErrorCode::MfaEnrollmentRequired.as_str() => {
            Error::MfaEnrollmentRequired {
                challenge: MfaChallenge::from_info(info, true),
            }
        }
        Ok(body) if !body.error_code.is_empty() || !body.error.is_empty() => Error::Server {
            status: status.as_u16(),
            code: if body.error_code.is_empty() {
                "Unknown".into()
            } else {
                body.error_code
            },
            message: body.error,
        },
        _ => Error::Server {
            status: status.as_u16(),
            code: format!("HTTP{}", status.as_u16()),
            message: format!("the server answered {status} without an error body"),
        },
    }
}

/// The claims the client reads from a token it holds (access or refresh). Unverified: the
/// server verifies; the client only schedules refreshes and shows custom data. Read leniently
/// (a claim of an unexpected type counts as absent), as the untyped reading did before.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenClaims {
    #[serde(default)]
    exp: serde_json::Value,
    #[serde(default)]
    iat: serde_json::Value,
    #[serde(default)]
    user_data: serde_json::Value,
}

impl TokenClaims {
    pub fn exp(&self) -> Option<i64> {
        self.exp.as_i64()
    }

    pub fn iat(&self) -> Option<i64> {
        self.iat.as_i64()
    }

    pub fn user_data(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.user_data.as_object()
    }
}

/// Decodes a JWT's payload without verifying it.
pub(crate) fn jwt_claims(token: &str) -> Option<TokenClaims> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A loopback server that answers every connection with `head` and then `body_len` bytes.
    async fn server(head: String, body_len: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let head = head.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let _ = socket.write_all(head.as_bytes()).await;
                    let chunk = vec![b' '; 64 * 1024];
                    let mut left = body_len;
                    while left > 0 {
                        let n = left.min(chunk.len());
                        if socket.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        left -= n;
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    async fn get(base: String) -> Result<serde_json::Value> {
        let http = Http {
            client: reqwest::Client::new(),
            base,
        };
        http.send(Request::new(Method::GET, "/x")).await
    }

    #[test]
    fn a_recent_sign_in_refusal_is_its_own_variant_and_never_ends_the_session() {
        let body = br#"{"error":"creating an API key needs a sign-in",
                        "error_code":"RecentSignInRequired","link":""}"#;
        let err = server_error(StatusCode::FORBIDDEN, body);
        assert!(
            matches!(&err, Error::RecentSignInRequired { message } if message.contains("sign-in")),
            "{err:?}"
        );
        assert_eq!(err.code(), "RecentSignInRequired");
        assert!(!err.is_invalid_session() && !err.is_transient());
        let other = server_error(
            StatusCode::FORBIDDEN,
            br#"{"error":"no","error_code":"Forbidden"}"#,
        );
        assert!(matches!(other, Error::Server { status: 403, .. }));
    }

    #[test]
    fn a_challenge_becomes_its_own_variant_only_with_its_mfa_member() {
        let body = br#"{"error":"a second factor is required","error_code":"MfaRequired",
            "link":"","mfa":{"challenge_id":"c1","methods":["totp","recovery_code"],
            "expires_at":1700000300,"provider":"local-userpass"}}"#;
        let err = server_error(StatusCode::UNAUTHORIZED, body);
        let Error::MfaRequired { challenge } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (
                challenge.id.as_str(),
                challenge.expires_at,
                challenge.provider.as_str()
            ),
            ("c1", 1700000300, "local-userpass")
        );
        assert_eq!(challenge.methods, ["totp", "recovery_code"]);
        assert!(!challenge.is_enrollment());
        assert_eq!(err.code(), "MfaRequired");
        assert!(err.to_string().contains("totp, recovery_code"), "{err}");
        assert!(
            !err.is_invalid_session() && !err.is_transient(),
            "a challenge never ends a session nor is retried"
        );

        let enroll = br#"{"error":"set up a second factor","error_code":"MfaEnrollmentRequired",
            "mfa":{"challenge_id":"c2","methods":["totp"],"expires_at":5,"provider":"anon-user"}}"#;
        let err = server_error(StatusCode::UNAUTHORIZED, enroll);
        assert!(
            matches!(&err, Error::MfaEnrollmentRequired { challenge }
                if challenge.id == "c2" && challenge.is_enrollment()),
            "{err:?}"
        );
        assert_eq!(err.code(), "MfaEnrollmentRequired");
        assert_eq!(err.mfa_challenge().map(|c| c.id.as_str()), Some("c2"));

        // Without the member (a server that does not speak the extension): a plain refusal.
        let bare = br#"{"error":"second factor","error_code":"MfaRequired"}"#;
        let err = server_error(StatusCode::UNAUTHORIZED, bare);
        assert!(
            matches!(&err, Error::Server { status: 401, code, .. } if code == "MfaRequired"),
            "{err:?}"
        );
        assert!(err.mfa_challenge().is_none());
    }

    #[test]
    fn only_a_wrong_code_or_a_passing_failure_keeps_a_challenge() {
        let err = |status: u16, code: &str| {
            let body = format!(r#"{{"error":"no","error_code":"{code}"}}"#);
            server_error(StatusCode::from_u16(status).unwrap(), body.as_bytes())
        };
        assert!(err(400, "MfaCodeInvalid").keeps_mfa_challenge());
        assert!(err(429, "TooManyRequests").keeps_mfa_challenge());
        assert!(err(503, "ServiceUnavailable").keeps_mfa_challenge());
        assert!(!err(400, "MfaChallengeInvalid").keeps_mfa_challenge());
        let offline = Error::Transport {
            url: "http://x".into(),
            detail: "refused".into(),
        };
        assert!(offline.keeps_mfa_challenge());
    }

    #[tokio::test]
    async fn an_answer_over_the_cap_is_refused_whether_declared_or_not() {
        let declared = MAX_RESPONSE_BYTES + 1;
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {declared}\r\n\r\n");
        let err = get(server(head, declared).await).await.unwrap_err();
        assert!(
            matches!(&err, Error::Decode(m) if m.contains("larger than")),
            "{err}"
        );

        // No length: the body is counted as it arrives (and the connection closes at the end).
        let head = "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_string();
        let err = get(server(head, 3 * MAX_RESPONSE_BYTES).await)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Decode(m) if m.contains("larger than")),
            "{err}"
        );
        assert_ne!(
            err.code(),
            "InvalidSession",
            "an oversized answer never ends a session"
        );
    }

    #[tokio::test]
    async fn an_answer_under_the_cap_is_read() {
        let len = MAX_RESPONSE_BYTES - 10;
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n[1]", len + 3);
        // `[1]` then spaces: valid JSON of almost the whole cap.
        assert_eq!(
            get(server(head, len).await).await.unwrap(),
            serde_json::json!([1])
        );
    }
}
