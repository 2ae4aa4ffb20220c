//! How the proxy holds its upstream connections: an HTTP/1.1 client connection keeps one v1
//! connection for all its requests (and its mirrors one v2 connection while they take turns);
//! v1 or v2 closing that connection between requests, or a reload moving v1 elsewhere, never
//! reaches the client or the comparison.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use shadowdiff_e2e::faults::{parse_responses, raw_request, read_head, RawUpstream};
use shadowdiff_e2e::{eventually, TestProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `n` pipelined GETs (the last one closes the client connection).
fn requests(n: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    for i in 0..n {
        let close = if i + 1 == n {
            "connection: close\r\n"
        } else {
            ""
        };
        wire.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nhost: app\r\n{close}\r\n").as_bytes());
    }
    wire
}

/// A raw v1 that answers `{"v":tag}` to each request on a connection; with `close_after_each`
/// it closes the connection after every response without announcing it (no `Connection:
/// close`), as a server with a very short keep-alive timeout does.
async fn v1(tag: u8, close_after_each: bool) -> RawUpstream {
    RawUpstream::start(move |mut s| async move {
        loop {
            match read_head(&mut s).await {
                Ok(head) if !head.is_empty() => {}
                _ => return,
            }
            let body = format!("{{\"v\":{tag}}}");
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            if s.write_all(resp.as_bytes()).await.is_err() || close_after_each {
                let _ = s.shutdown().await;
                return;
            }
        }
    })
    .await
}

fn statuses_and_bodies(got: &[u8]) -> Vec<(u16, String)> {
    parse_responses(got)
        .into_iter()
        .map(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned()))
        .collect()
}

