//! The outbound client ignores HTTP(S)_PROXY / ALL_PROXY (issue 12, item 14): a proxy would
//! resolve names itself, around the SSRF guard's resolver. Its own process, as it sets the
//! proxy variables.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gatehouse_server::config::OutboundConfig;
use gatehouse_server::outbound::Outbound;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A listener that counts connections and answers each with `200 {}`.
async fn listener() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                          content-length: 2\r\nconnection: close\r\n\r\n{}",
                    )
                    .await;
            });
        }
    });
    (format!("127.0.0.1:{}", addr.port()), hits)
}

#[tokio::test]
async fn proxy_variables_are_ignored() {
    let (proxy, proxied) = listener().await;
    let (target, reached) = listener().await;
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        std::env::set_var(var, format!("http://{proxy}"));
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    let outbound = Outbound::new(&OutboundConfig {
        allow_loopback_http: true,
        ..OutboundConfig::default()
    })
    .unwrap();
    let port = target.rsplit(':').next().unwrap();
    let reply = outbound
        .get(&format!("http://localhost:{port}/jwks"), None)
        .await
        .unwrap();
    assert!(reply.ok());
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "the proxy was used");
    assert_eq!(reached.load(Ordering::SeqCst), 1);
}
