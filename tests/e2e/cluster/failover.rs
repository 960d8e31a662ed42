//! Failover: two instances on a primary with a synchronous standby, reached through HAProxy's
//! TCP switch (TLS passes through; the client verifies `localhost` on either node). Under a
//! load of registrations, logins, refreshes and logouts the primary is killed (`kill -9`) and
//! the standby promoted. While it happens requests may fail with 503 — never 401, never 500 —
//! and afterwards every acknowledged registration, login and logout is still there: each live
//! session refreshes, each ended one stays ended, each registered address signs in.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::instances::{Haproxy, Instance, NO_LIMITS};
use super::postgres::{verify_full_url, PgNode};
use super::tls::TestCa;
use super::{scratch, Answer, Api};
use crate::support::PASSWORD;

/// What the load saw answered.
#[derive(Default)]
struct Ledger {
    /// Refresh tokens of acknowledged logins not (acknowledgedly) logged out.
    live: Vec<String>,
    /// Refresh tokens whose logout was acknowledged.
    ended: Vec<String>,
    /// Addresses whose registration was acknowledged.
    registered: Vec<String>,
    unavailable: usize,
    /// Anything but success or 503: the failures this test exists to catch.
    wrong: Vec<String>,
}

impl Ledger {
    /// Files a non-success answer: 503 is the one allowed while the database switches.
    fn refused(&mut self, what: &str, answer: Result<Answer, String>) {
        match answer {
            Ok(a) if a.status == 503 => self.unavailable += 1,
            other => self.wrong.push(format!("{what}: {other:?}")),
        }
    }
}

async fn worker(front: Api, ledger: Arc<Mutex<Ledger>>, worker: usize, until: Instant) {
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let email = format!("failover-{worker}-{n}@example.test");
        match front.register(&email, PASSWORD).await {
            Ok(a) if a.status.is_success() => ledger.lock().unwrap().registered.push(email),
            other => ledger.lock().unwrap().refused("register", other),
        }
        let refresh = match front.anonymous().await {
            Ok(a) if a.status == 200 => a.body["refresh_token"].as_str().unwrap().to_string(),
            other => {
                ledger.lock().unwrap().refused("login", other);
                continue;
            }
        };
        match front.refresh(&refresh).await {
            Ok(a) if a.status == 201 => {}
            other => ledger.lock().unwrap().refused("refresh", other),
        }
        if n % 2 == 0 {
            ledger.lock().unwrap().live.push(refresh);
            continue;
        }
        match front.logout(&refresh).await {
            Ok(a) if a.status == 204 => ledger.lock().unwrap().ended.push(refresh),
            other => {
                // Unacknowledged: it may or may not have happened; not checked afterwards.
                ledger.lock().unwrap().refused("logout", other);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_synchronous_standby_loses_no_acknowledged_write() {
    let root = scratch();
    let ca = TestCa::new(&root.path().join("ca"), "Gatehouse Test CA");
    let mut primary = PgNode::primary(root.path(), "primary", &ca);
    primary.sql("CREATE DATABASE gatehouse");
    let standby = PgNode::standby_of(&primary, root.path(), "standby");
    primary.require_synchronous_standby();
    let deadline = Instant::now() + Duration::from_secs(30);
    while primary.sql("SELECT string_agg(sync_state, ',') FROM pg_stat_replication") != "sync" {
        assert!(
            Instant::now() < deadline,
            "the standby never became synchronous"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let switch = Haproxy::postgres(root.path(), primary.port, standby.port).await;
    let url = verify_full_url("localhost", switch.port, &ca.ca_cert, "gatehouse");
    let a = Instance::start(root.path(), "a", &url, NO_LIMITS).await;
    let b = Instance::start(root.path(), "b", &url, NO_LIMITS).await;
    let lb = Haproxy::http(root.path(), &[a.port, b.port]).await;
    let front = Api::new(&lb.url());

    const WORKERS: usize = 6;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let until = Instant::now() + Duration::from_secs(7);
    let load: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(worker(front.clone(), ledger.clone(), w, until)))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = ledger.lock().unwrap().registered.len();
    primary.kill();
    // A moment with no writable database (the standby reads only), then the promotion.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    standby.promote();
    let promoted_at = ledger.lock().unwrap().registered.len();
    let switched = Instant::now();
    for task in load {
        task.await.unwrap();
    }
    eprintln!(
        "the load ended {:?} after the promotion",
        switched.elapsed()
    );
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    eprintln!(
        "failover: {} registered ({before} before the kill, {promoted_at} by the promotion), \
         {} live, {} ended, {} answered 503",
        ledger.registered.len(),
        ledger.live.len(),
        ledger.ended.len(),
        ledger.unavailable
    );
    assert!(
        ledger.wrong.is_empty(),
        "only 503 may fail during the switch: {:#?}\n{}\n{}",
        ledger.wrong,
        a.log(),
        b.log()
    );
    assert!(before > 0, "the load ran before the kill");
    assert!(
        ledger.registered.len() > promoted_at,
        "the instances carried on after the promotion"
    );

    // Nothing acknowledged is lost.
    for refresh in &ledger.live {
        let a = front.refresh(refresh).await.unwrap();
        assert_eq!(
            a.status, 201,
            "an acknowledged login was lost: {:?}",
            a.body
        );
    }
    for refresh in &ledger.ended {
        let a = front.refresh(refresh).await.unwrap();
        assert_eq!(
            a.status, 401,
            "an acknowledged logout was lost: {:?}",
            a.body
        );
    }
    for email in &ledger.registered {
        let a = front.password_login(email, PASSWORD).await.unwrap();
        assert_eq!(
            a.status, 200,
            "{email}'s registration was lost: {:?}",
            a.body
        );
    }
}
