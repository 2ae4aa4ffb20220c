//! Every integer, size and duration key has an upper bound the proxy can honour (`config::bounds`):
//! whatever value is written, validation either refuses it naming the key, or accepts it and the
//! value is within the bound. README.md states each bound.

use config::{bounds, Config, Overrides};
use proptest::prelude::*;

const README: &str = include_str!("../README.md");

const URLS: &str = r#"
[primary]
url = "http://127.0.0.1:8081"
[candidate]
url = "http://127.0.0.1:8082"
"#;

/// A key under test: its path in errors, how to write it, how to read it back, its bound.
struct Key {
    path: &'static str,
    /// The config text with `value` written at the key.
    write: fn(&str) -> String,
    read: fn(&Config) -> u128,
    max: u128,
}

fn top(line: String) -> String {
    format!("{line}\n{URLS}")
}

fn tail(text: String) -> String {
    format!("{URLS}\n{text}")
}

fn primary(line: String) -> String {
    format!("[primary]\nurl = \"http://v1\"\n{line}\n[candidate]\nurl = \"http://v2\"")
}

fn candidate(line: String) -> String {
    format!("[primary]\nurl = \"http://v1\"\n[candidate]\nurl = \"http://v2\"\n{line}")
}

fn route(line: String) -> String {
    tail(format!(
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\n{line}"
    ))
}

fn n<T: Into<u128>>(v: T) -> u128 {
    v.into()
}

fn u(v: usize) -> u128 {
    v as u128
}

/// Integer keys; values are written as TOML integers.
fn integer_keys() -> Vec<Key> {
    vec![
        Key {
            path: "workers",
            write: |v| top(format!("workers = {v}")),
            read: |c| u(c.workers),
            max: u(bounds::WORKERS),
        },
        Key {
            path: "limits.max_connections",
            write: |v| tail(format!("[limits]\nmax_connections = {v}")),
            read: |c| u(c.limits.max_connections),
            max: u(bounds::MAX_CONNECTIONS),
        },
        Key {
            path: "limits.max_in_flight_mirrors",
            write: |v| tail(format!("[limits]\nmax_in_flight_mirrors = {v}")),
            read: |c| u(c.limits.max_in_flight_mirrors),
            max: u(bounds::MAX_IN_FLIGHT_MIRRORS),
        },
        Key {
            path: "limits.min_in_flight_mirrors",
            // Under a ceiling of any accepted size, so only this key can be refused.
            write: |v| {
                tail(format!(
                    "[limits]\nmin_in_flight_mirrors = {v}\nmax_in_flight_mirrors = 100000"
                ))
            },
            read: |c| u(c.limits.min_in_flight_mirrors),
            max: u(bounds::MAX_IN_FLIGHT_MIRRORS),
        },
        Key {
            path: "limits.compare_queue",
            write: |v| tail(format!("[limits]\ncompare_queue = {v}")),
            read: |c| u(c.limits.compare_queue),
            max: u(bounds::COMPARE_QUEUE),
        },
        Key {
            path: "limits.compare_workers",
            write: |v| tail(format!("[limits]\ncompare_workers = {v}")),
            read: |c| u(c.limits.compare_workers),
            max: u(bounds::COMPARE_WORKERS),
        },
        Key {
            path: "limits.h2_max_concurrent_streams",
            write: |v| tail(format!("[limits]\nh2_max_concurrent_streams = {v}")),
            read: |c| n(c.limits.h2_max_concurrent_streams),
            max: n(bounds::H2_MAX_CONCURRENT_STREAMS),
        },
        Key {
            path: "primary.pool_max_idle_per_host",
            write: |v| primary(format!("pool_max_idle_per_host = {v}")),
            read: |c| u(c.primary.pool_max_idle_per_host),
            max: u(bounds::UPSTREAM_CONNECTIONS),
        },
        Key {
            path: "candidate.pool_max_idle_per_host",
            write: |v| candidate(format!("pool_max_idle_per_host = {v}")),
            read: |c| u(c.candidate.upstream.pool_max_idle_per_host),
            max: u(bounds::UPSTREAM_CONNECTIONS),
        },
        Key {
            path: "primary.max_connections",
            write: |v| primary(format!("max_connections = {v}")),
            read: |c| u(c.primary.max_connections),
            max: u(bounds::UPSTREAM_CONNECTIONS),
        },
        Key {
            path: "candidate.max_connections",
            write: |v| candidate(format!("max_connections = {v}")),
            read: |c| u(c.candidate.upstream.max_connections),
            max: u(bounds::UPSTREAM_CONNECTIONS),
        },
        Key {
            path: "routes[0].max_in_flight_mirrors",
            write: |v| route(format!("max_in_flight_mirrors = {v}")),
            read: |c| c.routes[0].max_in_flight_mirrors.map_or(0, u),
            max: u(bounds::MAX_IN_FLIGHT_MIRRORS),
        },
        Key {
            path: "breaker.failure_threshold",
            write: |v| tail(format!("[breaker]\nfailure_threshold = {v}")),
            read: |c| n(c.breaker.failure_threshold),
            max: n(bounds::FAILURE_THRESHOLD),
        },
        Key {
            path: "budget.min_samples",
            write: |v| tail(format!("[budget]\nmin_samples = {v}")),
            read: |c| n(c.budget.min_samples),
            max: n(bounds::MIN_SAMPLES),
        },
        Key {
            path: "routes[0].budget.min_samples",
            write: |v| route(format!("[routes.budget]\nmin_samples = {v}")),
            read: |c| n(c.routes[0].budget.min_samples),
            max: n(bounds::MIN_SAMPLES),
        },
        Key {
            path: "report.max_exemplars",
            write: |v| tail(format!("[report]\nmax_exemplars = {v}")),
            read: |c| u(c.report.max_exemplars),
            max: u(bounds::MAX_EXEMPLARS),
        },
        Key {
            path: "record.max_files",
            write: |v| tail(format!("[record]\nmax_files = {v}")),
            read: |c| u(c.record.max_files),
            max: u(bounds::RECORD_MAX_FILES),
        },
        Key {
            path: "report.jsonl_max_files",
            write: |v| tail(format!("[report]\njsonl_max_files = {v}")),
            read: |c| u(c.report.jsonl_max_files),
            max: u(bounds::JSONL_MAX_FILES),
        },
    ]
}

