//! Live control over the admin listener: the brake, per-route shares, reload, the bearer token.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use shadowdiff_e2e::{client, get, send, TestProxy, Upstream};

async fn admin(
    proxy: &TestProxy,
    method: Method,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", proxy.admin));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = client()
        .request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn brake_stops_mirroring_on_the_next_request() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    get(&proxy.url("/a")).await;
    proxy.settle().await;
    assert_eq!(v2.hits(), 1);

    let (status, body) = admin(
        &proxy,
        Method::PUT,
        "/api/mirror-percent",
        r#"{"percent": 0}"#,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["routes"]["default"], 0.0);
    for _ in 0..50 {
        assert_eq!(get(&proxy.url("/a")).await.0, 200);
    }
    proxy.settle().await;
    assert_eq!(v2.hits(), 1, "no mirror after the brake");
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_mirror_percent", &[("route", "default")]),
        0.0
    );

    let (status, _) = admin(
        &proxy,
        Method::PUT,
        "/api/mirror-percent",
        r#"{"percent": 100}"#,
        None,
    )
    .await;
    assert_eq!(status, 200);
    get(&proxy.url("/a")).await;
    proxy.settle().await;
    assert_eq!(v2.hits(), 2, "released again");
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn percent_per_route_and_bad_requests_are_refused() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let extra = "mirror_percent = 100\n[[routes]]\nname = \"orders\"\npath_prefix = \"/orders\"\n";
    let proxy = TestProxy::start(&v1.url(), &v2.url(), extra).await;
    let (status, body) = admin(
        &proxy,
        Method::PUT,
        "/api/mirror-percent",
        r#"{"percent": 0, "route": "orders"}"#,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["routes"]["orders"], 0.0);
    assert_eq!(body["routes"]["default"], 100.0);
    get(&proxy.url("/orders/1")).await;
    get(&proxy.url("/other")).await;
    proxy.settle().await;
    let seen: Vec<String> = v2.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(seen, ["/other"]);

    for bad in [
        r#"{"percent": 101}"#,
        r#"{"percent": -1}"#,
        r#"{"percent": 5, "route": "nope"}"#,
        "not json",
        r#"{"pct": 5}"#,
    ] {
        let (status, body) = admin(&proxy, Method::PUT, "/api/mirror-percent", bad, None).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{bad}: {body}"
        );
    }
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn reload_applies_a_good_file_and_keeps_the_old_config_on_a_bad_one() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let dir = std::env::temp_dir().join(format!("shadowdiff-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    let write = |percent: &str| {
        let text = format!(
            "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = {percent}\n[primary]\nurl = \"{}\"\n[candidate]\nurl = \"{}\"\n",
            v1.url(),
            v2.url()
        );
        std::fs::write(&file, text).unwrap();
    };
    write("0");
    let proxy = TestProxy::from_toml(&std::fs::read_to_string(&file).unwrap()).await;
    *proxy.running.shared.reload_source.lock().unwrap() = shadowdiff::state::ReloadSource {
        file: Some(file.clone()),
        overrides: Default::default(),
    };

    // Load keeps flowing while the config changes under it.
    let url = proxy.url("/x");
    let load = tokio::spawn(async move {
        let c = client();
        let mut failed = 0;
        for _ in 0..300 {
            if send(&c, Method::GET, &url, Bytes::new()).await.0 != 200 {
                failed += 1;
            }
        }
        failed
    });

    write("100");
    let (status, body) = admin(&proxy, Method::POST, "/api/reload", "", None).await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &serde_json::json!("reloaded"))
    );

    write("150");
    let (status, body) = admin(&proxy, Method::POST, "/api/reload", "", None).await;
    assert_eq!(status, 400);
    let err = body["error"].as_str().unwrap();
    assert!(
        err.contains("mirror_percent") && err.contains("150"),
        "the reason names the key: {err}"
    );

    assert_eq!(
        load.await.unwrap(),
        0,
        "no client request failed during reloads"
    );
    get(&proxy.url("/y")).await;
    proxy.settle().await;
    assert!(
        v2.seen().iter().any(|s| s.path == "/y"),
        "the good reload (100 %) is still in force"
    );
    proxy.running.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn mutations_need_the_bearer_token_when_one_is_set() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let var = format!("SHADOWDIFF_TEST_TOKEN_{}", std::process::id());
    std::env::set_var(&var, "s3cret");
    let extra = format!("mirror_percent = 100\n[admin_auth]\ntoken_env = \"{var}\"\n");
    let proxy = TestProxy::start(&v1.url(), &v2.url(), &extra).await;
    let brake = r#"{"percent": 0}"#;
    assert_eq!(
        admin(&proxy, Method::PUT, "/api/mirror-percent", brake, None)
            .await
            .0,
        401
    );
    assert_eq!(
        admin(
            &proxy,
            Method::PUT,
            "/api/mirror-percent",
            brake,
            Some("wrong")
        )
        .await
        .0,
        401
    );
    assert_eq!(
        admin(&proxy, Method::POST, "/api/reload", "", None).await.0,
        401
    );
    assert_eq!(
        admin(
            &proxy,
            Method::PUT,
            "/api/mirror-percent",
            brake,
            Some("s3cret")
        )
        .await
        .0,
        200
    );
    // The scheme is case-insensitive.
    let lower = http::Request::put(format!("http://{}/api/mirror-percent", proxy.admin))
        .header("authorization", "bearer s3cret")
        .body(Full::new(Bytes::from_static(brake.as_bytes())))
        .unwrap();
    assert_eq!(client().request(lower).await.unwrap().status(), 200);
    // Reads stay open: Prometheus and health checks carry no token.
    assert_eq!(get(&format!("http://{}/metrics", proxy.admin)).await.0, 200);
    tokio::time::sleep(Duration::from_millis(10)).await;
    proxy.running.shutdown().await;
}

