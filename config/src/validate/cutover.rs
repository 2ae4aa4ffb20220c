//! `[cutover]` and `[routes.cutover]`: who serves a route, and the schedule and gates that move
//! its users to v2.

use std::collections::HashSet;

use crate::bounds as max;
use crate::check::{self, invalid, Result};
use crate::defaults as d;
use crate::raw::{RawCutover, RawGate, RawStep};
use crate::{AssignBy, Cutover, CutoverMode, CutoverPolicy, PromGate, SampleBy, Step};

/// Names the built-in gates take; a Prometheus gate may not reuse one.
pub const BUILT_IN_GATES: [&str; 3] = ["error_rate", "latency", "mismatch"];

/// The global table: the state file, and the default route's policy.
pub(super) fn cutover(raw: RawCutover) -> Result<Cutover> {
    Ok(Cutover {
        state_file: check::path("cutover.state_file", raw.state_file.clone())?,
        policy: policy_over("cutover", &raw, &default_policy())?,
    })
}

/// What a route runs with when no `[cutover]` key is set: shadow, and the documented defaults.
pub(super) fn default_policy() -> CutoverPolicy {
    CutoverPolicy {
        mode: CutoverMode::Shadow,
        assign_by: AssignBy::Random,
        steps: Vec::new(),
        interval: d::CUTOVER_INTERVAL,
        failure_limit: d::CUTOVER_FAILURE_LIMIT,
        max_error_rate: d::CUTOVER_MAX_ERROR_RATE,
        max_latency_increase: d::CUTOVER_MAX_LATENCY_INCREASE,
        min_samples: d::CUTOVER_MIN_SAMPLES,
        webhook_url: None,
        gates: Vec::new(),
    }
}

/// `base` with each key present in `raw` replacing base's value; the schedule is checked as a
/// whole afterwards, whichever table its parts came from.
pub(super) fn policy_over(
    key: &str,
    raw: &RawCutover,
    base: &CutoverPolicy,
) -> Result<CutoverPolicy> {
    let k = |field: &str| format!("{key}.{field}");
    if key != "cutover" && raw.state_file.is_some() {
        return invalid(
            &k("state_file"),
            "is global only: set cutover.state_file (one file holds every route's state)",
        );
    }
    let interval = match &raw.interval {
        Some(i) => check::positive_duration(&k("interval"), Some(i), base.interval)?,
        None => base.interval,
    };
    let steps_key = if raw.steps.is_some() {
        k("steps")
    } else {
        "cutover.steps".to_owned()
    };
    let steps = match &raw.steps {
        Some(steps) => steps
            .iter()
            .enumerate()
            .map(|(i, s)| step(&format!("{}[{i}]", k("steps")), s))
            .collect::<Result<Vec<_>>>()?,
        None => base.steps.clone(),
    };
    schedule(&steps_key, &steps, interval)?;
    Ok(CutoverPolicy {
        mode: match &raw.mode {
            Some(m) => mode(&k("mode"), m)?,
            None => base.mode,
        },
        assign_by: match &raw.assign_by {
            Some(a) => assign_by(&k("assign_by"), a)?,
            None => base.assign_by.clone(),
        },
        steps,
        interval,
        failure_limit: match raw.failure_limit {
            Some(n) => check::in_range(&k("failure_limit"), n, 1, max::CUTOVER_FAILURE_LIMIT)?,
            None => base.failure_limit,
        },
        max_error_rate: match raw.max_error_rate {
            Some(r) => ratio(&k("max_error_rate"), r, 1.0)?,
            None => base.max_error_rate,
        },
        max_latency_increase: match raw.max_latency_increase {
            Some(r) => ratio(&k("max_latency_increase"), r, max::CUTOVER_LATENCY_INCREASE)?,
            None => base.max_latency_increase,
        },
        min_samples: match raw.min_samples {
            Some(n) => check::in_range(&k("min_samples"), n, 1, max::MIN_SAMPLES)?,
            None => base.min_samples,
        },
        webhook_url: match &raw.webhook_url {
            Some(u) => Some(check::upstream_url(&k("webhook_url"), u)?),
            None => base.webhook_url.clone(),
        },
        gates: match &raw.gates {
            Some(gates) => gates
                .iter()
                .enumerate()
                .map(|(i, g)| gate(&format!("{}[{i}]", k("gates")), i, g))
                .collect::<Result<Vec<_>>>()
                .and_then(|g| unique_gates(&k("gates"), g))?,
            None => base.gates.clone(),
        },
    })
}

