//! Bad input is rejected with a message that names the key (or flag) and the problem.

use config::{Config, ConfigError, Overrides};

const URLS: &str = r#"
[primary]
url = "http://127.0.0.1:8081"
[candidate]
url = "http://127.0.0.1:8082"
"#;

fn err_with(text: &str, flags: &Overrides) -> String {
    match Config::from_toml_str(text, flags) {
        Ok(c) => panic!("accepted invalid config:\n{text}\n{c:?}"),
        Err(e) => e.to_string(),
    }
}

/// `top` goes before the URL tables (top-level keys), `tail` after them.
fn err(top: &str, tail: &str) -> String {
    err_with(&format!("{top}\n{URLS}\n{tail}"), &Overrides::default())
}

#[track_caller]
fn assert_starts(message: &str, prefix: &str) {
    assert!(
        message.starts_with(prefix),
        "expected `{prefix}...`, got:\n{message}"
    );
}

#[test]
fn unknown_keys_are_named_with_their_table() {
    let e = err("mirror_precent = 5.0", "");
    assert_starts(
        &e,
        "unknown key `mirror_precent` at the top level at line 1, column 1",
    );
    assert!(e.contains("expected one of `listen`"), "{e}");

    let cases = [
        ("mirror_precent = 1", "mirror_precent", "candidate"),
        ("[candidate.rewrite_path_prefix]\nfrom = \"/a\"\nto = \"/b\"\nextra = 1", "extra", "candidate.rewrite_path_prefix"),
        ("[limits]\nmax_inflight = 1", "max_inflight", "limits"),
        ("[breaker]\nthreshold = 1", "threshold", "breaker"),
        ("[compare]\nignore_path = []", "ignore_path", "compare"),
        ("[compare]\ntolerances = [{ path = \"/a\", abs = 1.0, absolute = 1.0 }]", "absolute", "compare.tolerances[0]"),
        ("[compare]\nsort_arrays_by = [{ path = \"/a\", key = \"id\", order = 1 }]", "order", "compare.sort_arrays_by[0]"),
        ("[budget]\nratios = 1", "ratios", "budget"),
        ("[[routes]]\nname = \"a\"\npath_prefix = \"/\"\nprefix = \"/\"", "prefix", "routes[0]"),
        ("[[routes]]\nname = \"a\"\npath_prefix = \"/\"\n[[routes]]\nname = \"b\"\npath_prefix = \"/b\"\n[routes.compare]\nignore = 1", "ignore", "routes[1].compare"),
        ("[[routes]]\nname = \"a\"\npath_prefix = \"/\"\n[routes.budget]\nwindows = \"1m\"", "windows", "routes[0].budget"),
        ("[tls]\ncrt = \"/a\"", "crt", "tls"),
        ("[log]\nlevels = \"info\"", "levels", "log"),
        ("[report]\nmax_exemplar = 1", "max_exemplar", "report"),
        ("[admin_auth]\ntoken = \"x\"", "token", "admin_auth"),
    ];
    for (tail, unknown, table) in cases {
        assert_starts(
            &err("", tail),
            &format!("unknown key `{unknown}` in [{table}] at line "),
        );
    }
}

#[test]
fn unknown_key_via_dotted_key_and_inline_table() {
    let e = err("log.levels = \"x\"", "");
    assert_starts(&e, "unknown key `levels` in [log] at line 1, column 5");
    let e = err_with(
        "[primary]\nurl = \"http://a\"\ntimeout_ms = 1\n",
        &Overrides::default(),
    );
    assert_starts(
        &e,
        "unknown key `timeout_ms` in [primary] at line 3, column 1",
    );
    let e = err("", "[candidate.rewrite_path_prefix]\nfrm = \"/a\"");
    assert_starts(&e, "unknown key `frm` in [candidate.rewrite_path_prefix]");
}

