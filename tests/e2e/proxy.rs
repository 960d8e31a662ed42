//! Behind a real reverse proxy (nginx, configured the usual append-style way): the client address
//! the server believes is the rightmost `X-Forwarded-For` hop that is not a trusted proxy, so a
//! client cannot choose its own rate-limit bucket or the address its sessions record
//! (security.md S-15, T-5; issue: spoofed client addresses behind a proxy).

use gatehouse_server::config::Bucket;
use serde_json::{json, Value};

use crate::both_backends;
use crate::peers::nginx::{Nginx, UPSTREAM_SOURCE};
use crate::peers::random_token;
use crate::support::*;

both_backends!(
    a_forged_leftmost_forwarded_for_does_not_escape_the_bucket,
    sessions_record_the_address_the_proxy_saw
);

/// A test server that trusts only nginx's upstream address, with a small anonymous bucket.
async fn behind_nginx(b: Backend, anonymous_capacity: u32) -> (TestServer, Nginx) {
    let t = TestServer::start_with(b, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.trusted_proxies = vec![UPSTREAM_SOURCE];
        c.rate_limits.anonymous = Bucket {
            capacity: anonymous_capacity,
            period_secs: 3600,
        };
    })
    .await;
    let nginx = Nginx::start(&t.base);
    (t, nginx)
}

/// A different made-up address each call, as an attacker rotating its claimed origin would send.
fn random_address() -> String {
    let bytes = random_token(3).into_bytes();
    format!("198.51.{}.{}", bytes[0] % 250, bytes[1] % 250)
}

async fn anonymous_through(nginx: &Nginx, forwarded_for: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}/api/client/v2.0/app/{APP}/auth/providers/anon-user/login",
            nginx.base
        ))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({}))
        .send()
        .await
        .expect("request through nginx")
}

async fn a_forged_leftmost_forwarded_for_does_not_escape_the_bucket(b: Backend) {
    let (_t, nginx) = behind_nginx(b, 3).await;
    for i in 0..3 {
        let r = anonymous_through(&nginx, &random_address()).await;
        assert_eq!(
            r.status(),
            200,
            "login {i} through nginx: {}",
            nginx.error_log()
        );
    }
    // The bucket is the test client's (127.0.0.1, appended by nginx), whatever it claims.
    for claimed in [
        random_address(),
        format!("{}, {}", random_address(), random_address()),
    ] {
        let r = anonymous_through(&nginx, &claimed).await;
        assert_eq!(
            r.status(),
            429,
            "a forged X-Forwarded-For ({claimed}) escaped the bucket"
        );
        assert!(r.headers().contains_key("retry-after"));
    }
    // Claiming to be the trusted proxy itself does not help either.
    let r = anonymous_through(&nginx, &UPSTREAM_SOURCE.to_string()).await;
    assert_eq!(r.status(), 429);
}

async fn sessions_record_the_address_the_proxy_saw(b: Backend) {
    let (t, nginx) = behind_nginx(b, 100).await;
    let r = anonymous_through(&nginx, "203.0.113.66").await;
    assert_eq!(r.status(), 200);
    let login: Value = r.json().await.unwrap();
    let access = login["access_token"].as_str().unwrap();
    let sessions: Value = t
        .http
        .get(t.api("/auth/sessions"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ips: Vec<&str> = sessions
        .as_array()
        .expect("a list of sessions")
        .iter()
        .filter_map(|s| s["ip"].as_str())
        .collect();
    assert_eq!(
        ips,
        ["127.0.0.1"],
        "the session must record the address nginx saw: {sessions}"
    );
}
