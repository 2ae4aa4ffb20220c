//! Trailers compared like headers (issues 21.7 and 23), and gRPC's status compared as a status.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

mod support;

use diff_engine::{
    compare, ChangeKind, CompareLimits, Difference, MatchKind, Outcome, Part, Response, RuleSet,
    RuleSpec, Verdict,
};
use http::HeaderMap;
use support::headers;

/// Two 200 responses with the same body and headers `ha`/`hb`, trailers `ta`/`tb`.
fn run(
    ha: &HeaderMap,
    ta: Option<&HeaderMap>,
    hb: &HeaderMap,
    tb: Option<&HeaderMap>,
    rules: &RuleSet,
) -> Verdict {
    compare(
        &Response {
            status: 200,
            headers: ha,
            body: b"x",
            trailers: ta,
        },
        &Response {
            status: 200,
            headers: hb,
            body: b"x",
            trailers: tb,
        },
        rules,
        &CompareLimits::default(),
    )
}

/// part, path, kind, primary, candidate.
type Row<'v> = (
    &'static str,
    &'v str,
    &'static str,
    Option<&'v str>,
    Option<&'v str>,
);

fn got(v: &Verdict) -> Vec<Row<'_>> {
    v.differences
        .iter()
        .map(|d| {
            (
                d.part.as_str(),
                d.path.as_str(),
                d.kind.as_str(),
                d.primary.as_deref(),
                d.candidate.as_deref(),
            )
        })
        .collect()
}

#[test]
fn trailers_are_compared_like_headers() {
    let h = headers(&[("content-type", "text/plain")]);
    let rules = RuleSet::default();
    let ta = headers(&[("x-checksum", "abc"), ("x-gone", "1")]);
    let tb = headers(&[("x-checksum", "abd"), ("x-new", "2")]);
    let v = run(&h, Some(&ta), &h, Some(&tb), &rules);
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Headers]));
    assert_eq!(
        got(&v),
        vec![
            (
                "headers",
                "trailer:x-checksum",
                "changed",
                Some("abc"),
                Some("abd")
            ),
            ("headers", "trailer:x-gone", "removed", Some("1"), None),
            ("headers", "trailer:x-new", "added", None, Some("2")),
        ]
    );
    let d = &v.differences[0];
    assert_eq!(d.field_name(), Some("x-checksum"));
    assert!(d.in_trailers());
    // Equal trailers match; no trailers and an empty trailer section are the same.
    let v = run(&h, Some(&ta), &h, Some(&ta.clone()), &rules);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    let v = run(&h, None, &h, Some(&HeaderMap::new()), &rules);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    // A trailer on one side only.
    let v = run(&h, None, &h, Some(&ta), &rules);
    assert_eq!(
        got(&v),
        vec![
            ("headers", "trailer:x-checksum", "added", None, Some("abc")),
            ("headers", "trailer:x-gone", "added", None, Some("1")),
        ]
    );
}

#[test]
fn a_header_and_a_trailer_of_the_same_name_are_told_apart() {
    let rules = RuleSet::default();
    let ha = headers(&[("x-v", "1")]);
    let tb = headers(&[("x-v", "1")]);
    let v = run(&ha, None, &HeaderMap::new(), Some(&tb), &rules);
    assert_eq!(
        got(&v),
        vec![
            ("headers", "x-v", "removed", Some("1"), None),
            ("headers", "trailer:x-v", "added", None, Some("1")),
        ]
    );
    assert!(!v.differences[0].in_trailers());
    assert_eq!(v.differences[0].field_name(), Some("x-v"));
}

