//! The adaptive mirror concurrency limit: how many mirrors may be in flight, moved between
//! `limits.min_in_flight_mirrors` and the hard ceiling `limits.max_in_flight_mirrors` by three
//! signals, each judged as a gradient (as Netflix's Gradient2: a short-term value against its
//! own long-term level, so a steady level is accepted and only a rise shrinks the limit):
//!
//! - v2's latency, the fastest of ten or more exchanges: rising means v2 queues our mirrors;
//! - v1's 99th percentile time to response headers as the proxy sees it, against a baseline
//!   that falls within seconds and rises over 30 s (a harm that lasts is not the new normal);
//! - the I/O thread's scheduling delay (a probe times how long a yield takes to come back).
//!
//! The last two rising mean the proxy's work — mirrors' included — delays v1's requests.
//! `docs/architecture.md` ("The mirror concurrency limit") says why each is judged as it is.
//!
//! The request path pays one `fetch_add` and one load ([`MirrorLimit::try_acquire`]), and one
//! `fetch_add` when v1 answers ([`MirrorLimit::served`]); a finished exchange pays a `fetch_min`
//! and a `fetch_add` ([`MirrorLimit::sample`]). The estimate is updated once per window by one
//! task ([`run`]), which owns it: no lock anywhere.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::IntGauge;

use crate::observe::latency::{quantile_slot, slot_value, Slots, SLOTS};

/// How often the scheduling delay is probed.
const TICK: Duration = Duration::from_millis(5);
/// Probes per window; the limit is updated once per window (100 ms).
const TICKS_PER_WINDOW: u32 = 20;
/// The latency is judged on at least this many exchanges, gathered over as many windows as it
/// takes: the fastest of them. A share of lost packets or a slow endpoint delays some exchanges;
/// v2 queueing, or slower as a whole, delays every one — only that raises the fastest.
const RTT_MIN_SAMPLES: u64 = 10;
/// The long-term latency follows the short-term one over about this many windows (2 s): a new
/// steady level (v2 200 ms slower, but answering) is accepted after that and the limit climbs
/// back, while growing into a v2 that queues raises its latency faster than this follows, which
/// the gradient sees.
const RTT_LONG_WINDOWS: f64 = 20.0;
/// The scheduling delay's long-term level follows over 10 s: a delay that mirrors add is not
/// taken as the new normal as quickly.
const LAG_LONG_WINDOWS: f64 = 100.0;
/// The short-term latency may be this much above the long-term average before the limit
/// shrinks (Gradient2's default).
const RTT_TOLERANCE: f64 = 1.5;
/// A rise under this is noise, not queueing (v2 going from 0.3 ms to 0.9 ms, or the
/// scheduling delay going from 50 µs to 200 µs, is no reason to shed mirrors).
const RTT_FLOOR: f64 = 1e-3;
const LAG_TOLERANCE: f64 = 2.0;
const LAG_FLOOR: f64 = 1e-3;
/// v1's percentile is judged on at least this many answers (every window at a few thousand
/// requests a second; every couple of seconds at a hundred).
const V1_MIN_SAMPLES: u64 = 200;
/// v1's 99th percentile (smoothed over about two judgements: one window's is a handful of
/// answers, and bursty) may be this much above its baseline before the limit shrinks.
const V1_TOLERANCE: f64 = 1.2;
const V1_FLOOR: f64 = 500e-6;
const V1_SMOOTHING: f64 = 0.5;
/// v1's baseline falls to a lower percentile within about five seconds and rises over about
/// 30 s: it is v1 as it is when mirrors do not crowd it, not v1 as mirrors have made it.
const V1_FALL_WINDOWS: f64 = 50.0;
const V1_RISE_WINDOWS: f64 = 300.0;
/// One window cuts the limit by at most a quarter (gradient at its floor of ½, applied with
/// weight ½): an outlier window does not halve it, a sustained rise takes it from 1024 to 8 in
/// under two seconds.
const DECREASE_WEIGHT: f64 = 0.5;

