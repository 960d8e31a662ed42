//! Words for a session's device ("Firefox on Windows", "Gatehouse on Linux — this computer")
//! from what the server keeps of it: the login's `options.device` and the request's
//! user agent. A person recognises a browser and an OS; `linux gatehouse-client/0.1.0` they
//! do not. Only a guess for display: nothing decides anything on it.

use gatehouse_client::SessionInfo;

/// What the Rust SDK (ours) sends as `options.device.sdk` and as the user agent's product.
const OUR_SDK: &str = "Gatehouse Rust SDK";
const OUR_AGENT: &str = "gatehouse-client/";

/// The session's device in words; the current session says it is this computer.
pub fn device_label(s: &SessionInfo) -> String {
    let label = guess(s);
    if s.current {
        format!("{label} — this computer")
    } else {
        label
    }
}

fn guess(s: &SessionInfo) -> String {
    let d = &s.device;
    let agent = s.user_agent.as_deref().map(str::trim).unwrap_or("");
    let platform = d.platform.as_deref().map(str::trim).unwrap_or("");
    // A name the person gave the device says it best.
    if let Some(name) = d.device_name.as_deref().filter(|n| !n.trim().is_empty()) {
        return name.trim().to_string();
    }
    if d.sdk.as_deref() == Some(OUR_SDK) || agent.starts_with(OUR_AGENT) {
        return match os_of_platform(platform) {
            Some(os) => format!("Gatehouse on {os}"),
            None => "Gatehouse".into(),
        };
    }
    if let Some(browser) = browser(agent) {
        return match os_of_agent(agent) {
            Some(os) => format!("{browser} on {os}"),
            None => browser.into(),
        };
    }
    // realm-web names its platform but not itself: `sdkVersion` without `sdk`.
    let realm_web = d.sdk.is_none() && d.sdk_version.is_some();
    let node = platform.eq_ignore_ascii_case("node") || is_node_agent(agent);
    match (realm_web, node) {
        (true, true) => return "realm-web (Node.js)".into(),
        (true, false) if !platform.is_empty() => {
            return format!("realm-web ({})", browser_of_platform(platform));
        }
        (false, true) => return "Node.js".into(),
        _ => {}
    }
    if let Some(tool) = product(agent) {
        return tool;
    }
    if let Some(os) = os_of_platform(platform) {
        return os.into();
    }
    if !platform.is_empty() {
        return platform.to_string();
    }
    "Unknown device".into()
}

/// The browser a user agent names. Order matters: Edge and Opera also say Chrome and Safari,
/// Chrome also says Safari.
fn browser(agent: &str) -> Option<&'static str> {
    let has = |t: &str| agent.contains(t);
    if has("Edg/") || has("EdgA/") || has("EdgiOS/") || has("Edge/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("CriOS/") || has("Chrome/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") && has("Version/") {
        Some("Safari")
    } else {
        None
    }
}

/// The OS a browser's user agent names. iOS and Android say "like Mac OS X" and "Linux" too.
fn os_of_agent(agent: &str) -> Option<&'static str> {
    let has = |t: &str| agent.contains(t);
    if has("Windows") {
        Some("Windows")
    } else if has("iPhone") || has("iPad") || has("iPod") {
        Some("iOS")
    } else if has("Android") {
        Some("Android")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Macintosh") || has("Mac OS X") {
        Some("macOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    }
}

/// `options.device.platform` as Rust (`std::env::consts::OS`) and the App Services SDKs spell it.
fn os_of_platform(platform: &str) -> Option<&'static str> {
    match platform.to_ascii_lowercase().as_str() {
        "linux" => Some("Linux"),
        "macos" | "darwin" | "osx" => Some("macOS"),
        "windows" | "win32" => Some("Windows"),
        "ios" => Some("iOS"),
        "android" => Some("Android"),
        "freebsd" => Some("FreeBSD"),
        _ => None,
    }
}

/// realm-web's platform in a browser is the browser's name as `detect-browser` spells it.
fn browser_of_platform(platform: &str) -> String {
    match platform.to_ascii_lowercase().as_str() {
        "chrome" | "crios" | "chromium-webview" => "Chrome".into(),
        "firefox" | "fxios" => "Firefox".into(),
        "safari" | "ios" => "Safari".into(),
        "edge" | "edge-chromium" | "edge-ios" => "Edge".into(),
        "opera" => "Opera".into(),
        _ => platform.to_string(),
    }
}

