//! How a request's mirror ends: every eligible request ends as exactly one of match, mismatch,
//! skipped(reason) or candidate error(kind). These enums are the closed label sets.

/// Why a request was not mirrored, or a mirror was not compared (`reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// POST, PUT, PATCH, DELETE… on a route that does not allow unsafe methods.
    UnsafeMethod,
    /// A request or response body over its capture cap.
    BodyTooLarge,
    /// The in-flight mirror limit or the pending-bytes limit was reached.
    Overloaded,
    /// The comparison queue was full.
    QueueFull,
    /// The candidate circuit breaker is open.
    BreakerOpen,
    /// v1 failed or the client went away before v1's response was complete.
    PrimaryFailed,
    /// v2 failed (its error is also counted in `shadowdiff_candidate_errors_total`).
    CandidateFailed,
    /// v1's response did not complete in time for the comparison.
    Timeout,
    /// The process was shutting down.
    Shutdown,
    /// A body decoded past `limits.max_decoded_bytes` (never expanded further).
    DecodedTooLarge,
    /// A Content-Encoding the engine cannot decode.
    UnsupportedEncoding,
    /// Both bodies nest deeper than the engine's depth limit: not compared, never a mismatch.
    TooDeep,
    /// A record stream (NDJSON, SSE, gRPC messages) with more records than the engine compares.
    TooManyRecords,
    /// A gRPC call and an HTTP/1.1-only v2 (`[candidate] protocol`).
    UnsupportedProtocol,
    /// A protocol upgrade (WebSocket): tunnelled to v1, never mirrored.
    Upgrade,
}

impl SkipReason {
    pub const ALL: [SkipReason; 15] = [
        SkipReason::UnsafeMethod,
        SkipReason::BodyTooLarge,
        SkipReason::Overloaded,
        SkipReason::QueueFull,
        SkipReason::BreakerOpen,
        SkipReason::PrimaryFailed,
        SkipReason::CandidateFailed,
        SkipReason::Timeout,
        SkipReason::Shutdown,
        SkipReason::DecodedTooLarge,
        SkipReason::UnsupportedEncoding,
        SkipReason::TooDeep,
        SkipReason::TooManyRecords,
        SkipReason::UnsupportedProtocol,
        SkipReason::Upgrade,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::UnsafeMethod => "unsafe_method",
            SkipReason::BodyTooLarge => "body_too_large",
            SkipReason::Overloaded => "overloaded",
            SkipReason::QueueFull => "queue_full",
            SkipReason::BreakerOpen => "breaker_open",
            SkipReason::PrimaryFailed => "primary_failed",
            SkipReason::CandidateFailed => "candidate_failed",
            SkipReason::Timeout => "timeout",
            SkipReason::Shutdown => "shutdown",
            SkipReason::DecodedTooLarge => "decoded_too_large",
            SkipReason::UnsupportedEncoding => "unsupported_encoding",
            SkipReason::TooDeep => "too_deep",
            SkipReason::TooManyRecords => "too_many_records",
            SkipReason::UnsupportedProtocol => "unsupported_protocol",
            SkipReason::Upgrade => "upgrade",
        }
    }

    /// The proxy-level reason for an engine-level skip.
    pub fn from_engine(r: diff_engine::SkipReason) -> Self {
        match r {
            diff_engine::SkipReason::DecodedTooLarge => SkipReason::DecodedTooLarge,
            diff_engine::SkipReason::UnsupportedEncoding => SkipReason::UnsupportedEncoding,
            diff_engine::SkipReason::TooDeep => SkipReason::TooDeep,
            diff_engine::SkipReason::TooManyRecords => SkipReason::TooManyRecords,
        }
    }
}

/// How an exchange with v2 failed (`kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateErrorKind {
    /// TCP connect refused, unreachable, or the connect timeout passed.
    Connect,
    /// No complete response within the candidate timeout.
    Timeout,
    /// The connection broke after it was established (reset, closed mid-body).
    Reset,
    /// v2 spoke something that is not valid HTTP.
    Protocol,
    /// No longer counted: a 5xx is an answer, compared like any other (its class is in
    /// `shadowdiff_status_pairs_total`). Kept so the label set does not change under dashboards.
    Status5xx,
}

