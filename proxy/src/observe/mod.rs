//! Observe: where every exchange's outcome goes — the closed outcome labels, Prometheus
//! metrics, the windowed budget statistics, mismatch exemplars (redacted, optionally to a JSONL
//! file), the access log and the process log.

pub mod access;
pub mod exemplars;
pub mod logging;
pub mod metrics;
pub mod outcome;
pub mod ratelimit;
pub mod redact;
pub mod sink;
pub mod stats;
