//! Log lines that could come once per request (v1 down, a misconfigured protocol, an attack)
//! are let through at most once per period, with the count of those held back since.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One rate-limited log site.
pub struct Every {
    period: Duration,
    /// Milliseconds since the process's first use of any limiter; `u64::MAX` = never logged.
    last_ms: AtomicU64,
    held_back: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Every {
    pub const fn new(period: Duration) -> Self {
        Self {
            period,
            last_ms: AtomicU64::new(u64::MAX),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this line may be logged now (`n` lines were held back since the last
    /// one), `None` when it is held back.
    pub fn ready(&self) -> Option<u64> {
        let now = epoch().elapsed().as_millis() as u64;
        let last = self.last_ms.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= self.period.as_millis() as u64;
        if due
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held_back.swap(0, Ordering::AcqRel));
        }
        self.held_back.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_period_with_the_count_held_back() {
        let every = Every::new(Duration::from_millis(50));
        assert_eq!(every.ready(), Some(0));
        assert_eq!(every.ready(), None);
        assert_eq!(every.ready(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(every.ready(), Some(2));
    }
}
