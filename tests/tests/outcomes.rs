//! Every mirrored request ends as exactly one outcome — match, mismatch, candidate error, or
//! skipped — and the four add up to `mirrored_requests_total`, in /metrics and /api/summary
//! alike. A 5xx from both sides is a compared pair (a match here), not a candidate error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use shadowdiff_e2e::{get, json, TestProxy, Upstream};

fn status(code: u16, body: &str) -> http::Response<http_body_util::Full<Bytes>> {
    let mut r = json(body);
    *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
    r
}

#[tokio::test]
async fn mirror_outcomes_add_up_to_the_mirrored_requests() {
    let big: &'static str =
        Box::leak(format!("{{\"pad\":\"{}\"}}", "x".repeat(3000)).into_boxed_str());
    let v1 = Upstream::start(|seen| async move {
        match seen.path.as_str() {
            "/error" => status(500, r#"{"e":1}"#),
            _ => json(r#"{"v":1}"#),
        }
    })
    .await;
    let v2 = Upstream::start(move |seen| async move {
        match seen.path.as_str() {
            "/match" => json(r#"{"v":1}"#),
            "/mismatch" => json(r#"{"v":2}"#),
            "/error" => status(500, r#"{"e":1}"#),
            "/big" => json(big),
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(600)).await;
                json(r#"{"v":1}"#)
            }
            _ => json(r#"{"v":1}"#),
        }
    })
    .await;
    let proxy = TestProxy::from_toml(&format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 100\n\
         [limits]\nmax_capture_bytes = \"2KiB\"\nmax_pending_bytes = \"1MiB\"\n\
         [primary]\nurl = \"{}\"\n[candidate]\nurl = \"{}\"\ntimeout = \"300ms\"\n",
        v1.url(),
        v2.url()
    ))
    .await;
    for path in ["/match", "/mismatch", "/error", "/big", "/slow"] {
        for _ in 0..3 {
            let (code, _, _) = get(&proxy.url(path)).await;
            assert!(code == 200 || code == 500);
        }
    }
    proxy.settle().await;
    let m = proxy.metrics().await;
    let route = ("route", "default");
    let mirrored = m.value("shadowdiff_mirrored_requests_total", &[route]);
    let outcome = |o: &str| m.value("shadowdiff_mirror_outcomes_total", &[route, ("outcome", o)]);
    assert_eq!(mirrored, 15.0);
    assert_eq!(outcome("match"), 6.0, "/match and both-500 /error");
    assert_eq!(outcome("mismatch"), 3.0);
    assert_eq!(outcome("candidate_error"), 3.0, "/slow timed out");
    assert_eq!(outcome("skipped"), 3.0, "/big over the capture cap");
    let sum: f64 = ["match", "mismatch", "candidate_error", "skipped"]
        .into_iter()
        .map(outcome)
        .sum();
    assert_eq!(sum, mirrored, "exactly one outcome each");
    assert_eq!(
        m.value(
            "shadowdiff_candidate_errors_total",
            &[route, ("kind", "status_5xx")]
        ),
        0.0,
        "a 5xx answer is an answer, not a candidate error"
    );

    let (_, _, body) = get(&format!("http://{}/api/summary", proxy.admin)).await;
    let summary: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let r = summary["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "default")
        .unwrap();
    let total: u64 = r["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[1].as_u64().unwrap())
        .sum();
    assert_eq!(total, r["mirrored"].as_u64().unwrap(), "{r}");
    proxy.running.shutdown().await;
}
