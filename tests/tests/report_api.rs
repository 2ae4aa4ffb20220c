//! Mismatch records and the budget: `/api/mismatches`, `/api/summary`, redaction, the JSONL
//! sink, and the budget gauges.
#![allow(clippy::unwrap_used)]

use http::Response;
use shadowdiff_e2e::{get, json, Seen, TestProxy, Upstream};

async fn api(proxy: &TestProxy, path: &str) -> serde_json::Value {
    let (status, _, body) = get(&format!("http://{}{path}", proxy.admin)).await;
    assert_eq!(status, 200, "{path}");
    serde_json::from_slice(&body).unwrap()
}

fn with_cookie(body: &str, cookie: &str) -> Response<http_body_util::Full<bytes::Bytes>> {
    let mut r = json(body);
    r.headers_mut()
        .insert("set-cookie", cookie.parse().unwrap());
    r
}

#[tokio::test]
async fn records_show_what_differs_and_hide_secrets() {
    let v1 = Upstream::start(|s: Seen| async move {
        match s.path.as_str() {
            p if p.starts_with("/users") => {
                with_cookie(r#"{"email":"a@x","name":"a","plan":"free"}"#, "sid=one")
            }
            _ => json(r#"{"total":10}"#),
        }
    })
    .await;
    let v2 = Upstream::start(|s: Seen| async move {
        match s.path.as_str() {
            p if p.starts_with("/users") => {
                with_cookie(r#"{"email":"b@x","name":"a","plan":"pro"}"#, "sid=two")
            }
            _ => json(r#"{"total":12}"#),
        }
    })
    .await;
    let dir = std::env::temp_dir().join(format!("shadowdiff-report-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sink = dir.join("mismatches.jsonl");
    let extra = format!(
        "mirror_percent = 100\n[[routes]]\nname = \"users\"\npath_prefix = \"/users\"\n[routes.budget]\nmin_samples = 2\nratio = 0.5\n[budget]\nmin_samples = 3\n[report]\nredact_paths = [\"/email\"]\njsonl_path = {:?}\n",
        sink
    );
    let proxy = TestProxy::start(&v1.url(), &v2.url(), &extra).await;
    get(&proxy.url("/users/1?token=secret")).await;
    get(&proxy.url("/orders/1")).await;
    proxy.settle().await;

    let users = api(&proxy, "/api/mismatches?route=users").await;
    assert_eq!(users.as_array().unwrap().len(), 1, "filtered by route");
    let rec = &users[0];
    assert_eq!(
        rec["path"], "/users/1",
        "no query string: it may carry secrets"
    );
    assert_eq!(
        (
            rec["primary_status"].as_u64(),
            rec["candidate_status"].as_u64()
        ),
        (Some(200), Some(200))
    );
    let diffs = rec["differences"].as_array().unwrap();
    let find = |p: &str| {
        diffs
            .iter()
            .find(|d| d["path"] == p)
            .unwrap_or_else(|| panic!("no {p} in {diffs:?}"))
    };
    assert_eq!(
        (&find("/plan")["primary"], &find("/plan")["candidate"]),
        (&"\"free\"".into(), &"\"pro\"".into())
    );
    assert_eq!(
        (&find("/email")["primary"], &find("/email")["candidate"]),
        (&"[redacted]".into(), &"[redacted]".into())
    );
    assert_eq!(
        find("set-cookie")["candidate"],
        "[redacted]",
        "cookies are always redacted"
    );
    assert!(!rec.to_string().contains("a@x") && !rec.to_string().contains("sid=two"));

    let all = api(&proxy, "/api/mismatches?limit=1").await;
    assert_eq!(all.as_array().unwrap().len(), 1, "limit");
    assert_eq!(all[0]["path"], "/orders/1", "newest first");

    // The JSONL sink holds the same (redacted) records.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&sink)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(!lines.iter().any(|l| l.to_string().contains("a@x")));

    let summary = api(&proxy, "/api/summary").await;
    let route = |n: &str| {
        summary["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["route"] == n)
            .unwrap()
            .clone()
    };
    let u = route("users");
    assert_eq!(
        (u["compared"].as_u64(), u["mismatched"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(u["top_paths"][0][1], 1);
    assert_eq!(route("default")["mismatched"], 1);
    proxy.running.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn budget_is_exceeded_only_with_enough_samples() {
    let v1 = Upstream::start(|s: Seen| async move {
        json(if s.path == "/bad" {
            r#"{"a":1}"#
        } else {
            r#"{"a":0}"#
        })
    })
    .await;
    let v2 = Upstream::json(r#"{"a":0}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 100\n[budget]\nratio = 0.2\nmin_samples = 4\nwindow = \"1m\"",
    )
    .await;
    let gauge = |m: &shadowdiff_e2e::Metrics, name| m.value(name, &[("route", "default")]);

    get(&proxy.url("/bad")).await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(gauge(&m, "shadowdiff_mismatch_rate"), 1.0);
    assert_eq!(gauge(&m, "shadowdiff_mismatch_budget"), 0.2);
    assert_eq!(
        gauge(&m, "shadowdiff_budget_exceeded"),
        0.0,
        "1 of 4 required samples"
    );

    for _ in 0..3 {
        get(&proxy.url("/good")).await;
    }
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(gauge(&m, "shadowdiff_mismatch_rate"), 0.25);
    assert_eq!(
        gauge(&m, "shadowdiff_budget_exceeded"),
        1.0,
        "25 % over a 20 % budget with 4 samples"
    );

    for _ in 0..2 {
        get(&proxy.url("/good")).await;
    }
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert!((gauge(&m, "shadowdiff_mismatch_rate") - 1.0 / 6.0).abs() < 1e-9);
    assert_eq!(
        gauge(&m, "shadowdiff_budget_exceeded"),
        0.0,
        "back under budget"
    );
    proxy.running.shutdown().await;
}

/// A v1 that echoes the request's credentials into its body and a header: the values never
/// appear in /api/mismatches nor in the JSONL file, whatever field they turn up in.
#[tokio::test]
async fn credentials_echoed_by_v1_are_scrubbed_from_every_record() {
    let echo = |tag: &'static str| {
        shadowdiff_e2e::Upstream::start(move |seen| async move {
            let auth = seen
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string());
            let cookie = seen
                .headers
                .get("cookie")
                .map(|v| v.to_str().unwrap().to_string());
            // The echoes differ between v1 and v2, so they show up in the differences.
            let auth = auth.unwrap_or_default();
            let body = serde_json::json!({
                "you_sent": format!("{auth} via v{tag}"),
                "cookies": format!("{} via v{tag}", cookie.unwrap_or_default()),
                "v": tag,
            });
            let mut r = shadowdiff_e2e::json(&body.to_string());
            r.headers_mut()
                .insert("x-echo", format!("{auth} v{tag}").parse().unwrap());
            r
        })
    };
    let (v1, v2) = (echo("1").await, echo("2").await);
    let dir = std::env::temp_dir().join(format!("shadowdiff-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jsonl = dir.join("mismatches.jsonl");
    let proxy = shadowdiff_e2e::TestProxy::start(
        &v1.url(),
        &v2.url(),
        &format!(
            "mirror_percent = 100\n[report]\njsonl_path = \"{}\"",
            jsonl.display()
        ),
    )
    .await;
    let client = shadowdiff_e2e::client();
    let req = http::Request::get(proxy.url("/me"))
        .header("authorization", "Bearer tok-3f9a2c1e77")
        .header("cookie", "theme=dark; session=sess-88bd1c0a42")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(client.request(req).await.unwrap().status(), 200);
    proxy.settle().await;
    let (_, _, body) = shadowdiff_e2e::get(&format!("http://{}/api/mismatches", proxy.admin)).await;
    let shown = String::from_utf8_lossy(&body).to_string();
    assert!(shown.contains("/you_sent"), "the echo differs: {shown}");
    assert!(
        shown.contains("[redacted]"),
        "and is shown scrubbed: {shown}"
    );
    let written = std::fs::read_to_string(&jsonl).unwrap_or_default();
    for secret in ["tok-3f9a2c1e77", "sess-88bd1c0a42"] {
        assert!(
            !shown.contains(secret),
            "{secret} in /api/mismatches: {shown}"
        );
        assert!(
            !written.contains(secret),
            "{secret} in the JSONL file: {written}"
        );
    }
    proxy.running.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}
