//! `[compare]`, `[budget]` and `[[routes]]`, with the per-key inheritance of route overrides.

use std::collections::HashSet;

use diff_engine::{RuleSet, RuleSpec, SortRule, ToleranceRule};
use http::Method;

use crate::bounds as max;
use crate::check::{self, invalid, Result};
use crate::defaults as d;
use crate::raw::{RawBudget, RawCompare, RawRoute};
use crate::{Budget, CutoverPolicy, RecordPolicy, Route};

pub(super) fn default_budget() -> Budget {
    Budget {
        ratio: d::BUDGET_RATIO,
        window: d::BUDGET_WINDOW,
        min_samples: d::BUDGET_MIN_SAMPLES,
    }
}

/// Have the engine compile `spec` and report its verdict under `key`.
fn engine(key: &str, spec: &RuleSpec) -> Result<()> {
    RuleSet::compile(spec)
        .map(drop)
        .or_else(|e| invalid(key, e.to_string()))
}

/// JSON Pointer patterns, checked here and by the engine, one at a time so the error has an index.
pub(super) fn engine_paths(key: &str, paths: &[String]) -> Result<()> {
    for (i, p) in paths.iter().enumerate() {
        let key = format!("{key}[{i}]");
        check::json_pointer(&key, p)?;
        engine(
            &key,
            &RuleSpec {
                ignore_paths: vec![p.clone()],
                ..Default::default()
            },
        )?;
    }
    Ok(())
}

/// `base` with each key present in `raw` replacing base's value for that key.
pub(super) fn compare(key: &str, raw: &RawCompare, base: &RuleSpec) -> Result<RuleSpec> {
    let mut spec = base.clone();
    let k = |field: &str| format!("{key}.{field}");
    if let Some(paths) = &raw.ignore_paths {
        engine_paths(&k("ignore_paths"), paths)?;
        spec.ignore_paths = paths.clone();
    }
    if let Some(paths) = &raw.timestamps {
        engine_paths(&k("timestamps"), paths)?;
        spec.timestamps = paths.clone();
    }
    if let Some(paths) = &raw.unordered_arrays {
        engine_paths(&k("unordered_arrays"), paths)?;
        spec.unordered_arrays = paths.clone();
    }
    if let Some(names) = &raw.ignore_headers {
        spec.ignore_headers = check::header_names(&k("ignore_headers"), names)?;
    }
    if let Some(names) = &raw.compare_headers {
        spec.compare_headers = Some(check::header_names(&k("compare_headers"), names)?);
    }
    if let Some(tolerances) = &raw.tolerances {
        spec.tolerances = Vec::with_capacity(tolerances.len());
        for (i, t) in tolerances.iter().enumerate() {
            let key = format!("{key}.tolerances[{i}]");
            let path = required(&format!("{key}.path"), &t.path)?;
            check::json_pointer(&format!("{key}.path"), &path)?;
            let rule = ToleranceRule {
                path,
                abs: t.abs.unwrap_or(0.0),
                rel: t.rel.unwrap_or(0.0),
            };
            for (name, v) in [("abs", rule.abs), ("rel", rule.rel)] {
                if !(v.is_finite() && v >= 0.0) {
                    return invalid(
                        &format!("{key}.{name}"),
                        format!("must be a finite number ≥ 0, got {v}"),
                    );
                }
            }
            if rule.abs == 0.0 && rule.rel == 0.0 {
                return invalid(
                    &key,
                    "set abs or rel (or both) above 0; a zero tolerance is exact equality",
                );
            }
            engine(
                &key,
                &RuleSpec {
                    tolerances: vec![rule.clone()],
                    ..Default::default()
                },
            )?;
            spec.tolerances.push(rule);
        }
    }
    if let Some(sorts) = &raw.sort_arrays_by {
        spec.sort_arrays_by = Vec::with_capacity(sorts.len());
        for (i, s) in sorts.iter().enumerate() {
            let key = format!("{key}.sort_arrays_by[{i}]");
            let path = required(&format!("{key}.path"), &s.path)?;
            check::json_pointer(&format!("{key}.path"), &path)?;
            let sort_key = required(&format!("{key}.key"), &s.key)?;
            if sort_key.is_empty() {
                return invalid(&format!("{key}.key"), "must not be empty");
            }
            let rule = SortRule {
                path,
                key: sort_key,
            };
            engine(
                &key,
                &RuleSpec {
                    sort_arrays_by: vec![rule.clone()],
                    ..Default::default()
                },
            )?;
            spec.sort_arrays_by.push(rule);
        }
    }
    // Rules that are fine alone may still conflict together: let the engine judge the whole.
    engine(key, &spec)?;
    Ok(spec)
}

fn required(key: &str, v: &Option<String>) -> Result<String> {
    v.clone().map_or_else(|| invalid(key, "required"), Ok)
}

