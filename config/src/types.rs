//! The validated configuration: what the proxy runs with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use diff_engine::RuleSpec;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Data listener (`listen`, `--listen`).
    pub listen: SocketAddr,
    /// Admin listener: metrics, health, report, control (`admin`, `--admin`).
    pub admin: SocketAddr,
    pub primary: Upstream,
    pub candidate: Candidate,
    /// Share of eligible requests mirrored, 0–100 (`mirror_percent`, `--mirror-percent`).
    pub mirror_percent: f64,
    /// How requests are sampled (`sample_by`).
    pub sample_by: SampleBy,
    pub limits: Limits,
    pub breaker: Breaker,
    /// Default compare rules (`[compare]`).
    pub compare: RuleSpec,
    /// Default budget (`[budget]`).
    pub budget: Budget,
    /// `[[routes]]` in order; first match wins; unmatched requests use route `default`.
    pub routes: Vec<Route>,
    pub tls: Option<Tls>,
    pub log: Log,
    pub report: Report,
    pub admin_auth: AdminAuth,
    pub grpc: Grpc,
    /// Recording of exchanges to disk (`[record]`).
    pub record: Record,
    /// Serving a share of users from v2 (`[cutover]`).
    pub cutover: Cutover,
    /// Learning noise from v1 against itself (`[noise]`).
    pub noise: Noise,
    /// Where mismatch signatures and learned noise are kept across restarts (`state_dir`);
    /// `None` keeps them in memory only.
    pub state_dir: Option<PathBuf>,
    /// Grace period for in-flight exchanges on SIGTERM/SIGINT (`shutdown_grace`).
    pub shutdown_grace: Duration,
    /// A client connection must deliver a request head within this long, counted from its start
    /// or from its previous response: the slowloris guard and the idle keep-alive timeout
    /// (`header_read_timeout`).
    pub header_read_timeout: Duration,
    /// Longest pause between two reads of a client's request body; past it the client gets 408
    /// (`client_body_timeout`).
    pub client_body_timeout: Duration,
    /// Longest pause between two body frames of an upstream response once its headers arrived
    /// (`stream_idle_timeout`).
    pub stream_idle_timeout: Duration,
    /// I/O threads serving the listeners (`workers`); 1 runs a single-threaded runtime.
    pub workers: usize,
    /// Plain HTTP/1.1 requests on routes that copy nothing cross as bytes, without hyper
    /// (`http1_relay`, default true).
    pub http1_relay: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// Base URL: scheme `http` or `https`, authority, optional path prefix.
    pub url: http::Uri,
    pub connect_timeout: Duration,
    /// Time to response headers; past it v1 → 504, v2 → counted `timeout`.
    pub timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    /// Connections open to this upstream at once, pooled or in use (`max_connections`).
    pub max_connections: usize,
    /// How long a request waits for a free connection when `max_connections` are in use: then
    /// the client gets 503 (v1), or the mirror is skipped as overloaded (v2). Zero: no wait.
    /// Defaults to `connect_timeout` (`queue_timeout`).
    pub queue_timeout: Duration,
    /// HTTP version spoken to this upstream (`protocol`); checked against the URL's scheme.
    pub protocol: UpstreamProtocol,
    /// Extra CA (PEM) to trust for `https` upstreams.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mTLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// How to speak to an upstream (`primary.protocol`, `candidate.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// `"auto"`: HTTP/1.1 on `http://`; on `https://`, ALPN offers h2 and http/1.1 and the
    /// upstream picks.
    #[default]
    Auto,
    /// `"http1"`: HTTP/1.1 only (on `https://`, ALPN offers only http/1.1).
    Http1,
    /// `"h2c"`: HTTP/2 over cleartext with prior knowledge (no Upgrade); `http://` only.
    H2c,
    /// `"h2"`: HTTP/2 over TLS; ALPN offers only h2, and an upstream that does not pick it
    /// fails the handshake. `https://` only.
    H2,
}