/// Size keys; values are written as integers or as strings with a unit.
fn size_keys() -> Vec<Key> {
    vec![
        Key {
            path: "limits.max_capture_bytes",
            // Room for two captures of any accepted size, so only this key can be refused.
            write: |v| {
                tail(format!(
                    "[limits]\nmax_capture_bytes = {v}\nmax_pending_bytes = \"16GiB\""
                ))
            },
            read: |c| u(c.limits.max_capture_bytes),
            max: n(bounds::BODY_BYTES),
        },
        Key {
            path: "limits.max_request_body_bytes",
            write: |v| tail(format!("[limits]\nmax_request_body_bytes = {v}")),
            read: |c| u(c.limits.max_request_body_bytes),
            max: n(bounds::BODY_BYTES),
        },
        Key {
            path: "limits.max_pending_bytes",
            write: |v| tail(format!("[limits]\nmax_pending_bytes = {v}")),
            read: |c| u(c.limits.max_pending_bytes),
            max: n(bounds::MAX_PENDING_BYTES),
        },
        Key {
            path: "limits.max_decoded_bytes",
            write: |v| tail(format!("[limits]\nmax_decoded_bytes = {v}")),
            read: |c| u(c.limits.max_decoded_bytes),
            max: n(bounds::BODY_BYTES),
        },
        Key {
            path: "record.max_file_bytes",
            write: |v| tail(format!("[record]\nmax_file_bytes = {v}")),
            read: |c| n(c.record.max_file_bytes),
            max: n(bounds::RECORD_MAX_FILE_BYTES),
        },
        Key {
            path: "record.max_body_bytes",
            write: |v| tail(format!("[record]\nmax_body_bytes = {v}")),
            read: |c| u(c.record.policy.max_body_bytes),
            max: n(bounds::BODY_BYTES),
        },
        Key {
            path: "routes[0].record.max_body_bytes",
            write: |v| route(format!("[routes.record]\nmax_body_bytes = {v}")),
            read: |c| u(c.routes[0].record.max_body_bytes),
            max: n(bounds::BODY_BYTES),
        },
        Key {
            path: "report.jsonl_max_bytes",
            write: |v| tail(format!("[report]\njsonl_max_bytes = {v}")),
            read: |c| n(c.report.jsonl_max_bytes),
            max: n(bounds::JSONL_MAX_BYTES),
        },
    ]
}

