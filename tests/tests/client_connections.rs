//! The bound on open client connections (`limits.max_connections`): past it the proxy stops
//! accepting, and the client that waited in the backlog is served as soon as a slot frees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
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

/// An h2c connection that sent the preface and SETTINGS, opens no stream and answers PINGs
/// (hyper's client does): the ends of the connection, as the proxy left it.
async fn idle_h2c(proxy: &TestProxy) -> tokio::task::JoinHandle<()> {
    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let (_send, conn) = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2c handshake");
    tokio::spawn(async move {
        let _keep = _send;
        let _ = conn.await;
    })
}

#[tokio::test]
async fn an_idle_h2c_connection_is_closed_after_header_read_timeout() {
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 0\nheader_read_timeout = \"300ms\"",
    )
    .await;
    let conn = idle_h2c(&proxy).await;
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the proxy closed the idle h2c connection")
        .unwrap();
    let shared = proxy.running.shared.clone();
    eventually(Duration::from_secs(5), || {
        shared.metrics.client_connections.get() == 0
    })
    .await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_idle_h2c_connections_does_not_lock_out_healthy_clients() {
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 0\nheader_read_timeout = \"300ms\"\n[limits]\nmax_connections = 20",
    )
    .await;
    let mut flood = Vec::new();
    for _ in 0..20 {
        flood.push(idle_h2c(&proxy).await);
    }
    assert_eq!(proxy.running.shared.metrics.client_connections.get(), 20);
    // Every slot is taken; the idle ones are closed at the deadline and this client is served.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(GET).await.unwrap();
    let head = tokio::time::timeout(Duration::from_secs(5), read_head(&mut s))
        .await
        .expect("a healthy client is served once idle h2c connections are closed")
        .unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    drop(flood);
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn an_h2c_connection_with_a_slow_response_in_flight_is_not_closed_as_idle() {
    let v1 = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_millis(900)).await;
        shadowdiff_e2e::json(r#"{"v":1}"#)
    })
    .await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 0\nheader_read_timeout = \"300ms\"",
    )
    .await;
    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("http://{}/doc", proxy.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), send.send_request(req))
        .await
        .expect("answered")
        .expect("the stream survived three idle limits of waiting");
    assert_eq!(resp.status(), 200);
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn an_admin_connection_that_sends_nothing_is_closed_at_the_deadline() {
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 0\nheader_read_timeout = \"300ms\"",
    )
    .await;
    let mut idle = TcpStream::connect(proxy.admin).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("the admin listener closed a connection that sent nothing");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn the_admin_listener_holds_at_most_its_cap_of_connections() {
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 0").await;
    let mut held = Vec::new();
    for _ in 0..shadowdiff::admin::MAX_CONNECTIONS + 5 {
        held.push(TcpStream::connect(proxy.admin).await.unwrap());
    }
    let shared = proxy.running.shared.clone();
    eventually(Duration::from_secs(5), || {
        shared.metrics.admin_connection_limit_waits.get() >= 1
    })
    .await;
    drop(held);
    // Slots free again: the admin API answers.
    let (status, _, _) = shadowdiff_e2e::get(&format!("http://{}/healthz/live", proxy.admin)).await;
    assert_eq!(status, 200);
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn h2_streams_per_client_connection_are_capped() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, p) = (now.clone(), peak.clone());
    let v1 = Upstream::start(move |_| {
        let (n, p) = (n.clone(), p.clone());
        async move {
            let at = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(at, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            n.fetch_sub(1, Ordering::SeqCst);
            shadowdiff_e2e::json(r#"{"v":1}"#)
        }
    })
    .await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 0\n[limits]\nh2_max_concurrent_streams = 2",
    )
    .await;
    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let mut send = send.clone();
            let uri = format!("http://{}/doc", proxy.addr);
            tokio::spawn(async move {
                send.ready().await?;
                let req = http::Request::get(uri).body(Empty::<Bytes>::new()).unwrap();
                send.send_request(req).await.map(|r| r.status())
            })
        })
        .collect();
    let mut ok = 0;
    for c in calls {
        if matches!(c.await.unwrap(), Ok(s) if s == 200) {
            ok += 1;
        }
    }
    assert!(ok >= 2, "streams within the cap are served ({ok} of 6)");
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "at most 2 streams of one connection reached v1 at once, saw {}",
        peak.load(Ordering::SeqCst)
    );
    proxy.running.shutdown().await;
}