#[test]
fn wrong_types_name_the_key_and_position() {
    let e = err("", "[limits]\ncompare_queue = \"many\"");
    assert_starts(&e, "limits.compare_queue: invalid type: string \"many\"");
    assert!(e.ends_with("at line 9, column 17"), "{e}");
    let e = err("", "[breaker]\nbackoff = 10");
    assert_starts(
        &e,
        "breaker.backoff: invalid type: integer `10`, expected a duration string",
    );
    // A number TOML cannot read at all still names its key.
    let e = err("", "[limits]\nmax_connections = 9223372036854775808");
    assert_starts(&e, "limits.max_connections: ");
    let e = err("primary = 3", "");
    assert!(e.contains("primary"), "{e}");
    let e = err("", "[budget]\nwindow = \"1m\"\nwindow = \"2m\"");
    assert_starts(
        &e,
        "TOML: duplicate key `window` in table `budget` at line 10",
    );
    // An error at a `[[header]]` names the header's table, not the key before it.
    let e = err("", "[[budget]]\nratio = 0.1");
    assert_starts(&e, "budget: invalid type: ");
    let e = err("listen = [", "");
    assert_starts(&e, "TOML: ");
}

#[test]
fn bad_values_name_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("mirror_percent = 120.0", "", "mirror_percent: must be between 0 and 100, got 120"),
        ("mirror_percent = -1.0", "", "mirror_percent: must be between 0 and 100, got -1"),
        ("mirror_percent = nan", "", "mirror_percent: must be between 0 and 100, got NaN"),
        ("shutdown_grace = \"30\"", "", "shutdown_grace: `30` is not a duration (missing unit)"),
        ("shutdown_grace = \"-1s\"", "", "shutdown_grace: `-1s` is not a duration"),
        ("shutdown_grace = \"soon\"", "", "shutdown_grace: `soon` is not a duration"),
        ("listen = \"localhost:80\"", "", "listen: `localhost:80` is not an IP:port address"),
        ("admin = \"127.0.0.1:8080\"", "", "admin: must differ from listen"),
        ("sample_by = \"ip\"", "", "sample_by: `ip` is not a sampling mode"),
        ("sample_by = \"header:bad header\"", "", "sample_by: `bad header` is not a valid header name"),
        ("", "[limits]\nmax_capture_bytes = \"1.5MiB\"", "limits.max_capture_bytes: `1.5MiB` is not a size"),
        ("", "[limits]\nmax_capture_bytes = \"10 parsecs\"", "limits.max_capture_bytes: `10 parsecs` is not a size (unknown unit `parsecs`)"),
        ("", "[limits]\nmax_decoded_bytes = -5", "limits.max_decoded_bytes: must not be negative, got -5"),
        ("", "[limits]\nmax_pending_bytes = \"1MiB\"", "limits.max_pending_bytes: must be at least 2 × limits.max_capture_bytes + 64 KiB for a mirror in flight (2162688 bytes), got 1048576"),
        ("", "[limits]\ncompare_workers = 65", "limits.compare_workers: must be at most 64, got 65"),
        ("", "[limits]\nbackground_nice = 20", "limits.background_nice: must be at most 19, got 20"),
        ("", "[limits]\ncompare_queue = 0", "limits.compare_queue: must be at least 1, got 0"),
        ("", "[limits]\nmax_in_flight_mirrors = 0", "limits.max_in_flight_mirrors: must be at least 1, got 0"),
        ("", "[limits]\nmin_in_flight_mirrors = 0", "limits.min_in_flight_mirrors: must be at least 1, got 0"),
        ("", "[limits]\nmax_in_flight_mirrors = 16\nmin_in_flight_mirrors = 32", "limits.min_in_flight_mirrors: must be at most limits.max_in_flight_mirrors (16), got 32"),
        ("", "[limits]\nadaptive_mirrors = \"yes\"", "limits.adaptive_mirrors"),
        ("", "[limits]\nmax_connections = 0", "limits.max_connections: must be at least 1, got 0"),
        ("", "[limits]\nh2_max_concurrent_streams = 0", "limits.h2_max_concurrent_streams: must be at least 1, got 0"),
        ("client_body_timeout = \"0s\"", "", "client_body_timeout: must be greater than 0"),
        ("stream_idle_timeout = \"0ms\"", "", "stream_idle_timeout: must be greater than 0"),
        ("stream_idle_timeout = \"60\"", "", "stream_idle_timeout: `60` is not a duration (missing unit)"),
        ("", "[breaker]\nbackoff = \"0s\"", "breaker.backoff: must be greater than 0"),
        ("", "[candidate.add_headers]\n\"bad header\" = \"x\"", "candidate.add_headers.bad header: `bad header` is not a valid header name"),
        ("", "[candidate.add_headers]\nX-A = \"line\\nbreak\"", "candidate.add_headers.X-A: `line\nbreak` is not a valid header value"),
        ("", "[candidate.add_headers]\nContent-Length = \"1\"", "candidate.add_headers.Content-Length: `content-length` is managed by the proxy"),
        ("", "[candidate.add_headers]\nX-A = \"1\"\nx-a = \"2\"", "candidate.add_headers.x-a: `x-a` is set twice"),
        ("", "[budget]\nratio = 1.5", "budget.ratio: must be between 0 and 1, got 1.5"),
        ("", "[budget]\nwindow = \"500ms\"", "budget.window: must be at least 1s, got 500ms"),
        ("", "[compare]\nignore_paths = [\"/ok\", \"a/b\"]", "compare.ignore_paths[1]: `a/b` is not a JSON Pointer: it must start with '/'"),
        ("", "[compare]\ntimestamps = [\"/a~2\"]", "compare.timestamps[0]: `/a~2` is not a JSON Pointer: '~' must be followed by 0 or 1"),
        ("", "[compare]\nignore_headers = [\"x y\"]", "compare.ignore_headers[0]: `x y` is not a valid header name"),
        ("", "[compare]\ntolerances = [{ path = \"/a\" }]", "compare.tolerances[0]: set abs or rel"),
        ("", "[compare]\ntolerances = [{ path = \"/a\", abs = -1.0 }]", "compare.tolerances[0].abs: must be a finite number ≥ 0, got -1"),
        ("", "[compare]\ntolerances = [{ path = \"/a\", rel = inf }]", "compare.tolerances[0].rel: must be a finite number ≥ 0, got inf"),
        ("", "[compare]\ntolerances = [{ abs = 1.0 }]", "compare.tolerances[0].path: required"),
        ("", "[compare]\nsort_arrays_by = [{ path = \"/a\" }]", "compare.sort_arrays_by[0].key: required"),
        ("", "[report]\nredact_paths = [\"x\"]", "report.redact_paths[0]: `x` is not a JSON Pointer"),
        ("", "[report]\njsonl_max_files = 0", "report.jsonl_max_files: must be at least 1, got 0"),
        ("", "[report]\nredact_headers = [\"\"]", "report.redact_headers[0]: `` is not a valid header name"),
        ("", "[report]\nredact_query = [\"a=b\"]", "report.redact_query[0]: `a=b` is not a query parameter name"),
        ("", "[admin_auth]\ntoken_env = \"A\"\ntoken_file = \"/t\"", "admin_auth: set token_file or token_env, not both"),
        ("", "[log]\nformat = \"xml\"", "log.format: must be \"text\" or \"json\", got \"xml\""),
        ("", "[tls]\ncert = \"/c.pem\"", "tls.cert: requires a private key too"),
        ("", "[tls]\nkey = \"/k.pem\"", "tls.key: requires a certificate too"),
    ];
    for (top, tail, expected) in cases {
        assert_starts(&err(top, tail), expected);
    }
}