/// The shared half: the current limit and the window's samples, all atomics.
pub struct MirrorLimit {
    enabled: AtomicBool,
    min: AtomicUsize,
    max: AtomicUsize,
    /// The limit in force, read on every admission.
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    /// The most mirrors in flight at once in this window: growth needs the limit to be used.
    peak: AtomicUsize,
    samples: AtomicU64,
    rtt_min_us: AtomicU64,
    /// v1's answers in this window, by latency slot.
    v1: Slots,
    gauge: IntGauge,
}

/// One admitted mirror's place under the limit, given back on drop.
pub struct LimitPermit(Arc<MirrorLimit>);

impl Drop for LimitPermit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl MirrorLimit {
    pub fn new(limits: &config::Limits, gauge: IntGauge) -> Arc<Self> {
        let max = limits.max_in_flight_mirrors;
        let me = Arc::new(Self {
            enabled: AtomicBool::new(false),
            min: AtomicUsize::new(limits.min_in_flight_mirrors),
            max: AtomicUsize::new(max),
            // Starts at the ceiling: until a signal says otherwise, mirror as much as allowed.
            limit: AtomicUsize::new(max),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            samples: AtomicU64::new(0),
            rtt_min_us: AtomicU64::new(u64::MAX),
            v1: Slots::default(),
            gauge,
        });
        me.configure(limits);
        me
    }

    /// Take the bounds of a (re)loaded config; the estimate carries over, clamped to them.
    pub fn configure(&self, limits: &config::Limits) {
        let (min, max) = (limits.min_in_flight_mirrors, limits.max_in_flight_mirrors);
        let was = self.enabled.swap(limits.adaptive_mirrors, Ordering::AcqRel);
        self.min.store(min, Ordering::Relaxed);
        self.max.store(max, Ordering::Relaxed);
        let limit = if limits.adaptive_mirrors && was {
            self.limit.load(Ordering::Relaxed).clamp(min, max)
        } else {
            max
        };
        self.set(limit);
    }