#[test]
fn header_rules_apply_to_trailers() {
    let h = HeaderMap::new();
    let ta = headers(&[
        ("x-cache", "hit"),
        ("server-timing", "a"),
        ("x-request-id", "1"),
    ]);
    let tb = headers(&[
        ("x-cache", "miss"),
        ("server-timing", "b"),
        ("x-request-id", "2"),
    ]);
    let ignore = RuleSet::compile(&RuleSpec {
        ignore_headers: vec!["x-cache".into(), "server-timing".into()],
        ..RuleSpec::default()
    })
    .unwrap();
    // x-request-id is default noise, the other two are ignored.
    let v = run(&h, Some(&ta), &h, Some(&tb), &ignore);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    let only = RuleSet::compile(&RuleSpec {
        compare_headers: Some(vec!["x-cache".into()]),
        ..RuleSpec::default()
    })
    .unwrap();
    let v = run(&h, Some(&ta), &h, Some(&tb), &only);
    assert_eq!(
        got(&v),
        vec![(
            "headers",
            "trailer:x-cache",
            "changed",
            Some("hit"),
            Some("miss")
        )]
    );
}

#[test]
fn grpc_status_in_trailers_is_a_status_mismatch() {
    let h = headers(&[("content-type", "application/grpc")]);
    let ok = headers(&[("grpc-status", "0")]);
    let unavailable = headers(&[("grpc-status", "14"), ("grpc-message", "backend down")]);
    let v = run(&h, Some(&ok), &h, Some(&unavailable), &RuleSet::default());
    assert_eq!(
        v.outcome,
        Outcome::Mismatch(vec![Part::Status, Part::Headers])
    );
    assert_eq!(
        v.differences,
        vec![
            Difference {
                part: Part::Status,
                path: "grpc-status".into(),
                kind: ChangeKind::Changed,
                primary: Some("0".into()),
                candidate: Some("14".into()),
            },
            Difference {
                part: Part::Headers,
                path: "trailer:grpc-message".into(),
                kind: ChangeKind::Added,
                primary: None,
                candidate: Some("backend down".into()),
            },
        ]
    );
    // Not hidden by header rules: an allow-list without it, or ignoring it, still compares it
    // (it is a status, like the HTTP status).
    let rules = RuleSet::compile(&RuleSpec {
        compare_headers: Some(vec!["content-type".into()]),
        ignore_headers: vec!["grpc-status".into()],
        ..RuleSpec::default()
    })
    .unwrap();
    let v = run(&h, Some(&ok), &h, Some(&unavailable), &rules);
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Status]));
    // Missing on one side.
    let v = run(&h, Some(&ok), &h, None, &RuleSet::default());
    assert_eq!(
        got(&v),
        vec![("status", "grpc-status", "removed", Some("0"), None)]
    );
}

/// A trailers-only response (gRPC's form for an error without messages) carries its status in
/// the headers: compared with the other side's trailers wherever each side sent it.
#[test]
fn trailers_only_responses_read_the_status_from_the_headers() {
    let rules = RuleSet::default();
    let trailers_only = headers(&[
        ("content-type", "application/grpc"),
        ("grpc-status", "14"),
        ("grpc-message", "backend down"),
    ]);
    let h = headers(&[("content-type", "application/grpc")]);
    let t = headers(&[("grpc-status", "14"), ("grpc-message", "backend down")]);
    let v = run(&trailers_only, None, &h, Some(&t), &rules);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical), "{v:?}");
    let ok = headers(&[("grpc-status", "0")]);
    let v = run(&trailers_only, None, &h, Some(&ok), &rules);
    assert_eq!(
        got(&v),
        vec![
            ("status", "grpc-status", "changed", Some("14"), Some("0")),
            (
                "headers",
                "trailer:grpc-message",
                "removed",
                Some("backend down"),
                None
            ),
        ]
    );
    // Both trailers-only, different statuses.
    let other = headers(&[("content-type", "application/grpc"), ("grpc-status", "5")]);
    let v = run(&trailers_only, None, &other, None, &rules);
    assert_eq!(
        v.outcome,
        Outcome::Mismatch(vec![Part::Status, Part::Headers])
    );
    assert_eq!(v.differences[0].path, "grpc-status");
}
