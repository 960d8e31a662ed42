//! Extended JSON in request bodies.
//!
//! realm-web and realm-core send canonical EJSON (`{"$numberInt":"5"}`, `{"$oid":"…"}`); other
//! clients send plain (relaxed) JSON. [`relax`] turns either into plain JSON so the server works
//! with one shape: numbers become JSON numbers, ObjectIds become their 24-hex string, and the
//! wrappers without a lossless plain form (`$date`, `$binary`, `$numberDecimal`, …) are kept with
//! their inner values relaxed.

use serde_json::{Map, Number, Value};

/// Relax canonical EJSON wrappers into plain JSON values, recursively.
pub fn relax(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(relax).collect()),
        Value::Object(map) => relax_object(map),
        other => other,
    }
}

fn relax_object(map: Map<String, Value>) -> Value {
    if let (1, Some((key, inner))) = (map.len(), map.iter().next()) {
        if let Some(plain) = relax_wrapper(key, inner) {
            return plain;
        }
    }
    Value::Object(map.into_iter().map(|(k, v)| (k, relax(v))).collect())
}

fn relax_wrapper(key: &str, inner: &Value) -> Option<Value> {
    let text = inner.as_str();
    match key {
        "$numberInt" | "$numberLong" => text?.parse::<i64>().ok().map(|n| Value::Number(n.into())),
        "$numberDouble" => {
            let text = text?;
            let f: f64 = text.parse().ok()?;
            // NaN and the infinities have no JSON number form; keep their canonical text.
            Some(
                Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(text.to_string())),
            )
        }
        "$oid" => {
            let hex = text?;
            (hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| Value::String(hex.to_ascii_lowercase()))
        }
        "$date" => Some(serde_json::json!({ "$date": relax(inner.clone()) })),
        _ => None,
    }
}

/// Nesting depth of a JSON value (a scalar has depth 1).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relaxes_the_wrappers_realm_web_sends() {
        let canonical = json!({
            "username": "x",
            "n": {"$numberInt": "5"},
            "l": {"$numberLong": "9007199254740993"},
            "d": {"$numberDouble": "1.5"},
            "oid": {"$oid": "65F0000000000000000000BB"},
            "args": [{"$numberInt":"1"}, {"a": {"$numberInt":"1"}}, null, true],
            "when": {"$date": {"$numberLong": "0"}},
            "nan": {"$numberDouble": "NaN"},
        });
        assert_eq!(
            relax(canonical),
            json!({
                "username": "x", "n": 5, "l": 9007199254740993i64, "d": 1.5,
                "oid": "65f0000000000000000000bb",
                "args": [1, {"a": 1}, null, true],
                "when": {"$date": 0},
                "nan": "NaN",
            })
        );
    }

    #[test]
    fn leaves_plain_json_and_lookalikes_alone() {
        let plain = json!({"$oid": "not-hex", "a": {"$numberInt": "5", "other": 1}, "b": 2});
        assert_eq!(relax(plain.clone()), plain);
    }

    #[test]
    fn measures_depth() {
        assert_eq!(depth(&json!(1)), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": 2}]})), 4);
    }
}
