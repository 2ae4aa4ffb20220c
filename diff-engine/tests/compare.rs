//! End-to-end behaviour of `compare`: outcomes, differences, notes.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

mod support;

use diff_engine::{
    compare, ChangeKind, CompareLimits, Difference, MatchKind, Outcome, Part, Response, RuleSet,
    RuleSpec, SkipReason,
};
use support::{headers, json, json_headers, paths};

const NONE: &RuleSpec = &RuleSpec {
    ignore_paths: Vec::new(),
    tolerances: Vec::new(),
    timestamps: Vec::new(),
    unordered_arrays: Vec::new(),
    sort_arrays_by: Vec::new(),
    ignore_headers: Vec::new(),
    compare_headers: None,
};

#[test]
fn identical_canonical_and_different() {
    let v = json(r#"{"a":1}"#, r#"{"a":1}"#, NONE);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    let v = json(
        r#"{"b":[1.0,2],"a":1}"#,
        "{ \"a\" : 1e0, \"b\" : [1, 2] }",
        NONE,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
    assert!(v.differences.is_empty());
    let v = json(r#"{"a":1,"b":2}"#, r#"{"a":1,"b":3}"#, NONE);
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    assert_eq!(
        v.differences,
        vec![Difference {
            part: Part::Body,
            path: "/b".into(),
            kind: ChangeKind::Changed,
            primary: Some("2".into()),
            candidate: Some("3".into()),
        }]
    );
}

#[test]
fn big_integers_differing_in_the_last_digit_differ() {
    let v = json(
        r#"{"id":12345678901234567890}"#,
        r#"{"id":12345678901234567891}"#,
        NONE,
    );
    assert_eq!(paths(&v), vec![("/id".into(), "changed")]);
    // Plain JCS would print both as 12345678901234567000.
    let v = json(
        r#"{"id":12345678901234567890}"#,
        r#"{"id":1.2345678901234567e19}"#,
        NONE,
    );
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
}

/// The number rule: an integer by exact value whatever its spelling, anything else as a
/// double; equal data spelled apart matches, different integers never do.
#[test]
fn numbers_compare_by_the_number_rule() {
    let same = [
        (
            r#"{"n":[100,1e2,100.0,1.00e2]}"#,
            r#"{"n":[1e2,100,1.00e2,100.0]}"#,
        ),
        (r#"{"id":1000000000000000000000}"#, r#"{"id":1e21}"#),
        (
            r#"{"id":1152921504606846976}"#,
            r#"{"id":1152921504606846976.0}"#,
        ),
        (r#"{"x":0.1}"#, r#"{"x":0.10000000000000001}"#),
        (r#"{"big":1e100000}"#, r#"{"big":10e99999}"#),
    ];
    for (a, b) in same {
        let v = json(a, b, NONE);
        assert_eq!(
            v.outcome,
            Outcome::Match(MatchKind::Canonical),
            "{a} vs {b}"
        );
    }
    let apart = [
        (
            r#"{"id":1152921504606847000}"#,
            r#"{"id":1152921504606846976.0}"#,
        ),
        (
            r#"{"id":12345678901234567890}"#,
            r#"{"id":12345678901234567891}"#,
        ),
        (r#"{"big":1e100000}"#, r#"{"big":1e100001}"#),
    ];
    for (a, b) in apart {
        let v = json(a, b, NONE);
        assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]), "{a} vs {b}");
    }
    let v = json(
        r#"{"id":1152921504606847000}"#,
        r#"{"id":1152921504606846976.0}"#,
        NONE,
    );
    assert_eq!(
        (
            v.differences[0].primary.as_deref(),
            v.differences[0].candidate.as_deref()
        ),
        (Some("1152921504606847000"), Some("1152921504606846976"))
    );
}

#[test]
fn added_removed_type_changed_in_traversal_order() {
    let v = json(
        r#"{"z":1,"a":{"x":[1,2,3],"k/~":"s"},"n":null}"#,
        r#"{"a":{"x":[1,2],"k/~":5,"new":true},"n":{}}"#,
        NONE,
    );
    assert_eq!(
        paths(&v),
        vec![
            ("/a/k~1~0".into(), "type_changed"),
            ("/a/new".into(), "added"),
            ("/a/x/2".into(), "removed"),
            ("/n".into(), "type_changed"),
            ("/z".into(), "removed"),
        ]
    );
    let added = &v.differences[1];
    assert_eq!(
        (added.primary.as_deref(), added.candidate.as_deref()),
        (None, Some("true"))
    );
}

#[test]
fn differences_are_capped_and_values_truncated() {
    let a: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let b: Vec<String> = (0..100).map(|i| (i + 1).to_string()).collect();
    let v = json(
        &format!("[{}]", a.join(",")),
        &format!("[{}]", b.join(",")),
        NONE,
    );
    assert_eq!(
        v.differences.len(),
        CompareLimits::default().max_differences
    );
    assert!(v.truncated);
    assert_eq!(v.differences[31].path, "/31");

    let long = "x".repeat(500);
    let v = json(&format!(r#"{{"s":"{long}"}}"#), r#"{"s":"y"}"#, NONE);
    let shown = v.differences[0].primary.as_deref().unwrap();
    assert_eq!(shown.chars().count(), 121);
    assert!(shown.starts_with("\"xxx") && shown.ends_with('…'));
    assert!(!v.truncated);
}

#[test]
fn status_and_headers_in_the_same_model() {
    let rules = RuleSet::default();
    let ha = headers(&[
        ("content-type", "application/json"),
        ("date", "x"),
        ("vary", "a"),
        ("vary", "b"),
    ]);
    let hb = headers(&[
        ("content-type", "application/json"),
        ("date", "y"),
        ("vary", "b"),
        ("vary", "a"),
        ("x-new", "1"),
    ]);
    let v = compare(
        &Response {
            status: 200,
            headers: &ha,
            body: b"{}",
            trailers: None,
        },
        &Response {
            status: 500,
            headers: &hb,
            body: b"{}",
            trailers: None,
        },
        &rules,
        &CompareLimits::default(),
    );
    assert_eq!(
        v.outcome,
        Outcome::Mismatch(vec![Part::Status, Part::Headers])
    );
    let got: Vec<_> = v
        .differences
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
        .collect();
    assert_eq!(
        got,
        vec![
            ("status", "", "changed", Some("200"), Some("500")),
            ("headers", "vary", "changed", Some("a, b"), Some("b, a")),
            ("headers", "x-new", "added", None, Some("1")),
        ]
    );
}

#[test]
fn header_rules() {
    let spec = RuleSpec {
        ignore_headers: vec!["X-New".into()],
        ..RuleSpec::default()
    };
    let rules = RuleSet::compile(&spec).unwrap();
    let ha = headers(&[
        ("x-request-id", "1"),
        ("x-b3-traceid", "1"),
        ("x-shadowdiff-leg", "p"),
    ]);
    let hb = headers(&[
        ("x-request-id", "2"),
        ("x-new", "1"),
        ("server", "v2"),
        ("connection", "close"),
    ]);
    let v = compare(
        &Response {
            status: 200,
            headers: &ha,
            body: b"",
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &hb,
            body: b"",
            trailers: None,
        },
        &rules,
        &CompareLimits::default(),
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    let only = RuleSet::compile(&RuleSpec {
        compare_headers: Some(vec!["server".into()]),
        ..RuleSpec::default()
    })
    .unwrap();
    let v = compare(
        &Response {
            status: 200,
            headers: &ha,
            body: b"",
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &hb,
            body: b"",
            trailers: None,
        },
        &only,
        &CompareLimits::default(),
    );
    assert_eq!(paths(&v), vec![("server".into(), "added")]);
}

#[test]
fn bad_json_gets_a_verdict_with_a_reason() {
    let v = json(r#"{"a":1}"#, r#"{"a":1,"a":2}"#, NONE);
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    assert_eq!(paths(&v), vec![("".into(), "type_changed")]);
    assert_eq!(
        v.note.as_deref(),
        Some("candidate body is not valid JSON: duplicate key `a` at the root")
    );

    let v = json("<html>oops</html>", r#"{"a":1}"#, NONE);
    assert_eq!(
        v.note.as_deref(),
        Some("primary body is not valid JSON: expected a JSON value at byte 0")
    );
    assert_eq!(
        v.differences[0].primary.as_deref(),
        Some("<html>oops</html>")
    );
    assert_eq!(v.differences[0].candidate.as_deref(), Some(r#"{"a":1}"#));

    let v = json("", "", NONE);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    let v = json("", "{}", NONE);
    assert_eq!(
        v.note.as_deref(),
        Some("primary body is not valid JSON: empty body")
    );
}

/// A body past `max_depth` cannot be compared; equal data must never come out a mismatch, so
/// the verdict is a skip with its own reason.
#[test]
fn too_deep_is_skipped_not_a_mismatch() {
    let nested = |n: usize, ws: &str| {
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(&format!("{{{ws}\"b\":1,{ws}\"a\":{ws}["));
        }
        s.push_str("0.5");
        for _ in 0..n {
            s.push_str(&format!("]{ws}}}"));
        }
        s
    };
    // Equal data, reformatted, 200 levels deep (past the default 128).
    let v = json(&nested(200, ""), &nested(200, "\n  "), NONE);
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::TooDeep));
    assert!(v.differences.is_empty());
    assert_eq!(
        v.note.as_deref(),
        Some(
            "both bodies nest deeper than the depth limit (primary: nesting deeper than 128 at \
             byte 768; candidate: nesting deeper than 128 at byte 1344); not compared"
        )
    );
    // Too deep on one side, valid JSON on the other: they cannot be equal, so a mismatch that
    // says why (a skip would hide a v2 that nests without end).
    let deep = "[".repeat(10_000);
    let v = json(&deep, "[]", NONE);
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    assert!(v.note.unwrap().contains("nesting deeper than 128"));
    let v = json("{", &deep, NONE);
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::TooDeep));
    let note = v.note.unwrap();
    assert_eq!(
        note,
        "candidate body nests deeper than the depth limit (nesting deeper than 128 at byte 128); \
         not compared; primary body is not valid JSON either: expected a string key at byte 1"
    );
    // Identical bytes need no parse.
    let v = json(&deep, &deep, NONE);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    // A status difference still wins over the skipped body.
    let h = json_headers();
    let v = compare(
        &Response {
            status: 200,
            headers: &h,
            body: deep.as_bytes(),
            trailers: None,
        },
        &Response {
            status: 500,
            headers: &h,
            body: format!("{deep}]").as_bytes(),
            trailers: None,
        },
        &RuleSet::default(),
        &CompareLimits::default(),
    );
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Status]));
    assert!(v.note.unwrap().contains("not compared"));
}

/// Both sides invalid in the same way (a duplicate key, a lone surrogate): whitespace outside
/// strings is JSON's insignificant whitespace, so a reformatted copy is equal data.
#[test]
fn both_invalid_compare_with_whitespace_outside_strings_ignored() {
    let v = json(r#"{"a":1,"a":2}"#, "{ \"a\" : 1,\n  \"a\" : 2 }\n", NONE);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
    assert!(v.differences.is_empty());
    assert_eq!(
        v.note.as_deref(),
        Some(
            "both bodies are invalid JSON (primary: duplicate key `a` at the root; candidate: \
             duplicate key `a` at the root); compared with whitespace outside strings ignored, \
             they are equal"
        )
    );
    let v = json(r#"["\ud800", 1]"#, "[\"\\ud800\"\t,1]", NONE);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));

    let v = json(r#"{"a":1,"a":2}"#, r#"{"a":1, "a":3}"#, NONE);
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    assert_eq!(paths(&v), vec![("".into(), "changed")]);
    assert_eq!(
        v.note.as_deref(),
        Some(
            "both bodies are invalid JSON (primary: duplicate key `a` at the root; candidate: \
             duplicate key `a` at the root); compared with whitespace outside strings ignored, \
             they differ from byte 11 (primary) and byte 12 (candidate)"
        )
    );
    // Whitespace inside a string counts.
    let v = json(r#"{"a":"x y","a":1}"#, r#"{"a":"x  y","a":1}"#, NONE);
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    // Whitespace that separates two tokens is not dropped: `1 2` is not `12`.
    let v = json("[1 2,]", "[12,]", NONE);
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    let v = json("[1  2,]", "[1\n2,]", NONE);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
    // Invalid in different ways: different.
}

#[test]
fn invalid_utf8_and_lone_surrogates() {
    let h = json_headers();
    let rules = RuleSet::default();
    let v = compare(
        &Response {
            status: 200,
            headers: &h,
            body: b"[\"\xc3\x28\"]",
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &h,
            body: b"[\"a\"]",
            trailers: None,
        },
        &rules,
        &CompareLimits::default(),
    );
    assert_eq!(
        v.note.as_deref(),
        Some("primary body is not valid JSON: invalid UTF-8 at byte 2")
    );
    let v = json(r#"["\ud800"]"#, r#"["\ud800\udc00"]"#, NONE);
    assert_eq!(
        v.note.as_deref(),
        Some("primary body is not valid JSON: lone surrogate \\ud800 at byte 2")
    );
}

#[test]
fn text_and_binary_bodies() {
    let rules = RuleSet::default();
    let text = headers(&[("content-type", "text/plain")]);
    let v = compare(
        &Response {
            status: 200,
            headers: &text,
            body: b"hello world",
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &text,
            body: b"hello there",
            trailers: None,
        },
        &rules,
        &CompareLimits::default(),
    );
    assert_eq!(v.differences[0].primary.as_deref(), Some("hello world"));
    assert_eq!(v.note.as_deref(), Some("bodies differ from byte 6"));
    // Text is compared as bytes: reformatted JSON inside text/plain is a difference.
    let v = compare(
        &Response {
            status: 200,
            headers: &text,
            body: b"{\"a\":1}",
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &text,
            body: b"{\"a\": 1}",
            trailers: None,
        },
        &rules,
        &CompareLimits::default(),
    );
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    let bin = headers(&[("content-type", "application/octet-stream")]);
    let v = compare(
        &Response {
            status: 200,
            headers: &bin,
            body: &[0, 1, 2],
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &bin,
            body: &[0, 1],
            trailers: None,
        },
        &rules,
        &CompareLimits::default(),
    );
    let shown = v.differences[0].primary.as_deref().unwrap();
    assert!(shown.starts_with("3 bytes, blake3 "), "{shown}");
    // No content type: sniffed as JSON.
    let none = http::HeaderMap::new();
    let v = compare(
        &Response {
            status: 200,
            headers: &none,
            body: b" {\"a\":1}",
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &none,
            body: b"{\"a\":1.0}",
            trailers: None,
        },
        &rules,
        &CompareLimits::default(),
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
}

#[test]
fn skip_reasons_have_labels() {
    assert_eq!(SkipReason::DecodedTooLarge.as_str(), "decoded_too_large");
    assert_eq!(
        SkipReason::UnsupportedEncoding.as_str(),
        "unsupported_encoding"
    );
    assert_eq!(SkipReason::TooDeep.as_str(), "too_deep");
}

#[test]
fn configured_depth_is_clamped() {
    let limits = CompareLimits {
        max_depth: usize::MAX,
        ..CompareLimits::default()
    };
    let h = json_headers();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // Not the same bytes (identical bytes match without a parse): the same data respaced.
    let respaced = format!("{deep} ");
    let v = compare(
        &Response {
            status: 200,
            headers: &h,
            body: deep.as_bytes(),
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &h,
            body: respaced.as_bytes(),
            trailers: None,
        },
        &RuleSet::default(),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::TooDeep));
    assert!(v.note.unwrap().contains("nesting deeper than 512"));
}