/// `base` with each key present in `raw` replacing base's value for that key.
pub(super) fn budget(key: &str, raw: &RawBudget, base: &Budget) -> Result<Budget> {
    let ratio = raw.ratio.unwrap_or(base.ratio);
    if !(ratio.is_finite() && (0.0..=1.0).contains(&ratio)) {
        return invalid(
            &format!("{key}.ratio"),
            format!("must be between 0 and 1, got {ratio}"),
        );
    }
    let window = check::duration(&format!("{key}.window"), raw.window.as_ref(), base.window)?;
    if window.as_secs() < 1 {
        return invalid(
            &format!("{key}.window"),
            format!("must be at least 1s, got {window:?}"),
        );
    }
    Ok(Budget {
        ratio,
        window,
        min_samples: match raw.min_samples {
            Some(n) => check::in_range(&format!("{key}.min_samples"), n, 0, max::MIN_SAMPLES)?,
            None => base.min_samples,
        },
    })
}

pub(super) fn routes(
    raw: Vec<RawRoute>,
    compare_base: &RuleSpec,
    budget_base: &Budget,
    record_base: &RecordPolicy,
    cutover_base: &CutoverPolicy,
) -> Result<Vec<Route>> {
    let mut names = HashSet::new();
    let mut routes = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("routes[{i}].{k}");
        let name = route_name(&key("name"), r.name)?;
        if !names.insert(name.clone()) {
            return invalid(
                &key("name"),
                format!("`{name}` is already the name of another route"),
            );
        }
        if r.path_prefix.is_none() && r.path_template.is_none() {
            return invalid(
                &format!("routes[{i}]"),
                "set path_prefix or path_template (or both)",
            );
        }
        if let Some(p) = &r.path_prefix {
            if !p.starts_with('/') {
                return invalid(
                    &key("path_prefix"),
                    format!("must start with '/', got \"{p}\""),
                );
            }
        }
        if let Some(t) = &r.path_template {
            path_template(&key("path_template"), t)?;
        }
        routes.push(Route {
            name,
            path_prefix: r.path_prefix,
            path_template: r.path_template,
            methods: methods(&key("methods"), r.methods.unwrap_or_default())?,
            mirror_percent: r
                .mirror_percent
                .map(|p| check::percent(&key("mirror_percent"), p))
                .transpose()?,
            allow_unsafe_methods: r.allow_unsafe_methods.unwrap_or(false),
            max_in_flight_mirrors: r
                .max_in_flight_mirrors
                .map(|n| {
                    check::in_range(
                        &key("max_in_flight_mirrors"),
                        n,
                        1,
                        max::MAX_IN_FLIGHT_MIRRORS,
                    )
                })
                .transpose()?,
            sample_by: r
                .sample_by
                .map(|s| check::sample_by(&key("sample_by"), &s))
                .transpose()?,
            compare: compare(&format!("routes[{i}].compare"), &r.compare, compare_base)?,
            budget: budget(&format!("routes[{i}].budget"), &r.budget, budget_base)?,
            record: super::record::route(&format!("routes[{i}].record"), &r.record, record_base)?,
            cutover: super::cutover::policy_over(
                &format!("routes[{i}].cutover"),
                &r.cutover,
                cutover_base,
            )?,
        });
    }
    Ok(routes)
}

fn route_name(key: &str, name: Option<String>) -> Result<String> {
    let Some(name) = name else {
        return invalid(key, "required");
    };
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if name.is_empty() || name.len() > 64 || !ok_chars {
        return invalid(
            key,
            format!("`{name}` must be 1–64 characters from a-z A-Z 0-9 _ . -"),
        );
    }
    if name == "default" {
        return invalid(
            key,
            "`default` is reserved for requests that match no route",
        );
    }
    Ok(name)
}

/// Literal segments, or whole-segment `{name}` placeholders with distinct names.
fn path_template(key: &str, template: &str) -> Result<()> {
    if !template.starts_with('/') {
        return invalid(key, format!("must start with '/', got \"{template}\""));
    }
    let mut seen = HashSet::new();
    for segment in template.split('/').skip(1) {
        if !segment.contains(['{', '}']) {
            continue;
        }
        let name = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        match name {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                if !seen.insert(n) {
                    return invalid(key, format!("placeholder `{{{n}}}` appears twice in \"{template}\""));
                }
            }
            _ => {
                return invalid(
                    key,
                    format!("bad segment `{segment}` in \"{template}\": a placeholder is a whole segment like `{{id}}`"),
                )
            }
        }
    }
    Ok(())
}

fn methods(key: &str, names: Vec<String>) -> Result<Vec<Method>> {
    let mut methods: Vec<Method> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let upper = name.trim().to_ascii_uppercase();
        let method = match Method::from_bytes(upper.as_bytes()) {
            Ok(m) if !upper.is_empty() && upper.bytes().all(check::is_token_byte) => m,
            _ => return invalid(&key, format!("`{name}` is not an HTTP method")),
        };
        if methods.contains(&method) {
            return invalid(&key, format!("`{method}` is listed twice"));
        }
        methods.push(method);
    }
    Ok(methods)
}