impl CandidateErrorKind {
    pub const ALL: [CandidateErrorKind; 5] = [
        CandidateErrorKind::Connect,
        CandidateErrorKind::Timeout,
        CandidateErrorKind::Reset,
        CandidateErrorKind::Protocol,
        CandidateErrorKind::Status5xx,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CandidateErrorKind::Connect => "connect",
            CandidateErrorKind::Timeout => "timeout",
            CandidateErrorKind::Reset => "reset",
            CandidateErrorKind::Protocol => "protocol",
            CandidateErrorKind::Status5xx => "status_5xx",
        }
    }
}

/// The `reason` of `shadowdiff_upstream_retries_total`: the one reason a request is sent again,
/// a connection that broke before any response byte (`upstream/retry.rs`).
pub const RETRY_STALE_CONNECTION: &str = "stale_connection";

/// Why an exchange chosen for recording was not written (`shadowdiff_record_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordDropReason {
    /// The writer's queue was full: it fell behind, and the request path never waits for it.
    QueueFull,
    /// A request, v1 or kept v2 body was over `record.max_body_bytes`.
    BodyTooLarge,
    /// The pending-bytes budget (`limits.max_pending_bytes`) was exhausted.
    Overloaded,
    /// v1 gave no complete response (or the client went away before it ended).
    PrimaryFailed,
    /// The file could not be written (unwritable directory, full disk); logged once.
    WriteFailed,
    /// The process was shutting down.
    Shutdown,
}

impl RecordDropReason {
    pub const ALL: [RecordDropReason; 6] = [
        RecordDropReason::QueueFull,
        RecordDropReason::BodyTooLarge,
        RecordDropReason::Overloaded,
        RecordDropReason::PrimaryFailed,
        RecordDropReason::WriteFailed,
        RecordDropReason::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordDropReason::QueueFull => "queue_full",
            RecordDropReason::BodyTooLarge => "body_too_large",
            RecordDropReason::Overloaded => "overloaded",
            RecordDropReason::PrimaryFailed => "primary_failed",
            RecordDropReason::WriteFailed => "write_failed",
            RecordDropReason::Shutdown => "shutdown",
        }
    }
}

/// How a mirrored request (one sent to v2) ended: exactly one of these, counted once in
/// `shadowdiff_mirror_outcomes_total{outcome}`, so the four add up to
/// `shadowdiff_mirrored_requests_total`. A v2 answer of any status is an answer: 5xx pairs are
/// compared (their classes are in `shadowdiff_status_pairs_total`); only a failed exchange is a
/// candidate error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorOutcome {
    Match,
    Mismatch,
    /// The exchange with v2 failed (its kind in `shadowdiff_candidate_errors_total`).
    CandidateError,
    /// Sent, but not compared (its reason in `shadowdiff_mirror_skipped_total`).
    Skipped,
    /// Compared, and every difference was learned noise (`noise.suppress`).
    Noise,
}

impl MirrorOutcome {
    pub const ALL: [MirrorOutcome; 5] = [
        MirrorOutcome::Match,
        MirrorOutcome::Mismatch,
        MirrorOutcome::CandidateError,
        MirrorOutcome::Skipped,
        MirrorOutcome::Noise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MirrorOutcome::Match => "match",
            MirrorOutcome::Mismatch => "mismatch",
            MirrorOutcome::CandidateError => "candidate_error",
            MirrorOutcome::Skipped => "skipped",
            MirrorOutcome::Noise => "noise",
        }
    }

    /// The outcome of a mirror that was sent and then ended for `reason`.
    pub fn of_skip(reason: SkipReason) -> Self {
        match reason {
            SkipReason::CandidateFailed => MirrorOutcome::CandidateError,
            _ => MirrorOutcome::Skipped,
        }
    }
}
