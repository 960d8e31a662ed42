//! The desktop app end to end: the real window under Xvfb, driven over WebDriver (tauri-driver
//! and WebKitWebDriver), with the real OS keychain (gnome-keyring on the session bus), the
//! embedded Local backend, a remote gatehoused with the real OpenID provider, and deep links
//! delivered as a second instance. Screenshots land in `target/desktop-e2e/`.

// Test code: its helpers (here and in gui.rs, webdriver.rs) may panic; a panic is a failed test
// with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_start;
mod gui;
mod mfa;
mod passkeys;
mod programs;
mod security;
mod self_service_remote;
mod webdriver;

use serde_json::{json, Value};

use crate::peers::browser::Browser;
use crate::support::{Backend, APP};

use gui::Gui;
use webdriver::Driver;

const PASSWORD: &str = "correct horse battery";

async fn account_id(d: &Driver, name: &str) -> String {
    d.until(
        &format!("an account named {name}"),
        concat!(
            "const li = [...document.querySelectorAll('#accounts li')]",
            ".find(li => li.querySelector('.name').textContent.includes(arguments[0]));",
            " return li ? li.dataset.id : null;",
        ),
        json!([name]),
    )
    .await
    .as_str()
    .unwrap()
    .to_string()
}

async fn wait_state(d: &Driver, id: &str, state: &str) {
    let script = concat!(
        "const li = document.querySelector(`#accounts li[data-id=\"${arguments[0]}\"]`);",
        " return !!li && li.dataset.state === arguments[1];",
    );
    d.until(
        &format!("account {id} to be {state}"),
        script,
        json!([id, state]),
    )
    .await;
}

/// Visible controls a screen reader could not name (no label, no aria-label, no text).
async fn unlabelled(d: &Driver) -> Value {
    let script = concat!(
        "return [...document.querySelectorAll(",
        "'input:not([type=hidden]), select, textarea, button')]",
        ".filter(e => e.offsetParent !== null && !(e.labels && e.labels.length)",
        " && !e.getAttribute('aria-label') && !e.textContent.trim())",
        ".map(e => e.outerHTML);",
    );
    d.script(script, json!([])).await
}

