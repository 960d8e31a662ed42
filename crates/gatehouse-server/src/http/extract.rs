//! Request extractors: bounded EJSON bodies (raw or typed), the caller's address and user agent,
//! and the bearer token — raw ([`Authorization`]) or authenticated as an access token
//! ([`AccessCaller`]) or a refresh token ([`RefreshCaller`]).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use gatehouse_proto::ErrorCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::sessions::{self, AccessAuth};
use crate::state::AppState;
use crate::store::sessions::SessionRow;
use crate::tokens::RefreshClaims;

/// Largest accepted request body on the client API (security.md S-71).
pub const MAX_BODY: usize = 64 * 1024;
/// Deepest accepted JSON nesting.
pub const MAX_DEPTH: usize = 32;

/// A JSON body, size- and depth-limited, with canonical EJSON relaxed to plain JSON.
pub struct EJson(pub Value);

impl FromRequest<AppState> for EJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<EJson, ApiError> {
        let value = gatehouse_proto::ejson::relax(bounded_json(req).await?);
        refuse_control_characters(&value)?;
        Ok(EJson(value))
    }
}

/// A JSON body with the same limits, kept exactly as sent: function arguments travel to the
/// app's webhook in the client's canonical EJSON (`$numberLong`, `$oid`, `$date` keep their types).
pub struct CanonicalEJson(pub Value);

impl FromRequest<AppState> for CanonicalEJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<CanonicalEJson, ApiError> {
        bounded_json(req).await.map(CanonicalEJson)
    }
}

/// The body as JSON: `application/json` (or no Content-Type), at most `MAX_BODY` bytes and
/// `MAX_DEPTH` levels; an empty body is `{}`.
async fn bounded_json(req: Request) -> Result<Value, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::ReadSizeLimitExceeded,
            format!("request body is larger than {MAX_BODY} bytes"),
        )
    };
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        if !ct
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(ApiError::bad_request(format!(
                "Content-Type must be application/json, not {ct:?}"
            )));
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| too_large())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    if gatehouse_proto::ejson::depth(&value) > MAX_DEPTH {
        return Err(ApiError::bad_request(format!(
            "request body nests deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(value)
}

/// Body members that name an account, a token, a key or a device, with the code a control
/// character in them answers. They end up in lookups and rows, and PostgreSQL refuses NUL in
/// text with an error that is no outage.
const IDENTIFIERS: [(&str, ErrorCode); 10] = [
    ("username", ErrorCode::InvalidParameter),
    ("email", ErrorCode::InvalidEmail),
    ("phone", ErrorCode::InvalidPhone),
    ("token", ErrorCode::InvalidParameter),
    ("tokenId", ErrorCode::InvalidParameter),
    ("code", ErrorCode::InvalidParameter),
    ("key", ErrorCode::InvalidParameter),
    ("name", ErrorCode::InvalidParameter),
    ("id", ErrorCode::InvalidParameter),
    ("code_verifier", ErrorCode::InvalidParameter),
];

/// NUL and the other control characters in an identifier member (top level) or in the device a
/// client names (`options.device.*`) answer 400 with the member's name (issue 12, item 16).
pub fn refuse_control_characters(body: &Value) -> ApiResult<()> {
    let refuse = |name: &str, code: ErrorCode| {
        ApiError::new(
            code,
            format!("{name} must not contain NUL or other control characters"),
        )
    };
    let has_control = |v: &Value| v.as_str().is_some_and(|s| s.chars().any(char::is_control));
    for (name, code) in IDENTIFIERS {
        if body.get(name).is_some_and(has_control) {
            return Err(refuse(name, code));
        }
    }
    if let Some(Value::Object(device)) = body.get("options").and_then(|o| o.get("device")) {
        if let Some((name, _)) = device.iter().find(|(_, v)| has_control(v)) {
            return Err(refuse(name, ErrorCode::InvalidParameter));
        }
    }
    Ok(())
}

/// True when the percent-decoded path or query of a request holds a control character (an id
/// in the path, a `state` or `code` in the query).
pub fn uri_has_control(uri: &axum::http::Uri) -> bool {
    let text = uri.path_and_query().map_or("", |pq| pq.as_str()).as_bytes();
    let hex = |i: usize| text.get(i).and_then(|&b| (b as char).to_digit(16));
    text.iter().enumerate().any(|(i, &b)| {
        let decoded = match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => (h * 16 + l) as u8,
            _ => b,
        };
        decoded.is_ascii_control()
    })
}

impl EJson {
    /// Decodes into a typed body (unknown fields are refused where the type says so).
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        serde_json::from_value(self.0)
            .map_err(|e| ApiError::invalid_parameter(format!("invalid request body: {e}")))
    }
}

/// A typed body: [`EJson`]'s limits and relaxing, then decoding into `T` (a body that does not
/// fit answers 400 `InvalidParameter`).
pub struct Typed<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Typed<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Typed<T>, ApiError> {
        EJson::from_request(req, state).await?.parse().map(Typed)
    }
}

