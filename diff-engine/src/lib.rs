//! diff-engine: bytes and rules in, verdict and diff out.
//!
//! Pure: no I/O, no async runtime, no HTTP stack (only the `http` crate's plain types).
//! The proxy calls [`compare`] from its comparison pool with the two captured responses.
//!
//! JSON is compared in its RFC 8785 (JCS) canonical form with one departure: integer literals
//! (no fraction, no exponent) are kept exact at any size and printed in full, so 64-bit ids that
//! differ in the last digit never compare equal. Numbers with a fraction or exponent are IEEE
//! doubles printed as JCS prints them. Within ±2^53 both rules agree, byte for byte.
#![forbid(unsafe_code)]

mod body;
mod canonical;
pub mod compare;
mod decode;
mod diff;
mod digest;
mod display;
mod headers;
mod json;
mod keys;
mod media;
mod model;
mod multiset;
mod number;
mod pointer;
pub mod rules;
mod sink;
mod timestamp;

pub use canonical::{canonical_digest, canonicalize};
pub use compare::compare;
pub use digest::raw_digest;
pub use json::{JsonError, DEFAULT_MAX_DEPTH, MAX_DEPTH_CEILING};
pub use model::{
    ChangeKind, CompareLimits, Difference, MatchKind, Outcome, Part, Response, SkipReason, Verdict,
};
pub use pointer::PathPattern;
pub use rules::{RuleError, RuleSet, RuleSpec, SortRule, ToleranceRule};
