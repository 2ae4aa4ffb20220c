//! TLS and HTTP/2: inbound TLS with ALPN, h2 over TLS and h2c, certificate reload without
//! dropping connections, `https://` upstreams with a custom CA and mTLS.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use http::{Method, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use shadowdiff_e2e::tls::{der, presented_cert, TestCa};
use shadowdiff_e2e::{send, TestProxy, Upstream};

fn toml(primary: &str, candidate: &str, extra: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 100\n{extra}\n[primary]\nurl = \"{primary}\"\n[candidate]\nurl = \"{candidate}\"\n"
    )
}

async fn get_version(
    client: &Client<
        impl hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
        Full<Bytes>,
    >,
    url: &str,
) -> (u16, Version, Bytes) {
    let resp = client
        .request(Request::get(url).body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let (status, version) = (resp.status().as_u16(), resp.version());
    (
        status,
        version,
        resp.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn tls_listener_serves_http1_and_h2_by_alpn_and_mirrors_both() {
    let ca = TestCa::new("inbound");
    let server = ca.server("server", "shadowdiff");
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let extra = format!("[tls]\ncert = {:?}\nkey = {:?}\n", server.cert, server.key);
    let proxy = TestProxy::from_toml(&toml(&v1.url(), &v2.url(), &extra)).await;
    let url = format!("https://localhost:{}/x", proxy.addr.port());

    let (status, version, body) = get_version(&ca.https_client(false), &url).await;
    assert_eq!((status, &body[..]), (200, &br#"{"v":1}"#[..]));
    assert_eq!(version, Version::HTTP_2, "ALPN prefers h2");
    let (status, version, _) = get_version(&ca.https_client(true), &url).await;
    assert_eq!((status, version), (200, Version::HTTP_2));

    // An HTTP/1.1-only client negotiates http/1.1.
    let h1 = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(ca.client_config(&[]))
        .https_only()
        .enable_http1()
        .build();
    let (status, version, _) =
        get_version(&Client::builder(TokioExecutor::new()).build(h1), &url).await;
    assert_eq!((status, version), (200, Version::HTTP_11));

    proxy.settle().await;
    assert_eq!(v2.hits(), 3, "h2 and http/1.1 requests are mirrored alike");
    assert!(v1
        .seen()
        .iter()
        .all(|s| s.headers["x-forwarded-proto"] == "https"));
    assert!(v1
        .seen()
        .iter()
        .all(|s| s.headers["host"] == format!("localhost:{}", proxy.addr.port()).as_str()));
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn h2c_with_prior_knowledge_on_the_plain_listener() {
    let v1 = Upstream::json(r#"{"v":1}"#).await;
    let v2 = Upstream::json(r#"{"v":1}"#).await;
    let proxy = TestProxy::from_toml(&toml(&v1.url(), &v2.url(), "")).await;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let (status, version, body) = get_version(&client, &proxy.url("/h2c")).await;
    assert_eq!(
        (status, version, &body[..]),
        (200, Version::HTTP_2, &br#"{"v":1}"#[..])
    );
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "match"), 1.0);
    assert_eq!(v2.seen()[0].path, "/h2c");
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn reload_swaps_the_certificate_without_dropping_connections() {
    let ca = TestCa::new("reload");
    let first = ca.server("server", "first");
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let extra = format!("[tls]\ncert = {:?}\nkey = {:?}\n", first.cert, first.key);
    let text = toml(&v1.url(), &v2.url(), &extra);
    let file = ca.dir.join("shadowdiff.toml");
    std::fs::write(&file, &text).unwrap();
    let proxy = TestProxy::from_toml(&text).await;
    *proxy.running.shared.reload_source.lock().unwrap() = shadowdiff::state::ReloadSource {
        file: Some(file),
        overrides: Default::default(),
    };
    assert_eq!(presented_cert(&ca, proxy.addr).await, der(&first.cert_pem));

    // A keep-alive connection opened under the first certificate.
    let client = ca.https_client(false);
    let url = format!("https://localhost:{}/x", proxy.addr.port());
    assert_eq!(get_version(&client, &url).await.0, 200);

    let second = ca.server("server", "second"); // same paths, new certificate
    let (status, _, _) = send(
        &shadowdiff_e2e::client(),
        Method::POST,
        &format!("http://{}/api/reload", proxy.admin),
        Bytes::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        presented_cert(&ca, proxy.addr).await,
        der(&second.cert_pem),
        "new handshakes get the new certificate"
    );
    for _ in 0..5 {
        assert_eq!(
            get_version(&client, &url).await.0,
            200,
            "the open connection keeps working"
        );
    }
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn https_upstreams_with_a_custom_ca_and_mtls() {
    let ca = TestCa::new("upstream");
    let server = ca.server("v1", "v1");
    let client_cert = ca.client("proxy", "shadowdiff");
    let plain_v2 = Upstream::json(r#"{"tls":true}"#).await;

    // v1 over TLS, trusted through ca_file.
    let v1 = ca.upstream(&server, false, r#"{"tls":true}"#).await;
    let primary = format!("https://localhost:{}", v1.port());
    let extra = format!("[primary]\nca_file = {:?}\n", ca.ca_file());
    let text = toml(&primary, &plain_v2.url(), "").replace("[primary]\n", &extra);
    let proxy = TestProxy::from_toml(&text).await;
    let (status, _, body) = shadowdiff_e2e::get(&proxy.url("/x")).await;
    assert_eq!((status.as_u16(), &body[..]), (200, &br#"{"tls":true}"#[..]));
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "match"), 1.0);
    proxy.running.shutdown().await;

    // Without the CA the handshake fails: a 502, never a silent downgrade.
    let proxy = TestProxy::from_toml(&toml(&primary, &plain_v2.url(), "")).await;
    assert_eq!(shadowdiff_e2e::get(&proxy.url("/x")).await.0.as_u16(), 502);
    proxy.running.shutdown().await;

    // mTLS: v1 demands a client certificate from the CA.
    let v1m = ca.upstream(&server, true, r#"{"mtls":true}"#).await;
    let primary = format!("https://localhost:{}", v1m.port());
    let with_cert = format!(
        "[primary]\nca_file = {:?}\nclient_cert = {:?}\nclient_key = {:?}\n",
        ca.ca_file(),
        client_cert.cert,
        client_cert.key
    );
    let proxy = TestProxy::from_toml(
        &toml(&primary, &plain_v2.url(), "").replace("[primary]\n", &with_cert),
    )
    .await;
    let (status, _, body) = shadowdiff_e2e::get(&proxy.url("/x")).await;
    assert_eq!(
        (status.as_u16(), &body[..]),
        (200, &br#"{"mtls":true}"#[..])
    );
    proxy.running.shutdown().await;

    let without = format!("[primary]\nca_file = {:?}\n", ca.ca_file());
    let proxy =
        TestProxy::from_toml(&toml(&primary, &plain_v2.url(), "").replace("[primary]\n", &without))
            .await;
    assert_eq!(
        shadowdiff_e2e::get(&proxy.url("/x")).await.0.as_u16(),
        502,
        "no client certificate, no v1"
    );
    proxy.running.shutdown().await;
}
