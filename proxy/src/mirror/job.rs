//! The mirror task: one mirrored exchange from the copied request to a queued comparison (or a
//! counted skip), in the background; the client's response never waits for it.
//!
//! Hand-off: [`start`] moves a copy of the request head to a new task, with a receiver for the
//! request body's capture; the [`Handoff`] it returns later sends v1's response head and a
//! receiver for the response body's capture.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request;
use http::response;
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::compare::{Job, Observed, Side, Watcher};
use crate::mirror::candidate::{CandidateLane, CandidateLeg};
use crate::mirror::plan::{is_safe, plan, Planned};
use crate::net::headers::{content_length, is_grpc, upstream_deadline};
use crate::observe::access;
use crate::observe::metrics::{GaugeHold, RouteMetrics};
use crate::observe::outcome::{MirrorOutcome, SkipReason};
use crate::observe::redact::Secrets;
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};
use crate::tee::budget::Held;
use crate::tee::{ByteBudget, Capture, CaptureEnd, CaptureResult};

/// v1's response head, sent to the mirror task once v1 answers; its body capture follows.
pub struct PrimaryHead {
    pub status: u16,
    pub headers: HeaderMap,
    pub elapsed: Duration,
    pub body: oneshot::Receiver<CaptureResult>,
}

impl PrimaryHead {
    /// Send v1's head down `to`; the capture to put on v1's body's tee, or `None` when the
    /// receiving task has already ended and needs no copy.
    pub fn send(
        to: oneshot::Sender<PrimaryHead>,
        parts: &response::Parts,
        elapsed: Duration,
        cap: usize,
        budget: &Arc<ByteBudget>,
    ) -> Option<Capture> {
        let (capture, body) = Capture::new(cap, budget, content_length(&parts.headers));
        let head = PrimaryHead {
            status: parts.status.as_u16(),
            headers: parts.headers.clone(),
            elapsed,
            body,
        };
        to.send(head).is_ok().then_some(capture)
    }
}

/// Where a mirror's copy goes.
pub enum CopyTo {
    /// v2, on the client connection's own v2 lane when it has one (HTTP/1.x clients).
    Candidate(Option<Arc<CandidateLane>>),
    /// v1, while v2 serves the request (a canary's user, or promoted: reverse shadow).
    Primary,
}

/// The v1 path's end of a started mirror.
pub struct Handoff {
    /// Tees the request body for v2, if the request has one.
    request_capture: Option<Capture>,
    primary: oneshot::Sender<PrimaryHead>,
    /// Room promised for the bodies, given back once v1's copy is reserved for real.
    promise: Held,
}

impl Handoff {
    /// The capture to put on the request body's tee (once).
    pub fn take_request_capture(&mut self) -> Option<Capture> {
        self.request_capture.take()
    }

    /// Send v1's response head to the mirror task; the capture to put on the response body's
    /// tee, or `None` when the mirror has already ended (v2 failed) and needs no copy.
    pub fn primary_answered(
        self,
        parts: &response::Parts,
        elapsed: Duration,
        cap: usize,
        budget: &Arc<ByteBudget>,
    ) -> Option<Capture> {
        // The promise goes back first: it was held for exactly this copy.
        drop(self.promise);
        let capture = PrimaryHead::send(self.primary, parts, elapsed, cap, budget);
        let state = capture.as_ref().map(Capture::state);
        if let (Some(Err(CaptureEnd::Overloaded)), Some(n)) =
            (state, content_length(&parts.headers))
        {
            // It did not fit: expect pairs this size from now on.
            budget.observe_pair(usize::try_from(n).unwrap_or(usize::MAX).saturating_mul(2));
        }
        capture
    }
}

