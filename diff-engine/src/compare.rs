//! The verdict on one pair of responses: status (HTTP, then gRPC's), then headers and
//! trailers, then body.

use crate::body::compare_body;
use crate::diff::Collector;
use crate::grpc::GrpcCall;
use crate::headers::{diff_headers, grpc_status_difference};
use crate::model::{ChangeKind, CompareLimits, Difference, Outcome, Part, Response, Verdict};
use crate::rules::RuleSet;
use crate::verdict::BodyOutcome;

/// The parts that differ and their differences in part order, capped at `max` in total.
fn merge(collectors: [Collector; 3], max: usize) -> (Vec<Part>, Vec<Difference>, bool) {
    let mut parts = Vec::new();
    let mut differences = Vec::new();
    let mut truncated = false;
    for (part, collector) in Part::ALL.into_iter().zip(collectors) {
        if collector.found() {
            parts.push(part);
        }
        let (diffs, cut) = collector.into_parts();
        truncated |= cut;
        differences.extend(diffs);
    }
    if differences.len() > max {
        differences.truncate(max);
        truncated = true;
    }
    (parts, differences, truncated)
}

/// Compare v1's response (`primary`) with v2's (`candidate`) under `rules`.
///
/// A status or header mismatch wins over a skipped body: the outcome is `Mismatch` and the note
/// says why the body was not compared. gRPC messages are read without a schema (by field
/// number); see [`compare_with`] to read them by field name.
pub fn compare(
    primary: &Response<'_>,
    candidate: &Response<'_>,
    rules: &RuleSet,
    limits: &CompareLimits,
) -> Verdict {
    compare_with(primary, candidate, rules, limits, None)
}

/// [`compare`], and for a gRPC response, the call it answers: with `Some(GrpcCall { schema,
/// method })` its messages are read as the method's output type, by field name (`/price`).
/// `None`, or a method the schema does not describe (the note says so), reads them by field
/// number (`/2`). Nothing else changes: a non-gRPC response compares exactly as [`compare`].
pub fn compare_with(
    primary: &Response<'_>,
    candidate: &Response<'_>,
    rules: &RuleSet,
    limits: &CompareLimits,
    grpc: Option<GrpcCall<'_>>,
) -> Verdict {
    let new_collector = || Collector::new(limits.max_differences, limits.max_value_chars);
    let mut status = new_collector();
    if primary.status != candidate.status {
        status.push(Difference {
            part: Part::Status,
            path: String::new(),
            kind: ChangeKind::Changed,
            primary: Some(primary.status.to_string()),
            candidate: Some(candidate.status.to_string()),
        });
    }
    if let Some(d) = grpc_status_difference(primary, candidate, limits.max_value_chars) {
        status.push(d);
    }
    let mut headers = new_collector();
    diff_headers(primary, candidate, rules, &mut headers);
    let mut body = new_collector();
    let body_verdict = compare_body(primary, candidate, grpc, rules, limits, &mut body);

    let (parts, differences, truncated) = merge([status, headers, body], limits.max_differences);
    let outcome = match (parts.is_empty(), body_verdict.outcome) {
        (false, _) => Outcome::Mismatch(parts),
        (true, BodyOutcome::Equal(kind)) => Outcome::Match(kind),
        (true, BodyOutcome::Skipped(reason)) => Outcome::Skipped(reason),
        // A differing body always records a difference; this arm is for completeness.
        (true, BodyOutcome::Differ) => Outcome::Mismatch(vec![Part::Body]),
    };
    Verdict {
        outcome,
        differences,
        truncated,
        note: body_verdict.note,
    }
}
