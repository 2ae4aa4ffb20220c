//! Progress: on a terminal an `indicatif` bar (done/total, rate, mismatches so far, ETA);
//! otherwise (CI logs) a plain line every few seconds.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::state::Shared;

/// How often the plain line is printed.
const EVERY: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Progress(Arc<Inner>);

struct Inner {
    bar: Option<ProgressBar>,
    total: u64,
    done: AtomicU64,
    started: Instant,
    last_line: Mutex<Instant>,
}

impl Progress {
    pub fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style =
                ProgressStyle::with_template("{bar:30} {pos}/{len} {per_sec} {msg} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self(Arc::new(Inner {
            bar,
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
        }))
    }

    /// One more request replayed.
    pub fn done(&self, shared: &Shared) {
        let done = self.0.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.0.bar {
            bar.set_position(done);
            if done.is_multiple_of(64) {
                bar.set_message(format!("{} mismatches", mismatches(shared)));
            }
            return;
        }
        // The clock is read every so many requests, not on each.
        if !done.is_multiple_of(256) {
            return;
        }
        let mut last = self
            .0
            .last_line
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() >= EVERY {
            *last = Instant::now();
            eprintln!("replay: {}", self.line(done, shared));
        }
    }

    pub fn finish(&self, shared: &Shared) {
        let done = self.0.done.load(Ordering::Relaxed);
        match &self.0.bar {
            Some(bar) => {
                bar.set_message(format!("{} mismatches", mismatches(shared)));
                bar.finish();
            }
            None => eprintln!("replay: {}", self.line(done, shared)),
        }
    }

    fn line(&self, done: u64, shared: &Shared) -> String {
        let secs = self.0.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let left = self.0.total.saturating_sub(done);
        let eta = if rate > 0.0 { left as f64 / rate } else { 0.0 };
        format!(
            "{done}/{} ({:.0} %), {rate:.0} req/s, {} mismatches, eta {eta:.0}s",
            self.0.total,
            100.0 * done as f64 / self.0.total.max(1) as f64,
            mismatches(shared)
        )
    }
}

fn mismatches(shared: &Shared) -> u64 {
    shared
        .snapshot
        .load()
        .all_routes()
        .map(|r| r.metrics.mismatched.get())
        .sum()
}
