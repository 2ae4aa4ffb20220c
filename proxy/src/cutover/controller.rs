//! One route's cutover as a state machine: where it stands (phase, step, weight), what each
//! interval's gates said, and the moves — advance, roll back, and the operator's commands.
//! Pure: time comes in as arguments, and every move is returned for the caller to apply (the
//! line, the metrics, the state file, the webhook).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use config::{CutoverMode, CutoverPolicy};

use crate::cutover::gate::{Reading, Verdict};

/// Intervals and events kept for `GET /api/cutover` and the report page.
const HISTORY: usize = 60;
const EVENTS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// v1 serves everything (mode `shadow`).
    Shadow,
    /// Walking the schedule.
    Progressing,
    /// Held at its weight by an operator (`pause`, or a pinned weight); brakes still on.
    Paused,
    /// Rolled back to weight 0, by a gate or an operator, until an operator resumes.
    Aborted,
    /// v2 serves everything; v1 is compared in the background.
    Promoted,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Shadow,
        Phase::Progressing,
        Phase::Paused,
        Phase::Aborted,
        Phase::Promoted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Shadow => "shadow",
            Phase::Progressing => "progressing",
            Phase::Paused => "paused",
            Phase::Aborted => "aborted",
            Phase::Promoted => "promoted",
        }
    }
}

/// Why a cutover was rolled back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    /// The gate that failed `failure_limit` intervals in a row, or `manual`.
    pub gate: String,
    pub value: Option<f64>,
    pub max: Option<f64>,
    /// The weight it was rolled back from.
    pub weight: f64,
    /// Seconds since the Unix epoch.
    pub at: u64,
}

/// Something that happened, for the history.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: u64,
    /// `advance`, `rollback`, `abort`, `pause`, `resume`, `promote`, `pin`, `start`, `restore`.
    pub what: &'static str,
    /// `auto` (the controller) or `manual` (an operator).
    pub by: &'static str,
    pub weight: f64,
    pub detail: String,
}

/// One judged interval, for the history.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    pub at: u64,
    pub weight: f64,
    pub readings: Vec<Reading>,
}

/// What survives a restart (`cutover.state_file`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    pub mode: String,
    pub phase: Phase,
    pub step: usize,
    pub weight: f64,
    #[serde(default)]
    pub rollback: Option<Rollback>,
}

/// A refused command, with the reason an operator reads.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

pub struct Control {
    pub policy: CutoverPolicy,
    pub phase: Phase,
    /// Index into the schedule (meaningful while progressing or paused).
    pub step: usize,
    pub weight: f64,
    step_started: Instant,
    pub step_started_at: SystemTime,
    /// v2-served requests since the step began.
    pub step_requests: u64,
    /// Consecutive intervals in which every gate passed.
    pub passing: u32,
    /// Consecutive failing intervals, per gate.
    pub streaks: BTreeMap<String, u32>,
    pub last: Vec<Reading>,
    pub history: VecDeque<Interval>,
    pub events: VecDeque<Event>,
    pub rollback: Option<Rollback>,
}

