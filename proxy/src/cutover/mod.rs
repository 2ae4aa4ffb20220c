//! Cutover: which backend serves a request, and the controller that moves users from v1 to v2
//! in gated steps, rolls back by itself, and obeys one-command operator moves.
//!
//! The request path pays one atomic load ([`Cutover::serve`]): the line below which a key's
//! bucket is served by v2 ([`assign`]). The controller task (`app/controller.rs`, above the shared
//! state it reads) judges each interval's numbers ([`window`], [`gate`]) and moves the line
//! through the state machine ([`controller`]); the state outlives reloads (it lives here, not in
//! the snapshot) and restarts ([`persist`]).

pub mod assign;
pub mod controller;
pub mod gate;
pub mod persist;
pub mod window;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::Full;
use serde_json::{json, Value};

use config::{AssignBy, CutoverMode, CutoverPolicy};

use crate::net::fetch::Fetcher;
use crate::observe::metrics::{CutoverMetrics, Metrics};

pub use assign::Backend;
use controller::{Control, Judged, Persisted, Phase, Refused, Rollback};
use persist::{Brake, StateFile};
use window::Window;

/// One route's cutover: the live line, this interval's numbers, and the state machine.
pub struct Cutover {
    pub route: String,
    /// Buckets (of [`assign::BUCKETS`]) served by v2.
    line: AtomicU32,
    /// Where `random` assignment is in its even spread.
    spread: assign::Spread,
    /// The gates are judging (mode is not shadow): the request path fills the window.
    judging: AtomicBool,
    pub window: Window,
    /// `None` until the first config is installed.
    control: Mutex<Option<Control>>,
    /// A state from the state file, applied when the first config is installed.
    saved: Mutex<Option<Persisted>>,
    next_due: Mutex<Option<Instant>>,
    metrics: CutoverMetrics,
}

impl Cutover {
    fn new(route: &str, metrics: CutoverMetrics, saved: Option<Persisted>) -> Self {
        Self {
            route: route.to_owned(),
            line: AtomicU32::new(0),
            spread: assign::Spread::default(),
            judging: AtomicBool::new(false),
            window: Window::default(),
            control: Mutex::new(None),
            saved: Mutex::new(saved),
            next_due: Mutex::new(None),
            metrics,
        }
    }

    /// Which backend serves this request.
    pub fn serve(&self, by: &AssignBy, headers: &HeaderMap, peer: IpAddr) -> Backend {
        let line = self.line.load(Ordering::Relaxed);
        assign::assign(line, by, headers, peer, &self.spread)
    }

    /// v2 serves part of this route.
    pub fn v2_serves(&self) -> bool {
        self.line.load(Ordering::Relaxed) > 0
    }

    /// v1 serves part of this route (the latency gate has something to compare with).
    pub fn v1_serves(&self) -> bool {
        self.line.load(Ordering::Relaxed) < assign::BUCKETS
    }

    /// Where rollbacks are announced (`webhook_url`).
    pub fn webhook(&self) -> Option<http::Uri> {
        self.lock()
            .as_ref()
            .and_then(|c| c.policy.webhook_url.clone())
    }

    /// A line for the log after an advance.
    pub fn describe(&self) -> Option<(usize, f64, &'static str)> {
        self.lock()
            .as_ref()
            .map(|c| (c.step, c.weight, c.phase.as_str()))
    }

    /// Count a rollback the controller made.
    pub fn rolled_back(&self, r: &Rollback) {
        self.metrics.rollback(&r.gate).inc();
    }

