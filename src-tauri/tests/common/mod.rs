//! What the IPC test files share: a mock-runtime window over a real `Desktop` (its Local backend
//! the embedded gatehoused on loopback, memory-only secrets), a shell that records what the app
//! would tell the window, and the Local outbox readers.

// Each test file uses part of this module; a failed unwrap is a failed test with its message.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use gatehouse_desktop::{Desktop, Options, Secrets, Shell, UiEvent};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;

#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<UiEvent>>,
    pub opened: Mutex<Vec<String>>,
}

impl Shell for Recorder {
    fn emit(&self, event: UiEvent) {
        self.events.lock().unwrap().push(event);
    }
    fn open_browser(&self, url: &str) -> Result<(), String> {
        self.opened.lock().unwrap().push(url.into());
        Ok(())
    }
}

pub struct Window {
    pub webview: WebviewWindow<MockRuntime>,
    pub shell: Arc<Recorder>,
    _app: tauri::App<MockRuntime>,
}

impl Window {
    pub fn open(dir: &std::path::Path) -> Window {
        let shell = Arc::new(Recorder::default());
        let desktop = Arc::new(Desktop::new(
            Options {
                data_dir: dir.into(),
                secrets: Secrets::MemoryOnly,
                start_local: true,
                agent_socket: None,
            },
            shell.clone(),
        ));
        let app = gatehouse_desktop::with_commands(mock_builder())
            .manage(desktop)
            .build(mock_context(noop_assets()))
            .expect("mock app");
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("mock window");
        Window {
            webview,
            shell,
            _app: app,
        }
    }

    pub fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        let answer =
            get_ipc_response(&self.webview, request).map(|b| b.deserialize::<Value>().unwrap());
        // Whatever crosses IPC, nothing in it may look like a token (JWTs start with "eyJ").
        let text = format!("{answer:?}");
        assert!(
            !text.contains("eyJ"),
            "{cmd} sent a token to the window: {text}"
        );
        answer
    }

    pub fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    pub fn err(&self, cmd: &str, args: Value) -> Value {
        let e = self.invoke(cmd, args).expect_err(cmd);
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{cmd}: errors carry a message: {e}"
        );
        e
    }
}

/// The text of the newest Local outbox message that matches (the server sends in the background).
pub fn wait_for_message(w: &Window, matches: impl Fn(&Value) -> bool) -> String {
    for _ in 0..100 {
        if let Some(m) = w
            .ok("outbox", json!({}))
            .as_array()
            .unwrap()
            .iter()
            .find(|m| matches(m))
        {
            return m["text"].as_str().unwrap().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "no such message in the Local outbox: {}",
        w.ok("outbox", json!({}))
    );
}

/// The confirmation link mailed to `to` (the server mails in the background: the message lands
/// a moment after the answer).
pub fn confirmation_link(w: &Window, to: &str) -> String {
    for _ in 0..100 {
        let link = w
            .ok("outbox", json!({}))
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["to"] == to)
            .flat_map(|m| m["links"].as_array().unwrap().clone())
            .filter_map(|l| l.as_str().map(str::to_string))
            .find(|l| l.contains("/confirm"));
        if let Some(link) = link {
            return link;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no confirmation link for {to} in the Local outbox");
}
