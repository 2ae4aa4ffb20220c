//! The shadow path end to end over real sockets: what the client sees, what v2 receives, what is
//! counted.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use shadowdiff_e2e::{closed_port, eventually, get, json, send, Seen, TestProxy, Upstream};

const ROUTE: (&str, &str) = ("route", "default");

#[tokio::test]
async fn client_gets_v1_status_headers_and_bytes_exactly() {
    let body = "{ \"b\" : 2,\n\"a\":1 }  ";
    let v1 = Upstream::start(move |_| async move {
        Response::builder()
            .status(203)
            .header("content-type", "application/json; charset=utf-8")
            .header("x-v1", "yes")
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .header("connection", "x-hop")
            .header("x-hop", "secret")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap()
    })
    .await;
    let v2 = Upstream::json("{\"a\":1,\"b\":2}").await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;

    let (status, headers, got) = get(&proxy.url("/thing?x=1")).await;
    assert_eq!(status, 203);
    assert_eq!(&got[..], body.as_bytes(), "body byte for byte");
    assert_eq!(headers["x-v1"], "yes");
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"], "repeated headers kept in order");
    assert!(
        headers.get("x-hop").is_none(),
        "a header named by Connection is hop-by-hop"
    );

    // v1 saw the client's path and query, with forwarding headers added.
    let seen = v1.seen();
    assert_eq!(seen[0].path, "/thing?x=1");
    assert_eq!(seen[0].headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen[0].headers["x-forwarded-proto"], "http");
    assert!(
        seen[0].headers.get("x-shadowdiff-mirror").is_none(),
        "v1 traffic is not marked"
    );
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn mirrored_requests_are_marked_and_carry_the_request() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    get(&proxy.url("/a/b?q=2")).await;
    eventually(Duration::from_secs(5), || v2.hits() == 1).await;
    let seen: Seen = v2.seen().remove(0);
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.path, "/a/b?q=2");
    assert_eq!(seen.headers["x-shadowdiff-mirror"], "1");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn mirrored_share_is_near_the_configured_percentage() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 25").await;
    let client = shadowdiff_e2e::client();
    let n = 2000;
    for _ in 0..n {
        send(&client, Method::GET, &proxy.url("/x"), Bytes::new()).await;
    }
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.value("shadowdiff_requests_total", &[ROUTE]), n as f64);
    let mirrored = m.value("shadowdiff_mirrored_requests_total", &[ROUTE]);
    // Binomial(2000, 0.25): sd ≈ 19.4; ±5 sd.
    assert!(
        (403.0..=597.0).contains(&mirrored),
        "mirrored {mirrored} of {n} at 25%"
    );
    assert_eq!(v2.hits() as f64, mirrored);
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn equal_reordered_and_changed_json_give_match_match_mismatch() {
    let v1 = Upstream::start(|s: Seen| async move {
        match s.path.as_str() {
            "/equal" => json(r#"{"id":1,"name":"a"}"#),
            "/reordered" => json(r#"{"id":12345678901234567890,"tags":["x","y"],"price":1.5}"#),
            _ => json(r#"{"id":12345678901234567890,"name":"a"}"#),
        }
    })
    .await;
    let v2 = Upstream::start(|s: Seen| async move {
        match s.path.as_str() {
            "/equal" => json(r#"{"id":1,"name":"a"}"#),
            "/reordered" => json(
                "{ \"price\": 15e-1,\n \"tags\": [\"x\", \"y\"], \"id\": 12345678901234567890 }",
            ),
            // The last digit of a 64-bit id differs: a mismatch, not a rounding artefact.
            _ => json(r#"{"id":12345678901234567891,"name":"a"}"#),
        }
    })
    .await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    let count = |m: &shadowdiff_e2e::Metrics, result| {
        m.value("shadowdiff_comparisons_total", &[ROUTE, ("result", result)])
    };

    get(&proxy.url("/equal")).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!((count(&m, "match"), count(&m, "mismatch")), (1.0, 0.0));

    get(&proxy.url("/reordered")).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!((count(&m, "match"), count(&m, "mismatch")), (2.0, 0.0));

    get(&proxy.url("/changed")).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!((count(&m, "match"), count(&m, "mismatch")), (2.0, 1.0));
    assert_eq!(
        m.value("shadowdiff_mismatches_total", &[ROUTE, ("part", "body")]),
        1.0
    );
    assert_eq!(
        m.value("shadowdiff_mismatches_total", &[ROUTE, ("part", "status")]),
        0.0
    );

    // The exemplar names the field.
    let (_, _, body) = get(&format!("http://{}/api/mismatches", proxy.admin)).await;
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list[0]["path"], "/changed");
    assert_eq!(list[0]["differences"][0]["path"], "/id");
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn status_difference_is_a_status_mismatch() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::start(|_| async {
        Response::builder()
            .status(500)
            .body(Full::new(Bytes::from("{}")))
            .unwrap()
    })
    .await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    let (status, _, _) = get(&proxy.url("/x")).await;
    assert_eq!(status, 200, "the client sees v1");
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_mismatches_total", &[ROUTE, ("part", "status")]),
        1.0
    );
    assert_eq!(
        m.value(
            "shadowdiff_status_pairs_total",
            &[ROUTE, ("primary_class", "2xx"), ("candidate_class", "5xx")]
        ),
        1.0
    );
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn post_is_served_but_not_mirrored() {
    let v1 =
        Upstream::start(|s: Seen| async move { json(&format!("{{\"got\":{}}}", s.body.len())) })
            .await;
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    let (status, _, body) = send(
        &shadowdiff_e2e::client(),
        Method::POST,
        &proxy.url("/orders"),
        Bytes::from("hello"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"{\"got\":5}", "v1 got the request body");
    assert_eq!(v1.seen()[0].body, "hello");
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.skipped("default", "unsafe_method"), 1.0);
    assert_eq!(m.value("shadowdiff_mirrored_requests_total", &[ROUTE]), 0.0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(v2.hits(), 0, "v2 never saw the POST");
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn v2_down_leaves_the_client_unaffected() {
    let v1 = Upstream::json(r#"{"ok":true}"#).await;
    let proxy = TestProxy::start(&v1.url(), &closed_port().await, "mirror_percent = 100").await;
    for _ in 0..20 {
        let (status, _, body) = get(&proxy.url("/x")).await;
        assert_eq!(status, 200);
        assert_eq!(&body[..], br#"{"ok":true}"#);
    }
    proxy.settle().await;
    let m = proxy.metrics().await;
    let errors = m.value(
        "shadowdiff_candidate_errors_total",
        &[ROUTE, ("kind", "connect")],
    );
    let breaker = m.skipped("default", "breaker_open");
    // Failures are counted until the breaker opens; after that mirrors are skipped as breaker_open.
    assert!(errors >= 5.0, "connect errors counted: {errors}");
    assert_eq!(errors + breaker, 20.0, "every request is accounted for");
    assert_eq!(m.value("shadowdiff_breaker_open", &[]), 1.0);
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn slow_v2_never_holds_the_client_connection() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        json("{}")
    })
    .await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    // One keep-alive connection, sequential requests.
    let client = shadowdiff_e2e::client();
    let started = Instant::now();
    for _ in 0..5 {
        let (status, _, _) = send(&client, Method::GET, &proxy.url("/x"), Bytes::new()).await;
        assert_eq!(status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "5 requests took {:?} with v2 at 2 s",
        started.elapsed()
    );
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn v1_down_is_502_and_v1_slow_is_504() {
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(&closed_port().await, &v2.url(), "").await;
    let (status, headers, body) = get(&proxy.url("/x")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert!(String::from_utf8_lossy(&body).contains("primary unreachable"));
    proxy.running.shutdown().await;

    let slow = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        json("{}")
    })
    .await;
    let cfg = format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n[primary]\nurl = \"{}\"\ntimeout = \"200ms\"\n[candidate]\nurl = \"{}\"\n",
        slow.url(),
        v2.url()
    );
    let proxy = TestProxy::from_toml(&cfg).await;
    let started = Instant::now();
    let (status, _, body) = get(&proxy.url("/x")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(String::from_utf8_lossy(&body).contains("timed out"));
    assert!(started.elapsed() < Duration::from_secs(2));
    let m = proxy.metrics().await;
    assert_eq!(
        m.value(
            "shadowdiff_primary_errors_total",
            &[ROUTE, ("kind", "timeout")]
        ),
        1.0
    );
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_skip_the_comparison_and_say_why() {
    let big: &'static str = Box::leak("x".repeat(4096).into_boxed_str());
    let v1 = Upstream::start(move |_| async move { json(big) }).await;
    let v2 = Upstream::start(move |_| async move { json(big) }).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 100\n[limits]\nmax_capture_bytes = 1024",
    )
    .await;
    let (status, _, body) = get(&proxy.url("/big")).await;
    assert_eq!(status, 200);
    assert_eq!(body.len(), 4096, "the client still gets all of it");
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.skipped("default", "body_too_large"), 1.0);
    assert_eq!(m.comparisons("default", "match"), 0.0);
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn health_endpoints_and_metrics_format() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    let admin = |p: &str| format!("http://{}{p}", proxy.admin);
    assert_eq!(get(&admin("/healthz/live")).await.0, 200);
    assert_eq!(get(&admin("/healthz/ready")).await.0, 200);
    get(&proxy.url("/x")).await;
    proxy.settle().await;
    let (status, headers, body) = get(&admin("/metrics")).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(body.to_vec()).unwrap();
    // Text exposition: every sample line is `name{labels} value`, every family has HELP and TYPE.
    let mut families = std::collections::BTreeSet::new();
    let mut helped = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            families.insert(rest.split(' ').next().unwrap().to_string());
        } else {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value in {line}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{line}"
            );
            assert!(
                series.matches('{').count() == series.matches('}').count(),
                "{line}"
            );
        }
    }
    assert_eq!(families, helped);
    for want in [
        "shadowdiff_requests_total",
        "shadowdiff_mirrored_requests_total",
        "shadowdiff_comparisons_total",
        "shadowdiff_mismatches_total",
        "shadowdiff_mirror_skipped_total",
        "shadowdiff_candidate_errors_total",
        "shadowdiff_upstream_duration_seconds",
        "shadowdiff_build_info",
    ] {
        assert!(families.contains(want), "missing family {want}");
    }
    let m = shadowdiff_e2e::Metrics(text);
    assert_eq!(
        m.value(
            "shadowdiff_upstream_duration_seconds_count",
            &[ROUTE, ("upstream", "primary")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "shadowdiff_upstream_duration_seconds_count",
            &[ROUTE, ("upstream", "candidate")]
        ),
        1.0
    );
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn breaker_opens_on_a_dead_v2_and_closes_when_it_comes_back() {
    let v1 = Upstream::json("{}").await;
    // Reserve a port for v2, keep it closed for now.
    let port_holder = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let v2_addr = port_holder.local_addr().unwrap();
    drop(port_holder);
    let cfg = format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 100\n[breaker]\nfailure_threshold = 3\nbackoff = \"300ms\"\n[primary]\nurl = \"{}\"\n[candidate]\nurl = \"http://{v2_addr}\"\n",
        v1.url()
    );
    let proxy = TestProxy::from_toml(&cfg).await;
    for _ in 0..3 {
        get(&proxy.url("/x")).await;
        proxy.settle().await;
    }
    let m = proxy.metrics().await;
    assert_eq!(m.value("shadowdiff_breaker_open", &[]), 1.0);
    assert_eq!(m.value("shadowdiff_breaker_trips_total", &[]), 1.0);
    get(&proxy.url("/x")).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.skipped("default", "breaker_open"), 1.0);

    // v2 comes back on its address; after the backoff one probe goes through and closes it.
    let listener = tokio::net::TcpListener::bind(v2_addr).await.unwrap();
    let v2 = shadowdiff_e2e::Upstream::serve_on(listener, |_| async { json("{}") }).await;
    // Past the probe interval, whatever its jitter (±20 % of the 300 ms backoff).
    tokio::time::sleep(Duration::from_millis(400)).await;
    get(&proxy.url("/x")).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_breaker_open", &[]),
        0.0,
        "the probe succeeded"
    );
    // Mirroring ramps back up over min(5 s, backoff) rather than jumping to the full share.
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..3 {
        get(&proxy.url("/x")).await;
    }
    proxy.settle().await;
    assert_eq!(v2.hits(), 4, "mirroring resumed");
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "match"), 4.0);
    proxy.running.shutdown().await;
}

