//! Throttling: per-IP token buckets, per-account progressive delay and soft lock
//! (security.md S-14–S-16, T-4, T-5).

use gatehouse_server::config::Bucket;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    per_ip_buckets_answer_429_and_spare_other_ips,
    failed_logins_slow_the_account_down_alike_for_unknown_names,
    a_soft_locked_account_is_unlocked_by_a_password_reset
);

fn throttled(c: &mut gatehouse_server::Config) {
    c.rate_limits.enabled = true;
    c.rate_limits.login = Bucket {
        capacity: 1000,
        period_secs: 1,
    };
    c.rate_limits.register = Bucket {
        capacity: 1000,
        period_secs: 1,
    };
    c.rate_limits.email_send = Bucket {
        capacity: 1000,
        period_secs: 1,
    };
}

async fn per_ip_buckets_answer_429_and_spare_other_ips(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        throttled(c);
        c.rate_limits.anonymous = Bucket {
            capacity: 3,
            period_secs: 3600,
        };
    })
    .await;
    for _ in 0..3 {
        t.anonymous().await;
    }
    let r = t.login(APP, "anon-user", json!({})).await;
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=1200).contains(&retry), "{retry}");
    r.err(429, "TooManyRequests");
    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    let forged = t
        .http
        .post(t.app_path(APP, "/auth/providers/anon-user/login"))
        .header("x-forwarded-for", "203.0.113.7")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 429);
    // Another source address has its own bucket.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = other
        .post(t.app_path(APP, "/auth/providers/anon-user/login"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn failed_logins_slow_the_account_down_alike_for_unknown_names(b: Backend) {
    let t = TestServer::start_with(b, throttled).await;
    let email = unique_email("slow");
    t.email_user(&email).await;
    let ghost = unique_email("ghost");
    let wrong = "definitely the wrong password";
    for name in [&email, &ghost] {
        t.login(
            APP,
            "local-userpass",
            json!({"username": name, "password": wrong}),
        )
        .await
        .err(401, "InvalidPassword");
    }
    // Straight after a failure, even the right password waits — for known and unknown names alike.
    let known = t
        .login(
            APP,
            "local-userpass",
            json!({"username": email, "password": PASSWORD}),
        )
        .await;
    let unknown = t
        .login(
            APP,
            "local-userpass",
            json!({"username": ghost, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (known.status, known.raw.clone()),
        (unknown.status, unknown.raw.clone())
    );
    assert_eq!(known.headers["retry-after"], unknown.headers["retry-after"]);
    known.err(429, "TooManyRequests");
    t.state().clock.advance(2);
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .ok();
    // Success resets the counter: one more failure costs only the first step again.
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": wrong}),
    )
    .await
    .err(401, "InvalidPassword");
    t.state().clock.advance(1);
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .ok();
}

async fn a_soft_locked_account_is_unlocked_by_a_password_reset(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        throttled(c);
        c.rate_limits.lockout_after = 5;
    })
    .await;
    let email = unique_email("lock");
    t.email_user(&email).await;
    for _ in 0..5 {
        t.login(
            APP,
            "local-userpass",
            json!({"username": email, "password": "wrong wrong wrong wrong"}),
        )
        .await
        .err(401, "InvalidPassword");
        t.state().clock.advance(15);
    }
    // Locked: the right password gets the same generic answer as a wrong one.
    let before = t.state().hasher.verifications();
    let locked = t
        .login(
            APP,
            "local-userpass",
            json!({"username": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        t.state().hasher.verifications(),
        before + 1,
        "equal work while locked"
    );
    locked.err(401, "InvalidPassword");
    // Reset still works while locked and clears the lock.
    let fresh = "brand new passphrase after lock";
    t.reset_password_by_mail(&email, fresh).await;
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": fresh}),
    )
    .await
    .ok();
    // And the lock ends by itself when its window is over.
    let other = unique_email("lock2");
    t.email_user(&other).await;
    for _ in 0..5 {
        t.login(
            APP,
            "local-userpass",
            json!({"username": other, "password": "wrong wrong wrong wrong"}),
        )
        .await
        .err(401, "InvalidPassword");
        t.state().clock.advance(15);
    }
    t.login(
        APP,
        "local-userpass",
        json!({"username": other, "password": PASSWORD}),
    )
    .await
    .err(401, "InvalidPassword");
    t.state().clock.advance(24 * 3600);
    t.login(
        APP,
        "local-userpass",
        json!({"username": other, "password": PASSWORD}),
    )
    .await
    .ok();
    let _ = Method::GET;
}
