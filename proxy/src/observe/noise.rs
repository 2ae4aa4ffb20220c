//! Noise learned from v1 against itself. A share of mirrored safe requests gets a second v1
//! answer (`[noise] percent`); per route and per place (a generalised JSON Pointer, a header) it
//! counts how often v1 differs from itself there, and how often v1 differs from v2. A place is
//! noise when
//! - v1 differed from itself there at least [`MIN_BASELINE_DIFFS`] times in at least
//!   `noise.min_samples` v1-against-v1 comparisons, and v2's difference rate there is not
//!   significantly above v1's own: a one-sided two-proportion z-test, z < [`Z_NOISE`]
//!   (α = 0.01); or
//! - it is a header whose value was constant within each side and different between them in at
//!   least `noise.min_samples` comparisons (deployment identity: `x-served-by`), which needs no
//!   second v1 answer.
//!
//! What is learned is proposed as config lines (`GET /api/noise/suggestions`) and, with
//! `noise.suppress`, a comparison whose every difference is learned noise counts as `noise`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use diff_engine::{generalise, Difference, Part, RuleSpec, ToleranceRule};

/// v1 must have differed from itself at a place this often before the place can be noise: a
/// place v1 never varies on is never noise by the z-test, however few samples there are.
pub const MIN_BASELINE_DIFFS: u64 = 3;
/// One-sided z at α = 0.01: v2's rate must be this many standard errors above v1's own to be a
/// real difference.
pub const Z_NOISE: f64 = 2.326;
/// Numbers that never differed by more than this relative amount get a tolerance, not an ignore.
const TOLERANCE_CEILING: f64 = 0.01;

/// One place, and what was seen there.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Place {
    /// v1-against-v1 comparisons that differed here.
    pub baseline_diffs: u64,
    /// v1-against-v2 comparisons that differed here.
    pub diffs: u64,
    /// Header identity: the one value (hashed) each side showed, until a second one appears.
    v1_value: Option<u64>,
    v1_varies: bool,
    v2_value: Option<u64>,
    v2_varies: bool,
    /// Every difference here was between two numbers, and the largest relative one.
    numeric: bool,
    max_rel: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RouteNoise {
    /// v1-against-v1 comparisons.
    pub baseline: u64,
    /// v1-against-v2 comparisons (matches and mismatches).
    pub compared: u64,
    /// Keyed `part:path` (`body:/items/*/price`, `headers:etag`).
    pub places: BTreeMap<String, Place>,
}

/// Why a place is noise.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub part: &'static str,
    pub path: String,
    /// `differs_in_v1` (the z-test) or `deployment_identity`.
    pub reason: &'static str,
    pub v1_v1_rate: f64,
    pub v1_v2_rate: f64,
    pub v1_v1_samples: u64,
    pub v1_v2_samples: u64,
    pub z: Option<f64>,
    /// The rule that silences it: `ignore_paths`, `ignore_headers` or `tolerances`.
    pub rule: &'static str,
    /// For `tolerances`: the relative bound proposed (twice the largest seen).
    pub rel: Option<f64>,
}

pub struct NoiseLearner {
    routes: Mutex<HashMap<String, RouteNoise>>,
    min_samples: u64,
    dirty: AtomicBool,
}