/// A config file the proxy reloads from, in a folder of its own.
struct ReloadFile {
    dir: std::path::PathBuf,
    file: std::path::PathBuf,
    v1: String,
    v2: String,
}

impl ReloadFile {
    fn new(tag: &str, v1: &Upstream, v2: &Upstream) -> Self {
        let dir = std::env::temp_dir().join(format!("shadowdiff-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            file: dir.join("c.toml"),
            dir,
            v1: v1.url(),
            v2: v2.url(),
        }
    }

    /// Write the file: `top` before the tables, `candidate` inside `[candidate]`, `tail` after.
    fn write(&self, top: &str, candidate: &str, tail: &str) -> String {
        let text = format!(
            "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n{top}\n[primary]\nurl = \"{}\"\n[candidate]\nurl = \"{}\"\n{candidate}\n{tail}\n",
            self.v1, self.v2
        );
        std::fs::write(&self.file, &text).unwrap();
        text
    }

    async fn proxy(&self, top: &str, candidate: &str, tail: &str) -> TestProxy {
        let text = self.write(top, candidate, tail);
        let proxy = TestProxy::from_toml(&text).await;
        proxy
            .running
            .shared
            .set_reload_source(shadowdiff::state::ReloadSource {
                file: Some(self.file.clone()),
                overrides: Default::default(),
            });
        proxy
    }
}

impl Drop for ReloadFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A file that parses but fails to build (a CA file that cannot be read) and names a new admin
/// token: the reload is refused and nothing of it is in force — not the token, not the share.
#[tokio::test]
async fn a_rejected_reload_changes_nothing_at_all() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let f = ReloadFile::new("rejected", &v1, &v2);
    let (old, new) = (
        format!("old-{}", std::process::id()),
        format!("new-{}", std::process::id()),
    );
    std::env::set_var(&old, "old-token");
    std::env::set_var(&new, "new-token");
    let auth = |var: &str| format!("[admin_auth]\ntoken_env = \"{var}\"\n");
    let proxy = f.proxy("mirror_percent = 10", "", &auth(&old)).await;

    f.write(
        "mirror_percent = 50",
        "ca_file = \"/nonexistent/ca.pem\"",
        &auth(&new),
    );
    let (status, body) = admin(&proxy, Method::POST, "/api/reload", "", Some("old-token")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("ca.pem"), "{body}");

    let brake = r#"{"percent": 5}"#;
    let with = |t| admin(&proxy, Method::PUT, "/api/mirror-percent", brake, Some(t));
    assert_eq!(
        with("new-token").await.0,
        401,
        "the rejected file's token is not in force"
    );
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_mirror_percent", &[("route", "default")]),
        10.0,
        "nor its share"
    );
    assert_eq!(with("old-token").await.0, 200, "the old token still is");
    proxy.running.shutdown().await;
}

/// The brake survives a reload that does not touch the share; a file that changes the share wins.
#[tokio::test]
async fn the_brake_survives_a_reload_unless_the_file_changes_the_share() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let f = ReloadFile::new("brake", &v1, &v2);
    let proxy = f.proxy("mirror_percent = 100", "", "").await;
    let brake = r#"{"percent": 0}"#;
    assert_eq!(
        admin(&proxy, Method::PUT, "/api/mirror-percent", brake, None)
            .await
            .0,
        200
    );

    // An operator adds a noise rule: full shadow load must not resume.
    f.write(
        "mirror_percent = 100",
        "",
        "[compare]\nignore_headers = [\"x-trace\"]",
    );
    assert_eq!(
        admin(&proxy, Method::POST, "/api/reload", "", None).await.0,
        200
    );
    get(&proxy.url("/after-rule")).await;
    proxy.settle().await;
    assert!(v2.seen().is_empty(), "the brake held across the reload");
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_mirror_percent", &[("route", "default")]),
        0.0
    );

    // A file that sets the share itself is the operator's new word.
    f.write("mirror_percent = 50", "", "");
    assert_eq!(
        admin(&proxy, Method::POST, "/api/reload", "", None).await.0,
        200
    );
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_mirror_percent", &[("route", "default")]),
        50.0
    );
    proxy.running.shutdown().await;
}
