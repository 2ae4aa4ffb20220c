//! The byte budget (`limits.max_pending_bytes`): every byte held for a comparison is reserved
//! here before it is kept, and given back when it is dropped.
//!
//! It also admits mirrors: a new mirror takes its own overhead and a *promise* of the size of a
//! recent pair, and gives the promise back once v1's answer is in and its copy reserved for
//! real. So mirrors in flight cannot fill the budget with overhead and leave no room for their
//! bodies (every mirror would then be shed after v2 had done the work). The pair estimate learns
//! from compared pairs and from copies that did not fit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A global bound on bytes held for pending comparisons.
#[derive(Debug)]
pub struct ByteBudget {
    used: AtomicUsize,
    limit: usize,
    gauge: prometheus::IntGauge,
    /// Recent pairs' size (both bodies), a moving average: the room a new mirror will need.
    pair_estimate: AtomicUsize,
}

impl ByteBudget {
    /// `first_pair` is the estimate before any pair was seen: pessimistic (two bodies at the
    /// capture cap), so a first burst cannot admit more mirrors than their bodies would fit;
    /// compared pairs bring it to what the traffic really is.
    pub fn new(limit: usize, gauge: prometheus::IntGauge, first_pair: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
            gauge,
            pair_estimate: AtomicUsize::new(first_pair),
        })
    }

    /// A pair of `n` bytes was captured whole: fold it into the estimate (weight 1/8).
    pub fn observe_pair(&self, n: usize) {
        let old = self.pair_estimate.load(Ordering::Relaxed);
        let new = old - old / 8 + n / 8;
        self.pair_estimate.store(new, Ordering::Relaxed);
    }

    /// The room a new mirror's bodies are expected to need.
    pub fn pair_estimate(&self) -> usize {
        self.pair_estimate.load(Ordering::Relaxed)
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn try_reserve(&self, n: usize) -> bool {
        let ok = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&t| t <= self.limit)
            })
            .is_ok();
        if ok {
            self.gauge.add(n as i64);
        }
        ok
    }

    fn release(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
            self.gauge.sub(n as i64);
        }
    }
}

/// Bytes reserved in a [`ByteBudget`], released on drop.
#[derive(Debug)]
pub struct Held {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl Held {
    /// Nothing reserved yet.
    pub fn empty(budget: &Arc<ByteBudget>) -> Held {
        Held {
            budget: budget.clone(),
            bytes: 0,
        }
    }

    /// Bytes reserved so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Keep only `n` of the reserved bytes, giving the rest back.
    pub fn shrink_to(&mut self, n: usize) {
        if n < self.bytes {
            self.budget.release(self.bytes - n);
            self.bytes = n;
        }
    }

    pub(crate) fn grow(&mut self, n: usize) -> bool {
        let ok = self.budget.try_reserve(n);
        if ok {
            self.bytes += n;
        }
        ok
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// What a new mirror takes from the budget: its own overhead for as long as it runs, and a
/// promise of a recent pair's size until v1's answer is in. `None`: no room; shed it.
pub fn admit_mirror(budget: &Arc<ByteBudget>, overhead: usize) -> Option<(Held, Held)> {
    let mut own = Held::empty(budget);
    let mut promise = Held::empty(budget);
    (own.grow(overhead) && promise.grow(budget.pair_estimate())).then_some((own, promise))
}
