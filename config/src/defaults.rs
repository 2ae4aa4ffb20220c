//! Built-in defaults, in one place. `shadowdiff.example.toml` and `README.md` repeat them; a
//! test checks the example file against these.

use std::time::Duration;

pub const LISTEN: &str = "127.0.0.1:8080";
pub const ADMIN: &str = "127.0.0.1:9901";
/// 10 %, not 100 %: pointing shadowdiff at production should not double the candidate's load
/// by surprise. Raise it deliberately.
pub const MIRROR_PERCENT: f64 = 10.0;
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// One I/O thread: a single-threaded runtime is the cheapest per request (measured), and the
/// comparison pool has threads of its own.
pub const WORKERS: usize = 1;
/// Above the 60 s idle timeout of common load balancers, like nginx's 75 s keep-alive.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(75);
/// nginx's `client_body_timeout`: the longest pause between two reads of a request body.
pub const CLIENT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest pause between two body frames of a response once its headers arrived.
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

pub const PRIMARY_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const PRIMARY_TIMEOUT: Duration = Duration::from_secs(30);
/// The candidate is held to tighter timeouts: waiting on it only costs memory and queue slots.
pub const CANDIDATE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const CANDIDATE_TIMEOUT: Duration = Duration::from_secs(5);
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
pub const POOL_MAX_IDLE_PER_HOST: usize = 256;
/// Open connections per upstream; past it a request waits up to `queue_timeout` for one (whose
/// default is the upstream's `connect_timeout`: waiting for a connection is bounded like making
/// one).
pub const UPSTREAM_MAX_CONNECTIONS: usize = 1024;
/// Set to `1` on mirrored requests so v2 (and its logs) can tell them from real traffic; the
/// diff engine already ignores `x-shadowdiff-*` headers.
pub const MARK_HEADER: &str = "x-shadowdiff-mirror";

const MIB: u64 = 1 << 20;
pub const MAX_IN_FLIGHT_MIRRORS: usize = 1024;
/// The adaptive mirror limit is on: a fixed cap is too many mirrors for v1's I/O threads when
/// v2 is slow, and too few comparisons when it is not.
pub const ADAPTIVE_MIRRORS: bool = true;
/// The adaptive limit never goes below this (or the ceiling, if that is lower): a handful of
/// mirrors keep the latency samples coming that let it climb again.
pub const MIN_IN_FLIGHT_MIRRORS: usize = 8;
/// Open client connections. Each may hold up to three descriptors (itself and its lanes to v1
/// and v2), so the process needs `ulimit -n` of about three times this: 4096 fits the common
/// hard limits (systemd's 524288, container runtimes' 1048576, and 20000 on small VMs).
pub const MAX_CONNECTIONS: usize = 4096;
pub const MAX_CAPTURE_BYTES: u64 = MIB;
pub const MAX_REQUEST_BODY_BYTES: u64 = MIB;
pub const COMPARE_QUEUE: usize = 1024;
pub const COMPARE_WORKERS: usize = 1;
/// Niceness added to the mirror thread and the comparison threads: the kernel prefers the I/O
/// thread that serves v1 whenever both want the core.
pub const BACKGROUND_NICE: u32 = 10;
pub const MAX_PENDING_BYTES: u64 = 64 * MIB;
pub const MAX_DECODED_BYTES: u64 = 8 * MIB;
/// The least RFC 9113 recommends (section 5.1.2), so as not to limit parallelism; nginx's is
/// 128, hyper's own 200.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 100;

pub const FAILURE_THRESHOLD: u32 = 5;
pub const BACKOFF: Duration = Duration::from_secs(10);

pub const BUDGET_RATIO: f64 = 0.001;
pub const BUDGET_WINDOW: Duration = Duration::from_secs(300);
pub const BUDGET_MIN_SAMPLES: u64 = 100;

pub const LOG_LEVEL: &str = "info";

pub const MAX_EXEMPLARS: usize = 256;
pub const JSONL_MAX_BYTES: u64 = 64 * MIB;
pub const JSONL_MAX_FILES: usize = 5;
/// The longest deadline a call's own `grpc-timeout` may set (`grpc.max_timeout`).
pub const GRPC_MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// Recording is opt-in: nothing is written to disk unless a share is set.
pub const RECORD_PERCENT: f64 = 0.0;
pub const RECORD_MAX_FILE_BYTES: u64 = 64 * MIB;
pub const RECORD_MAX_FILES: usize = 10;
/// As `limits.max_capture_bytes`: a recorded body is held in the same byte budget until written.
pub const RECORD_MAX_BODY_BYTES: u64 = MIB;

/// `[cutover]`: gates judged once a minute, three failing minutes roll back.
pub const CUTOVER_INTERVAL: Duration = Duration::from_secs(60);
pub const CUTOVER_FAILURE_LIMIT: u32 = 3;
pub const CUTOVER_MAX_ERROR_RATE: f64 = 0.005;
pub const CUTOVER_MAX_LATENCY_INCREASE: f64 = 0.10;
/// Requests (or comparisons) a built-in gate needs in one interval to judge it.
pub const CUTOVER_MIN_SAMPLES: u64 = 20;

/// `[noise]`: off unless asked for (1 % is a good start).
pub const NOISE_PERCENT: f64 = 0.0;
pub const NOISE_MAX_IN_FLIGHT: usize = 64;
pub const NOISE_MIN_SAMPLES: u64 = 100;
/// `report.max_signatures`.
pub const MAX_SIGNATURES: usize = 1000;
