//! gRPC through the proxy, with a real gRPC client and server (tonic): every kind of call
//! behaves exactly as a direct call — over h2c and TLS h2 upstreams, at 0 % and 100 %
//! mirroring — and mirrored calls are compared field by field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use shadowdiff_e2e::grpc::pb::{ListRequest, Quote, QuoteRequest, Trade};
use shadowdiff_e2e::grpc::{self, Behaviour, DESCRIPTORS};
use shadowdiff_e2e::TestProxy;
use tokio_stream::StreamExt;
use tonic::Code;

/// Every case's outcome as text, so a direct run and a proxied run compare as a whole.
async fn run_cases(addr: SocketAddr) -> Vec<String> {
    let mut c = grpc::client(addr).await;
    let mut out = Vec::new();
    let unary = c
        .get_quote(QuoteRequest {
            symbol: "ACME".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner());
    out.push(format!("unary: {unary:?}"));

    let stream = c
        .list_quotes(ListRequest {
            symbol: "ACME".into(),
            count: 5,
            delay_ms: 5,
            fail_code: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let got: Vec<_> = stream.map(|q| q.map(|q| q.price)).collect().await;
    out.push(format!("server streaming: {got:?}"));

    let trades = tokio_stream::iter((1..=3).map(|qty| Trade {
        symbol: "ACME".into(),
        qty,
    }));
    let summary = c.record_trades(trades).await.map(|r| r.into_inner());
    out.push(format!("client streaming: {summary:?}"));

    let quotes = tokio_stream::iter((1..=3).map(|i| Quote {
        symbol: "ACME".into(),
        price: f64::from(i),
        ..Default::default()
    }));
    let echoed: Vec<_> = c
        .chat(quotes)
        .await
        .unwrap()
        .into_inner()
        .map(|q| q.map(|q| q.price))
        .collect()
        .await;
    out.push(format!("bidi: {echoed:?}"));

    let err = c
        .get_quote(QuoteRequest {
            symbol: "ACME".into(),
            fail_code: Code::FailedPrecondition as u32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    out.push(format!(
        "error: {:?} {:?} {:?} {:?}",
        err.code(),
        err.message(),
        err.metadata().get("x-detail"),
        err.metadata().get_bin("x-detail-bin").map(|v| v.to_bytes()),
    ));

    let failing_stream: Vec<_> = c
        .list_quotes(ListRequest {
            symbol: "ACME".into(),
            count: 2,
            delay_ms: 0,
            fail_code: Code::ResourceExhausted as u32,
        })
        .await
        .unwrap()
        .into_inner()
        .map(|q| {
            q.map(|q| q.price)
                .map_err(|s| (s.code(), s.message().to_string()))
        })
        .collect()
        .await;
    out.push(format!("stream ending in an error: {failing_stream:?}"));

    let big = c
        .get_quote(QuoteRequest {
            symbol: "ACME".into(),
            size: 2_000_000,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().blob.len());
    out.push(format!("2 MB message: {big:?}"));

    let mut slow = tonic::Request::new(QuoteRequest {
        symbol: "ACME".into(),
        delay_ms: 2_000,
        ..Default::default()
    });
    slow.set_timeout(Duration::from_millis(300));
    let deadline = c
        .get_quote(slow)
        .await
        .map(|r| r.into_inner())
        .map_err(|s| s.code());
    out.push(format!("deadline: {deadline:?}"));
    out
}

fn proxy_toml(v1: &str, v2: &str, percent: u32, upstream_extra: &str, top: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = {percent}\n{top}\n\
         [primary]\nurl = \"{v1}\"\n{upstream_extra}\n\
         [candidate]\nurl = \"{v2}\"\n{upstream_extra}\n\
         [[routes]]\nname = \"quotes\"\npath_prefix = \"/quotes.v1.Quotes/\"\nallow_unsafe_methods = true\n"
    )
}

#[tokio::test]
async fn every_kind_of_call_behaves_as_a_direct_call_over_h2c() {
    let v1 = grpc::serve_h2c(Behaviour::default()).await;
    let v2 = grpc::serve_h2c(Behaviour::default()).await;
    let direct = run_cases(v1).await;
    for percent in [0, 100] {
        let text = proxy_toml(
            &format!("http://{v1}"),
            &format!("http://{v2}"),
            percent,
            "protocol = \"h2c\"",
            "",
        );
        let proxy = TestProxy::from_toml(&text).await;
        let proxied = run_cases(proxy.addr).await;
        assert_eq!(proxied, direct, "through the proxy at {percent} %");
        proxy.settle().await;
        let m = proxy.metrics().await;
        if percent == 100 {
            assert!(m.comparisons("quotes", "match") >= 5.0, "{}", m.0);
            assert_eq!(m.comparisons("quotes", "mismatch"), 0.0, "{}", m.0);
        }
        proxy.running.shutdown().await;
    }
}

#[tokio::test]
async fn every_kind_of_call_behaves_as_a_direct_call_over_tls_h2() {
    let ca = shadowdiff_e2e::tls::TestCa::new("grpc");
    let issued = ca.server("upstream", "localhost");
    let v1 = grpc::serve_tls(Behaviour::default(), &issued).await;
    let v2 = grpc::serve_tls(Behaviour::default(), &issued).await;
    let direct_v1 = grpc::serve_h2c(Behaviour::default()).await;
    let direct = run_cases(direct_v1).await;
    let extra = format!(
        "protocol = \"h2\"\nca_file = \"{}\"",
        ca.ca_file().display()
    );
    for percent in [0, 100] {
        let text = proxy_toml(
            &format!("https://localhost:{}", v1.port()),
            &format!("https://localhost:{}", v2.port()),
            percent,
            &extra,
            "",
        );
        let proxy = TestProxy::from_toml(&text).await;
        let proxied = run_cases(proxy.addr).await;
        assert_eq!(proxied, direct, "through the proxy at {percent} % over TLS");
        proxy.running.shutdown().await;
    }
}

#[tokio::test]
async fn a_grpc_call_to_an_http1_only_primary_ends_unavailable_naming_the_key() {
    let v1 = grpc::serve_h2c(Behaviour::default()).await;
    let v2 = grpc::serve_h2c(Behaviour::default()).await;
    let text = proxy_toml(&format!("http://{v1}"), &format!("http://{v2}"), 0, "", "");
    let proxy = TestProxy::from_toml(&text).await;
    let mut c = grpc::client(proxy.addr).await;
    let err = c.get_quote(QuoteRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.message().contains("protocol"), "{}", err.message());
    proxy.running.shutdown().await;
}

/// The differences of the newest mismatch exemplars, as (part, path) pairs.
async fn mismatch_paths(proxy: &TestProxy) -> Vec<(String, String)> {
    let (_, _, body) =
        shadowdiff_e2e::get(&format!("http://{}/api/mismatches?limit=50", proxy.admin)).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["differences"].as_array().unwrap().clone())
        .map(|d| {
            (
                d["part"].as_str().unwrap().to_string(),
                d["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_changed_field_is_named_by_name_with_descriptors_and_by_number_without() {
    let dir = std::env::temp_dir().join(format!("shadowdiff-grpc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let descriptors = dir.join("quotes.pb");
    std::fs::write(&descriptors, DESCRIPTORS).unwrap();
    let v1 = grpc::serve_h2c(Behaviour::default()).await;
    let v2 = grpc::serve_h2c(Behaviour {
        price_offset: 1.0,
        stream_end: None,
    })
    .await;
    for (top, path) in [
        (
            format!("[grpc]\ndescriptor_set = \"{}\"", descriptors.display()),
            "/price",
        ),
        (String::new(), "/2"),
    ] {
        let text = proxy_toml(
            &format!("http://{v1}"),
            &format!("http://{v2}"),
            100,
            "protocol = \"h2c\"",
            &top,
        );
        let proxy = TestProxy::from_toml(&text).await;
        let mut c = grpc::client(proxy.addr).await;
        let q = c
            .get_quote(QuoteRequest {
                symbol: "ACME".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(q.price, 10.5, "the client always gets v1's answer");
        proxy.settle().await;
        let diffs = mismatch_paths(&proxy).await;
        assert_eq!(
            diffs,
            vec![("body".to_string(), path.to_string())],
            "with {top:?}"
        );
        proxy.running.shutdown().await;
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_stream_that_v2_ends_with_another_status_is_a_status_mismatch() {
    let v1 = grpc::serve_h2c(Behaviour::default()).await;
    let v2 = grpc::serve_h2c(Behaviour {
        price_offset: 0.0,
        stream_end: Some(Code::Unavailable),
    })
    .await;
    let text = proxy_toml(
        &format!("http://{v1}"),
        &format!("http://{v2}"),
        100,
        "protocol = \"h2c\"",
        "",
    );
    let proxy = TestProxy::from_toml(&text).await;
    let mut c = grpc::client(proxy.addr).await;
    let got: Vec<_> = c
        .list_quotes(ListRequest {
            symbol: "ACME".into(),
            count: 3,
            delay_ms: 0,
            fail_code: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert!(
        got.iter().all(Result::is_ok),
        "the client got v1's stream: {got:?}"
    );
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(
        m.value(
            "shadowdiff_mismatches_total",
            &[("route", "quotes"), ("part", "status")]
        ),
        1.0,
        "{}",
        m.0
    );
    let diffs = mismatch_paths(&proxy).await;
    assert!(
        diffs.contains(&("status".into(), "grpc-status".into())),
        "{diffs:?}"
    );
    proxy.running.shutdown().await;
}
