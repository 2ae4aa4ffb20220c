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

    // Exemplars, newest first: /orders/1 then /notes/1.
    let orders_at = dom
        .find("data-path=\"/orders/1\"")
        .expect("orders exemplar");
    let notes_at = dom.find("data-path=\"/notes/1\"").expect("notes exemplar");
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
