//! A lock-free latency histogram for percentiles judged in-process (the cutover's latency gate,
//! the mirror limit's view of v1): exact below 32 µs, then 32 slots per power of two, so a value
//! is known to within 1/32 (about 3 %). Recording is one atomic add; reading drains the slots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SUB: u64 = 32;
const SUB_BITS: u32 = 5;
/// Microseconds up to 2^41 (about 25 days): everything a timeout allows.
pub const SLOTS: usize = ((41 - SUB_BITS as usize) + 1) * SUB as usize;

/// The slots, filled by the request path, drained by one reader.
pub struct Slots(Box<[AtomicU64]>);

impl Default for Slots {
    fn default() -> Self {
        Self((0..SLOTS).map(|_| AtomicU64::new(0)).collect())
    }
}

impl Slots {
    pub fn record(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.0[slot(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// Add the counts so far to `into` (`SLOTS` long) and start again from zero; the number added.
    pub fn drain_into(&self, into: &mut [u64]) -> u64 {
        let mut total = 0;
        for (count, s) in into.iter_mut().zip(self.0.iter()) {
            let n = s.swap(0, Ordering::Relaxed);
            *count += n;
            total += n;
        }
        total
    }
}

/// The slot of a latency in microseconds.
pub fn slot(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros();
    let sub = (us >> (octave - SUB_BITS)) & (SUB - 1);
    let i = (octave - SUB_BITS + 1) as usize * SUB as usize + sub as usize;
    i.min(SLOTS - 1)
}

/// The upper edge of a slot, in microseconds.
pub fn upper(slot: usize) -> u64 {
    let (row, sub) = (slot as u64 / SUB, slot as u64 % SUB);
    if row == 0 {
        return sub + 1;
    }
    (SUB + sub + 1) << (row - 1)
}

/// The middle of a slot, in seconds.
pub fn slot_value(slot: usize) -> f64 {
    let (row, sub) = (slot as u64 / SUB, slot as u64 % SUB);
    if row == 0 {
        return slot as f64 / 1e6;
    }
    let width = 1u64 << (row - 1);
    let low = (SUB + sub) << (row - 1);
    (low as f64 + width as f64 / 2.0) / 1e6
}

/// The slot holding the `q` quantile of `counts`, `None` when empty.
pub fn quantile_slot(counts: &[u64], q: f64) -> Option<usize> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    counts.iter().position(|c| {
        seen += c;
        seen >= rank
    })
}
