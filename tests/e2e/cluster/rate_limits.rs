//! Rate limits shared by three instances (`[rate_limits] shared = true`): a client that spreads
//! its requests over the cluster — one at a time, then many at once — gets the budget one
//! instance would give it, not three times that.

use super::instances::Instance;
use super::postgres::PgNode;
use super::tls::TestCa;
use reqwest::Method;

use super::{scratch, Api, APP};

/// Twelve anonymous sign-ins per client per hour, kept in the database.
const SHARED: &str = "[rate_limits]\nshared = true\n\
                      [rate_limits.anonymous]\ncapacity = 12\nperiod_secs = 3600\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_spreading_over_three_instances_gets_one_budget() {
    let root = scratch();
    let ca = TestCa::new(&root.path().join("ca"), "Gatehouse Test CA");
    let pg = PgNode::primary(root.path(), "pg", &ca);
    pg.sql("CREATE DATABASE gatehouse");
    let url = pg.url(&ca.ca_cert, "gatehouse");
    let (a, b, c) = tokio::join!(
        Instance::start(root.path(), "a", &url, SHARED),
        Instance::start(root.path(), "b", &url, SHARED),
        Instance::start(root.path(), "c", &url, SHARED),
    );
    let apis: Vec<Api> = [&a, &b, &c].iter().map(|i| Api::new(&i.url())).collect();

    // One at a time, round robin: exactly the budget, then 429 with a Retry-After.
    let mut granted = 0;
    let mut refused = Vec::new();
    for i in 0..30 {
        let answer = apis[i % 3].anonymous().await.unwrap();
        match answer.status.as_u16() {
            200 => granted += 1,
            429 => refused.push(answer),
            other => panic!("unexpected {other}: {:?}", answer.body),
        }
    }
    assert_eq!(
        granted, 12,
        "one budget for the cluster (three would give 36)"
    );
    assert_eq!(refused.len(), 18);
    assert_eq!(refused[0].body["error_code"], "TooManyRequests");

    // Many at once from another client (another loopback address: no proxy is trusted, so
    // the peer's address is the client's).
    let other = "127.0.0.2".parse().unwrap();
    let spread: Vec<Api> = apis
        .iter()
        .map(|a| Api::from_address(&a.base, other))
        .collect();
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let api = spread[i % 3].clone();
            tokio::spawn(async move { api.anonymous().await.unwrap().status.as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(
        ok, 12,
        "concurrent takes are decided in the database: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(
        pg.sql_in(
            "gatehouse",
            "SELECT count(*) FROM rate_buckets WHERE bucket LIKE 'Anonymous:%'"
        ),
        "2",
        "one shared bucket per client"
    );

    // The mail limits are the cluster's too: a reset mail to one address asked of each of the
    // three instances is one mail (one per kind and address per minute), not three.
    let address = "one-mailbox@example.org";
    let registered = apis[0]
        .register(address, "a long passphrase")
        .await
        .unwrap();
    assert!(registered.status.is_success(), "{:?}", registered.body);
    let third = "127.0.0.3".parse().unwrap();
    let reset = format!("/api/client/v2.0/app/{APP}/auth/providers/local-userpass/reset/send");
    for api in &apis {
        let api = Api::from_address(&api.base, third);
        let body = serde_json::json!({ "email": address });
        let answer = api
            .send(Method::POST, &reset, None, Some(body))
            .await
            .unwrap();
        assert!(answer.status.is_success(), "{:?}", answer.body);
    }
    let mails = || {
        [&a, &b, &c]
            .iter()
            .flat_map(|i| i.outbox())
            .filter(|m| m["to"] == address)
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while mails() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Mail goes out in the background: give a second or third one time to be written.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        mails(),
        1,
        "one reset mail for the cluster (three would be one each)"
    );
    assert_eq!(
        pg.sql_in("gatehouse", "SELECT count(*) FROM send_log"),
        "1",
        "the send is counted once, in the database"
    );
}