/// Who is calling: the client IP (trusted-proxy aware) and user agent.
#[derive(Debug, Clone)]
pub struct Caller {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl Caller {
    /// The caller as the activity log records it.
    pub fn origin(&self) -> crate::activity::Origin<'_> {
        crate::activity::Origin {
            ip: self.ip,
            user_agent: self.user_agent.as_deref(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        let ip = state.limiter.client_ip(peer, forwarded.into_iter());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Caller { ip, user_agent })
    }
}

/// The request's `Authorization` header, unchecked: for endpoints that decide themselves when
/// (or whether) to look at it — public endpoints ignore it, login reads it only to link.
pub struct Authorization(Option<HeaderValue>);

impl FromRequestParts<AppState> for Authorization {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Authorization, Self::Rejection> {
        Ok(Authorization(
            parts.headers.get(header::AUTHORIZATION).cloned(),
        ))
    }
}

impl Authorization {
    /// The bearer token. `Bearer null` and friends are just undecodable tokens.
    pub fn bearer(&self) -> ApiResult<&str> {
        let value = self
            .0
            .as_ref()
            .ok_or_else(|| ApiError::new(ErrorCode::MissingAuthReq, "must authenticate first"))?;
        let value = value.to_str().map_err(|_| {
            ApiError::invalid_session("invalid session: malformed Authorization header")
        })?;
        value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::invalid_session("invalid session: expected a Bearer token"))
    }

    /// The access token's caller (what [`AccessCaller`] extracts), checked now.
    pub async fn access(&self, state: &AppState) -> ApiResult<AccessAuth> {
        sessions::authenticate_access(state, self.bearer()?).await
    }
}

/// The request's cookies, as one `Cookie` header value (`a=1; b=2`), for the browser sign-in
/// callback's binding cookie.
pub struct Cookies(pub String);

impl FromRequestParts<AppState> for Cookies {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Cookies, Self::Rejection> {
        let all = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>();
        Ok(Cookies(all.join("; ")))
    }
}

/// A caller authenticated by an access token whose session is live (S-35).
pub struct AccessCaller(pub AccessAuth);

impl FromRequestParts<AppState> for AccessCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<AccessCaller, ApiError> {
        let Ok(authorization) = Authorization::from_request_parts(parts, state).await;
        authorization.access(state).await.map(AccessCaller)
    }
}

/// A caller authenticated by its session's current refresh token (the API-key endpoints).
pub struct RefreshCaller {
    pub claims: RefreshClaims,
    pub session: SessionRow,
}

impl FromRequestParts<AppState> for RefreshCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<RefreshCaller, ApiError> {
        let Ok(authorization) = Authorization::from_request_parts(parts, state).await;
        let (claims, session) =
            sessions::authenticate_refresh(state, authorization.bearer()?).await?;
        Ok(RefreshCaller { claims, session })
    }
}

/// Whether the client opted into refresh-token rotation (`x-gatehouse-refresh-rotation: 1`).
pub struct RotationOptIn(pub bool);

impl FromRequestParts<AppState> for RotationOptIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &AppState,
    ) -> Result<RotationOptIn, Self::Rejection> {
        let header = parts.headers.get(gatehouse_proto::routes::ROTATION_HEADER);
        Ok(RotationOptIn(header.is_some_and(|v| v.as_bytes() == b"1")))
    }
}
