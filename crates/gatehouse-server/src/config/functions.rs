//! `[apps.<id>.functions.<name>]`: app functions that clients call by name
//! (`POST {app}/functions/call`), each served by a webhook of the app's own, signed the Standard
//! Webhooks way like every other webhook (`src/functions.rs` calls them).

use serde::Deserialize;

use super::external::webhook_key;
use crate::Secret;

/// The longest a function may run when no `timeout_ms` is set.
pub const DEFAULT_FUNCTION_TIMEOUT_MS: u64 = 10_000;
/// App Services stops a function after 300 s; none here may be allowed longer.
pub const MAX_FUNCTION_TIMEOUT_MS: u64 = 300_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    /// The webhook that runs the function: `https`, or plain `http` to loopback when
    /// `outbound.allow_loopback_http` is set (development). The outbound guard applies.
    pub url: String,
    /// The signing secret, read as for every webhook (`whsec_` + base64, or ≥ 32 bytes of text).
    pub secret: Secret,
    /// A private function is only for the server's own use: clients calling it are answered
    /// exactly as for a function that does not exist.
    #[serde(default)]
    pub private: bool,
    /// How long the webhook may take to answer (100 ms to 300 s; 10 s when not set). It
    /// replaces `outbound.timeout_ms` for these calls only.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl FunctionConfig {
    pub fn signing_key(&self) -> Result<Vec<u8>, String> {
        webhook_key(self.secret.expose())
    }

    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_FUNCTION_TIMEOUT_MS))
    }
}

/// A name a client can spell in a call: letters, digits, `_` and `-`, at most 64.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Refuses a function with an unusable name, secret, URL or timeout, naming the setting.
pub(super) fn validate(id: &str, app: &super::AppConfig) -> anyhow::Result<()> {
    for (name, f) in &app.functions {
        let key = format!("apps.{id}.functions.{name}");
        anyhow::ensure!(
            valid_name(name),
            "{key}: a function name is 1 to 64 letters, digits, _ or -"
        );
        if let Err(why) = f.signing_key() {
            anyhow::bail!("{key}.secret {why}");
        }
        anyhow::ensure!(
            f.url.starts_with("https://") || f.url.starts_with("http://"),
            "{key}.url must be an http(s) URL"
        );
        anyhow::ensure!(
            f.timeout_ms
                .is_none_or(|t| (100..=MAX_FUNCTION_TIMEOUT_MS).contains(&t)),
            "{key}.timeout_ms must be between 100 and {MAX_FUNCTION_TIMEOUT_MS}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppConfig;

    fn app(name: &str, f: FunctionConfig) -> AppConfig {
        let mut app = AppConfig::default();
        app.functions.insert(name.into(), f);
        app
    }

    fn function(url: &str, secret: &str, timeout_ms: Option<u64>) -> FunctionConfig {
        FunctionConfig {
            url: url.into(),
            secret: Secret::new(secret),
            private: false,
            timeout_ms,
        }
    }

    #[test]
    fn functions_refuse_bad_names_secrets_urls_and_timeouts() {
        let good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let ok = function("https://hooks.example/fn", good, Some(5000));
        assert!(validate("a", &app("sum_2-x", ok.clone())).is_ok());
        let err = |name: &str, f: FunctionConfig| validate("a", &app(name, f)).unwrap_err();
        assert!(err("a.b", ok.clone()).to_string().contains("function name"));
        assert!(err("", ok.clone()).to_string().contains("function name"));
        assert!(err("f", function("https://h/", "short", None))
            .to_string()
            .contains("apps.a.functions.f.secret"));
        assert!(err("f", function("ftp://h/", good, None))
            .to_string()
            .contains("http(s)"));
        for t in [0, 99, MAX_FUNCTION_TIMEOUT_MS + 1] {
            assert!(err("f", function("https://h/", good, Some(t)))
                .to_string()
                .contains("timeout_ms"));
        }
        assert_eq!(
            function("https://h/", good, None).timeout(),
            std::time::Duration::from_secs(10)
        );
    }

    #[test]
    fn functions_read_from_toml() {
        let f: FunctionConfig = toml::from_str(
            "url = \"https://h/fn\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
             private = true\ntimeout_ms = 2000\n",
        )
        .unwrap();
        assert!(f.private);
        assert_eq!(f.timeout_ms, Some(2000));
        assert!(
            toml::from_str::<FunctionConfig>("url = \"https://h/\"\nsecret = \"x\"\nnope = 1")
                .is_err()
        );
    }
}
