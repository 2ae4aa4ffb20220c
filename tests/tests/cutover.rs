//! Progressive cutover end to end: a canary walked up its schedule by healthy gates, rolled
//! back by an error burst, a slow v2 or a mismatch ratio, aborted by one command, resumed
//! after a restart, and v2 refusing connections without a client noticing. Time is compressed
//! by config (intervals of a few hundred milliseconds).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use shadowdiff_e2e::{client, closed_port, get, json, send, TestProxy, Upstream};

/// A JSON upstream that takes `delay` to answer, and answers 500 to every `fail_every`-th
/// request (0: never).
async fn service(body: &'static str, delay: Duration, fail_every: usize) -> Upstream {
    let n = Arc::new(AtomicUsize::new(0));
    Upstream::start(move |_| {
        let n = n.clone();
        async move {
            tokio::time::sleep(delay).await;
            let i = n.fetch_add(1, Ordering::SeqCst) + 1;
            if fail_every > 0 && i.is_multiple_of(fail_every) {
                let mut r = json(r#"{"error":"boom"}"#);
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                return r;
            }
            json(body)
        }
    })
    .await
}

fn config(primary: &str, candidate: &str, mirror: f64, cutover: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = {mirror}\n\
         [primary]\nurl = \"{primary}\"\n[candidate]\nurl = \"{candidate}\"\n\
         [budget]\nratio = 0.01\nmin_samples = 1\n\
         [cutover]\n{cutover}\n"
    )
}

