//! The report page at `GET /` on the admin listener, rendered by a real headless Chromium: the
//! DOM is dumped after the page's script ran, and the assertions are on that DOM.
//!
//! Needs Chromium (`CHROMIUM=/path/to/chromium`, or `chromium` / `chromium-browser` on PATH).
//! Without it these tests fail, they do not skip: CI installs it in `.ci/run`. Locally:
//! `apt-get install chromium`. Set `SHADOWDIFF_REPORT_SCREENSHOT=/tmp/report.png` to also save a
//! screenshot of the populated page.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use shadowdiff_e2e::{get, json, TestProxy, Upstream};

const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);
const SCRIPT_PAYLOAD: &str = "<script>document.title='pwned'</script><img src=x id=pwned>";

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "headless Chromium is required for the report page tests and was not found \
         (looked at $CHROMIUM, then chromium and chromium-browser on PATH). Install it with \
         `apt-get update && apt-get install -y chromium` (Debian/Ubuntu; CI does this in .ci/run), \
         or point CHROMIUM at the binary."
    );
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "shadowdiff-report-{tag}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run headless Chromium on `url` with `extra` flags; its stdout. Blocking: call it from
/// `spawn_blocking` so the in-process servers keep serving.
fn run_chromium(url: &str, extra: &[String]) -> String {
    let bin = chromium();
    let tmp = TempDir::new("chromium");
    let profile = tmp.0.join("profile");
    let out_path = tmp.0.join("stdout");
    let err_path = tmp.0.join("stderr");
    let mut child = Command::new(&bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {CHROMIUM_TIMEOUT:?}; stderr:\n{}",
                read(&err_path)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = read(&out_path);
    assert!(
        status.success(),
        "chromium exited with {status}; stderr:\n{}",
        read(&err_path)
    );
    out
}

fn read(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

/// The rendered DOM of `url`, after the page's script ran (5 s of virtual time).
async fn dump_dom(url: String) -> String {
    let dom = tokio::task::spawn_blocking(move || run_chromium(&url, &["--dump-dom".into()]))
        .await
        .unwrap();
    assert!(dom.contains("<html"), "no DOM dumped:\n{dom}");
    dom
}

async fn screenshot(url: String, path: String) {
    tokio::task::spawn_blocking(move || {
        run_chromium(
            &url,
            &[
                format!("--screenshot={path}"),
                "--window-size=1280,900".into(),
                "--hide-scrollbars".into(),
            ],
        )
    })
    .await
    .unwrap();
}

/// The element that carries `marker` (an attribute, e.g. `data-route="orders"`), up to the end
/// of the first `close` tag after it.
fn element<'a>(dom: &'a str, marker: &str, close: &str) -> &'a str {
    let start = dom
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the rendered DOM:\n{dom}"));
    let rest = &dom[start..];
    let end = rest
        .find(close)
        .unwrap_or_else(|| panic!("{marker} not closed by {close}"));
    &rest[..end + close.len()]
}

/// The own text (up to its first child tag) of the first element in `fragment` whose class list
/// holds `class`.
fn text_of<'a>(fragment: &'a str, class: &str) -> &'a str {
    let mut rest = fragment;
    while let Some(at) = rest.find("class=\"") {
        rest = &rest[at + 7..];
        let classes = &rest[..rest.find('"').unwrap()];
        if classes.split_whitespace().any(|c| c == class) {
            let open = rest.find('>').unwrap() + 1;
            let len = rest[open..].find('<').unwrap();
            return &rest[open..open + len];
        }
    }
    panic!("no .{class} in {fragment}")
}

