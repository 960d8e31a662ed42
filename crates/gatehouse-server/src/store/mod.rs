//! Rows and the SQL that reads and writes them, one module per table family. Functions take any
//! executor (a pool or an open transaction), so callers decide what is atomic.

pub mod api_keys;
pub mod failures;
pub mod jti;
pub mod magic;
pub mod maintenance;
pub mod oauth_flows;
pub mod phone;
pub mod sessions;
pub mod userpass;
pub mod users;

use serde_json::{Map, Value};

pub(crate) fn json_map(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn json_text(map: &Map<String, Value>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}