/// Every integer, size and duration has an upper bound; the error names the key and the bound.
#[test]
fn values_past_their_bound_name_the_key_and_the_bound() {
    let integers: &[(&str, &str, &str)] = &[
        ("workers = 257", "", "workers: must be at most 256, got 257"),
        ("", "[limits]\ncompare_queue = 1000000000000", "limits.compare_queue: must be at most 1000000, got 1000000000000"),
        ("", "[limits]\nmax_connections = 9223372036854775807", "limits.max_connections: must be at most 1000000, got 9223372036854775807"),
        ("", "[limits]\nmax_in_flight_mirrors = 9223372036854775807", "limits.max_in_flight_mirrors: must be at most 100000, got 9223372036854775807"),
        ("", "[limits]\ncompare_workers = 1000", "limits.compare_workers: must be at most 64, got 1000"),
        ("", "[limits]\nh2_max_concurrent_streams = 10001", "limits.h2_max_concurrent_streams: must be at most 10000, got 10001"),
        ("", "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nmax_in_flight_mirrors = 100001", "routes[0].max_in_flight_mirrors: must be at most 100000, got 100001"),
        ("", "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nmax_in_flight_mirrors = 0", "routes[0].max_in_flight_mirrors: must be at least 1, got 0"),
        ("", "[breaker]\nfailure_threshold = 4000000000", "breaker.failure_threshold: must be at most 1000000, got 4000000000"),
        ("", "[budget]\nmin_samples = 1000000001", "budget.min_samples: must be at most 1000000000, got 1000000001"),
        ("", "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\n[routes.budget]\nmin_samples = 9223372036854775807", "routes[0].budget.min_samples: must be at most 1000000000, got 9223372036854775807"),
        ("", "[report]\nmax_exemplars = 10001", "report.max_exemplars: must be at most 10000, got 10001"),
        ("", "[report]\njsonl_max_files = 1001", "report.jsonl_max_files: must be at most 1000, got 1001"),
    ];
    let sizes: &[(&str, &str, &str)] = &[
        ("", "[limits]\nmax_capture_bytes = \"2GiB\"", "limits.max_capture_bytes: must be at most 1GiB (1073741824 bytes), got 2147483648"),
        ("", "[limits]\nmax_request_body_bytes = 1073741825", "limits.max_request_body_bytes: must be at most 1GiB (1073741824 bytes), got 1073741825"),
        ("", "[limits]\nmax_decoded_bytes = \"1TiB\"", "limits.max_decoded_bytes: must be at most 1GiB (1073741824 bytes), got 1099511627776"),
        ("", "[limits]\nmax_pending_bytes = \"400TB\"", "limits.max_pending_bytes: must be at most 16GiB (17179869184 bytes), got 400000000000000"),
        ("", "[report]\njsonl_max_bytes = \"65GiB\"", "report.jsonl_max_bytes: must be at most 64GiB (68719476736 bytes), got 69793218560"),
    ];
    let durations: &[(&str, &str, &str)] = &[
        (
            "shutdown_grace = \"25h\"",
            "",
            "shutdown_grace: must be at most 24h, got 25h",
        ),
        (
            "header_read_timeout = \"1000000h\"",
            "",
            "header_read_timeout: must be at most 24h, got 1000000h",
        ),
        (
            "client_body_timeout = \"25h\"",
            "",
            "client_body_timeout: must be at most 24h, got 25h",
        ),
        (
            "stream_idle_timeout = \"1441m\"",
            "",
            "stream_idle_timeout: must be at most 24h, got 1441m",
        ),
        (
            "",
            "[breaker]\nbackoff = \"24h1ms\"",
            "breaker.backoff: must be at most 24h, got 24h1ms",
        ),
        (
            "",
            "[budget]\nwindow = \"48h\"",
            "budget.window: must be at most 24h, got 48h",
        ),
    ];
    for (top, tail, expected) in integers.iter().chain(sizes).chain(durations) {
        assert_starts(&err(top, tail), expected);
    }
    // Upstream keys, in both tables.
    for table in ["primary", "candidate"] {
        let up = |line: &str| {
            let other = if table == "primary" {
                "candidate"
            } else {
                "primary"
            };
            err_with(
                &format!("[{table}]\nurl = \"http://v\"\n{line}\n[{other}]\nurl = \"http://w\""),
                &Overrides::default(),
            )
        };
        assert_starts(
            &up("pool_max_idle_per_host = 100001"),
            &format!("{table}.pool_max_idle_per_host: must be at most 100000, got 100001"),
        );
        assert_starts(
            &up("max_connections = 100001"),
            &format!("{table}.max_connections: must be at most 100000, got 100001"),
        );
        assert_starts(
            &up("max_connections = 0"),
            &format!("{table}.max_connections: must be at least 1, got 0"),
        );
        for key in [
            "connect_timeout",
            "timeout",
            "pool_idle_timeout",
            "queue_timeout",
        ] {
            assert_starts(
                &up(&format!("{key} = \"30h\"")),
                &format!("{table}.{key}: must be at most 24h, got 30h"),
            );
        }
    }
    // A flag is bounded like its key.
    assert_starts(
        &err_with(
            URLS,
            &Overrides {
                workers: Some(100_000),
                ..Overrides::default()
            },
        ),
        "--workers: must be at most 256, got 100000",
    );
}

