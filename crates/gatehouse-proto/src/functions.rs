//! `POST {app}/functions/call`: call an app function by name with positional arguments.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The call body, as the App Services clients send it (`arguments` always present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallRequest {
    pub name: String,
    #[serde(default)]
    pub arguments: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialises_as_the_sdk_sent_it() {
        let call = FunctionCallRequest {
            name: "sum".into(),
            arguments: vec![json!(1), json!({"a": 2})],
        };
        assert_eq!(
            serde_json::to_value(&call).unwrap(),
            json!({"name": "sum", "arguments": [1, {"a": 2}]})
        );
        let none = FunctionCallRequest {
            name: "f".into(),
            arguments: vec![],
        };
        assert_eq!(
            serde_json::to_value(&none).unwrap(),
            json!({"name": "f", "arguments": []})
        );
    }
}
