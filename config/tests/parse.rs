//! Values arrive where they should: defaults, every key, precedence, route inheritance.

use std::path::PathBuf;
use std::time::Duration;

use config::{
    AssignBy, Budget, Config, CutoverMode, LogFormat, Overrides, RecordPolicy, SampleBy, Tls,
    UpstreamProtocol,
};
use diff_engine::{RuleSpec, SortRule, ToleranceRule};

const URLS: &str = r#"
[primary]
url = "http://127.0.0.1:8081"
[candidate]
url = "http://127.0.0.1:8082"
"#;

fn parse(text: &str) -> Config {
    Config::from_toml_str(text, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn defaults() {
    let c = parse(URLS);
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.admin.to_string(), "127.0.0.1:9901");
    assert_eq!(c.mirror_percent, 10.0);
    assert_eq!(c.sample_by, SampleBy::Random);
    assert_eq!(c.shutdown_grace, secs(30));
    assert_eq!(c.header_read_timeout, secs(75));
    assert_eq!(c.client_body_timeout, secs(60));
    assert_eq!(c.stream_idle_timeout, secs(60));
    assert!(c.http1_relay, "the relay is on unless turned off");

    assert_eq!(c.primary.url, "http://127.0.0.1:8081/");
    assert_eq!(c.primary.connect_timeout, secs(2));
    assert_eq!(c.primary.timeout, secs(30));
    assert_eq!(c.primary.pool_idle_timeout, secs(90));
    assert_eq!(c.primary.pool_max_idle_per_host, 256);
    assert_eq!(c.primary.max_connections, 1024);
    assert_eq!(c.primary.queue_timeout, secs(2)); // its connect_timeout
    assert_eq!(c.primary.protocol, UpstreamProtocol::Auto);
    assert_eq!(
        (c.primary.ca_file.as_ref(), c.primary.client_cert.as_ref()),
        (None, None)
    );

    let v2 = &c.candidate;
    assert_eq!(v2.upstream.connect_timeout, secs(1));
    assert_eq!(v2.upstream.timeout, secs(5));
    assert_eq!(v2.upstream.pool_idle_timeout, secs(90));
    assert_eq!(v2.upstream.pool_max_idle_per_host, 256);
    assert_eq!(v2.upstream.max_connections, 1024);
    assert_eq!(v2.upstream.queue_timeout, secs(1)); // its connect_timeout
    assert_eq!(v2.upstream.protocol, UpstreamProtocol::Auto);
    assert!(!v2.shadow_host_suffix);
    assert_eq!(v2.host, None);
    assert_eq!(v2.mark_header.as_deref(), Some("x-shadowdiff-mirror"));
    assert!(v2.add_headers.is_empty() && v2.remove_headers.is_empty());
    assert_eq!(v2.rewrite_path_prefix, None);

    let l = &c.limits;
    assert_eq!(
        (l.max_in_flight_mirrors, l.compare_queue, l.compare_workers),
        (1024, 1024, 1)
    );
    assert_eq!(l.max_connections, 4096);
    assert_eq!(
        (l.max_capture_bytes, l.max_request_body_bytes),
        (1 << 20, 1 << 20)
    );
    assert_eq!(
        (l.max_pending_bytes, l.max_decoded_bytes),
        (64 << 20, 8 << 20)
    );
    assert_eq!(l.h2_max_concurrent_streams, 100);
    assert_eq!((l.adaptive_mirrors, l.min_in_flight_mirrors), (true, 8));

    assert_eq!(
        (c.breaker.failure_threshold, c.breaker.backoff),
        (5, secs(10))
    );
    assert!(!c.breaker.trip_on_5xx);
    assert_eq!(c.compare, RuleSpec::default());
    assert_eq!(
        c.budget,
        Budget {
            ratio: 0.001,
            window: secs(300),
            min_samples: 100
        }
    );
    assert!(c.routes.is_empty());
    assert_eq!(c.tls, None);
    assert_eq!(
        (c.log.format, c.log.level.as_str(), c.log.access_log),
        (LogFormat::Text, "info", false)
    );
    assert_eq!(c.report.max_exemplars, 256);
    assert!(c.report.redact_headers.is_empty() && c.report.redact_paths.is_empty());
    assert_eq!(c.report.jsonl_path, None);
    assert_eq!(
        (c.report.jsonl_max_bytes, c.report.jsonl_max_files),
        (64 << 20, 5)
    );
    assert_eq!(c.admin_auth, Default::default());
    let off = RecordPolicy {
        percent: 0.0,
        max_body_bytes: 1 << 20,
        include_candidate: false,
    };
    assert_eq!(c.record.policy, off, "recording is off by default");
    assert_eq!(c.record.dir, None);
    assert_eq!(
        (c.record.max_file_bytes, c.record.max_files),
        (64 << 20, 10)
    );
}

#[test]
fn every_key_is_read() {
    let c = parse(include_str!("full.toml"));
    assert_eq!(c.listen.to_string(), "0.0.0.0:80");
    assert_eq!(c.admin.to_string(), "[::1]:9000");
    assert_eq!(c.mirror_percent, 2.5);
    assert_eq!(c.sample_by, SampleBy::Header("x-user-id".into()));
    assert_eq!(c.shutdown_grace, secs(90));
    assert_eq!(c.header_read_timeout, secs(20));
    assert_eq!(c.client_body_timeout, secs(15));
    assert_eq!(c.stream_idle_timeout, secs(120));
    assert!(!c.http1_relay);

    let v1 = &c.primary;
    assert_eq!(v1.url, "https://v1.internal:8443/base");
    assert_eq!(
        (v1.connect_timeout, v1.timeout),
        (Duration::from_millis(250), secs(10))
    );
    assert_eq!(
        (v1.pool_idle_timeout, v1.pool_max_idle_per_host),
        (secs(60), 8)
    );
    assert_eq!(
        (v1.max_connections, v1.queue_timeout),
        (64, Duration::from_millis(100))
    );
    assert_eq!(v1.protocol, UpstreamProtocol::H2);
    assert_eq!(v1.ca_file, Some(PathBuf::from("/ca1.pem")));
    assert_eq!(v1.client_cert, Some(PathBuf::from("/c1.pem")));
    assert_eq!(v1.client_key, Some(PathBuf::from("/k1.pem")));

    let v2 = &c.candidate;
    assert_eq!(v2.upstream.url, "http://v2.internal:8080/");
    assert_eq!(v2.upstream.connect_timeout, Duration::from_millis(500));
    assert_eq!(
        (v2.upstream.timeout, v2.upstream.pool_idle_timeout),
        (secs(3), secs(0))
    );
    assert_eq!(v2.upstream.pool_max_idle_per_host, 4);
    assert_eq!(
        (v2.upstream.max_connections, v2.upstream.queue_timeout),
        (32, Duration::ZERO)
    );
    assert_eq!(v2.upstream.protocol, UpstreamProtocol::H2c);
    assert_eq!(v2.upstream.ca_file, Some(PathBuf::from("/ca2.pem")));
    assert_eq!(v2.upstream.client_cert, Some(PathBuf::from("/c2.pem")));
    assert_eq!(v2.upstream.client_key, Some(PathBuf::from("/k2.pem")));
    assert!(v2.shadow_host_suffix);
    assert_eq!(v2.mark_header.as_deref(), Some("x-mirror"));
    assert_eq!(
        v2.add_headers,
        vec![("x-shadow".to_owned(), "1".to_owned())]
    );
    assert_eq!(v2.remove_headers, vec!["x-debug".to_owned()]);
    assert_eq!(
        v2.rewrite_path_prefix,
        Some(("/api/v1".into(), "/api/v2".into()))
    );

    let l = &c.limits;
    assert_eq!(
        (l.max_in_flight_mirrors, l.compare_queue, l.compare_workers),
        (10, 20, 4)
    );
    assert_eq!(l.max_connections, 300);
    assert_eq!(
        (l.max_capture_bytes, l.max_request_body_bytes),
        (65_536, 512)
    );
    assert_eq!(
        (l.max_pending_bytes, l.max_decoded_bytes),
        (10_000_000, 2 << 20)
    );
    assert_eq!(l.h2_max_concurrent_streams, 250);
    assert_eq!((l.adaptive_mirrors, l.min_in_flight_mirrors), (false, 4));

    assert_eq!(
        (c.breaker.failure_threshold, c.breaker.backoff),
        (0, secs(3600))
    );
    assert!(c.breaker.trip_on_5xx);

    let global = RuleSpec {
        ignore_paths: vec!["/meta/**".into()],
        ignore_headers: vec!["etag".into()],
        compare_headers: Some(vec!["content-type".into()]),
        tolerances: vec![ToleranceRule {
            path: "/price".into(),
            abs: 0.01,
            rel: 0.001,
        }],
        timestamps: vec!["/created_at".into()],
        unordered_arrays: vec!["/tags".into()],
        sort_arrays_by: vec![SortRule {
            path: "/items".into(),
            key: "id".into(),
        }],
    };
    assert_eq!(c.compare, global);
    assert_eq!(
        c.budget,
        Budget {
            ratio: 0.01,
            window: secs(600),
            min_samples: 7
        }
    );

    let [orders, health] = &c.routes[..] else {
        panic!("two routes: {:?}", c.routes)
    };
    assert_eq!(orders.name, "orders");
    assert_eq!(orders.path_prefix.as_deref(), Some("/orders"));
    assert_eq!(orders.path_template.as_deref(), Some("/orders/{id}"));
    assert_eq!(orders.methods, vec![http::Method::GET, http::Method::POST]);
    assert_eq!(orders.mirror_percent, Some(50.0));
    assert!(orders.allow_unsafe_methods);
    assert_eq!(orders.sample_by, Some(SampleBy::Cookie("session".into())));
    assert_eq!(orders.compare.ignore_paths, vec!["/etag".to_owned()]);
    assert_eq!(orders.budget.ratio, 0.5);
    assert_eq!(health.name, "health");
    assert!(health.methods.is_empty() && !health.allow_unsafe_methods);
    assert_eq!(
        (health.mirror_percent, health.sample_by.as_ref()),
        (None, None)
    );

    assert_eq!(
        c.tls,
        Some(Tls {
            cert: "/tls.pem".into(),
            key: "/tls-key.pem".into()
        })
    );
    assert_eq!(
        (c.log.format, c.log.level.as_str(), c.log.access_log),
        (LogFormat::Json, "shadowdiff=debug", true)
    );
    let r = &c.report;
    assert_eq!(r.max_exemplars, 3);
    assert_eq!(r.redact_headers, vec!["x-api-key".to_owned()]);
    assert_eq!(r.redact_paths, vec!["/user/email".to_owned()]);
    assert_eq!(r.redact_query, vec!["api_key".to_owned()]);
    assert_eq!(r.jsonl_path, Some(PathBuf::from("/var/log/mm.jsonl")));
    assert_eq!((r.jsonl_max_bytes, r.jsonl_max_files), (1 << 30, 9));
    assert_eq!(c.admin_auth.token_env.as_deref(), Some("ADMIN_TOKEN"));
    assert_eq!(c.admin_auth.token_file, None);

    let r = &c.record;
    assert_eq!(r.dir, Some(PathBuf::from("/var/lib/shadowdiff/record")));
    assert_eq!((r.max_file_bytes, r.max_files), (128 << 20, 3));
    let global = RecordPolicy {
        percent: 1.5,
        max_body_bytes: 256 << 10,
        include_candidate: true,
    };
    assert_eq!(r.policy, global);
    // Each [routes.record] key replaces the global one; a route without the table inherits all.
    let own = RecordPolicy {
        percent: 100.0,
        max_body_bytes: 2 << 20,
        include_candidate: false,
    };
    assert_eq!(c.routes[0].record, own);
    assert_eq!(c.routes[1].record, global);

    assert_eq!(
        c.state_dir,
        Some(PathBuf::from("/var/lib/shadowdiff/state"))
    );
    assert_eq!(c.report.max_signatures, 77);
    let n = &c.noise;
    assert_eq!(
        (n.percent, n.suppress, n.max_in_flight, n.min_samples),
        (1.0, true, 8, 300)
    );
    assert_eq!(
        n.secondary.as_ref().map(ToString::to_string).as_deref(),
        Some("http://v1-b.internal:8081/")
    );
    let cut = &c.cutover;
    assert_eq!(
        cut.state_file,
        Some(PathBuf::from("/var/lib/shadowdiff/cutover.json"))
    );
    let p = &cut.policy;
    assert_eq!(
        (p.mode, &p.assign_by),
        (CutoverMode::Canary, &AssignBy::Cookie("session".into()))
    );
    let steps: Vec<_> = p
        .steps
        .iter()
        .map(|s| (s.weight, s.hold, s.min_requests))
        .collect();
    assert_eq!(
        steps,
        [
            (10.0, secs(300), 500),
            (25.0, secs(600), 0),
            (100.0, secs(86_400), 0)
        ]
    );
    assert_eq!(
        (p.interval, p.failure_limit, p.min_samples),
        (secs(30), 2, 50)
    );
    assert_eq!((p.max_error_rate, p.max_latency_increase), (0.01, 0.25));
    assert_eq!(
        p.webhook_url.as_ref().map(ToString::to_string).as_deref(),
        Some("https://hooks.example.com/rollback")
    );
    assert_eq!(p.gates.len(), 1);
    assert_eq!(
        (
            p.gates[0].name.as_str(),
            p.gates[0].query.as_str(),
            p.gates[0].max
        ),
        ("fleet_errors", "sum(rate(x[5m]))", 0.5)
    );
    // [routes.cutover] keys replace the global ones; the rest is inherited.
    let own = &c.routes[0].cutover;
    assert_eq!((own.mode, own.failure_limit), (CutoverMode::Promoted, 5));
    assert_eq!((own.interval, &own.steps), (p.interval, &p.steps));
    assert_eq!(&c.routes[1].cutover, p);
}

#[test]
fn cutover_defaults_to_shadow() {
    let c = parse(URLS);
    let p = &c.cutover.policy;
    assert_eq!(
        (p.mode, &p.assign_by),
        (CutoverMode::Shadow, &AssignBy::Random)
    );
    assert!(p.steps.is_empty() && p.gates.is_empty() && p.webhook_url.is_none());
    assert_eq!(
        (p.interval, p.failure_limit, p.min_samples),
        (secs(60), 3, 20)
    );
    assert_eq!((p.max_error_rate, p.max_latency_increase), (0.005, 0.1));
    assert_eq!(c.cutover.state_file, None);
}

#[test]
fn recording_needs_a_dir_and_keeps_where_files_go_global() {
    let err = |text: &str| {
        Config::from_toml_str(&format!("{URLS}\n{text}"), &Overrides::default())
            .expect_err(text)
            .to_string()
    };
    assert_eq!(
        err("[record]\npercent = 5"),
        "record.dir: required when record.percent is above 0 (it is 5)"
    );
    assert_eq!(
        err("[[routes]]\nname = \"r\"\npath_prefix = \"/\"\n[routes.record]\npercent = 1"),
        "record.dir: required when routes[0].record.percent is above 0 (it is 1)"
    );
    let e = err("[[routes]]\nname = \"r\"\npath_prefix = \"/\"\n[routes.record]\ndir = \"/x\"");
    assert!(
        e.starts_with("unknown key `dir` in [routes[0].record]"),
        "{e}"
    );
    assert_eq!(
        err("[record]\npercent = 101\ndir = \"/x\""),
        "record.percent: must be between 0 and 100, got 101"
    );
    // A dir with nothing recorded is fine: a reload may raise the share later.
    let c = parse(&format!("{URLS}\n[record]\ndir = \"/x\""));
    assert_eq!(c.record.dir, Some(PathBuf::from("/x")));
}

#[test]
fn routes_inherit_compare_and_budget_per_key() {
    let text = format!(
        r#"{URLS}
[compare]
ignore_paths = ["/a"]
timestamps = ["/t"]
compare_headers = ["content-type"]
[budget]
ratio = 0.02
window = "1m"
[[routes]]
name = "r"
path_prefix = "/"
[routes.compare]
ignore_paths = ["/b", "/c"]
compare_headers = []
[routes.budget]
min_samples = 5
[[routes]]
name = "plain"
path_prefix = "/p"
"#
    );
    let c = parse(&text);
    let r = &c.routes[0];
    // Present keys replace the global value whole; absent keys inherit it.
    assert_eq!(
        r.compare.ignore_paths,
        vec!["/b".to_owned(), "/c".to_owned()]
    );
    assert_eq!(r.compare.timestamps, vec!["/t".to_owned()]);
    assert_eq!(r.compare.compare_headers, Some(vec![]));
    assert_eq!(
        r.budget,
        Budget {
            ratio: 0.02,
            window: secs(60),
            min_samples: 5
        }
    );
    assert_eq!(c.routes[1].compare, c.compare);
    assert_eq!(c.routes[1].budget, c.budget);
}

#[test]
fn precedence_defaults_then_file_then_flags() {
    let file = format!(
        "listen = \"127.0.0.1:1\"\nmirror_percent = 20.0\n{URLS}\n[log]\nformat = \"json\"\naccess_log = true\n"
    );
    let from_file = parse(&file);
    assert_eq!(from_file.listen.to_string(), "127.0.0.1:1");
    assert_eq!(from_file.admin.to_string(), "127.0.0.1:9901"); // default
    assert_eq!(from_file.mirror_percent, 20.0);

    let flags = Overrides {
        listen: Some("127.0.0.1:2".into()),
        admin: Some("127.0.0.1:3".into()),
        primary: Some("https://flag-v1:1".into()),
        candidate: Some("http://flag-v2:2/x".into()),
        mirror_percent: Some(0.5),
        tls_cert: Some("/c.pem".into()),
        tls_key: Some("/k.pem".into()),
        log_format: Some("text".into()),
        log_level: Some("debug".into()),
        access_log: Some(false),
        workers: Some(3),
    };
    let c = Config::from_toml_str(&file, &flags).expect("valid");
    assert_eq!(c.workers, 3);
    assert_eq!(c.listen.to_string(), "127.0.0.1:2");
    assert_eq!(c.admin.to_string(), "127.0.0.1:3");
    assert_eq!(c.primary.url, "https://flag-v1:1/");
    assert_eq!(c.candidate.upstream.url, "http://flag-v2:2/x");
    assert_eq!(c.mirror_percent, 0.5);
    assert_eq!(
        c.tls,
        Some(Tls {
            cert: "/c.pem".into(),
            key: "/k.pem".into()
        })
    );
    assert_eq!(
        (c.log.format, c.log.level.as_str(), c.log.access_log),
        (LogFormat::Text, "debug", false)
    );

    // URLs from flags alone are enough: no file at all.
    let only_flags = Config::load(None, &flags).expect("valid");
    assert_eq!(only_flags.limits, c.limits);
}

#[test]
fn example_file_parses_to_the_defaults() {
    let example = parse(Config::to_toml_example());
    assert_eq!(example, parse(URLS));
}

#[test]
fn load_reads_a_file_and_names_a_missing_one() {
    let path = std::env::temp_dir().join(format!("shadowdiff-config-{}.toml", std::process::id()));
    std::fs::write(&path, URLS).expect("write temp file");
    let loaded = Config::load(Some(&path), &Overrides::default());
    std::fs::remove_file(&path).ok();
    assert_eq!(loaded.expect("valid"), parse(URLS));

    let err = Config::load(
        Some(std::path::Path::new("/nonexistent/sd.toml")),
        &Overrides::default(),
    )
    .expect_err("missing file");
    assert!(
        err.to_string()
            .starts_with("reading /nonexistent/sd.toml: "),
        "{err}"
    );
}

#[test]
fn admin_token_file() {
    let c = parse(&format!(
        "{URLS}\n[admin_auth]\ntoken_file = \"/run/token\""
    ));
    assert_eq!(c.admin_auth.token_file, Some(PathBuf::from("/run/token")));
    assert_eq!(c.admin_auth.token_env, None);
}

#[test]
fn listen_and_admin_may_both_ask_for_any_port() {
    let c = parse(&format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n{URLS}"
    ));
    assert_eq!((c.listen.port(), c.admin.port()), (0, 0));
}

