//! The HTTP/1.1 relay (`http1_relay`), end to end: plain keep-alive traffic stays on it whatever
//! share is mirrored, the copies get what hyper's path gives them, and what it does not carry
//! goes to hyper with the connection, counted by reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shadowdiff_e2e::faults::{parse_responses, raw_request};
use shadowdiff_e2e::{json, Metrics, Seen, TestProxy, Upstream};

fn relayed(m: &Metrics) -> f64 {
    m.value("shadowdiff_relay_requests_total", &[])
}

fn handed_off(m: &Metrics, reason: &str) -> f64 {
    m.value("shadowdiff_relay_handoffs_total", &[("reason", reason)])
}

/// `n` GETs on one connection, the last closing it.
fn gets(n: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    for i in 0..n {
        let close = if i + 1 == n {
            "connection: close\r\n"
        } else {
            ""
        };
        wire.extend_from_slice(
            format!("GET /users/{i}?q=1 HTTP/1.1\r\nhost: app\r\nx-forwarded-for: 10.0.0.9\r\n{close}\r\n")
                .as_bytes(),
        );
    }
    wire
}

#[tokio::test]
async fn mirrored_requests_stay_on_the_relay_and_are_compared() {
    let answer = |s: Seen| async move { json(&format!("{{\"path\":\"{}\"}}", s.path)) };
    let (v1, v2) = (Upstream::start(answer).await, Upstream::start(answer).await);
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;

    let got = raw_request(proxy.addr, &gets(20)).await;
    let responses = parse_responses(&got);
    assert_eq!(responses.len(), 20);
    assert!(responses.iter().all(|r| r.status == 200));
    assert_eq!(responses[7].body, br#"{"path":"/users/7?q=1"}"#);
    proxy.settle().await;

    let m = proxy.metrics().await;
    assert_eq!(relayed(&m), 20.0, "every request on the relay");
    assert_eq!(handed_off(&m, "head"), 0.0);
    assert_eq!(m.comparisons("default", "match"), 20.0);
    // v2 got the request v1 got, marked as a mirror; both see the forwarded chain. Mirrors run
    // concurrently, so v2's arrival order is not the client's: match the copy by its path.
    let (v1_seen, v2_seen) = (v1.seen(), v2.seen());
    let a = &v1_seen[3];
    assert_eq!(a.path, "/users/3?q=1");
    let b = v2_seen
        .iter()
        .find(|b| b.path == a.path)
        .expect("v2 got a copy of request 3");
    assert_eq!(a.headers["x-forwarded-for"], "10.0.0.9, 127.0.0.1");
    assert_eq!(b.headers["x-forwarded-for"], "10.0.0.9, 127.0.0.1");
    assert_eq!(b.headers["x-shadowdiff-mirror"], "1");
    assert!(!a.headers.contains_key("x-shadowdiff-mirror"));
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn a_different_v2_answer_is_a_mismatch_on_the_relay() {
    let v1 = Upstream::json(r#"{"id":9007199254740993,"name":"a"}"#).await;
    let v2 = Upstream::json(r#"{"name":"a","id":9007199254740992}"#).await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    let got = raw_request(proxy.addr, &gets(3)).await;
    assert_eq!(parse_responses(&got).len(), 3);
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(relayed(&m), 3.0);
    assert_eq!(m.comparisons("default", "mismatch"), 3.0);
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn a_canary_hands_the_connection_to_hyper() {
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let v2 = Upstream::json(r#"{"v":2}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 0\n[cutover]\nmode = \"canary\"\nsteps = [{weight = 50, hold = \"1h\"}]",
    )
    .await;
    let got = raw_request(proxy.addr, &gets(10)).await;
    let responses = parse_responses(&got);
    assert_eq!(responses.len(), 10);
    assert!(responses.iter().all(|r| r.status == 200));
    let m = proxy.metrics().await;
    assert_eq!(relayed(&m), 0.0);
    assert_eq!(
        handed_off(&m, "canary"),
        1.0,
        "one connection, handed over once"
    );
    assert!(v2.hits() > 0, "the canary still serves its share");
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn a_request_the_relay_does_not_carry_hands_over_the_rest_of_the_connection() {
    let v1 = Upstream::start(|s: Seen| async move { json(&format!("{:?}", s.body)) }).await;
    let proxy = TestProxy::start(&v1.url(), "http://127.0.0.1:9", "mirror_percent = 0").await;
    // Relayed, then a chunked body (hyper's), then plain again: hyper keeps it.
    let wire = b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n\
        POST /b HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
        GET /c HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let responses = parse_responses(&raw_request(proxy.addr, wire).await);
    let bodies: Vec<_> = responses.iter().map(|r| r.body.clone()).collect();
    assert_eq!(
        bodies,
        [b"b\"\"".to_vec(), b"b\"abc\"".to_vec(), b"b\"\"".to_vec()]
    );
    let m = proxy.metrics().await;
    assert_eq!(relayed(&m), 1.0);
    assert_eq!(handed_off(&m, "head"), 1.0);
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn turned_off_the_relay_carries_nothing() {
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        "http://127.0.0.1:9",
        "mirror_percent = 0\nhttp1_relay = false",
    )
    .await;
    let responses = parse_responses(&raw_request(proxy.addr, &gets(5)).await);
    assert_eq!(responses.len(), 5);
    let m = proxy.metrics().await;
    assert_eq!(relayed(&m), 0.0);
    assert_eq!(handed_off(&m, "head"), 0.0);
    proxy.running.shutdown().await;
}
