//! A small W3C WebDriver client over reqwest: what the desktop tests need from tauri-driver
//! (sessions, finding and clicking elements, typing, reading, screenshots, scripts).

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

pub const WAIT: Duration = Duration::from_secs(25);

pub struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
}

fn element_id(v: &Value) -> String {
    v.as_object()
        .and_then(|o| o.values().next())
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("not an element: {v}"))
        .to_string()
}

pub const ENTER: &str = "\u{E007}";
pub const HOME: &str = "\u{E011}";
pub const END: &str = "\u{E010}";

impl Driver {
    /// Starts the app through tauri-driver (which starts WebKitWebDriver, which starts the app).
    pub async fn launch(port: u16, app: &Path, args: &[&str]) -> Driver {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let options = json!({"application": app.display().to_string(), "args": args});
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": options}}});
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match http
                .post(format!("{base}/session"))
                .json(&caps)
                .send()
                .await
            {
                Ok(r) => {
                    let status = r.status();
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    let session = v["value"]["sessionId"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no WebDriver session ({status}): {v}"))
                        .to_string();
                    return Driver {
                        http,
                        base,
                        session,
                    };
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("tauri-driver does not answer on {base}: {e}"),
            }
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req
            .send()
            .await
            .map_err(|e| json!({"error": "transport", "message": e.to_string()}))?;
        let ok = r.status().is_success();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(v["value"].clone())
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, Value> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn find_all(&self, css: &str) -> Vec<String> {
        match self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await
        {
            Ok(Value::Array(list)) => list.iter().map(element_id).collect(),
            _ => Vec::new(),
        }
    }

    /// Runs `script` in the page (`arguments` are `args`) and returns its value.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs an async script: it gets a callback as its last argument and passes its result to it.
    pub async fn script_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({"script": script, "args": args}))
            .await
            .unwrap_or_else(|e| panic!("async script failed: {e}\n{script}"))
    }

    /// Waits until `check` (a script returning a value) returns something truthy; returns it.
    pub async fn until(&self, what: &str, script: &str, args: Value) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self
                .post("/execute/sync", json!({"script": script, "args": args}))
                .await
                .unwrap_or(Value::Null);
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::Object(_) => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let script = concat!(
                    "return [...document.querySelectorAll('.notice, .error')]",
                    ".map(n => n.textContent).join(' | ')",
                );
                let notices = self.script(script, json!([])).await;
                panic!("timed out waiting for {what}; notices and errors on screen: {notices}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for a visible, enabled element and returns its id.
    pub async fn wait(&self, css: &str) -> String {
        self.until(
            &format!("{css} to be visible and enabled"),
            concat!(
                "const e = document.querySelector(arguments[0]);",
                " return !!e && !e.disabled && e.offsetParent !== null;",
            ),
            json!([css]),
        )
        .await;
        self.find_all(css)
            .await
            .into_iter()
            .next()
            .expect("found a moment ago")
    }

    /// Clicks like a person: WebDriver's element click (scrolls into view, real events). The
    /// window re-renders panels as answers arrive, so an element found a moment ago may be
    /// replaced or not yet laid out: such a click is tried again (for up to 10 s).
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let id = self.wait(css).await;
            match self.post(&format!("/element/{id}/click"), json!({})).await {
                Ok(_) => return,
                Err(e) if Instant::now() < deadline && retryable(&e) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.wait(css).await;
        let _ = self.post(&format!("/element/{id}/clear"), json!({})).await;
        self.post(&format!("/element/{id}/value"), json!({"text": text}))
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Sends keys to an element as they are, without clearing it first (WebDriver key codes:
    /// `ENTER`, `HOME`, `END` below).
    pub async fn press(&self, css: &str, keys: &str) {
        let id = self.wait(css).await;
        self.post(&format!("/element/{id}/value"), json!({"text": keys}))
            .await
            .unwrap_or_else(|e| panic!("press {keys:?} in {css}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
        let script = concat!(
            "const e = document.querySelector(arguments[0]);",
            " if (!e) return null;",
            " return e.value !== undefined && e.tagName === 'INPUT' ? e.value : e.textContent;",
        );
        self.script(script, json!([css]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        self.until(
            &format!("{css} to contain {needle:?}"),
            concat!(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)",
                ".find(t => t.includes(arguments[1])) || null;",
            ),
            json!([css, needle]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    pub async fn count(&self, css: &str) -> usize {
        self.script(
            "return document.querySelectorAll(arguments[0]).length;",
            json!([css]),
        )
        .await
        .as_u64()
        .unwrap_or(0) as usize
    }

    pub async fn wait_count(&self, css: &str, n: usize) {
        self.until(
            &format!("{n} × {css}"),
            "return document.querySelectorAll(arguments[0]).length === arguments[1];",
            json!([css, n]),
        )
        .await;
    }

    pub async fn screenshot(&self, path: &Path) {
        // Let the page paint what the DOM already holds (right after a load, the view can still
        // show the previous frame).
        let painted = concat!(
            "const done = arguments[0];",
            " requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 250)));",
        );
        self.script_async(painted, json!([])).await;
        // WebKit answers a screenshot after the next presentation update, and without
        // accelerated compositing (the app turns it off) a page where nothing changes presents
        // nothing: schedule one repaint for just after the request.
        let repaint = concat!(
            "setTimeout(() => { const s = document.documentElement.style;",
            " s.outline = s.outline ? '' : '1px solid transparent'; }, 300);",
        );
        self.script(repaint, json!([])).await;
        let v = self
            .send(reqwest::Method::GET, "/screenshot", None)
            .await
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).unwrap();
    }

    /// Closes every notice on screen, as a person would before reaching what the toasts cover
    /// (warnings and errors stay until closed; a click landing on one is "intercepted").
    pub async fn dismiss_notices(&self) {
        let close = "document.querySelectorAll('.notice .dismiss').forEach(b => b.click());";
        self.script(close, json!([])).await;
        self.wait_count(".notice", 0).await;
    }

    /// Ends the session; tauri-driver closes the app.
    pub async fn quit(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

/// A click refused because the page changed under it (not a real failure of the control).
fn retryable(error: &Value) -> bool {
    matches!(
        error["error"].as_str(),
        Some("stale element reference" | "element not interactable" | "element click intercepted")
    )
}