fn mode(key: &str, text: &str) -> Result<CutoverMode> {
    match text {
        "shadow" => Ok(CutoverMode::Shadow),
        "canary" => Ok(CutoverMode::Canary),
        "promoted" => Ok(CutoverMode::Promoted),
        other => invalid(
            key,
            format!("`{other}` is not a mode; use \"shadow\", \"canary\" or \"promoted\""),
        ),
    }
}

/// `sample_by`'s forms, plus `client_ip`.
fn assign_by(key: &str, text: &str) -> Result<AssignBy> {
    if text == "client_ip" {
        return Ok(AssignBy::ClientIp);
    }
    match check::sample_by(key, text) {
        Ok(SampleBy::Random) => Ok(AssignBy::Random),
        Ok(SampleBy::Header(h)) => Ok(AssignBy::Header(h)),
        Ok(SampleBy::Cookie(c)) => Ok(AssignBy::Cookie(c)),
        Err(_) => invalid(
            key,
            format!(
                "`{text}` is not an assignment; use \"random\", \"header:NAME\", \"cookie:NAME\" or \"client_ip\""
            ),
        ),
    }
}

fn step(key: &str, raw: &RawStep) -> Result<Step> {
    let Some(weight) = raw.weight else {
        return invalid(&format!("{key}.weight"), "required");
    };
    if !(weight.is_finite() && weight > 0.0 && weight <= 100.0) {
        return invalid(
            &format!("{key}.weight"),
            format!("must be above 0 and at most 100, got {weight}"),
        );
    }
    let Some(hold) = &raw.hold else {
        return invalid(&format!("{key}.hold"), "required");
    };
    Ok(Step {
        weight,
        hold: check::positive_duration(&format!("{key}.hold"), Some(hold), d::CUTOVER_INTERVAL)?,
        min_requests: raw.min_requests.unwrap_or(0),
    })
}

/// Weights strictly rising, and no hold shorter than the interval that judges it.
fn schedule(key: &str, steps: &[Step], interval: std::time::Duration) -> Result<()> {
    for (i, pair) in steps.windows(2).enumerate() {
        if pair[1].weight <= pair[0].weight {
            return invalid(
                &format!("{key}[{}].weight", i + 1),
                format!(
                    "weights must increase step by step: {} follows {}",
                    pair[1].weight, pair[0].weight
                ),
            );
        }
    }
    if let Some((i, s)) = steps.iter().enumerate().find(|(_, s)| s.hold < interval) {
        return invalid(
            &format!("{key}[{i}].hold"),
            format!(
                "must be at least the interval ({interval:?}), got {:?}: a step would end before any gate judged it",
                s.hold
            ),
        );
    }
    Ok(())
}

fn ratio(key: &str, value: f64, most: f64) -> Result<f64> {
    if value.is_finite() && (0.0..=most).contains(&value) {
        Ok(value)
    } else {
        invalid(key, format!("must be between 0 and {most}, got {value}"))
    }
}

fn gate(key: &str, i: usize, raw: &RawGate) -> Result<PromGate> {
    let name = match &raw.name {
        Some(n) => {
            let ok = !n.is_empty()
                && n.len() <= 64
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return invalid(
                    &format!("{key}.name"),
                    format!("`{n}` must be 1–64 characters from a-z A-Z 0-9 _"),
                );
            }
            if BUILT_IN_GATES.contains(&n.as_str()) {
                return invalid(
                    &format!("{key}.name"),
                    format!("`{n}` is a built-in gate's name"),
                );
            }
            n.clone()
        }
        None => format!("prometheus_{i}"),
    };
    let Some(url) = &raw.prometheus else {
        return invalid(
            &format!("{key}.prometheus"),
            "required (Prometheus's base URL)",
        );
    };
    let query = match &raw.query {
        Some(q) if !q.trim().is_empty() => q.clone(),
        _ => return invalid(&format!("{key}.query"), "required (a PromQL expression)"),
    };
    let max = match raw.max {
        Some(m) if m.is_finite() => m,
        Some(m) => return invalid(&format!("{key}.max"), format!("must be a number, got {m}")),
        None => return invalid(&format!("{key}.max"), "required"),
    };
    Ok(PromGate {
        name,
        prometheus: check::upstream_url(&format!("{key}.prometheus"), url)?,
        query,
        max,
    })
}

fn unique_gates(key: &str, gates: Vec<PromGate>) -> Result<Vec<PromGate>> {
    let mut seen = HashSet::new();
    for (i, g) in gates.iter().enumerate() {
        if !seen.insert(g.name.as_str()) {
            return invalid(
                &format!("{key}[{i}].name"),
                format!("`{}` names two gates", g.name),
            );
        }
    }
    Ok(gates)
}
