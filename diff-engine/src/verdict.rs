//! What a body comparison concludes, before `compare` folds it into the `Verdict`. A leaf, so
//! every way of reading a body (JSON, record streams, gRPC) returns it without import circles.

use crate::model::{CompareLimits, MatchKind, SkipReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyOutcome {
    Equal(MatchKind),
    Differ,
    Skipped(SkipReason),
}

pub(crate) struct BodyVerdict {
    pub(crate) outcome: BodyOutcome,
    pub(crate) note: Option<String>,
}

impl BodyVerdict {
    /// The skip for a side past the record cap.
    pub(crate) fn too_many_records(side: &str, limits: &CompareLimits) -> BodyVerdict {
        BodyVerdict::skipped(
            SkipReason::TooManyRecords,
            format!(
                "{side} body has more than {} records; not compared",
                limits.max_records
            ),
        )
    }

    pub(crate) fn new(outcome: BodyOutcome, note: Option<String>) -> Self {
        Self { outcome, note }
    }

    pub(crate) fn skipped(reason: SkipReason, note: String) -> Self {
        Self::new(BodyOutcome::Skipped(reason), Some(note))
    }
}