fn nanos(d: std::time::Duration) -> u128 {
    d.as_nanos()
}

/// Duration keys; values are written as strings such as `"90m"`.
fn duration_keys() -> Vec<Key> {
    let max = bounds::DURATION.as_nanos();
    vec![
        Key {
            path: "shutdown_grace",
            write: |v| top(format!("shutdown_grace = {v}")),
            read: |c| nanos(c.shutdown_grace),
            max,
        },
        Key {
            path: "header_read_timeout",
            write: |v| top(format!("header_read_timeout = {v}")),
            read: |c| nanos(c.header_read_timeout),
            max,
        },
        Key {
            path: "client_body_timeout",
            write: |v| top(format!("client_body_timeout = {v}")),
            read: |c| nanos(c.client_body_timeout),
            max,
        },
        Key {
            path: "stream_idle_timeout",
            write: |v| top(format!("stream_idle_timeout = {v}")),
            read: |c| nanos(c.stream_idle_timeout),
            max,
        },
        Key {
            path: "primary.connect_timeout",
            write: |v| primary(format!("connect_timeout = {v}")),
            read: |c| nanos(c.primary.connect_timeout),
            max,
        },
        Key {
            path: "primary.timeout",
            write: |v| primary(format!("timeout = {v}")),
            read: |c| nanos(c.primary.timeout),
            max,
        },
        Key {
            path: "primary.pool_idle_timeout",
            write: |v| primary(format!("pool_idle_timeout = {v}")),
            read: |c| nanos(c.primary.pool_idle_timeout),
            max,
        },
        Key {
            path: "primary.queue_timeout",
            write: |v| primary(format!("queue_timeout = {v}")),
            read: |c| nanos(c.primary.queue_timeout),
            max,
        },
        Key {
            path: "candidate.connect_timeout",
            write: |v| candidate(format!("connect_timeout = {v}")),
            read: |c| nanos(c.candidate.upstream.connect_timeout),
            max,
        },
        Key {
            path: "candidate.timeout",
            write: |v| candidate(format!("timeout = {v}")),
            read: |c| nanos(c.candidate.upstream.timeout),
            max,
        },
        Key {
            path: "candidate.pool_idle_timeout",
            write: |v| candidate(format!("pool_idle_timeout = {v}")),
            read: |c| nanos(c.candidate.upstream.pool_idle_timeout),
            max,
        },
        Key {
            path: "candidate.queue_timeout",
            write: |v| candidate(format!("queue_timeout = {v}")),
            read: |c| nanos(c.candidate.upstream.queue_timeout),
            max,
        },
        Key {
            path: "breaker.backoff",
            write: |v| tail(format!("[breaker]\nbackoff = {v}")),
            read: |c| nanos(c.breaker.backoff),
            max,
        },
        Key {
            path: "budget.window",
            write: |v| tail(format!("[budget]\nwindow = {v}")),
            read: |c| nanos(c.budget.window),
            max,
        },
        Key {
            path: "routes[0].budget.window",
            write: |v| route(format!("[routes.budget]\nwindow = {v}")),
            read: |c| nanos(c.routes[0].budget.window),
            max,
        },
    ]
}

/// Refused naming the key, or accepted within the bound. Returns the accepted value.
fn check(key: &Key, value: &str) -> Result<Option<u128>, TestCaseError> {
    let text = (key.write)(value);
    match Config::from_toml_str(&text, &Overrides::default()) {
        Err(e) => {
            let named = e.key();
            prop_assert_eq!(
                named.as_deref(),
                Some(key.path),
                "{} = {}: {}",
                key.path,
                value,
                e
            );
            Ok(None)
        }
        Ok(c) => {
            let got = (key.read)(&c);
            prop_assert!(
                got <= key.max,
                "{} = {} accepted as {}, above the bound {}",
                key.path,
                value,
                got,
                key.max
            );
            Ok(Some(got))
        }
    }
}