#[tokio::test]
async fn report_page_renders_routes_rates_and_exemplars_side_by_side() {
    let v1 = Upstream::start(|seen| async move {
        json(match seen.path.as_str() {
            "/orders/1" => r#"{"id":1,"total":10,"currency":"EUR"}"#,
            "/notes/1" => r#"{"id":1,"note":"fine"}"#,
            _ => r#"{"id":7,"name":"ada"}"#,
        })
    })
    .await;
    let v2 = Upstream::start(|seen| async move {
        match seen.path.as_str() {
            "/orders/1" => json(r#"{"id":1,"total":12,"currency":"EUR"}"#),
            "/notes/1" => json(&serde_json::json!({"id": 1, "note": SCRIPT_PAYLOAD}).to_string()),
            _ => json(r#"{"name":"ada","id":7}"#),
        }
    })
    .await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 100\n\
         [budget]\nmin_samples = 1\n\
         [[routes]]\nname = \"orders\"\npath_prefix = \"/orders\"\n",
    )
    .await;
    get(&proxy.url("/users/7")).await; // default: match (key order only)
    get(&proxy.url("/notes/1")).await; // default: mismatch at /note, hostile value
    get(&proxy.url("/orders/1")).await; // orders: mismatch at /total
    proxy.settle().await;

    // Served from the binary with strict headers.
    let admin = format!("http://{}/", proxy.admin);
    let (status, headers, body) = get(&admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'unsafe-inline'",
        "style-src 'unsafe-inline'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "CSP {csp:?} lacks {directive:?}");
    }
    assert_eq!(&body[..], shadowdiff::admin::report::PAGE.as_bytes());

    let dom = dump_dom(admin.clone()).await;

    // Header: version and breaker state; refreshed.
    assert!(dom.contains(&format!("id=\"version\">{}<", env!("CARGO_PKG_VERSION"))));
    assert!(dom.contains(">closed</span>"), "breaker state shown");
    assert!(
        !dom.contains("id=\"last-updated\">never<"),
        "last updated set"
    );
    assert!(
        dom.contains("id=\"error-banner\" role=\"alert\" hidden=\"\""),
        "no error banner on success"
    );
    assert!(
        dom.contains("id=\"empty-state\" class=\"empty\" hidden=\"\""),
        "empty state hidden once something was compared"
    );

    // Route rows: counts, rate against budget.
    let orders = element(&dom, "<tr data-route=\"orders\"", "</tr>");
    assert_eq!(text_of(orders, "compared"), "1");
    assert_eq!(text_of(orders, "matched"), "0");
    assert_eq!(text_of(orders, "mismatched"), "1");
    assert_eq!(text_of(orders, "rate-text"), "100%");
    assert_eq!(text_of(orders, "budget"), "0.1%");
    assert!(orders.contains("data-state=\"over\""), "{orders}");
    assert!(orders.contains("width: 100%"), "bar full when over budget");
    assert!(orders.contains("budget exceeded"), "{orders}");
    assert!(orders.contains("data-key=\"/total\""), "top path listed");

    let default = element(&dom, "<tr data-route=\"default\"", "</tr>");
    assert_eq!(text_of(default, "compared"), "2");
    assert_eq!(text_of(default, "matched"), "1");
    assert_eq!(text_of(default, "mismatched"), "1");
    assert_eq!(text_of(default, "rate-text"), "50%");

    // Exemplars, newest first: /orders/1 then /notes/1 (in the recent list; the signatures
    // above it carry their own copies, ordered by count).
    let recent = &dom[dom.find("id=\"exemplars\"").expect("recent mismatches")..];
    let orders_at = recent
        .find("data-path=\"/orders/1\"")
        .expect("orders exemplar");
    let notes_at = recent
        .find("data-path=\"/notes/1\"")
        .expect("notes exemplar");
    assert!(orders_at < notes_at, "newest first");
    let ex = element(
        &dom,
        "<section class=\"exemplar\" data-route=\"orders\" data-path=\"/orders/1\"",
        "</section>",
    );
    assert_eq!(text_of(ex, "path"), "/orders/1");
    assert_eq!(text_of(ex, "method"), "GET");
    let diff = element(ex, "data-pointer=\"/total\"", "</tr>");
    assert!(diff.contains("<code>/total</code>"), "{diff}");
    let (v1_cell, v2_cell) = (text_of(diff, "v1"), text_of(diff, "v2"));
    assert_eq!((v1_cell, v2_cell), ("10", "12"), "v1 | v2 side by side");
    assert!(diff.find("data-field=\"v1\"") < diff.find("data-field=\"v2\""));

    // A hostile value from v2 is text, not markup.
    let note = element(&dom, "data-pointer=\"/note\"", "</tr>");
    let v2_note = text_of(note, "v2");
    assert!(
        v2_note.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x"),
        "escaped: {v2_note}"
    );
    assert!(
        !dom.contains("<script>document.title"),
        "no injected script"
    );
    assert!(!dom.contains("id=\"pwned\""), "no injected element");
    assert!(dom.contains("<title>shadowdiff report</title>"));

    if let Ok(path) = std::env::var("SHADOWDIFF_REPORT_SCREENSHOT") {
        screenshot(admin, path).await;
    }
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn report_page_shows_an_empty_state_before_any_comparison() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), "mirror_percent = 100").await;
    let dom = dump_dom(format!("http://{}/", proxy.admin)).await;
    assert!(
        dom.contains("id=\"empty-state\" class=\"empty\">no comparisons yet<"),
        "empty state visible:\n{dom}"
    );
    assert!(dom.contains("id=\"no-exemplars\" class=\"empty\">no mismatches recorded<"));
    let row = element(&dom, "<tr data-route=\"default\"", "</tr>");
    assert_eq!(text_of(row, "compared"), "0");
    assert_eq!(text_of(row, "rate-text"), "0%");
    // Shadow mode everywhere: one line saying so, no cutover card.
    assert!(
        dom.contains("id=\"cutover-off\" class=\"empty slim\">cutover not running: every route is in shadow mode"),
        "cutover off line visible:\n{dom}"
    );
    assert!(
        !dom.contains("<section class=\"cutover\""),
        "no cutover card"
    );
    // No findings yet: one line each, the noise one saying how to start learning.
    assert!(
        dom.contains("id=\"no-signatures\" class=\"empty slim\">no mismatch signatures yet<"),
        "{dom}"
    );
    let off = element(&dom, "id=\"noise-off\"", "</p>");
    assert!(!off.contains("hidden"), "{off}");
    assert!(off.contains("<code>[noise] percent = 1</code>"), "{off}");
    assert!(!dom.contains("<section class=\"noise\""), "no noise card");
    proxy.running.shutdown().await;
}

