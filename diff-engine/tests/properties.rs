//! Properties of canonicalization and diff over generated JSON.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

mod support;

use diff_engine::{canonical_digest, canonicalize, CompareLimits, MatchKind, Outcome, RuleSpec};
use proptest::prelude::*;

/// A generated JSON document kept as a tree so it can be printed in several ways.
#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

fn json_tree() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i128>().prop_map(J::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(J::Float),
        any::<String>().prop_map(J::Str),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
            // Unique keys: duplicates are rejected on purpose.
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| J::Obj(m.into_iter().collect())),
        ]
    })
}

/// Prints `j`, with `ws` between tokens, rotating object members by `rot`.
fn print(j: &J, ws: &str, rot: usize, out: &mut String) {
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Int(i) => out.push_str(&i.to_string()),
        J::Float(f) => out.push_str(&format!("{f:e}")),
        J::Str(s) => out.push_str(&serde_json::to_string(s).unwrap()),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws);
                print(item, ws, rot, out);
            }
            out.push_str(ws);
            out.push(']');
        }
        J::Obj(members) => {
            out.push('{');
            let n = members.len().max(1);
            for i in 0..members.len() {
                let (k, v) = &members[(i + rot) % n];
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws);
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push_str(ws);
                out.push(':');
                print(v, ws, rot, out);
            }
            out.push('}');
        }
    }
}

/// Bytes that look a little like record streams: separators, SSE field names, JSON brackets,
/// and anything else.
fn streamish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            "\n",
            "\r",
            "\r\n",
            "\u{1e}",
            ":",
            "data: ",
            "event:",
            "id: ",
            "retry: 5",
            "{",
            "}",
            "[",
            "]",
            "\"",
            "1",
            ",",
            "\u{feff}",
            "{\"a\":1}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    prop::collection::vec(token, 0..64).prop_map(|t| t.concat())
}

/// Protobuf-looking bytes: tags and lengths for the common wire types, and anything else.
fn protobufish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            vec![0x08],
            vec![0x0a],
            vec![0x12],
            vec![0x0d],
            vec![0x09],
            vec![0x80, 0x01],
            vec![0xff, 0xff],
            vec![0x02],
            vec![0x0a, 0x02, 0x08, 0x01],
            b"hi".to_vec(),
        ]),
    ];
    prop::collection::vec(token, 0..48).prop_map(|t| t.concat())
}

/// gRPC bodies: frames of protobuf-ish messages with arbitrary flags, and sometimes a length
/// that does not add up.
fn grpcish() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        prop_oneof![Just(0u8), Just(1u8), any::<u8>()],
        protobufish(),
        prop_oneof![Just(0i64), -3i64..3],
    );
    prop::collection::vec(frame, 0..5).prop_map(|frames| {
        let mut out = Vec::new();
        for (flags, message, skew) in frames {
            out.push(flags);
            let len = (message.len() as i64 + skew).max(0) as u32;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&message);
        }
        out
    })
}

const GRPC_TYPES: [&str; 3] = [
    "application/grpc",
    "application/grpc+proto",
    "application/grpc+json",
];

const STREAM_TYPES: [&str; 3] = [
    "application/x-ndjson",
    "application/json-seq",
    "text/event-stream",
];

