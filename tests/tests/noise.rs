//! Mismatch signatures and noise learned from v1 against itself, end to end: v1 and v2 that
//! differ by request ids, timestamps and deployment identity, plus one real change; the
//! suggestions name the noise and not the change; suppressing it leaves the real rate; signatures
//! keep a rare mismatch beside a flood; both survive a restart.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use shadowdiff_e2e::{client, get, send, TestProxy, Upstream};

/// A service whose answers carry a fresh request id, the time, and its deployment's name; with
/// `price_change_every` > 0 every n-th answer has another price (a real difference).
async fn service(name: &'static str, price_change_every: usize) -> Upstream {
    let n = Arc::new(AtomicUsize::new(0));
    Upstream::start(move |_| {
        let n = n.clone();
        async move {
            let i = n.fetch_add(1, Ordering::SeqCst) + 1;
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let price = if price_change_every > 0 && i.is_multiple_of(price_change_every) { 11 } else { 10 };
            let body = format!(
                r#"{{"request_id":"{name}-{i}-{}","generated_at":"{}.{:09}","sku":"A-1","price":{price},"items":[{{"id":1}},{{"id":2}}]}}"#,
                now.subsec_nanos(),
                now.as_secs(),
                now.subsec_nanos()
            );
            let mut r = shadowdiff_e2e::json(&body);
            r.headers_mut().insert("x-served-by", name.parse().unwrap());
            r
        }
    })
    .await
}

/// `top`: top-level keys; `tail`: tables. These tests count every exchange of eight clients
/// going flat out, which saturates the machine: the mirror and comparison threads run at the
/// I/O thread's priority (at the default they would yield to v1 and shed, as they should in
/// production), and nothing waits in a queue that could fill.
fn config(v1: &str, v2: &str, top: &str, tail: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 100\n{top}\n\
         [primary]\nurl = \"{v1}\"\n[candidate]\nurl = \"{v2}\"\n\
         [limits]\ncompare_queue = 100000\nbackground_nice = 0\n{tail}\n"
    )
}

async fn api(proxy: &TestProxy, path: &str) -> Value {
    let (code, _, body) = get(&format!("http://{}{path}", proxy.admin)).await;
    assert_eq!(code, StatusCode::OK);
    serde_json::from_slice(&body).unwrap()
}