/// Node's own `fetch` says `node` (or `undici` before Node 20); node-fetch names itself.
fn is_node_agent(agent: &str) -> bool {
    let first = agent.split(['/', ' ']).next().unwrap_or("");
    matches!(first, "node" | "undici" | "node-fetch")
}

/// The first product of a tool's user agent (`curl/8.5.0` → `curl`).
fn product(agent: &str) -> Option<String> {
    let name = agent.split(['/', ' ']).next()?.trim();
    (!name.is_empty() && name != "Mozilla").then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::device_label;
    use serde_json::{json, Value};

    /// A session as `GET /auth/sessions` returns it.
    fn session(device: Value, user_agent: Option<&str>, current: bool) -> String {
        let s = json!({
            "id": "6561c0de0000000000000001",
            "device_id": "6561c0de0000000000000002",
            "provider_type": "local-userpass",
            "device": device,
            "user_agent": user_agent,
            "ip": "127.0.0.1",
            "created_at": 1_700_000_000,
            "last_used_at": 1_700_000_000,
            "expires_at": 1_800_000_000,
            "current": current,
            "rotating": false,
        });
        device_label(&serde_json::from_value(s).unwrap())
    }

    fn browser(agent: &str) -> String {
        session(json!({}), Some(agent), false)
    }

    #[test]
    fn device_label_names_our_sdk_and_marks_this_computer() {
        let ours = json!({"platform": "linux", "sdk": "Gatehouse Rust SDK", "sdkVersion": "0.1.0"});
        let agent = Some("gatehouse-client/0.1.0");
        assert_eq!(
            session(ours.clone(), agent, true),
            "Gatehouse on Linux — this computer"
        );
        assert_eq!(session(ours, agent, false), "Gatehouse on Linux");
        let mac = json!({"platform": "macos", "sdk": "Gatehouse Rust SDK"});
        assert_eq!(session(mac, agent, false), "Gatehouse on macOS");
        // The user agent alone is enough (an older SDK sent no device block).
        assert_eq!(session(json!({}), agent, false), "Gatehouse");
    }

    #[test]
    fn device_label_reads_browsers_and_their_os() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Firefox on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
                 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome on macOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/120.0.6099.144 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 \
                 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome on ChromeOS",
            ),
        ];
        for (agent, want) in cases {
            assert_eq!(browser(agent), want, "{agent}");
        }
    }

    #[test]
    fn device_label_knows_realm_web_in_node_and_in_a_browser() {
        // realm-web 2.0.1 in Node 20: platform "node", Node's fetch says "node".
        let node = json!({"platform": "node", "platformVersion": "20.10.0", "sdkVersion": "2.0.1"});
        assert_eq!(
            session(node.clone(), Some("node"), false),
            "realm-web (Node.js)"
        );
        assert_eq!(
            session(node.clone(), Some("undici"), false),
            "realm-web (Node.js)"
        );
        assert_eq!(session(node, None, false), "realm-web (Node.js)");
        // In a browser the browser's own user agent says more than realm-web's platform.
        let web =
            json!({"platform": "chrome", "platformVersion": "120.0.0", "sdkVersion": "2.0.1"});
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                      (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(
            session(web.clone(), Some(chrome), false),
            "Chrome on Windows"
        );
        assert_eq!(session(web, None, false), "realm-web (Chrome)");
        let firefox = json!({"platform": "firefox", "sdkVersion": "2.0.1"});
        assert_eq!(session(firefox, None, false), "realm-web (Firefox)");
    }

    #[test]
    fn device_label_names_tools_and_falls_back() {
        assert_eq!(browser("curl/8.5.0"), "curl");
        assert_eq!(browser("python-requests/2.31.0"), "python-requests");
        assert_eq!(
            browser("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"),
            "Node.js"
        );
        assert_eq!(
            session(
                json!({"deviceName": "Ada's laptop"}),
                Some("curl/8.5.0"),
                false
            ),
            "Ada's laptop"
        );
        assert_eq!(
            session(json!({"platform": "windows"}), None, false),
            "Windows"
        );
        assert_eq!(session(json!({"platform": "haiku"}), None, false), "haiku");
        assert_eq!(session(json!({}), None, false), "Unknown device");
        assert_eq!(
            session(json!({}), Some(""), true),
            "Unknown device — this computer"
        );
    }
}
