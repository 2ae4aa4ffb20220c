//! When the next request leaves: as fast as the concurrency allows, at a fixed rate, or at the
//! recorded pace sped up `--speed` times.

use std::time::Duration;

use tokio::time::Instant;

/// Later than any replay runs, and still a time the clock can add.
const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

pub struct Pace {
    rate: Option<f64>,
    speed: Option<f64>,
    start: Instant,
    sent: u64,
    /// The first line's recorded time, for `--speed`.
    first_ms: Option<u64>,
}

impl Pace {
    pub fn new(rate: Option<f64>, speed: Option<f64>) -> Self {
        Self {
            rate: rate.filter(|r| r.is_finite() && *r > 0.0),
            speed: speed.filter(|s| s.is_finite() && *s > 0.0),
            start: Instant::now(),
            sent: 0,
            first_ms: None,
        }
    }

    /// Whether lines wait for a time at all (`--rate`, `--speed`).
    pub fn is_paced(&self) -> bool {
        self.rate.is_some() || self.speed.is_some()
    }

    /// Until the next request is due; `time_ms` is its recorded arrival.
    pub async fn wait(&mut self, time_ms: Option<u64>) {
        let due_secs = match (self.rate, self.speed) {
            (Some(rate), _) => Some(self.sent as f64 / rate),
            (None, Some(speed)) => time_ms.map(|ms| {
                let first = *self.first_ms.get_or_insert(ms);
                ms.saturating_sub(first) as f64 / 1000.0 / speed
            }),
            (None, None) => None,
        };
        self.sent += 1;
        if let Some(secs) = due_secs {
            // Past what a clock holds (a tiny rate, a line dated centuries on) is never due.
            let due = Duration::try_from_secs_f64(secs).map_or(NEVER, |d| d.min(NEVER));
            tokio::time::sleep_until(self.start + due).await;
        }
    }
}
