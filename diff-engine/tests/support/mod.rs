//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use diff_engine::{compare, CompareLimits, Response, RuleSet, RuleSpec, Verdict};
use http::HeaderMap;

pub fn json_headers() -> HeaderMap {
    headers(&[("content-type", "application/json")])
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

/// Compares two JSON bodies (200, JSON content type) under `spec`.
pub fn json(a: &str, b: &str, spec: &RuleSpec) -> Verdict {
    let rules = RuleSet::compile(spec).unwrap();
    let h = json_headers();
    compare(
        &Response {
            status: 200,
            headers: &h,
            body: a.as_bytes(),
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &h,
            body: b.as_bytes(),
            trailers: None,
        },
        &rules,
        &CompareLimits::default(),
    )
}

/// The `(path, kind)` of each difference.
pub fn paths(v: &Verdict) -> Vec<(String, &'static str)> {
    v.differences
        .iter()
        .map(|d| (d.path.clone(), d.kind.as_str()))
        .collect()
}

pub fn ignore(paths: &[&str]) -> RuleSpec {
    RuleSpec {
        ignore_paths: paths.iter().map(|p| p.to_string()).collect(),
        ..RuleSpec::default()
    }
}

/// Compares two bodies of content type `ct` (200, no trailers) under `spec` and `limits`.
pub fn bodies(ct: &str, a: &[u8], b: &[u8], spec: &RuleSpec, limits: &CompareLimits) -> Verdict {
    let rules = RuleSet::compile(spec).unwrap();
    let h = headers(&[("content-type", ct)]);
    compare(
        &Response {
            status: 200,
            headers: &h,
            body: a,
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &h,
            body: b,
            trailers: None,
        },
        &rules,
        limits,
    )
}

pub mod wire;