#[test]
fn bad_upstreams_name_the_key() {
    let with = |primary: &str| {
        err_with(
            &format!("[primary]\n{primary}\n[candidate]\nurl = \"http://v2\""),
            &Overrides::default(),
        )
    };
    assert_starts(
        &with("url = \"ftp://v1\""),
        "primary.url: `ftp://v1` has scheme `ftp`; use http:// or https://",
    );
    assert_starts(
        &with("url = \"v1:80\""),
        "primary.url: `v1:80` has no scheme",
    );
    assert_starts(
        &with("url = \"/just/a/path\""),
        "primary.url: `/just/a/path` has no scheme",
    );
    assert_starts(
        &with("url = \"http://v1/?a=1\""),
        "primary.url: `http://v1/?a=1` must not have a query string",
    );
    assert_starts(
        &with("url = \"http://v1/#top\""),
        "primary.url: `http://v1/#top` must not have a fragment",
    );
    assert_starts(
        &with("url = \"http://u:p@v1/\""),
        "primary.url: `http://u:p@v1/` must not contain credentials",
    );
    assert_starts(
        &with("url = \"http://v1\"\ntimeout = \"0s\""),
        "primary.timeout: must be greater than 0",
    );
    assert_starts(
        &with("url = \"http://v1\"\nclient_cert = \"/c\""),
        "primary.client_cert: requires primary.client_key too",
    );
    assert_starts(
        &with("url = \"http://v1\"\nclient_key = \"/k\""),
        "primary.client_key: requires primary.client_cert too",
    );

    assert_starts(
        &with("url = \"http://v1\"\nprotocol = \"http2\""),
        "primary.protocol: must be \"auto\", \"http1\", \"h2c\" or \"h2\", got \"http2\"",
    );
    assert_starts(
        &with("url = \"https://v1\"\nprotocol = \"h2c\""),
        "primary.protocol: \"h2c\" is HTTP/2 without TLS and needs an http:// URL, but primary.url is https://v1/",
    );
    assert_starts(
        &with("url = \"http://v1:8080\"\nprotocol = \"h2\""),
        "primary.protocol: \"h2\" is HTTP/2 over TLS and needs an https:// URL, but primary.url is http://v1:8080/",
    );
    // The URL may come from a flag; the error says so.
    assert_starts(
        &err_with(
            "[primary]\nurl = \"http://v1\"\n[candidate]\nurl = \"https://v2\"\nprotocol = \"h2\"",
            &Overrides {
                candidate: Some("http://v2".into()),
                ..Overrides::default()
            },
        ),
        "candidate.protocol: \"h2\" is HTTP/2 over TLS and needs an https:// URL, but --candidate is http://v2/",
    );

    let none = Overrides::default();
    assert_starts(
        &err_with("", &none),
        "primary.url: required (set it in [primary] or with --primary)",
    );
    let only_v1 = "[primary]\nurl = \"http://v1\"";
    assert_starts(
        &err_with(only_v1, &none),
        "candidate.url: required (set it in [candidate] or with --candidate)",
    );

    let v2 = |t: &str| err("", t);
    let cases = [
        ("host = \"\"", "candidate.host: must not be empty"),
        ("host = \"u:p@v2\"", "candidate.host: `u:p@v2` must not contain credentials"),
        ("host = \"v2/x\"", "candidate.host: `v2/x` is not a host or host:port"),
        ("host = \"a b\"", "candidate.host: `a b` is not a host or host:port"),
        ("host = \"v2:http\"", "candidate.host: `v2:http` has a bad port"),
        ("host = \"v2:65536\"", "candidate.host: `v2:65536` has a bad port"),
        ("host = \"v2:\"", "candidate.host: `v2:` has a bad port"),
        ("host = \"v2\"\nshadow_host_suffix = true", "candidate.host: set either candidate.host or candidate.shadow_host_suffix = true, not both"),
        ("host = \"v2\"\nadd_headers = { HOST = \"x\" }", "candidate.host: set either candidate.host or a Host in candidate.add_headers, not both"),
        ("host = \"v2\"\nremove_headers = [\"Host\"]", "candidate.host: set either candidate.host or a Host in candidate.remove_headers, not both"),
        ("mark_header = \"x mirror\"", "candidate.mark_header: `x mirror` is not a valid header name"),
        ("mark_header = \"Transfer-Encoding\"", "candidate.mark_header: `transfer-encoding` is managed by the proxy"),
        ("mark_header = \"host\"", "candidate.mark_header: `host` is managed by the proxy"),
        ("mark_header = \"X-M\"\nadd_headers = { x-m = \"2\" }", "candidate.mark_header: `x-m` is also in candidate.add_headers"),
        ("remove_headers = [\"X-Shadowdiff-Mirror\"]", "candidate.mark_header: `x-shadowdiff-mirror` is also in candidate.remove_headers; to send no mark, set candidate.mark_header = \"\""),
    ];
    for (candidate_lines, expected) in cases {
        // URLS ends in [candidate]: these lines land in it.
        assert_starts(&v2(candidate_lines), expected);
    }

    let rw = |t: &str| err("", &format!("[candidate.rewrite_path_prefix]\n{t}"));
    assert_starts(
        &rw("from = \"api\"\nto = \"/v2\""),
        "candidate.rewrite_path_prefix.from: must start with '/', got \"api\"",
    );
    assert_starts(
        &rw("from = \"/api\""),
        "candidate.rewrite_path_prefix.to: required",
    );
}