#[test]
fn queue_timeout_defaults_to_the_upstreams_own_connect_timeout() {
    let c = parse(
        "[primary]\nurl = \"http://v1\"\nconnect_timeout = \"300ms\"\n\
         [candidate]\nurl = \"http://v2\"\nconnect_timeout = \"7s\"\n",
    );
    assert_eq!(c.primary.queue_timeout, Duration::from_millis(300));
    assert_eq!(c.candidate.upstream.queue_timeout, secs(7));
}

#[test]
fn protocols_that_fit_the_scheme() {
    let up = |scheme: &str, protocol: &str| {
        parse(&format!(
            "[primary]\nurl = \"{scheme}://v1\"\nprotocol = \"{protocol}\"\n\
             [candidate]\nurl = \"http://v2\""
        ))
        .primary
        .protocol
    };
    assert_eq!(up("http", "auto"), UpstreamProtocol::Auto);
    assert_eq!(up("https", "auto"), UpstreamProtocol::Auto);
    assert_eq!(up("http", "http1"), UpstreamProtocol::Http1);
    assert_eq!(up("https", "http1"), UpstreamProtocol::Http1);
    assert_eq!(up("http", "h2c"), UpstreamProtocol::H2c);
    assert_eq!(up("https", "h2"), UpstreamProtocol::H2);
    assert_eq!(UpstreamProtocol::default(), UpstreamProtocol::Auto);
    assert_eq!(UpstreamProtocol::H2c.as_str(), "h2c");
}