/// Integers of every magnitude, both signs, and the edges around each bound.
fn integers() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        (0u32..63).prop_map(|p| 1i64 << p),
        (0u32..63, -2i64..=2).prop_map(|(p, d)| (1i64 << p).saturating_add(d)),
        0i64..=2_000_000,
        Just(i64::MAX),
    ]
}

fn edges() -> Vec<i64> {
    let maxes = integer_keys()
        .iter()
        .chain(&size_keys())
        .map(|k| k.max)
        .collect::<Vec<_>>();
    maxes
        .into_iter()
        .filter_map(|m| i64::try_from(m).ok())
        .flat_map(|m| [m - 1, m, m + 1])
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn integers_are_refused_by_name_or_within_the_bound(v in integers()) {
        for key in integer_keys() {
            let got = check(&key, &v.to_string())?;
            // What is accepted is what was written.
            if let Some(got) = got {
                prop_assert_eq!(Some(got), u128::try_from(v).ok(), "{}", key.path);
            }
        }
    }

    #[test]
    fn sizes_are_refused_by_name_or_within_the_bound(
        v in integers(),
        unit in prop::sample::select(vec!["", "B", "KiB", "MiB", "GiB", "TiB", "kb", "MB", "GB", "TB"]),
        as_string in any::<bool>(),
    ) {
        let value = if as_string || !unit.is_empty() {
            format!("\"{v}{unit}\"")
        } else {
            v.to_string()
        };
        for key in size_keys() {
            check(&key, &value)?;
        }
    }

    #[test]
    fn durations_are_refused_by_name_or_within_the_bound(
        v in integers(),
        unit in prop::sample::select(vec!["ms", "s", "m", "h"]),
    ) {
        for key in duration_keys() {
            check(&key, &format!("\"{v}{unit}\""))?;
        }
    }
}

#[test]
fn every_bound_itself_is_accepted_and_one_more_is_refused() {
    for m in edges() {
        for key in integer_keys().iter().chain(&size_keys()) {
            check(key, &m.to_string()).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    for key in integer_keys().iter().chain(&size_keys()) {
        let at = check(key, &key.max.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(at, Some(key.max), "{} = its bound", key.path);
        let past = check(key, &(key.max + 1).to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(past, None, "{} = its bound + 1", key.path);
    }
    for key in duration_keys() {
        assert!(
            check(&key, "\"24h\"").expect("at the bound").is_some(),
            "{}",
            key.path
        );
        assert!(
            check(&key, "\"24h1ms\"").expect("past the bound").is_none(),
            "{}",
            key.path
        );
    }
}

/// The README row of each integer or size key states its bound, as written in the bounds.
#[test]
fn readme_states_each_bound() {
    let units = [("TiB", 40), ("GiB", 30), ("MiB", 20)];
    for (key, sized) in integer_keys()
        .iter()
        .map(|k| (k, false))
        .chain(size_keys().iter().map(|k| (k, true)))
    {
        // `routes[0].budget.min_samples` is documented as `budget.min_samples`, and
        // `routes[0].record.max_body_bytes` as `record.max_body_bytes`.
        let doc = key
            .path
            .replace("routes[0].budget.", "budget.")
            .replace("routes[0].record.", "record.")
            .replace("routes[0].", "routes.");
        let row = README
            .lines()
            .find(|l| l.starts_with(&format!("| `{doc}` |")))
            .unwrap_or_else(|| panic!("README has no row for `{doc}`"));
        let whole = |shift: &u32| key.max >> shift > 0 && key.max.trailing_zeros() >= *shift;
        let bound = match units.iter().find(|(_, shift)| sized && whole(shift)) {
            Some((name, shift)) => format!("{}{name}", key.max >> shift),
            None => key.max.to_string(),
        };
        let kind = row.split(" | ").nth(1).unwrap_or_default();
        let mut words = kind.split(|c: char| !c.is_ascii_alphanumeric());
        assert!(
            words.any(|w| w == bound),
            "README row for `{doc}` does not state the bound {bound}: {kind}"
        );
    }
}
