//! The adaptive mirror limit (`limits.adaptive_mirrors`), end to end: when v2 slows down the limit
//! falls well below the ceiling and mirrors are shed as `overloaded` while every client keeps
//! getting v1's answer at v1's speed; when v2 is fast again the limit climbs back and comparisons
//! resume. Off, the limit is the ceiling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use shadowdiff_e2e::{eventually, json, send, Metrics, TestProxy, Upstream};

const LIMIT: &str = "shadowdiff_mirror_concurrency_limit";

/// A v2 whose delay (ms) can be changed while it runs.
async fn v2_with_delay(delay: Arc<AtomicU64>) -> Upstream {
    Upstream::start(move |_| {
        let ms = delay.load(Ordering::Relaxed);
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            json(r#"{"a":1}"#)
        }
    })
    .await
}

/// `clients` keep-alive clients GETting in a loop until stopped; each call must be v1's 200 and
/// body. Returns the slowest call.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Duration>>,
}

impl Load {
    fn start(proxy: &TestProxy, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..clients)
            .map(|i| {
                let (stop, url) = (stop.clone(), proxy.url(&format!("/item/{i}")));
                tokio::spawn(async move {
                    let client = shadowdiff_e2e::client();
                    let mut slowest = Duration::ZERO;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let (status, _, body) =
                            send(&client, Method::GET, &url, Bytes::new()).await;
                        slowest = slowest.max(started.elapsed());
                        assert_eq!(status, 200);
                        assert_eq!(&body[..], br#"{"a":1}"#, "the client gets v1's body");
                    }
                    slowest
                })
            })
            .collect();
        Self { stop, tasks }
    }

    async fn stop(self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        let mut slowest = Duration::ZERO;
        for t in self.tasks {
            slowest = slowest.max(t.await.unwrap());
        }
        slowest
    }
}

fn scrape(proxy: &TestProxy) -> Metrics {
    Metrics(String::from_utf8(proxy.running.shared.metrics.encode()).unwrap())
}

#[tokio::test]
async fn a_slow_v2_lowers_the_limit_and_a_fast_one_raises_it_again() {
    let v1 = Upstream::json(r#"{"a":1}"#).await;
    let delay = Arc::new(AtomicU64::new(0));
    let v2 = v2_with_delay(delay.clone()).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        // The mirror thread level with the I/O thread: on a test machine busy with other
        // tests, a niced thread's scheduling delay reads as v2's latency and trims the limit.
        "mirror_percent = 100\n[limits]\nmax_in_flight_mirrors = 128\nbackground_nice = 0",
    )
    .await;
    let limit = || proxy.running.shared.metrics.mirror_concurrency_limit.get();
    assert_eq!(
        proxy.metrics().await.value(LIMIT, &[]),
        128.0,
        "exported, starting at the ceiling"
    );

    // v2 fast: its latency is learnt as normal.
    let load = Load::start(&proxy, 32);
    let mut seen = Vec::new();
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen.push(limit());
    }
    // A busy test machine's hiccups may trim it; nothing brings it near the floor.
    assert!(limit() > 48, "with v2 fast the limit stays high: {seen:?}");

    // v2 now answers after 500 ms: the limit falls to a quarter of the ceiling or less, and
    // what does not fit is shed; no client waits for v2.
    delay.store(500, Ordering::Relaxed);
    let before = scrape(&proxy).skipped("default", "overloaded");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(6);
    while limit() > 32 {
        assert!(
            Instant::now() < deadline,
            "the limit did not fall: {seen:?}"
        );
        seen.push(limit());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("limit with v2 slow: {seen:?}");
    let low = limit();
    let shed = scrape(&proxy).skipped("default", "overloaded") - before;
    assert!(shed > 0.0, "mirrors past the limit are shed as overloaded");
    let slowest = load.stop().await;
    assert!(
        slowest < Duration::from_millis(400),
        "a client waited {slowest:?} with v2 at 500 ms"
    );

    // v2 fast again: the limit climbs back and comparisons resume.
    delay.store(0, Ordering::Relaxed);
    proxy.settle().await;
    let matched = scrape(&proxy).comparisons("default", "match");
    let load = Load::start(&proxy, 32);
    eventually(Duration::from_secs(5), || limit() >= (4 * low).min(64)).await;
    eventually(Duration::from_secs(5), || {
        scrape(&proxy).comparisons("default", "match") >= matched + 500.0
    })
    .await;
    load.stop().await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert!(m.value(LIMIT, &[]) >= (4 * low).min(64) as f64);
    proxy.running.shutdown().await;
}