impl UpstreamProtocol {
    /// The value as written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Http1 => "http1",
            Self::H2c => "h2c",
            Self::H2 => "h2",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub upstream: Upstream,
    /// Append Envoy-style `-shadow` to the Host/authority sent to v2.
    pub shadow_host_suffix: bool,
    /// An explicit Host (`host` or `host:port`) for mirrored requests instead of the client's,
    /// which v1 got too (`candidate.host`). Never set together with `shadow_host_suffix`, nor with a
    /// `host` in `add_headers` or `remove_headers`.
    pub host: Option<String>,
    /// Header set to `1` on every mirrored request, lower-case (`candidate.mark_header`,
    /// default `x-shadowdiff-mirror`); `None` when configured as `""`. Never a hop-by-hop,
    /// framing or Host header, nor one in `add_headers` or `remove_headers`.
    pub mark_header: Option<String>,
    /// Headers added (or replaced) on mirrored requests.
    pub add_headers: Vec<(String, String)>,
    /// Headers removed from mirrored requests.
    pub remove_headers: Vec<String>,
    /// Path prefix rewrite on mirrored requests: `from` → `to`.
    pub rewrite_path_prefix: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SampleBy {
    Random,
    Header(String),
    Cookie(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Open client connections on the data listener; at the limit it stops accepting until one
    /// closes (`limits.max_connections`). Read at start.
    pub max_connections: usize,
    /// Mirrors in flight at once, all routes (`limits.max_in_flight_mirrors`): the hard ceiling,
    /// and the limit itself when `adaptive_mirrors` is off.
    pub max_in_flight_mirrors: usize,
    /// Move the in-flight limit between `min_in_flight_mirrors` and `max_in_flight_mirrors` by
    /// v2's latency and the I/O threads' scheduling delay (`limits.adaptive_mirrors`).
    pub adaptive_mirrors: bool,
    /// The adaptive limit's floor (`limits.min_in_flight_mirrors`); at most
    /// `max_in_flight_mirrors`.
    pub min_in_flight_mirrors: usize,
    /// Bytes of each side's response body kept for comparison (`limits.max_capture_bytes`).
    pub max_capture_bytes: usize,
    /// Bytes of a request body copied for the mirror (`limits.max_request_body_bytes`).
    pub max_request_body_bytes: usize,
    /// Comparison jobs waiting for a worker (`limits.compare_queue`).
    pub compare_queue: usize,
    /// Comparison worker threads (`limits.compare_workers`).
    pub compare_workers: usize,
    /// Niceness added to the mirror thread and the comparison threads, 0 to 19
    /// (`limits.background_nice`; 0: the same priority as the I/O thread).
    pub background_nice: u32,
    /// Bytes held by all pending comparisons together (`limits.max_pending_bytes`).
    pub max_pending_bytes: usize,
    /// Decoded (decompressed) body cap (`limits.max_decoded_bytes`).
    pub max_decoded_bytes: usize,
    /// HTTP/2 streams open at once on one client connection
    /// (`limits.h2_max_concurrent_streams`); hyper's `max_concurrent_streams` takes a `u32`.
    pub h2_max_concurrent_streams: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Breaker {
    /// Consecutive candidate failures that open the breaker; 0 disables it.
    pub failure_threshold: u32,
    /// How long mirroring stays off before a probe.
    pub backoff: Duration,
    /// Count v2 5xx responses as failures.
    pub trip_on_5xx: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Allowed mismatch ratio, e.g. 0.001 = 0.1 %.
    pub ratio: f64,
    pub window: Duration,
    /// Comparisons needed in the window before `budget_exceeded` can be 1.
    pub min_samples: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The `route` label. Unique; `default` is reserved.
    pub name: String,
    pub path_prefix: Option<String>,
    /// Template such as `/orders/{id}`; `{x}` matches one non-empty segment.
    pub path_template: Option<String>,
    /// Empty = any method.
    pub methods: Vec<http::Method>,
    /// Overrides the global `mirror_percent`.
    pub mirror_percent: Option<f64>,
    /// Mirror unsafe methods (POST, PUT, …) on this route.
    pub allow_unsafe_methods: bool,
    /// Mirrors of this route in flight at once, on top of the global limit; `None` = only the global one.
    pub max_in_flight_mirrors: Option<usize>,
    /// Overrides the global `sample_by`.
    pub sample_by: Option<SampleBy>,
    /// Global `[compare]` with this route's keys laid over it.
    pub compare: RuleSpec,
    /// Global `[budget]` with this route's keys laid over it.
    pub budget: Budget,
    /// Global `[record]` with this route's keys (`[routes.record]`) laid over it.
    pub record: RecordPolicy,
    /// Global `[cutover]` with this route's keys (`[routes.cutover]`) laid over it.
    pub cutover: CutoverPolicy,
}

/// `[record]`: exchanges written to rotating zstd JSON-lines files by a writer of their own.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Directory of the recording files (`record.dir`); required when any route records.
    pub dir: Option<PathBuf>,
    /// A file is closed and a new one started past this many bytes on disk
    /// (`record.max_file_bytes`).
    pub max_file_bytes: u64,
    /// Files kept in `dir`; the oldest goes when a new one would pass it (`record.max_files`).
    pub max_files: usize,
    /// The default route's policy (`record.percent`, `record.max_body_bytes`,
    /// `record.include_candidate`), which `[routes.record]` keys override.
    pub policy: RecordPolicy,
}

/// What one route records.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPolicy {
    /// Share of requests recorded, 0–100, independent of `mirror_percent`.
    pub percent: f64,
    /// An exchange with a request or v1 body over this is not recorded (counted).
    pub max_body_bytes: usize,
    /// Also keep v2's response when the request was mirrored.
    pub include_candidate: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive, e.g. `info` or `shadowdiff=debug`.
    pub level: String,
    pub access_log: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Recent mismatches kept in memory for `/api/mismatches` and the report page.
    pub max_exemplars: usize,
    /// Mismatch signatures kept (`/api/signatures`); past it the rarest goes.
    pub max_signatures: usize,
    /// Headers redacted in exemplars (on top of Authorization, Cookie, Set-Cookie).
    pub redact_headers: Vec<String>,
    /// JSON Pointer patterns whose values are redacted in exemplars.
    pub redact_paths: Vec<String>,
    /// Query parameters whose values are redacted (on top of `access_token`), by name.
    pub redact_query: Vec<String>,
    /// Optional JSONL sink of mismatches, rotated by size.
    pub jsonl_path: Option<PathBuf>,
    pub jsonl_max_bytes: u64,
    pub jsonl_max_files: usize,
}

/// `[grpc]`: how gRPC calls are timed and compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Grpc {
    /// A FileDescriptorSet (`protoc --descriptor_set_out --include_imports`): messages are then
    /// compared by field name; without it, by field number (`grpc.descriptor_set`).
    pub descriptor_set: Option<PathBuf>,
    /// The most a call's own `grpc-timeout` may give an upstream (`grpc.max_timeout`).
    pub max_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdminAuth {
    /// File holding the bearer token for admin mutations.
    pub token_file: Option<PathBuf>,
    /// Environment variable holding the bearer token.
    pub token_env: Option<String>,
}

/// Values given on the command line; each `Some` replaces the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub admin: Option<String>,
    pub primary: Option<String>,
    pub candidate: Option<String>,
    pub mirror_percent: Option<f64>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub access_log: Option<bool>,
    pub workers: Option<usize>,
}