/// What an interval's judgement did.
#[derive(Debug, PartialEq)]
pub enum Judged {
    Held,
    Advanced,
    RolledBack(Rollback),
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Control {
    /// Where `policy`'s mode starts: shadow at 0, canary at its first step (or held at 0 when it
    /// has no schedule), promoted at 100.
    pub fn start(policy: CutoverPolicy, now: Instant) -> Self {
        let mut c = Self {
            phase: Phase::Shadow,
            step: 0,
            weight: 0.0,
            step_started: now,
            step_started_at: SystemTime::now(),
            step_requests: 0,
            passing: 0,
            streaks: BTreeMap::new(),
            last: Vec::new(),
            history: VecDeque::new(),
            events: VecDeque::new(),
            rollback: None,
            policy,
        };
        c.begin(now);
        if c.phase != Phase::Shadow {
            c.event("start", "auto", String::new());
        }
        c
    }

    fn begin(&mut self, now: Instant) {
        let (phase, weight) = match self.policy.mode {
            CutoverMode::Shadow => (Phase::Shadow, 0.0),
            CutoverMode::Promoted => (Phase::Promoted, 100.0),
            CutoverMode::Canary => match self.policy.steps.first() {
                Some(s) => (Phase::Progressing, s.weight),
                None => (Phase::Paused, 0.0),
            },
        };
        self.phase = phase;
        self.weight = weight;
        self.rollback = None;
        self.enter_step(0, now);
    }

    /// Continue from a persisted state when its mode is still the configured one; a changed
    /// mode is the operator's new intent and starts over. `None` when `saved` was not used.
    pub fn restore(&mut self, saved: &Persisted, now: Instant) -> bool {
        if saved.mode != self.policy.mode.as_str() || self.policy.mode == CutoverMode::Shadow {
            return false;
        }
        self.phase = saved.phase;
        self.weight = saved.weight.clamp(0.0, 100.0);
        self.rollback = saved.rollback.clone();
        let step = saved.step.min(self.policy.steps.len().saturating_sub(1));
        self.enter_step(step, now);
        self.event(
            "restore",
            "auto",
            format!("from the state file ({})", saved.phase.as_str()),
        );
        true
    }

    pub fn persisted(&self) -> Persisted {
        Persisted {
            mode: self.policy.mode.as_str().to_owned(),
            phase: self.phase,
            step: self.step,
            weight: self.weight,
            rollback: self.rollback.clone(),
        }
    }

    /// A reloaded policy: the live state stays unless the mode changed. Returns whether the
    /// state was started over.
    pub fn install(&mut self, policy: CutoverPolicy, now: Instant) -> bool {
        let restart = policy.mode != self.policy.mode;
        self.policy = policy;
        if restart {
            self.begin(now);
            self.event(
                "start",
                "auto",
                format!("mode is now {}", self.policy.mode.as_str()),
            );
        } else {
            self.step = self.step.min(self.policy.steps.len().saturating_sub(1));
        }
        restart
    }

    fn enter_step(&mut self, step: usize, now: Instant) {
        self.step = step;
        self.step_started = now;
        self.step_started_at = SystemTime::now();
        self.step_requests = 0;
        self.passing = 0;
    }

    fn event(&mut self, what: &'static str, by: &'static str, detail: String) {
        if self.events.len() == EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Event {
            at: now_secs(),
            what,
            by,
            weight: self.weight,
            detail,
        });
    }

    /// Judge the interval just ended: `readings` from every gate, `v2_requests` served by v2.
    pub fn judge(&mut self, readings: Vec<Reading>, v2_requests: u64, now: Instant) -> Judged {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(Interval {
            at: now_secs(),
            weight: self.weight,
            readings: readings.clone(),
        });
        self.last = readings;
        if matches!(self.phase, Phase::Shadow | Phase::Aborted) {
            return Judged::Held;
        }
        self.step_requests += v2_requests;
        let limit = self.policy.failure_limit;
        let mut failed = None;
        for r in &self.last {
            let streak = self.streaks.entry(r.gate.clone()).or_insert(0);
            match r.verdict {
                Verdict::Fail => *streak += 1,
                Verdict::Pass => *streak = 0,
                // Too few samples says nothing either way.
                Verdict::NoData => {}
            }
            if *streak >= limit && failed.is_none() {
                failed = Some(r.clone());
            }
        }
        if let Some(r) = failed {
            let rollback = self.roll_back(&r.gate, r.value, Some(r.max), "auto");
            return Judged::RolledBack(rollback);
        }
        let all_passed =
            !self.last.is_empty() && self.last.iter().all(|r| r.verdict == Verdict::Pass);
        self.passing = if all_passed { self.passing + 1 } else { 0 };
        if self.phase == Phase::Progressing && self.step_done(now) {
            self.advance("auto", now);
            return Judged::Advanced;
        }
        Judged::Held
    }

    /// Held long enough, served enough, and every gate passed in each of the last
    /// `failure_limit` intervals: as many good intervals to step up as bad ones to roll back.
    fn step_done(&self, now: Instant) -> bool {
        let Some(step) = self.policy.steps.get(self.step) else {
            return false;
        };
        now.duration_since(self.step_started) >= step.hold
            && self.step_requests >= step.min_requests
            && self.passing >= self.policy.failure_limit
    }

