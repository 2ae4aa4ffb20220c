//! Isolation and bounds, end to end: v2 (and v1, and clients) misbehave over real sockets, and
//! each test states what the client sees and what is counted. After every fault nothing is left
//! behind: no mirror in flight, no captured byte held.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use shadowdiff_e2e::faults::{
    assert_drained, endless_upstream, garbage_upstream, hung_upstream, parse_responses,
    raw_request, read_head, reset_mid_body_upstream, RawUpstream,
};
use shadowdiff_e2e::{
    closed_port, eventually, get, json, send, Metrics, Seen, TestProxy, Upstream,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROUTE: (&str, &str) = ("route", "default");

/// A full config: `top` keys, then `[primary]` and `[candidate]` with their extra keys, then
/// more tables.
fn config(v1: &str, v2: &str, primary: &str, candidate: &str, tables: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 100\n\
         [primary]\nurl = \"{v1}\"\n{primary}\n[candidate]\nurl = \"{v2}\"\n{candidate}\n{tables}\n"
    )
}

async fn mirrored_proxy(v1: &str, v2: &str) -> TestProxy {
    TestProxy::start(v1, v2, "mirror_percent = 100").await
}

/// The proxy's metrics read in-process (no admin round trip; usable after shutdown too).
fn scrape(shared: &shadowdiff::Shared) -> Metrics {
    Metrics(String::from_utf8(shared.metrics.encode()).unwrap())
}

fn candidate_errors(m: &Metrics, kind: &str) -> f64 {
    m.value(
        "shadowdiff_candidate_errors_total",
        &[ROUTE, ("kind", kind)],
    )
}

