//! What the gates judge: per interval, each backend's served requests, its errors and a latency
//! histogram, and the comparisons' verdicts. Lock-free counters the request path adds to and
//! the controller takes (reads and zeroes) once an interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::cutover::assign::Backend;

use crate::observe::latency::{quantile_slot, upper, Slots, SLOTS};

/// Served requests of one backend in the current interval.
pub struct Leg {
    requests: AtomicU64,
    errors: AtomicU64,
    /// Known to within about 3 %: fine enough for a 10 % latency gate.
    latency: Slots,
}

impl Default for Leg {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: Slots::default(),
        }
    }
}

/// One backend's interval, taken.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LegTaken {
    pub requests: u64,
    pub errors: u64,
    /// Time to response headers at the 95th percentile, of the answered requests.
    pub p95: Option<Duration>,
}

/// One interval, taken.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Taken {
    pub v1: LegTaken,
    pub v2: LegTaken,
    pub compared: u64,
    pub mismatched: u64,
}

#[derive(Default)]
pub struct Window {
    v1: Leg,
    v2: Leg,
    compared: AtomicU64,
    mismatched: AtomicU64,
}

impl Window {
    /// A request `backend` answered after `elapsed` (to its response head); an error is a 5xx.
    pub fn answered(&self, backend: Backend, elapsed: Duration, error: bool) {
        let leg = self.leg(backend);
        leg.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            leg.errors.fetch_add(1, Ordering::Relaxed);
        }
        leg.latency.record(elapsed);
    }

    /// A request `backend` gave no answer to (refused, reset, timed out).
    pub fn failed(&self, backend: Backend) {
        let leg = self.leg(backend);
        leg.requests.fetch_add(1, Ordering::Relaxed);
        leg.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn compared(&self, mismatch: bool) {
        self.compared.fetch_add(1, Ordering::Relaxed);
        if mismatch {
            self.mismatched.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn leg(&self, backend: Backend) -> &Leg {
        match backend {
            Backend::V1 => &self.v1,
            Backend::V2 => &self.v2,
        }
    }

    /// The interval just ended; the counters start again from zero.
    pub fn take(&self) -> Taken {
        Taken {
            v1: take_leg(&self.v1),
            v2: take_leg(&self.v2),
            compared: self.compared.swap(0, Ordering::Relaxed),
            mismatched: self.mismatched.swap(0, Ordering::Relaxed),
        }
    }
}

fn take_leg(leg: &Leg) -> LegTaken {
    let mut counts = vec![0; SLOTS];
    leg.latency.drain_into(&mut counts);
    LegTaken {
        requests: leg.requests.swap(0, Ordering::Relaxed),
        errors: leg.errors.swap(0, Ordering::Relaxed),
        p95: percentile(&counts, 0.95),
    }
}

/// The `q` quantile (upper edge of its slot), of the answered requests.
fn percentile(counts: &[u64], q: f64) -> Option<Duration> {
    quantile_slot(counts, q).map(|i| Duration::from_micros(upper(i)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::latency::slot;

    /// A duration's slot, as the recording does it.
    fn slot_of(d: Duration) -> usize {
        slot(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    #[test]
    fn a_slot_holds_its_latency_within_three_percent() {
        for us in [1u64, 31, 32, 33, 100, 1_000, 12_345, 1_000_000, 30_000_000] {
            let s = slot_of(Duration::from_micros(us));
            let hi = upper(s);
            assert!(hi > us, "{us} µs: slot {s} ends at {hi}");
            assert!(
                (hi - us) as f64 <= us as f64 / 32.0 + 1.0,
                "{us} µs: slot ends at {hi}"
            );
        }
    }

    #[test]
    fn p95_and_counts_are_taken_and_reset() {
        let w = Window::default();
        for i in 1..=100u64 {
            w.answered(Backend::V2, Duration::from_millis(i), i > 98);
        }
        w.failed(Backend::V2);
        w.compared(true);
        let t = w.take();
        assert_eq!((t.v2.requests, t.v2.errors), (101, 3));
        let p95 = t.v2.p95.unwrap().as_secs_f64();
        assert!((0.095..0.099).contains(&p95), "{p95}");
        assert_eq!((t.compared, t.mismatched), (1, 1));
        assert_eq!(w.take(), Taken::default());
    }
}