fn text(j: &J, ws: &str, rot: usize) -> String {
    let mut s = String::new();
    print(j, ws, rot, &mut s);
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonicalization_is_idempotent(j in json_tree()) {
        let once = canonicalize(text(&j, "", 0).as_bytes()).unwrap();
        prop_assert_eq!(canonicalize(&once).unwrap(), once);
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter(j in json_tree(), rot in 0usize..5) {
        let plain = canonicalize(text(&j, "", 0).as_bytes()).unwrap();
        let shuffled = canonicalize(text(&j, " \n\t", rot).as_bytes()).unwrap();
        prop_assert_eq!(plain, shuffled);
    }

    #[test]
    fn diff_of_a_document_with_itself_is_empty(j in json_tree(), rot in 0usize..5) {
        let v = support::json(&text(&j, "", 0), &text(&j, " ", rot), &RuleSpec::default());
        prop_assert!(v.differences.is_empty());
        prop_assert!(matches!(v.outcome, Outcome::Match(MatchKind::Identical | MatchKind::Canonical)));
    }

    #[test]
    fn no_rules_empty_diff_iff_equal_digests(a in json_tree(), b in json_tree()) {
        let (ta, tb) = (text(&a, "", 0), text(&b, "", 0));
        let v = support::json(&ta, &tb, &RuleSpec::default());
        let same = canonical_digest(ta.as_bytes()).unwrap() == canonical_digest(tb.as_bytes()).unwrap();
        prop_assert_eq!(v.differences.is_empty(), same);
        prop_assert_eq!(matches!(v.outcome, Outcome::Match(_)), same);
    }

    /// Bodies invalid in the same way (here a duplicate key) match exactly when they are the
    /// same text up to whitespace outside strings.
    #[test]
    fn invalid_bodies_match_iff_equal_up_to_whitespace(a in json_tree(), b in json_tree()) {
        let invalid = |j: &J, ws: &str| {
            format!("{{{ws}\"k\"{ws}:{}{ws},{ws}\"k\":1{ws}}}", text(j, ws, 0))
        };
        let v = support::json(&invalid(&a, ""), &invalid(&a, " \n\t"), &RuleSpec::default());
        prop_assert!(matches!(v.outcome, Outcome::Match(_)), "{:?}", v);
        let same = text(&a, "", 0) == text(&b, "", 0);
        let v = support::json(&invalid(&a, " "), &invalid(&b, "\r\n"), &RuleSpec::default());
        prop_assert_eq!(matches!(v.outcome, Outcome::Match(_)), same, "{:?}", v);
    }

    #[test]
    fn big_integers_differing_in_the_last_digit_differ(n in 10u128.pow(16)..u128::MAX - 1) {
        let a = canonicalize(format!("[{n}]").as_bytes()).unwrap();
        let b = canonicalize(format!("[{}]", n + 1).as_bytes()).unwrap();
        prop_assert_ne!(a, b);
        let v = support::json(&format!("{{\"id\":{n}}}"), &format!("{{\"id\":{}}}", n + 1), &RuleSpec::default());
        prop_assert_eq!(v.differences.len(), 1);
    }

    #[test]
    fn floats_canonicalize_like_their_shortest_form(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        // `{:e}` and the canonical text must denote the same double.
        let canon = canonicalize(format!("{f:e}").as_bytes()).unwrap();
        let back: f64 = std::str::from_utf8(&canon).unwrap().parse().unwrap();
        prop_assert_eq!(back, if f == 0.0 { 0.0 } else { f });
    }

    /// Any bytes under a record-stream type get a verdict, never a panic, and a body always
    /// matches itself.
    #[test]
    fn record_streams_never_panic(a in streamish(), b in streamish(), t in 0usize..3, cap in 0usize..6) {
        let limits = CompareLimits { max_records: cap, max_depth: 4, ..CompareLimits::default() };
        let v = support::bodies(STREAM_TYPES[t], &a, &b, &RuleSpec::default(), &limits);
        prop_assert!(v.differences.len() <= limits.max_differences);
        let v = support::bodies(STREAM_TYPES[t], &a, &a, &RuleSpec::default(), &limits);
        prop_assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    }

    /// The same records, reformatted (key order, whitespace, blank lines, CRLF), match.
    #[test]
    fn reformatted_record_streams_match(records in prop::collection::vec(json_tree(), 0..6), rot in 1usize..5) {
        let ndjson = |ws: &str, rot: usize, end: &str| {
            records.iter().map(|j| format!("{}{end}", text(j, ws, rot))).collect::<String>()
        };
        let sse = |ws: &str, rot: usize, end: &str| {
            records.iter().map(|j| format!("data:{ws}{}{end}{end}", text(j, ws, rot))).collect::<String>()
        };
        let seq = |ws: &str, rot: usize| {
            records.iter().map(|j| format!("\u{1e}{}\n", text(j, ws, rot))).collect::<String>()
        };
        let pairs = [
            ("application/x-ndjson", ndjson("", 0, "\n"), ndjson(" \t", rot, "\r\n\n")),
            ("text/event-stream", sse("", 0, "\n"), sse(" ", rot, "\r\n")),
            ("application/json-seq", seq("", 0), seq(" \n", rot)),
        ];
        for (ct, a, b) in pairs {
            let v = support::bodies(ct, a.as_bytes(), b.as_bytes(), &RuleSpec::default(), &CompareLimits::default());
            prop_assert!(v.differences.is_empty(), "{} {:?}", ct, v);
            prop_assert!(matches!(v.outcome, Outcome::Match(MatchKind::Identical | MatchKind::Canonical)), "{} {:?}", ct, v);
        }
    }

    /// Any bytes under a gRPC type get a verdict, never a panic, and a body matches itself.
    #[test]
    fn grpc_bodies_never_panic(
        a in prop_oneof![grpcish(), any::<Vec<u8>>()],
        b in grpcish(),
        t in 0usize..3,
        gzip in any::<bool>(),
        depth in 1usize..6,
    ) {
        let limits = CompareLimits { max_records: 3, max_depth: depth, ..CompareLimits::default() };
        let mut h = support::headers(&[("content-type", GRPC_TYPES[t])]);
        if gzip {
            h.insert("grpc-encoding", http::HeaderValue::from_static("gzip"));
        }
        let rules = diff_engine::RuleSet::default();
        let (ra, rb) = (
            diff_engine::Response { status: 200, headers: &h, body: &a, trailers: None },
            diff_engine::Response { status: 200, headers: &h, body: &b, trailers: None },
        );
        let v = diff_engine::compare(&ra, &rb, &rules, &limits);
        prop_assert!(v.differences.len() <= limits.max_differences);
        let v = diff_engine::compare(&rb, &rb, &rules, &limits);
        prop_assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    }
}