    /// Time until the current step's hold has passed (zero once it has).
    pub fn hold_left(&self, now: Instant) -> Option<Duration> {
        let step = self.policy.steps.get(self.step)?;
        Some(
            step.hold
                .saturating_sub(now.duration_since(self.step_started)),
        )
    }

    /// The next step, or the end of the schedule: promoted at 100 %, else held where it is.
    fn advance(&mut self, by: &'static str, now: Instant) {
        let next = self.step + 1;
        if let Some(s) = self.policy.steps.get(next) {
            self.weight = s.weight;
            self.enter_step(next, now);
            self.event("advance", by, format!("step {next}"));
        } else if self.weight >= 100.0 {
            self.phase = Phase::Promoted;
            self.event(
                "promote",
                by,
                "the schedule is done: v2 serves everything".into(),
            );
        } else {
            self.phase = Phase::Paused;
            self.event("pause", by, "the schedule is done below 100 %".into());
        }
    }

    fn roll_back(
        &mut self,
        gate: &str,
        value: Option<f64>,
        max: Option<f64>,
        by: &'static str,
    ) -> Rollback {
        let rollback = Rollback {
            gate: gate.to_owned(),
            value,
            max,
            weight: self.weight,
            at: now_secs(),
        };
        let detail = match (value, max) {
            (Some(v), Some(m)) => format!("{gate} at {v:.4}, over {m}"),
            _ => gate.to_owned(),
        };
        self.weight = 0.0;
        self.phase = Phase::Aborted;
        self.rollback = Some(rollback.clone());
        self.streaks.clear();
        self.passing = 0;
        self.event(if by == "auto" { "rollback" } else { "abort" }, by, detail);
        rollback
    }

    pub fn abort(&mut self) -> Result<Rollback, Refused> {
        if self.phase == Phase::Shadow {
            return Err(Refused(
                "this route is in shadow mode: v1 already serves everything".into(),
            ));
        }
        Ok(self.roll_back("manual", None, None, "manual"))
    }

    pub fn pause(&mut self) -> Result<(), Refused> {
        match self.phase {
            Phase::Progressing => {
                self.phase = Phase::Paused;
                self.event("pause", "manual", String::new());
                Ok(())
            }
            Phase::Paused => Ok(()),
            p => Err(Refused(format!(
                "cannot pause a cutover that is {}",
                p.as_str()
            ))),
        }
    }

    /// Walk on from the first step at or above the current weight (the first step after an
    /// abort); promoted mode returns to promoted.
    pub fn resume(&mut self, now: Instant) -> Result<(), Refused> {
        if !matches!(self.phase, Phase::Paused | Phase::Aborted) {
            return Err(Refused(format!(
                "cannot resume a cutover that is {}",
                self.phase.as_str()
            )));
        }
        self.rollback = None;
        self.streaks.clear();
        if self.policy.mode == CutoverMode::Promoted {
            self.phase = Phase::Promoted;
            self.weight = 100.0;
        } else if let Some(i) = self
            .policy
            .steps
            .iter()
            .position(|s| s.weight >= self.weight)
        {
            self.phase = Phase::Progressing;
            self.weight = self.policy.steps[i].weight;
            self.enter_step(i, now);
        } else {
            // No schedule, or past its end: held where it is.
            self.phase = Phase::Paused;
        }
        self.event("resume", "manual", String::new());
        Ok(())
    }

    /// Advance one step now.
    pub fn promote(&mut self) -> Result<(), Refused> {
        match self.phase {
            Phase::Progressing | Phase::Paused => {
                let paused = self.phase == Phase::Paused;
                if self.policy.steps.is_empty() {
                    return Err(Refused(
                        "no schedule to advance on: pin a weight instead".into(),
                    ));
                }
                // A pinned weight between steps promotes to the next step above it.
                if let Some(i) = self
                    .policy
                    .steps
                    .iter()
                    .position(|s| s.weight > self.weight)
                {
                    self.weight = self.policy.steps[i].weight;
                    self.enter_step(i, Instant::now());
                    self.event("advance", "manual", format!("step {i}"));
                } else {
                    self.advance("manual", Instant::now());
                }
                if paused && self.phase == Phase::Progressing {
                    self.phase = Phase::Paused;
                }
                Ok(())
            }
            p => Err(Refused(format!(
                "cannot promote a cutover that is {}",
                p.as_str()
            ))),
        }
    }

