//! Mismatches grouped by signature (`diff_engine::Signature`): per signature a count, first and
//! last seen, a few exemplars of its own and example request paths — so a frequent signature
//! can never push a rare one out of view, as it does in the recent-mismatch ring. Bounded: past
//! `report.max_signatures` the rarest (then the oldest) goes, counted.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use prometheus::IntCounter;
use serde::{Deserialize, Serialize};

use diff_engine::Signature;

/// Exemplars kept per signature: its first and its latest ones.
const EXEMPLARS: usize = 3;
/// Distinct request paths kept per signature.
const PATHS: usize = 5;

/// One signature as stored and as `GET /api/signatures` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub route: String,
    pub items: Vec<Item>,
    pub count: u64,
    /// Unix milliseconds.
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Redacted mismatch records (as `/api/mismatches` shows them): the first one, then the
    /// latest.
    pub exemplars: VecDeque<serde_json::Value>,
    pub example_paths: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Item {
    /// `status`, `headers` or `body`.
    pub part: String,
    /// The generalised JSON Pointer (body), the header name (headers), empty (status).
    pub path: String,
    pub kind: String,
}

/// What survives a restart (`state/store.rs`).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub entries: Vec<Entry>,
    /// Comparisons per route since the run began (the denominator of a signature's share).
    pub compared: HashMap<String, u64>,
}

#[derive(Default)]
struct Store {
    by_id: HashMap<String, Entry>,
    compared: HashMap<String, u64>,
}

pub struct Signatures {
    store: Mutex<Store>,
    max: usize,
    evicted: IntCounter,
    /// Changed since the last save.
    dirty: AtomicBool,
}

impl Signatures {
    pub fn new(max: usize, evicted: IntCounter) -> Self {
        Self {
            store: Mutex::new(Store::default()),
            max: max.max(1),
            evicted,
            dirty: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A comparison (match or mismatch) on `route`: the denominator of its signatures' shares.
    pub fn compared(&self, route: &str) {
        let mut s = self.lock();
        match s.compared.get_mut(route) {
            Some(n) => *n += 1,
            None => {
                s.compared.insert(route.to_owned(), 1);
            }
        }
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// A mismatch with this signature, its record and its request path.
    pub fn record(&self, sig: &Signature, exemplar: serde_json::Value, path: &str, now_ms: u64) {
        let mut s = self.lock();
        if !s.by_id.contains_key(&sig.id) && s.by_id.len() >= self.max {
            evict_one(&mut s.by_id);
            self.evicted.inc();
        }
        let e = s.by_id.entry(sig.id.clone()).or_insert_with(|| Entry {
            id: sig.id.clone(),
            route: sig.route.clone(),
            items: sig
                .items
                .iter()
                .map(|i| Item {
                    part: i.part.as_str().to_owned(),
                    path: i.path.clone(),
                    kind: i.kind.as_str().to_owned(),
                })
                .collect(),
            count: 0,
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            exemplars: VecDeque::with_capacity(EXEMPLARS),
            example_paths: Vec::new(),
        });
        e.count += 1;
        e.last_seen_ms = now_ms;
        // Keep the first exemplar for good; the others roll.
        if e.exemplars.len() == EXEMPLARS {
            e.exemplars.remove(1);
        }
        e.exemplars.push_back(exemplar);
        if e.example_paths.len() < PATHS && !e.example_paths.iter().any(|p| p == path) {
            e.example_paths.push(path.to_owned());
        }
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// The `limit` most frequent signatures of `route` (all routes when `None`), most frequent
    /// first, each as `f` makes it from the entry and its share of its route's comparisons —
    /// under the lock, so no entry (exemplars and all) is copied to be read.
    pub fn ranked<T>(
        &self,
        route: Option<&str>,
        limit: usize,
        mut f: impl FnMut(&Entry, f64) -> T,
    ) -> Vec<T> {
        let s = self.lock();
        let mut entries: Vec<&Entry> = s
            .by_id
            .values()
            .filter(|e| route.is_none_or(|r| e.route == r))
            .collect();
        entries.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.last_seen_ms.cmp(&a.last_seen_ms))
        });
        entries
            .into_iter()
            .take(limit)
            .map(|e| {
                let compared = s.compared.get(&e.route).copied().unwrap_or(0).max(e.count);
                f(e, e.count as f64 / compared as f64)
            })
            .collect()
    }

    /// [`Signatures::ranked`] as `GET /api/signatures` shows it: each entry with its `share`.
    pub fn list(&self, route: Option<&str>) -> Vec<serde_json::Value> {
        self.ranked(route, usize::MAX, |e, share| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["share"] = serde_json::json!(share);
            v
        })
    }

