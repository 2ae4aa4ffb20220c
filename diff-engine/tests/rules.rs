//! Rules: what each rule hides, and that it never hides more than it declares.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

mod support;

use diff_engine::{MatchKind, Outcome, RuleSpec, SortRule, ToleranceRule};
use support::{ignore, json, paths};

fn tolerance(path: &str, abs: f64, rel: f64) -> RuleSpec {
    RuleSpec {
        tolerances: vec![ToleranceRule {
            path: path.into(),
            abs,
            rel,
        }],
        ..RuleSpec::default()
    }
}

#[test]
fn ignore_hides_exactly_its_path() {
    let spec = ignore(&["/a/b"]);
    let v = json(r#"{"a":{"b":1,"c":1}}"#, r#"{"a":{"b":2,"c":1}}"#, &spec);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
    // Not a sibling, not a prefix-sharing sibling, not the parent.
    let v = json(r#"{"a":{"b":1,"c":1}}"#, r#"{"a":{"b":2,"c":2}}"#, &spec);
    assert_eq!(paths(&v), vec![("/a/c".into(), "changed")]);
    let v = json(r#"{"a":{"b":1,"bb":1}}"#, r#"{"a":{"b":2,"bb":2}}"#, &spec);
    assert_eq!(paths(&v), vec![("/a/bb".into(), "changed")]);
    let v = json(r#"{"a":{"b":1}}"#, r#"{"a":[1]}"#, &spec);
    assert_eq!(paths(&v), vec![("/a".into(), "type_changed")]);
    let v = json(r#"{"a":{"b":1}}"#, r#"{}"#, &spec);
    assert_eq!(paths(&v), vec![("/a".into(), "removed")]);
    // Added or removed at the ignored path itself is hidden.
    let v = json(r#"{"a":{}}"#, r#"{"a":{"b":1}}"#, &spec);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
}

#[test]
fn wildcards() {
    let one = ignore(&["/items/*/ts"]);
    let a = r#"{"items":[{"ts":1,"v":1},{"ts":2,"v":2}],"ts":0}"#;
    let b = r#"{"items":[{"ts":9,"v":1},{"ts":9,"v":3}],"ts":9}"#;
    let v = json(a, b, &one);
    assert_eq!(
        paths(&v),
        vec![("/items/1/v".into(), "changed"), ("/ts".into(), "changed")]
    );
    let any = ignore(&["/**/ts"]);
    let v = json(a, b, &any);
    assert_eq!(paths(&v), vec![("/items/1/v".into(), "changed")]);
    let all = ignore(&["/**"]);
    assert_eq!(json(a, b, &all).outcome, Outcome::Match(MatchKind::Rules));
}

#[test]
fn tolerance_is_scoped_and_typed() {
    let spec = tolerance("/price", 0.01, 0.0);
    let v = json(
        r#"{"price":10.0,"qty":1}"#,
        r#"{"price":10.005,"qty":1}"#,
        &spec,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
    let v = json(r#"{"price":10.0}"#, r#"{"price":10.02}"#, &spec);
    assert_eq!(paths(&v), vec![("/price".into(), "changed")]);
    // Not a type change, not a neighbour, not a child.
    let v = json(r#"{"price":10.0}"#, r#"{"price":"10.0"}"#, &spec);
    assert_eq!(paths(&v), vec![("/price".into(), "type_changed")]);
    let v = json(
        r#"{"price":1,"cost":1}"#,
        r#"{"price":1,"cost":1.001}"#,
        &spec,
    );
    assert_eq!(paths(&v), vec![("/cost".into(), "changed")]);
    let v = json(r#"{"price":{"v":1}}"#, r#"{"price":{"v":1.001}}"#, &spec);
    assert_eq!(paths(&v), vec![("/price/v".into(), "changed")]);
    let rel = tolerance("/*", 0.0, 0.01);
    let v = json(r#"{"a":1000,"b":1}"#, r#"{"a":1009,"b":1.02}"#, &rel);
    assert_eq!(paths(&v), vec![("/b".into(), "changed")]);
}

#[test]
fn timestamps_compare_as_instants() {
    let spec = RuleSpec {
        timestamps: vec!["/at".into()],
        ..RuleSpec::default()
    };
    let v = json(
        r#"{"at":"2026-01-01T01:00:00+01:00"}"#,
        r#"{"at":"2026-01-01T00:00:00.000Z"}"#,
        &spec,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
    let v = json(
        r#"{"at":"2026-01-01T01:00:00+01:00"}"#,
        r#"{"at":"2026-01-01T01:00:00Z"}"#,
        &spec,
    );
    assert_eq!(paths(&v), vec![("/at".into(), "changed")]);
    // Not parseable: compared as strings.
    let v = json(r#"{"at":"yesterday"}"#, r#"{"at":"today"}"#, &spec);
    assert_eq!(paths(&v), vec![("/at".into(), "changed")]);
    // Not at another path.
    let v = json(
        r#"{"other":"2026-01-01T01:00:00+01:00"}"#,
        r#"{"other":"2026-01-01T00:00:00Z"}"#,
        &spec,
    );
    assert_eq!(paths(&v), vec![("/other".into(), "changed")]);
}

#[test]
fn unordered_arrays_are_multisets() {
    let spec = RuleSpec {
        unordered_arrays: vec!["/tags".into()],
        ..RuleSpec::default()
    };
    let v = json(
        r#"{"tags":["a","b","a"]}"#,
        r#"{"tags":["b","a","a"]}"#,
        &spec,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
    // Multiplicity counts.
    let v = json(
        r#"{"tags":["a","b","a"]}"#,
        r#"{"tags":["b","b","a"]}"#,
        &spec,
    );
    assert_eq!(
        paths(&v),
        vec![("/tags/2".into(), "removed"), ("/tags/1".into(), "added")]
    );
    // Only at its path.
    let v = json(r#"{"x":[1,2]}"#, r#"{"x":[2,1]}"#, &spec);
    assert_eq!(v.outcome, outcome_body_mismatch());
    // With a nested rule, elements pair up under the rules.
    let spec = RuleSpec {
        unordered_arrays: vec!["/items".into()],
        ignore_paths: vec!["/items/*/ts".into()],
        ..RuleSpec::default()
    };
    let v = json(
        r#"{"items":[{"id":1,"ts":1},{"id":2,"ts":2}]}"#,
        r#"{"items":[{"id":2,"ts":8},{"id":1,"ts":9}]}"#,
        &spec,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
}

#[test]
fn sort_arrays_by_member_key() {
    let spec = RuleSpec {
        sort_arrays_by: vec![SortRule {
            path: "/users".into(),
            key: "id".into(),
        }],
        ..RuleSpec::default()
    };
    let v = json(
        r#"{"users":[{"id":2,"n":"b"},{"id":1,"n":"a"}]}"#,
        r#"{"users":[{"id":1,"n":"a"},{"id":2,"n":"b"}]}"#,
        &spec,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
    let v = json(
        r#"{"users":[{"id":2,"n":"b"},{"id":1,"n":"a"}]}"#,
        r#"{"users":[{"id":1,"n":"a"},{"id":2,"n":"c"}]}"#,
        &spec,
    );
    assert_eq!(paths(&v), vec![("/users/1/n".into(), "changed")]);
}

fn outcome_body_mismatch() -> Outcome {
    Outcome::Mismatch(vec![diff_engine::Part::Body])
}