async fn admin(proxy: &TestProxy, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", proxy.admin))
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The default route's cutover status.
async fn status(proxy: &TestProxy) -> Value {
    let (code, body) = admin(proxy, Method::GET, "/api/cutover?route=default", "").await;
    assert_eq!(code, StatusCode::OK);
    body["routes"][0].clone()
}

/// Clients sending GETs until stopped; counts answers by status.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(proxy: &TestProxy, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::default(), Arc::default());
        let tasks = (0..clients)
            .map(|_| {
                let (stop, ok, failed): (Arc<AtomicBool>, Arc<AtomicUsize>, Arc<AtomicUsize>) =
                    (stop.clone(), Arc::clone(&ok), Arc::clone(&failed));
                let url = proxy.url("/items");
                tokio::spawn(async move {
                    let c = client();
                    while !stop.load(Ordering::Relaxed) {
                        let (code, _, _) = send(&c, Method::GET, &url, Bytes::new()).await;
                        let counter = if code == StatusCode::OK { &ok } else { &failed };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Self {
            stop,
            ok,
            failed,
            tasks,
        }
    }

    async fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// Poll the cutover until `cond` holds, or panic with the last status after `limit`.
async fn wait_for(proxy: &TestProxy, limit: Duration, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let s = status(proxy).await;
        if cond(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "cutover never got there: {s:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const WALK: &str = r#"mode = "canary"
interval = "150ms"
failure_limit = 2
min_samples = 5
steps = [{weight = 10, hold = "300ms", min_requests = 20}, {weight = 25, hold = "300ms"}, {weight = 50, hold = "300ms"}, {weight = 100, hold = "300ms"}]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_v2_is_walked_to_promoted_with_no_client_error() {
    let v1 = service(r#"{"id":1}"#, Duration::from_millis(2), 0).await;
    let v2 = service(r#"{"id":1}"#, Duration::from_millis(2), 0).await;
    // Both answer in ~2 ms; timer jitter on a busy machine can make one p95 twice the other,
    // so this walk allows that — the latency gate's own test holds a real slowdown to 10 %.
    let cutover = format!("{WALK}\nmax_latency_increase = 2.0");
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2.url(), 0.0, &cutover)).await;
    let first = status(&proxy).await;
    assert_eq!(
        (first["state"].as_str(), first["weight"].as_f64()),
        (Some("progressing"), Some(10.0))
    );

    let load = Load::start(&proxy, 8);
    let done = wait_for(&proxy, Duration::from_secs(30), |s| {
        s["state"] == "promoted"
    })
    .await;
    let (ok, failed) = load.stop().await;
    assert_eq!(failed, 0, "client errors during the walk ({ok} ok)");
    assert_eq!(done["weight"], 100.0);
    let advanced: Vec<f64> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == "advance" && e["by"] == "auto")
        .map(|e| e["weight"].as_f64().unwrap())
        .collect();
    assert_eq!(advanced, [25.0, 50.0, 100.0], "{done:#}");

    // Promoted: v2 serves everything.
    let before = (v1.hits(), v2.hits());
    for _ in 0..20 {
        assert_eq!(get(&proxy.url("/items")).await.0, StatusCode::OK);
    }
    assert_eq!(v1.hits(), before.0, "v1 served a request after promotion");
    assert_eq!(v2.hits(), before.1 + 20);
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_cutover_weight", &[("route", "default")]),
        100.0
    );
    assert_eq!(
        m.value(
            "shadowdiff_cutover_state",
            &[("route", "default"), ("state", "promoted")]
        ),
        1.0
    );
    assert!(
        m.value(
            "shadowdiff_served_requests_total",
            &[
                ("route", "default"),
                ("backend", "v2"),
                ("code_class", "2xx")
            ]
        ) >= 20.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_burst_on_v2_rolls_back_and_calls_the_webhook() {
    let v1 = service(r#"{"id":1}"#, Duration::ZERO, 0).await;
    // Every 20th v2 answer is a 500: 5 % errors, ten times the default limit.
    let v2 = service(r#"{"id":1}"#, Duration::ZERO, 20).await;
    let hook = Upstream::json("{}").await;
    let cutover = format!(
        "mode = \"canary\"\ninterval = \"400ms\"\nfailure_limit = 2\nmin_samples = 20\n\
         webhook_url = \"{}/hooks/rollback\"\n\
         steps = [{{weight = 25, hold = \"1h\"}}, {{weight = 100, hold = \"1h\"}}]",
        hook.url()
    );
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2.url(), 0.0, &cutover)).await;
    let load = Load::start(&proxy, 8);
    let started = Instant::now();
    let s = wait_for(&proxy, Duration::from_secs(20), |s| s["state"] == "aborted").await;
    let took = started.elapsed();
    load.stop().await;
    let rb = &s["rollback"];
    assert_eq!(rb["gate"], "error_rate", "{s:#}");
    assert!(rb["value"].as_f64().unwrap() > 0.005, "{rb}");
    assert_eq!(
        (rb["max"].as_f64(), rb["weight"].as_f64()),
        (Some(0.005), Some(25.0))
    );
    assert_eq!(s["weight"], 0.0);
    // Two failing intervals of 400 ms, plus the first one's wait for enough samples.
    assert!(took < Duration::from_secs(5), "rolled back after {took:?}");

    // Afterwards no request reaches v2.
    let v2_hits = v2.hits();
    for _ in 0..50 {
        assert_eq!(get(&proxy.url("/items")).await.0, StatusCode::OK);
    }
    assert_eq!(v2.hits(), v2_hits);
    let m = proxy.metrics().await;
    assert_eq!(
        m.value(
            "shadowdiff_cutover_rollbacks_total",
            &[("route", "default"), ("reason", "error_rate")]
        ),
        1.0
    );
    assert!(
        m.value(
            "shadowdiff_cutover_gate_failures_total",
            &[("gate", "error_rate")]
        ) >= 2.0
    );

    shadowdiff_e2e::eventually(Duration::from_secs(5), || !hook.seen().is_empty()).await;
    let call = &hook.seen()[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/hooks/rollback")
    );
    let body: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        (body["event"].as_str(), body["gate"].as_str()),
        (Some("rollback"), Some("error_rate"))
    );
    assert_eq!(body["route"], "default");

    // Aborted stays aborted until an operator resumes; resume walks from the first step.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(status(&proxy).await["state"], "aborted");
    let (code, body) = admin(&proxy, Method::POST, "/api/cutover/resume", "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let s = status(&proxy).await;
    assert_eq!(
        (s["state"].as_str(), s["weight"].as_f64()),
        (Some("progressing"), Some(25.0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slower_v2_is_rolled_back_by_the_latency_gate() {
    let v1 = service(r#"{"id":1}"#, Duration::from_millis(20), 0).await;
    let v2 = service(r#"{"id":1}"#, Duration::from_millis(30), 0).await;
    let cutover = "mode = \"canary\"\ninterval = \"400ms\"\nfailure_limit = 2\nmin_samples = 5\n\
                   steps = [{weight = 50, hold = \"1h\"}]";
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2.url(), 0.0, cutover)).await;
    let load = Load::start(&proxy, 8);
    let s = wait_for(&proxy, Duration::from_secs(20), |s| s["state"] == "aborted").await;
    let (_, failed) = load.stop().await;
    assert_eq!(failed, 0);
    let rb = &s["rollback"];
    assert_eq!(rb["gate"], "latency", "{s:#}");
    // v2 answers 10 ms later than v1's 20 ms: its p95 is well over 10 % above v1's (less than
    // the 50 % of the sleeps alone on a busy machine, where both legs queue alike).
    let rise = rb["value"].as_f64().unwrap();
    assert!((0.1..1.0).contains(&rise), "{rise}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatch_ratio_over_budget_rolls_back() {
    let v1 = service(r#"{"id":1,"price":10}"#, Duration::ZERO, 0).await;
    let v2 = service(r#"{"id":1,"price":11}"#, Duration::ZERO, 0).await;
    let cutover = "mode = \"canary\"\ninterval = \"300ms\"\nfailure_limit = 2\nmin_samples = 5\n\
                   max_latency_increase = 100\nsteps = [{weight = 10, hold = \"1h\"}]";
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2.url(), 100.0, cutover)).await;
    let load = Load::start(&proxy, 4);
    let s = wait_for(&proxy, Duration::from_secs(20), |s| s["state"] == "aborted").await;
    load.stop().await;
    assert_eq!(s["rollback"]["gate"], "mismatch", "{s:#}");
    assert_eq!(s["rollback"]["value"], 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_refusing_connections_costs_get_clients_nothing() {
    let v1 = service(r#"{"id":1}"#, Duration::ZERO, 0).await;
    let v2 = closed_port().await;
    let cutover = "mode = \"canary\"\ninterval = \"200ms\"\nfailure_limit = 3\nmin_samples = 5\n\
                   steps = [{weight = 50, hold = \"1h\"}]";
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2, 0.0, cutover)).await;
    let load = Load::start(&proxy, 4);
    let s = wait_for(&proxy, Duration::from_secs(20), |s| s["state"] == "aborted").await;
    let (ok, failed) = load.stop().await;
    assert_eq!(failed, 0, "{ok} GETs answered, {failed} failed");
    assert_eq!(s["rollback"]["gate"], "error_rate");
    assert_eq!(s["rollback"]["value"], 1.0);
    let m = proxy.metrics().await;
    let fallbacks = m.value("shadowdiff_canary_fallbacks_total", &[("route", "default")]);
    assert!(fallbacks >= 5.0, "{fallbacks}");
    assert_eq!(
        m.value(
            "shadowdiff_served_requests_total",
            &[
                ("route", "default"),
                ("backend", "v2"),
                ("code_class", "error")
            ]
        ),
        fallbacks
    );
}

#[tokio::test]
async fn an_unsafe_method_goes_where_assigned_and_is_never_retried() {
    let v1 = service(r#"{"id":1}"#, Duration::ZERO, 0).await;
    let v2 = closed_port().await;
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2, 0.0, "mode = \"promoted\"")).await;
    let (code, _, _) = send(
        &client(),
        Method::POST,
        &proxy.url("/orders"),
        Bytes::from("{}"),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_GATEWAY);
    assert_eq!(v1.hits(), 0, "a POST was sent to v1 after v2 refused it");
    let (code, _, _) = get(&proxy.url("/orders")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v1.hits(), 1);
}

#[tokio::test]
async fn abort_takes_effect_on_the_next_request() {
    let v1 = service(r#"{"v":1}"#, Duration::ZERO, 0).await;
    let v2 = service(r#"{"v":2}"#, Duration::ZERO, 0).await;
    let proxy =
        TestProxy::from_toml(&config(&v1.url(), &v2.url(), 0.0, "mode = \"promoted\"")).await;
    assert_eq!(get(&proxy.url("/x")).await.2, r#"{"v":2}"#);
    let (code, body) = admin(&proxy, Method::POST, "/api/cutover/abort", "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["routes"]["default"]["state"], "aborted");
    assert_eq!(get(&proxy.url("/x")).await.2, r#"{"v":1}"#);
    let m = proxy.metrics().await;
    assert_eq!(
        m.value(
            "shadowdiff_cutover_rollbacks_total",
            &[("route", "default"), ("reason", "manual")]
        ),
        1.0
    );
    // A refused command says why, and changes nothing.
    let (code, body) = admin(&proxy, Method::POST, "/api/cutover/promote", "").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(
        body["routes"]["default"]["error"]
            .as_str()
            .unwrap()
            .contains("aborted"),
        "{body}"
    );
}

#[tokio::test]
async fn a_pinned_weight_serves_that_share_stickily() {
    let v1 = service(r#"{"v":1}"#, Duration::ZERO, 0).await;
    let v2 = service(r#"{"v":2}"#, Duration::ZERO, 0).await;
    let cutover =
        "mode = \"canary\"\nassign_by = \"header:x-user\"\nsteps = [{weight = 10, hold = \"1h\"}]";
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2.url(), 0.0, cutover)).await;
    let (code, _) = admin(
        &proxy,
        Method::PUT,
        "/api/cutover/weight",
        r#"{"weight": 30}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let c = client();
    let served = |user: usize| {
        let c = c.clone();
        let url = proxy.url("/x");
        async move {
            let req = http::Request::get(url)
                .header("x-user", format!("user-{user}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let resp = c.request(req).await.unwrap();
            resp.into_body().collect().await.unwrap().to_bytes() == r#"{"v":2}"#
        }
    };
    let mut on_v2 = Vec::new();
    for u in 0..400 {
        on_v2.push(served(u).await);
    }
    let share = on_v2.iter().filter(|b| **b).count();
    // 30 % of 400 users, give or take four standard deviations of a binomial (±37).
    assert!((83..=157).contains(&share), "{share} of 400 users on v2");
    // Raising the weight keeps every user already on v2 there.
    admin(
        &proxy,
        Method::PUT,
        "/api/cutover/weight",
        r#"{"weight": 60}"#,
    )
    .await;
    for (u, was_v2) in on_v2.iter().enumerate() {
        if *was_v2 {
            assert!(
                served(u).await,
                "user-{u} moved back to v1 when the weight rose"
            );
        }
    }
    let s = status(&proxy).await;
    assert_eq!(
        (s["state"].as_str(), s["weight"].as_f64()),
        (Some("paused"), Some(60.0))
    );
}

#[tokio::test]
async fn promoted_compares_v1_in_the_background() {
    let v1 = service(r#"{"id":1,"name":"old"}"#, Duration::ZERO, 0).await;
    let v2 = service(r#"{"id":1,"name":"new"}"#, Duration::ZERO, 0).await;
    let proxy =
        TestProxy::from_toml(&config(&v1.url(), &v2.url(), 100.0, "mode = \"promoted\"")).await;
    for _ in 0..10 {
        assert_eq!(
            get(&proxy.url("/items")).await.2,
            r#"{"id":1,"name":"new"}"#
        );
    }
    proxy.settle().await;
    assert_eq!(v1.hits(), 10, "v1 got the reverse-shadow copies");
    let m = proxy.metrics().await;
    assert_eq!(m.comparisons("default", "mismatch"), 10.0);
    // The pair reads v1 against v2 whichever served: v1's value is the expected one.
    let (_, _, body) = get(&format!("http://{}/api/mismatches?limit=1", proxy.admin)).await;
    let rec: Value = serde_json::from_slice(&body).unwrap();
    let text = rec.to_string();
    assert!(text.contains("old") && text.contains("new"), "{text}");
    let diff = &rec[0]["differences"][0];
    assert_eq!(
        (diff["primary"].as_str(), diff["candidate"].as_str()),
        (Some("\"old\""), Some("\"new\"")),
        "{rec:#}"
    );
}

#[tokio::test]
async fn a_restart_resumes_the_step_and_an_abort_stays() {
    let dir = std::env::temp_dir().join(format!("sd-cutover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let _ = std::fs::remove_file(&state);
    let v1 = service(r#"{"v":1}"#, Duration::ZERO, 0).await;
    let v2 = service(r#"{"v":2}"#, Duration::ZERO, 0).await;
    let cutover = format!(
        "mode = \"canary\"\nstate_file = \"{}\"\n\
         steps = [{{weight = 10, hold = \"1h\"}}, {{weight = 50, hold = \"1h\"}}, {{weight = 100, hold = \"1h\"}}]",
        state.display()
    );
    let text = config(&v1.url(), &v2.url(), 20.0, &cutover);

    let proxy = TestProxy::from_toml(&text).await;
    let (code, _) = admin(&proxy, Method::POST, "/api/cutover/promote", "").await;
    assert_eq!(code, StatusCode::OK);
    admin(
        &proxy,
        Method::PUT,
        "/api/mirror-percent",
        r#"{"percent": 0}"#,
    )
    .await;
    proxy.running.shutdown().await;

    let proxy = TestProxy::from_toml(&text).await;
    let s = status(&proxy).await;
    assert_eq!(
        (
            s["state"].as_str(),
            s["step"].as_u64(),
            s["weight"].as_f64()
        ),
        (Some("progressing"), Some(1), Some(50.0))
    );
    // The brake held across the restart too.
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_mirror_percent", &[("route", "default")]),
        0.0
    );
    admin(&proxy, Method::POST, "/api/cutover/abort", "").await;
    proxy.running.shutdown().await;

    let proxy = TestProxy::from_toml(&text).await;
    let s = status(&proxy).await;
    assert_eq!(
        (s["state"].as_str(), s["weight"].as_f64()),
        (Some("aborted"), Some(0.0))
    );
    for _ in 0..20 {
        assert_eq!(get(&proxy.url("/x")).await.2, r#"{"v":1}"#);
    }
    assert_eq!(s["rollback"]["gate"], "manual");
    proxy.running.shutdown().await;

    // A corrupt state file stops the start, naming the file.
    std::fs::write(&state, b"{ not json").unwrap();
    let cfg = config::Config::from_toml_str(&text, &config::Overrides::default()).unwrap();
    let err = shadowdiff::Shared::new(cfg)
        .err()
        .expect("a corrupt state file must stop the start");
    assert!(
        format!("{err:#}").contains(&state.display().to_string()),
        "{err:#}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_reload_keeps_the_live_cutover_and_the_brake() {
    let dir = std::env::temp_dir().join(format!("sd-cutover-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("shadowdiff.toml");
    let v1 = service(r#"{"v":1}"#, Duration::ZERO, 0).await;
    let v2 = service(r#"{"v":2}"#, Duration::ZERO, 0).await;
    let steps = "steps = [{weight = 10, hold = \"1h\"}, {weight = 50, hold = \"1h\"}]";
    let text = config(
        &v1.url(),
        &v2.url(),
        20.0,
        &format!("mode = \"canary\"\n{steps}"),
    );
    std::fs::write(&file, &text).unwrap();
    let cfg = config::Config::load(Some(&file), &config::Overrides::default()).unwrap();
    let shared = shadowdiff::Shared::new(cfg).unwrap();
    shared.set_reload_source(shadowdiff::ReloadSource {
        file: Some(file.clone()),
        overrides: Default::default(),
    });
    let running = shadowdiff::start(shared.clone()).await.unwrap();
    let proxy = TestProxy {
        addr: running.listen,
        admin: running.admin,
        running,
    };

    admin(&proxy, Method::POST, "/api/cutover/promote", "").await;
    admin(
        &proxy,
        Method::PUT,
        "/api/mirror-percent",
        r#"{"percent": 0}"#,
    )
    .await;
    // A reload with the same mode keeps step, weight and brake.
    std::fs::write(
        &file,
        text.replace("[cutover]", "[cutover]\nfailure_limit = 4"),
    )
    .unwrap();
    let (code, body) = admin(&proxy, Method::POST, "/api/reload", "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let s = status(&proxy).await;
    assert_eq!(
        (
            s["step"].as_u64(),
            s["weight"].as_f64(),
            s["failure_limit"].as_u64()
        ),
        (Some(1), Some(50.0), Some(4))
    );
    let m = proxy.metrics().await;
    assert_eq!(
        m.value("shadowdiff_mirror_percent", &[("route", "default")]),
        0.0
    );

    // A bad schedule is rejected on reload, and nothing changes.
    std::fs::write(
        &file,
        text.replace(
            steps,
            "steps = [{weight = 50, hold = \"1h\"}, {weight = 20, hold = \"1h\"}]",
        ),
    )
    .unwrap();
    let (code, body) = admin(&proxy, Method::POST, "/api/reload", "").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("cutover.steps[1].weight"),
        "{body}"
    );
    let s = status(&proxy).await;
    assert_eq!(
        (s["step"].as_u64(), s["weight"].as_f64()),
        (Some(1), Some(50.0))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_gate_over_its_max_rolls_back_and_no_series_holds() {
    let v1 = service(r#"{"id":1}"#, Duration::ZERO, 0).await;
    let v2 = service(r#"{"id":1}"#, Duration::ZERO, 0).await;
    // A Prometheus that has no series for the first gate's query and 0.9 for the second's.
    let prometheus = Upstream::start(|seen| async move {
        let value = if seen.path.contains("fleet_errors") {
            r#"[{"metric":{},"value":[1,"0.9"]}]"#
        } else {
            "[]"
        };
        json(&format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":{value}}}}}"#
        ))
    })
    .await;
    let p = prometheus.url();
    let cutover = format!(
        "mode = \"canary\"\ninterval = \"200ms\"\nfailure_limit = 2\nmin_samples = 1000000\n\
         steps = [{{weight = 10, hold = \"200ms\"}}, {{weight = 50, hold = \"1h\"}}]\n\
         [[cutover.gates]]\nname = \"quiet\"\nprometheus = \"{p}\"\nquery = 'sum(rate(nothing{{job=\"x\"}}[5m]))'\nmax = 1\n\
         [[cutover.gates]]\nname = \"fleet\"\nprometheus = \"{p}\"\nquery = \"fleet_errors\"\nmax = 0.5\n"
    );
    let proxy = TestProxy::from_toml(&config(&v1.url(), &v2.url(), 0.0, &cutover)).await;
    let s = wait_for(&proxy, Duration::from_secs(10), |s| s["state"] == "aborted").await;
    assert_eq!(s["rollback"]["gate"], "fleet", "{s:#}");
    assert_eq!(
        (
            s["rollback"]["value"].as_f64(),
            s["rollback"]["max"].as_f64()
        ),
        (Some(0.9), Some(0.5))
    );
    // Gates without data (the built-in ones, with too few samples; the empty query) never
    // advanced the first step.
    assert!(
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["what"] != "advance"),
        "{s:#}"
    );
    let quiet = s["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == "quiet")
        .cloned();
    assert_eq!(
        quiet.map(|g| g["verdict"].clone()),
        Some(Value::from("no_data"))
    );
    let asked = prometheus.seen();
    assert!(
        asked.iter().any(|r| r.path.starts_with(
            "/api/v1/query?query=sum%28rate%28nothing%7Bjob%3D%22x%22%7D%5B5m%5D%29%29"
        )),
        "{:?}",
        asked.first().map(|r| &r.path)
    );
}