async fn local_url(d: &Driver) -> String {
    let script = concat!(
        "const e = document.querySelector('#connections li[data-id=\"local\"] .conn-url');",
        " return e ? e.textContent : null;",
    );
    d.until("the Local connection's address", script, json!([]))
        .await
        .as_str()
        .unwrap()
        .to_string()
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

const FIREFOX_ON_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";

/// `post` as a browser would, naming itself in the user agent.
async fn post_as(user_agent: &str, url: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header(reqwest::header::USER_AGENT, user_agent)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Moves the sign-in time of every session of the Local backend `secs` into the past, in its
/// real SQLite file (the app keeps running; SQLite's WAL lets a second writer in).
async fn age_local_sessions(gui: &Gui, secs: i64) {
    let db = local_db(gui).await;
    sqlx::query("UPDATE sessions SET created_at = created_at - $1")
        .bind(secs)
        .execute(db.writer())
        .await
        .unwrap();
    db.close().await;
}

/// The Local backend's real SQLite database, opened beside the running app.
async fn local_db(gui: &Gui) -> gatehouse_server::db::Db {
    let data = gui.home.path().join(".local/share");
    let file = walk(&data)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "gatehouse.db"))
        .unwrap_or_else(|| panic!("no gatehouse.db under {}", data.display()));
    gatehouse_server::db::Db::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn login_url(base: &str, app: &str, provider: &str) -> String {
    format!("{base}/api/client/v2.0/app/{app}/auth/providers/{provider}/login")
}

/// The tab bar's top edge in the window, in CSS pixels.
async fn tab_bar_top(d: &Driver) -> f64 {
    let script = "return document.querySelector('.tabs').getBoundingClientRect().top;";
    d.script(script, json!([])).await.as_f64().unwrap()
}

/// Issue 17: notices are toasts over the window. Good news fades by itself, warnings stay until
/// their close button; four notices show as three (the oldest goes); and the tab bar does not
/// move when they appear.
async fn toasts_overlay_the_window(gui: &Gui, d: &Driver) {
    d.until(
        "the sign-in's good news to fade by itself",
        "return !document.querySelector('.notice[data-level=success], .notice[data-level=info]');",
        json!([]),
    )
    .await;
    d.dismiss_notices().await;
    let before = tab_bar_top(d).await;
    // Four refused sign-in links, each a real second instance handing its link over.
    for n in 1..=3 {
        gui.open_link(&format!(
            "gatehouse://auth/callback?code=abc&state=toast-{n}"
        ));
    }
    d.wait_count(".notice[data-level=warning]", 3).await;
    let mark = "document.querySelectorAll('.notice').forEach(n => { n.dataset.seen = 'yes'; });";
    d.script(mark, json!([])).await;
    gui.open_link("gatehouse://auth/callback?code=abc&state=toast-4");
    d.until(
        "the fourth notice",
        "return !!document.querySelector('.notice:not([data-seen])');",
        json!([]),
    )
    .await;
    assert_eq!(d.count(".notice").await, 3, "at most three toasts at once");
    assert_eq!(
        d.count(".notice[data-seen]").await,
        2,
        "the oldest one went"
    );
    let after = tab_bar_top(d).await;
    assert_eq!(
        after, before,
        "the tab bar does not move when notices appear"
    );
    let fixed = "return getComputedStyle(document.getElementById('notices')).position;";
    assert_eq!(d.script(fixed, json!([])).await, "fixed");
    d.screenshot(&gui.shot("02b-toasts")).await;
    // Warnings stay until dismissed: each close button removes its own.
    for left in (0..3).rev() {
        d.click(".notice .dismiss").await;
        d.wait_count(".notice", left).await;
    }
    assert_eq!(tab_bar_top(d).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_window() {
    let gui = Gui::start();
    let d = gui.launch().await;

    // A fresh install: no account, Local ready, secrets in the OS keychain.
    d.wait("#provider-anon-user").await;
    assert!(
        d.text("#secrets").await.contains("OS keychain"),
        "{}",
        d.text("#secrets").await
    );
    assert_eq!(d.count("#accounts li").await, 0);
    d.screenshot(&gui.shot("01-first-start")).await;

    // The tab list: only the selected tab is in the Tab order from the start; End and Home move
    // the selection (and the focus) to the last and first tab.
    let tab_order =
        "return [...document.querySelectorAll('[role=tab]')].map(t => t.tabIndex).join(' ');";
    assert_eq!(
        d.script(tab_order, json!([])).await,
        "0 -1 -1 -1 -1 -1 -1 -1"
    );
    d.press("#tab-signin", webdriver::END).await;
    d.until(
        "the last tab to be selected",
        "return !document.getElementById('panel-outbox').hidden;",
        json!([]),
    )
    .await;
    assert_eq!(
        d.script(tab_order, json!([])).await,
        "-1 -1 -1 -1 -1 -1 -1 0"
    );
    assert_eq!(
        d.script("return document.activeElement.id;", json!([]))
            .await,
        "tab-outbox"
    );
    d.press("#tab-outbox", webdriver::HOME).await;
    d.until(
        "the first tab to be selected",
        "return !document.getElementById('panel-signin').hidden;",
        json!([]),
    )
    .await;
    assert_eq!(
        d.script(tab_order, json!([])).await,
        "0 -1 -1 -1 -1 -1 -1 -1"
    );

    // Anonymous.
    d.click("#provider-anon-user").await;
    d.click("#do-anon").await;
    let anon = account_id(&d, "Anonymous user").await;
    wait_state(&d, &anon, "active").await;

    // Email: register, confirm from the Local outbox, sign in.
    d.click("#provider-local-userpass").await;
    assert_eq!(unlabelled(&d).await, json!([]), "every control has a name");
    d.type_into("#f-email", "ada@example.test").await;
    d.type_into("#f-password", PASSWORD).await;
    d.click("#do-register").await;
    d.wait_text(".notice", "Registered").await;
    d.click("#tab-outbox").await;
    d.click(".use-confirm").await;
    d.wait_text(".notice", "Confirmed ada@example.test").await;
    d.click("#tab-signin").await;
    // Enter in the password field submits the sign-in form.
    d.press("#f-password", webdriver::ENTER).await;
    let ada = account_id(&d, "ada@example.test").await;
    wait_state(&d, &ada, "active").await;
    wait_state(&d, &anon, "logged_in").await;
    // Each account shows its initials on a round badge; an anonymous one a question mark.
    let badge = concat!(
        "const li = document.querySelector(`#accounts li[data-id=\"${arguments[0]}\"]`);",
        " return li.querySelector('.avatar').textContent;",
    );
    assert_eq!(d.script(badge, json!([ada])).await, "A");
    assert_eq!(d.script(badge, json!([anon])).await, "?");
    d.screenshot(&gui.shot("02-two-accounts")).await;
    toasts_overlay_the_window(&gui, &d).await;

    // One click switches.
    d.click(&format!("#accounts li[data-id=\"{anon}\"] button"))
        .await;
    wait_state(&d, &anon, "active").await;
    wait_state(&d, &ada, "logged_in").await;
    d.click("#tab-keys").await;
    d.wait_text(
        "#keys-unavailable",
        "Anonymous accounts cannot have API keys",
    )
    .await;
    d.click(&format!("#accounts li[data-id=\"{ada}\"] button"))
        .await;
    wait_state(&d, &ada, "active").await;

    // API keys: create (shown once), copy, disable, delete; checked against the server.
    let base = local_url(&d).await;
    d.type_into("#key-name", "ci-key").await;
    d.click("#do-create-key").await;
    let secret = d
        .until(
            "the new key",
            "return document.getElementById('new-key-secret').value;",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    d.click("#do-copy-key").await;
    d.wait_text("#copy-status", "Copied").await;
    d.screenshot(&gui.shot("03-api-key-created")).await;
    assert_eq!(unlabelled(&d).await, json!([]), "every control has a name");
    let key_login = login_url(&base, "gatehouse-dev", "api-key");
    assert_eq!(
        post(&key_login, json!({"key": secret})).await.0,
        200,
        "the new key signs in"
    );
    d.click("#do-dismiss-key").await;
    assert_eq!(
        d.text("#new-key-secret").await,
        "",
        "the secret leaves the page once dismissed"
    );
    d.click(".toggle-key").await;
    d.wait_text(".key-enabled", "disabled").await;
    assert_eq!(
        post(&key_login, json!({"key": secret})).await.0,
        401,
        "a disabled key is refused"
    );
    d.click(".delete-key").await;
    d.click("#confirm-ok").await;
    d.wait("#keys-empty").await;

    // A key needs a recent sign-in (issue 12, item 4): with Ada's session aged past the five
    // minutes, the window opens her sign-in form in place and, once she has signed in again,
    // creates the key by itself.
    age_local_sessions(&gui, 600).await;
    d.type_into("#key-name", "late-key").await;
    d.click("#do-create-key").await;
    d.wait_text(".notice", "confirm it is you").await;
    d.until(
        "Ada's sign-in form, her address filled in",
        "const e = document.getElementById('f-email'); return e && e.value;",
        json!([]),
    )
    .await;
    assert_eq!(d.text("#new-key-secret").await, "", "no key yet");
    d.screenshot(&gui.shot("03b-recent-sign-in")).await;
    d.type_into("#f-password", PASSWORD).await;
    d.press("#f-password", webdriver::ENTER).await;
    let late = d
        .until(
            "the key created after signing in again",
            "return document.getElementById('new-key-secret').value;",
            json!([]),
        )
        .await;
    assert!(late.as_str().unwrap().starts_with("gh_uk_"), "{late}");
    wait_state(&d, &ada, "active").await;
    d.wait_text("#keys tr", "late-key").await;
    d.click("#do-dismiss-key").await;
    d.click(".delete-key").await;
    d.click("#confirm-ok").await;
    d.wait("#keys-empty").await;

    // Sessions: two other devices sign in; revoke one, then all others.
    let email_login = login_url(&base, "gatehouse-dev", "local-userpass");
    let (_, other) = post(
        &email_login,
        json!({"username": "ada@example.test", "password": PASSWORD}),
    )
    .await;
    let (_, third) = post_as(
        FIREFOX_ON_WINDOWS,
        &email_login,
        json!({"username": "ada@example.test", "password": PASSWORD}),
    )
    .await;
    d.click("#tab-sessions").await;
    d.wait_count("#sessions tr", 3).await;
    // Devices read as words (issue 17): this app's own session says it is this computer.
    d.wait_text(
        "#sessions tr[data-current=\"true\"] .device-label",
        "Gatehouse on Linux — this computer",
    )
    .await;
    // The raw platform and user agent stay available as the tooltip.
    let raw = "return document.querySelector(arguments[0]).title;";
    let current = "#sessions tr[data-current=\"true\"] .device-label";
    let title = d.script(raw, json!([current])).await;
    assert!(
        title.as_str().unwrap().contains("gatehouse-client/"),
        "{title}"
    );
    let elsewhere = "#sessions tr[data-current=\"false\"] .device-label";
    d.wait_text(elsewhere, "Firefox on Windows").await;
    assert_eq!(
        d.script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);",
            json!([elsewhere]),
        )
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t.as_str().unwrap().contains("this computer"))
        .count(),
        0,
        "only the current session is this computer"
    );
    d.screenshot(&gui.shot("04-sessions")).await;
    d.click("#sessions tr[data-current=\"false\"] .revoke")
        .await;
    d.wait_count("#sessions tr", 2).await;
    d.click("#do-revoke-others").await;
    d.click("#confirm-ok").await;
    d.wait_count("#sessions tr", 1).await;
    let session_url = format!("{base}/api/client/v2.0/auth/session");
    for t in [&other, &third] {
        let r = reqwest::Client::new()
            .post(&session_url)
            .bearer_auth(t["refresh_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "revoked sessions cannot refresh");
    }

    // Restart, started by a sign-in link (a cold start): both accounts come back from the
    // keychain, the active one too; the link belongs to no sign-in of this process and is refused.
    d.quit().await;
    let d = gui
        .launch_with(&["gatehouse://auth/callback?code=abc&state=from-before"])
        .await;
    wait_state(&d, &ada, "active").await;
    wait_state(&d, &anon, "logged_in").await;
    d.wait_text(".notice", "opened with a sign-in link").await;
    d.screenshot(&gui.shot("05-after-restart")).await;

    // The scheme was registered with the desktop at start, in a form Debian's generic xdg-open
    // can run: opening a link the way a browser hands it over reaches this window.
    let handler = gui
        .home
        .path()
        .join(".local/share/applications/gatehouse-desktop-handler.desktop");
    // Registration runs beside start-up, off the main thread: give it a moment.
    let unquoted = format!("Exec={} %u", gui.app.display());
    for _ in 0..50 {
        if std::fs::read_to_string(&handler).is_ok_and(|t| t.contains(&unquoted)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let entry =
        std::fs::read_to_string(&handler).unwrap_or_else(|e| panic!("{}: {e}", handler.display()));
    assert!(entry.contains(&unquoted), "{entry}");
    let xdg = gui
        .command(std::path::Path::new("xdg-open"))
        .arg("gatehouse://auth/callback?code=abc&state=via-xdg-open")
        .status()
        .unwrap();
    assert!(xdg.success(), "xdg-open ran the registered handler: {xdg}");
    let refusals =
        "return document.querySelectorAll('.notice[data-level=\"warning\"]').length >= 2;";
    d.until("the xdg-open link to be refused", refusals, json!([]))
        .await;

    // A remote server: a wrong address is explained, the right one is saved.
    let (remote, _op) = crate::redirect::oidc(Backend::Sqlite, "oauth2-google").await;
    d.click("#tab-connections").await;
    d.type_into("#conn-url", "http://127.0.0.1:9").await;
    d.type_into("#conn-app", APP).await;
    d.click("#do-save-conn").await;
    d.wait_text("#conn-error", "No server answered").await;
    d.type_into("#conn-name", "Remote").await;
    d.type_into("#conn-url", &remote.base).await;
    d.click("#do-save-conn").await;
    d.wait_count("#connections li", 2).await;

    // Google through the browser; the redirect comes back as a second instance.
    d.click("#tab-signin").await;
    let pick_remote = concat!(
        "const s = document.getElementById('signin-connection');",
        " s.value = 'remote-1'; s.dispatchEvent(new Event('change'));",
    );
    d.script(pick_remote, json!([])).await;
    d.click("#provider-oauth2-google").await;
    d.click("#do-browser").await;
    let opened = gui.opened_url(0).await;
    assert!(
        opened.starts_with(&remote.base),
        "the browser opens the server's start page: {opened}"
    );
    d.wait(".pending-signin").await;
    d.screenshot(&gui.shot("06-waiting-for-browser")).await;
    let carol_url = format!("{opened}&login_hint=carol@example.test");
    let landing = Browser::new()
        .navigate(&carol_url, |u| u.starts_with("gatehouse://"))
        .await;
    assert!(
        landing.url.starts_with("gatehouse://auth/callback?"),
        "{landing:?}"
    );
    gui.open_link(&landing.url);
    let carol = account_id(&d, "carol@example.test").await;
    wait_state(&d, &carol, "active").await;
    d.wait_text(".notice", "Signed in as Test carol@example.test")
        .await;
    assert_eq!(d.count(".pending-signin").await, 0);
    d.screenshot(&gui.shot("07-google-signed-in")).await;

    // The same link again, and a forged one: refused, nothing changes.
    gui.open_link(&landing.url);
    gui.open_link("gatehouse://auth/callback?code=abc&state=forged");
    d.wait_text(".notice", "refused").await;
    assert_eq!(d.count("#accounts li").await, 3);
    wait_state(&d, &carol, "active").await;
    d.screenshot(&gui.shot("08-foreign-link-refused")).await;

    // Log out, remove, delete (with a confirmation naming the account). The refusals' warnings
    // stay until closed, over the corner where the account's buttons are: close them first.
    d.dismiss_notices().await;
    d.click(&format!("#accounts li[data-id=\"{ada}\"] button"))
        .await;
    d.click("#tab-account").await;
    d.wait_text("#account-name", "ada@example.test").await;
    d.wait_text("#account-identities", "Email").await;
    d.click("#do-logout").await;
    wait_state(&d, &ada, "logged_out").await;
    d.click(&format!("#accounts li[data-id=\"{anon}\"] button"))
        .await;
    d.click("#tab-account").await;
    d.click("#do-remove").await;
    d.click("#confirm-ok").await;
    d.wait_count(&format!("#accounts li[data-id=\"{anon}\"]"), 0)
        .await;
    d.click(&format!("#accounts li[data-id=\"{carol}\"] button"))
        .await;
    d.click("#tab-account").await;
    d.wait_text("#account-name", "Test carol@example.test")
        .await;
    d.click("#do-delete").await;
    assert!(
        d.text("#confirm-text").await.contains("carol@example.test"),
        "the dialog names the account"
    );
    d.screenshot(&gui.shot("09-delete-confirmation")).await;
    d.click("#confirm-ok").await;
    d.wait_count(&format!("#accounts li[data-id=\"{carol}\"]"), 0)
        .await;
    d.screenshot(&gui.shot("10-end")).await;
    d.quit().await;
}

/// With no usable keychain (here: no session bus at all) the window says so and offers
/// memory-only sessions; choosing them makes signing in work, and says where sessions live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keychain_the_window_offers_memory_only_sessions() {
    let gui = Gui::start_with_env(&[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")]);
    let d = gui.launch().await;
    d.wait("#keychain-problem").await;
    assert!(
        d.text("#keychain-reason").await.contains("keychain"),
        "{}",
        d.text("#keychain-reason").await
    );
    let secrets = d.text("#secrets").await;
    assert!(
        secrets.contains("cannot be kept"),
        "the header does not claim a keychain: {secrets}"
    );
    let enabled = d.find_all("#provider-anon-user:not([disabled])").await;
    assert!(
        enabled.is_empty(),
        "nothing can sign in before a choice is made"
    );
    d.screenshot(&gui.shot("11-no-keychain")).await;
    d.click("#do-memory-only").await;
    d.wait_text("#secrets", "memory only").await;
    d.click("#provider-anon-user").await;
    d.click("#do-anon").await;
    let anon = account_id(&d, "Anonymous user").await;
    wait_state(&d, &anon, "active").await;
    d.quit().await;
}

/// Issue 15, item 6: an anonymous account that links email/password is a permanent account in
/// the window — named by its address, allowed API keys, kept in the list when logged out (no
/// "lost for good" warning), and signed in again with its email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_account_that_links_an_email_becomes_permanent() {
    let gui = Gui::start();
    let d = gui.launch().await;
    d.wait("#provider-anon-user").await;
    d.click("#provider-anon-user").await;
    d.click("#do-anon").await;
    let anon = account_id(&d, "Anonymous user").await;
    wait_state(&d, &anon, "active").await;
    // "Continue anonymously" goes back to it; "Start another" makes a second one (issue 15,
    // item 8), which then stays beside it.
    d.click("#provider-anon-user").await;
    d.click("#do-anon").await;
    d.wait_text(".notice", "Signed in as Anonymous user").await;
    assert_eq!(d.count("#accounts li").await, 1);
    d.click("#provider-anon-user").await;
    d.click("#do-anon-new").await;
    d.wait_count("#accounts li", 2).await;
    let second = d
        .until(
            "the second anonymous account to be active",
            concat!(
                "const li = document.querySelector('#accounts li[data-state=\"active\"]');",
                " return li ? li.dataset.id : null;",
            ),
            json!([]),
        )
        .await;
    assert_ne!(second.as_str().unwrap(), anon);
    d.click(&format!("#accounts li[data-id=\"{anon}\"] button"))
        .await;
    wait_state(&d, &anon, "active").await;
    d.click("#tab-signin").await;

    // An address to link: registered and confirmed through the Local outbox.
    d.click("#provider-local-userpass").await;
    d.type_into("#f-email", "bea@example.test").await;
    d.type_into("#f-password", PASSWORD).await;
    d.click("#do-register").await;
    d.wait_text(".notice", "Registered").await;
    d.click("#tab-outbox").await;
    d.click(".use-confirm").await;
    d.wait_text(".notice", "Confirmed bea@example.test").await;

    // Link it to the anonymous account from its Account tab.
    d.click("#tab-account").await;
    d.wait_text("#account-name", "Anonymous user").await;
    d.click("#do-link").await;
    d.click("#provider-local-userpass").await;
    d.type_into("#f-email", "bea@example.test").await;
    d.type_into("#f-password", PASSWORD).await;
    d.press("#f-password", webdriver::ENTER).await;
    d.wait_text(".notice", "is now linked").await;
    assert_eq!(
        account_id(&d, "bea@example.test").await,
        anon,
        "the same account, named by its address now"
    );
    d.click("#tab-keys").await;
    d.type_into("#key-name", "after-link").await;
    d.click("#do-create-key").await;
    d.wait_text("#keys tr", "after-link").await;
    d.click("#do-dismiss-key").await;
    d.screenshot(&gui.shot("12-linked-anonymous")).await;

    // Unlink the anonymous identity (issue 15, item 7): the account keeps its email only, and
    // the last identity offers no Unlink.
    d.click("#tab-account").await;
    d.wait_count("#account-identities .unlink-identity", 2)
        .await;
    d.click("#account-identities li[data-provider=\"anon-user\"] .unlink-identity")
        .await;
    d.click("#confirm-ok").await;
    d.wait_text(".notice", "is no longer linked").await;
    d.wait_count("#account-identities li", 1).await;
    assert_eq!(d.count(".unlink-identity").await, 0);

    // Log out: no warning that it is lost, and it stays in the list, signed out.
    d.click("#tab-account").await;
    d.wait_text("#account-identities", "Email").await;
    d.click("#do-logout").await;
    wait_state(&d, &anon, "logged_out").await;
    assert_eq!(d.count("#accounts li").await, 2, "both accounts stay");

    // Signed in again with the linked email: the same account, active.
    d.click(&format!("#accounts li[data-id=\"{anon}\"] button"))
        .await;
    d.click("#do-reauth").await;
    d.until(
        "the email form, the address filled in",
        "const e = document.getElementById('f-email'); return e && e.value;",
        json!([]),
    )
    .await;
    d.type_into("#f-password", PASSWORD).await;
    d.press("#f-password", webdriver::ENTER).await;
    wait_state(&d, &anon, "active").await;

    // Custom data the operator sets (issue 15, item 2) shows on the Account tab once refreshed.
    d.click("#tab-account").await;
    d.wait("#account-custom-data-empty").await;
    let db = local_db(&gui).await;
    sqlx::query("UPDATE users SET custom_data = $1 WHERE id = $2")
        .bind(r#"{"plan":"pro"}"#)
        .bind(&anon)
        .execute(db.writer())
        .await
        .unwrap();
    db.close().await;
    d.click("#do-refresh-custom-data").await;
    d.wait_text("#account-custom-data", "\"plan\": \"pro\"")
        .await;
    d.quit().await;
}