/// `[cutover]`: which backend serves, per route, and the schedule that moves users to v2.
#[derive(Debug, Clone, PartialEq)]
pub struct Cutover {
    /// Where the live state (step, weight, pause, abort) is kept across restarts
    /// (`cutover.state_file`); `None` = a restart starts each cutover from its mode's beginning.
    pub state_file: Option<PathBuf>,
    /// The default route's policy, which `[routes.cutover]` keys override.
    pub policy: CutoverPolicy,
}

/// Who serves a route: v1 alone (`shadow`), a sticky share of users on v2 walked up a
/// schedule (`canary`), or v2 alone with v1 compared in the background (`promoted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutoverMode {
    #[default]
    Shadow,
    Canary,
    Promoted,
}

impl CutoverMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CutoverMode::Shadow => "shadow",
            CutoverMode::Canary => "canary",
            CutoverMode::Promoted => "promoted",
        }
    }
}

/// What keeps a user on the same backend (`assign_by`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AssignBy {
    /// Each request on its own: no stickiness.
    #[default]
    Random,
    Header(String),
    Cookie(String),
    /// The address of the connection's peer.
    ClientIp,
}

/// One step of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Share of users served by v2, above 0 and at most 100.
    pub weight: f64,
    /// Shortest time at this weight before the next step.
    pub hold: Duration,
    /// v2-served requests needed at this weight before the next step.
    pub min_requests: u64,
}

/// A gate on a number from Prometheus (`[[cutover.gates]]`): fails when the query's value is
/// above `max`; no value is "no data".
#[derive(Debug, Clone, PartialEq)]
pub struct PromGate {
    /// The `gate` label: `name`, or `prometheus_N` for the N-th gate.
    pub name: String,
    /// Prometheus's base URL; the gate asks `<url>/api/v1/query`.
    pub prometheus: http::Uri,
    pub query: String,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CutoverPolicy {
    pub mode: CutoverMode,
    pub assign_by: AssignBy,
    /// Weights strictly increasing; empty = the weight moves only by hand.
    pub steps: Vec<Step>,
    /// How often the gates are evaluated, each on the interval just ended.
    pub interval: Duration,
    /// Consecutive failing intervals of one gate that roll the cutover back.
    pub failure_limit: u32,
    /// Highest v2 error ratio (5xx and failures to answer) in an interval.
    pub max_error_rate: f64,
    /// Highest rise of v2's p95 latency over v1's in the same interval (0.10 = 10 %).
    pub max_latency_increase: f64,
    /// Samples a built-in gate needs in an interval to judge; fewer is "no data".
    pub min_samples: u64,
    /// Told about every rollback, as a JSON POST.
    pub webhook_url: Option<http::Uri>,
    pub gates: Vec<PromGate>,
}

/// `[noise]`: a share of mirrored safe requests is sent to v1 a second time, and what differs
/// between v1 and itself is learned as noise.
#[derive(Debug, Clone, PartialEq)]
pub struct Noise {
    /// Share of mirrored safe requests that also get a second v1 answer, 0–100; 0 learns nothing.
    pub percent: f64,
    /// A second v1 instance to ask instead of v1 itself.
    pub secondary: Option<http::Uri>,
    /// Comparisons whose every difference is learned noise count as `noise`, not mismatch.
    pub suppress: bool,
    /// Second v1 requests in flight at once; past it one is refused and counted.
    pub max_in_flight: usize,
    /// v1-against-v1 comparisons a route needs before any of its paths is called noise.
    pub min_samples: u64,
}
