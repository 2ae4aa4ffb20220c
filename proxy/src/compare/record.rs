//! The single fan-out of a verdict: counters, the budget window, exemplars, signatures, the
//! noise learned, the access log.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use diff_engine::{Outcome, Signature, Verdict};

use crate::compare::job::Job;
use crate::observe::access;
use crate::observe::exemplars::{Exemplar, ExemplarDiff, Exemplars};
use crate::observe::noise::NoiseLearner;
use crate::observe::outcome::{MirrorOutcome, SkipReason};
use crate::observe::signatures::Signatures;

/// Where verdicts go besides the route's own counters.
pub struct Outlets {
    pub exemplars: Arc<Exemplars>,
    pub signatures: Arc<Signatures>,
    pub noise: Arc<NoiseLearner>,
}

/// Count a verdict, learn from it, and keep a mismatch's exemplar under its signature.
pub fn record(job: &Job, verdict: &Verdict, outlets: &Outlets) {
    let route = &job.route;
    let m = &route.metrics;
    let logged = match &verdict.outcome {
        Outcome::Match(_) => {
            m.matched.inc();
            m.outcome(MirrorOutcome::Match);
            route.stats.record(false, std::iter::empty());
            compared(job, outlets, false);
            outlets.noise.compared(&route.name, &[]);
            access::Verdict::Match
        }
        Outcome::Mismatch(_)
            if route.noise_suppress
                && outlets.noise.all_noise(&route.name, &verdict.differences) =>
        {
            // Counted apart, never as a match: the rules to make it one are proposed instead.
            m.noise.inc();
            m.outcome(MirrorOutcome::Noise);
            route.stats.record(false, std::iter::empty());
            compared(job, outlets, false);
            outlets.noise.compared(&route.name, &verdict.differences);
            access::Verdict::Noise
        }
        Outcome::Mismatch(parts) => {
            m.mismatched.inc();
            m.outcome(MirrorOutcome::Mismatch);
            for p in parts {
                m.mismatch_parts[*p as usize].inc();
            }
            let places: Vec<Cow<'_, str>> = verdict.differences.iter().map(place).collect();
            route.stats.record(true, places.iter().map(AsRef::as_ref));
            compared(job, outlets, true);
            outlets.noise.compared(&route.name, &verdict.differences);
            let ex = exemplar(job, verdict);
            let signature = Signature::of(&route.name, &verdict.differences);
            let shown = serde_json::to_value(&ex).unwrap_or_default();
            outlets
                .signatures
                .record(&signature, shown, &job.path, ex.time_ms);
            outlets.exemplars.push(ex);
            access::Verdict::Mismatch
        }
        Outcome::Skipped(r) => {
            m.skip(SkipReason::from_engine(*r));
            m.outcome(MirrorOutcome::Skipped);
            access::Verdict::Skipped(SkipReason::from_engine(*r))
        }
    };
    if route.access_log {
        access::Line::new(&route.name, &job.method, &job.path)
            .primary(job.primary.status, job.primary.elapsed)
            .candidate(job.candidate.status, job.candidate.elapsed)
            .log(logged);
    }
}

/// A comparison that ran to a verdict: the cutover's window and the signatures' denominator.
fn compared(job: &Job, outlets: &Outlets, mismatch: bool) {
    let route = &job.route;
    if route.cutover.judging() {
        route.cutover.window.compared(mismatch);
    }
    outlets.signatures.compared(&route.name);
}

/// Where a difference is, as a person reads it: the JSON Pointer for bodies (`(body)` for a
/// whole non-JSON body), the header name for headers, `(status)` for the status.
pub fn display_path(d: &diff_engine::Difference) -> &str {
    match d.part {
        diff_engine::Part::Status => "(status)",
        diff_engine::Part::Headers | diff_engine::Part::Body => {
            if d.path.is_empty() {
                "(body)"
            } else {
                &d.path
            }
        }
    }
}

/// Where a difference is, with its part said: `header etag`, `trailer grpc-message`, a JSON
/// Pointer, `(body)` or `(status)` — so a header never reads as a body field in a ranking.
pub fn place(d: &diff_engine::Difference) -> Cow<'_, str> {
    match d.part {
        diff_engine::Part::Headers if d.in_trailers() => {
            Cow::Owned(format!("trailer {}", d.field_name().unwrap_or_default()))
        }
        diff_engine::Part::Headers => Cow::Owned(format!("header {}", d.path)),
        _ => Cow::Borrowed(display_path(d)),
    }
}

fn exemplar(job: &Job, verdict: &Verdict) -> Exemplar {
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Exemplar {
        time_ms,
        route: job.route.name.clone(),
        method: job.method.to_string(),
        path: job.path.clone(),
        primary_status: job.primary.status,
        candidate_status: job.candidate.status,
        differences: verdict
            .differences
            .iter()
            .map(|d| ExemplarDiff {
                part: d.part.as_str(),
                path: d.path.clone(),
                kind: d.kind.as_str(),
                primary: job.route.redact.show(d, &d.primary, &job.secrets),
                candidate: job.route.redact.show(d, &d.candidate, &job.secrets),
            })
            .collect(),
        truncated: verdict.truncated,
        note: verdict.note.clone(),
    }
}
