//! Question: can two arbitrary bodies, with arbitrary headers, encodings and rules, make
//! `compare` panic, loop, or break its contract (a response always matches itself; the cap on
//! differences holds; with no rules, match is symmetric)?
#![no_main]

use arbitrary::Arbitrary;
use diff_engine::{
    compare, CompareLimits, Outcome, Response, RuleSet, RuleSpec, SortRule, ToleranceRule,
};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    a: &'a [u8],
    b: &'a [u8],
    a_type: u8,
    b_type: u8,
    a_encoding: u8,
    b_encoding: u8,
    status_b: bool,
    paths: Vec<(u8, &'a str)>,
    tolerance: (f64, f64),
    max_differences: u8,
    max_value_chars: u8,
}

const TYPES: [&str; 4] = [
    "application/json",
    "text/plain",
    "application/octet-stream",
    "",
];
const ENCODINGS: [&str; 5] = ["", "gzip", "deflate", "br", "zstd"];

fn headers(t: u8, e: u8) -> HeaderMap {
    let mut h = HeaderMap::new();
    let ct = TYPES[t as usize % TYPES.len()];
    if !ct.is_empty() {
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    let ce = ENCODINGS[e as usize % ENCODINGS.len()];
    if !ce.is_empty() {
        h.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static(ce));
    }
    h
}

/// Turns fuzzer strings into a rule set; strings that are not patterns are simply rejected.
fn spec(input: &Input<'_>) -> RuleSpec {
    let mut spec = RuleSpec::default();
    for (kind, path) in input.paths.iter().take(8) {
        let path = path.to_string();
        match kind % 5 {
            0 => spec.ignore_paths.push(path),
            1 => spec.timestamps.push(path),
            2 => spec.unordered_arrays.push(path),
            3 => spec.sort_arrays_by.push(SortRule {
                path,
                key: "id".into(),
            }),
            _ => spec.tolerances.push(ToleranceRule {
                path,
                abs: input.tolerance.0,
                rel: input.tolerance.1,
            }),
        }
    }
    spec
}

fuzz_target!(|input: Input<'_>| {
    let Ok(rules) = RuleSet::compile(&spec(&input)) else {
        return;
    };
    let limits = CompareLimits {
        max_decoded_bytes: 1 << 20,
        max_differences: usize::from(input.max_differences % 16),
        max_value_chars: usize::from(input.max_value_chars % 64),
        ..CompareLimits::default()
    };
    let (ha, hb) = (
        headers(input.a_type, input.a_encoding),
        headers(input.b_type, input.b_encoding),
    );
    let a = Response {
        status: 200,
        headers: &ha,
        body: input.a,
        trailers: None,
    };
    let b = Response {
        status: if input.status_b { 500 } else { 200 },
        headers: &hb,
        body: input.b,
        trailers: None,
    };

    let v = compare(&a, &b, &rules, &limits);
    assert!(v.differences.len() <= limits.max_differences);
    if matches!(v.outcome, Outcome::Match(_)) {
        assert!(v.differences.is_empty() && !v.truncated);
    }
    assert!(matches!(
        compare(&a, &a, &rules, &limits).outcome,
        Outcome::Match(_)
    ));
    if input.paths.is_empty() {
        let back = compare(&b, &a, &rules, &limits);
        assert_eq!(
            matches!(v.outcome, Outcome::Match(_)),
            matches!(back.outcome, Outcome::Match(_))
        );
    }
});
