//! Stage 1: the TOML file as written. Every key is optional here (defaults and "required" are
//! decided in `validate`, so their errors can name the key); unknown keys are rejected by serde.
//!
//! Durations stay strings and sizes stay [`RawSize`] until validation, so that a bad value is
//! reported as `key: why` with the same wording whether it came from the file or a flag.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub listen: Option<String>,
    pub admin: Option<String>,
    pub mirror_percent: Option<f64>,
    pub sample_by: Option<String>,
    pub shutdown_grace: Option<RawDuration>,
    pub header_read_timeout: Option<RawDuration>,
    pub client_body_timeout: Option<RawDuration>,
    pub stream_idle_timeout: Option<RawDuration>,
    pub workers: Option<usize>,
    pub http1_relay: Option<bool>,
    #[serde(default)]
    pub primary: RawUpstream,
    #[serde(default)]
    pub candidate: RawCandidate,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub breaker: RawBreaker,
    #[serde(default)]
    pub compare: RawCompare,
    #[serde(default)]
    pub budget: RawBudget,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub tls: RawTls,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub report: RawReport,
    #[serde(default)]
    pub admin_auth: RawAdminAuth,
    #[serde(default)]
    pub record: RawRecord,
    #[serde(default)]
    pub grpc: RawGrpc,
    #[serde(default)]
    pub cutover: RawCutover,
    #[serde(default)]
    pub noise: RawNoise,
    pub state_dir: Option<PathBuf>,
}

/// `[noise]`: learning what differs between v1 and itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNoise {
    pub percent: Option<f64>,
    pub secondary: Option<String>,
    pub suppress: Option<bool>,
    pub max_in_flight: Option<usize>,
    pub min_samples: Option<u64>,
}

/// `[cutover]` and `[routes.cutover]`: one table shape; `state_file` is refused in a route's
/// table by validation (one file holds every route's state).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCutover {
    pub state_file: Option<PathBuf>,
    pub mode: Option<String>,
    pub assign_by: Option<String>,
    pub steps: Option<Vec<RawStep>>,
    pub interval: Option<RawDuration>,
    pub failure_limit: Option<u32>,
    pub max_error_rate: Option<f64>,
    pub max_latency_increase: Option<f64>,
    pub min_samples: Option<u64>,
    pub webhook_url: Option<String>,
    pub gates: Option<Vec<RawGate>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub weight: Option<f64>,
    pub hold: Option<RawDuration>,
    pub min_requests: Option<u64>,
}

/// `[[cutover.gates]]`: a Prometheus query whose value must stay at or under `max`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGate {
    pub name: Option<String>,
    pub prometheus: Option<String>,
    pub query: Option<String>,
    pub max: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGrpc {
    pub descriptor_set: Option<PathBuf>,
    pub max_timeout: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub url: Option<String>,
    pub connect_timeout: Option<RawDuration>,
    pub timeout: Option<RawDuration>,
    pub pool_idle_timeout: Option<RawDuration>,
    pub pool_max_idle_per_host: Option<usize>,
    pub max_connections: Option<usize>,
    pub queue_timeout: Option<RawDuration>,
    pub protocol: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// `[candidate]`: the upstream keys repeated, because serde's `flatten` cannot be combined with
/// `deny_unknown_fields`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCandidate {
    pub url: Option<String>,
    pub connect_timeout: Option<RawDuration>,
    pub timeout: Option<RawDuration>,
    pub pool_idle_timeout: Option<RawDuration>,
    pub pool_max_idle_per_host: Option<usize>,
    pub max_connections: Option<usize>,
    pub queue_timeout: Option<RawDuration>,
    pub protocol: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub shadow_host_suffix: Option<bool>,
    pub host: Option<String>,
    pub mark_header: Option<String>,
    pub add_headers: Option<BTreeMap<String, String>>,
    pub remove_headers: Option<Vec<String>>,
    pub rewrite_path_prefix: Option<RawRewrite>,
}