/// The page served by a stand-in admin whose API works once and then fails: the banner shows
/// and the data from the first fetch stays on the page.
#[tokio::test]
async fn report_page_shows_a_banner_on_fetch_errors_and_keeps_the_last_data() {
    let summaries = Arc::new(AtomicUsize::new(0));
    let admin = Upstream::start(move |seen| {
        let summaries = summaries.clone();
        async move {
            match seen.path.as_str() {
                "/" => shadowdiff::admin::report::page(),
                "/api/summary" if summaries.fetch_add(1, Ordering::SeqCst) == 0 => json(
                    r#"{"version":"9.9.9","breaker_open":true,"mirrors_in_flight":0,
                    "compare_queue_depth":0,"pending_bytes":0,"routes":[{"route":"kept",
                    "mirror_percent":10.0,"requests":40,"mirrored":4,"compared":4,"matched":3,
                    "mismatched":1,"skipped":[["breaker_open",2]],"window_rate":0.25,
                    "window_compared":4,"budget":0.5,"min_samples":100,"budget_exceeded":false,
                    "top_paths":[["/x",1]],"first_path":"/x"}]}"#,
                ),
                "/api/mismatches?limit=20" => json("[]"),
                _ => {
                    let mut r = json(r#"{"error":"down"}"#);
                    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    r
                }
            }
        }
    })
    .await;
    let dom = dump_dom(format!("{}/", admin.url())).await;
    let banner = element(&dom, "id=\"error-banner\"", "</div>");
    assert!(!banner.contains("hidden"), "banner visible: {banner}");
    assert!(banner.contains("HTTP 503"), "{banner}");
    let kept = element(&dom, "<tr data-route=\"kept\"", "</tr>");
    assert_eq!(text_of(kept, "compared"), "4");
    assert_eq!(text_of(kept, "rate-text"), "25%");
    assert!(kept.contains("data-state=\"ok\""), "{kept}");
    assert!(kept.contains("width: 50"), "bar at half the budget: {kept}");
    assert!(
        kept.contains("data-key=\"breaker_open\""),
        "skip reason listed"
    );
    assert!(dom.contains("id=\"version\">9.9.9<"));
    assert!(
        dom.contains("data-open=\"true\">open<"),
        "breaker open shown"
    );
}

/// The cutover card of `route`.
fn cutover_card<'a>(dom: &'a str, route: &str) -> &'a str {
    element(
        dom,
        &format!("<section class=\"cutover\" data-route=\"{route}\""),
        "</section>",
    )
}

