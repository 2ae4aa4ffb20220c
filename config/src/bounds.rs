//! Upper bounds of the integer, size and duration keys, one constant per key (named after it).
//!
//! Validation refuses a larger value with the key and the bound in the message
//! (`limits.compare_queue: must be at most 1000000, got 1000000000000`): a typo or an
//! "unlimited" 2^63 must fail at load, not abort the proxy at start (a 10^12-slot comparison
//! queue is a 400 TB allocation; tokio's `Semaphore` panics above `usize::MAX >> 3` permits).
//! Each bound is far above what a 2-core/24 GiB machine needs, and still something a big
//! server can honour. README.md lists them; `tests/bounds.rs` checks both.

use std::time::Duration;

const GIB: u64 = 1 << 30;

/// Every duration key. Past a day a timeout no longer guards anything, and far-future
/// deadlines are where `Instant + Duration` arithmetic overflows.
pub const DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// `workers`: far more I/O threads than cores on any machine shadowdiff should run on.
pub const WORKERS: usize = 256;

/// `limits.max_connections`: each connection may hold 3 descriptors (3 million open files, past
/// the common hard limit of 1048576 already) and a few KiB of buffers (several GiB in all).
pub const MAX_CONNECTIONS: usize = 1_000_000;
/// `limits.max_in_flight_mirrors`, `limits.min_in_flight_mirrors` and
/// `routes[].max_in_flight_mirrors`: each mirror holds a
/// request copy and two captures, so even small bodies make this tens of GiB.
pub const MAX_IN_FLIGHT_MIRRORS: usize = 100_000;
/// `limits.max_capture_bytes`, `limits.max_request_body_bytes`, `limits.max_decoded_bytes`,
/// `record.max_body_bytes` (and in routes):
/// one body of 1 GiB is already more than a comparison (two captures, each decoded) can hold
/// on a 24 GiB machine with any concurrency.
pub const BODY_BYTES: u64 = GIB;
/// `limits.compare_queue`: the queue allocates all its slots at start (about 400 bytes each),
/// so this is ~400 MB before a single job is queued.
pub const COMPARE_QUEUE: usize = 1_000_000;
/// `limits.compare_workers`: comparisons are CPU-bound; threads beyond the cores only switch.
pub const COMPARE_WORKERS: usize = 64;
/// `limits.max_pending_bytes`: two thirds of a 24 GiB machine.
pub const MAX_PENDING_BYTES: u64 = 16 * GIB;
/// `limits.h2_max_concurrent_streams`: hyper keeps state per open stream; clients rarely open
/// more than a few hundred on one connection.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 10_000;

/// `primary.max_connections`, `candidate.max_connections` and their `pool_max_idle_per_host`:
/// more connections than one upstream host can take (each is a port and a descriptor here).
pub const UPSTREAM_CONNECTIONS: usize = 100_000;

/// `breaker.failure_threshold`: past this the breaker never trips in practice; 0 disables it.
pub const FAILURE_THRESHOLD: u32 = 1_000_000;
/// `budget.min_samples` (and in routes): a larger minimum within a window of at most a day
/// is a budget that can never be exceeded, which `ratio = 1` says plainly.
pub const MIN_SAMPLES: u64 = 1_000_000_000;

/// `report.max_exemplars`: each keeps up to 32 differences with two values of at most 120
/// characters, up to ~40 KB, so ~400 MB at most.
pub const MAX_EXEMPLARS: usize = 10_000;
/// `report.jsonl_max_bytes`: one JSONL file larger than this is unwieldy to read or ship.
pub const JSONL_MAX_BYTES: u64 = 64 * GIB;
/// `report.jsonl_max_files`: each rotation renames every kept file, one by one.
pub const JSONL_MAX_FILES: usize = 1000;
/// `record.max_file_bytes`: as `report.jsonl_max_bytes`, a larger file is unwieldy to ship or
/// replay in parts.
pub const RECORD_MAX_FILE_BYTES: u64 = 64 * GIB;
/// `record.max_files`: each rotation lists the directory to find the oldest file.
pub const RECORD_MAX_FILES: usize = 1000;

/// `cutover.failure_limit`.
pub const CUTOVER_FAILURE_LIMIT: u32 = 1000;
/// `cutover.max_latency_increase`: 100 = v2 a hundred times slower.
pub const CUTOVER_LATENCY_INCREASE: f64 = 100.0;

/// `report.max_signatures`.
pub const MAX_SIGNATURES: usize = 100_000;
