//! The binary as an operator runs it: flags, exit codes, signals, the access log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shadowdiff");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child if a test fails midway.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> Proc {
    Proc(
        Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// A blocking HTTP/1.1 GET; the status code, or None if nothing answered.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Read as _;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    Some((status, out))
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "not ready within {limit:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(
        text.starts_with(&format!(
            "shadowdiff {} (commit ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
}

/// `check-config` builds what the start builds: a config that names a file it cannot read, or
/// a certificate that is not one, is refused with the key, as the start would refuse it.
#[test]
fn check_config_reads_the_files_a_start_reads() {
    let dir = std::env::temp_dir().join(format!("shadowdiff-cfgbuild-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base =
        "[primary]\nurl = \"http://127.0.0.1:1\"\n[candidate]\nurl = \"http://127.0.0.1:2\"\n";
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let cases = [
        (
            "[admin_auth]\ntoken_file = \"/nonexistent/token\"\n",
            "admin_auth.token_file",
        ),
        (
            &*format!("[tls]\ncert = \"{0}\"\nkey = \"{0}\"\n", not_pem.display()),
            "not.pem",
        ),
    ];
    for (i, (extra, named)) in cases.iter().enumerate() {
        let file = dir.join(format!("c{i}.toml"));
        std::fs::write(&file, format!("{extra}{base}")).unwrap();
        let out = Command::new(BIN)
            .args(["check-config", file.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra}: {stderr}");
        assert!(stderr.contains(named), "{extra}: {stderr}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Operators check a file before they reload the proxy it configures, on the same host: the
/// check must not need what the running proxy holds (its state store is locked while it runs),
/// must create nothing, and must still refuse a `state_dir` that could never be used.
#[test]
fn check_config_beside_the_running_proxy_neither_fails_on_nor_touches_its_state() {
    let dir = std::env::temp_dir().join(format!("shadowdiff-cfgstate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    let (port, admin) = (free_port(), free_port());
    let file = dir.join("proxy.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:{port}\"\nadmin = \"127.0.0.1:{admin}\"\nstate_dir = \"{}\"\n[primary]\nurl = \"http://127.0.0.1:1\"\n[candidate]\nurl = \"http://127.0.0.1:2\"\n",
            state.display()
        ),
    )
    .unwrap();
    let _proxy = spawn(&["--config", file.to_str().unwrap()]);
    wait_until(Duration::from_secs(10), || {
        http_get(admin, "/healthz/ready").is_some_and(|(s, _)| s == 200)
    });
    let (code, _, err) = run(&["check-config", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    // The same file with another state_dir, checked.
    let text = std::fs::read_to_string(&file).unwrap();
    let check_with = |state_dir: &std::path::Path| {
        let other = dir.join("other.toml");
        let moved = text.replace(&*state.to_string_lossy(), &state_dir.to_string_lossy());
        std::fs::write(&other, moved).unwrap();
        run(&["check-config", other.to_str().unwrap()])
    };
    // A state_dir that does not exist yet is one the start will create: fine, and not made here.
    let later = dir.join("later");
    let (code, _, err) = check_with(&later);
    assert_eq!(code, 0, "{err}");
    assert!(!later.exists(), "check-config creates nothing");

    // One that can never be a directory is refused, named.
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let (code, _, err) = check_with(&blocker.join("state"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("state_dir"), "{err}");

    // With no proxy holding it, a store that the start could not read is refused.
    std::fs::create_dir_all(&later).unwrap();
    std::fs::write(later.join("shadowdiff.redb"), "not a database").unwrap();
    let (code, _, err) = check_with(&later);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("shadowdiff.redb"), "{err}");
    drop(_proxy);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_config_exit_codes_and_messages() {
    let dir = std::env::temp_dir().join(format!("shadowdiff-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[primary]\nurl = \"http://127.0.0.1:1\"\n[candidate]\nurl = \"http://127.0.0.1:2\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check-config", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "mirror_precent = 5\n[primary]\nurl = \"http://127.0.0.1:1\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check-config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mirror_precent"),
        "the message names the key"
    );

    // The same checks stop a start, with the flag named.
    let out = Command::new(BIN)
        .args([
            "--primary",
            "http://127.0.0.1:1",
            "--candidate",
            "http://127.0.0.1:2",
            "--mirror-percent",
            "150",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mirror-percent"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn serves_logs_access_lines_and_exits_0_on_sigterm() {
    let (p1, p2, listen, admin) = (free_port(), free_port(), free_port(), free_port());
    let _v1 = spawn(&[
        "sample-service",
        "v1",
        "--listen",
        &format!("127.0.0.1:{p1}"),
    ]);
    let _v2 = spawn(&[
        "sample-service",
        "v2",
        "--listen",
        &format!("127.0.0.1:{p2}"),
    ]);
    wait_until(Duration::from_secs(10), || {
        http_get(p1, "/health").is_some() && http_get(p2, "/health").is_some()
    });
    let mut proxy = spawn(&[
        "--listen",
        &format!("127.0.0.1:{listen}"),
        "--admin",
        &format!("127.0.0.1:{admin}"),
        "--primary",
        &format!("http://127.0.0.1:{p1}"),
        "--candidate",
        &format!("http://127.0.0.1:{p2}"),
        "--mirror-percent",
        "100",
        "--access-log",
        "--log-format",
        "json",
    ]);
    wait_until(Duration::from_secs(10), || {
        http_get(admin, "/healthz/ready").is_some_and(|(s, _)| s == 200)
    });

    let (status, body) = http_get(listen, "/orders/7").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(r#""total":107.50"#), "v1's bytes: {body}");
    wait_until(Duration::from_secs(5), || {
        http_get(admin, "/metrics").is_some_and(|(_, m)| {
            m.contains("shadowdiff_comparisons_total{result=\"mismatch\",route=\"default\"} 1")
        })
    });

    let kill = Command::new("kill")
        .args(["-TERM", &proxy.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = proxy.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "still running 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(25));
    };
    assert_eq!(status.code(), Some(0), "graceful exit");
    let mut stderr = String::new();
    std::io::Read::read_to_string(proxy.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let access: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "shadowdiff::access")
        .collect();
    assert_eq!(access.len(), 1, "one line per request: {stderr}");
    let f = &access[0]["fields"];
    assert_eq!(f["route"], "default");
    assert_eq!(f["path"], "/orders/7");
    assert_eq!(f["status"], 200);
    assert_eq!(f["candidate_status"], 200);
    assert_eq!(f["verdict"], "mismatch");
    assert!(f["primary_ms"].as_f64().is_some() && f["candidate_ms"].as_f64().is_some());
}

#[test]
fn sighup_reloads_the_file_and_a_bad_file_changes_nothing() {
    let (p1, listen, admin) = (free_port(), free_port(), free_port());
    let _v1 = spawn(&[
        "sample-service",
        "v1",
        "--listen",
        &format!("127.0.0.1:{p1}"),
    ]);
    let dir = std::env::temp_dir().join(format!("shadowdiff-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    let write = |percent: &str| {
        let text = format!(
            "listen = \"127.0.0.1:{listen}\"\nadmin = \"127.0.0.1:{admin}\"\nmirror_percent = {percent}\n[primary]\nurl = \"http://127.0.0.1:{p1}\"\n[candidate]\nurl = \"http://127.0.0.1:{p1}\"\n"
        );
        std::fs::write(&file, text).unwrap();
    };
    write("5");
    let proxy = spawn(&["--config", file.to_str().unwrap()]);
    wait_until(Duration::from_secs(10), || {
        http_get(admin, "/healthz/ready").is_some_and(|(s, _)| s == 200)
    });
    let percent = || {
        let (_, m) = http_get(admin, "/metrics").unwrap();
        m.lines()
            .find(|l| l.starts_with("shadowdiff_mirror_percent{route=\"default\"}"))
            .unwrap()
            .to_string()
    };
    assert!(percent().ends_with(" 5"), "{}", percent());
    let hup = || {
        assert!(Command::new("kill")
            .args(["-HUP", &proxy.0.id().to_string()])
            .status()
            .unwrap()
            .success())
    };

    write("42");
    hup();
    wait_until(Duration::from_secs(5), || percent().ends_with(" 42"));

    write("420");
    hup();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        percent().ends_with(" 42"),
        "a bad file keeps the old config: {}",
        percent()
    );
    assert_eq!(
        http_get(listen, "/users/1").unwrap().0,
        200,
        "still serving"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Start the proxy under `sh -c "ulimit …; exec shadowdiff …"` with `limits.max_connections`
/// set; returns it once the admin port answers, and that port.
#[cfg(target_os = "linux")]
fn spawn_with_ulimit(ulimit: &str, max_connections: usize, tag: &str) -> (Proc, u16) {
    let dir = std::env::temp_dir().join(format!("shadowdiff-fd-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(
        &file,
        format!(
            "[limits]\nmax_connections = {max_connections}\n\
             [primary]\nmax_connections = {max_connections}\n\
             [candidate]\nmax_connections = {max_connections}\n"
        ),
    )
    .unwrap();
    let (listen, admin) = (free_port(), free_port());
    let child = Command::new("sh")
        .args(["-c", &format!("ulimit {ulimit} && exec \"$0\" \"$@\""), BIN])
        .args(["--config", file.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{listen}")])
        .args(["--admin", &format!("127.0.0.1:{admin}")])
        .args([
            "--primary",
            "http://127.0.0.1:1",
            "--candidate",
            "http://127.0.0.1:2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let proxy = Proc(child);
    wait_until(Duration::from_secs(10), || {
        http_get(admin, "/healthz/live").is_some()
    });
    (proxy, admin)
}

#[cfg(target_os = "linux")]
fn stderr_after_kill(mut proxy: Proc) -> String {
    let _ = proxy.0.kill();
    let _ = proxy.0.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(proxy.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    stderr
}

#[cfg(target_os = "linux")]
#[test]
fn an_open_file_limit_short_of_max_connections_is_said_at_start() {
    // Hard and soft limit 512: caps of 1000 clients, 1000 v1 and 1000 v2 connections may need
    // 3 × 1000 + 64 (admin) + 256 descriptors.
    let (proxy, _) = spawn_with_ulimit("-n 512", 1000, "short");
    let stderr = stderr_after_kill(proxy);
    assert!(
        stderr.contains("open-file limit is below") && stderr.contains("limit=512"),
        "{stderr}"
    );

    let (proxy, _) = spawn_with_ulimit("-n 512", 10, "enough");
    let stderr = stderr_after_kill(proxy);
    assert!(!stderr.contains("open-file limit"), "{stderr}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_low_soft_open_file_limit_is_raised_to_what_max_connections_needs() {
    // Soft 64 under a higher hard limit: raised to 3 × 10 + 64 + 256.
    let (proxy, _) = spawn_with_ulimit("-Sn 64", 10, "raise");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", proxy.0.id())).unwrap();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap()
        .to_string();
    let stderr = stderr_after_kill(proxy);
    assert_eq!(soft, "350", "{limits}");
    assert!(!stderr.contains("open-file limit"), "{stderr}");
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sample(role: &str) -> (Proc, u16) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let p = spawn(&["sample-service", role, "--listen", &addr]);
    wait_until(Duration::from_secs(10), || {
        http_get(port, "/users/1").is_some()
    });
    (p, port)
}

/// A HAR as a browser exports it: v1's answers to two GETs, with credentials.
fn har(v1: u16) -> String {
    let entry = |path: &str| {
        let (status, raw) = http_get(v1, path).unwrap();
        let body = raw.split_once("\r\n\r\n").unwrap().1;
        serde_json::json!({
            "startedDateTime": "2026-01-02T03:04:05.678+01:00",
            "time": 3.5,
            "request": {
                "method": "GET", "url": format!("http://shop.example{path}?q=1&access_token=har-QUERY-0123456789"), "httpVersion": "HTTP/2",
                "cookies": [], "queryString": [], "headersSize": -1, "bodySize": 0,
                "headers": [
                    {"name": ":authority", "value": "shop.example"},
                    {"name": "Authorization", "value": "Bearer har-SECRET-0123456789"},
                    {"name": "Cookie", "value": "session=har-SESSION-abcdefgh"}
                ]
            },
            "response": {
                "status": status, "statusText": "OK", "httpVersion": "HTTP/2", "cookies": [],
                // The browser decoded the body it shows in `text`; the headers still say how
                // it came over the wire.
                "headers": [{"name": "Content-Type", "value": "application/json"},
                            {"name": "Content-Encoding", "value": "gzip"},
                            {"name": "Content-Length", "value": "17"},
                            {"name": "Set-Cookie", "value": "sid=har-SETCOOKIE-1234"}],
                "content": {"size": body.len(), "mimeType": "application/json", "text": body},
                "redirectURL": "", "headersSize": -1, "bodySize": -1
            },
            "cache": {}, "timings": {"send": 0, "wait": 3.5, "receive": 0}
        })
    };
    // A request the browser cancelled or blocked: listed, but no response was received.
    let mut cancelled = entry("/users/8");
    cancelled["response"]["status"] = 0.into();
    cancelled["response"]["statusText"] = "".into();
    cancelled["response"]["_error"] = "net::ERR_ABORTED".into();
    serde_json::json!({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"},
        "entries": [entry("/users/7"), entry("/orders/7"), cancelled]}})
    .to_string()
}

#[test]
fn har_import_redacts_export_round_trips_and_replay_exits_by_budget() {
    let dir = std::env::temp_dir().join(format!("shadowdiff-cli-har-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    let (_v1, v1) = sample("v1");
    let (_v2, v2) = sample("v2");
    std::fs::write(path("in.har"), har(v1)).unwrap();

    let (code, out, err) = run(&[
        "record",
        "import",
        "--har",
        &path("in.har"),
        &path("rec.jsonl.zst"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 exchange(s)"), "{out}");
    // Replayed, a status of 0 would be a mismatch with every v2 that answers.
    assert!(
        err.contains("skipped") && err.contains("entries[2]: no response"),
        "{err}"
    );
    // A HAR cut short, or one without a log, is refused whole: no recording, nothing half
    // written, and an earlier recording of that name as it was.
    let recorded = std::fs::read(path("rec.jsonl.zst")).unwrap();
    let whole = har(v1);
    for (name, text) in [
        ("cut.har", &whole[..whole.len() - 40]),
        ("nolog.har", r#"{"entries": []}"#),
        ("list.har", r#"[{"log": {}}]"#),
    ] {
        std::fs::write(path(name), text).unwrap();
        let (code, _, err) = run(&[
            "record",
            "import",
            "--har",
            &path(name),
            &path("rec.jsonl.zst"),
        ]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains("not a HAR file"), "{name}: {err}");
        assert_eq!(std::fs::read(path("rec.jsonl.zst")).unwrap(), recorded);
    }
    // `record export --har out.har FILES...`: the exit code and stderr.
    let export = |files: &[&str]| {
        let out = path("out.har");
        let mut args = vec!["record", "export", "--har", &out];
        let files: Vec<String> = files.iter().map(|f| path(f)).collect();
        args.extend(files.iter().map(String::as_str));
        let (code, _, err) = run(&args);
        (code, err)
    };
    let (code, err) = export(&["rec.jsonl.zst"]);
    assert_eq!(code, 0, "{err}");
    let exported = std::fs::read_to_string(path("out.har")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(doc["log"]["version"], "1.2");
    let entries = doc["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0]["request"]["url"],
        "http://shop.example/users/7?q=1&access_token=[redacted]"
    );
    assert_eq!(entries[0]["startedDateTime"], "2026-01-02T02:04:05.678Z");
    for secret in ["har-SECRET", "har-SESSION", "har-SETCOOKIE", "har-QUERY"] {
        assert!(!exported.contains(secret), "{secret} survived the import");
    }
    // Twice over (an entry at a time across files), and an export that fails part way leaves
    // the last good file as it was, and nothing half written beside it.
    assert_eq!(export(&["rec.jsonl.zst", "rec.jsonl.zst"]).0, 0);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("out.har")).unwrap()).unwrap();
    assert_eq!(doc["log"]["entries"].as_array().unwrap().len(), 4);
    let good = std::fs::read(path("out.har")).unwrap();
    let (code, err) = export(&["rec.jsonl.zst", "missing.zst"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.zst"), "{err}");
    assert_eq!(std::fs::read(path("out.har")).unwrap(), good);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // The same requests against v1 itself: within budget; against the sample v2, whose
    // orders total differs: exit 1 naming the route, from a config with the demo's routes.
    std::fs::write(
        path("routes.toml"),
        "[[routes]]\nname = \"users\"\npath_template = \"/users/{id}\"\n[[routes]]\nname = \"orders\"\npath_template = \"/orders/{id}\"\n",
    )
    .unwrap();
    let v1_url = format!("http://127.0.0.1:{v1}");
    let v2_url = format!("http://127.0.0.1:{v2}");
    let rec = path("rec.jsonl.zst");
    let cfg = path("routes.toml");
    let report = path("same.json");
    let (code, out, err) = run(&[
        "replay",
        &rec,
        "--candidate",
        &v1_url,
        "--config",
        &cfg,
        "--report",
        &report,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let matched: u64 = report["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["matched"].as_u64().unwrap())
        .sum();
    assert_eq!(
        matched, 2,
        "each imported answer compared, decoded as it was shown: {report}"
    );
    let junit = path("out.xml");
    let (code, out, err) = run(&[
        "replay",
        &rec,
        "--candidate",
        &v2_url,
        "--config",
        &cfg,
        "--junit",
        &junit,
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("over budget: orders"), "{out}");
    assert!(out.contains("/total"), "{out}");
    // Staging A/B: both live, v1 against v1 agrees.
    let (code, out, err) = run(&[
        "replay",
        &rec,
        "--candidate",
        &v1_url,
        "--primary",
        &v1_url,
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_usage_errors_exit_2() {
    let (code, _, err) = run(&["replay", "--candidate", "http://127.0.0.1:1"]);
    assert_eq!(code, 2, "no files: {err}");
    // Against a well-formed command line, one flag or pair of flags that cannot be: exit 2,
    // the flag named.
    let refused = |extra: &[&str], named: &str| {
        let mut args = vec!["replay", "x.zst", "--candidate", "http://127.0.0.1:1"];
        args.extend_from_slice(extra);
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(err.contains(named), "{extra:?}: {err}");
    };
    refused(&["--rate", "5", "--concurrency", "2"], "--concurrency");
    // Two paces: the rate used to win without a word.
    refused(&["--rate", "5", "--speed", "2"], "--speed");
    // Paces that ran unpaced without a word (0, negative, inf), or aborted (a tiny rate's
    // next request was due past what a clock holds), and a concurrency of none.
    for (flag, bad) in [
        ("--rate", "0"),
        ("--rate", "-5"),
        ("--rate", "inf"),
        ("--rate", "1e-300"),
        ("--speed", "0"),
        ("--speed", "NaN"),
        ("--concurrency", "0"),
    ] {
        refused(&[&format!("{flag}={bad}")], flag);
    }
    let (code, _, err) = run(&["replay", "x.zst", "--candidate", "ftp://nowhere"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--candidate"), "{err}");
    for bad in ["no-colon", "bad name: x", "x-ok: \u{1}"] {
        refused(&["--header", bad], "--header");
    }
}

/// A proxy process in canary mode on free ports, with an admin token; (process, data, admin).
fn canary_proxy(dir: &std::path::Path, tag: &str, v1: u16, v2: u16) -> (Proc, u16, u16) {
    let (data, admin) = (free_port(), free_port());
    let token = dir.join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let file = dir.join(format!("{tag}.toml"));
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:{data}\"\nadmin = \"127.0.0.1:{admin}\"\nmirror_percent = 0\n\
             [primary]\nurl = \"http://127.0.0.1:{v1}\"\n[candidate]\nurl = \"http://127.0.0.1:{v2}\"\n\
             [admin_auth]\ntoken_file = \"{}\"\n\
             [cutover]\nmode = \"canary\"\nstate_file = \"{}\"\n\
             steps = [{{weight = 10, hold = \"1h\"}}, {{weight = 50, hold = \"1h\"}}]\n",
            token.display(),
            dir.join(format!("{tag}-state.json")).display()
        ),
    )
    .unwrap();
    let p = spawn(&["--config", file.to_str().unwrap()]);
    wait_until(Duration::from_secs(10), || {
        http_get(admin, "/healthz/ready").is_some_and(|(s, _)| s == 200)
    });
    (p, data, admin)
}

#[test]
fn ctl_acts_on_every_replica_and_names_the_one_that_failed() {
    let dir = std::env::temp_dir().join(format!("shadowdiff-ctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_v1, v1) = sample("v1");
    let (_v2, v2) = sample("v2");
    let (_a, data_a, admin_a) = canary_proxy(&dir, "a", v1, v2);
    let (_b, _, admin_b) = canary_proxy(&dir, "b", v1, v2);
    let token = dir.join("token");
    let fleet = |action: &[&str]| {
        let mut args = vec!["ctl"];
        args.extend_from_slice(action);
        let (a, b) = (
            format!("http://127.0.0.1:{admin_a}"),
            format!("http://127.0.0.1:{admin_b}"),
        );
        let t = token.to_str().unwrap().to_owned();
        let args: Vec<String> = args
            .iter()
            .map(|s| (*s).to_owned())
            .chain([
                "--admin".into(),
                a,
                "--admin".into(),
                b,
                "--token-file".into(),
                t,
            ])
            .collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs)
    };

    let (code, out, err) = fleet(&["promote"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("progressing weight 50").count(), 2, "{out}");

    let (code, out, _) = fleet(&["abort"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("aborted weight 0").count(), 2, "{out}");
    // Every request after the abort is v1's (v2's /orders/1 has another total).
    let body = |raw: String| raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    let v1_order = body(http_get(v1, "/orders/1").unwrap().1);
    assert_ne!(v1_order, body(http_get(v2, "/orders/1").unwrap().1));
    for _ in 0..20 {
        let (status, raw) = http_get(data_a, "/orders/1").unwrap();
        assert_eq!(status, 200);
        assert_eq!(body(raw), v1_order);
    }

    // Without the token the command is refused, per replica, and the exit code says so.
    let (code, out, _) = run(&[
        "ctl",
        "resume",
        "--admin",
        &format!("http://127.0.0.1:{admin_a}"),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("401"), "{out}");

    // A replica that cannot be reached is named; the others still act.
    let dead = free_port();
    let (code, out, _) = run(&[
        "ctl",
        "weight",
        "30",
        "--admin",
        &format!("http://127.0.0.1:{admin_a}"),
        "--admin",
        &format!("http://127.0.0.1:{dead}"),
        "--token-file",
        token.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("paused weight 30"), "{out}");
    assert!(out.contains(&format!("127.0.0.1:{dead}: FAILED")), "{out}");

    let (code, out, _) = run(&[
        "ctl",
        "status",
        "--admin",
        &format!("http://127.0.0.1:{admin_b}"),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("rolled back by manual"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_schedules_and_state_files_stop_check_config_and_the_start() {
    let dir = std::env::temp_dir().join(format!("shadowdiff-sched-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let urls =
        "[primary]\nurl = \"http://127.0.0.1:1\"\n[candidate]\nurl = \"http://127.0.0.1:2\"\n";
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        format!("{urls}[cutover]\nmode = \"canary\"\ninterval = \"1m\"\nsteps = [{{weight = 10, hold = \"10s\"}}]\n"),
    )
    .unwrap();
    let (code, _, err) = run(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("cutover.steps[0].hold"), "{err}");

    let state = dir.join("state.json");
    std::fs::write(&state, "{\"version\": 1, \"routes\": {\"default\": 7}}").unwrap();
    let file = dir.join("state.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:{}\"\nadmin = \"127.0.0.1:{}\"\n{urls}[cutover]\nmode = \"promoted\"\nstate_file = \"{}\"\n",
            free_port(),
            free_port(),
            state.display()
        ),
    )
    .unwrap();
    let (code, _, err) = run(&["check-config", file.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains(&state.display().to_string()), "{err}");
    let (code, _, err) = run(&["--config", file.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains(&state.display().to_string()), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