/// A proxy in canary at 25 %: the page shows it walking, then rolled back by v2's errors.
#[tokio::test]
async fn report_page_shows_a_canary_and_its_rollback() {
    let v1 = Upstream::json(r#"{"id":1}"#).await;
    let v2 = Upstream::start(|_| async {
        let mut r = json(r#"{"error":"boom"}"#);
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
    .await;
    let proxy = TestProxy::from_toml(&format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 0\n\
         [primary]\nurl = \"{}\"\n[candidate]\nurl = \"{}\"\n\
         [cutover]\nmode = \"canary\"\ninterval = \"200ms\"\nfailure_limit = 2\nmin_samples = 5\n\
         steps = [{{weight = 25, hold = \"1h\"}}, {{weight = 100, hold = \"1h\"}}]\n",
        v1.url(),
        v2.url()
    ))
    .await;
    let admin = format!("http://{}/", proxy.admin);

    // Before any traffic: walking, on the first of two steps.
    let dom = dump_dom(admin.clone()).await;
    assert!(
        dom.contains("id=\"cutover-off\" class=\"empty slim\" hidden=\"\""),
        "no 'not running' line during a canary"
    );
    let card = cutover_card(&dom, "default");
    assert!(card.contains("data-state=\"progressing\""), "{card}");
    assert_eq!(text_of(card, "state"), "progressing");
    assert_eq!(text_of(card, "mode"), "mode canary");
    assert_eq!(text_of(card, "where"), "step 1 of 2, 25%");
    let next = text_of(card, "next");
    assert!(
        next == "next: step 2 in 1h" || next.starts_with("next: step 2 in 59m"),
        "{next}"
    );
    let current = element(card, "aria-current=\"step\"", "</li>");
    assert!(current.contains("25% · hold 1h"), "{current}");
    assert!(current.contains("◀ current"), "{current}");
    assert!(
        card.contains(&format!(
            "shadowdiff ctl abort --admin http://{} --route default",
            proxy.admin
        )),
        "{card}"
    );
    let start = element(card, "<tr class=\"event\" data-what=\"start\"", "</tr>");
    assert_eq!(text_of(start, "by"), "automatic");

    // v2 answers 500 to everything: the error-rate gate fails twice in a row and rolls back.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for _ in 0..20 {
            get(&proxy.url("/x")).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (_, _, body) = get(&format!("http://{}/api/cutover", proxy.admin)).await;
        let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if status["routes"][0]["state"] == "aborted" {
            break;
        }
        assert!(Instant::now() < deadline, "never rolled back: {status:#}");
    }

    let dom = dump_dom(admin).await;
    let card = cutover_card(&dom, "default");
    assert!(card.contains("data-state=\"aborted\""), "{card}");
    let badge = element(card, "class=\"badge state", "</span>");
    assert!(
        badge.contains("bad") && badge.contains(">aborted<"),
        "{badge}"
    );
    assert_eq!(text_of(card, "where"), "weight 0%");
    assert!(
        !card.contains("class=\"next\""),
        "no next step once aborted"
    );
    assert!(
        !card.contains("aria-current"),
        "no current step once aborted"
    );

    // Why: the gate, what it read, its threshold and the weight it rolled back from.
    let rollback = element(card, "class=\"rollback\"", "</div>");
    assert!(rollback.contains(">Rolled back<"), "{rollback}");
    assert_eq!(text_of(rollback, "gate"), "error_rate");
    assert_eq!(text_of(rollback, "value"), "100%");
    assert_eq!(text_of(rollback, "max"), "0.5%");
    assert_eq!(text_of(rollback, "from"), "25%");

    let gate = element(card, "<tr data-gate=\"error_rate\"", "</tr>");
    assert_eq!(text_of(gate, "max"), "0.5%");
    assert!(text_of(gate, "failing").ends_with(" of 2"), "{gate}");

    // Newest first: the rollback above the start.
    let rolled = card.find("data-what=\"rollback\"").expect("rollback event");
    let started = card.find("data-what=\"start\"").expect("start event");
    assert!(rolled < started, "newest first");
    let event = element(card, "data-what=\"rollback\"", "</tr>");
    assert!(
        text_of(event, "detail").starts_with("error_rate at 1.0000"),
        "{event}"
    );
    assert!(card.contains("shadowdiff ctl resume --admin"), "{card}");

    if let Ok(path) = std::env::var("SHADOWDIFF_REPORT_SCREENSHOT") {
        screenshot(
            format!("http://{}/", proxy.admin),
            path.replace(".png", "-cutover.png"),
        )
        .await;
    }
    proxy.running.shutdown().await;
}

/// States a real proxy reaches only slowly, served by a stand-in admin: a step whose hold is
/// over but still needs requests, a failing Prometheus gate, an operator's abort, more events
/// than shown, a route in shadow mode (not shown) and hostile text in names and details.
#[tokio::test]
async fn report_page_shows_cutover_details_as_text() {
    let events: Vec<serde_json::Value> = (1..=12)
        .map(|i| {
            serde_json::json!({"at": 1_765_000_000 + i * 60, "what": "advance", "by": "auto",
                "weight": 25.0, "detail": if i == 12 { SCRIPT_PAYLOAD.to_owned() } else { format!("event {i}") }})
        })
        .collect();
    let cutover = serde_json::json!({"routes": [
        {"route": "orders", "mode": "canary", "state": "progressing", "step": 1, "weight": 25.0,
         "steps": [{"weight": 10.0, "hold_seconds": 300.0, "min_requests": 500},
                   {"weight": 25.0, "hold_seconds": 300.0, "min_requests": 500},
                   {"weight": 50.0, "hold_seconds": 300.0, "min_requests": 500},
                   {"weight": 100.0, "hold_seconds": 300.0, "min_requests": 500}],
         "interval_seconds": 60.0, "failure_limit": 3, "step_requests": 120, "passing_intervals": 1,
         "hold_left_seconds": 0.0,
         "gates": [
            {"gate": "error_rate", "value": 0.001, "max": 0.005, "verdict": "pass", "samples": 400, "failing_intervals": 0},
            {"gate": "latency", "value": null, "max": 0.1, "verdict": "no_data", "samples": 3, "failing_intervals": 0},
            {"gate": SCRIPT_PAYLOAD, "value": 3.45678, "max": 2.0, "verdict": "fail", "samples": 0, "failing_intervals": 2}],
         "rollback": null, "history": [], "events": events},
        {"route": "search", "mode": "canary", "state": "aborted", "step": 0, "weight": 0.0,
         "steps": [{"weight": 10.0, "hold_seconds": 60.0, "min_requests": 0}],
         "interval_seconds": 0.2, "failure_limit": 2, "step_requests": 0, "passing_intervals": 0,
         "hold_left_seconds": null, "gates": [],
         "rollback": {"gate": "manual", "value": null, "max": null, "weight": 10.0, "at": 1_765_000_000},
         "history": [], "events": [{"at": 1_765_000_000, "what": "abort", "by": "manual", "weight": 0.0, "detail": "manual"}]},
        {"route": "quiet", "mode": "shadow"}
    ]})
    .to_string();
    let admin = Upstream::start(move |seen| {
        let cutover = cutover.clone();
        async move {
            match seen.path.as_str() {
                "/" => shadowdiff::admin::report::page(),
                "/api/summary" => json(
                    r#"{"version":"9.9.9","breaker_open":false,"mirrors_in_flight":0,
                    "compare_queue_depth":0,"pending_bytes":0,"routes":[]}"#,
                ),
                "/api/mismatches?limit=20" => json("[]"),
                "/api/signatures" => json(r#"{"signatures":[],"evicted":0}"#),
                "/api/noise/suggestions" => json(r#"{"routes":[]}"#),
                "/api/cutover" => json(&cutover),
                _ => {
                    let mut r = json(r#"{"error":"not found"}"#);
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    r
                }
            }
        }
    })
    .await;
    let page = format!("{}/", admin.url());
    let dom = dump_dom(page.clone()).await;
    assert!(dom.contains("id=\"cutover-off\" class=\"empty slim\" hidden=\"\""));
    assert!(
        !dom.contains("data-route=\"quiet\""),
        "shadow routes have no card"
    );

    let orders = cutover_card(&dom, "orders");
    assert_eq!(text_of(orders, "where"), "step 2 of 4, 25%");
    assert_eq!(
        text_of(orders, "next"),
        "next: step 3 once it has 120 of 500 requests and 1 of 3 passing intervals"
    );
    let current = element(
        orders,
        "<li class=\"current\" data-step=\"2\" aria-current=\"step\"",
        "</li>",
    );
    assert!(
        current.contains("25% · hold 5m · min 500 requests"),
        "{current}"
    );
    assert!(
        orders.contains("<li class=\"done\" data-step=\"1\">10%"),
        "{orders}"
    );
    assert!(!orders.contains("class=\"rollback\""), "no rollback shown");

    let error_rate = element(orders, "<tr data-gate=\"error_rate\"", "</tr>");
    assert_eq!(text_of(error_rate, "value"), "0.1%");
    assert_eq!(text_of(error_rate, "max"), "0.5%");
    assert_eq!(text_of(error_rate, "verdict"), "pass");
    let latency = element(orders, "<tr data-gate=\"latency\"", "</tr>");
    assert_eq!(text_of(latency, "value"), "–");
    assert_eq!(text_of(latency, "max"), "+10%");
    assert_eq!(text_of(latency, "verdict"), "no data");
    let prom = element(orders, "data-verdict=\"fail\"", "</tr>");
    assert_eq!(text_of(prom, "value"), "3.457");
    assert_eq!(text_of(prom, "max"), "2");
    assert_eq!(text_of(prom, "failing"), "2 of 3");
    assert!(prom.contains("badge verdict bad"), "{prom}");

    // The last ten events, newest first.
    assert_eq!(orders.matches("<tr class=\"event\"").count(), 10);
    let e11 = orders.find(">event 11<").expect("event 11");
    let e3 = orders.find(">event 3<").expect("event 3");
    assert!(e11 < e3, "newest first");
    assert!(!orders.contains(">event 2<"), "older events left out");

    let search = cutover_card(&dom, "search");
    assert!(search.contains("data-state=\"aborted\""), "{search}");
    let rollback = element(search, "class=\"rollback\"", "</div>");
    assert!(rollback.contains(">Aborted by an operator<"), "{rollback}");
    assert_eq!(text_of(rollback, "from"), "10%");
    assert!(search.contains("no interval judged yet"), "{search}");
    assert_eq!(text_of(search, "by"), "operator");
    assert!(search.contains("shadowdiff ctl resume --admin"), "{search}");

    // Names and details from the API are text, never markup.
    assert!(
        orders.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "escaped: {orders}"
    );
    assert!(
        !dom.contains("<script>document.title"),
        "no injected script"
    );
    assert!(!dom.contains("id=\"pwned\""), "no injected element");
    assert!(dom.contains("<title>shadowdiff report</title>"));

    if let Ok(path) = std::env::var("SHADOWDIFF_REPORT_SCREENSHOT") {
        screenshot(page, path.replace(".png", "-cutover-details.png")).await;
    }
}

/// A service answering `{"request_id": <unique>, "price": P}` with `x-served-by: name`; the price
/// is 11 instead of 10 when `rare_price` and the path starts with `/rare`.
async fn priced(name: &'static str, rare_price: bool) -> Upstream {
    let n = Arc::new(AtomicUsize::new(0));
    Upstream::start(move |seen| {
        let n = n.clone();
        async move {
            let i = n.fetch_add(1, Ordering::SeqCst);
            let price = if rare_price && seen.path.starts_with("/rare") {
                11
            } else {
                10
            };
            let mut r = json(&format!(r#"{{"request_id":"{name}-{i}","price":{price}}}"#));
            r.headers_mut().insert("x-served-by", name.parse().unwrap());
            r
        }
    })
    .await
}

async fn admin_json(proxy: &TestProxy, path: &str) -> serde_json::Value {
    let (status, _, body) = get(&format!("http://{}{path}", proxy.admin)).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    serde_json::from_slice(&body).unwrap()
}

/// The signature of `list` whose item paths are exactly `paths` (sorted).
fn signature_with<'a>(list: &'a serde_json::Value, paths: &[&str]) -> &'a serde_json::Value {
    list["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            let mut p: Vec<&str> = s["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["path"].as_str().unwrap())
                .collect();
            p.sort_unstable();
            p == paths
        })
        .unwrap_or_else(|| panic!("no signature {paths:?} in {list:#}"))
}

/// A real proxy whose v2 differs from v1 by a request id and its deployment name on every
/// answer, and by the price on 3 paths of 60: the signatures lead with the frequent kind and
/// keep the rare one beside it, and the noise panel proposes the id and the name, not the price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_page_leads_with_signatures_and_shows_the_noise_suggestions() {
    let v1 = priced("v1", false).await;
    let v2 = priced("v2", true).await;
    let proxy = TestProxy::from_toml(&format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 100\n\
         [primary]\nurl = \"{}\"\n[candidate]\nurl = \"{}\"\n\
         [noise]\npercent = 100\nmin_samples = 20\n\
         [[routes]]\nname = \"quiet\"\npath_prefix = \"/quiet\"\n",
        v1.url(),
        v2.url()
    ))
    .await;
    for i in 0..60 {
        let path = if i % 20 == 7 {
            format!("/rare/{i}")
        } else {
            format!("/users/{i}")
        };
        let (status, _, _) = get(&proxy.url(&path)).await;
        assert_eq!(status, StatusCode::OK);
    }
    proxy.settle().await;

    // What the page is expected to show, as the APIs have it.
    let sigs = admin_json(&proxy, "/api/signatures").await;
    let frequent = signature_with(&sigs, &["/request_id", "x-served-by"]);
    let rare = signature_with(&sigs, &["/price", "/request_id", "x-served-by"]);
    assert_eq!(
        (frequent["count"].as_u64(), rare["count"].as_u64()),
        (Some(57), Some(3))
    );
    let noise = admin_json(&proxy, "/api/noise/suggestions?route=default").await;
    let route = &noise["routes"][0];
    assert_eq!(route["learning"], false, "{noise:#}");
    let toml = route["toml"].as_str().unwrap();
    assert!(toml.contains(r#"ignore_paths = ["/request_id"]"#), "{toml}");
    assert!(
        toml.contains(r#"ignore_headers = ["x-served-by"]"#),
        "{toml}"
    );
    assert!(!toml.contains("price"), "{toml}");

    let admin = format!("http://{}/", proxy.admin);
    let dom = dump_dom(admin.clone()).await;
    assert!(
        dom.contains("id=\"error-banner\" role=\"alert\" hidden=\"\""),
        "no error banner"
    );

    // The signatures lead the findings: above the noise and the recent mismatches.
    let at = |marker: &str| dom.find(marker).unwrap_or_else(|| panic!("{marker}"));
    assert!(at("id=\"signatures\"") < at("id=\"noise\""));
    assert!(at("id=\"noise\"") < at("id=\"exemplars\""));
    assert!(dom.contains("id=\"signature-count\">(2, most frequent first)<"));
    let details = |s: &serde_json::Value| {
        element(
            &dom,
            &format!("data-id=\"{}\"", s["id"].as_str().unwrap()),
            "</details>",
        )
    };
    let (freq, rare_card) = (details(frequent), details(rare));
    assert!(
        dom.find(freq).unwrap() < dom.find(rare_card).unwrap(),
        "most frequent first"
    );
    assert_eq!(text_of(freq, "sig-count"), "57");
    assert_eq!(text_of(freq, "sig-share"), "95%");
    assert_eq!(text_of(rare_card, "sig-count"), "3");
    assert_eq!(text_of(rare_card, "sig-share"), "5%");
    // A header is shown by its name, a body place by its JSON Pointer.
    let header = element(
        freq,
        "data-part=\"headers\" data-path=\"x-served-by\"",
        "</span></span>",
    );
    assert!(
        header.contains("header </span><code>x-served-by</code>"),
        "{header}"
    );
    let price = element(rare_card, "data-path=\"/price\"", "</span></span>");
    assert!(price.contains("<code>/price</code>"), "{price}");
    assert!(price.contains("changed"), "{price}");
    assert!(
        rare_card.contains("<code class=\"example-path\">/rare/7</code>"),
        "{rare_card}"
    );
    assert!(rare_card.contains("class=\"first-seen\""), "{rare_card}");
    // Expanding the rare one shows its exemplars, v1 | v2 side by side.
    let ex = element(rare_card, "<section class=\"exemplar\"", "</section>");
    let diff = element(ex, "data-pointer=\"/price\"", "</tr>");
    assert_eq!((text_of(diff, "v1"), text_of(diff, "v2")), ("10", "11"));
    // The route table links to the route's signatures.
    let row = element(&dom, "<tr data-route=\"default\"", "</tr>");
    assert!(row.contains("href=\"#signatures=default\""), "{row}");

    // The noise panel: learned, with the evidence for the id and the deployment name.
    let card = element(
        &dom,
        "<section class=\"noise\" data-route=\"default\"",
        "</section>",
    );
    assert!(card.contains("data-learning=\"false\""), "{card}");
    let baseline = route["baseline_comparisons"].as_u64().unwrap();
    let compared = route["comparisons"].as_u64().unwrap();
    assert!(baseline >= 20, "{noise:#}");
    assert_eq!(
        text_of(card, "progress"),
        format!("learned from {baseline} v1-against-v1 and {compared} v1-against-v2 comparisons")
    );
    let id = element(card, "data-path=\"/request_id\"", "</tr>");
    assert!(id.contains("data-reason=\"differs_in_v1\""), "{id}");
    assert!(
        text_of(id, "reason").starts_with("v1 differs from itself here about as often as from v2"),
        "{id}"
    );
    assert_eq!(text_of(id, "v1v1"), format!("100% of {baseline}"));
    assert_eq!(text_of(id, "v1v2"), format!("100% of {compared}"));
    let served_by = element(card, "data-path=\"x-served-by\"", "</tr>");
    assert!(
        served_by.contains("data-reason=\"deployment_identity\""),
        "{served_by}"
    );
    assert!(
        served_by.contains("header </span><code>x-served-by</code>"),
        "{served_by}"
    );
    assert!(
        !card.contains("/price"),
        "a real change is not noise: {card}"
    );
    assert_eq!(text_of(card, "toml"), toml, "the lines to paste, verbatim");
    assert!(card.contains(">copy</button>"), "{card}");
    // The quiet route has seen nothing, so the learner has nothing to say about it.
    assert!(!dom.contains("<section class=\"noise\" data-route=\"quiet\""));

    // The link's target: one route's signatures, or none with a line saying so.
    let filtered = dump_dom(format!("{admin}#signatures=default")).await;
    assert!(filtered.contains("id=\"signature-count\">(2, most frequent first)<"));
    let filter = element(&filtered, "id=\"signature-filter\"", "</p>");
    assert!(!filter.contains("hidden"), "{filter}");
    assert!(filter.contains("route <b>default</b> only"), "{filter}");
    let quiet = dump_dom(format!("{admin}#signatures=quiet")).await;
    assert!(
        quiet.contains(
            "id=\"no-signatures\" class=\"empty slim\">no mismatch signatures on this route<"
        ),
        "{quiet}"
    );
    assert!(!quiet.contains("<details class=\"signature\""), "{quiet}");

    if let Ok(path) = std::env::var("SHADOWDIFF_REPORT_SCREENSHOT") {
        screenshot(admin, path.replace(".png", "-findings.png")).await;
    }
    proxy.running.shutdown().await;
}

/// Signatures and noise with hostile text everywhere the APIs carry text, a route still
/// learning, a trailer, more signatures than shown and evicted ones, from a stand-in admin.
#[tokio::test]
async fn report_page_shows_signatures_and_noise_as_text() {
    let exemplar = serde_json::json!({"time_ms": 1_765_000_000_000u64, "route": SCRIPT_PAYLOAD,
        "method": "GET", "path": format!("/x/{SCRIPT_PAYLOAD}"), "primary_status": 200,
        "candidate_status": 200, "truncated": false, "note": SCRIPT_PAYLOAD,
        "differences": [{"part": "body", "path": format!("/{SCRIPT_PAYLOAD}"), "kind": "changed",
                         "primary": SCRIPT_PAYLOAD, "candidate": "1"}]});
    let mut signatures = vec![serde_json::json!({"id": "hostile", "route": SCRIPT_PAYLOAD,
        "items": [{"part": "body", "path": format!("/{SCRIPT_PAYLOAD}"), "kind": "type_changed"},
                  {"part": "headers", "path": SCRIPT_PAYLOAD, "kind": "added"},
                  {"part": "headers", "path": "trailer:grpc-message", "kind": "changed"},
                  {"part": "status", "path": "", "kind": "changed"}],
        "count": 1_000_000, "share": 0.5, "first_seen_ms": 1_765_000_000_000u64,
        "last_seen_ms": 1_765_000_100_000u64, "exemplars": [exemplar],
        "example_paths": [SCRIPT_PAYLOAD]})];
    for i in 0..60 {
        signatures.push(serde_json::json!({"id": format!("s{i}"), "route": "r",
            "items": [{"part": "body", "path": format!("/f{i}"), "kind": "changed"}],
            "count": 60 - i, "share": 0.001, "first_seen_ms": 0, "last_seen_ms": 0,
            "exemplars": [], "example_paths": []}));
    }
    let signatures = serde_json::json!({"signatures": signatures, "evicted": 7}).to_string();
    let noise = serde_json::json!({"routes": [
        {"route": SCRIPT_PAYLOAD, "baseline_comparisons": 300, "comparisons": 400,
         "min_samples": 100, "learning": false,
         "suggestions": [{"part": "body", "path": format!("/{SCRIPT_PAYLOAD}"), "reason": "differs_in_v1",
                          "v1_v1_rate": 0.5, "v1_v2_rate": 0.25, "v1_v1_samples": 300,
                          "v1_v2_samples": 400, "z": -1.234, "rule": "ignore_paths", "rel": null},
                         {"part": "body", "path": "/items/*/score", "reason": "differs_in_v1",
                          "v1_v1_rate": 1.0, "v1_v2_rate": 1.0, "v1_v1_samples": 300,
                          "v1_v2_samples": 400, "z": 0.0, "rule": "tolerances", "rel": 0.004}],
         "toml": format!("[compare]\nignore_paths = [\"/{SCRIPT_PAYLOAD}\"]\n")},
        {"route": "young", "baseline_comparisons": 5, "comparisons": 9, "min_samples": 100,
         "learning": true, "suggestions": [], "toml": ""}]})
    .to_string();
    let admin = Upstream::start(move |seen| {
        let (signatures, noise) = (signatures.clone(), noise.clone());
        async move {
            match seen.path.as_str() {
                "/" => shadowdiff::admin::report::page(),
                "/api/summary" => json(
                    r#"{"version":"9.9.9","breaker_open":false,"mirrors_in_flight":0,
                    "compare_queue_depth":0,"pending_bytes":0,"routes":[]}"#,
                ),
                "/api/mismatches?limit=20" => json("[]"),
                "/api/cutover" => json(r#"{"routes":[]}"#),
                "/api/signatures" => json(&signatures),
                "/api/noise/suggestions" => json(&noise),
                _ => {
                    let mut r = json(r#"{"error":"not found"}"#);
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    r
                }
            }
        }
    })
    .await;
    let dom = dump_dom(format!("{}/", admin.url())).await;
    assert!(
        dom.contains("id=\"error-banner\" role=\"alert\" hidden=\"\""),
        "no error banner"
    );

    // At most 50 shown, and the reader told of the rest and of the evicted.
    assert_eq!(dom.matches("<details class=\"signature\"").count(), 50);
    assert!(dom.contains("id=\"signature-count\">(61, most frequent first)<"));
    assert!(
        dom.contains("showing the 50 most frequent of 61 · 7 rarer signatures dropped past report.max_signatures"),
        "{dom}"
    );
    let card = element(&dom, "data-id=\"hostile\"", "</details>");
    assert_eq!(text_of(card, "sig-count"), "1,000,000");
    assert_eq!(text_of(card, "sig-share"), "50%");
    assert!(
        card.contains("trailer </span><code>grpc-message</code>"),
        "{card}"
    );
    assert!(card.contains(">status</span>"), "{card}");
    assert!(card.contains("type changed"), "{card}");

    // The hostile route comes first, as the API lists it.
    let noise = element(&dom, "<section class=\"noise\"", "</section>");
    assert!(!noise.contains("young"), "{noise}");
    let row = element(noise, "data-reason=\"differs_in_v1\"", "</tr>");
    assert_eq!(text_of(row, "v1v1"), "50% of 300");
    assert_eq!(text_of(row, "v1v2"), "25% of 400");
    assert!(text_of(row, "reason").ends_with("(z = -1.23)"), "{row}");
    let score = element(noise, "data-path=\"/items/*/score\"", "</tr>");
    assert!(
        score.contains("<code>tolerances</code> rel 0.004"),
        "{score}"
    );
    let young = element(
        &dom,
        "<section class=\"noise\" data-route=\"young\"",
        "</section>",
    );
    assert!(young.contains(">learning</span>"), "{young}");
    assert!(
        young.contains("learning: 5 of 100 baseline comparisons"),
        "{young}"
    );
    assert!(young.contains("nothing judged noise yet"), "{young}");
    assert!(!young.contains("<pre"), "no lines to paste: {young}");
    assert!(
        dom.contains("id=\"noise-off\" class=\"empty slim\" hidden=\"\""),
        "no 'nothing learned' line"
    );

    // Every hostile string is text: escaped, never an element or a script.
    for (what, fragment) in [("signature", card), ("noise", noise)] {
        assert!(
            fragment.contains(
                "&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x id=pwned&gt;"
            ),
            "{what} escaped: {fragment}"
        );
    }
    assert!(
        !dom.contains("<script>document.title"),
        "no injected script"
    );
    assert!(!dom.contains("<img src=\"x\""), "no injected element");
    assert!(!dom.contains("id=\"pwned\""), "no injected element");
    assert!(dom.contains("<title>shadowdiff report</title>"));
}
