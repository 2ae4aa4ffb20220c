//! The mirrored copy is the same request: an A/A run against two identical applications that
//! echo what they receive finds nothing to report but the documented marker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shadowdiff_e2e::{get, json, TestProxy, Upstream};

/// An application that builds URLs from Host and echoes the request, like httpbin does.
async fn echo() -> Upstream {
    Upstream::start(|seen| async move {
        let host = seen
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let headers: serde_json::Map<String, serde_json::Value> = seen
            .headers
            .iter()
            .filter(|(k, _)| !["x-forwarded-for", "x-forwarded-proto"].contains(&k.as_str()))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
            .collect();
        let body = serde_json::json!({
            "url": format!("http://{host}{}", seen.path),
            "headers": headers,
        });
        let mut resp = json(&body.to_string());
        resp.headers_mut()
            .insert("location", format!("http://{host}/next").parse().unwrap());
        resp
    })
    .await
}

#[tokio::test]
async fn an_a_a_run_against_echoing_origins_reports_only_the_mirror_mark() {
    let (v1, v2) = (echo().await, echo().await);
    // Default config: v2 gets v1's Host, so only the marker the application echoes differs.
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    for i in 0..20 {
        let (status, _, _) = get(&proxy.url(&format!("/anything/{i}"))).await;
        assert_eq!(status, 200);
    }
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "mismatch"), 20.0);
    let (_, _, body) = get(&format!("http://{}/api/mismatches?limit=100", proxy.admin)).await;
    let exemplars: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for e in exemplars.as_array().unwrap() {
        let paths: Vec<&str> = e["differences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["/headers/x-shadowdiff-mirror"], "{e}");
    }
    proxy.running.shutdown().await;

    // The documented one-line rule silences it: nothing left.
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 100\n[compare]\nignore_paths = [\"/headers/x-shadowdiff-mirror\"]",
    )
    .await;
    for i in 0..20 {
        get(&proxy.url(&format!("/anything/{i}"))).await;
    }
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "match"), 20.0);
    assert_eq!(m.comparisons("default", "mismatch"), 0.0);
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn a_client_cannot_send_the_mirror_mark_to_v1() {
    let (v1, v2) = (echo().await, echo().await);
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 0").await;
    let client = shadowdiff_e2e::client();
    let req = http::Request::get(proxy.url("/x"))
        .header("x-shadowdiff-mirror", "1")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = v1.seen();
    assert!(
        seen[0].headers.get("x-shadowdiff-mirror").is_none(),
        "only the proxy marks mirrors"
    );
    proxy.running.shutdown().await;
}

/// RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host is refused with 400, never
/// forwarded with two or with one the proxy made up; HTTP/1.0 may omit it. CONNECT gets 405.
#[tokio::test]
async fn host_must_be_there_once_on_http11_and_connect_is_refused() {
    use shadowdiff_e2e::faults::raw_request;
    let (v1, v2) = (echo().await, echo().await);
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 0").await;
    let status = |out: Vec<u8>| String::from_utf8_lossy(&out[..12.min(out.len())]).to_string();
    let two = raw_request(
        proxy.addr,
        b"GET /a HTTP/1.1\r\nhost: one\r\nhost: two\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(two), "HTTP/1.1 400");
    let none = raw_request(proxy.addr, b"GET /a HTTP/1.1\r\nconnection: close\r\n\r\n").await;
    assert_eq!(status(none), "HTTP/1.1 400");
    let old = raw_request(proxy.addr, b"GET /a HTTP/1.0\r\n\r\n").await;
    assert_eq!(status(old), "HTTP/1.0 200");
    let connect = raw_request(
        proxy.addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(connect), "HTTP/1.1 405");
    assert_eq!(v1.hits(), 1, "only the HTTP/1.0 request reached v1");
    proxy.running.shutdown().await;
}

/// A WebSocket handshake is passed to v1 with its Upgrade intact, never mirrored (counted
/// `upgrade`), and on v1's 101 the client and v1 talk through a tunnel until either closes.
#[tokio::test]
async fn a_websocket_upgrade_is_a_tunnel_to_v1_and_never_mirrored() {
    use shadowdiff_e2e::faults::{read_head, RawUpstream};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let v1 = RawUpstream::start(|mut s| async move {
        let Ok(head) = read_head(&mut s).await else {
            return;
        };
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        if !(text.contains("upgrade: websocket") && text.contains("connection: upgrade")) {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
            return;
        }
        let _ = s
            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n")
            .await;
        // Echo whatever comes, as a WebSocket echo server would.
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    })
    .await;
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(
        b"GET /chat HTTP/1.1\r\nhost: app\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
          sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let head = read_head(&mut s).await.unwrap();
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 101"), "{text}");
    assert!(text.contains("upgrade: websocket"), "{text}");
    for msg in [&b"ping"[..], b"second frame"] {
        s.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(std::time::Duration::from_secs(5), s.read_exact(&mut got))
            .await
            .expect("echoed through the tunnel")
            .unwrap();
        assert_eq!(got, msg);
    }
    drop(s);
    proxy.settle().await;
    assert_eq!(v2.hits(), 0, "the handshake is never mirrored");
    let m = proxy.metrics().await;
    assert_eq!(m.skipped("default", "upgrade"), 1.0);
    proxy.running.shutdown().await;
}

/// Browsers ask for zstd and servers answer with it (RFC 8878): v1 zstd-encoded and v2 plain
/// are the same document, compared as such — not skipped as an unsupported encoding — and the
/// client gets v1's bytes as they were sent.
#[tokio::test]
async fn a_zstd_answer_is_compared_decoded_and_relayed_untouched() {
    const DOC: &str = r#"{"id":9007199254740993,"name":"a"}"#;
    let encoded = bytes::Bytes::from(zstd::encode_all(DOC.as_bytes(), 3).unwrap());
    let body = encoded.clone();
    let v1 = Upstream::start(move |_| {
        let body = body.clone();
        async move {
            let mut r = http::Response::new(http_body_util::Full::new(body));
            let h = r.headers_mut();
            h.insert("content-type", "application/json".parse().unwrap());
            h.insert("content-encoding", "zstd".parse().unwrap());
            r
        }
    })
    .await;
    let v2 = Upstream::start(|s: shadowdiff_e2e::Seen| async move {
        json(if s.path == "/drift" {
            r#"{"id":9007199254740992,"name":"a"}"#
        } else {
            DOC
        })
    })
    .await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    let (status, headers, got) = get(&proxy.url("/same")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-encoding"], "zstd");
    assert_eq!(got, encoded, "v1's bytes, not decoded");
    get(&proxy.url("/drift")).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "match"), 1.0);
    assert_eq!(
        m.comparisons("default", "mismatch"),
        1.0,
        "the last digit differs"
    );
    proxy.running.shutdown().await;
}
