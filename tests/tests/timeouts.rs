//! Time limits that belong to one side: a client that stalls its upload gets 408 and v1 is not
//! blamed; v1 that stalls mid-body is cut at stream_idle_timeout; a gRPC call's own deadline
//! replaces the upstream timeout; a client that goes away cancels v1 and the mirror, and is
//! counted as 499.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use shadowdiff_e2e::faults::{read_head, RawUpstream};
use shadowdiff_e2e::{eventually, json, TestProxy, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_client_that_stalls_its_upload_gets_408_and_v1_is_not_blamed() {
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 0\nclient_body_timeout = \"300ms\"",
    )
    .await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"POST /orders HTTP/1.1\r\nhost: app\r\ncontent-length: 1000\r\n\r\nx")
        .await
        .unwrap();
    let started = Instant::now();
    let head = tokio::time::timeout(Duration::from_secs(5), read_head(&mut s))
        .await
        .expect("answered")
        .unwrap();
    assert!(
        head.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let m = proxy.metrics().await;
    let route = ("route", "default");
    assert_eq!(
        m.value(
            "shadowdiff_client_errors_total",
            &[route, ("kind", "body_timeout")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "shadowdiff_primary_errors_total",
            &[route, ("kind", "timeout")]
        ),
        0.0
    );
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn v1_that_stops_mid_body_is_cut_at_stream_idle_timeout() {
    // Headers and one chunk, then nothing, with the connection held open.
    let v1 = RawUpstream::start(|mut s| async move {
        let _ = read_head(&mut s).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n";
        let _ = s.write_all(head.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 0\nstream_idle_timeout = \"300ms\"",
    )
    .await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET /feed HTTP/1.1\r\nhost: app\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the stalled response was ended")
        .ok();
    assert!(started.elapsed() < Duration::from_secs(3));
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("hello"),
        "{text}"
    );
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "never dressed up as a complete body: {text}"
    );
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn a_grpc_timeout_replaces_the_upstream_timeout() {
    let v1 = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        json(r#"{"v":1}"#)
    })
    .await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let text = format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 0\n\
         [primary]\nurl = \"{}\"\ntimeout = \"300ms\"\n[candidate]\nurl = \"{}\"\n",
        v1.url(),
        v2.url()
    );
    let proxy = TestProxy::from_toml(&text).await;
    let ask = |timeout: Option<&'static str>| {
        let addr = proxy.addr;
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let extra = timeout.map_or(String::new(), |t| format!("grpc-timeout: {t}\r\n"));
            let req =
                format!("GET /slow HTTP/1.1\r\nhost: app\r\n{extra}connection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            read_head(&mut s).await.unwrap()
        }
    };
    assert!(
        ask(None).await.starts_with(b"HTTP/1.1 504"),
        "v1's own timeout without one"
    );
    let head = ask(Some("2S")).await;
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert!(
        ask(Some("100m")).await.starts_with(b"HTTP/1.1 504"),
        "and a shorter one holds"
    );
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn a_client_that_resets_its_stream_cancels_v1_and_the_mirror_and_is_counted() {
    let v1 = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        json(r#"{"v":1}"#)
    })
    .await;
    let v2 = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        json(r#"{"v":1}"#)
    })
    .await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 100\n[log]\naccess_log = true",
    )
    .await;
    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("http://{}/doc", proxy.addr))
        .body(Empty::new())
        .unwrap();
    let call = tokio::spawn(async move { send.send_request(req).await });
    let shared = proxy.running.shared.clone();
    eventually(Duration::from_secs(5), || {
        shared.metrics.mirrors_in_flight.get() == 1
    })
    .await;
    call.abort(); // the stream is reset
    let started = Instant::now();
    eventually(Duration::from_secs(2), || {
        shared.metrics.mirrors_in_flight.get() == 0
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "v2's 3 s were not waited for"
    );
    let m = proxy.metrics().await;
    let route = ("route", "default");
    assert_eq!(
        m.value(
            "shadowdiff_client_errors_total",
            &[route, ("kind", "cancelled")]
        ),
        1.0
    );
    assert_eq!(m.skipped("default", "primary_failed"), 1.0);
    proxy.running.shutdown().await;
}

/// v1 resetting its connection mid-body: the client gets a truncated response (what v1 sent),
/// and the break is counted against v1 (`primary_errors_total{kind="body"}`).
#[tokio::test]
async fn v1_breaking_off_mid_body_is_counted() {
    let v1 = shadowdiff_e2e::faults::reset_mid_body_upstream().await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 0").await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET /reset HTTP/1.1\r\nhost: app\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let shared = proxy.running.shared.clone();
    let m = &shared.snapshot.load().default_route.metrics;
    eventually(Duration::from_secs(5), || m.primary_body.get() == 1).await;
    proxy.running.shutdown().await;
}