    fn set(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
        self.gauge.set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// The limit in force.
    pub fn current(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// A place for one more mirror, or `None` when the limit is reached. Off, it only counts.
    pub fn try_acquire(self: &Arc<Self>) -> Option<LimitPermit> {
        let n = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let permit = LimitPermit(self.clone());
        if n > self.limit.load(Ordering::Relaxed) && self.is_enabled() {
            return None; // the permit's drop gives the place back
        }
        self.peak.fetch_max(n, Ordering::Relaxed);
        Some(permit)
    }

    /// How long one mirrored exchange took, answered or failed (a timeout is a long sample).
    pub fn sample(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.rtt_min_us.fetch_min(us, Ordering::Relaxed);
        self.samples.fetch_add(1, Ordering::Relaxed);
    }

    /// v1 answered a request after `elapsed` (to its response head).
    pub fn served(&self, elapsed: Duration) {
        if self.is_enabled() {
            self.v1.record(elapsed);
        }
    }

    /// The window's samples, and a fresh window. A sample landing between the swaps moves to
    /// the next window with its count or its time: one sample, harmless.
    fn harvest(&self, lag: f64, v1: &mut Percentile) -> Window {
        let samples = self.samples.swap(0, Ordering::Relaxed);
        let min = self.rtt_min_us.swap(u64::MAX, Ordering::Relaxed);
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let peak = self.peak.swap(in_flight, Ordering::Relaxed).max(in_flight);
        v1.total += self.v1.drain_into(&mut v1.counts);
        Window {
            samples,
            rtt_min: min as f64 / 1e6,
            lag,
            v1_p99: (v1.total >= V1_MIN_SAMPLES).then(|| v1.take_p99()),
            peak,
        }
    }
}

/// v1's answers gathered towards the next judgement of its percentile.
struct Percentile {
    counts: Vec<u64>,
    total: u64,
}

impl Percentile {
    fn new() -> Self {
        Self {
            counts: vec![0; SLOTS],
            total: 0,
        }
    }

    /// The 99th percentile, seconds; starts over.
    fn take_p99(&mut self) -> f64 {
        let p99 = quantile_slot(&self.counts, 0.99).map_or(0.0, slot_value);
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
        p99
    }
}

/// What one window saw.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Exchanges that ended in it.
    pub samples: u64,
    /// The fastest of them, seconds (meaningless without samples).
    pub rtt_min: f64,
    /// The longest scheduling delay of its probes, seconds.
    pub lag: f64,
    /// v1's 99th percentile time to response headers, seconds, once enough answers were
    /// gathered (over this window and those before it since the last judgement).
    pub v1_p99: Option<f64>,
    /// The most mirrors in flight at once.
    pub peak: usize,
}

/// A value against its own long-term average, as Gradient2 does for latency.
#[derive(Debug, Default)]
struct Trend {
    long: Option<f64>,
}

impl Trend {
    /// Fold in `short` and return the gradient: 1 while it is within `tolerance` × the long-term
    /// average + `floor`, down to ½ as it rises past that. The average follows a rise over
    /// `horizon.0` judgements and a fall over `horizon.1`.
    fn gradient(&mut self, short: f64, horizon: (f64, f64), tolerance: f64, floor: f64) -> f64 {
        let (rise, fall) = horizon;
        let mut long = match self.long {
            None => short,
            Some(l) if short > l => l + (short - l) / rise,
            Some(l) => l + (short - l) / fall,
        };
        // Back from a long spike: let the average come down faster than it went up, so the
        // spike's level is not taken as normal for a while (Gradient2 does this).
        if long > 2.0 * short {
            long *= 0.95;
        }
        self.long = Some(long);
        if short <= 0.0 {
            return 1.0;
        }
        ((tolerance * long + floor) / short).clamp(0.5, 1.0)
    }
}

/// The estimate, owned by [`run`]; pure, so its arithmetic is tested with made-up windows.
#[derive(Debug)]
pub struct Estimator {
    limit: f64,
    rtt: Trend,
    lag: Trend,
    v1: Trend,
    /// v1's recent percentile, smoothed.
    v1_short: Option<f64>,
    /// Exchanges gathered towards the next latency judgement, and the fastest of them.
    pending: (u64, f64),
}

impl Estimator {
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit as f64,
            rtt: Trend::default(),
            lag: Trend::default(),
            v1: Trend::default(),
            v1_short: None,
            pending: (0, f64::INFINITY),
        }
    }

    /// The latency to judge, once enough exchanges have ended since the last judgement.
    fn rtt(&mut self, w: &Window) -> Option<f64> {
        if w.samples > 0 {
            self.pending = (self.pending.0 + w.samples, self.pending.1.min(w.rtt_min));
        }
        if self.pending.0 < RTT_MIN_SAMPLES {
            return None;
        }
        let rtt = self.pending.1;
        self.pending = (0, f64::INFINITY);
        Some(rtt)
    }

    /// The limit after window `w`, within `min..=max`.
    pub fn update(&mut self, w: Window, min: usize, max: usize) -> usize {
        let (min, max) = (min as f64, max as f64);
        let lag = (LAG_LONG_WINDOWS, LAG_LONG_WINDOWS);
        let mut gradient = self.lag.gradient(w.lag, lag, LAG_TOLERANCE, LAG_FLOOR);
        if let Some(p99) = w.v1_p99 {
            let short = self.v1_short.map_or(p99, |s| s + (p99 - s) * V1_SMOOTHING);
            self.v1_short = Some(short);
            let v1 = (V1_RISE_WINDOWS, V1_FALL_WINDOWS);
            gradient = gradient.min(self.v1.gradient(short, v1, V1_TOLERANCE, V1_FLOOR));
        }
        let rtt = self.rtt(&w);
        if let Some(rtt) = rtt {
            let horizon = (RTT_LONG_WINDOWS, RTT_LONG_WINDOWS);
            let g = self.rtt.gradient(rtt, horizon, RTT_TOLERANCE, RTT_FLOOR);
            gradient = gradient.min(g);
        }
        let limit = self.limit.clamp(min, max);
        self.limit = if gradient < 1.0 {
            limit * (1.0 - DECREASE_WEIGHT * (1.0 - gradient))
        } else if rtt.is_none() {
            // Not enough exchanges ended to judge v2: no news that it is steady (a slow v2
            // answers in bursts, with empty windows between them).
            limit
        } else if (w.peak as f64) * 2.0 >= limit {
            // Steady and in use: grow by √limit per window (Gradient2's queue allowance): from 8
            // to 1024 in about six seconds, and gently near the top, where an overshoot costs
            // v1 before its percentile shows it.
            limit + limit.sqrt()
        } else {
            // Steady but not in use: a limit nobody reaches says nothing about what v2 can take.
            limit
        }
        .clamp(min, max);
        self.limit.round() as usize
    }
}