#[test]
fn candidate_host_and_no_mark() {
    let c = parse(&format!(
        "{URLS}host = \"shadow.example.com:8443\"\nmark_header = \"\"\n"
    ));
    assert_eq!(c.candidate.host.as_deref(), Some("shadow.example.com:8443"));
    assert_eq!(c.candidate.mark_header, None);
    for host in ["v2", "[::1]:8080", "v2.internal:0", "xn--bcher-kva.example"] {
        let c = parse(&format!("{URLS}host = \"{host}\"\n"));
        assert_eq!(c.candidate.host.as_deref(), Some(host));
    }
    // Host in add_headers still works on its own.
    let c = parse(&format!("{URLS}[candidate.add_headers]\nHost = \"v\"\n"));
    assert_eq!(c.candidate.host, None);
    assert_eq!(c.candidate.add_headers, vec![("host".into(), "v".into())]);
}

/// An unset floor follows a ceiling set below it, so an existing small `max_in_flight_mirrors`
/// stays valid; a floor set explicitly is kept.
#[test]
fn adaptive_floor_follows_a_lower_ceiling() {
    let c = parse(&format!("{URLS}[limits]\nmax_in_flight_mirrors = 3\n"));
    assert_eq!(
        (
            c.limits.max_in_flight_mirrors,
            c.limits.min_in_flight_mirrors
        ),
        (3, 3)
    );
    let c = parse(&format!(
        "{URLS}[limits]\nmax_in_flight_mirrors = 64\nmin_in_flight_mirrors = 64\n"
    ));
    assert_eq!(c.limits.min_in_flight_mirrors, 64);
}