#[test]
fn bad_routes_name_the_route() {
    let route = |body: &str| {
        err(
            "",
            &format!("[[routes]]\nname = \"ok\"\npath_prefix = \"/ok\"\n[[routes]]\n{body}"),
        )
    };
    assert_starts(
        &route("name = \"ok\"\npath_prefix = \"/x\""),
        "routes[1].name: `ok` is already the name of another route",
    );
    assert_starts(
        &route("name = \"default\"\npath_prefix = \"/x\""),
        "routes[1].name: `default` is reserved",
    );
    assert_starts(
        &route("name = \"a b\"\npath_prefix = \"/x\""),
        "routes[1].name: `a b` must be 1–64 characters",
    );
    assert_starts(
        &route(&format!(
            "name = \"{}\"\npath_prefix = \"/x\"",
            "n".repeat(65)
        )),
        "routes[1].name: `nnn",
    );
    assert_starts(&route("path_prefix = \"/x\""), "routes[1].name: required");
    assert_starts(
        &route("name = \"x\""),
        "routes[1]: set path_prefix or path_template (or both)",
    );
    assert_starts(
        &route("name = \"x\"\npath_prefix = \"x\""),
        "routes[1].path_prefix: must start with '/'",
    );
    assert_starts(
        &route("name = \"x\"\npath_template = \"/o/{id\""),
        "routes[1].path_template: bad segment `{id`",
    );
    assert_starts(
        &route("name = \"x\"\npath_template = \"/o/x{id}\""),
        "routes[1].path_template: bad segment `x{id}`",
    );
    assert_starts(
        &route("name = \"x\"\npath_template = \"/o/{}\""),
        "routes[1].path_template: bad segment `{}`",
    );
    assert_starts(
        &route("name = \"x\"\npath_template = \"/{a}/{a}\""),
        "routes[1].path_template: placeholder `{a}` appears twice",
    );
    assert_starts(
        &route("name = \"x\"\npath_template = \"o/{id}\""),
        "routes[1].path_template: must start with '/'",
    );
    assert_starts(
        &route("name = \"x\"\npath_prefix = \"/x\"\nmethods = [\"GET\", \"G ET\"]"),
        "routes[1].methods[1]: `G ET` is not an HTTP method",
    );
    assert_starts(
        &route("name = \"x\"\npath_prefix = \"/x\"\nmethods = [\"\"]"),
        "routes[1].methods[0]: `` is not an HTTP method",
    );
    assert_starts(
        &route("name = \"x\"\npath_prefix = \"/x\"\nmethods = [\"get\", \"GET\"]"),
        "routes[1].methods[1]: `GET` is listed twice",
    );
    assert_starts(
        &route("name = \"x\"\npath_prefix = \"/x\"\nmirror_percent = 120.0"),
        "routes[1].mirror_percent: must be between 0 and 100, got 120",
    );
    assert_starts(
        &route("name = \"x\"\npath_prefix = \"/x\"\nsample_by = \"cookie:\""),
        "routes[1].sample_by: `` is not a valid cookie name",
    );
    assert_starts(
        &route("name = \"x\"\npath_prefix = \"/x\"\n[routes.compare]\nignore_paths = [\"nope\"]"),
        "routes[1].compare.ignore_paths[0]: `nope` is not a JSON Pointer",
    );
    assert_starts(
        &route("name = \"x\"\npath_prefix = \"/x\"\n[routes.budget]\nratio = 2.0"),
        "routes[1].budget.ratio: must be between 0 and 1, got 2",
    );
}

