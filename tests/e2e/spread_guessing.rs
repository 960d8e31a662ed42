//! security.md T-4 with 100 source addresses: one account's password guessed once from each of
//! 100 client addresses (behind a trusted proxy that names them in `X-Forwarded-For`), so no
//! per-IP bucket ever fills. The per-account counter alone must slow the guesses down and lock
//! the account at `lockout_after`; while locked, the right password gets the generic answer; a
//! password reset still works and clears the lock; a success resets the counter.

use gatehouse_server::config::Bucket;
use gatehouse_server::providers::throttle::delay_after;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(a_hundred_addresses_guessing_one_account_lock_it);

const WRONG: &str = "a wrong guess, long enough";

async fn attempt(t: &TestServer, from: &str, username: &str, password: &str) -> Reply {
    let resp = t
        .http
        .post(t.app_path(APP, "/auth/providers/local-userpass/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    Reply::read(resp).await
}

/// The n-th source address (n < 250), all in one documentation range.
fn source(n: usize) -> String {
    format!("203.0.113.{}", n + 1)
}

async fn a_hundred_addresses_guessing_one_account_lock_it(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        // Small per-IP login buckets: each address below stays well inside its own.
        c.rate_limits.login = Bucket {
            capacity: 3,
            period_secs: 3600,
        };
    })
    .await;
    let lockout_after = t.state().config.rate_limits.lockout_after;
    assert_eq!(lockout_after, 100, "the default this test is about");
    let email = unique_email("spread");
    t.email_user(&email).await;

    // 100 consecutive wrong passwords, each from its own address. Each waits out the delay the
    // counter asks for, except two probes that try too early: those get 429 with exactly the
    // counter's delay in Retry-After (and, being wrong guesses too, they count).
    let mut retry_afters = Vec::new();
    for n in 0..100usize {
        let failures_so_far = n as i64;
        let wait = delay_after(failures_so_far);
        let r = if n == 20 || n == 90 {
            let r = attempt(&t, &source(n), &email, WRONG).await;
            retry_afters.push(r.headers["retry-after"].to_str().unwrap().to_string());
            r.err(429, "TooManyRequests");
            continue;
        } else {
            t.state().clock.advance(wait);
            attempt(&t, &source(n), &email, WRONG).await
        };
        assert_eq!(r.status, 401, "guess {n} from {}: {}", source(n), r.json);
        r.err(401, "InvalidPassword");
    }
    assert_eq!(
        retry_afters,
        [delay_after(20).to_string(), delay_after(90).to_string()]
    );
    assert!(delay_after(90) > delay_after(20), "the delay grows");

    // Locked: the right password, after waiting out any delay and from a fresh address, gets
    // exactly the answer a wrong one gets — and so it does an hour later.
    t.state().clock.advance(delay_after(100));
    let right = attempt(&t, &source(200), &email, PASSWORD).await;
    let wrong = attempt(&t, &source(201), &email, WRONG).await;
    assert_eq!((right.status, &right.raw), (wrong.status, &wrong.raw));
    right.err(401, "InvalidPassword");
    t.state().clock.advance(3600);
    attempt(&t, &source(202), &email, PASSWORD)
        .await
        .err(401, "InvalidPassword");

    // A password reset still works during the lock, and clears it.
    let fresh = "a fresh passphrase after the lock";
    t.reset_password_by_mail(&email, fresh).await;
    attempt(&t, &source(203), &email, fresh).await.ok();

    // A success resets the counter: one new failure costs the first step only (1 s), not the
    // 10 s of a counter still at 100, and the right password then works.
    attempt(&t, &source(204), &email, WRONG)
        .await
        .err(401, "InvalidPassword");
    let early = attempt(&t, &source(205), &email, fresh).await;
    assert_eq!(
        early.headers["retry-after"].to_str().unwrap(),
        delay_after(1).to_string()
    );
    early.err(429, "TooManyRequests");
    t.state().clock.advance(delay_after(2));
    attempt(&t, &source(206), &email, fresh).await.ok();
}