/// `adaptive_mirrors = false`: the limit is `max_in_flight_mirrors`, however slow v2 is.
#[tokio::test]
async fn off_the_limit_is_the_ceiling() {
    let v1 = Upstream::json(r#"{"a":1}"#).await;
    let delay = Arc::new(AtomicU64::new(0));
    let v2 = v2_with_delay(delay.clone()).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 100\n[limits]\nmax_in_flight_mirrors = 16\nadaptive_mirrors = false",
    )
    .await;
    let load = Load::start(&proxy, 8);
    tokio::time::sleep(Duration::from_millis(500)).await;
    delay.store(300, Ordering::Relaxed);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(
            proxy.running.shared.metrics.mirror_concurrency_limit.get(),
            16
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    load.stop().await;
    proxy.settle().await;
    let m = proxy.metrics().await;
    assert_eq!(m.value(LIMIT, &[]), 16.0);
    assert!(m.comparisons("default", "match") > 0.0);
    proxy.running.shutdown().await;
}

/// A reload that lowers the ceiling lowers the limit with it; one that turns adaptation off puts
/// the limit at the (new) ceiling.
#[tokio::test]
async fn a_reload_moves_the_bounds() {
    let v1 = Upstream::json(r#"{"a":1}"#).await;
    let v2 = Upstream::json(r#"{"a":1}"#).await;
    let text = |limits: &str| {
        format!(
            "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = 100\n[primary]\nurl = \"{}\"\n[candidate]\nurl = \"{}\"\n[limits]\n{limits}\n",
            v1.url(),
            v2.url()
        )
    };
    let proxy = TestProxy::from_toml(&text("max_in_flight_mirrors = 256")).await;
    let shared = proxy.running.shared.clone();
    let reload = |limits: &str| {
        let cfg = config::Config::from_toml_str(&text(limits), &config::Overrides::default())
            .expect("config");
        shared.reload(cfg).expect("reload");
    };
    let limit = || shared.metrics.mirror_concurrency_limit.get();
    assert_eq!(limit(), 256);
    reload("max_in_flight_mirrors = 64");
    assert_eq!(limit(), 64);
    reload("max_in_flight_mirrors = 32\nadaptive_mirrors = false");
    assert_eq!(limit(), 32);
    proxy.running.shutdown().await;
}

/// Mirrors and comparisons run on threads of their own, `limits.background_nice` steps below the
/// thread that serves v1 (what `top -H` shows as NI), so that when they compete for a core the
/// kernel serves v1 first.
#[tokio::test]
async fn mirrors_and_comparisons_run_on_threads_below_v1s_priority() {
    let v1 = Upstream::json(r#"{"a":1}"#).await;
    let v2 = Upstream::json(r#"{"a":1}"#).await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 100\n[limits]\nbackground_nice = 7",
    )
    .await;
    let client = shadowdiff_e2e::client();
    let (status, _, body) = send(&client, Method::GET, &proxy.url("/x"), Bytes::new()).await;
    assert_eq!((status.as_u16(), &body[..]), (200, &br#"{"a":1}"#[..]));
    proxy.settle().await;
    assert_eq!(proxy.metrics().await.comparisons("default", "match"), 1.0);
    let own = nice("/proc/thread-self/stat").1;
    let threads: Vec<(String, i64)> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| Some(nice(&format!("{}/stat", t.ok()?.path().display()))))
        .collect();
    // Other tests of this binary run proxies at the default (10) at the same time: ours are the
    // ones 7 below.
    for name in ["shadowdiff-mirr", "shadowdiff-comp"] {
        assert!(
            threads
                .iter()
                .any(|(n, v)| n.starts_with(name) && *v == own + 7),
            "a {name}* thread at niceness {}: {threads:?}",
            own + 7
        );
    }
    proxy.running.shutdown().await;
}

/// A thread's name and niceness from its `stat` (the name is in parentheses and may hold spaces).
fn nice(stat: &str) -> (String, i64) {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) else {
        return (String::new(), i64::MIN);
    };
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // Field 19 of stat(5) is the niceness; fields[0] is field 3.
    let value = fields
        .get(16)
        .and_then(|v| v.parse().ok())
        .unwrap_or(i64::MIN);
    (text[open + 1..close].to_owned(), value)
}