#[test]
fn flags_are_checked_like_file_values_and_named() {
    let bad = |flags: Overrides| err_with(URLS, &flags);
    let o = Overrides::default;
    assert_starts(
        &bad(Overrides {
            mirror_percent: Some(150.0),
            ..o()
        }),
        "--mirror-percent: must be between 0 and 100, got 150",
    );
    assert_starts(
        &bad(Overrides {
            listen: Some("nope".into()),
            ..o()
        }),
        "--listen: `nope` is not an IP:port address",
    );
    assert_starts(
        &bad(Overrides {
            admin: Some("127.0.0.1:8080".into()),
            ..o()
        }),
        "--admin: must differ from listen",
    );
    assert_starts(
        &bad(Overrides {
            primary: Some("ftp://x".into()),
            ..o()
        }),
        "--primary: `ftp://x` has scheme `ftp`",
    );
    assert_starts(
        &bad(Overrides {
            candidate: Some("http://x?y".into()),
            ..o()
        }),
        "--candidate: `http://x?y` must not have a query string",
    );
    assert_starts(
        &bad(Overrides {
            tls_cert: Some("/c".into()),
            ..o()
        }),
        "--tls-cert: requires a private key too (tls.key or --tls-key)",
    );
    assert_starts(
        &bad(Overrides {
            tls_key: Some("/k".into()),
            ..o()
        }),
        "--tls-key: requires a certificate too",
    );
    assert_starts(
        &bad(Overrides {
            log_format: Some("yaml".into()),
            ..o()
        }),
        "--log-format: must be \"text\" or \"json\"",
    );
    assert_starts(
        &bad(Overrides {
            log_level: Some(" ".into()),
            ..o()
        }),
        "--log-level: must not be empty",
    );

    // A flag may complete a pair that the file started.
    let file = format!("{URLS}\n[tls]\ncert = \"/c.pem\"");
    let c = Config::from_toml_str(
        &file,
        &Overrides {
            tls_key: Some("/k.pem".into()),
            ..o()
        },
    );
    assert!(c.is_ok(), "{c:?}");
}