/// Update the limit once per window until `stop`: probe the scheduling delay every tick, fold
/// in the window's samples. Runs on the I/O runtime it measures.
pub async fn run(limit: Arc<MirrorLimit>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let limit = &limit;
    let mut estimator = Estimator::new(limit.current());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut ticks, mut lag_max, mut lag_sum) = (0u32, 0.0f64, 0.0f64);
    let mut v1 = Percentile::new();
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        if !limit.is_enabled() {
            // Off: nothing to estimate; start afresh from the ceiling when turned on.
            estimator = Estimator::new(limit.current());
            (ticks, lag_max, lag_sum) = (0, 0.0, 0.0);
            continue;
        }
        // A yield comes back after every task ready now has run and the I/O driver has been
        // polled once: exactly the wait of a v1 socket that just became readable. (A timer's
        // oversleep would add the timer wheel's 1 ms rounding to it.)
        let probe = Instant::now();
        tokio::task::yield_now().await;
        let lag = probe.elapsed().as_secs_f64();
        lag_max = lag_max.max(lag);
        lag_sum += lag;
        ticks += 1;
        if ticks < TICKS_PER_WINDOW {
            continue;
        }
        let lag_mean = lag_sum / f64::from(ticks);
        let w = limit.harvest(lag_max, &mut v1);
        (ticks, lag_max, lag_sum) = (0, 0.0, 0.0);
        let (min, max) = (
            limit.min.load(Ordering::Relaxed),
            limit.max.load(Ordering::Relaxed),
        );
        let next = estimator.update(w, min, max);
        if next != limit.current() {
            tracing::debug!(
                limit = next,
                samples = w.samples,
                rtt_min_ms = w.rtt_min * 1e3,
                lag_ms = w.lag * 1e3,
                lag_mean_ms = lag_mean * 1e3,
                v1_p99_ms = w.v1_p99.map(|p| p * 1e3),
                peak = w.peak,
                "mirror concurrency limit"
            );
        }
        limit.set(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::latency::{slot, SLOTS as V1_SLOTS};

    fn window(rtt_ms: f64, lag_ms: f64, peak: usize) -> Window {
        Window {
            samples: RTT_MIN_SAMPLES,
            rtt_min: rtt_ms / 1e3,
            lag: lag_ms / 1e3,
            v1_p99: None,
            peak,
        }
    }

    /// Run `n` windows; the limit after each.
    fn run_windows(e: &mut Estimator, n: usize, mut w: impl FnMut(usize) -> Window) -> Vec<usize> {
        let mut out = Vec::new();
        let mut limit = e.limit as usize;
        for _ in 0..n {
            limit = e.update(w(limit), 8, 1024);
            out.push(limit);
        }
        out
    }

    #[test]
    fn steady_and_used_grows_to_the_ceiling_in_seconds() {
        let mut e = Estimator::new(8);
        // Every window uses the whole limit, v2 at 2 ms, no lag.
        let limits = run_windows(&mut e, 100, |l| window(2.0, 0.05, l));
        let reached = limits.iter().position(|&l| l == 1024).map(|i| i + 1);
        assert!(
            matches!(reached, Some(40..=70)),
            "8 → 1024 took {reached:?} windows of 100 ms"
        );
    }

    #[test]
    fn steady_but_unused_holds() {
        let mut e = Estimator::new(100);
        let limits = run_windows(&mut e, 50, |_| window(2.0, 0.05, 10));
        assert!(limits.iter().all(|&l| l == 100), "{limits:?}");
    }

    /// v2 goes from 2 ms to 200 ms: the limit falls to a tenth within a second, and climbs back
    /// to the ceiling within ten once 200 ms is v2's normal (v2 slower, but answering).
    #[test]
    fn a_latency_step_shrinks_then_the_new_level_is_accepted() {
        let mut e = Estimator::new(1024);
        run_windows(&mut e, 100, |l| window(2.0, 0.05, l));
        let limits = run_windows(&mut e, 100, |l| window(200.0, 0.05, l));
        assert!(limits[9] <= 102, "{limits:?}");
        let low = limits.iter().position(|&l| l < 64);
        assert!(low.is_some(), "{limits:?}");
        assert_eq!(limits[99], 1024, "{limits:?}");
    }

    #[test]
    fn back_from_a_spike_it_grows_at_once() {
        let mut e = Estimator::new(1024);
        run_windows(&mut e, 100, |l| window(2.0, 0.05, l));
        let spike = run_windows(&mut e, 10, |l| window(300.0, 0.05, l));
        let low = spike[9];
        assert!(low < 100, "{spike:?}");
        let limits = run_windows(&mut e, 10, |l| window(2.0, 0.05, l));
        assert!(limits.windows(2).all(|p| p[1] > p[0]), "{limits:?}");
        assert!(limits[9] > 2 * low, "{limits:?}");
    }

    /// The scheduling delay rising (mirrors' completions crowding v1's requests) shrinks the
    /// limit even though v2 is steady; a steady delay, however high, does not.
    #[test]
    fn rising_lag_shrinks_steady_lag_does_not() {
        let mut e = Estimator::new(1024);
        run_windows(&mut e, 100, |l| window(2.0, 0.2, l));
        let limits = run_windows(&mut e, 10, |l| window(2.0, 5.0, l));
        assert!(limits[9] < 200, "{limits:?}");
        let mut e = Estimator::new(512);
        let limits = run_windows(&mut e, 50, |l| window(2.0, 5.0, l / 4));
        assert!(limits.iter().all(|&l| l == 512), "{limits:?}");
    }

    /// A rise of a fraction of a millisecond is under the floor: no shedding.
    #[test]
    fn small_rises_are_noise() {
        let mut e = Estimator::new(512);
        run_windows(&mut e, 100, |l| window(0.3, 0.05, l / 4));
        let limits = run_windows(&mut e, 20, |l| window(0.9, 0.6, l / 4));
        assert!(limits.iter().all(|&l| l == 512), "{limits:?}");
    }

    /// A window in which too few exchanges ended can shrink the limit (the lag rose) but never
    /// grows it: a v2 that answers every 500 ms leaves most windows empty.
    #[test]
    fn windows_without_exchanges_only_judge_the_lag() {
        let mut e = Estimator::new(64);
        let w = |lag| Window {
            samples: 0,
            rtt_min: f64::INFINITY,
            lag,
            v1_p99: None,
            peak: 64,
        };
        assert_eq!(e.update(w(0.0001), 8, 1024), 64);
        assert!(e.update(w(0.005), 8, 1024) < 64);
    }

    fn limits(adaptive: bool, min: usize, max: usize) -> config::Limits {
        let text = format!(
            "[primary]\nurl = \"http://a\"\n[candidate]\nurl = \"http://b\"\n[limits]\nadaptive_mirrors = {adaptive}\nmin_in_flight_mirrors = {min}\nmax_in_flight_mirrors = {max}\n"
        );
        config::Config::from_toml_str(&text, &config::Overrides::default())
            .map(|c| c.limits)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn admission_stops_at_the_limit_and_places_come_back() {
        let gauge = IntGauge::new("g", "g").unwrap_or_else(|e| panic!("{e}"));
        let l = MirrorLimit::new(&limits(true, 2, 4), gauge.clone());
        assert_eq!(gauge.get(), 4, "starts at the ceiling");
        l.set(2);
        let a = l.try_acquire();
        let b = l.try_acquire();
        assert!(a.is_some() && b.is_some());
        assert!(l.try_acquire().is_none(), "a third is refused");
        drop(a);
        assert!(l.try_acquire().is_some(), "a place came back");
        // Off: only the ceiling (the semaphore) limits; the gauge shows it.
        l.configure(&limits(false, 2, 4));
        assert_eq!(gauge.get(), 4);
        let held: Vec<_> = (0..10).filter_map(|_| l.try_acquire()).collect();
        assert_eq!(held.len(), 10);
    }

    /// Few exchanges per window: the latency is judged once ten have ended, on the fastest.
    #[test]
    fn sparse_exchanges_are_gathered_and_the_fastest_judged() {
        let mut e = Estimator::new(64);
        let w = |samples, rtt_ms: f64| Window {
            samples,
            rtt_min: rtt_ms / 1e3,
            lag: 0.0001,
            v1_p99: None,
            peak: 64,
        };
        assert_eq!(e.update(w(4, 2.0), 8, 1024), 64, "four: no judgement yet");
        assert_eq!(e.update(w(4, 2.0), 8, 1024), 64, "eight: none either");
        assert!(e.update(w(4, 2.0), 8, 1024) > 64, "twelve: steady, grows");
        // Loss: most exchanges wait for a retransmission, a few do not; the fastest is steady.
        let before = e.limit;
        for _ in 0..20 {
            e.update(w(3, 2.0), 8, 1024);
            e.update(w(3, 1200.0), 8, 1024);
            e.update(w(4, 3000.0), 8, 1024);
        }
        assert!(e.limit > before, "{} <= {before}", e.limit);
    }

    #[test]
    fn latency_slots_are_within_their_resolution() {
        for us in [0u64, 1, 7, 8, 9, 100, 1234, 65_535, 5_000_000, 1 << 39] {
            let back = slot_value(slot(us)) * 1e6;
            let err = (back - us as f64).abs() / (us as f64).max(1.0);
            assert!(err <= 0.07, "{us} µs came back as {back}");
        }
        assert_eq!(
            slot(u64::MAX),
            V1_SLOTS - 1,
            "past the last slot: the last slot"
        );
    }

    #[test]
    fn the_percentile_is_the_99th_answer() {
        let mut p = Percentile::new();
        p.counts[slot(1000)] = 990;
        p.counts[slot(50_000)] = 10;
        p.total = 1000;
        let ms = p.take_p99() * 1e3;
        assert!((0.9..1.1).contains(&ms), "{ms}");
        assert_eq!(p.total, 0, "taken: it starts over");
        p.counts[slot(1000)] = 980;
        p.counts[slot(50_000)] = 20;
        p.total = 1000;
        let ms = p.take_p99() * 1e3;
        assert!((45.0..55.0).contains(&ms), "{ms}");
    }

    fn v1_window(p99_ms: f64, peak: usize) -> Window {
        Window {
            v1_p99: Some(p99_ms / 1e3),
            ..window(2.0, 0.05, peak)
        }
    }

    /// v1's 99th percentile rising (mirrors crowding v1's requests) shrinks the limit, and a
    /// rise that lasts is not taken as v1's new normal: the limit stays down.
    #[test]
    fn v1_slowing_shrinks_and_a_lasting_slowdown_keeps_it_down() {
        let mut e = Estimator::new(1024);
        let steady = run_windows(&mut e, 100, |l| v1_window(2.0, l));
        assert_eq!(steady[99], 1024, "a steady v1: {steady:?}");
        let slowed = run_windows(&mut e, 100, |l| v1_window(5.0, l));
        assert!(slowed[20] < 100, "{slowed:?}");
        assert_eq!(slowed[99], 8, "{slowed:?}");
    }

    /// One slow window is smoothed: it trims the limit, it does not floor it.
    #[test]
    fn one_slow_v1_window_trims() {
        let mut e = Estimator::new(1024);
        run_windows(&mut e, 100, |l| v1_window(2.0, l));
        let after = run_windows(&mut e, 1, |l| v1_window(8.0, l));
        assert!((600..1024).contains(&after[0]), "{after:?}");
    }
}