impl RawCandidate {
    /// The upstream half of the candidate table.
    pub fn upstream(&self) -> RawUpstream {
        RawUpstream {
            url: self.url.clone(),
            connect_timeout: self.connect_timeout.clone(),
            timeout: self.timeout.clone(),
            pool_idle_timeout: self.pool_idle_timeout.clone(),
            pool_max_idle_per_host: self.pool_max_idle_per_host,
            max_connections: self.max_connections,
            queue_timeout: self.queue_timeout.clone(),
            protocol: self.protocol.clone(),
            ca_file: self.ca_file.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRewrite {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub max_connections: Option<usize>,
    pub max_in_flight_mirrors: Option<usize>,
    pub adaptive_mirrors: Option<bool>,
    pub min_in_flight_mirrors: Option<usize>,
    pub max_capture_bytes: Option<RawSize>,
    pub max_request_body_bytes: Option<RawSize>,
    pub compare_queue: Option<usize>,
    pub compare_workers: Option<usize>,
    pub background_nice: Option<u32>,
    pub max_pending_bytes: Option<RawSize>,
    pub max_decoded_bytes: Option<RawSize>,
    pub h2_max_concurrent_streams: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBreaker {
    pub failure_threshold: Option<u32>,
    pub backoff: Option<RawDuration>,
    pub trip_on_5xx: Option<bool>,
}

/// `[compare]` and `[routes.compare]`: in a route, each key present replaces the global one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCompare {
    pub ignore_paths: Option<Vec<String>>,
    pub ignore_headers: Option<Vec<String>>,
    pub compare_headers: Option<Vec<String>>,
    pub tolerances: Option<Vec<RawTolerance>>,
    pub timestamps: Option<Vec<String>>,
    pub unordered_arrays: Option<Vec<String>>,
    pub sort_arrays_by: Option<Vec<RawSortRule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTolerance {
    pub path: Option<String>,
    pub abs: Option<f64>,
    pub rel: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSortRule {
    pub path: Option<String>,
    pub key: Option<String>,
}

/// `[budget]` and `[routes.budget]`: in a route, each key present replaces the global one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBudget {
    pub ratio: Option<f64>,
    pub window: Option<RawDuration>,
    pub min_samples: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub name: Option<String>,
    pub path_prefix: Option<String>,
    pub path_template: Option<String>,
    pub methods: Option<Vec<String>>,
    pub mirror_percent: Option<f64>,
    pub allow_unsafe_methods: Option<bool>,
    pub max_in_flight_mirrors: Option<usize>,
    pub sample_by: Option<String>,
    #[serde(default)]
    pub compare: RawCompare,
    #[serde(default)]
    pub budget: RawBudget,
    #[serde(default)]
    pub record: RawRouteRecord,
    #[serde(default)]
    pub cutover: RawCutover,
}

/// `[record]`: which exchanges are written to disk, and where.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecord {
    pub percent: Option<f64>,
    pub dir: Option<PathBuf>,
    pub max_file_bytes: Option<RawSize>,
    pub max_files: Option<usize>,
    pub max_body_bytes: Option<RawSize>,
    pub include_candidate: Option<bool>,
}

/// `[routes.record]`: the keys a route may set for itself. Where files go and how they rotate
/// stay global (one writer), so `dir`, `max_file_bytes` and `max_files` are unknown keys here.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouteRecord {
    pub percent: Option<f64>,
    pub max_body_bytes: Option<RawSize>,
    pub include_candidate: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
    pub access_log: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReport {
    pub max_exemplars: Option<usize>,
    pub max_signatures: Option<usize>,
    pub redact_headers: Option<Vec<String>>,
    pub redact_paths: Option<Vec<String>>,
    pub redact_query: Option<Vec<String>>,
    pub jsonl_path: Option<PathBuf>,
    pub jsonl_max_bytes: Option<RawSize>,
    pub jsonl_max_files: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdminAuth {
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
}

/// A size as written: an integer count of bytes, or a string such as `"64KiB"`.
/// Hand-written rather than `#[serde(untagged)]`, whose error ("did not match any variant")
/// would not say what a size looks like.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawSize {
    Bytes(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: an integer number of bytes or a string such as \"64KiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSize, E> {
                i64::try_from(v)
                    .map(RawSize::Bytes)
                    .map_err(|_| E::custom("size too large"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(v.to_owned()))
            }
        }
        d.deserialize_any(SizeVisitor)
    }
}

/// A duration as written, e.g. `"250ms"` or `"1m30s"`; parsed in validation. Its own type so a
/// bare number gets an error that shows what a duration looks like.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawDuration(pub String);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"250ms\", \"2s\" or \"1m30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(v.to_owned()))
            }
        }
        d.deserialize_str(DurationVisitor)
    }
}
