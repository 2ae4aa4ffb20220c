//! Request framing and smuggling (RFC 9112), end to end, on both HTTP/1.1 paths: the relay
//! (`http1_relay = true`, the default: plain requests cross as bytes) and hyper alone
//! (`http1_relay = false`). Every ambiguous head is refused with 400 before any byte reaches
//! v1; and the same well-formed bytes give v1 the same request and the client the same answer
//! on either path (the differential test at the end).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use shadowdiff_e2e::faults::{garbage_upstream, parse_responses};
use shadowdiff_e2e::{closed_port, json, Seen, TestProxy, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATHS: [bool; 2] = [true, false];

async fn proxy(v1: &str, relay: bool) -> TestProxy {
    let extra = format!("http1_relay = {relay}\nmirror_percent = 0");
    TestProxy::start(v1, &closed_port().await, &extra).await
}

/// Write `wire`, read until the proxy closes or goes quiet.
async fn exchange(addr: std::net::SocketAddr, wire: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(wire).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(1500), s.read_to_end(&mut out)).await;
    out
}

/// One GET through a proxy (on the relay or not) whose v1 answers `wire` verbatim.
async fn get_from_raw_v1(wire: &'static [u8], relay: bool) -> (TestProxy, Vec<u8>) {
    let v1 = garbage_upstream(wire).await;
    let proxy = proxy(&v1.url(), relay).await;
    let out = exchange(proxy.addr, b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n").await;
    (proxy, out)
}

fn status(out: &[u8]) -> u16 {
    let line = out.split(|b| *b == b'\n').next().unwrap_or_default();
    std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Heads that two parsers could read two ways: refused on both paths, and v1 never sees a byte.
const REFUSED: &[(&str, &[u8])] = &[
    ("lengths differ", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd"),
    ("length list", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3, 3\r\n\r\nabc"),
    ("signed length", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: +3\r\n\r\nabc"),
    ("length overflows", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999999999999999\r\n\r\nabc"),
    ("last coding not chunked", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    ("identity coding", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: identity\r\n\r\nabc"),
    ("chunked in HTTP/1.0", b"POST /a HTTP/1.0\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    ("obs-fold", b"GET /a HTTP/1.1\r\nhost: x\r\nx-a: 1\r\n  2\r\n\r\n"),
    ("NUL in a value", b"GET /a HTTP/1.1\r\nhost: x\r\nx-a: 1\x002\r\n\r\n"),
    ("CR in a value", b"GET /a HTTP/1.1\r\nhost: x\r\nx-a: 1\r2\r\n\r\n"),
    ("space before colon", b"GET /a HTTP/1.1\r\nhost: x\r\nx-a : 1\r\n\r\n"),
    ("chunk size overflows", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabc\r\n0\r\n\r\n"),
    ("chunk size not hex", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nxyz\r\nabc\r\n0\r\n\r\n"),
    ("two hosts", b"GET /a HTTP/1.1\r\nhost: x\r\nhost: y\r\n\r\n"),
    ("no host", b"GET /a HTTP/1.1\r\n\r\n"),
];

#[tokio::test]
async fn ambiguous_heads_are_refused_on_both_paths_and_never_reach_v1() {
    for relay in PATHS {
        for (name, wire) in REFUSED {
            let v1 = Upstream::start(|_s: Seen| async move { json("{}") }).await;
            let proxy = proxy(&v1.url(), relay).await;
            let out = exchange(proxy.addr, wire).await;
            assert_eq!(status(&out), 400, "relay={relay} {name}: {out:?}");
            assert_eq!(v1.hits(), 0, "relay={relay} {name}: v1 saw {:?}", v1.seen());
            proxy.running.shutdown().await;
        }
    }
}

/// Heads hyper reads leniently, as RFC 9112 allows, and the relay refuses (400, nothing to
/// v1): a bare LF (§2.2), a length repeated with the same value (§6.3), and length and chunked
/// both (§6.1: hyper lets the encoding win and closes the connection after). On neither path
/// does a second request hidden in the body reach v1; hyper's v1 gets one well-formed request.
const LENIENT_IN_HYPER: &[(&str, &[u8], &[u8])] = &[
    ("bare LF", b"GET /a HTTP/1.1\r\nhost: x\nx-a: 1\r\n\r\n", b""),
    ("length twice, same", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\nabc", b"abc"),
    ("length and chunked", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n", b""),
];

#[tokio::test]
async fn the_relay_refuses_what_hyper_reads_leniently() {
    for relay in PATHS {
        for (name, wire, body) in LENIENT_IN_HYPER {
            let v1 = Upstream::start(|_s: Seen| async move { json("{}") }).await;
            let proxy = proxy(&v1.url(), relay).await;
            let out = exchange(proxy.addr, wire).await;
            let seen = v1.seen();
            assert!(
                seen.iter().all(|s| s.path != "/smuggled"),
                "relay={relay} {name}"
            );
            if relay {
                assert_eq!(status(&out), 400, "{name}");
                assert!(seen.is_empty(), "{name}: {seen:?}");
            } else {
                assert_eq!(status(&out), 200, "{name}");
                assert_eq!(seen.len(), 1, "{name}");
                assert_eq!(&seen[0].body[..], *body, "{name}");
            }
            proxy.running.shutdown().await;
        }
    }
}

#[tokio::test]
async fn well_framed_bodies_reach_v1_whole_on_both_paths() {
    let wires: &[&[u8]] = &[
        b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc",
        b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n2;ext=1\r\nbc\r\n0\r\n\r\n",
        b"POST /a HTTP/1.0\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc",
    ];
    for relay in PATHS {
        for wire in wires {
            let v1 = Upstream::start(|s: Seen| async move { json(&format!("{:?}", s.body)) }).await;
            let proxy = proxy(&v1.url(), relay).await;
            let out = exchange(proxy.addr, wire).await;
            assert_eq!(status(&out), 200, "relay={relay}");
            let seen = v1.seen();
            assert_eq!(seen.len(), 1);
            assert_eq!(&seen[0].body[..], b"abc", "relay={relay}");
            proxy.running.shutdown().await;
        }
    }
}

/// v1's own framing errors: a length stated two ways is a 502 on both paths.
#[tokio::test]
async fn v1_answer_with_conflicting_lengths_is_a_502_on_both_paths() {
    for relay in PATHS {
        let (proxy, out) = get_from_raw_v1(
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
            relay,
        )
        .await;
        assert_eq!(status(&out), 502, "relay={relay}");
        proxy.running.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Differential: the same bytes to both paths.

/// Fields by name, values in order.
type Fields = BTreeMap<String, Vec<String>>;

/// What v1 received, as a server reads it: request line, fields by name (values in order),
/// body. Field order across names is not significant (RFC 9110 §5.3).
fn v1_view(s: &Seen) -> (String, String, Fields, Vec<u8>) {
    let mut fields = Fields::new();
    for (n, v) in &s.headers {
        fields
            .entry(n.as_str().to_owned())
            .or_default()
            .push(v.to_str().unwrap().to_owned());
    }
    (
        s.method.to_string(),
        s.path.clone(),
        fields,
        s.body.to_vec(),
    )
}

/// What the client got, `date` aside (it moves with the clock).
fn client_view(out: &[u8]) -> Vec<(u16, Fields, Vec<u8>)> {
    parse_responses(out)
        .into_iter()
        .map(|r| {
            let mut fields = Fields::new();
            for (n, v) in r.headers.into_iter().filter(|(n, _)| n != "date") {
                fields.entry(n).or_default().push(v);
            }
            (r.status, fields, r.body)
        })
        .collect()
}

/// A well-formed request: a method, a path and query, extra fields (some repeated, some
/// hop-by-hop, an X-Forwarded-For to extend), and a body framed by length.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);
    let path = "/[a-z]{1,8}(/[a-z0-9]{1,6}){0,2}(\\?[a-z]=[0-9]{1,3}){0,1}";
    let name = prop::sample::select(vec![
        "X-Trace",
        "accept",
        "X-Forwarded-For",
        "keep-alive",
        "Proxy-Authorization",
        "x-a",
        "Cookie",
        "x-forwarded-proto",
    ]);
    let fields = prop::collection::vec((name, "[a-zA-Z0-9 ,;=]{0,12}"), 0..6);
    let body = prop::collection::vec(any::<u8>(), 0..64);
    (method, path, fields, body, any::<bool>()).prop_map(|(m, p, fields, body, close)| {
        let mut w = format!("{m} {p} HTTP/1.1\r\nHost: app.example\r\n");
        for (n, v) in fields {
            w.push_str(&format!("{n}: {}\r\n", v.trim()));
        }
        if !body.is_empty() {
            w.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        if close {
            w.push_str("Connection: close\r\n");
        }
        w.push_str("\r\n");
        let mut w = w.into_bytes();
        w.extend_from_slice(&body);
        w
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn both_paths_give_v1_and_the_client_the_same(wire in request()) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut views = Vec::new();
            for relay in PATHS {
                let v1 = Upstream::start(|s: Seen| async move {
                    let mut r = json(&format!("{{\"len\":{}}}", s.body.len()));
                    r.headers_mut().insert("x-v1", "yes".parse().unwrap());
                    r.headers_mut().insert("connection", "x-v1".parse().unwrap());
                    r
                })
                .await;
                // Mirrored at 100 % (unsafe methods too): v2's copy is compared as well.
                let v2 = Upstream::start(|_s: Seen| async move { json("{}") }).await;
                let extra = format!(
                    "http1_relay = {relay}\nmirror_percent = 100\n\
                     [[routes]]\nname = \"all\"\npath_prefix = \"/\"\nallow_unsafe_methods = true"
                );
                let proxy = TestProxy::start(&v1.url(), &v2.url(), &extra).await;
                // The request twice on one connection (the second ends it), so keep-alive
                // handling is compared too.
                let mut twice = wire.clone();
                twice.extend_from_slice(&wire);
                twice.extend_from_slice(b"GET /end HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
                let out = exchange(proxy.addr, &twice).await;
                proxy.settle().await;
                let seen: Vec<_> = v1.seen().iter().map(v1_view).collect();
                let mut mirrored: Vec<_> = v2.seen().iter().map(v1_view).collect();
                mirrored.sort();
                views.push((seen, client_view(&out), mirrored));
                proxy.running.shutdown().await;
            }
            assert_eq!(views[0].0, views[1].0, "v1 saw different requests");
            assert_eq!(views[0].1, views[1].1, "the client got different answers");
            assert_eq!(views[0].2, views[1].2, "v2 got different copies");
            assert!(!views[0].0.is_empty());
            assert!(!views[0].2.is_empty(), "the requests were mirrored");
        });
    }
}

/// v1's answer however it is framed: the client gets the same status and body on both paths,
/// and v2's identical copy compares equal (the captures saw the decoded body).
#[tokio::test]
async fn every_v1_framing_reaches_the_client_whole_on_both_paths() {
    let answers: &[(&str, &'static [u8], &[u8])] = &[
        ("length", b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{\"a\":12}\n", b"{\"a\":12}\n"),
        ("chunked, extensions and a trailer", b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n4;x=y\r\n{\"a\"\r\n5\r\n:12}\n\r\n0\r\nx-t: 1\r\n\r\n", b"{\"a\":12}\n"),
        ("until close", b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"a\":12}\n", b"{\"a\":12}\n"),
        ("HTTP/1.0", b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{\"a\":12}\n", b"{\"a\":12}\n"),
        ("an early hint first", b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{\"a\":12}\n", b"{\"a\":12}\n"),
        ("no content", b"HTTP/1.1 204 No Content\r\n\r\n", b""),
    ];
    for (name, wire, body) in answers {
        let mut results = Vec::new();
        for relay in PATHS {
            let v1 = garbage_upstream(wire).await;
            let v2 = garbage_upstream(wire).await;
            let extra = format!("http1_relay = {relay}\nmirror_percent = 100");
            let proxy = TestProxy::start(&v1.url(), &v2.url(), &extra).await;
            let out = exchange(
                proxy.addr,
                b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            )
            .await;
            let responses = parse_responses(&out);
            assert_eq!(responses.len(), 2, "relay={relay} {name}: {out:?}");
            let got: Vec<_> = responses
                .iter()
                .map(|r| (r.status, r.body.clone()))
                .collect();
            let status = if body.is_empty() { 204 } else { 200 };
            assert_eq!(
                got,
                vec![(status, body.to_vec()); 2],
                "relay={relay} {name}"
            );
            proxy.settle().await;
            let m = proxy.metrics().await;
            results.push((got, m.comparisons("default", "match")));
            proxy.running.shutdown().await;
        }
        assert_eq!(results[0], results[1], "{name}");
        assert_eq!(results[0].1, 2.0, "{name}: both pairs compared equal");
    }
}

/// A chunk size v1 breaks mid-body: the client's answer is cut (never a silently short body
/// that looks whole), and the failure is counted against v1, on both paths.
#[tokio::test]
async fn a_broken_chunk_from_v1_cuts_the_answer_and_is_counted_on_both_paths() {
    for relay in PATHS {
        let (proxy, out) = get_from_raw_v1(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\nzz\r\n:12}\r\n0\r\n\r\n",
            relay,
        )
        .await;
        assert_eq!(status(&out), 200, "relay={relay}");
        assert!(
            !out.ends_with(b"0\r\n\r\n"),
            "relay={relay}: the chunked answer must not end cleanly: {out:?}"
        );
        let m = proxy.metrics().await;
        let body_errors = m.value(
            "shadowdiff_primary_errors_total",
            &[("route", "default"), ("kind", "body")],
        );
        assert_eq!(body_errors, 1.0, "relay={relay}");
        proxy.running.shutdown().await;
    }
}

/// v2's answer broken in its framing, on the mirror's plain connection to v2: never compared,
/// counted as v2's failure of the right kind, and the client still gets v1's answer.
#[tokio::test]
async fn v2_answers_broken_in_their_framing_are_counted_never_compared() {
    let cases: &[(&str, &'static [u8], &str)] = &[
        ("broken chunk size", b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\nzz\r\n:12}\r\n0\r\n\r\n", "protocol"),
        ("conflicting lengths", b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\ncontent-length: 8\r\n\r\n{\"a\":12}\n", "protocol"),
        ("body cut short", b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 90\r\n\r\n{\"a\":12}\n", "reset"),
        ("not HTTP", b"SSH-2.0-OpenSSH\r\n\r\n", "protocol"),
    ];
    for (name, wire, kind) in cases {
        let v1 = Upstream::json("{\"a\":12}\n").await;
        let v2 = garbage_upstream(wire).await;
        let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
        let out = exchange(
            proxy.addr,
            b"GET /a HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        let responses = parse_responses(&out);
        assert_eq!(responses.len(), 1, "{name}: {out:?}");
        assert_eq!(responses[0].status, 200, "{name}");
        assert_eq!(responses[0].body, b"{\"a\":12}\n", "{name}: v1's answer");
        proxy.settle().await;
        let m = proxy.metrics().await;
        let errors = m.value(
            "shadowdiff_candidate_errors_total",
            &[("route", "default"), ("kind", kind)],
        );
        assert_eq!(errors, 1.0, "{name}");
        assert_eq!(m.skipped("default", "candidate_failed"), 1.0, "{name}");
        assert_eq!(m.comparisons("default", "match"), 0.0, "{name}");
        assert_eq!(m.comparisons("default", "mismatch"), 0.0, "{name}");
        proxy.running.shutdown().await;
    }
}
