//! App functions (`POST {app}/functions/call` and its streaming GET form): each configured
//! function is a webhook of the app's own (`[apps.<id>.functions.<name>]`). The server forwards
//! `{"type": "function.call", "app_id", "data": {name, arguments, user}}` signed the Standard
//! Webhooks way through the guarded outbound client, within the function's timeout, and hands
//! back the EJSON `result` the hook answers. Failures carry App Services' codes: an unknown or
//! private function is `FunctionNotFound`, a hook that answers an error, times out, cannot be
//! reached or answers nonsense is `FunctionExecutionError` (docs/providers.md, docs/protocol.md).

use gatehouse_proto::ErrorCode;
use serde_json::{json, Map, Value};

use crate::config::FunctionConfig;
use crate::error::{ApiError, ApiResult};
use crate::idp::webhook;
use crate::outbound::OutboundError;
use crate::sessions::{self, AccessAuth};
use crate::state::AppState;
use crate::store::{custom_data, users};

/// The `type` of a function call delivery.
pub const KIND: &str = "function.call";
/// A hook's error message is passed to the client up to this many characters.
const MAX_MESSAGE: usize = 1000;

/// One call as a client sends it: `{"name", "arguments"?, "service"?}` (arguments in the
/// client's canonical EJSON, passed on untouched).
#[derive(Debug)]
pub struct Call {
    pub name: String,
    pub arguments: Vec<Value>,
}

impl Call {
    pub fn parse(body: Value) -> ApiResult<Call> {
        let Value::Object(mut body) = body else {
            return Err(ApiError::bad_request("a function call is a JSON object"));
        };
        let name = match body.remove("name") {
            Some(Value::String(name)) if !name.is_empty() => name,
            _ => {
                return Err(ApiError::new(
                    ErrorCode::MissingParameter,
                    "a function call needs a name",
                ))
            }
        };
        let arguments = match body.remove("arguments") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(ApiError::invalid_parameter(
                    "a function call's arguments are an array",
                ))
            }
        };
        // Service functions (realm-web's MongoDB client) run inside App Services' services,
        // which this server does not have.
        if let Some(service) = body.get("service").and_then(Value::as_str) {
            return Err(ApiError::new(
                ErrorCode::FunctionNotFound,
                format!("function not found: '{name}' (service '{service}')"),
            ));
        }
        Ok(Call { name, arguments })
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::FunctionNotFound,
        format!("function not found: '{name}'"),
    )
}

fn failed(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::FunctionExecutionError, message)
}

/// Runs `call` for the caller `auth` in app `app_id` and answers the function's EJSON result.
pub async fn call(
    state: &AppState,
    app_id: &str,
    auth: &AccessAuth,
    call: Call,
) -> ApiResult<Value> {
    let app = state.app(app_id)?;
    let user = sessions::user_of(state, &auth.session).await?;
    if user.app_id != app_id {
        return Err(ApiError::invalid_session(
            "invalid session: the token belongs to another app",
        ));
    }
    // A private function is for the server's own use: to a client it does not exist.
    let Some(function) = app.functions.get(&call.name).filter(|f| !f.private) else {
        return Err(not_found(&call.name));
    };
    let identities = users::identities(state.db.reader(), &user.id).await?;
    let custom = custom_data::get(state.db.reader(), &user.id).await?;
    let mut who = json!({
        "id": user.id,
        "type": user.user_type,
        "data": user.data,
        "identities": identities,
    });
    if let Some(custom) = custom {
        who["custom_data"] = Value::Object(custom);
    }
    let data = json!({"name": call.name, "arguments": call.arguments, "user": who});
    deliver(state, app_id, &call.name, function, data).await
}

async fn deliver(
    state: &AppState,
    app_id: &str,
    name: &str,
    function: &FunctionConfig,
    data: Value,
) -> ApiResult<Value> {
    let key = function.signing_key().map_err(|why| {
        // Refused at start already; kept as an outage rather than a panic.
        tracing::error!(app_id, function = name, "function secret {why}");
        failed(format!("function '{name}' could not be run"))
    })?;
    let body = webhook::envelope(KIND, app_id, data);
    let headers = webhook::signed_headers(&key, &body, state.now());
    let timeout = function.timeout();
    let reply = state
        .outbound
        .post_json_within(&function.url, &headers, body, Some(timeout))
        .await
        .map_err(|e| {
            tracing::warn!(app_id, function = name, error = %e, "function webhook failed");
            match e {
                OutboundError::Timeout(_) => failed(format!(
                    "execution time limit exceeded: function '{name}' did not answer within {} ms",
                    timeout.as_millis()
                )),
                OutboundError::TooLarge(_) => failed(format!(
                    "function '{name}' answered more than {} KiB",
                    crate::outbound::MAX_BODY / 1024
                )),
                // The hook's address stays in the log: it is the app's, not the client's.
                _ => failed(format!(
                    "function '{name}' could not be run: its webhook could not be reached"
                )),
            }
        })?;
    let answer = reply.json();
    let field = |key: &str| {
        answer
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|m: &Map<String, Value>| m.get(key))
    };
    if let Some(message) = field("error").filter(|m| !m.is_null()) {
        let message = match message {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Err(failed(
            message.chars().take(MAX_MESSAGE).collect::<String>(),
        ));
    }
    if !reply.ok() {
        tracing::warn!(
            app_id,
            function = name,
            status = reply.status,
            "function failed"
        );
        return Err(failed(format!(
            "function '{name}' failed: its webhook answered HTTP {}",
            reply.status
        )));
    }
    field("result").cloned().ok_or_else(|| {
        tracing::warn!(
            app_id,
            function = name,
            "function answered without a result"
        );
        failed(format!(
            "function '{name}' gave no result (its webhook must answer {{\"result\": …}})"
        ))
    })
}

/// Server-sent events for the streaming form: one `data:` event per value, in EJSON text where
/// `%`, CR and LF are written `%25`, `%0D`, `%0A` (as App Services does; realm-web undoes it).
pub fn sse_event(value: &Value) -> String {
    let text = value
        .to_string()
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    format!("data: {text}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_parse_name_arguments_and_refuse_services() {
        let c = Call::parse(json!({"name": "sum", "arguments": [{"$numberLong": "5"}]})).unwrap();
        assert_eq!(
            (c.name.as_str(), c.arguments),
            ("sum", vec![json!({"$numberLong": "5"})])
        );
        assert!(Call::parse(json!({"name": "f"}))
            .unwrap()
            .arguments
            .is_empty());
        assert_eq!(
            Call::parse(json!({"arguments": []})).unwrap_err().code,
            ErrorCode::MissingParameter
        );
        assert_eq!(
            Call::parse(json!({"name": "f", "arguments": 1}))
                .unwrap_err()
                .code,
            ErrorCode::InvalidParameter
        );
        let service = Call::parse(json!({"name": "find", "service": "mongo-db"})).unwrap_err();
        assert_eq!(service.code, ErrorCode::FunctionNotFound);
        assert_eq!(
            service.message,
            "function not found: 'find' (service 'mongo-db')"
        );
    }

    #[test]
    fn sse_events_percent_encode_what_would_break_a_line() {
        assert_eq!(
            sse_event(&json!({"a": "50%\r\nx"})),
            "data: {\"a\":\"50%25\\r\\nx\"}\n\n"
        );
        assert_eq!(sse_event(&json!(1)), "data: 1\n\n");
    }
}