    /// Hold at `weight` until resumed.
    pub fn pin(&mut self, weight: f64) -> Result<(), Refused> {
        if self.phase == Phase::Shadow {
            return Err(Refused(
                "this route is in shadow mode: set cutover.mode first".into(),
            ));
        }
        self.weight = weight;
        self.phase = Phase::Paused;
        self.rollback = None;
        self.event("pin", "manual", format!("{weight} %"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary() -> CutoverPolicy {
        let toml = r#"
[primary]
url = "http://a"
[candidate]
url = "http://b"
[cutover]
mode = "canary"
interval = "1s"
failure_limit = 2
steps = [{weight = 10, hold = "2s"}, {weight = 50, hold = "2s"}, {weight = 100, hold = "2s"}]
"#;
        config::Config::from_toml_str(toml, &Default::default())
            .unwrap()
            .cutover
            .policy
    }

    fn reading(gate: &str, verdict: Verdict) -> Reading {
        Reading {
            gate: gate.into(),
            value: Some(if verdict == Verdict::Fail { 0.2 } else { 0.0 }),
            max: 0.1,
            verdict,
            samples: 100,
        }
    }

    #[test]
    fn healthy_intervals_walk_the_schedule_to_promoted() {
        let t0 = Instant::now();
        let mut c = Control::start(canary(), t0);
        assert_eq!((c.phase, c.weight), (Phase::Progressing, 10.0));
        let s = Duration::from_secs;
        let ok = || vec![reading("error_rate", Verdict::Pass)];
        assert_eq!(c.judge(ok(), 10, t0 + s(1)), Judged::Held);
        assert_eq!(c.judge(ok(), 10, t0 + s(2)), Judged::Advanced);
        assert_eq!(c.weight, 50.0);
    }

    #[test]
    fn no_data_holds_and_a_failing_gate_rolls_back() {
        let t0 = Instant::now();
        let mut c = Control::start(canary(), t0);
        let s = Duration::from_secs;
        for i in 1..5 {
            let j = c.judge(vec![reading("latency", Verdict::NoData)], 0, t0 + s(i));
            assert_eq!(j, Judged::Held);
        }
        assert_eq!(c.weight, 10.0);
        c.judge(vec![reading("error_rate", Verdict::Fail)], 10, t0 + s(5));
        let j = c.judge(vec![reading("error_rate", Verdict::Fail)], 10, t0 + s(6));
        let Judged::RolledBack(r) = j else {
            panic!("{j:?}")
        };
        assert_eq!((r.gate.as_str(), r.weight), ("error_rate", 10.0));
        assert_eq!((c.phase, c.weight), (Phase::Aborted, 0.0));
        // Aborted stays aborted, whatever the gates say, until resumed.
        c.judge(vec![reading("error_rate", Verdict::Pass)], 0, t0 + s(7));
        assert_eq!(c.phase, Phase::Aborted);
        c.resume(t0 + s(8)).unwrap();
        assert_eq!((c.phase, c.weight), (Phase::Progressing, 10.0));
    }

    #[test]
    fn commands_move_the_weight() {
        let t0 = Instant::now();
        let mut c = Control::start(canary(), t0);
        c.promote().unwrap();
        assert_eq!(c.weight, 50.0);
        c.pin(30.0).unwrap();
        assert_eq!((c.phase, c.weight), (Phase::Paused, 30.0));
        c.resume(t0).unwrap();
        assert_eq!((c.phase, c.weight, c.step), (Phase::Progressing, 50.0, 1));
        c.abort().unwrap();
        assert!(c.promote().is_err());
        let saved = c.persisted();
        let mut again = Control::start(canary(), t0);
        assert!(again.restore(&saved, t0));
        assert_eq!((again.phase, again.weight), (Phase::Aborted, 0.0));
    }
}
