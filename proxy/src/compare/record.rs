//! The single fan-out of a verdict: counters, the budget window, exemplars, the access log.

use std::time::{SystemTime, UNIX_EPOCH};

use diff_engine::{Outcome, Verdict};

use crate::compare::job::Job;
use crate::observe::access;
use crate::observe::exemplars::{Exemplar, ExemplarDiff, Exemplars};
use crate::observe::outcome::{MirrorOutcome, SkipReason};

/// Count a verdict and keep an exemplar of a mismatch.
pub fn record(job: &Job, verdict: &Verdict, exemplars: &Exemplars) {
    let route = &job.route;
    let m = &route.metrics;
    match &verdict.outcome {
        Outcome::Match(_) => {
            m.matched.inc();
            m.outcome(MirrorOutcome::Match);
            route.stats.record(false, std::iter::empty());
            if route.cutover.judging() {
                route.cutover.window.compared(false);
            }
        }
        Outcome::Mismatch(parts) => {
            if route.cutover.judging() {
                route.cutover.window.compared(true);
            }
            m.mismatched.inc();
            m.outcome(MirrorOutcome::Mismatch);
            for p in parts {
                m.mismatch_parts[*p as usize].inc();
            }
            route
                .stats
                .record(true, verdict.differences.iter().map(display_path));
            exemplars.push(exemplar(job, verdict));
        }
        Outcome::Skipped(r) => {
            m.skip(SkipReason::from_engine(*r));
            m.outcome(MirrorOutcome::Skipped);
        }
    }
    if route.access_log {
        let logged = match &verdict.outcome {
            Outcome::Match(_) => access::Verdict::Match,
            Outcome::Mismatch(_) => access::Verdict::Mismatch,
            Outcome::Skipped(r) => access::Verdict::Skipped(SkipReason::from_engine(*r)),
        };
        access::Line::new(&route.name, &job.method, &job.path)
            .primary(job.primary.status, job.primary.elapsed)
            .candidate(job.candidate.status, job.candidate.elapsed)
            .log(logged);
    }
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