impl NoiseLearner {
    pub fn new(min_samples: u64) -> Self {
        Self {
            routes: Mutex::new(HashMap::new()),
            min_samples: min_samples.max(1),
            dirty: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, RouteNoise>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A v1-against-v1 comparison's differences (both sides are v1's).
    pub fn baseline(&self, route: &str, differences: &[Difference]) {
        let mut routes = self.lock();
        let r = route_entry(&mut routes, route);
        r.baseline += 1;
        for (key, d) in places(differences) {
            let p = r.places.entry(key).or_default();
            p.baseline_diffs += 1;
            numbers(p, d);
            // Both values are v1's: a header that varies within v1 is no deployment identity.
            see(&mut p.v1_value, &mut p.v1_varies, d.primary.as_deref());
            see(&mut p.v1_value, &mut p.v1_varies, d.candidate.as_deref());
        }
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// A v1-against-v2 comparison's differences (none for a match).
    pub fn compared(&self, route: &str, differences: &[Difference]) {
        let mut routes = self.lock();
        let r = route_entry(&mut routes, route);
        r.compared += 1;
        for (key, d) in places(differences) {
            let p = r.places.entry(key).or_default();
            p.diffs += 1;
            numbers(p, d);
            see(&mut p.v1_value, &mut p.v1_varies, d.primary.as_deref());
            see(&mut p.v2_value, &mut p.v2_varies, d.candidate.as_deref());
        }
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Whether every difference is at a learned noise place (false for none).
    pub fn all_noise(&self, route: &str, differences: &[Difference]) -> bool {
        if differences.is_empty() {
            return false;
        }
        let routes = self.lock();
        let Some(r) = routes.get(route) else {
            return false;
        };
        places(differences).all(|(key, _)| {
            r.places
                .get(&key)
                .is_some_and(|p| judge(&key, p, r, self.min_samples).is_some())
        })
    }

    /// Every noise place of `route` (all routes when `None`), with its evidence.
    pub fn learned(&self, route: Option<&str>) -> Vec<(String, RouteSummary, Vec<Evidence>)> {
        let routes = self.lock();
        let mut out: Vec<_> = routes
            .iter()
            .filter(|(name, _)| route.is_none_or(|r| r == name.as_str()))
            .map(|(name, r)| {
                let evidence = r
                    .places
                    .iter()
                    .filter_map(|(key, p)| judge(key, p, r, self.min_samples))
                    .collect();
                let summary = RouteSummary {
                    baseline: r.baseline,
                    compared: r.compared,
                    min_samples: self.min_samples,
                };
                (name.clone(), summary, evidence)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn reset(&self) {
        self.lock().clear();
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn take_changes(&self) -> Option<HashMap<String, RouteNoise>> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return None;
        }
        Some(self.saved())
    }

    pub fn saved(&self) -> HashMap<String, RouteNoise> {
        self.lock().clone()
    }

    pub fn restore(&self, saved: HashMap<String, RouteNoise>) {
        *self.lock() = saved;
    }
}

/// What was learned on one route, as `GET /api/noise/suggestions` and a replay's report give
/// it: the evidence, and the config lines that silence it, ready to paste.
#[derive(Debug, Clone, Serialize)]
pub struct RouteSuggestions {
    pub route: String,
    pub baseline_comparisons: u64,
    pub comparisons: u64,
    pub min_samples: u64,
    /// Still short of the v1-against-v1 samples the z-test needs (identity headers are judged
    /// without them).
    pub learning: bool,
    pub suggestions: Vec<Evidence>,
    pub toml: String,
}

/// The learned noise of `route` (every route when `None`) as suggestions against `config`'s
/// rules: a key present in a table replaces the inherited one, so each suggested line carries
/// the current entries too.
pub fn suggestions(
    learner: &NoiseLearner,
    config: &config::Config,
    route: Option<&str>,
) -> Vec<RouteSuggestions> {
    learner
        .learned(route)
        .into_iter()
        .map(|(route, summary, evidence)| {
            let (table, current) = match config.routes.iter().find(|r| r.name == route) {
                Some(r) => (
                    format!("[routes.compare]  # under [[routes]] name = \"{route}\""),
                    &r.compare,
                ),
                None => ("[compare]".to_owned(), &config.compare),
            };
            let lines = suggested_rules(current, &evidence);
            let toml = if lines.is_empty() {
                String::new()
            } else {
                format!("{table}\n{}\n", lines.join("\n"))
            };
            RouteSuggestions {
                learning: summary.baseline < summary.min_samples,
                baseline_comparisons: summary.baseline,
                comparisons: summary.compared,
                min_samples: summary.min_samples,
                suggestions: evidence,
                toml,
                route,
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RouteSummary {
    pub baseline: u64,
    pub compared: u64,
    pub min_samples: u64,
}

/// The route's counts, created on first use: no allocation per comparison after that (this runs
/// for every comparison).
fn route_entry<'a>(routes: &'a mut HashMap<String, RouteNoise>, route: &str) -> &'a mut RouteNoise {
    if !routes.contains_key(route) {
        routes.insert(route.to_owned(), RouteNoise::default());
    }
    routes.get_mut(route).expect("inserted above")
}

/// The distinct places of a comparison's differences, each with one of its differences.
fn places(differences: &[Difference]) -> impl Iterator<Item = (String, &Difference)> {
    let mut seen: Vec<String> = Vec::with_capacity(differences.len());
    differences.iter().filter_map(move |d| {
        let key = match d.part {
            Part::Body => format!("body:{}", generalise(&d.path)),
            Part::Headers => format!("headers:{}", d.path),
            // A status difference is never noise.
            Part::Status => return None,
        };
        if seen.contains(&key) {
            return None;
        }
        seen.push(key.clone());
        Some((key, d))
    })
}

fn hash(value: &str) -> u64 {
    let h = blake3::hash(value.as_bytes());
    let mut w = [0u8; 8];
    w.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(w)
}

fn see(one: &mut Option<u64>, varies: &mut bool, value: Option<&str>) {
    let h = value.map_or(0, hash);
    match one {
        None => *one = Some(h),
        Some(v) if *v != h => *varies = true,
        Some(_) => {}
    }
}

fn numbers(p: &mut Place, d: &Difference) {
    let parse = |v: &Option<String>| {
        v.as_deref()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|n| n.is_finite())
    };
    let first = p.baseline_diffs + p.diffs == 1;
    match (parse(&d.primary), parse(&d.candidate)) {
        (Some(a), Some(b)) if d.part == Part::Body => {
            let scale = a.abs().max(b.abs());
            let rel = if scale == 0.0 {
                0.0
            } else {
                (a - b).abs() / scale
            };
            p.numeric = first || p.numeric;
            p.max_rel = p.max_rel.max(rel);
        }
        _ => p.numeric = false,
    }
}

/// The place's evidence when it is noise.
fn judge(key: &str, p: &Place, r: &RouteNoise, min_samples: u64) -> Option<Evidence> {
    let (part, path) = key.split_once(':')?;
    let part = if part == "headers" { "headers" } else { "body" };
    let rate = |x: u64, n: u64| if n == 0 { 0.0 } else { x as f64 / n as f64 };
    let (p1, p2) = (
        rate(p.baseline_diffs, r.baseline),
        rate(p.diffs, r.compared),
    );
    let evidence = |reason, z| {
        let tolerance =
            part == "body" && p.numeric && p.max_rel <= TOLERANCE_CEILING && p.max_rel > 0.0;
        Evidence {
            part,
            path: path.to_owned(),
            reason,
            v1_v1_rate: p1,
            v1_v2_rate: p2,
            v1_v1_samples: r.baseline,
            v1_v2_samples: r.compared,
            z,
            rule: match (part, tolerance) {
                ("headers", _) => "ignore_headers",
                (_, true) => "tolerances",
                _ => "ignore_paths",
            },
            rel: tolerance.then(|| round_up(p.max_rel * 2.0)),
        }
    };
    if part == "headers"
        && p.diffs >= min_samples
        && !p.v1_varies
        && !p.v2_varies
        && p.v1_value.is_some()
        && p.v1_value != p.v2_value
    {
        return Some(evidence("deployment_identity", None));
    }
    if r.baseline < min_samples || p.baseline_diffs < MIN_BASELINE_DIFFS {
        return None;
    }
    let z = z_score(p.baseline_diffs, r.baseline, p.diffs, r.compared);
    (z < Z_NOISE).then(|| evidence("differs_in_v1", Some(z)))
}

/// One-sided two-proportion z: how far v2's rate (x2/n2) is above v1's own (x1/n1), in pooled
/// standard errors. 0 when there is nothing to tell them apart.
pub fn z_score(x1: u64, n1: u64, x2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 0.0;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let (p1, p2) = (x1 as f64 / n1f, x2 as f64 / n2f);
    let pooled = (x1 + x2) as f64 / (n1f + n2f);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    if se == 0.0 {
        return 0.0;
    }
    (p2 - p1) / se
}

/// Two significant digits, rounded up: a bound that still holds what was seen.
fn round_up(v: f64) -> f64 {
    if v <= 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(1 - v.log10().floor() as i32);
    (v * scale).ceil() / scale
}

/// The config lines that silence `evidence` on top of `current` (the route's rules now): each
/// key written whole, as a key present in a table replaces the inherited value.
pub fn suggested_rules(current: &RuleSpec, evidence: &[Evidence]) -> Vec<String> {
    let mut paths = current.ignore_paths.clone();
    let mut headers = current.ignore_headers.clone();
    let mut tolerances = current.tolerances.clone();
    for e in evidence {
        match e.rule {
            "ignore_headers" if !headers.contains(&e.path) => headers.push(e.path.clone()),
            "ignore_paths" if !paths.contains(&e.path) => paths.push(e.path.clone()),
            "tolerances" if !tolerances.iter().any(|t| t.path == e.path) => {
                tolerances.push(ToleranceRule {
                    path: e.path.clone(),
                    abs: 0.0,
                    rel: e.rel.unwrap_or(0.0),
                })
            }
            _ => {}
        }
    }
    let list = |v: &[String]| {
        let quoted: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut lines = Vec::new();
    if paths != current.ignore_paths {
        lines.push(format!("ignore_paths = {}", list(&paths)));
    }
    if headers != current.ignore_headers {
        lines.push(format!("ignore_headers = {}", list(&headers)));
    }
    if tolerances != current.tolerances {
        let items: Vec<String> = tolerances
            .iter()
            .map(|t| {
                let mut s = format!("{{ path = {:?}", t.path);
                if t.abs > 0.0 {
                    s.push_str(&format!(", abs = {}", t.abs));
                }
                if t.rel > 0.0 {
                    s.push_str(&format!(", rel = {}", t.rel));
                }
                s.push_str(" }");
                s
            })
            .collect();
        lines.push(format!("tolerances = [{}]", items.join(", ")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use diff_engine::ChangeKind;

    use super::*;

    fn d(part: Part, path: &str, a: &str, b: &str) -> Difference {
        Difference {
            part,
            path: path.into(),
            kind: ChangeKind::Changed,
            primary: Some(a.into()),
            candidate: Some(b.into()),
        }
    }

    #[test]
    fn the_z_test_separates_noise_from_a_rare_real_change() {
        // request_id differs every time on both sides: z = 0.
        assert!(z_score(200, 200, 1000, 1000).abs() < 1e-9);
        // price: never differs in v1, 2 % in v2, with 200 baselines: significant.
        assert!(z_score(0, 200, 20, 1000) > 1.0);
        // 5 % v1 noise against 5 % in v2: not significant.
        assert!(z_score(10, 200, 50, 1000) < Z_NOISE);
        assert_eq!(round_up(0.0123), 0.013);
        assert_eq!(round_up(2.0e-6), 2.0e-6);
    }

    #[test]
    fn learned_noise_is_proposed_and_a_real_change_is_not() {
        let n = NoiseLearner::new(50);
        for i in 0..100 {
            let rid = |s: &str| format!("\"{s}-{i}\"");
            n.baseline(
                "r",
                &[
                    d(Part::Body, "/request_id", &rid("a"), &rid("b")),
                    d(Part::Body, "/items/3/score", "1.0", "1.001"),
                ],
            );
            let mut diffs = vec![
                d(Part::Body, "/request_id", &rid("a"), &rid("c")),
                d(Part::Headers, "x-served-by", "v1-a", "v2-b"),
                d(Part::Body, "/items/7/score", "1.0", "1.002"),
            ];
            if i % 50 == 0 {
                diffs.push(d(Part::Body, "/price", "10", "11"));
            }
            n.compared("r", &diffs);
        }
        let (_, summary, evidence) = n.learned(Some("r")).pop().unwrap();
        assert_eq!((summary.baseline, summary.compared), (100, 100));
        let mut found: Vec<(String, &str)> =
            evidence.iter().map(|e| (e.path.clone(), e.rule)).collect();
        found.sort();
        assert_eq!(
            found,
            [
                ("/items/*/score".to_owned(), "tolerances"),
                ("/request_id".to_owned(), "ignore_paths"),
                ("x-served-by".to_owned(), "ignore_headers"),
            ]
        );
        assert!(n.all_noise(
            "r",
            &[
                d(Part::Body, "/request_id", "1", "2"),
                d(Part::Headers, "x-served-by", "a", "b")
            ]
        ));
        assert!(!n.all_noise(
            "r",
            &[
                d(Part::Body, "/request_id", "1", "2"),
                d(Part::Body, "/price", "10", "11")
            ]
        ));
        let lines = suggested_rules(&RuleSpec::default(), &evidence);
        assert_eq!(
            lines,
            [
                "ignore_paths = [\"/request_id\"]",
                "ignore_headers = [\"x-served-by\"]",
                "tolerances = [{ path = \"/items/*/score\", rel = 0.004 }]",
            ]
        );
    }
}