/// Start a mirror of this request if it is planned (see [`plan`]). `watcher` learns how the
/// mirror ended (a recording of this request wants the verdict); it is dropped unsent when no
/// mirror starts.
pub fn start(
    shared: &Arc<Shared>,
    snap: &Arc<Snapshot>,
    route: &Arc<RouteRuntime>,
    parts: &request::Parts,
    body_empty: bool,
    to: CopyTo,
    watcher: Option<Watcher>,
) -> Option<Handoff> {
    let (lane, reverse) = match to {
        CopyTo::Candidate(lane) => (lane, false),
        CopyTo::Primary => (None, true),
    };
    let mut planned = plan(shared, snap, route, &parts.method, &parts.headers, reverse)?;
    let baseline = if reverse {
        None
    } else {
        baseline_slot(snap, route, &parts.method)
    };
    let promise = std::mem::replace(&mut planned.promise, Held::empty(&shared.pending));
    let (request_capture, request_body) = if body_empty {
        (None, None)
    } else {
        let max = snap.config.limits.max_request_body_bytes;
        let declared = content_length(&parts.headers);
        let (capture, rx) = Capture::new(max, &shared.pending, declared);
        (Some(capture), Some(rx))
    };
    let (primary_tx, primary) = oneshot::channel();
    let job = MirrorJob {
        // Counted from here, not from the task's first poll on the mirror thread: a drain or
        // an idle check in between must see it.
        _in_flight: GaugeHold::new(&shared.metrics.mirrors_in_flight),
        _planned: planned,
        shared: shared.clone(),
        snap: snap.clone(),
        route: route.clone(),
        method: parts.method.clone(),
        path_and_query: parts.uri.path_and_query().cloned(),
        headers: parts.headers.clone(),
        request_body,
        primary,
        lane,
        watcher,
        sent: Arc::default(),
        reverse,
        baseline,
    };
    shared.mirror_thread.spawn(job.run());
    Some(Handoff {
        request_capture,
        primary: primary_tx,
        promise,
    })
}

/// Everything the mirror task needs, detached from the client's request.
struct MirrorJob {
    /// `shadowdiff_mirrors_in_flight`, until the task ends.
    _in_flight: GaugeHold,
    /// Holds the in-flight slots until the task ends.
    _planned: Planned,
    shared: Arc<Shared>,
    snap: Arc<Snapshot>,
    route: Arc<RouteRuntime>,
    method: Method,
    path_and_query: Option<PathAndQuery>,
    headers: HeaderMap,
    /// `None` when the request had no body.
    request_body: Option<oneshot::Receiver<CaptureResult>>,
    primary: oneshot::Receiver<PrimaryHead>,
    /// The client connection's v2 lane (HTTP/1.x clients).
    lane: Option<Arc<CandidateLane>>,
    /// Told how the mirror ended; moves into the comparison job once there is one.
    watcher: Option<Watcher>,
    /// Sent to v2 (counted in `mirrored_requests_total`): its end is then one mirror outcome.
    sent: Arc<AtomicBool>,
    /// v2 served the request; the copy goes to v1, and the pair is turned round for comparing,
    /// so that a comparison always reads v1 against v2.
    reverse: bool,
    /// Sampled for learning noise: a second v1 answer is asked for, under this slot.
    baseline: Option<OwnedSemaphorePermit>,
}

/// Counts `shutdown` for a mirror whose task was dropped before it ended.
struct Unfinished<'a> {
    metrics: Option<&'a RouteMetrics>,
    sent: Arc<AtomicBool>,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        // A panic unwinding through the task is a bug, not a shutdown.
        if let Some(m) = self.metrics.filter(|_| !std::thread::panicking()) {
            m.skip(SkipReason::Shutdown);
            if self.sent.load(Ordering::Acquire) {
                m.outcome(MirrorOutcome::Skipped);
            }
        }
    }
}

impl MirrorJob {
    async fn run(mut self) {
        // Armed until the exchange has ended as an outcome. Only the runtime dropping this task
        // (the process exiting past the shutdown grace) disarms it otherwise; that mirror must
        // still end as exactly one outcome, not vanish.
        let route = self.route.clone();
        let mut unfinished = Unfinished {
            metrics: Some(&route.metrics),
            sent: self.sent.clone(),
        };
        if let Err(reason) = self.exchange().await {
            route.metrics.skip(reason);
            if self.sent.load(Ordering::Acquire) {
                route.metrics.outcome(MirrorOutcome::of_skip(reason));
            }
            if let Some(w) = self.watcher.take() {
                let _ = w.send(Observed::Skipped(reason));
            }
            if route.access_log {
                access::Line::new(&route.name, &self.method, self.path())
                    .log(access::Verdict::Skipped(reason));
            }
        }
        unfinished.metrics = None;
    }

