//! diff-engine: bytes and rules in, verdict and diff out.
//!
//! Pure: no I/O, no async runtime, no HTTP stack (only the `http` crate's plain types).
//! The proxy calls [`compare`] from its comparison pool with the two captured responses.
//!
//! JSON is compared in its RFC 8785 (JCS) canonical form with one departure, the number rule:
//! a number whose exact decimal value is an integer compares by that exact value whatever its
//! spelling (`100` = `1e2` = `100.0`, `1e21` = `1000000000000000000000`, while
//! `12345678901234567890` ≠ `12345678901234567891`) and prints with all its digits (plain below
//! 10^21, `d.ddde+N` from there, so `1e100000` is never expanded); every other number compares
//! and prints as an IEEE double, as in JCS. Within ±2^53 this is JCS byte for byte.
//!
//! A JSON body nested deeper than [`CompareLimits::max_depth`] is never parsed past that depth,
//! so it is not compared: the verdict is `Skipped(SkipReason::TooDeep)` (`too_deep`), with a
//! note, never a mismatch.
//!
//! Trailers ([`Response::trailers`]) are compared like headers (path `trailer:<name>`), and a
//! differing `grpc-status` is a status difference. Record streams (NDJSON / JSON Lines, JSON text
//! sequences, server-sent events) and gRPC bodies are compared record by record (message by
//! message) with the index as the first path segment (`/3/price`); a unary gRPC response is
//! compared at the root (`/price`). gRPC messages are read by field name with a [`GrpcSchema`]
//! through [`compare_with`], else by field number from the wire format. Bodies with more than
//! [`CompareLimits::max_records`] records are `Skipped(SkipReason::TooManyRecords)`.
#![forbid(unsafe_code)]

mod body;
mod canonical;
pub mod compare;
mod decode;
mod diff;
mod digest;
mod display;
mod grpc;
mod headers;
mod json;
mod keys;
mod media;
mod model;
mod multiset;
mod number;
mod pointer;
mod protobuf;
mod records;
pub mod rules;
mod schema;
mod signature;
mod sink;
mod sse;
mod streams;
mod timestamp;
mod verdict;
mod whitespace;

pub use canonical::{canonical_digest, canonicalize};
pub use compare::{compare, compare_with};
pub use decode::decode_content;
pub use digest::raw_digest;
pub use grpc::GrpcCall;
pub use json::{JsonError, DEFAULT_MAX_DEPTH, MAX_DEPTH_CEILING};
pub use model::{
    ChangeKind, CompareLimits, Difference, MatchKind, Outcome, Part, Response, SkipReason, Verdict,
    TRAILER_PREFIX,
};
pub use pointer::PathPattern;
pub use rules::{RuleError, RuleSet, RuleSpec, SortRule, ToleranceRule};
pub use schema::{GrpcSchema, SchemaError};
pub use signature::{generalise, Signature, SignatureItem};
