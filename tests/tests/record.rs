//! Record and replay end to end (issue 16): real sockets, in-process upstreams, the recorder's
//! files read back with zstd, and replays judged against v2s that agree or drift.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use shadowdiff::record::replay::{self, Args};
use shadowdiff::record::writer;
use shadowdiff_e2e::{client, closed_port, Seen, TestProxy, Upstream};

/// Exchanges recorded through the proxy: the issue asks for 10,000 unless that takes over
/// ~10 s; a debug build on 2 shared cores does it in a few seconds.
const EXCHANGES: usize = 10_000;
const CONCURRENCY: usize = 32;

const BEARER: &str = "tok-SECRET-0123456789";
const SESSION: &str = "sess-SECRET-abcdefgh";
const API_KEY: &str = "key-SECRET-ABCDEFGH";
const SET_COOKIE: &str = "sid-SECRET-set-cookie";
const SSN: &str = "123-45-SECRET";
const QUERY_TOKEN: &str = "qt-SECRET-0123456789";

/// v1 (and an identical v2): users echo the caller's token and carry a redacted path; orders
/// have a total that a drifting v2 changes.
async fn service(seen: Seen, drift: bool) -> Response<Full<Bytes>> {
    let (kind, id) = seen.path.rsplit_once('/').unwrap_or(("", "0"));
    let id: u64 = id.parse().unwrap_or(0);
    let (body, cookie) = if kind == "/orders" {
        let total = id * 10 + u64::from(drift);
        (
            format!(r#"{{"id":{id},"total":{total},"items":[{id},2,3]}}"#),
            None,
        )
    } else {
        let echo = seen
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        (
            format!(r#"{{"id":{id},"name":"user {id}","ssn":"{SSN}","echo":"{echo}"}}"#),
            Some(format!("sid={SET_COOKIE}; Path=/")),
        )
    };
    let mut r = shadowdiff_e2e::json(&body);
    if let Some(c) = cookie {
        r.headers_mut().insert("set-cookie", c.parse().unwrap());
    }
    r
}

async fn upstream(drift: bool) -> Upstream {
    Upstream::start(move |seen| service(seen, drift)).await
}

fn config(dir: &Path) -> String {
    format!(
        r#"
mirror_percent = 50
[record]
percent = 100
dir = "{}"
include_candidate = true
max_file_bytes = "16KiB"
max_files = 1000
[report]
redact_headers = ["x-api-key"]
redact_paths = ["/ssn"]
[[routes]]
name = "users"
path_template = "/users/{{id}}"
[routes.compare]
ignore_paths = ["/echo"]
[[routes]]
name = "orders"
path_template = "/orders/{{id}}"
"#,
        dir.display()
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shadowdiff-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Drive `n` GETs over `CONCURRENCY` connections, alternating users and orders, with secrets.
async fn drive(proxy: &TestProxy, n: usize) {
    let c = client();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (c, next, base) = (c.clone(), next.clone(), proxy.url(""));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let path = if i % 2 == 0 { "users" } else { "orders" };
                let req = Request::get(format!(
                    "{base}/{path}/{}?page=2&access_token={QUERY_TOKEN}",
                    i % 100
                ))
                .header("authorization", format!("Bearer {BEARER}"))
                .header("cookie", format!("session={SESSION}; theme=dark"))
                .header("x-api-key", API_KEY)
                .body(Full::new(Bytes::new()))
                .unwrap();
                let resp = c.request(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                resp.into_body().collect().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Every line of every recording file, decompressed.
fn lines(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .flat_map(|f| {
            let bytes = zstd::decode_all(std::fs::File::open(f).unwrap()).unwrap();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn args(files: Vec<PathBuf>, candidate: String, config: &Path) -> Args {
    Args {
        files,
        candidate,
        primary: None,
        config: Some(config.to_path_buf()),
        rate: None,
        concurrency: Some(CONCURRENCY),
        speed: None,
        report: None,
        junit: None,
        headers: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_then_replay_judges_v2_by_route_and_path() {
    let dir = temp_dir("record");
    let (v1, v2) = (upstream(false).await, upstream(false).await);
    let cfg = config(&dir);
    let proxy = TestProxy::start(&v1.url(), &v2.url(), &cfg).await;
    let started = Instant::now();
    drive(&proxy, EXCHANGES).await;
    let driven = started.elapsed();
    proxy.settle().await;
    let shared = proxy.running.shared.clone();
    proxy.running.shutdown().await;
    let m = &shared.metrics.record;
    assert_eq!(
        m.written.get() as usize,
        EXCHANGES,
        "recorded {EXCHANGES} in {driven:?}"
    );
    assert!(m.written_bytes.get() > 0);

    let files = writer::list(&dir).unwrap();
    assert!(files.len() > 1, "max_file_bytes rotated the files");
    let all = lines(&files);
    assert_eq!(all.len(), EXCHANGES);
    for secret in [BEARER, SESSION, API_KEY, SET_COOKIE, SSN, QUERY_TOKEN] {
        assert!(
            !all.iter().any(|l| l.contains(secret)),
            "{secret} was recorded"
        );
    }
    let first: serde_json::Value = serde_json::from_str(&all[0]).unwrap();
    assert_eq!(first["version"], 1);
    let mirrored = all.iter().filter(|l| l.contains("\"candidate\":")).count();
    assert!(
        mirrored > 0 && mirrored < EXCHANGES,
        "include_candidate keeps v2 for mirrored requests only ({mirrored})"
    );
    assert!(all.iter().any(|l| l.contains(r#""result":"match""#)));
    assert!(all.iter().any(|l| l.contains(r#""result":"not_mirrored""#)));

    let config_file = dir.with_extension("toml");
    std::fs::write(&config_file, &cfg).unwrap();

    // v2 identical to v1: nothing differs, every route within budget.
    let same = replay::run(args(files.clone(), v2.url(), &config_file))
        .await
        .unwrap();
    assert_eq!(same.exchanges as usize, EXCHANGES);
    let compared: u64 = same.routes.iter().map(|r| r.summary.compared).sum();
    let mismatched: u64 = same.routes.iter().map(|r| r.summary.mismatched).sum();
    assert_eq!((compared as usize, mismatched), (EXCHANGES, 0));
    assert_eq!(same.exit_code(), 0);

    // v2 that changes /total on orders: that endpoint and that path, exit 1, in JUnit too.
    let drifted = upstream(true).await;
    let junit = dir.with_extension("xml");
    let report = dir.with_extension("json");
    let mut a = args(files.clone(), drifted.url(), &config_file);
    a.junit = Some(junit.clone());
    a.report = Some(report.clone());
    let out = replay::run(a).await.unwrap();
    assert_eq!(out.over_budget, ["orders"]);
    assert_eq!(out.exit_code(), 1);
    let orders = out
        .routes
        .iter()
        .find(|r| r.summary.route == "orders")
        .unwrap();
    assert_eq!(orders.summary.mismatched as usize, EXCHANGES / 2);
    assert_eq!(orders.summary.top_paths[0].0, "/total");
    let users = out
        .routes
        .iter()
        .find(|r| r.summary.route == "users")
        .unwrap();
    assert_eq!(users.summary.mismatched, 0);
    // Grouped by signature: one kind of mismatch, on every comparison of orders (and none
    // carried over from anything the proxy learned: the replay starts its own run).
    assert_eq!(orders.signatures.len(), 1, "{:?}", orders.signatures);
    let sig = &orders.signatures[0];
    assert_eq!(sig.text(), "body /total changed");
    assert_eq!(sig.count as usize, EXCHANGES / 2);
    assert!((sig.share - 1.0).abs() < 1e-9, "{}", sig.share);
    assert!(users.signatures.is_empty());
    // What v2 got from the replay: marked as a mirror, and no recorded credential.
    let seen = drifted.seen();
    assert_eq!(seen.len(), EXCHANGES);
    assert!(seen.iter().all(|s| s.headers["x-shadowdiff-mirror"] == "1"));
    assert!(seen
        .iter()
        .all(|s| s.headers.get("authorization").is_none() && s.headers.get("cookie").is_none()));
    assert!(
        seen.iter().all(|s| s.path.ends_with("?page=2")),
        "the query is replayed"
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit is well-formed XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2, "one test case per route");
    let failed: Vec<_> = cases
        .iter()
        .filter_map(|c| {
            let f = c.children().find(|n| n.has_tag_name("failure"))?;
            Some((c.attribute("name")?, f.attribute("message")?.to_owned()))
        })
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "orders");
    assert!(failed[0].1.contains("/total"), "{}", failed[0].1);
    let failure_text = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .and_then(|f| f.text())
        .unwrap_or_default();
    assert!(
        failure_text.contains("100.0 % of comparisons: body /total changed"),
        "{failure_text}"
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["over_budget"][0], "orders");
    let route = json["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "orders")
        .unwrap();
    assert_eq!(route["signatures"][0]["differs"][0]["path"], "/total");

    for f in [&config_file, &junit, &report] {
        let _ = std::fs::remove_file(f);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A recorded GET of `/orders/{id}`, written by hand as a line of the format.
/// A recording file in `dir`: these lines, zstd-compressed.
fn recording(dir: &Path, name: &str, lines: impl Iterator<Item = String>) -> PathBuf {
    let text: String = lines.map(|l| l + "\n").collect();
    let path = dir.join(name);
    std::fs::write(&path, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
    path
}

fn order_line(id: u64) -> String {
    format!(
        r#"{{"version":1,"time":"2026-01-01T00:00:00.000Z","route":"default","method":"GET","uri":"/orders/{id}","request":{{"headers":[]}},"primary":{{"status":200,"headers":[["content-type","application/json"]],"body":"{{\"id\":{id},\"total\":{},\"items\":[{id},2,3]}}","latency_ms":1.0}},"verdict":{{"result":"not_mirrored"}}}}"#,
        id * 10
    )
}

#[tokio::test]
async fn corrupt_lines_and_truncated_files_are_reported_and_the_rest_replays() {
    let dir = temp_dir("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    let v2 = upstream(false).await;
    let text = format!("{}\n{{not json\n{}\n", order_line(1), order_line(2));
    let good = dir.join("good.jsonl.zst");
    std::fs::write(&good, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
    // A second file cut short inside its compressed stream: what precedes the cut replays.
    // Flushed line by line, as the recorder flushes every second, so the stream has blocks.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    for i in 3..200 {
        use std::io::Write as _;
        enc.write_all((order_line(i) + "\n").as_bytes()).unwrap();
        enc.flush().unwrap();
    }
    let whole = enc.finish().unwrap();
    let cut = dir.join("cut.jsonl.zst");
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let config_file = dir.join("empty.toml");
    std::fs::write(&config_file, "").unwrap();

    let out = replay::run(args(
        vec![good.clone(), cut.clone()],
        v2.url(),
        &config_file,
    ))
    .await
    .unwrap();
    assert_eq!(out.corrupt_lines.len(), 1);
    assert!(
        out.corrupt_lines[0].starts_with(&format!("{}:2:", good.display())),
        "{:?}",
        out.corrupt_lines
    );
    assert_eq!(out.truncated_files.len(), 1, "{:?}", out.truncated_files);
    assert!(
        out.exchanges >= 3 && out.exchanges < 199,
        "{}",
        out.exchanges
    );
    assert_eq!(out.exit_code(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Workers parse the lines they send, side by side: every bad line is still reported once, with
/// its own file and line number, in the order of the files, paced or not.
#[tokio::test]
async fn corrupt_lines_spread_over_many_batches_are_each_reported_in_file_order() {
    let dir = temp_dir("corrupt-batches");
    std::fs::create_dir_all(&dir).unwrap();
    let v2 = upstream(false).await;
    // Several batches of lines per file, bad lines in different batches and both files.
    let file = |name: &str, n: u64, bad: &[u64]| {
        let text: String = (1..=n)
            .map(|i| {
                if bad.contains(&i) {
                    "{\"version\":1,\"cut\n".to_owned()
                } else {
                    order_line(i) + "\n"
                }
            })
            .collect();
        let path = dir.join(name);
        std::fs::write(&path, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
        path
    };
    let a = file("a.jsonl.zst", 300, &[5, 70, 200, 300]);
    let b = file("b.jsonl.zst", 100, &[1, 99]);
    let config_file = dir.join("empty.toml");
    std::fs::write(&config_file, "").unwrap();
    let want: Vec<String> = [(&a, 5), (&a, 70), (&a, 200), (&a, 300), (&b, 1), (&b, 99)]
        .iter()
        .map(|(f, n)| format!("{}:{n}:", f.display()))
        .collect();

    for rate in [None, Some(4000.0)] {
        let out = replay::run(Args {
            rate,
            ..args(vec![a.clone(), b.clone()], v2.url(), &config_file)
        })
        .await
        .unwrap();
        let got: Vec<&String> = out.corrupt_lines.iter().collect();
        assert_eq!(got.len(), want.len(), "rate {rate:?}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.starts_with(w), "rate {rate:?}: {got:?}");
        }
        assert_eq!(out.exchanges, 394, "rate {rate:?}");
        assert_eq!(out.exit_code(), 0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_unreachable_v2_is_a_clear_error_not_a_hang() {
    let dir = temp_dir("unreachable");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("one.jsonl.zst");
    let line = r#"{"version":1,"time":"2026-01-01T00:00:00.000Z","route":"default","method":"GET","uri":"/","request":{"headers":[]},"primary":{"status":200,"headers":[],"latency_ms":1.0},"verdict":{"result":"not_mirrored"}}"#;
    std::fs::write(&file, zstd::encode_all(line.as_bytes(), 3).unwrap()).unwrap();
    let config_file = dir.join("empty.toml");
    std::fs::write(&config_file, "").unwrap();
    let started = Instant::now();
    let err = replay::run(args(vec![file], closed_port().await, &config_file))
        .await
        .expect_err("an unreachable v2 fails the replay");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(err.to_string().contains("unreachable"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_unwritable_directory_never_fails_a_client_request() {
    // Tests run as root, whom file modes do not stop: a directory under a regular file cannot
    // be created by anyone.
    let base = temp_dir("unwritable");
    std::fs::create_dir_all(&base).unwrap();
    let file = base.join("a-file");
    std::fs::write(&file, "").unwrap();
    let (v1, v2) = (upstream(false).await, upstream(false).await);
    let proxy = TestProxy::start(&v1.url(), &v2.url(), &config(&file.join("record"))).await;
    drive(&proxy, 200).await;
    proxy.settle().await;
    let shared = proxy.running.shared.clone();
    proxy.running.shutdown().await;
    let m = &shared.metrics.record;
    assert_eq!(m.written.get(), 0);
    let failed = m.dropped(shadowdiff::observe::outcome::RecordDropReason::WriteFailed);
    assert_eq!(failed, 200, "every exchange is counted as not written");
    let _ = std::fs::remove_dir_all(&base);
}

/// A replay run with the proxy's own config — the point of `--config` — next to the proxy, or
/// on a CI machine where the proxy's paths do not exist: it neither needs nor touches what the
/// proxy keeps (`state_dir`'s store, which the running proxy holds locked, and
/// `cutover.state_file`).
#[tokio::test]
async fn a_replay_with_the_proxys_config_leaves_the_proxys_state_alone() {
    let dir = temp_dir("replay-state");
    std::fs::create_dir_all(&dir).unwrap();
    let v1 = upstream(false).await;
    let v2 = upstream(false).await;
    let state = dir.join("state");
    let cutover_file = dir.join("cutover.json");
    let shared = format!(
        "state_dir = \"{}\"\n[cutover]\nstate_file = \"{}\"\n",
        state.display(),
        cutover_file.display()
    );
    let proxy = TestProxy::start(&v1.url(), &v2.url(), &shared).await;
    let store = state.join("shadowdiff.redb");
    assert!(store.exists(), "the proxy holds its store");
    // The proxy writes its cutover state once at start, off its I/O thread.
    shadowdiff_e2e::eventually(Duration::from_secs(5), || cutover_file.exists()).await;
    let before = std::fs::read(&store).unwrap();
    let cutover_before = std::fs::read(&cutover_file).unwrap();

    let file = recording(&dir, "orders.jsonl.zst", (1..=20).map(order_line));
    let config_file = dir.join("proxy.toml");
    std::fs::write(&config_file, &shared).unwrap();
    let out = replay::run(args(vec![file.clone()], v2.url(), &config_file))
        .await
        .expect("a replay beside the running proxy runs");
    let compared: u64 = out.routes.iter().map(|r| r.summary.compared).sum();
    assert_eq!((compared, out.exit_code()), (20, 0));
    assert_eq!(
        std::fs::read(&store).unwrap(),
        before,
        "the store is untouched"
    );
    assert_eq!(std::fs::read(&cutover_file).unwrap(), cutover_before);

    // The same config on a machine where its state paths cannot even be created.
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, "").unwrap();
    // Nor the listener's certificate, nor the admin token: a replay serves nobody; nor v2's
    // certificates when v2 is reached over plain HTTP.
    let missing = |name: &str| blocker.join(name).display().to_string();
    let elsewhere = format!(
        "state_dir = \"{}\"\n[cutover]\nstate_file = \"{}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n[admin_auth]\ntoken_file = \"{}\"\n[primary]\nurl = \"https://v1.internal\"\nprotocol = \"h2\"\nca_file = \"{}\"\n[candidate]\nca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
        missing("state"),
        missing("cutover.json"),
        missing("cert.pem"),
        missing("key.pem"),
        missing("admin-token"),
        missing("ca.pem"),
        missing("v2-ca.pem"),
        missing("v2-cert.pem"),
        missing("v2-key.pem"),
    );
    std::fs::write(&config_file, elsewhere).unwrap();
    let out = replay::run(args(vec![file], v2.url(), &config_file))
        .await
        .expect("a replay needs none of the proxy's own files");
    assert_eq!(out.exit_code(), 0);
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A replay that compared nothing has passed nothing: every request skipped (here POSTs, and no
/// route allows unsafe methods) is exit 2, not "within budget"; a route that judged nothing
/// beside one that did is named, and a JUnit test case of its own is skipped, not passed.
#[tokio::test]
async fn a_replay_that_compared_nothing_passes_nothing() {
    let dir = temp_dir("unjudged");
    std::fs::create_dir_all(&dir).unwrap();
    let v2 = upstream(false).await;
    let post = |id: u64| {
        order_line(id).replace(
            r#""method":"GET","uri":"/orders/"#,
            r#""method":"POST","uri":"/users/"#,
        )
    };
    let config_file = dir.join("routes.toml");
    std::fs::write(
        &config_file,
        "[[routes]]\nname = \"users\"\npath_template = \"/users/{id}\"\n[[routes]]\nname = \"orders\"\npath_template = \"/orders/{id}\"\n",
    )
    .unwrap();
    let only_posts = recording(&dir, "posts.jsonl.zst", (1..=10).map(post));
    let out = replay::run(args(vec![only_posts.clone()], v2.url(), &config_file))
        .await
        .unwrap();
    assert_eq!(out.unjudged, ["users"]);
    assert_eq!(out.exit_code(), 2, "nothing compared is no verdict");
    assert_eq!(v2.hits(), 0);

    let gets = recording(&dir, "gets.jsonl.zst", (1..=10).map(order_line));
    let junit = dir.join("out.xml");
    let mut a = args(vec![only_posts, gets], v2.url(), &config_file);
    a.junit = Some(junit.clone());
    let out = replay::run(a).await.unwrap();
    assert_eq!(out.unjudged, ["users"]);
    assert_eq!(out.exit_code(), 0, "orders compared, within budget");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let skipped: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|c| c.children().any(|n| n.has_tag_name("skipped")))
        .filter_map(|c| c.attribute("name"))
        .collect();
    assert_eq!(skipped, ["users"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Recorded credentials are redacted, so an authenticated v2 refuses every replayed request —
/// and with --primary, a live v1 refuses them too, and two refusals compare equal. `--header`
/// gives both sides a test credential.
#[tokio::test]
async fn a_test_credential_from_the_command_line_reaches_both_sides() {
    let dir = temp_dir("credential");
    std::fs::create_dir_all(&dir).unwrap();
    let guarded = || {
        Upstream::start(|seen: Seen| async move {
            let ok = seen
                .headers
                .get("authorization")
                .is_some_and(|v| v == "Bearer ci-token");
            if ok {
                service(seen, false).await
            } else {
                let mut r = shadowdiff_e2e::json(r#"{"error":"unauthorized"}"#);
                *r.status_mut() = http::StatusCode::UNAUTHORIZED;
                r
            }
        })
    };
    let (v1, v2) = (guarded().await, guarded().await);
    let file = recording(&dir, "orders.jsonl.zst", (1..=10).map(order_line));
    let config_file = dir.join("empty.toml");
    std::fs::write(&config_file, "").unwrap();
    let credential = vec![(
        http::HeaderName::from_static("authorization"),
        http::HeaderValue::from_static("Bearer ci-token"),
    )];

    let without = replay::run(args(vec![file.clone()], v2.url(), &config_file))
        .await
        .unwrap();
    assert_eq!(
        without.exit_code(),
        1,
        "v2 refused every request: 401 against 200"
    );
    assert_eq!(
        (without.refused_by_v2, without.refused_by_v1),
        (10, 0),
        "and says so"
    );
    let with = replay::run(Args {
        headers: credential.clone(),
        ..args(vec![file.clone()], v2.url(), &config_file)
    })
    .await
    .unwrap();
    let matched: u64 = with.routes.iter().map(|r| r.summary.matched).sum();
    assert_eq!((matched, with.exit_code()), (10, 0));
    assert_eq!(with.refused_by_v2, 0);

    // Staging A/B without a credential: both sides refuse, and two refusals compare equal —
    // the replay passes, and says what it passed on.
    let blind = replay::run(Args {
        primary: Some(v1.url()),
        ..args(vec![file.clone()], v2.url(), &config_file)
    })
    .await
    .unwrap();
    assert_eq!(blind.exit_code(), 0);
    assert_eq!((blind.refused_by_v1, blind.refused_by_v2), (10, 10));

    // Staging A/B: v1 live, guarded as well; both sides get the credential.
    let before = v1.hits();
    let seen_before = v1.seen().len();
    let ab = replay::run(Args {
        headers: credential,
        primary: Some(v1.url()),
        ..args(vec![file], v2.url(), &config_file)
    })
    .await
    .unwrap();
    assert_eq!(v1.hits() - before, 10);
    assert!(v1.seen()[seen_before..]
        .iter()
        .all(|s| s.headers["authorization"] == "Bearer ci-token"));
    let matched: u64 = ab.routes.iter().map(|r| r.summary.matched).sum();
    assert_eq!((matched, ab.exit_code()), (10, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Recordings from two proxies (a sidecar per pod) cover the same stretch of time. At the
/// recorded pace, v2 gets their requests interleaved as they were recorded — not one pod's
/// whole stretch at pace and then the other's at once.
#[tokio::test]
async fn at_the_recorded_pace_two_pods_recordings_interleave_by_time() {
    let dir = temp_dir("speed");
    std::fs::create_dir_all(&dir).unwrap();
    let v2 = upstream(false).await;
    // Pod a at 0, 2, 4, 6 s; pod b at 1, 3, 5, 7 s: at 20× a request every 50 ms.
    let at = |second: u64, id: u64| {
        order_line(id).replace("00:00:00.000Z", &format!("00:00:{second:02}.000Z"))
    };
    let pod_a = recording(&dir, "a.jsonl.zst", (0..4).map(|i| at(2 * i, 100 + i)));
    let pod_b = recording(&dir, "b.jsonl.zst", (0..4).map(|i| at(2 * i + 1, 200 + i)));
    let config_file = dir.join("empty.toml");
    std::fs::write(&config_file, "").unwrap();
    let mut a = args(vec![pod_a, pod_b], v2.url(), &config_file);
    (a.speed, a.concurrency) = (Some(20.0), None);
    let started = Instant::now();
    let out = replay::run(a).await.unwrap();
    let took = started.elapsed();
    assert_eq!(out.exit_code(), 0);
    let order: Vec<String> = v2.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        order,
        [100, 200, 101, 201, 102, 202, 103, 203].map(|id| format!("/orders/{id}")),
    );
    assert!(took >= Duration::from_millis(340), "paced: {took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With v1 live and `[noise] percent`, a replay asks v1 a second time, learns what v1 differs
/// from itself in (a timestamp), and proposes the rule for it — not for what only v2 changes.
#[tokio::test]
async fn a_replay_against_a_live_v1_learns_its_noise_and_proposes_the_rules() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = temp_dir("noise");
    std::fs::create_dir_all(&dir).unwrap();
    // Each answer carries the time it was made: v1 differs from itself there, on every call.
    // And the Host it was asked for: both v1 requests must ask for the same one.
    let answer = |total: u64| {
        let clock = Arc::new(AtomicU64::new(0));
        move |s: Seen| {
            let at = clock.fetch_add(1, Ordering::Relaxed);
            let host = s
                .headers
                .get("host")
                .map_or(String::new(), |h| h.to_str().unwrap().to_owned());
            async move {
                shadowdiff_e2e::json(&format!(
                    r#"{{"path":"{}","total":{total},"at":{at},"host":"{host}"}}"#,
                    s.path
                ))
            }
        }
    };
    let v1 = Upstream::start(answer(10)).await;
    let v2 = Upstream::start(answer(11)).await;
    let config_file = dir.join("noise.toml");
    std::fs::write(&config_file, "[noise]\npercent = 100\nmin_samples = 10\n").unwrap();
    // Recorded with the production Host.
    let line = |id| {
        order_line(id).replace(
            r#""request":{"headers":[]}"#,
            r#""request":{"headers":[["host","shop.example"]]}"#,
        )
    };
    let file = recording(&dir, "orders.jsonl.zst", (1..=30).map(line));
    let report = dir.join("report.json");
    let junit = dir.join("replay.xml");
    let mut a = args(vec![file.clone()], v2.url(), &config_file);
    (a.primary, a.report, a.junit) = (Some(v1.url()), Some(report.clone()), Some(junit.clone()));
    let out = replay::run(a).await.unwrap();
    assert_eq!(out.exit_code(), 1, "/total differs on every request");
    // The CI page that shows the failure shows the rule to paste.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .and_then(|n| n.text())
        .unwrap();
    assert!(
        failure.contains("noise learned, to paste:\n[compare]\nignore_paths = [\"/at\"]"),
        "{failure}"
    );
    let marked = v1
        .seen()
        .iter()
        .filter(|s| s.headers.contains_key("x-shadowdiff-mirror"))
        .count();
    // Each request to v1 twice; the second, as the proxy's, carries the mirror mark.
    assert_eq!((v1.hits(), marked), (60, 30));

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let noise = &report["noise"][0];
    assert_eq!(noise["route"], "default");
    assert_eq!(noise["baseline_comparisons"], 30);
    assert_eq!(noise["learning"], false);
    let paths: Vec<&str> = noise["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/at"], "{noise}");
    let toml = noise["toml"].as_str().unwrap();
    assert!(
        toml.starts_with("[compare]") && toml.contains("\"/at\""),
        "{toml}"
    );

    // Without a live v1 there is no second answer to learn from, and none is asked for.
    let before = v1.hits();
    let out = replay::run(args(vec![file], v2.url(), &config_file))
        .await
        .unwrap();
    assert_eq!(v1.hits(), before);
    assert!(out.noise.iter().all(|r| r.baseline_comparisons == 0));
    let _ = std::fs::remove_dir_all(&dir);
}
