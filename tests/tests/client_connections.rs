//! The bound on open client connections (`limits.max_connections`): past it the proxy stops
//! accepting, and the client that waited in the backlog is served as soon as a slot frees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use shadowdiff_e2e::faults::read_head;
use shadowdiff_e2e::{eventually, TestProxy, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GET: &[u8] = b"GET /doc HTTP/1.1\r\nhost: app\r\n\r\n";

/// A keep-alive client connection that has had one answer and stays open.
async fn served_client(proxy: &TestProxy) -> TcpStream {
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(GET).await.unwrap();
    let head = tokio::time::timeout(Duration::from_secs(5), read_head(&mut s))
        .await
        .expect("answered under the limit")
        .unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    s
}

#[tokio::test]
async fn past_max_connections_a_client_waits_until_one_closes() {
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 0\n[limits]\nmax_connections = 2",
    )
    .await;

    let first = served_client(&proxy).await;
    let _second = served_client(&proxy).await;

    // The third connects (the kernel's backlog takes it) but is not served.
    let mut third = TcpStream::connect(proxy.addr).await.unwrap();
    third.write_all(GET).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut byte)).await;
    assert!(early.is_err(), "a third connection was served: {early:?}");
    let m = proxy.metrics().await;
    assert_eq!(m.value("shadowdiff_client_connections", &[]), 2.0);
    assert_eq!(m.value("shadowdiff_client_connections_total", &[]), 2.0);
    assert!(m.value("shadowdiff_connection_limit_waits_total", &[]) >= 1.0);

    // One leaves: the waiting client gets its answer, nothing was refused or lost.
    drop(first);
    let head = tokio::time::timeout(Duration::from_secs(5), read_head(&mut third))
        .await
        .expect("served once a slot freed")
        .unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    let shared = proxy.running.shared.clone();
    eventually(Duration::from_secs(5), || {
        shared.metrics.client_connections.get() == 2
    })
    .await;
    assert_eq!(
        shared.metrics.client_connections_accepted.get(),
        3,
        "first, second and third"
    );
    drop(third);
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn the_open_connections_gauge_returns_to_zero_when_clients_leave() {
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 0").await;
    let clients = [served_client(&proxy).await, served_client(&proxy).await];
    assert_eq!(proxy.running.shared.metrics.client_connections.get(), 2);
    drop(clients);
    let shared = proxy.running.shared.clone();
    eventually(Duration::from_secs(5), || {
        shared.metrics.client_connections.get() == 0
    })
    .await;
    proxy.running.shutdown().await;
}
