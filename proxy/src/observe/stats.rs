//! Per-route comparison statistics for the report, the summary API and the budget gauges.
//!
//! Prometheus counters stay the source of truth; these are what one instance shows a person:
//! totals, the windowed mismatch rate, and which JSON Pointers differ most.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How many distinct differing paths a route keeps counts for; later paths count as `(other)`.
const MAX_PATHS: usize = 64;
/// The budget window is kept as this many slots; the rate covers the last `SLOTS - 1` whole slots
/// plus the current one.
const SLOTS: usize = 60;

#[derive(Debug)]
pub struct RouteStats {
    pub compared: AtomicU64,
    pub matched: AtomicU64,
    pub mismatched: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    paths: HashMap<String, u64>,
    first_path: Option<String>,
    window: Window,
}

/// Windowed totals and what the budget says about them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowTotals {
    pub compared: u64,
    pub mismatched: u64,
}

impl WindowTotals {
    pub fn rate(&self) -> f64 {
        if self.compared == 0 {
            0.0
        } else {
            self.mismatched as f64 / self.compared as f64
        }
    }
}

impl RouteStats {
    pub fn new(window: Duration) -> Self {
        Self {
            compared: AtomicU64::new(0),
            matched: AtomicU64::new(0),
            mismatched: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                paths: HashMap::new(),
                first_path: None,
                window: Window::new(window),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Counts stay meaningful even if a holder panicked; never cascade the panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record one comparison; `paths` are the differing locations (JSON Pointers, header names).
    pub fn record<'a>(&self, mismatch: bool, paths: impl Iterator<Item = &'a str>) {
        self.compared.fetch_add(1, Ordering::Relaxed);
        if mismatch {
            self.mismatched.fetch_add(1, Ordering::Relaxed);
        } else {
            self.matched.fetch_add(1, Ordering::Relaxed);
        }
        let mut inner = self.lock();
        inner.window.record(Instant::now(), mismatch);
        for p in paths {
            if inner.first_path.is_none() {
                inner.first_path = Some(p.to_string());
            }
            let full = inner.paths.len() >= MAX_PATHS && !inner.paths.contains_key(p);
            let key = if full { "(other)" } else { p };
            if let Some(n) = inner.paths.get_mut(key) {
                *n += 1;
            } else {
                inner.paths.insert(key.to_string(), 1);
            }
        }
    }

    pub fn window(&self) -> WindowTotals {
        self.lock().window.totals(Instant::now())
    }

    /// Change the window length (on reload); the counts so far are dropped.
    pub fn set_window(&self, window: Duration) {
        let mut inner = self.lock();
        if inner.window.span() != window {
            inner.window = Window::new(window);
        }
    }

    pub fn first_path(&self) -> Option<String> {
        self.lock().first_path.clone()
    }

    /// The most frequent differing paths, most first (ties by path, for a stable order).
    pub fn top_paths(&self, n: usize) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .lock()
            .paths
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

#[derive(Debug)]
struct Window {
    width: Duration,
    start: Instant,
    /// Absolute index of the newest slot.
    head: u64,
    slots: [WindowTotals; SLOTS],
}

impl Window {
    fn new(span: Duration) -> Self {
        let width = (span / SLOTS as u32).max(Duration::from_millis(10));
        Self {
            width,
            start: Instant::now(),
            head: 0,
            slots: [WindowTotals {
                compared: 0,
                mismatched: 0,
            }; SLOTS],
        }
    }

    fn span(&self) -> Duration {
        self.width * SLOTS as u32
    }

    fn advance(&mut self, now: Instant) -> usize {
        let abs = (now.saturating_duration_since(self.start).as_nanos()
            / self.width.as_nanos().max(1)) as u64;
        let stale = abs.saturating_sub(self.head).min(SLOTS as u64);
        for i in 1..=stale {
            self.slots[((self.head + i) % SLOTS as u64) as usize] = WindowTotals {
                compared: 0,
                mismatched: 0,
            };
        }
        self.head = self.head.max(abs);
        (self.head % SLOTS as u64) as usize
    }

    fn record(&mut self, now: Instant, mismatch: bool) {
        let i = self.advance(now);
        self.slots[i].compared += 1;
        self.slots[i].mismatched += u64::from(mismatch);
    }

    fn totals(&mut self, now: Instant) -> WindowTotals {
        self.advance(now);
        self.slots.iter().fold(
            WindowTotals {
                compared: 0,
                mismatched: 0,
            },
            |acc, s| WindowTotals {
                compared: acc.compared + s.compared,
                mismatched: acc.mismatched + s.mismatched,
            },
        )
    }
}

/// Route statistics by name, kept across reloads so totals survive a config change.
#[derive(Debug, Default)]
pub struct StatsRegistry {
    by_route: Mutex<HashMap<String, Arc<RouteStats>>>,
}

impl StatsRegistry {
    /// The route's statistics, made with `window` if new; an existing one keeps its window
    /// until the config that changes it goes into force (`RouteRuntime::activate`).
    pub fn get_or_create(&self, route: &str, window: Duration) -> Arc<RouteStats> {
        let mut map = self.by_route.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(route.to_string())
            .or_insert_with(|| Arc::new(RouteStats::new(window)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_forgets_old_slots() {
        let mut w = Window::new(Duration::from_secs(60));
        let t0 = w.start;
        w.record(t0, true);
        w.record(t0 + Duration::from_secs(30), false);
        assert_eq!(
            w.totals(t0 + Duration::from_secs(31)),
            WindowTotals {
                compared: 2,
                mismatched: 1
            }
        );
        // A full window later only the second record is left.
        assert_eq!(
            w.totals(t0 + Duration::from_secs(61)),
            WindowTotals {
                compared: 1,
                mismatched: 0
            }
        );
        assert_eq!(
            w.totals(t0 + Duration::from_secs(600)),
            WindowTotals {
                compared: 0,
                mismatched: 0
            }
        );
    }

    #[test]
    fn top_paths_are_counted_and_bounded() {
        let s = RouteStats::new(Duration::from_secs(60));
        s.record(true, ["/a", "/b"].into_iter());
        s.record(true, ["/b"].into_iter());
        s.record(false, std::iter::empty());
        assert_eq!(
            s.top_paths(5),
            vec![("/b".to_string(), 2), ("/a".to_string(), 1)]
        );
        assert_eq!(s.first_path().as_deref(), Some("/a"));
        for i in 0..100 {
            s.record(true, [format!("/p{i}").as_str()].into_iter());
        }
        assert!(s.top_paths(1000).len() <= MAX_PATHS + 1);
        assert_eq!(s.compared.load(Ordering::Relaxed), 103);
    }
}
