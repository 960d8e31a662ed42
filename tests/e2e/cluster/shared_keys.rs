//! PostgreSQL over TLS verified at start, and three instances behind HAProxy (on pgbouncer in
//! transaction pooling) sharing one key set:
//! a token from one works on every other, one rotation serves the whole cluster, and an
//! instance killed under load costs only what it had in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::instances::{Haproxy, Instance, KEK, NO_LIMITS};
use super::pgbouncer::Pgbouncer;
use super::postgres::{verify_full_url, PgNode};
use super::tls::TestCa;
use super::{kid_of, scratch, Api};
use crate::support::run_gatehoused;

/// `gatehoused admin list-users` against `url` (it opens the database and exits): its output.
fn open_database(dir: &std::path::Path, url: &str) -> std::process::Output {
    let data = dir.join("probe");
    run_gatehoused(&[
        "--database-url",
        url,
        "--data-dir",
        data.to_str().unwrap(),
        "--dev",
        "admin",
        "list-users",
        "--app",
        gatehouse_server::config::DEV_APP_ID,
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_is_verified_at_start() {
    let root = scratch();
    let ca = TestCa::new(&root.path().join("ca"), "Gatehouse Test CA");
    let other = TestCa::new(&root.path().join("other-ca"), "Someone Else's CA");
    let pg = PgNode::primary(root.path(), "pg", &ca);

    let ok = open_database(root.path(), &pg.url(&ca.ca_cert, "postgres"));
    assert!(
        ok.status.success(),
        "verify-full against the right CA and host (the server takes TLS only): {}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // Another CA: refused at start, and the message says what to check.
    let wrong_ca = open_database(root.path(), &pg.url(&other.ca_cert, "postgres"));
    assert!(!wrong_ca.status.success());
    let err = String::from_utf8_lossy(&wrong_ca.stderr);
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(err.contains("sslrootcert must be the CA"), "{err}");

    // The right CA but a host name the certificate does not list (it names localhost only).
    let url = verify_full_url("127.0.0.1", pg.port, &ca.ca_cert, "postgres");
    let wrong_host = open_database(root.path(), &url);
    assert!(!wrong_host.status.success());
    let err = String::from_utf8_lossy(&wrong_host.stderr);
    assert!(err.contains("a name the certificate lists"), "{err}");

    // Without TLS the server itself refuses (hostssl only).
    let plain = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=disable",
        pg.port
    );
    let refused = open_database(root.path(), &plain);
    assert!(!refused.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_keys_rotate_once_and_survive_a_kill() {
    let root = scratch();
    let ca = TestCa::new(&root.path().join("ca"), "Gatehouse Test CA");
    let pg = PgNode::primary(root.path(), "pg", &ca);
    pg.sql("CREATE DATABASE gatehouse");
    // Through pgbouncer in transaction pooling (prepared statements and all), which reaches
    // PostgreSQL over verified TLS.
    let bouncer = Pgbouncer::start(root.path(), &pg, &ca.ca_cert).await;
    let url = bouncer.url("gatehouse");
    // Started together: the migrations and the first key set are made once.
    let (a, b, c) = tokio::join!(
        Instance::start(root.path(), "a", &url, NO_LIMITS),
        Instance::start(root.path(), "b", &url, NO_LIMITS),
        Instance::start(root.path(), "c", &url, NO_LIMITS),
    );
    let mut instances = [a, b, c];
    let direct: Vec<Api> = instances.iter().map(|i| Api::new(&i.url())).collect();
    let ports: Vec<u16> = instances.iter().map(|i| i.port).collect();
    let lb = Haproxy::http(root.path(), &ports).await;
    let front = Api::new(&lb.url());
    assert_eq!(
        pg.sql_in("gatehouse", "SELECT count(*) FROM signing_keys"),
        "1",
        "one key set"
    );
    let kid = direct[0].kids().await[0].clone();
    for api in &direct {
        assert_eq!(api.kids().await, vec![kid.clone()], "{}", api.base);
    }

    // A session opened on one instance works on each of the others.
    for (i, opener) in direct.iter().enumerate() {
        let login = opener.anonymous().await.unwrap();
        assert_eq!(login.status, 200, "{:?}", login.body);
        let access = login.body["access_token"].as_str().unwrap();
        let refresh = login.body["refresh_token"].as_str().unwrap();
        for (j, other) in direct.iter().enumerate() {
            let p = other.profile(access).await.unwrap();
            assert_eq!(p.status, 200, "issued by {i}, checked by {j}: {:?}", p.body);
        }
        let next = direct[(i + 1) % 3].refresh(refresh).await.unwrap();
        assert_eq!(next.status, 201, "{:?}", next.body);
    }

    // One rotation for the cluster: every instance signs with the new key within seconds and
    // still publishes (and accepts) the old one.
    let before = front.anonymous().await.unwrap();
    let old_access = before.body["access_token"].as_str().unwrap().to_string();
    let out = run_gatehoused(&[
        "--database-url",
        &url,
        "--data-dir",
        root.path().join("admin").to_str().unwrap(),
        "admin",
        "rotate-keys",
    ]);
    assert!(
        !out.status.success(),
        "without the key-encryption key the admin command rotates a key file, not the cluster's"
    );
    let out = std::process::Command::new(crate::support::gatehoused())
        .args(["--database-url", &url, "--data-dir"])
        .arg(root.path().join("admin"))
        .args(["admin", "rotate-keys"])
        .env("GATEHOUSE_KEY_ENCRYPTION_KEY", KEK)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_kid = rotated["kid"].as_str().unwrap().to_string();
    assert_eq!(rotated["retired"], kid.as_str());
    let deadline = Instant::now() + Duration::from_secs(15);
    for api in &direct {
        while api.kids().await != vec![new_kid.clone(), kid.clone()] {
            assert!(Instant::now() < deadline, "{} never picked up", api.base);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let login = api.anonymous().await.unwrap();
        assert_eq!(
            kid_of(login.body["access_token"].as_str().unwrap()),
            new_kid
        );
        assert_eq!(api.profile(&old_access).await.unwrap().status, 200);
    }

    // Load through HAProxy; one instance is killed in the middle. The others keep answering:
    // only requests in flight on the dead one may fail (HAProxy retries failed connects).
    const WORKERS: usize = 8;
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let stop_at = Instant::now() + Duration::from_secs(4);
    let mut load = Vec::new();
    for _ in 0..WORKERS {
        let (front, ok, failed) = (front.clone(), ok.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            let mut late_failures = 0;
            while Instant::now() < stop_at {
                match front.anonymous().await {
                    Ok(a) if a.status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        if stop_at - Instant::now() < Duration::from_secs(2) {
                            late_failures += 1;
                            eprintln!("late failure: {other:?}");
                        }
                    }
                }
            }
            late_failures
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    instances[1].kill();
    let mut late = 0;
    for task in load {
        late += task.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("under load with a kill: {ok} answered, {failed} failed");
    assert!(ok > 100, "the cluster kept answering: {ok}");
    assert!(
        failed <= WORKERS,
        "at most the requests in flight fail ({failed} > {WORKERS}): {}",
        lb.log("haproxy-http.cfg")
    );
    assert_eq!(late, 0, "once the check marked it down, nothing fails");
    for i in [0, 2] {
        assert_eq!(direct[i].anonymous().await.unwrap().status, 200);
    }
}