    fn path(&self) -> &str {
        self.path_and_query.as_ref().map_or("/", |p| p.path())
    }

    async fn exchange(&mut self) -> Result<(), SkipReason> {
        let body = self.request_body().await?;
        // A gRPC call's own deadline, for both legs (read before the headers move to v2's copy).
        let grpc = &self.snap.config.grpc;
        // The served leg has v1's timeout whichever backend serves; a copy to v2 has v2's.
        let served_wait = upstream_deadline(&self.headers, grpc, self.snap.primary.timeout);
        let mirror_wait = if self.reverse {
            served_wait
        } else {
            upstream_deadline(&self.headers, grpc, self.snap.candidate.timeout)
        };
        let credentials = self
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)));
        let uri = self.path_and_query.as_ref().map_or("/", |p| p.as_str());
        let secrets = Secrets::learn(&self.route.redact, credentials, uri);
        // v1's second answer (`[noise]`) runs as a task of its own, beside v2's: the rare case
        // must not grow every mirror's future (a handle is all this one holds).
        let baseline = match self.baseline.take() {
            Some(slot) => self.baseline_request(body.clone()).map(|req| {
                self.route.metrics.noise_requests.inc();
                let (shared, snap, route) =
                    (self.shared.clone(), self.snap.clone(), self.route.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    let leg = CandidateLeg::baseline(&shared, &snap, &route.metrics);
                    leg.send(req, None).await.ok()
                })
            }),
            None => None,
        };
        let request = self.candidate_request(body)?;
        self.route.metrics.mirrored.inc();
        self.sent.store(true, Ordering::Release);
        let mut leg = if self.reverse {
            CandidateLeg::reverse(&self.shared, &self.snap, &self.route.metrics)
        } else {
            CandidateLeg::new(&self.shared, &self.snap, &self.route.metrics)
        };
        leg.timeout = mirror_wait;
        // When v1's side fails first — the client went away, or v1 broke — v2's exchange is
        // dropped there and then: a cancelled call is not left running on v2.
        let (primary, candidate) = {
            let (lane, limit) = (self.lane.as_ref(), &self.shared.mirror_limit);
            // The adaptive limit learns how long the mirrored exchange took, failed or not; one
            // cancelled because v1's side failed first says nothing about v2.
            let candidate = async {
                let started = Instant::now();
                let answered = leg.send(request, lane).await;
                limit.sample(started.elapsed());
                answered
            };
            let primary = primary_side(&mut self.primary, served_wait + PRIMARY_MARGIN);
            tokio::pin!(candidate, primary);
            tokio::select! {
                p = &mut primary => match p {
                    Err(SkipReason::PrimaryFailed) => (p, Err(SkipReason::PrimaryFailed)),
                    p => (p, candidate.await),
                },
                c = &mut candidate => (primary.await, c),
            }
        };
        let baseline = match baseline {
            Some(task) => task.await.ok().flatten(),
            None => None,
        };
        let (primary, candidate) = if self.reverse {
            (candidate, primary)
        } else {
            (primary, candidate)
        };
        let m = &self.route.metrics;
        m.status_pair(
            primary.as_ref().ok().map(|p| p.status),
            candidate.as_ref().ok().map(|c| c.status),
        );
        let (primary, candidate) = (primary?, candidate?);
        m.latency_delta
            .observe(candidate.elapsed.as_secs_f64() - primary.elapsed.as_secs_f64());
        self.shared
            .pending
            .observe_pair(primary.body.len() + candidate.body.len());
        let grpc_schema = self
            .snap
            .grpc_schema
            .clone()
            .filter(|_| is_grpc(&primary.headers));
        let job = Job {
            route: self.route.clone(),
            method: self.method.clone(),
            path: self.path().to_string(),
            primary,
            candidate,
            grpc_schema,
            secrets,
            watcher: self.watcher.take(),
            baseline,
        };
        self.shared.compare.submit(job)
    }

    async fn request_body(&mut self) -> Result<Bytes, SkipReason> {
        let Some(rx) = self.request_body.take() else {
            return Ok(Bytes::new());
        };
        // The body streams to v1 first; give it as long as v1 gets.
        let waited = tokio::time::timeout(self.snap.primary.timeout, rx).await;
        match waited {
            Ok(Ok(Ok(body))) => Ok(body.contiguous()),
            Ok(Ok(Err(end))) => Err(capture_skip(end)),
            Ok(Err(_)) => Err(SkipReason::PrimaryFailed),
            Err(_) => Err(SkipReason::Timeout),
        }
    }

    /// v1's second request, for learning noise: the client's request as v1 had it, with the mark.
    fn baseline_request(&self, body: Bytes) -> Option<Request<Bytes>> {
        let pq = self.path_and_query.as_ref();
        let target = &self.snap.noise.target;
        let headers = self.headers.clone();
        self.snap
            .shaping
            .reverse_request(target, &self.method, pq, headers, body)
            .ok()
    }

    /// Moves the request headers into v2's request: they are needed only once.
    fn candidate_request(&mut self, body: Bytes) -> Result<Request<Bytes>, SkipReason> {
        let pq = self.path_and_query.as_ref();
        let headers = std::mem::take(&mut self.headers);
        let shaping = &self.snap.shaping;
        let req = if self.reverse {
            shaping.reverse_request(&self.snap.primary, &self.method, pq, headers, body)
        } else {
            shaping.request(&self.snap.candidate, &self.method, pq, headers, body)
        };
        req.map_err(|_| SkipReason::CandidateFailed)
    }
}

