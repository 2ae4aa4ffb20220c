//! The byte budget (`limits.max_pending_bytes`): every byte held for a comparison is reserved
//! here before it is kept, and given back when it is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A global bound on bytes held for pending comparisons.
#[derive(Debug)]
pub struct ByteBudget {
    used: AtomicUsize,
    limit: usize,
    gauge: prometheus::IntGauge,
}

impl ByteBudget {
    pub fn new(limit: usize, gauge: prometheus::IntGauge) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
            gauge,
        })
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

    /// Give the reserved bytes back now.
    pub(crate) fn release_all(&mut self) {
        self.budget.release(std::mem::take(&mut self.bytes));
    }

    /// Move the reservation into a new `Held`, leaving this one empty.
    pub(crate) fn take(&mut self) -> Held {
        Held {
            budget: self.budget.clone(),
            bytes: std::mem::take(&mut self.bytes),
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
