//! Observe: where every exchange's outcome goes — the closed outcome labels, Prometheus
//! metrics, the windowed budget statistics, mismatch exemplars (redacted, optionally to a JSONL
//! file), mismatch signatures, noise learned from v1 against itself, the access log and the
//! process log.

pub mod access;
pub mod exemplars;
pub mod latency;
pub mod logging;
pub mod metrics;
pub mod noise;
pub mod outcome;
pub mod ratelimit;
pub mod redact;
pub mod signatures;
pub mod sink;
pub mod stats;
