//! A forged `Host`, `X-Forwarded-Host` or `X-Forwarded-Proto` never reaches a mailed link
//! (security.md T-10): reset, confirmation and magic-link mails link to the configured public
//! URL only — even when the request comes through a trusted proxy.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::both_backends;
use crate::support::*;

both_backends!(mailed_links_use_the_configured_base_url_whatever_the_headers);

const EVIL: &str = "evil.example";

/// The header sets an attacker might try, written on the wire exactly as given.
fn forgeries(base_host: &str) -> Vec<Vec<(&'static str, String)>> {
    vec![
        vec![("Host", EVIL.into())],
        vec![
            ("Host", base_host.into()),
            ("X-Forwarded-Host", EVIL.into()),
            ("X-Forwarded-Proto", "https".into()),
        ],
        vec![
            ("Host", EVIL.into()),
            ("X-Forwarded-Host", format!("{EVIL}:8443")),
            ("X-Forwarded-Proto", "https".into()),
            ("Forwarded", format!("host={EVIL};proto=https")),
            ("X-Forwarded-Server", EVIL.into()),
        ],
    ]
}

/// POSTs `body` over a raw TCP connection (so no client library rewrites `Host`); the status.
async fn raw_post(t: &TestServer, path: &str, headers: &[(&str, String)], body: &Value) -> u16 {
    let addr = t.base.trim_start_matches("http://");
    let body = body.to_string();
    let mut request = format!("POST /api/client/v2.0/app/{APP}{path} HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

async fn mailed_links_use_the_configured_base_url_whatever_the_headers(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        // The loopback peer is a trusted proxy: its forwarded headers are believed for the
        // client address, and still never for links.
        c.rate_limits.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.apps
            .get_mut(APP)
            .unwrap()
            .providers
            .push("magic-link".into());
    })
    .await;
    let host = t.base.trim_start_matches("http://").to_string();
    let live = unique_email("host-live");
    t.email_user(&live).await;
    let pending = unique_email("host-pending");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": pending, "password": PASSWORD}),
    )
    .await
    .void();
    t.mails_to(&pending).await; // its confirmation mail is not one of the forged requests'
    let seen = t.outbox().len();
    let requests = [
        (
            "/auth/providers/local-userpass/reset/send",
            json!({"email": live}),
        ),
        (
            "/auth/providers/local-userpass/confirm/send",
            json!({"email": pending}),
        ),
        (
            "/auth/providers/magic-link/send",
            json!({
                "email": live, "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256", "redirect_uri": "gatehouse://auth/callback",
                "state": "s"
            }),
        ),
    ];
    for headers in forgeries(&host) {
        for (path, body) in &requests {
            assert_eq!(raw_post(&t, path, &headers, body).await, 204, "{path}");
        }
    }
    t.mails_to(&live).await; // waits for the background work and the mail writes
    let mails: Vec<Value> = t
        .outbox()
        .into_iter()
        .skip(seen)
        .filter(|m| m["to"] == live.as_str() || m["to"] == pending.as_str())
        .collect();
    let links: Vec<String> = mails
        .iter()
        .flat_map(|m| m["links"].as_array().unwrap().clone())
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    // Three forgeries × (reset + confirmation + magic link).
    assert_eq!(links.len(), 9, "{mails:?}");
    for kind in ["/reset?", "/confirm?", "/magic?"] {
        assert_eq!(
            links.iter().filter(|l| l.contains(kind)).count(),
            3,
            "{links:?}"
        );
    }
    for link in &links {
        assert!(
            link.starts_with(&format!("{}/app/{APP}/", t.base)),
            "{link}"
        );
    }
    for mail in &mails {
        assert!(!mail.to_string().contains(EVIL), "{mail}");
    }
}