/// GET through the proxy and insist on v1's 200 and body, well within `limit`.
async fn get_v1_fast(proxy: &TestProxy, path: &str, want: &str, limit: Duration) {
    let started = Instant::now();
    let (status, _, body) = get(&proxy.url(path)).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], want.as_bytes(), "the client gets v1's body");
    assert!(
        started.elapsed() < limit,
        "the client waited {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// v2 misbehaves: the client never notices, the failure is counted.

#[tokio::test]
async fn slow_v2_within_its_timeout_is_still_compared() {
    let v1 = Upstream::json(r#"{"a":1}"#).await;
    let v2 = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        json(r#"{"a":1}"#)
    })
    .await;
    let proxy = mirrored_proxy(&v1.url(), &v2.url()).await;
    get_v1_fast(&proxy, "/x", r#"{"a":1}"#, Duration::from_secs(1)).await;
    // The mirror outlives the client's exchange and ends as a comparison.
    let shared = proxy.running.shared.clone();
    eventually(Duration::from_secs(6), || {
        scrape(&shared).comparisons("default", "match") == 1.0
    })
    .await;
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "match"), 1.0);
    assert_eq!(candidate_errors(&m, "timeout"), 0.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn slow_v2_past_its_timeout_counts_a_timeout() {
    let v1 = Upstream::json(r#"{"a":1}"#).await;
    let v2 = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        json(r#"{"a":1}"#)
    })
    .await;
    let proxy =
        TestProxy::from_toml(&config(&v1.url(), &v2.url(), "", "timeout = \"500ms\"", "")).await;
    get_v1_fast(&proxy, "/x", r#"{"a":1}"#, Duration::from_secs(1)).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(candidate_errors(&m, "timeout"), 1.0);
    assert_eq!(m.skipped("default", "candidate_failed"), 1.0);
    assert_eq!(m.comparisons("default", "match"), 0.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn hung_v2_times_out_and_never_holds_the_client_connection() {
    let v1 = Upstream::json("{}").await;
    let v2 = hung_upstream().await;
    let proxy =
        TestProxy::from_toml(&config(&v1.url(), &v2.url(), "", "timeout = \"500ms\"", "")).await;
    // One keep-alive connection, sequential requests: none waits for v2.
    let client = shadowdiff_e2e::client();
    let started = Instant::now();
    for _ in 0..5 {
        let (status, _, body) = send(&client, Method::GET, &proxy.url("/x"), Bytes::new()).await;
        assert_eq!(status, 200);
        assert_eq!(&body[..], b"{}");
    }
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "5 requests took {:?} with v2 hung",
        started.elapsed()
    );
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(candidate_errors(&m, "timeout"), 5.0);
    assert_eq!(m.skipped("default", "candidate_failed"), 5.0);
    assert!(v2.accepted() >= 1, "v2 was reached, and hung");
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn refusing_v2_counts_connect() {
    let v1 = Upstream::json("{}").await;
    let proxy = mirrored_proxy(&v1.url(), &closed_port().await).await;
    get_v1_fast(&proxy, "/x", "{}", Duration::from_secs(1)).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(candidate_errors(&m, "connect"), 1.0);
    assert_eq!(m.skipped("default", "candidate_failed"), 1.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn v2_reset_mid_body_counts_reset() {
    let v1 = Upstream::json("{}").await;
    let v2 = reset_mid_body_upstream().await;
    let proxy = mirrored_proxy(&v1.url(), &v2.url()).await;
    get_v1_fast(&proxy, "/reset", "{}", Duration::from_secs(1)).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(candidate_errors(&m, "reset"), 1.0);
    assert_eq!(candidate_errors(&m, "protocol"), 0.0);
    assert_eq!(m.skipped("default", "candidate_failed"), 1.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn v2_speaking_garbage_counts_protocol() {
    let v1 = Upstream::json("{}").await;
    let v2 = garbage_upstream(b"HELLO\r\n\r\n").await;
    let proxy = mirrored_proxy(&v1.url(), &v2.url()).await;
    get_v1_fast(&proxy, "/x", "{}", Duration::from_secs(1)).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(candidate_errors(&m, "protocol"), 1.0);
    assert_eq!(m.skipped("default", "candidate_failed"), 1.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn v2_huge_body_is_skipped_and_not_held() {
    let big: &'static str = Box::leak(format!("\"{}\"", "x".repeat(10 << 20)).into_boxed_str());
    let v1 = Upstream::json("\"small\"").await;
    let v2 = Upstream::start(move |_| async move { json(big) }).await;
    let proxy = mirrored_proxy(&v1.url(), &v2.url()).await;
    get_v1_fast(&proxy, "/x", "\"small\"", Duration::from_secs(2)).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.skipped("default", "body_too_large"), 1.0);
    assert_eq!(m.comparisons("default", "mismatch"), 0.0);
    // Nothing of v2's 10 MB (nor v1's capture) stays reserved.
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn v2_wrong_content_type_is_a_mismatch() {
    let v1 = Upstream::json(r#"{"a":1}"#).await;
    let v2 = Upstream::start(|_| async {
        Response::builder()
            .header("content-type", "text/html; charset=utf-8")
            .body(Full::new(Bytes::from_static(br#"{"a":1}"#)))
            .unwrap()
    })
    .await;
    let proxy = mirrored_proxy(&v1.url(), &v2.url()).await;
    let (status, headers, body) = get(&proxy.url("/x")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json", "v1's header");
    assert_eq!(&body[..], br#"{"a":1}"#);
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "mismatch"), 1.0);
    assert_eq!(m.comparisons("default", "match"), 0.0);
    let parts = ["status", "headers", "body"]
        .map(|p| m.value("shadowdiff_mismatches_total", &[ROUTE, ("part", p)]));
    assert_eq!(parts[0], 0.0, "statuses agree");
    assert!(
        parts[1] + parts[2] >= 1.0,
        "headers or body differ: {parts:?}"
    );
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// v1 misbehaves: the client gets a clear error, the mirror is not compared.

#[tokio::test]
async fn v1_down_is_502_and_the_mirror_is_primary_failed() {
    let v2 = Upstream::json("{}").await;
    let proxy = mirrored_proxy(&closed_port().await, &v2.url()).await;
    let (status, _, body) = get(&proxy.url("/x")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(String::from_utf8_lossy(&body).contains("primary unreachable"));
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(
        m.value(
            "shadowdiff_primary_errors_total",
            &[ROUTE, ("kind", "connect")]
        ),
        1.0
    );
    assert_eq!(m.skipped("default", "primary_failed"), 1.0);
    assert_eq!(m.comparisons("default", "match"), 0.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn v1_slow_past_its_timeout_is_504() {
    let v1 = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        json("{}")
    })
    .await;
    let v2 = Upstream::json("{}").await;
    let proxy =
        TestProxy::from_toml(&config(&v1.url(), &v2.url(), "timeout = \"300ms\"", "", "")).await;
    let started = Instant::now();
    let (status, _, body) = get(&proxy.url("/x")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(String::from_utf8_lossy(&body).contains("timed out"));
    assert!(started.elapsed() < Duration::from_secs(2));
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(
        m.value(
            "shadowdiff_primary_errors_total",
            &[ROUTE, ("kind", "timeout")]
        ),
        1.0
    );
    assert_eq!(m.skipped("default", "primary_failed"), 1.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn v1_reset_mid_body_fails_the_client_read_and_the_proxy_keeps_serving() {
    let v1 = reset_mid_body_upstream().await;
    let v2 = Upstream::json("{}").await;
    let proxy = mirrored_proxy(&v1.url(), &v2.url()).await;

    let client = shadowdiff_e2e::empty_client();
    let resp = client
        .get(proxy.url("/reset").parse().unwrap())
        .await
        .expect("v1's head reaches the client");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], "1000");
    let read = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect())
        .await
        .expect("the body ends, one way or another");
    assert!(
        read.is_err(),
        "a truncated body is an error, not a short 200"
    );

    // The proxy is fine: the next request is served.
    get_v1_fast(&proxy, "/ok", r#"{"ok":true}"#, Duration::from_secs(1)).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.skipped("default", "primary_failed"), 1.0);
    assert_eq!(m.comparisons("default", "match"), 0.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Clients misbehave: the proxy cleans up and keeps serving.

const UP_ROUTE: &str =
    "[[routes]]\nname = \"up\"\npath_prefix = \"/up\"\nallow_unsafe_methods = true\n";

#[tokio::test]
async fn client_gone_mid_request_body() {
    let v1 =
        Upstream::start(|s: Seen| async move { json(&format!("{{\"got\":{}}}", s.body.len())) })
            .await;
    let v2 = Upstream::json(r#"{"got":1000}"#).await;
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2.url(), "", "", UP_ROUTE)).await;

    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"POST /up/orders HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[b'a'; 100]).await.unwrap();
    let shared = proxy.running.shared.clone();
    // The request reached the proxy (and its mirror was planned) before the client leaves.
    eventually(Duration::from_secs(5), || {
        scrape(&shared).value("shadowdiff_requests_total", &[("route", "up")]) == 1.0
    })
    .await;
    drop(s);
    eventually(Duration::from_secs(5), || {
        scrape(&shared).skipped("up", "primary_failed") == 1.0
    })
    .await;
    let (status, _, body) = send(
        &shadowdiff_e2e::client(),
        Method::POST,
        &proxy.url("/up/orders"),
        Bytes::from("hello"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], br#"{"got":5}"#);
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.skipped("up", "primary_failed"), 1.0);
    for kind in ["connect", "timeout", "protocol"] {
        assert_eq!(
            m.value(
                "shadowdiff_primary_errors_total",
                &[("route", "up"), ("kind", kind)]
            ),
            0.0,
            "a client that left is not v1's failure ({kind})"
        );
    }
    assert_eq!(
        m.value("shadowdiff_mirrored_requests_total", &[("route", "up")]),
        1.0
    );
    assert_eq!(v2.hits(), 1, "the torn request was never mirrored");
    assert_eq!(v2.seen()[0].body, "hello");
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn client_gone_mid_response_aborts_the_capture() {
    let v1 = endless_upstream().await;
    let v2 = Upstream::json("{}").await;
    let proxy = mirrored_proxy(&v1.url(), &v2.url()).await;
    for round in 1..=2 {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let head = read_head(&mut s).await.unwrap();
        assert!(
            head.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "round {round}: {}",
            String::from_utf8_lossy(&head[..head.len().min(200)])
        );
        drop(s);
        let shared = proxy.running.shared.clone();
        eventually(Duration::from_secs(5), || {
            scrape(&shared).skipped("default", "primary_failed") == f64::from(round)
        })
        .await;
    }
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

/// With `header_read_timeout = "2s"`.
#[tokio::test]
async fn slowloris_and_silent_clients_are_cut_off() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 100\nheader_read_timeout = \"2s\"",
    )
    .await;
    let limit = Duration::from_secs(4);

    // Headers one byte every 500 ms, never finished.
    let trickle = async {
        let started = Instant::now();
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        let head =
            b"GET /x HTTP/1.1\r\nhost: x\r\nx-pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let (mut r, mut w) = s.split();
        let write = async {
            for b in head {
                if w.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            std::future::pending::<()>().await;
        };
        let mut got = Vec::new();
        tokio::select! {
            _ = r.read_to_end(&mut got) => {}
            () = write => unreachable!(),
            () = tokio::time::sleep(limit) => panic!("slowloris connection still open after {limit:?}"),
        }
        (started.elapsed(), got)
    };
    // Connects and sends nothing at all.
    let silent = async {
        let started = Instant::now();
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(limit, s.read_to_end(&mut got))
            .await
            .unwrap_or_else(|_| panic!("silent connection still open after {limit:?}"))
            .ok();
        (started.elapsed(), got)
    };
    let ((t1, got1), (t2, got2)) = tokio::join!(trickle, silent);
    for (took, got) in [(t1, got1), (t2, got2)] {
        assert!(
            took >= Duration::from_millis(1500),
            "closed early: {took:?}"
        );
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }
    // Neither reached v1, nor anything else.
    assert_eq!(v1.hits(), 0);
    get_v1_fast(&proxy, "/x", "{}", Duration::from_secs(1)).await;
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn huge_request_body_streams_to_v1_and_skips_the_mirror() {
    let v1 =
        Upstream::start(|s: Seen| async move { json(&format!("{{\"got\":{}}}", s.body.len())) })
            .await;
    let v2 = Upstream::json("{}").await;
    let tables = format!("[limits]\nmax_request_body_bytes = 1024\n{UP_ROUTE}");
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2.url(), "", "", &tables)).await;
    let body = Bytes::from(vec![b'z'; 8 << 20]);
    let (status, _, got) = send(
        &shadowdiff_e2e::client(),
        Method::POST,
        &proxy.url("/up/bulk"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(&got[..], format!("{{\"got\":{}}}", 8 << 20).as_bytes());
    assert_eq!(v1.seen()[0].body, body, "v1 got every byte, untouched");
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.skipped("up", "body_too_large"), 1.0);
    assert_eq!(
        m.value("shadowdiff_mirrored_requests_total", &[("route", "up")]),
        0.0
    );
    assert_eq!(v2.hits(), 0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn small_post_on_an_unsafe_route_is_mirrored_with_the_same_bytes() {
    let v1 =
        Upstream::start(|s: Seen| async move { json(&format!("{{\"got\":{}}}", s.body.len())) })
            .await;
    let v2 =
        Upstream::start(|s: Seen| async move { json(&format!("{{\"got\":{}}}", s.body.len())) })
            .await;
    let tables = format!("[limits]\nmax_request_body_bytes = 1024\n{UP_ROUTE}");
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2.url(), "", "", &tables)).await;
    let body = Bytes::from((0..=255u8).cycle().take(1024).collect::<Vec<u8>>());
    let (status, _, got) = send(
        &shadowdiff_e2e::client(),
        Method::POST,
        &proxy.url("/up/orders?x=1"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(&got[..], b"{\"got\":1024}");
    proxy.settle().await;
    let seen = v2.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].path, "/up/orders?x=1");
    assert_eq!(seen[0].body, body, "v2 got the same bytes as v1");
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("up", "match"), 1.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let v1 =
        Upstream::start(|s: Seen| async move { json(&format!("{{\"path\":\"{}\"}}", s.path)) })
            .await;
    let v2 =
        Upstream::start(|s: Seen| async move { json(&format!("{{\"path\":\"{}\"}}", s.path)) })
            .await;
    let proxy = mirrored_proxy(&v1.url(), &v2.url()).await;
    let wire = b"GET /1 HTTP/1.1\r\nhost: x\r\n\r\n\
                 GET /2 HTTP/1.1\r\nhost: x\r\n\r\n\
                 GET /3 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let got = raw_request(proxy.addr, wire).await;
    let responses = parse_responses(&got);
    let bodies: Vec<_> = responses
        .iter()
        .map(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned()))
        .collect();
    assert_eq!(
        bodies,
        [
            (200, r#"{"path":"/1"}"#.to_string()),
            (200, r#"{"path":"/2"}"#.to_string()),
            (200, r#"{"path":"/3"}"#.to_string()),
        ]
    );
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "match"), 3.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Shutdown.

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_and_refuses_new_connections() {
    let v1 = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        json(r#"{"slow":true}"#)
    })
    .await;
    // v2 answers after v1: when the client's exchange ends, its mirror is still waiting for v2.
    let v2 = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        json(r#"{"slow":true}"#)
    })
    .await;
    let proxy = mirrored_proxy(&v1.url(), &v2.url()).await;
    let (addr, shared) = (proxy.addr, proxy.running.shared.clone());

    let url = proxy.url("/x");
    let in_flight = tokio::spawn(async move { get(&url).await });
    eventually(Duration::from_secs(5), || v1.hits() == 1).await;
    let stopping = tokio::spawn(proxy.running.shutdown());

    // New connections are refused once shutdown has started…
    let deadline = Instant::now() + Duration::from_secs(1);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // …while the exchange in flight completes in full.
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(&body[..], br#"{"slow":true}"#);
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown ends once the exchange is done")
        .unwrap();

    // The pending mirror ended before shutdown returned: compared, or counted as shut down.
    assert_eq!(shared.metrics.mirrors_in_flight.get(), 0);
    eventually(Duration::from_secs(5), || {
        let m = scrape(&shared);
        m.comparisons("default", "match") + m.skipped("default", "shutdown") == 1.0
    })
    .await;
    assert_eq!(shared.metrics.pending_bytes.get(), 0);
}

/// Shutdown with comparisons still queued: they finish before `shutdown` returns, so every
/// mirrored request is accounted for once the process may exit.
#[tokio::test]
async fn shutdown_finishes_queued_comparisons() {
    // A large body in other key order: each comparison canonicalizes both sides.
    let items: Vec<String> = (0..3000)
        .map(|i| format!("{{\"id\":{i},\"name\":\"n{i}\",\"v\":{i}.5}}"))
        .collect();
    let reordered: Vec<String> = (0..3000)
        .map(|i| format!("{{\"v\":{i}.5, \"name\":\"n{i}\", \"id\":{i}}}"))
        .collect();
    let a: &'static str = Box::leak(format!("[{}]", items.join(",")).into_boxed_str());
    let b: &'static str = Box::leak(format!("[{}]", reordered.join(", ")).into_boxed_str());
    let v1 = Upstream::json(a).await;
    let v2 = Upstream::json(b).await;
    let cfg = config(
        &v1.url(),
        &v2.url(),
        "",
        "",
        "[limits]\ncompare_workers = 1\ncompare_queue = 64\n",
    );
    let proxy = TestProxy::from_toml(&cfg).await;
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let url = proxy.url("/big");
            tokio::spawn(async move { shadowdiff_e2e::get(&url).await.0 })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let shared = proxy.running.shared.clone();
    proxy.running.shutdown().await;
    let m = scrape(&shared);
    let mirrored = m.value("shadowdiff_mirrored_requests_total", &[ROUTE]);
    let ended = m.comparisons("default", "match")
        + m.comparisons("default", "mismatch")
        + [
            "queue_full",
            "shutdown",
            "primary_failed",
            "candidate_failed",
            "timeout",
            "body_too_large",
            "overloaded",
        ]
        .iter()
        .map(|r| m.skipped("default", r))
        .sum::<f64>();
    assert!(mirrored > 0.0);
    assert_eq!(
        ended, mirrored,
        "every mirror ended as one outcome by the time shutdown returned"
    );
    assert_eq!(
        m.comparisons("default", "mismatch"),
        0.0,
        "reordered keys are equal"
    );
}

/// A v2 that declares a body over the cap is skipped on its headers alone: nothing of the body
/// is read (here it would never finish arriving), so the skip does not wait for the timeout.
#[tokio::test]
async fn v2_declaring_a_body_over_the_cap_is_skipped_without_reading_it() {
    let v1 = Upstream::json("{}").await;
    let v2 = RawUpstream::start(|mut s| async move {
        let _ = read_head(&mut s).await;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10485760\r\n\r\n";
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(&[b' '; 1000]).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let proxy = mirrored_proxy(&v1.url(), &format!("http://{}", v2.addr)).await;
    let started = Instant::now();
    get_v1_fast(&proxy, "/x", "{}", Duration::from_secs(1)).await;
    let shared = proxy.running.shared.clone();
    eventually(Duration::from_secs(2), || {
        scrape(&shared).skipped("default", "body_too_large") == 1.0
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "skipped on the header, not after the 5 s timeout"
    );
    assert_eq!(candidate_errors(&scrape(&shared), "timeout"), 0.0);
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}

/// A chunked v2 body (no declared length) is read only up to the cap.
#[tokio::test]
async fn chunked_v2_body_over_the_cap_is_skipped() {
    let v1 = Upstream::json("{}").await;
    let v2 = RawUpstream::start(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n").await;
        let chunk = format!("{:x}\r\n{}\r\n", 4096, "x".repeat(4096));
        for _ in 0..1000 {
            if s.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = s.write_all(b"0\r\n\r\n").await;
    })
    .await;
    let cfg = config(
        &v1.url(),
        &format!("http://{}", v2.addr),
        "",
        "",
        "[limits]\nmax_capture_bytes = 65536\n",
    );
    let proxy = TestProxy::from_toml(&cfg).await;
    get_v1_fast(&proxy, "/x", "{}", Duration::from_secs(1)).await;
    let shared = proxy.running.shared.clone();
    eventually(Duration::from_secs(5), || {
        scrape(&shared).skipped("default", "body_too_large") == 1.0
    })
    .await;
    assert_drained(&proxy).await;
    proxy.running.shutdown().await;
}
