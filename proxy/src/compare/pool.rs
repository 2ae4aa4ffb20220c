//! The comparison pool: a few dedicated threads behind a bounded queue, off the I/O runtime, so
//! diffing a megabyte of JSON never stalls proxying. A full queue sheds the comparison (counted
//! `queue_full`) instead of growing.
//!
//! Hand-off: [`ComparePool::submit`] moves a [`Job`] (both captured sides) from the mirror task
//! on the I/O runtime to a comparison thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use diff_engine::{CompareLimits, GrpcCall, Response, Verdict};

use crate::compare::job::{Compared, Job, Observed, Side};
use crate::compare::record::{record, Outlets};
use crate::observe::metrics::Metrics;
use crate::observe::outcome::{MirrorOutcome, SkipReason};

pub struct ComparePool {
    /// Emptied by `close`; lock-free to read on every submit.
    tx: ArcSwapOption<Sender<Job>>,
    limits: CompareLimits,
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
    outlets: Arc<Outlets>,
}

impl ComparePool {
    pub fn new(
        workers: usize,
        nice: u32,
        queue: usize,
        limits: CompareLimits,
        metrics: Arc<Metrics>,
        outlets: Arc<Outlets>,
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
                outlets: outlets.clone(),
            };
            handles.push(
                std::thread::Builder::new()
                    .name(format!("shadowdiff-compare-{i}"))
                    .spawn(move || {
                        crate::threads::lower_priority(nice);
                        w.run()
                    })?,
            );
        }
        Ok(Self {
            tx: ArcSwapOption::from_pointee(tx),
            limits,
            workers: Mutex::new(handles),
            metrics,
            unfinished,
        })
    }

    /// Queue a job, or say why not (queue full, pool closing); a refused job is dropped.
    pub fn submit(&self, job: Job) -> Result<(), SkipReason> {
        let tx = self.tx.load();
        let Some(tx) = tx.as_deref() else {
            job.refused(SkipReason::Shutdown);
            return Err(SkipReason::Shutdown);
        };
        // Counted before the send, so a fast worker can never take it below zero.
        self.unfinished.fetch_add(1, Ordering::AcqRel);
        let (refused, job) = match tx.try_send(job) {
            Ok(()) => {
                self.metrics.compare_queue_depth.set(tx.len() as i64);
                return Ok(());
            }
            Err(TrySendError::Full(job)) => (SkipReason::QueueFull, job),
            Err(TrySendError::Disconnected(job)) => (SkipReason::Shutdown, job),
        };
        self.unfinished.fetch_sub(1, Ordering::AcqRel);
        job.refused(refused);
        Err(refused)
    }

    /// Compare a job here and record its verdict, as a worker would: for a caller that has no
    /// clients to keep the engine's CPU time away from (a replay), so no thread hand-off.
    pub fn compare_here(&self, job: Job, outlets: &Outlets) {
        compare_and_record(job, &self.limits, &self.metrics, outlets);
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
            compare_and_record(job, &self.limits, &self.metrics, &self.outlets);
            self.unfinished.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// One job: the engine's verdict, its fan-out (`compare/record.rs`), then the watcher.
fn compare_and_record(mut job: Job, limits: &CompareLimits, metrics: &Metrics, outlets: &Outlets) {
    let started = Instant::now();
    // A bug in the engine must cost one comparison, not the worker.
    let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        compare(&job.primary, &job.candidate, &job, limits)
    }));
    metrics
        .compare_duration
        .observe(started.elapsed().as_secs_f64());
    // v1 against itself first, so that this very pair is judged with what it taught.
    if let Some(baseline) = job.baseline.take() {
        let learned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compare(&job.primary, &baseline, &job, limits)
        }));
        if let Ok(v) = learned {
            if !matches!(v.outcome, diff_engine::Outcome::Skipped(_)) {
                outlets.noise.baseline(&job.route.name, &v.differences);
            }
        }
    }
    match verdict {
        Ok(v) => {
            record(&job, &v, outlets);
            // After the counters, so a watcher never sees a verdict not yet counted.
            if let Some(w) = job.watcher.take() {
                let candidate = job.candidate;
                let _ = w.send(Observed::Compared(Box::new(Compared {
                    verdict: v,
                    candidate,
                })));
            }
        }
        Err(_) => {
            // Still exactly one outcome: a bug in the engine is a skipped pair, and said loudly.
            job.route.metrics.outcome(MirrorOutcome::Skipped);
            tracing::error!(route = %job.route.name, path = %job.path, "comparison panicked; skipped")
        }
    }
}

/// `a` against `b` under the job's route rules.
fn compare(a: &Side, b: &Side, job: &Job, limits: &CompareLimits) -> Verdict {
    let p = a.body.contiguous();
    let c = b.body.contiguous();
    let primary = Response {
        status: a.status,
        headers: &a.headers,
        body: &p,
        trailers: a.body.trailers.as_ref(),
    };
    let candidate = Response {
        status: b.status,
        headers: &b.headers,
        body: &c,
        trailers: b.body.trailers.as_ref(),
    };
    let grpc = job.grpc_schema.as_deref().map(|schema| GrpcCall {
        schema,
        method: &job.path,
    });
    diff_engine::compare_with(&primary, &candidate, &job.route.rules, limits, grpc)
}
