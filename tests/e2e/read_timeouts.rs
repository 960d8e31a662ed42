//! Header and body read timeouts (issue 12, item 17) over raw TCP: a client that trickles its
//! headers (slowloris), sends nothing, or declares a body and never sends it is cut off within
//! the configured time; well-behaved requests, kept-alive connections included, still work.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::*;

const HEADER_MS: u64 = 600;
const BODY_MS: u64 = 800;

async fn server() -> TestServer {
    TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.header_read_timeout_ms = HEADER_MS;
        c.limits.body_read_timeout_ms = BODY_MS;
    })
    .await
}

async fn connect(t: &TestServer) -> TcpStream {
    TcpStream::connect(t.state().config.listen).await.unwrap()
}

/// Reads until the server closes the connection (bounded), returning what it sent.
async fn read_to_close(s: &mut TcpStream, within: Duration) -> String {
    let mut all = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the connection was still open after {within:?}"
    );
    String::from_utf8_lossy(&all).into_owned()
}

/// One request on an open connection; the answer's head and body (`Content-Length` framed).
async fn exchange(s: &mut TcpStream, request: &str) -> String {
    s.write_all(request.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed before answering");
        all.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&all).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if all.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_missing_bodies_are_cut_off() {
    let t = server().await;
    let header = Duration::from_millis(HEADER_MS);

    // Slowloris: one header byte every 50 ms, never reaching the empty line. The bytes keep
    // arriving, so only a deadline on the whole header (not an idle timeout) stops it.
    let mut s = connect(&t).await;
    let started = Instant::now();
    let trickle = format!(
        "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Pad: {}",
        "a".repeat(200)
    );
    let mut cut_at = None;
    let mut buf = [0u8; 256];
    for byte in trickle.bytes() {
        if s.write_all(&[byte]).await.is_err() {
            cut_at = Some(started.elapsed());
            break;
        }
        match tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_at = Some(started.elapsed());
                break;
            }
            Ok(Ok(n)) => panic!(
                "answered a half request: {}",
                String::from_utf8_lossy(&buf[..n])
            ),
        }
    }
    let cut_at = cut_at.expect("the trickling connection was never closed");
    assert!(
        cut_at >= header - Duration::from_millis(50) && cut_at < header * 3,
        "closed after {cut_at:?}"
    );

    // A connection that sends nothing at all is closed after the same time.
    let mut s = connect(&t).await;
    let started = Instant::now();
    assert_eq!(read_to_close(&mut s, header * 4).await, "");
    assert!(started.elapsed() >= header - Duration::from_millis(50));

    // A declared body that never comes: 408 RequestTimeout, then the connection closes.
    let mut s = connect(&t).await;
    let path = format!("/api/client/v2.0/app/{APP}/auth/providers/local-userpass/register");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"email\": "
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let answer = read_to_close(&mut s, Duration::from_millis(BODY_MS * 4)).await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("\"error_code\":\"RequestTimeout\""),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        took >= Duration::from_millis(BODY_MS - 50) && took < Duration::from_millis(BODY_MS * 3),
        "answered after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_requests_still_work_with_the_timeouts() {
    let t = server().await;
    // Two requests on one kept-alive connection, and a body sent in pieces within the time.
    let mut s = connect(&t).await;
    let live = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
    assert!(exchange(&mut s, live).await.starts_with("HTTP/1.1 204"));
    assert!(exchange(&mut s, live).await.starts_with("HTTP/1.1 204"));
    let body = r#"{"username": "nobody@example.com", "password": "not the password at all"}"#;
    let login = format!(
        "POST /api/client/v2.0/app/{APP}/auth/providers/local-userpass/login HTTP/1.1\r\n\
         Host: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(login.as_bytes()).await.unwrap();
    s.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(BODY_MS / 3)).await;
    let answer = exchange(&mut s, &body[10..]).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("InvalidPassword"), "{answer}");
    // Headers sent slowly but within the time are fine.
    let mut s = connect(&t).await;
    s.write_all(b"GET /health/live HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(HEADER_MS / 3)).await;
    assert!(exchange(&mut s, "Host: x\r\n\r\n")
        .await
        .starts_with("HTTP/1.1 204"));
    // A kept-alive connection idle for longer than the header time is closed; clients reconnect.
    assert_eq!(
        read_to_close(&mut s, Duration::from_millis(HEADER_MS * 4)).await,
        ""
    );
    // And an ordinary client does not notice any of it.
    let u = t.anonymous().await;
    assert!(!u.access.is_empty());
}
