//! The cutover controller task: every route's gates judged when its interval ends, and the moves
//! made (logged, counted, saved, announced). Here, above the shared state it reads; the
//! judgement itself is `cutover/`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cutover::controller::Judged;
use crate::cutover::gate;
use crate::state::Shared;

/// Judge every route's interval when it is due, until `stop`.
pub async fn run(shared: Arc<Shared>, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let snap = shared.snapshot.load_full();
        let now = Instant::now();
        let mut next = now + Duration::from_secs(1);
        for route in snap.all_routes() {
            let c = &route.cutover;
            let Some(due) = c.due(now) else { continue };
            if due > now {
                next = next.min(due);
                continue;
            }
            let cx = gate::Context {
                budget: snap.budget_for(&route.name).ratio,
                comparing: route.percent() > 0.0,
                v1_serves: c.v1_serves(),
            };
            let webhook = c.webhook();
            match c.evaluate(cx, &shared.cutovers.fetcher).await {
                Some(Judged::Held) | None => {}
                Some(Judged::Advanced) => {
                    if let Some((step, weight, state)) = c.describe() {
                        tracing::info!(route = %route.name, step, weight, state, "cutover advanced");
                    }
                    shared.cutovers.save();
                }
                Some(Judged::RolledBack(r)) => {
                    tracing::warn!(route = %route.name, gate = %r.gate, value = ?r.value, max = ?r.max, from_weight = r.weight, "cutover rolled back: v2 serves no one until an operator resumes");
                    c.rolled_back(&r);
                    shared.cutovers.save();
                    shared.cutovers.notify(&route.name, webhook, &r);
                }
            }
            if let Some(d) = c.due(Instant::now()) {
                next = next.min(d);
            }
        }
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = &mut stop => return,
        }
    }
}
