//! Per-route summary (`/api/summary`, the report page, the demo table) and the budget gauges.

use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::observe::outcome::{MirrorOutcome, SkipReason};
use crate::observe::stats::WindowTotals;
use crate::state::Shared;

#[derive(Debug, Clone, Serialize)]
pub struct RouteSummary {
    pub route: String,
    pub mirror_percent: f64,
    pub requests: u64,
    pub mirrored: u64,
    pub compared: u64,
    pub matched: u64,
    pub mismatched: u64,
    /// Non-zero skip counts by reason (before and after sending).
    pub skipped: Vec<(String, u64)>,
    /// How the mirrored requests ended, one outcome each: they add up to `mirrored`.
    pub outcomes: Vec<(&'static str, u64)>,
    /// Mismatching share over the budget window.
    pub window_rate: f64,
    pub window_compared: u64,
    pub budget: f64,
    pub min_samples: u64,
    pub budget_exceeded: bool,
    /// The most frequent differing paths with their counts.
    pub top_paths: Vec<(String, u64)>,
    pub first_path: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub version: &'static str,
    pub breaker_open: bool,
    pub mirrors_in_flight: i64,
    pub compare_queue_depth: usize,
    pub pending_bytes: usize,
    pub routes: Vec<RouteSummary>,
}

pub fn summary(shared: &Shared) -> Summary {
    let snap = shared.snapshot.load();
    let routes = snap
        .all_routes()
        .map(|r| {
            let budget = snap.budget_for(&r.name);
            let window = r.stats.window();
            let m = &r.metrics;
            RouteSummary {
                route: r.name.clone(),
                mirror_percent: r.percent(),
                requests: m.requests.get(),
                mirrored: m.mirrored.get(),
                compared: r.stats.compared.load(Ordering::Relaxed),
                matched: r.stats.matched.load(Ordering::Relaxed),
                mismatched: r.stats.mismatched.load(Ordering::Relaxed),
                outcomes: MirrorOutcome::ALL
                    .iter()
                    .map(|o| (o.as_str(), m.outcomes(*o)))
                    .collect(),
                skipped: SkipReason::ALL
                    .iter()
                    .map(|s| (s.as_str().to_string(), m.skipped(*s)))
                    .filter(|(_, n)| *n > 0)
                    .collect(),
                window_rate: window.rate(),
                window_compared: window.compared,
                budget: budget.ratio,
                min_samples: budget.min_samples,
                budget_exceeded: over_budget(&window, budget),
                top_paths: r.stats.top_paths(10),
                first_path: r.stats.first_path(),
            }
        })
        .collect();
    Summary {
        version: env!("CARGO_PKG_VERSION"),
        breaker_open: shared.breaker.is_open(),
        mirrors_in_flight: shared.metrics.mirrors_in_flight.get(),
        compare_queue_depth: shared.compare.depth(),
        pending_bytes: shared.pending.used(),
        routes,
    }
}

/// Over budget only once the window holds `min_samples` comparisons.
fn over_budget(w: &WindowTotals, budget: &config::Budget) -> bool {
    w.compared >= budget.min_samples && w.rate() > budget.ratio
}

/// Bring the windowed gauges up to date; called before every scrape.
pub fn refresh_budget_gauges(shared: &Shared) {
    let snap = shared.snapshot.load();
    for r in snap.all_routes() {
        let budget = snap.budget_for(&r.name);
        let w = r.stats.window();
        r.metrics.mismatch_rate.set(w.rate());
        r.metrics.mismatch_budget.set(budget.ratio);
        r.metrics
            .budget_exceeded
            .set(i64::from(over_budget(&w, budget)));
    }
    shared
        .metrics
        .compare_queue_depth
        .set(shared.compare.depth() as i64);
    shared
        .metrics
        .signatures
        .set(shared.outlets.signatures.len() as i64);
}