/// However long v2 was down, mirroring resumes within about a second of its return: while open,
/// the breaker probes every second (or backoff), not once per backoff from the last failure.
#[tokio::test]
async fn after_a_long_outage_mirroring_resumes_within_a_probe_interval() {
    let v1 = Upstream::json("{}").await;
    let port_holder = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let v2_addr = port_holder.local_addr().unwrap();
    drop(port_holder);
    // A long backoff: the old schedule paused all of it, and again after every failed probe.
    let cfg = format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 100\n[breaker]\nfailure_threshold = 1\nbackoff = \"10s\"\n[primary]\nurl = \"{}\"\n[candidate]\nurl = \"http://{v2_addr}\"\n",
        v1.url()
    );
    let proxy = TestProxy::from_toml(&cfg).await;
    // Steady traffic through a 1.5 s outage: several probes fail.
    let url = proxy.url("/x");
    let traffic = tokio::spawn(async move {
        for _ in 0..400 {
            get(&url).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let listener = tokio::net::TcpListener::bind(v2_addr).await.unwrap();
    let lifted = std::time::Instant::now();
    let v2 = shadowdiff_e2e::Upstream::serve_on(listener, |_| async { json("{}") }).await;
    shadowdiff_e2e::eventually(Duration::from_secs(3), || v2.hits() > 0).await;
    assert!(
        lifted.elapsed() < Duration::from_millis(2000),
        "comparisons resumed {:?} after the lift",
        lifted.elapsed()
    );
    traffic.abort();
    proxy.running.shutdown().await;
}
