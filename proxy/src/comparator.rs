//! The comparison pool: a few dedicated threads behind a bounded queue, off the I/O runtime, so
//! diffing a megabyte of JSON never stalls proxying. A full queue sheds the comparison (counted
//! `queue_full`) instead of growing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use http::{HeaderMap, Method};

use diff_engine::{CompareLimits, Outcome, Response, Verdict};

use crate::capture::CapturedBody;
use crate::exemplars::{Exemplar, ExemplarDiff, Exemplars};
use crate::metrics::Metrics;
use crate::route::RouteRuntime;
use crate::verdict::SkipReason;

/// One side of a pair, as captured.
pub struct Side {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: CapturedBody,
    pub elapsed: Duration,
}

pub struct Job {
    pub route: Arc<RouteRuntime>,
    pub method: Method,
    pub path: String,
    pub primary: Side,
    pub candidate: Side,
}

pub struct ComparePool {
    /// Emptied by `close`; lock-free to read on every submit.
    tx: ArcSwapOption<Sender<Job>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
    /// Jobs queued or being compared: zero means every accepted job has been recorded.
    unfinished: Arc<AtomicUsize>,
}

/// What workers share.
struct Worker {
    rx: Receiver<Job>,
    unfinished: Arc<AtomicUsize>,
    limits: CompareLimits,
    metrics: Arc<Metrics>,
    exemplars: Arc<Exemplars>,
}

impl ComparePool {
    pub fn new(
        workers: usize,
        queue: usize,
        limits: CompareLimits,
        metrics: Arc<Metrics>,
        exemplars: Arc<Exemplars>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded(queue);
        let unfinished = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers.max(1) {
            let w = Worker {
                rx: rx.clone(),
                unfinished: unfinished.clone(),
                limits,
                metrics: metrics.clone(),
                exemplars: exemplars.clone(),
            };
            handles.push(
                std::thread::Builder::new()
                    .name(format!("shadowdiff-compare-{i}"))
                    .spawn(move || w.run())?,
            );
        }
        Ok(Self {
            tx: ArcSwapOption::from_pointee(tx),
            workers: Mutex::new(handles),
            metrics,
            unfinished,
        })
    }

    /// Queue a job, or say why not (queue full, pool closing); a refused job is dropped.
    pub fn submit(&self, job: Job) -> Result<(), SkipReason> {
        let tx = self.tx.load();
        let Some(tx) = tx.as_deref() else {
            return Err(SkipReason::Shutdown);
        };
        // Counted before the send, so a fast worker can never take it below zero.
        self.unfinished.fetch_add(1, Ordering::AcqRel);
        let refused = match tx.try_send(job) {
            Ok(()) => {
                self.metrics.compare_queue_depth.set(tx.len() as i64);
                return Ok(());
            }
            Err(TrySendError::Full(_)) => SkipReason::QueueFull,
            Err(TrySendError::Disconnected(_)) => SkipReason::Shutdown,
        };
        self.unfinished.fetch_sub(1, Ordering::AcqRel);
        Err(refused)
    }

    /// Jobs accepted but not yet recorded (queued or being compared).
    pub fn unfinished(&self) -> usize {
        self.unfinished.load(Ordering::Acquire)
    }

    pub fn depth(&self) -> usize {
        self.tx.load().as_deref().map_or(0, Sender::len)
    }

    /// Stop taking jobs (later ones are counted `shutdown`), let the workers finish what is
    /// queued, and wait for them. Blocking: call it off the I/O runtime.
    pub fn close(&self) {
        self.tx.store(None);
        let workers =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        for h in workers {
            let _ = h.join();
        }
    }
}

impl Drop for ComparePool {
    fn drop(&mut self) {
        self.close();
    }
}

impl Worker {
    fn run(self) {
        while let Ok(job) = self.rx.recv() {
            self.metrics.compare_queue_depth.set(self.rx.len() as i64);
            let started = Instant::now();
            // A bug in the engine must cost one comparison, not the worker.
            let verdict =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.compare(&job)));
            self.metrics
                .compare_duration
                .observe(started.elapsed().as_secs_f64());
            match verdict {
                Ok(v) => record(&job, &v, &self.exemplars),
                Err(_) => {
                    tracing::error!(route = %job.route.name, path = %job.path, "comparison panicked; skipped")
                }
            }
            self.unfinished.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn compare(&self, job: &Job) -> Verdict {
        let p = job.primary.body.contiguous();
        let c = job.candidate.body.contiguous();
        let primary = Response {
            status: job.primary.status,
            headers: &job.primary.headers,
            body: &p,
        };
        let candidate = Response {
            status: job.candidate.status,
            headers: &job.candidate.headers,
            body: &c,
        };
        diff_engine::compare(&primary, &candidate, &job.route.rules, &self.limits)
    }
}

/// Count a verdict and keep an exemplar of a mismatch.
pub fn record(job: &Job, verdict: &Verdict, exemplars: &Exemplars) {
    let route = &job.route;
    let m = &route.metrics;
    match &verdict.outcome {
        Outcome::Match(_) => {
            m.matched.inc();
            route.stats.record(false, std::iter::empty());
        }
        Outcome::Mismatch(parts) => {
            m.mismatched.inc();
            for p in parts {
                m.mismatch_parts[*p as usize].inc();
            }
            route
                .stats
                .record(true, verdict.differences.iter().map(display_path));
            exemplars.push(exemplar(job, verdict));
        }
        Outcome::Skipped(r) => m.skip(SkipReason::from_engine(*r)),
    }
    if route.access_log {
        let skipped;
        let verdict = match &verdict.outcome {
            Outcome::Match(_) => "match",
            Outcome::Mismatch(_) => "mismatch",
            Outcome::Skipped(r) => {
                skipped = format!("skipped:{}", SkipReason::from_engine(*r).as_str());
                &skipped
            }
        };
        crate::access::log(&crate::access::Line {
            route: &route.name,
            method: &job.method,
            path: &job.path,
            status: Some(job.primary.status),
            primary: Some(job.primary.elapsed),
            candidate_status: Some(job.candidate.status),
            candidate: Some(job.candidate.elapsed),
            verdict,
        });
    }
}

/// Where a difference is, as a person reads it: the JSON Pointer for bodies (`(body)` for a
/// whole non-JSON body), the header name for headers, `(status)` for the status.
fn display_path(d: &diff_engine::Difference) -> &str {
    match d.part {
        diff_engine::Part::Status => "(status)",
        diff_engine::Part::Headers | diff_engine::Part::Body => {
            if d.path.is_empty() {
                "(body)"
            } else {
                &d.path
            }
        }
    }
}

fn exemplar(job: &Job, verdict: &Verdict) -> Exemplar {
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Exemplar {
        time_ms,
        route: job.route.name.clone(),
        method: job.method.to_string(),
        path: job.path.clone(),
        primary_status: job.primary.status,
        candidate_status: job.candidate.status,
        differences: verdict
            .differences
            .iter()
            .map(|d| ExemplarDiff {
                part: d.part.as_str(),
                path: d.path.clone(),
                kind: d.kind.as_str(),
                primary: job.route.redact.show(d, &d.primary),
                candidate: job.route.redact.show(d, &d.candidate),
            })
            .collect(),
        truncated: verdict.truncated,
        note: verdict.note.clone(),
    }
}