/// `n` GETs from 8 clients; every one must be answered 200.
async fn drive(proxy: &TestProxy, n: usize, path: &'static str) {
    let left = Arc::new(AtomicUsize::new(n));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (left, url) = (left.clone(), proxy.url(path));
            tokio::spawn(async move {
                let c = client();
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
                    .is_ok()
                {
                    let (code, _, _) = send(&c, Method::GET, &url, Bytes::new()).await;
                    assert_eq!(code, StatusCode::OK);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    proxy.settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_noise_is_proposed_and_suppressed_and_the_real_change_is_left() {
    let v1 = service("v1", 0).await;
    let v2 = service("v2", 50).await;
    let text = config(
        &v1.url(),
        &v2.url(),
        "",
        "[noise]\npercent = 100\nmin_samples = 100\nsuppress = true\nmax_in_flight = 100000\n",
    );
    let proxy = TestProxy::from_toml(&text).await;
    drive(&proxy, 300, "/products/1").await;

    let s = api(&proxy, "/api/noise/suggestions?route=default").await;
    let route = &s["routes"][0];
    assert_eq!(route["learning"], false, "{s:#}");
    let mut found: Vec<(String, String)> = route["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("/generated_at".to_owned(), "ignore_paths".to_owned()),
            ("/request_id".to_owned(), "ignore_paths".to_owned()),
            ("x-served-by".to_owned(), "ignore_headers".to_owned()),
        ],
        "{s:#}"
    );
    let toml = route["toml"].as_str().unwrap();
    assert!(toml.starts_with("[compare]\n"), "{toml}");
    assert!(
        toml.contains(r#"ignore_headers = ["x-served-by"]"#),
        "{toml}"
    );
    assert!(!toml.contains("price"), "{toml}");
    // The suggested lines are a config that loads.
    config::Config::from_toml_str(&format!("{text}{toml}"), &Default::default()).unwrap();

    // The summary ranks places with their part: a header reads as a header, not as a pointer.
    let summary = api(&proxy, "/api/summary").await;
    let top: Vec<&str> = summary["routes"][0]["top_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert!(
        top.contains(&"header x-served-by") && top.contains(&"/request_id"),
        "{top:?}"
    );

    // With the noise learned and suppressed, what remains is the real change: 2 % of requests.
    let before = proxy.metrics().await;
    drive(&proxy, 1000, "/products/1").await;
    let after = proxy.metrics().await;
    let delta =
        |result| after.comparisons("default", result) - before.comparisons("default", result);
    let (mismatch, noise, matched) = (delta("mismatch"), delta("noise"), delta("match"));
    assert_eq!(mismatch + noise + matched, 1000.0);
    let rate = mismatch / 1000.0;
    assert!(
        (0.015..=0.025).contains(&rate),
        "mismatch rate {rate} ({mismatch} of 1000; {noise} noise)"
    );
    assert_eq!(matched, 0.0, "noise is never counted as a match");
    // The second v1 answers were asked for and counted.
    assert!(after.value("shadowdiff_noise_requests_total", &[("route", "default")]) >= 1300.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_v1_hits_are_safe_methods_only_and_within_the_share() {
    let v1 = Upstream::json(r#"{"ok":true}"#).await;
    let v2 = Upstream::json(r#"{"ok":true}"#).await;
    let text = config(
        &v1.url(),
        &v2.url(),
        "",
        "[[routes]]\nname = \"all\"\npath_prefix = \"/\"\nallow_unsafe_methods = true\n[noise]\npercent = 20\n",
    );
    let proxy = TestProxy::from_toml(&text).await;
    let c = client();
    for i in 0..600 {
        let method = if i % 6 == 0 {
            Method::POST
        } else {
            Method::GET
        };
        let (code, _, _) = send(&c, method, &proxy.url("/x"), Bytes::from_static(b"{}")).await;
        assert_eq!(code, StatusCode::OK);
    }
    proxy.settle().await;
    // v1 sees the clients' 600 requests, plus the marked second answers.
    let marked: Vec<_> = v1
        .seen()
        .into_iter()
        .filter(|s| s.headers.contains_key("x-shadowdiff-mirror"))
        .collect();
    assert!(
        marked.iter().all(|s| s.method == Method::GET),
        "a second hit with an unsafe method"
    );
    // 20 % of 500 GETs, within four standard deviations (±36).
    assert!(
        (64..=136).contains(&marked.len()),
        "{} second hits for 500 GETs",
        marked.len()
    );
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_noise_requests_total", &[("route", "all")]),
        marked.len() as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_one_signature_leaves_rare_ones_visible_and_both_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("sd-noise-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // v2 differs on etag-like noise for every product (the same signature), and in three rare
    // ways on three other paths.
    let v1 = Upstream::start(|_| async {
        shadowdiff_e2e::json(r#"{"id":1,"price":10,"name":"a","stock":3}"#)
    })
    .await;
    let v2 = Upstream::start(|seen| async move {
        let body = match seen.path.as_str() {
            "/rare/price" => r#"{"id":1,"price":11,"name":"a","stock":3}"#,
            "/rare/name" => r#"{"id":1,"price":10,"name":"b","stock":3}"#,
            "/rare/gone" => r#"{"id":1,"price":10,"name":"a"}"#,
            _ => r#"{"id":1,"price":10,"name":"a","stock":4}"#,
        };
        shadowdiff_e2e::json(body)
    })
    .await;
    let text = config(
        &v1.url(),
        &v2.url(),
        &format!("state_dir = \"{}\"", dir.display()),
        "[report]\nmax_exemplars = 16\n",
    );
    let proxy = TestProxy::from_toml(&text).await;
    drive(&proxy, 1500, "/products/1").await;
    for p in ["/rare/price", "/rare/name", "/rare/gone"] {
        assert_eq!(get(&proxy.url(p)).await.0, StatusCode::OK);
    }
    drive(&proxy, 100, "/products/2").await;

    let check = |s: &Value| {
        let list = s["signatures"].as_array().unwrap();
        assert_eq!(list.len(), 4, "{s:#}");
        assert_eq!(list[0]["count"], 1600);
        assert_eq!(list[0]["items"][0]["path"], "/stock");
        let rare: Vec<(&str, &str)> = list[1..]
            .iter()
            .map(|e| {
                (
                    e["items"][0]["path"].as_str().unwrap(),
                    e["items"][0]["kind"].as_str().unwrap(),
                )
            })
            .collect();
        for want in [
            ("/price", "changed"),
            ("/name", "changed"),
            ("/stock", "removed"),
        ] {
            assert!(rare.contains(&want), "{want:?} missing from {rare:?}");
        }
        for e in list {
            assert!(!e["exemplars"].as_array().unwrap().is_empty(), "{e:#}");
        }
    };
    let s = api(&proxy, "/api/signatures").await;
    check(&s);
    // The recent-mismatch ring (16) has lost the rare ones under the flood; the signatures have not.
    let recent = api(&proxy, "/api/mismatches?limit=1000").await;
    assert!(recent
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["path"].as_str().unwrap().starts_with("/products/")));
    proxy.running.shutdown().await;

    let proxy = TestProxy::from_toml(&text).await;
    check(&api(&proxy, "/api/signatures").await);
    // A reset starts a new run.
    let req = http::Request::post(format!("http://{}/api/signatures/reset", proxy.admin))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let _ = resp.into_body().collect().await;
    assert_eq!(
        api(&proxy, "/api/signatures").await["signatures"],
        Value::Array(vec![])
    );
    proxy.running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_noise_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("sd-noise-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let v1 = service("v1", 0).await;
    let v2 = service("v2", 0).await;
    let text = config(
        &v1.url(),
        &v2.url(),
        &format!("state_dir = \"{}\"", dir.display()),
        "[noise]\npercent = 100\nmin_samples = 50\nmax_in_flight = 100000\n",
    );
    let proxy = TestProxy::from_toml(&text).await;
    drive(&proxy, 120, "/products/1").await;
    let before = api(&proxy, "/api/noise/suggestions").await;
    assert_eq!(
        before["routes"][0]["suggestions"].as_array().unwrap().len(),
        3,
        "{before:#}"
    );
    proxy.running.shutdown().await;

    let proxy = TestProxy::from_toml(&text).await;
    let after = api(&proxy, "/api/noise/suggestions").await;
    assert_eq!(after["routes"][0]["toml"], before["routes"][0]["toml"]);
    assert_eq!(after["routes"][0]["baseline_comparisons"], 120);
    proxy.running.shutdown().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