/// A slot for a second v1 answer, when this request is in `noise.percent` and safe; a refused
/// one (every slot in use) is counted.
pub(crate) fn baseline_slot(
    snap: &Snapshot,
    route: &RouteRuntime,
    method: &Method,
) -> Option<OwnedSemaphorePermit> {
    if !is_safe(method) || !snap.noise.sampler.sampled(&HeaderMap::new()) {
        return None;
    }
    let slot = snap.noise.in_flight.clone().try_acquire_owned().ok();
    if slot.is_none() {
        route.metrics.noise_refused.inc();
    }
    slot
}

/// How much longer than v1's own deadline a mirror waits for v1's side. The mirror runs on its
/// own thread and may start before v1's request (and its timer) does: v1's leg must be what
/// decides that v1 failed (the client's 504, counted `primary_failed` here), not a race between
/// two timers.
const PRIMARY_MARGIN: Duration = Duration::from_secs(1);

/// v1's side of the pair: its head, then its body's capture. v1's response streams to the client
/// at the client's pace; wait no longer than `wait` (v1's own deadline and the margin) for it
/// to end.
async fn primary_side(
    head: &mut oneshot::Receiver<PrimaryHead>,
    wait: Duration,
) -> Result<Side, SkipReason> {
    {
        let waited = tokio::time::timeout(wait, async {
            let head = head.await.map_err(|_| SkipReason::PrimaryFailed)?;
            let body = head
                .body
                .await
                .map_err(|_| SkipReason::PrimaryFailed)?
                .map_err(capture_skip)?;
            Ok(Side {
                status: head.status,
                headers: head.headers,
                body,
                elapsed: head.elapsed,
            })
        })
        .await;
        waited.unwrap_or(Err(SkipReason::Timeout))
    }
}

fn capture_skip(end: CaptureEnd) -> SkipReason {
    match end {
        CaptureEnd::TooLarge => SkipReason::BodyTooLarge,
        CaptureEnd::Overloaded => SkipReason::Overloaded,
        CaptureEnd::Failed | CaptureEnd::Aborted => SkipReason::PrimaryFailed,
    }
}