    /// Whether served requests and comparisons should be counted for the gates.
    pub fn judging(&self) -> bool {
        self.judging.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Control>> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Put a (re)loaded policy in force; the live state stays unless the mode changed.
    pub fn install(&self, policy: CutoverPolicy) {
        let now = Instant::now();
        let interval = policy.interval;
        let judging = policy.mode != CutoverMode::Shadow;
        let mut guard = self.lock();
        match guard.as_mut() {
            Some(c) => {
                if c.install(policy, now) {
                    tracing::info!(route = %self.route, mode = c.policy.mode.as_str(), "cutover mode changed: started over");
                }
            }
            None => {
                let mut c = Control::start(policy, now);
                let saved = self
                    .saved
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(saved) = saved {
                    if c.restore(&saved, now) {
                        tracing::info!(route = %self.route, phase = saved.phase.as_str(), weight = saved.weight, "cutover resumed from the state file");
                    } else {
                        tracing::info!(route = %self.route, "the state file's cutover was for another mode: started over");
                    }
                }
                *guard = Some(c);
            }
        }
        if let Some(c) = guard.as_ref() {
            self.show(c);
        }
        drop(guard);
        self.judging.store(judging, Ordering::Relaxed);
        *self.next_due.lock().unwrap_or_else(PoisonError::into_inner) =
            judging.then(|| now + interval);
    }

    /// The line and the gauges follow the state.
    fn show(&self, c: &Control) {
        self.line.store(assign::line(c.weight), Ordering::Relaxed);
        let m = &self.metrics;
        m.weight.set(c.weight);
        m.step.set(i64::try_from(c.step).unwrap_or(i64::MAX));
        for (p, g) in Phase::ALL.iter().zip(&m.state) {
            g.set(i64::from(*p == c.phase));
        }
    }

    /// When this route's next interval ends (never earlier than `now`); `None` while in shadow.
    pub fn due(&self, now: Instant) -> Option<Instant> {
        let due = *self.next_due.lock().unwrap_or_else(PoisonError::into_inner);
        due.map(|d| d.max(now))
    }

    /// Judge the interval just ended and move accordingly: what the judgement did.
    pub async fn evaluate(&self, cx: gate::Context, fetcher: &Fetcher) -> Option<Judged> {
        let taken = self.window.take();
        let (policy, gates) = {
            let guard = self.lock();
            let c = guard.as_ref()?;
            (c.policy.clone(), c.policy.gates.clone())
        };
        let mut readings = gate::built_in(&policy, &taken, &cx);
        let timeout = policy.interval.min(Duration::from_secs(10));
        for g in &gates {
            readings.push(gate::prometheus(fetcher, g, timeout).await);
        }
        for r in &readings {
            self.metrics.gate_max(&r.gate).set(r.max);
            if let Some(v) = r.value {
                self.metrics.gate_value(&r.gate).set(v);
            }
            if r.verdict == gate::Verdict::Fail {
                self.metrics.gate_failures(&r.gate).inc();
            }
        }
        let now = Instant::now();
        *self.next_due.lock().unwrap_or_else(PoisonError::into_inner) = Some(now + policy.interval);
        let mut guard = self.lock();
        let c = guard.as_mut()?;
        let judged = c.judge(readings, taken.v2.requests, now);
        self.show(c);
        Some(judged)
    }

    /// `GET /api/cutover`'s view of this route.
    pub fn status(&self) -> Value {
        let guard = self.lock();
        let Some(c) = guard.as_ref() else {
            return json!({ "route": self.route, "mode": "shadow" });
        };
        let now = Instant::now();
        let gates: Vec<Value> = c
            .last
            .iter()
            .map(|r| {
                json!({
                    "gate": r.gate,
                    "value": r.value,
                    "max": r.max,
                    "verdict": r.verdict,
                    "samples": r.samples,
                    "failing_intervals": c.streaks.get(&r.gate).copied().unwrap_or(0),
                })
            })
            .collect();
        let steps: Vec<Value> = c
            .policy
            .steps
            .iter()
            .map(|s| json!({ "weight": s.weight, "hold_seconds": s.hold.as_secs_f64(), "min_requests": s.min_requests }))
            .collect();
        let next_step = (c.phase == Phase::Progressing)
            .then(|| c.hold_left(now))
            .flatten()
            .map(|d| d.as_secs_f64());
        json!({
            "route": self.route,
            "mode": c.policy.mode.as_str(),
            "state": c.phase.as_str(),
            "step": c.step,
            "weight": c.weight,
            "steps": steps,
            "interval_seconds": c.policy.interval.as_secs_f64(),
            "failure_limit": c.policy.failure_limit,
            "step_requests": c.step_requests,
            "passing_intervals": c.passing,
            "hold_left_seconds": next_step,
            "gates": gates,
            "rollback": c.rollback,
            "history": c.history,
            "events": c.events,
        })
    }

    /// An operator's command; the state file is written by the caller.
    pub fn command(&self, cmd: Command) -> Result<Option<Rollback>, Refused> {
        let mut guard = self.lock();
        let Some(c) = guard.as_mut() else {
            return Err(Refused("no configuration installed yet".into()));
        };
        let rollback = match cmd {
            Command::Abort => Some(c.abort()?),
            Command::Pause => c.pause().map(|()| None)?,
            Command::Resume => c.resume(Instant::now()).map(|()| None)?,
            Command::Promote => c.promote().map(|()| None)?,
            Command::Pin(w) => c.pin(w).map(|()| None)?,
        };
        self.show(c);
        if rollback.is_some() {
            self.metrics.rollback("manual").inc();
        }
        tracing::warn!(route = %self.route, command = cmd.name(), state = c.phase.as_str(), weight = c.weight, "cutover command");
        Ok(rollback)
    }

    fn persisted(&self) -> Option<Persisted> {
        let guard = self.lock();
        guard
            .as_ref()
            .filter(|c| c.policy.mode != CutoverMode::Shadow)
            .map(Control::persisted)
    }
}

/// An operator's move (`POST /api/cutover/...`, `shadowdiff ctl`).
#[derive(Debug, Clone, Copy)]
pub enum Command {
    Abort,
    Pause,
    Resume,
    Promote,
    Pin(f64),
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Abort => "abort",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Promote => "promote",
            Command::Pin(_) => "weight",
        }
    }
}

