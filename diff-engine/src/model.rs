//! The engine's vocabulary: what goes in (a borrowed [`Response`], [`CompareLimits`]) and what
//! comes out (a [`Verdict`] of [`Difference`]s). A leaf: every stage imports it, it imports none.

use crate::json::DEFAULT_MAX_DEPTH;

/// One captured response, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    pub status: u16,
    pub headers: &'a http::HeaderMap,
    /// The body as received (still content-encoded).
    pub body: &'a [u8],
    /// The trailer section (HTTP/2 trailers, chunked trailers), `None` when there was none (the
    /// same as an empty map). Compared like headers, reported under `Part::Headers` with the
    /// path `trailer:<name>`; gRPC's `grpc-status` is compared as a status instead.
    pub trailers: Option<&'a http::HeaderMap>,
}

#[derive(Debug, Clone, Copy)]
pub struct CompareLimits {
    /// Decoded (decompressed) body size above which the body is not compared.
    pub max_decoded_bytes: usize,
    /// At most this many differences are kept; `Verdict::truncated` says if more existed.
    pub max_differences: usize,
    /// Values shown in a difference are cut to this many characters.
    pub max_value_chars: usize,
    /// JSON nested deeper than this (objects and arrays) is not parsed, so no input can exhaust
    /// the stack; such a body is not compared (`Skipped(TooDeep)`). Values above
    /// [`crate::MAX_DEPTH_CEILING`] are clamped to it.
    pub max_depth: usize,
    /// A record stream (NDJSON, JSON text sequence, server-sent events) or gRPC body with more
    /// records (messages) than this on either side is not compared
    /// (`Skipped(TooManyRecords)`).
    pub max_records: usize,
}

impl Default for CompareLimits {
    fn default() -> Self {
        Self {
            max_decoded_bytes: 8 << 20,
            max_differences: 32,
            max_value_chars: 120,
            max_depth: DEFAULT_MAX_DEPTH,
            max_records: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Status,
    Headers,
    Body,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Status, Part::Headers, Part::Body];
    /// The `part` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Status => "status",
            Part::Headers => "headers",
            Part::Body => "body",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
    TypeChanged,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
            ChangeKind::TypeChanged => "type_changed",
        }
    }
}

/// Prefixes the path of a difference in a trailer (`trailer:grpc-message`). A header name cannot
/// contain `:`, so a path is a trailer's exactly when it starts with this.
pub const TRAILER_PREFIX: &str = "trailer:";

/// One difference. `path` is an RFC 6901 JSON Pointer for body differences; for header
/// differences the lower-case header name, or [`TRAILER_PREFIX`] and the name for a trailer; for
/// status empty (the HTTP status) or `grpc-status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub part: Part,
    pub path: String,
    pub kind: ChangeKind,
    /// Display form of v1's value (truncated); `None` when absent on v1's side.
    pub primary: Option<String>,
    /// Display form of v2's value (truncated); `None` when absent on v2's side.
    pub candidate: Option<String>,
}

impl Difference {
    /// The header or trailer name of a `Part::Headers` difference (without the trailer
    /// prefix), e.g. to redact a secret field wherever it was sent; `None` for other parts.
    pub fn field_name(&self) -> Option<&str> {
        match self.part {
            Part::Headers => Some(
                self.path
                    .strip_prefix(TRAILER_PREFIX)
                    .unwrap_or(self.path.as_str()),
            ),
            _ => None,
        }
    }

    /// Whether this is a difference in a trailer (rather than a header).
    pub fn in_trailers(&self) -> bool {
        self.part == Part::Headers && self.path.starts_with(TRAILER_PREFIX)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// Byte-identical bodies (no parsing needed).
    Identical,
    /// Equal after canonicalization (key order, whitespace, number spelling).
    Canonical,
    /// Equal only after the declared rules removed noise.
    Rules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A body decoded past `max_decoded_bytes` (a decompression bomb is never expanded).
    DecodedTooLarge,
    /// A Content-Encoding the engine cannot decode.
    UnsupportedEncoding,
    /// A JSON body nests deeper than `max_depth`, so it cannot be parsed and compared (and
    /// equal data must not come out a mismatch).
    TooDeep,
    /// A record stream or gRPC body has more than `max_records` records (messages).
    TooManyRecords,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::DecodedTooLarge => "decoded_too_large",
            SkipReason::UnsupportedEncoding => "unsupported_encoding",
            SkipReason::TooDeep => "too_deep",
            SkipReason::TooManyRecords => "too_many_records",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Match(MatchKind),
    /// The parts that differ, in `Part` order, no repeats.
    Mismatch(Vec<Part>),
    Skipped(SkipReason),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// Deterministic order: status (HTTP, then `grpc-status`), headers by name, trailers by
    /// name, body by path.
    pub differences: Vec<Difference>,
    /// More differences existed than `max_differences`.
    pub truncated: bool,
    /// Why a body was compared the way it was, e.g. "candidate body is not valid JSON: ...".
    pub note: Option<String>,
}
