//! diff-engine: bytes and rules in, verdict and diff out.
//!
//! Pure: no I/O, no async runtime, no HTTP stack (only the `http` crate's plain types).
//! The proxy calls [`compare`] from its comparison pool with the two captured responses.

pub mod compare;
pub mod rules;

pub use compare::{
    compare, ChangeKind, CompareLimits, Difference, MatchKind, Outcome, Part, Response, SkipReason,
    Verdict,
};
pub use rules::{RuleError, RuleSet, RuleSpec, SortRule, ToleranceRule};
