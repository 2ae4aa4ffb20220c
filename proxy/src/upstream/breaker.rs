//! Candidate circuit breaker: after N consecutive v2 failures stop mirroring for a backoff, then
//! let one probe through; its success closes the breaker, its failure opens it again.
//!
//! Lock-free: the request path reads one atomic while closed.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};

pub struct Breaker {
    threshold: u32,
    backoff: Duration,
    epoch: Instant,
    failures: AtomicU32,
    /// Nanoseconds since `epoch` until which the breaker is open; 0 = closed.
    open_until: AtomicU64,
    probing: AtomicBool,
    gauge: IntGauge,
    trips: IntCounter,
}

/// What the breaker lets a request do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Half-open: this request is the probe.
    Probe,
    No,
}

impl Breaker {
    pub fn new(threshold: u32, backoff: Duration, gauge: IntGauge, trips: IntCounter) -> Self {
        gauge.set(0);
        Self {
            threshold,
            backoff,
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            gauge,
            trips,
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn admit(&self) -> Admit {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Admit::Yes;
        }
        if self.now() < until {
            return Admit::No;
        }
        // Backoff over: exactly one probe at a time.
        match self
            .probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Admit::Probe,
            Err(_) => Admit::No,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Acquire) != 0
    }

    pub fn success(&self) {
        self.failures.store(0, Ordering::Release);
        if self.open_until.swap(0, Ordering::AcqRel) != 0 {
            self.gauge.set(0);
            tracing::info!("candidate circuit breaker closed");
        }
        self.probing.store(false, Ordering::Release);
    }

    pub fn failure(&self) {
        if self.threshold == 0 {
            return;
        }
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let was_probe = self.probing.swap(false, Ordering::AcqRel);
        if n >= self.threshold || was_probe {
            let until = self.now() + self.backoff.as_nanos() as u64;
            if self.open_until.swap(until.max(1), Ordering::AcqRel) == 0 {
                self.trips.inc();
                self.gauge.set(1);
                tracing::warn!(failures = n, backoff = ?self.backoff, "candidate circuit breaker opened");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, backoff: Duration) -> Breaker {
        Breaker::new(
            threshold,
            backoff,
            IntGauge::new("g", "g").unwrap(),
            IntCounter::new("c", "c").unwrap(),
        )
    }

    #[test]
    fn opens_after_threshold_and_probes_after_backoff() {
        let b = breaker(3, Duration::from_millis(30));
        b.failure();
        b.failure();
        assert_eq!(b.admit(), Admit::Yes);
        b.success();
        b.failure();
        b.failure();
        assert_eq!(
            b.admit(),
            Admit::Yes,
            "success resets the consecutive count"
        );
        b.failure();
        assert_eq!(b.admit(), Admit::No);
        assert_eq!(b.trips.get(), 1);
        assert_eq!(b.gauge.get(), 1);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.admit(), Admit::Probe);
        assert_eq!(b.admit(), Admit::No, "one probe at a time");
        b.failure();
        assert_eq!(b.admit(), Admit::No, "a failed probe reopens");
        assert_eq!(b.trips.get(), 1, "still the same trip");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.admit(), Admit::Probe);
        b.success();
        assert_eq!(b.admit(), Admit::Yes);
        assert_eq!(b.gauge.get(), 0);
    }

    #[test]
    fn threshold_zero_never_opens() {
        let b = breaker(0, Duration::from_secs(10));
        for _ in 0..100 {
            b.failure();
        }
        assert_eq!(b.admit(), Admit::Yes);
    }
}