    /// Start a new run: every signature and count forgotten.
    pub fn reset(&self) {
        *self.lock() = Store::default();
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// What to save, when something changed since the last call.
    pub fn take_changes(&self) -> Option<Saved> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return None;
        }
        Some(self.saved())
    }

    pub fn saved(&self) -> Saved {
        let s = self.lock();
        Saved {
            entries: s.by_id.values().cloned().collect(),
            compared: s.compared.clone(),
        }
    }

    /// Put back what a previous run saved (at most `max`, the most frequent kept).
    pub fn restore(&self, mut saved: Saved) {
        saved.entries.sort_by_key(|e| std::cmp::Reverse(e.count));
        saved.entries.truncate(self.max);
        let mut s = self.lock();
        s.by_id = saved
            .entries
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        s.compared = saved.compared;
    }

    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drop the rarest signature, the least recently seen among equals.
fn evict_one(by_id: &mut HashMap<String, Entry>) {
    let victim = by_id
        .values()
        .min_by(|a, b| {
            a.count
                .cmp(&b.count)
                .then(a.last_seen_ms.cmp(&b.last_seen_ms))
        })
        .map(|e| e.id.clone());
    if let Some(id) = victim {
        by_id.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use diff_engine::{ChangeKind, Difference, Part};

    use super::*;

    fn sig(route: &str, path: &str) -> Signature {
        Signature::of(
            route,
            &[Difference {
                part: Part::Body,
                path: path.into(),
                kind: ChangeKind::Changed,
                primary: None,
                candidate: None,
            }],
        )
    }

    #[test]
    fn a_frequent_signature_never_pushes_a_rare_one_out() {
        let s = Signatures::new(10, IntCounter::new("e", "e").unwrap());
        for i in 0..10_000u64 {
            s.compared("r");
            s.record(
                &sig("r", "/etag"),
                serde_json::json!({"n": i}),
                "/users/5",
                i,
            );
        }
        for (i, p) in ["/price", "/items/1/name", "/total"].iter().enumerate() {
            s.compared("r");
            s.record(
                &sig("r", p),
                serde_json::json!({"rare": i}),
                "/orders/1",
                20_000,
            );
        }
        let list = s.list(Some("r"));
        assert_eq!(list.len(), 4);
        assert_eq!(list[0]["count"], 10_000);
        assert_eq!(list[0]["exemplars"].as_array().unwrap().len(), EXEMPLARS);
        // The first exemplar stays; the latest follow.
        assert_eq!(list[0]["exemplars"][0]["n"], 0);
        assert_eq!(list[0]["exemplars"][2]["n"], 9_999);
        for rare in &list[1..] {
            assert_eq!(rare["count"], 1);
            assert_eq!(rare["exemplars"].as_array().unwrap().len(), 1);
        }
        let share = list[0]["share"].as_f64().unwrap();
        assert!((share - 10_000.0 / 10_003.0).abs() < 1e-9);
    }

    #[test]
    fn past_the_cap_the_rarest_goes_and_is_counted() {
        let evicted = IntCounter::new("e", "e").unwrap();
        let s = Signatures::new(2, evicted.clone());
        s.record(&sig("r", "/a"), serde_json::Value::Null, "/", 1);
        s.record(&sig("r", "/a"), serde_json::Value::Null, "/", 2);
        s.record(&sig("r", "/b"), serde_json::Value::Null, "/", 3);
        s.record(&sig("r", "/c"), serde_json::Value::Null, "/", 4);
        let ids: Vec<String> = s
            .list(None)
            .iter()
            .map(|e| e["items"][0]["path"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["/a", "/c"]);
        assert_eq!(evicted.get(), 1);
    }
}
