//! The window's security policy as built (security.md T-49): the Content-Security-Policy in
//! `tauri.conf.json` and the capabilities the window gets. Any widening — a new source, a
//! wildcard, `unsafe-inline`/`unsafe-eval`, a remote URL, another capability file, a plugin
//! permission for the page — fails here, so it can only happen by editing this test on purpose.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn json(path: &str) -> Value {
    let path = crate_dir().join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The policy, directive by directive (sources sorted).
fn directives(csp: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for directive in csp.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let mut words = directive.split_whitespace();
        let name = words.next().unwrap().to_ascii_lowercase();
        let mut sources: Vec<String> = words.map(str::to_string).collect();
        sources.sort();
        assert!(
            out.insert(name.clone(), sources).is_none(),
            "{name} appears twice in the CSP"
        );
    }
    out
}

#[test]
fn the_content_security_policy_is_exactly_the_reviewed_one() {
    let conf = json("tauri.conf.json");
    let csp = conf["app"]["security"]["csp"]
        .as_str()
        .expect("a CSP string in tauri.conf.json");
    let got = directives(csp);
    let expected: BTreeMap<String, Vec<String>> = [
        ("default-src", vec!["'self'"]),
        ("script-src", vec!["'self'"]),
        ("style-src", vec!["'self'"]),
        ("img-src", vec!["'self'", "data:"]),
        // Tauri's IPC: the custom protocol, and its localhost form on Linux.
        ("connect-src", vec!["http://ipc.localhost", "ipc:"]),
        ("object-src", vec!["'none'"]),
        ("base-uri", vec!["'none'"]),
        ("form-action", vec!["'none'"]),
        ("frame-ancestors", vec!["'none'"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    assert_eq!(got, expected, "the window's CSP changed: {csp}");
    for sources in got.values() {
        for s in sources {
            assert!(
                !s.contains('*') && !s.contains("unsafe") && s != "https:" && s != "http:",
                "widening source {s} in the CSP"
            );
        }
    }
    // Tauri may not relax what we wrote (it would append hashes/nonces we never reviewed).
    let dangerous = &conf["app"]["security"]["dangerousDisableAssetCspModification"];
    assert!(
        dangerous.is_null() || dangerous == false,
        "CSP modification must stay on"
    );
}

#[test]
fn the_window_has_exactly_one_capability_and_no_plugin_permissions() {
    let conf = json("tauri.conf.json");
    assert_eq!(
        conf["app"]["security"]["capabilities"],
        serde_json::json!(["main-window"]),
        "capabilities named in tauri.conf.json"
    );
    let files: Vec<String> = std::fs::read_dir(crate_dir().join("capabilities"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["main-window.json"], "capability files");
    let cap = json("capabilities/main-window.json");
    assert_eq!(cap["windows"], serde_json::json!(["main"]));
    assert!(
        cap.get("remote").is_none(),
        "no remote URL may reach the app's commands"
    );
    assert!(cap.get("webviews").is_none() && cap.get("platforms").is_none());
    for permission in cap["permissions"].as_array().unwrap() {
        let name = permission
            .as_str()
            .expect("permissions are plain names, no scopes");
        let allowed = name == "core:event:allow-listen"
            || name == "core:event:allow-unlisten"
            || (name.starts_with("allow-") && !name.contains(':'));
        assert!(
            allowed,
            "the window may not hold {name}: only the app's own commands and events"
        );
    }
}

#[test]
fn the_page_gets_no_remote_content_or_extra_windows() {
    let conf = json("tauri.conf.json");
    assert_eq!(
        conf["build"]["frontendDist"], "../ui",
        "the page comes from the bundled ui/"
    );
    assert!(
        conf["build"].get("devUrl").is_none(),
        "no dev server URL in a shipped config"
    );
    let windows = conf["app"]["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1);
    assert!(
        windows[0].get("url").is_none(),
        "the window loads the bundled index.html"
    );
}