#[tokio::test]
async fn a_client_connection_reuses_one_v1_connection() {
    let primary = v1(1, false).await;
    let candidate = v1(2, false).await;
    let proxy = TestProxy::start(&primary.url(), &candidate.url(), "mirror_percent = 0").await;

    let got = raw_request(proxy.addr, &requests(20)).await;
    let answers = statuses_and_bodies(&got);
    assert_eq!(answers.len(), 20);
    assert!(answers
        .iter()
        .all(|a| *a == (200, r#"{"v":1}"#.to_string())));
    assert_eq!(primary.accepted(), 1, "20 requests, one v1 connection");

    // Two client connections at once get one each.
    let wire = requests(3);
    let (a, b) = tokio::join!(
        raw_request(proxy.addr, &wire),
        raw_request(proxy.addr, &wire)
    );
    assert_eq!(
        statuses_and_bodies(&a).len() + statuses_and_bodies(&b).len(),
        6
    );
    assert!(primary.accepted() <= 3, "{}", primary.accepted());
    proxy.running.shutdown().await;
}

/// Clients that open a connection per request (no keep-alive) share v1's and v2's connections:
/// a client connection that ends leaves its idle upstream connections for the next one, as
/// nginx's upstream `keepalive` does, instead of v1 seeing a new connection (and a TIME_WAIT)
/// for every request.
#[tokio::test]
async fn clients_without_keep_alive_reuse_the_upstream_connections_of_those_before() {
    let primary = v1(1, false).await;
    let candidate = v1(1, false).await;
    let proxy = TestProxy::start(&primary.url(), &candidate.url(), "mirror_percent = 100").await;
    let open = proxy.running.shared.metrics.client_connections.clone();
    for _ in 0..20 {
        let got = raw_request(proxy.addr, &requests(1)).await;
        assert_eq!(
            statuses_and_bodies(&got),
            vec![(200, r#"{"v":1}"#.to_string())]
        );
        // The client connection has ended, and its mirror: their upstream connections are idle.
        eventually(Duration::from_secs(5), || open.get() == 0).await;
        proxy.settle().await;
    }
    assert_eq!(proxy.metrics().await.comparisons("default", "match"), 20.0);
    assert_eq!(
        primary.accepted(),
        1,
        "20 client connections, one v1 connection"
    );
    assert_eq!(
        candidate.accepted(),
        1,
        "and one v2 connection for their mirrors"
    );

    // One that v1 closed while it was idle is not handed out: the next client still gets v1's
    // answer, on a new connection.
    let closing = v1(1, true).await;
    let proxy2 = TestProxy::start(&closing.url(), &candidate.url(), "mirror_percent = 0").await;
    for _ in 0..3 {
        let got = raw_request(proxy2.addr, &requests(1)).await;
        assert_eq!(
            statuses_and_bodies(&got),
            vec![(200, r#"{"v":1}"#.to_string())]
        );
    }
    assert_eq!(closing.accepted(), 3);
    proxy2.running.shutdown().await;
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn v1_closing_its_connection_after_every_response_is_invisible() {
    let primary = v1(1, true).await;
    let candidate = v1(2, false).await;
    let proxy = TestProxy::start(&primary.url(), &candidate.url(), "mirror_percent = 0").await;

    let got = raw_request(proxy.addr, &requests(10)).await;
    assert_eq!(
        statuses_and_bodies(&got),
        vec![(200, r#"{"v":1}"#.to_string()); 10],
        "every request answered by v1 on a new connection"
    );
    assert_eq!(primary.accepted(), 10);

    // The same, with the client pausing between requests (v1's close is seen while idle).
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    for i in 0..3 {
        s.write_all(format!("GET /{i} HTTP/1.1\r\nhost: app\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let head = read_head(&mut s).await.unwrap();
        assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn a_reload_moves_an_open_client_connection_to_the_new_v1() {
    let (old, new) = (v1(1, false).await, v1(3, false).await);
    let candidate = v1(2, false).await;
    let proxy = TestProxy::start(&old.url(), &candidate.url(), "mirror_percent = 0").await;

    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    assert!(ask(&mut s).await.ends_with(r#"{"v":1}"#));

    let text = format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 0\n\
         [primary]\nurl = \"{}\"\n[candidate]\nurl = \"{}\"\n",
        new.url(),
        candidate.url()
    );
    let cfg = config::Config::from_toml_str(&text, &config::Overrides::default()).unwrap();
    proxy.running.shared.reload(cfg).unwrap();

    assert!(
        ask(&mut s).await.ends_with(r#"{"v":3}"#),
        "the next request on the same client connection goes to the new v1"
    );
    assert_eq!(new.accepted(), 1);
    proxy.running.shutdown().await;
}

/// One GET on an open client connection: the response head and whatever body came with it.
async fn ask(s: &mut tokio::net::TcpStream) -> String {
    s.write_all(b"GET / HTTP/1.1\r\nhost: app\r\n\r\n")
        .await
        .unwrap();
    let mut got = read_head(s).await.unwrap();
    let mut buf = [0u8; 1024];
    // The body (a short JSON object) may arrive in a later read than the head.
    while !got.ends_with(b"}") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed mid-response");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn mirrors_of_a_client_connection_reuse_one_v2_connection() {
    for v2_closes in [false, true] {
        let primary = v1(1, false).await;
        let candidate = v1(1, v2_closes).await;
        let proxy =
            TestProxy::start(&primary.url(), &candidate.url(), "mirror_percent = 100").await;
        let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        for _ in 0..5 {
            assert!(ask(&mut s).await.ends_with(r#"{"v":1}"#));
            // Each mirror ends before the next request, so it finds the lane free.
            proxy.settle().await;
        }
        let m = proxy.metrics().await;
        assert_eq!(
            m.comparisons("default", "match"),
            5.0,
            "v2 closes: {v2_closes}"
        );
        let want = if v2_closes { 5 } else { 1 };
        assert_eq!(candidate.accepted(), want, "v2 closes: {v2_closes}");
        proxy.running.shutdown().await;
    }
}

/// v2 drops a reused connection just as a mirror's request arrives: the copy (a GET) goes once
/// more on a new connection and is compared, never counted as v2's failure.
#[tokio::test]
async fn a_mirror_on_a_connection_v2_dropped_is_sent_again_on_a_new_one() {
    let primary = v1(1, false).await;
    let v2 = shadowdiff_e2e::faults::stale_upstream().await;
    let proxy = TestProxy::start(&primary.url(), &v2.upstream.url(), "mirror_percent = 100").await;
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    for _ in 0..4 {
        assert!(ask(&mut s).await.ends_with(r#"{"v":1}"#));
        // Each mirror ends before the next request, so the next finds the kept connection.
        proxy.settle().await;
    }
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "match"), 4.0);
    let retries = [
        ("route", "default"),
        ("upstream", "candidate"),
        ("reason", "stale_connection"),
    ];
    assert_eq!(m.value("shadowdiff_upstream_retries_total", &retries), 3.0);
    assert_eq!(m.skipped("default", "candidate_failed"), 0.0);
    proxy.running.shutdown().await;
}

/// v1 drops a reused keep-alive connection just as a request arrives: a GET is sent once more
/// on a new connection and the client gets v1's answer, never a 502 the upstream did not cause.
#[tokio::test]
async fn a_get_on_a_connection_v1_dropped_is_sent_again_on_a_new_one() {
    let v1 = shadowdiff_e2e::faults::stale_upstream().await;
    let v2 = shadowdiff_e2e::Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(&v1.upstream.url(), &v2.url(), "mirror_percent = 0").await;
    // One client connection, four requests: each after the first meets a dropped connection.
    let out = raw_request(proxy.addr, &requests(4)).await;
    let statuses: Vec<u16> = parse_responses(&out).iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 200, 200]);
    let m = proxy.metrics().await;
    let retries = [
        ("route", "default"),
        ("upstream", "primary"),
        ("reason", "stale_connection"),
    ];
    assert_eq!(m.value("shadowdiff_upstream_retries_total", &retries), 3.0);
    assert_eq!(
        m.value("shadowdiff_primary_errors_total", &[("kind", "protocol")]),
        0.0
    );
    proxy.running.shutdown().await;
}

/// A POST whose body was written is never repeated: the client gets the 502 and v1 saw it once.
#[tokio::test]
async fn a_post_on_a_connection_v1_dropped_is_not_repeated() {
    let v1 = shadowdiff_e2e::faults::stale_upstream().await;
    let v2 = shadowdiff_e2e::Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::start(&v1.upstream.url(), &v2.url(), "mirror_percent = 0").await;
    let wire = b"GET /doc HTTP/1.1\r\nhost: app\r\n\r\n\
POST /orders HTTP/1.1\r\nhost: app\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc";
    let out = raw_request(proxy.addr, wire).await;
    let statuses: Vec<u16> = parse_responses(&out).iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 502]);
    assert_eq!(
        v1.posts.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the POST reached v1 once"
    );
    proxy.running.shutdown().await;
}

/// A proxy with `[primary] max_connections` and `queue_timeout` set, mirroring nothing.
async fn capped_proxy(v1: &str, v2: &str, max: usize, queue: &str) -> TestProxy {
    TestProxy::from_toml(&format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 0\n\
         [primary]\nurl = \"{v1}\"\nmax_connections = {max}\nqueue_timeout = \"{queue}\"\n\
         [candidate]\nurl = \"{v2}\"\n"
    ))
    .await
}

/// `[primary] max_connections`: past it a request waits `queue_timeout` for a connection and is
/// then answered 503 at once, counted as `overloaded`; never more v1 connections than the cap.
#[tokio::test]
async fn past_the_primary_connection_cap_clients_get_503_not_a_hang() {
    let v1 = shadowdiff_e2e::Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        shadowdiff_e2e::json(r#"{"v":1}"#)
    })
    .await;
    let v2 = shadowdiff_e2e::Upstream::json(r#"{"v":1}"#).await;
    let proxy = capped_proxy(&v1.url(), &v2.url(), 2, "100ms").await;
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let url = proxy.url("/doc");
            tokio::spawn(async move { shadowdiff_e2e::get(&url).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 200, 503, 503, 503]);
    assert!(started.elapsed() < Duration::from_secs(3), "no hang");
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_primary_errors_total", &[("kind", "overloaded")]),
        3.0
    );
    assert!(
        m.value(
            "shadowdiff_upstream_connections",
            &[("upstream", "primary")]
        ) <= 2.0
    );
    assert_eq!(v1.hits(), 2, "v1 saw only what its connections could carry");

    // The two clients that were served keep their (now idle) v1 connections; a new client
    // takes one of them over instead of waiting.
    let (status, _, _) = shadowdiff_e2e::get(&proxy.url("/doc")).await;
    assert_eq!(status, 200);
    proxy.running.shutdown().await;
}

/// h2 clients share the pool: their streams cannot fan out past the cap either.
#[tokio::test]
async fn h2_streams_cannot_open_more_v1_connections_than_the_cap() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, p) = (now.clone(), peak.clone());
    let v1 = shadowdiff_e2e::Upstream::start(move |_| {
        let (n, p) = (n.clone(), p.clone());
        async move {
            let at = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(at, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            n.fetch_sub(1, Ordering::SeqCst);
            shadowdiff_e2e::json(r#"{"v":1}"#)
        }
    })
    .await;
    let v2 = shadowdiff_e2e::Upstream::json(r#"{"v":1}"#).await;
    let proxy = capped_proxy(&v1.url(), &v2.url(), 3, "10s").await;
    let stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake::<_, _, http_body_util::Empty<bytes::Bytes>>(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
    tokio::spawn(conn);
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let mut send = send.clone();
            let uri = proxy.url("/doc");
            tokio::spawn(async move {
                let req = http::Request::get(uri)
                    .body(http_body_util::Empty::new())
                    .unwrap();
                send.send_request(req).await.map(|r| r.status().as_u16())
            })
        })
        .collect();
    for c in calls {
        assert_eq!(
            c.await.unwrap().unwrap(),
            200,
            "each waits its turn within queue_timeout"
        );
    }
    assert!(
        peak.load(Ordering::SeqCst) <= 3,
        "at most 3 v1 requests at once, saw {}",
        peak.load(Ordering::SeqCst)
    );
    proxy.running.shutdown().await;
}

/// Response trailers reach an HTTP/1.1 client that asked for them, and both sides' trailers
/// are compared like headers: the same trailer is a match, another value a header mismatch.
#[tokio::test]
async fn trailers_reach_the_client_and_are_compared() {
    use shadowdiff_e2e::faults::trailer_upstream;
    for (v2_value, matched, mismatched) in [("abc", 1.0, 0.0), ("xyz", 0.0, 1.0)] {
        let v1 = trailer_upstream("abc").await;
        let v2 = trailer_upstream(v2_value).await;
        let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
        let out = raw_request(
            proxy.addr,
            b"GET /doc HTTP/1.1\r\nhost: app\r\nte: trailers\r\nconnection: close\r\n\r\n",
        )
        .await;
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            text.contains("x-checksum: abc"),
            "the trailer reached the client: {text}"
        );
        proxy.settle().await;
        let m = proxy.metrics().await;
        assert_eq!(
            m.comparisons("default", "match"),
            matched,
            "v2 trailer {v2_value}"
        );
        assert_eq!(
            m.comparisons("default", "mismatch"),
            mismatched,
            "v2 trailer {v2_value}"
        );
        assert_eq!(m.skipped("default", "primary_failed"), 0.0);
        if mismatched > 0.0 {
            let (_, _, body) =
                shadowdiff_e2e::get(&format!("http://{}/api/mismatches", proxy.admin)).await;
            assert!(
                String::from_utf8_lossy(&body).contains("trailer:x-checksum"),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
        proxy.running.shutdown().await;
    }
}
