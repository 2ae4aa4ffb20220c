//! Candidate circuit breaker: after N consecutive v2 failures stop mirroring, and let one probe
//! through every probe interval (`backoff`, at most a second, jittered); a probe's success closes
//! the breaker and mirroring ramps back up, its failure keeps it open until the next probe.
//!
//! Lock-free: the request path reads one atomic while closed.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};
use rand::Rng;

/// While open, v2 is probed this often (or every `backoff`, if shorter), with ±20 % jitter so a
/// fleet of proxies does not probe in step: a v2 that comes back is mirrored to again within
/// about a second, whatever the outage's length.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// After closing, mirroring ramps up over this long (or `backoff`, if shorter) instead of
/// jumping to the full share: a v2 just back up is not hit by every pent-up request at once.
const RAMP: Duration = Duration::from_secs(5);

pub struct Breaker {
    threshold: u32,
    backoff: Duration,
    epoch: Instant,
    failures: AtomicU32,
    /// Nanoseconds since `epoch` until which the breaker is open; 0 = closed.
    open_until: AtomicU64,
    /// The probe in flight (its id), 0 when none.
    probe: AtomicU64,
    next_probe: AtomicU64,
    /// Nanoseconds since `epoch` when the breaker last closed (start of the ramp); 0 = never.
    closed_at: AtomicU64,
    gauge: IntGauge,
    trips: IntCounter,
}

/// What the breaker lets a request do.
#[derive(Debug)]
pub enum Admit {
    Yes,
    /// Half-open: this request is the probe.
    Probe(ProbeTurn),
    No,
}

/// The probe's turn. Reported through [`Breaker::success`] or [`Breaker::failure`]; dropped
/// unreported (the mirror found no slot, or failed before sending), it gives the turn back —
/// otherwise the breaker would wait for a verdict that never comes and stop mirroring for good.
#[derive(Debug)]
pub struct ProbeTurn {
    breaker: Arc<Breaker>,
    id: u64,
}

impl Drop for ProbeTurn {
    fn drop(&mut self) {
        let _ =
            self.breaker
                .probe
                .compare_exchange(self.id, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
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
            probe: AtomicU64::new(0),
            next_probe: AtomicU64::new(1),
            closed_at: AtomicU64::new(0),
            gauge,
            trips,
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn admit(self: &Arc<Self>) -> Admit {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return self.ramp();
        }
        if self.now() < until {
            return Admit::No;
        }
        // Backoff over: exactly one probe at a time.
        let id = self.next_probe.fetch_add(1, Ordering::Relaxed);
        match self
            .probe
            .compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Admit::Probe(ProbeTurn {
                breaker: self.clone(),
                id,
            }),
            Err(_) => Admit::No,
        }
    }

    /// Closed: everything passes, except in the ramp after a close, where the share admitted
    /// grows from a tenth to all of it.
    fn ramp(&self) -> Admit {
        let closed_at = self.closed_at.load(Ordering::Relaxed);
        let ramp = RAMP.min(self.backoff).as_nanos() as u64;
        if closed_at == 0 || ramp == 0 {
            return Admit::Yes;
        }
        let since = self.now().saturating_sub(closed_at);
        if since >= ramp {
            return Admit::Yes;
        }
        let share = (since as f64 / ramp as f64).max(0.1);
        if rand::thread_rng().gen_bool(share) {
            Admit::Yes
        } else {
            Admit::No
        }
    }

    /// When the next probe may go: a probe interval from now (the backoff, at most a second),
    /// jittered ±20 %.
    fn next_probe_at(&self) -> u64 {
        let every = PROBE_EVERY.min(self.backoff).as_nanos() as f64;
        let jittered = every * rand::thread_rng().gen_range(0.8..1.2);
        (self.now() + jittered as u64).max(1)
    }