#[test]
fn errors_expose_the_key() {
    let e = Config::from_toml_str(
        &format!("mirror_percent = 101.0\n{URLS}"),
        &Overrides::default(),
    )
    .expect_err("invalid");
    assert_eq!(e.key().as_deref(), Some("mirror_percent"));
    assert!(matches!(e, ConfigError::Invalid { .. }));
    let e = Config::from_toml_str(
        &format!("{URLS}\nmirror_precent = 1"),
        &Overrides::default(),
    )
    .expect_err("unknown");
    assert_eq!(e.key().as_deref(), Some("candidate.mirror_precent"));
}

#[test]
fn bad_cutover_schedules_name_the_key() {
    let cases = [
        (
            "[cutover]\nsteps = [{weight = 50, hold = \"5m\"}, {weight = 25, hold = \"5m\"}]",
            "cutover.steps[1].weight: weights must increase step by step: 25 follows 50",
        ),
        (
            "[cutover]\nsteps = [{weight = 150, hold = \"5m\"}]",
            "cutover.steps[0].weight: must be above 0 and at most 100, got 150",
        ),
        (
            "[cutover]\ninterval = \"1m\"\nsteps = [{weight = 10, hold = \"30s\"}]",
            "cutover.steps[0].hold: must be at least the interval",
        ),
        ("[cutover]\nsteps = [{weight = 10}]", "cutover.steps[0].hold: required"),
        (
            "[cutover]\nmode = \"blue-green\"",
            "cutover.mode: `blue-green` is not a mode",
        ),
        (
            "[cutover]\nassign_by = \"ip\"",
            "cutover.assign_by: `ip` is not an assignment",
        ),
        ("[cutover]\nfailure_limit = 0", "cutover.failure_limit: must be at least 1, got 0"),
        ("[cutover]\nmax_error_rate = 2.0", "cutover.max_error_rate: must be between 0 and 1"),
        (
            "[[cutover.gates]]\nprometheus = \"http://p:9090\"\nquery = \"up\"",
            "cutover.gates[0].max: required",
        ),
        (
            "[[cutover.gates]]\nname = \"latency\"\nprometheus = \"http://p:9090\"\nquery = \"up\"\nmax = 1",
            "cutover.gates[0].name: `latency` is a built-in gate's name",
        ),
        (
            "[[routes]]\nname = \"api\"\npath_prefix = \"/api\"\n[routes.cutover]\nsteps = [{weight = 10, hold = \"1h\"}, {weight = 10, hold = \"1h\"}]",
            "routes[0].cutover.steps[1].weight: weights must increase",
        ),
    ];
    for (tail, want) in cases {
        assert_starts(&err("", tail), want);
    }
    // An unknown gate key and a per-route state_file are unknown keys, named with their table.
    let e = err("", "[[cutover.gates]]\nthreshold = 1");
    assert!(e.contains("unknown key `threshold`"), "{e}");
    let e = err(
        "",
        "[[routes]]\nname = \"api\"\npath_prefix = \"/api\"\n[routes.cutover]\nstate_file = \"/x\"",
    );
    assert_starts(&e, "routes[0].cutover.state_file: is global only");
}