/// Every route's cutover, by route name: outlives reloads, as the live state must.
pub struct Cutovers {
    routes: Mutex<HashMap<String, Arc<Cutover>>>,
    state_file: Option<PathBuf>,
    /// What the file said at start, then what was last written.
    file: Mutex<StateFile>,
    pub fetcher: Fetcher,
    metrics: Arc<Metrics>,
}

impl Cutovers {
    /// Read the state file (`cutover.state_file`), if any: an unreadable one stops the start.
    pub fn open(cfg: &config::Cutover, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let file = match &cfg.state_file {
            Some(path) => persist::read(path)?,
            None => StateFile::default(),
        };
        Ok(Self {
            routes: Mutex::new(HashMap::new()),
            state_file: cfg.state_file.clone(),
            file: Mutex::new(file),
            fetcher: Fetcher::new()?,
            metrics,
        })
    }

    pub fn get_or_create(&self, route: &str) -> Arc<Cutover> {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        routes
            .entry(route.to_owned())
            .or_insert_with(|| {
                let saved = self
                    .file
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .routes
                    .get(route)
                    .and_then(|r| r.cutover.clone());
                Arc::new(Cutover::new(route, self.metrics.cutover(route), saved))
            })
            .clone()
    }

    /// The brake an operator set on `route` before the last restart.
    pub fn saved_brake(&self, route: &str) -> Option<Brake> {
        let file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.routes
            .get(route)
            .and_then(|r| r.mirror_percent.clone())
    }

    /// Remember (or forget, `None`) an operator's mirror share for `route`.
    pub fn set_brake(self: &Arc<Self>, route: &str, brake: Option<Brake>) {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.routes
            .entry(route.to_owned())
            .or_default()
            .mirror_percent = brake;
        drop(file);
        self.save();
    }

    /// Write every route's state to the state file (when one is set), off the I/O thread: an
    /// fsync must not stall the requests in flight. Each write takes the state as it is when it
    /// runs, so whichever runs last writes the latest. A failure is logged, as the live state is
    /// already in force.
    pub fn save(self: &Arc<Self>) {
        if self.state_file.is_none() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let me = self.clone();
                rt.spawn_blocking(move || me.save_now());
            }
            Err(_) => self.save_now(),
        }
    }

    /// [`Cutovers::save`], on this thread (at shutdown, so the last state is on disk at exit).
    pub fn save_now(&self) {
        let Some(path) = &self.state_file else {
            return;
        };
        let cutovers: Vec<(String, Option<Persisted>)> = {
            let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
            routes
                .iter()
                .map(|(n, c)| (n.clone(), c.persisted()))
                .collect()
        };
        // Held through the write: two writers never interleave on the temporary file.
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.version = 1;
        for (name, state) in cutovers {
            file.routes.entry(name).or_default().cutover = state;
        }
        file.routes
            .retain(|_, r| r.cutover.is_some() || r.mirror_percent.is_some());
        if let Err(e) = persist::write(path, &file) {
            tracing::error!(
                error = format!("{e:#}"),
                "could not write the cutover state file"
            );
        }
    }

    /// Tell `webhook_url` about a rollback, in the background.
    pub fn notify(&self, route: &str, url: Option<http::Uri>, rollback: &Rollback) {
        let Some(url) = url else { return };
        let body = json!({
            "event": "rollback",
            "route": route,
            "gate": rollback.gate,
            "value": rollback.value,
            "max": rollback.max,
            "weight": rollback.weight,
            "at": rollback.at,
        });
        let fetcher = self.fetcher.clone();
        tokio::spawn(async move {
            let req = Request::builder()
                .method(Method::POST)
                .uri(url.clone())
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.to_string())));
            let sent = match req {
                Ok(req) => fetcher.send(req, Duration::from_secs(10)).await,
                Err(e) => Err(e.into()),
            };
            match sent {
                Ok((status, _)) if status.is_success() => {}
                Ok((status, _)) => tracing::warn!(%url, %status, "rollback webhook refused"),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "rollback webhook failed"),
            }
        });
    }
}