    pub fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Acquire) != 0
    }

    pub fn success(&self) {
        self.failures.store(0, Ordering::Release);
        if self.open_until.swap(0, Ordering::AcqRel) != 0 {
            self.closed_at.store(self.now().max(1), Ordering::Relaxed);
            self.gauge.set(0);
            tracing::info!("candidate circuit breaker closed");
        }
        self.probe.store(0, Ordering::Release);
    }

    pub fn failure(&self) {
        if self.threshold == 0 {
            return;
        }
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let was_probe = self.probe.swap(0, Ordering::AcqRel) != 0;
        if was_probe {
            // Still down: probe again on the same steady schedule.
            self.open_until
                .store(self.next_probe_at(), Ordering::Release);
        } else if n >= self.threshold {
            let until = self.next_probe_at();
            if self
                .open_until
                .compare_exchange(0, until, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
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

    fn breaker(threshold: u32, backoff: Duration) -> Arc<Breaker> {
        Arc::new(Breaker::new(
            threshold,
            backoff,
            IntGauge::new("g", "g").unwrap(),
            IntCounter::new("c", "c").unwrap(),
        ))
    }

    fn kind(a: &Admit) -> &'static str {
        match a {
            Admit::Yes => "yes",
            Admit::Probe(_) => "probe",
            Admit::No => "no",
        }
    }

    #[test]
    fn opens_after_threshold_and_probes_after_backoff() {
        let b = breaker(3, Duration::from_millis(30));
        b.failure();
        b.failure();
        assert_eq!(kind(&b.admit()), "yes");
        b.success();
        b.failure();
        b.failure();
        assert_eq!(
            kind(&b.admit()),
            "yes",
            "success resets the consecutive count"
        );
        b.failure();
        assert_eq!(kind(&b.admit()), "no");
        assert_eq!(b.trips.get(), 1);
        assert_eq!(b.gauge.get(), 1);
        std::thread::sleep(Duration::from_millis(40));
        let probe = b.admit();
        assert_eq!(kind(&probe), "probe");
        assert_eq!(kind(&b.admit()), "no", "one probe at a time");
        b.failure();
        drop(probe);
        assert_eq!(kind(&b.admit()), "no", "a failed probe reopens");
        assert_eq!(b.trips.get(), 1, "still the same trip");
        std::thread::sleep(Duration::from_millis(40));
        let probe = b.admit();
        assert_eq!(kind(&probe), "probe");
        b.success();
        drop(probe);
        assert_eq!(b.gauge.get(), 0);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(kind(&b.admit()), "yes", "past the ramp, everything passes");
    }

    #[test]
    fn threshold_zero_never_opens() {
        let b = breaker(0, Duration::from_secs(10));
        for _ in 0..100 {
            b.failure();
        }
        assert_eq!(kind(&b.admit()), "yes");
    }

    /// A probe that is never sent (no slot free at that moment) gives its turn back: the
    /// breaker probes again instead of staying open until a restart.
    #[test]
    fn a_probe_that_is_not_sent_gives_its_turn_back() {
        let b = breaker(1, Duration::from_millis(10));
        b.failure();
        std::thread::sleep(Duration::from_millis(15));
        let probe = b.admit();
        assert_eq!(kind(&probe), "probe");
        drop(probe); // the mirror found every slot taken
        assert_eq!(kind(&b.admit()), "probe", "the next request probes");
    }

    /// While v2 stays down, it is probed every second (or backoff), not every backoff: after a
    /// long outage mirroring resumes within about a second of v2's return.
    #[test]
    fn a_failed_probe_reopens_for_a_probe_interval_not_a_backoff() {
        let b = breaker(1, Duration::from_secs(60));
        b.failure();
        assert_eq!(kind(&b.admit()), "no");
        // Pretend the probe interval has passed.
        b.open_until.store(1, Ordering::Release);
        let probe = b.admit();
        assert_eq!(kind(&probe), "probe");
        b.failure();
        drop(probe);
        let until = b.open_until.load(Ordering::Acquire);
        let wait = Duration::from_nanos(until.saturating_sub(b.now()));
        assert!(
            wait <= Duration::from_millis(1200),
            "next probe in {wait:?}"
        );
    }

    #[test]
    fn after_closing_mirroring_ramps_up() {
        let b = breaker(1, Duration::from_secs(60));
        b.failure();
        b.open_until.store(1, Ordering::Release);
        let probe = b.admit();
        b.success();
        drop(probe);
        let admitted = (0..1000).filter(|_| kind(&b.admit()) == "yes").count();
        assert!(
            (50..400).contains(&admitted),
            "right after closing about a tenth passes, got {admitted} of 1000"
        );
    }
}
