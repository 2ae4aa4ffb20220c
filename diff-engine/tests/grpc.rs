//! gRPC bodies compared message by message, field by field (issue 23), without a schema.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

mod support;

use diff_engine::{
    compare, CompareLimits, MatchKind, Outcome, Part, Response, RuleSet, RuleSpec, SkipReason,
    Verdict,
};
use http::HeaderMap;
use support::wire::{bytes, frame, framed, gzip, int};
use support::{headers, ignore, paths};

fn grpc_headers() -> HeaderMap {
    headers(&[("content-type", "application/grpc")])
}

fn run_with(
    ha: &HeaderMap,
    a: &[u8],
    hb: &HeaderMap,
    b: &[u8],
    spec: &RuleSpec,
    limits: &CompareLimits,
) -> Verdict {
    let ok = headers(&[("grpc-status", "0")]);
    compare(
        &Response {
            status: 200,
            headers: ha,
            body: a,
            trailers: Some(&ok),
        },
        &Response {
            status: 200,
            headers: hb,
            body: b,
            trailers: Some(&ok),
        },
        &RuleSet::compile(spec).unwrap(),
        limits,
    )
}

fn run(a: &[u8], b: &[u8], spec: &RuleSpec) -> Verdict {
    let h = grpc_headers();
    run_with(&h, a, &h, b, spec, &CompareLimits::default())
}

/// A quote: 1: sku (string), 2: price (varint), 3: currency {1: code}.
fn quote(sku: &str, price: u64) -> Vec<u8> {
    [
        bytes(1, sku.as_bytes()),
        int(2, price),
        bytes(3, &bytes(1, b"EUR")),
    ]
    .concat()
}

fn body(messages: &[Vec<u8>]) -> Vec<u8> {
    messages
        .iter()
        .map(|m| frame(m))
        .collect::<Vec<_>>()
        .concat()
}

#[test]
fn unary_difference_names_the_field_number() {
    let v = run(
        &body(&[quote("sku-1", 100)]),
        &body(&[quote("sku-1", 101)]),
        &RuleSpec::default(),
    );
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    assert_eq!(paths(&v), vec![("/2".into(), "changed")]);
    assert_eq!(
        (
            v.differences[0].primary.as_deref(),
            v.differences[0].candidate.as_deref()
        ),
        (Some("100"), Some("101"))
    );
    let v = run(
        &body(&[quote("sku-1", 100)]),
        &body(&[[bytes(1, b"sku-1"), int(2, 100), bytes(3, &bytes(1, b"USD"))].concat()]),
        &RuleSpec::default(),
    );
    assert_eq!(paths(&v), vec![("/3/1".into(), "changed")]);
}

#[test]
fn equal_messages_match_whatever_the_field_order() {
    let a = quote("sku-1", 100);
    let reordered = [int(2, 100), bytes(3, &bytes(1, b"EUR")), bytes(1, b"sku-1")].concat();
    let v = run(
        &body(std::slice::from_ref(&a)),
        &body(std::slice::from_ref(&a)),
        &RuleSpec::default(),
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    let v = run(&body(&[a]), &body(&[reordered]), &RuleSpec::default());
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
}

#[test]
fn streams_name_the_message_first() {
    let a = body(&[quote("a", 1), quote("b", 2)]);
    let b = body(&[quote("a", 1), quote("b", 3), quote("c", 4)]);
    let v = run(&a, &b, &RuleSpec::default());
    assert_eq!(
        paths(&v),
        vec![("/1/2".into(), "changed"), ("/2".into(), "added")]
    );
    // One message against two: indexed, the missing one removed.
    let v = run(&a, &body(&[quote("a", 1)]), &RuleSpec::default());
    assert_eq!(paths(&v), vec![("/1".into(), "removed")]);
    // Rules see the index first.
    let v = run(
        &a,
        &body(&[quote("a", 9), quote("b", 9)]),
        &ignore(&["/*/2"]),
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
    let v = run(
        &body(&[quote("a", 1)]),
        &body(&[quote("a", 2)]),
        &ignore(&["/2"]),
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
}

#[test]
fn grpc_status_in_trailers_is_a_status_mismatch() {
    let h = grpc_headers();
    let m = body(&[quote("a", 1)]);
    let v = compare(
        &Response {
            status: 200,
            headers: &h,
            body: &m,
            trailers: Some(&headers(&[("grpc-status", "0")])),
        },
        &Response {
            status: 200,
            headers: &h,
            body: &m,
            trailers: Some(&headers(&[("grpc-status", "14")])),
        },
        &RuleSet::default(),
        &CompareLimits::default(),
    );
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Status]));
    assert_eq!(paths(&v), vec![("grpc-status".into(), "changed")]);
}

#[test]
fn compressed_messages_are_compared_decoded() {
    let gz = headers(&[
        ("content-type", "application/grpc"),
        ("grpc-encoding", "gzip"),
    ]);
    let plain = grpc_headers();
    let m = quote("sku-1", 100);
    let limits = CompareLimits::default();
    let v = run_with(
        &gz,
        &framed(1, &gzip(&m)),
        &plain,
        &frame(&m),
        &RuleSpec::default(),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
    let v = run_with(
        &gz,
        &framed(1, &gzip(&quote("sku-1", 7))),
        &gz,
        &[frame(&m), framed(1, &gzip(&m))].concat(),
        &RuleSpec::default(),
        &limits,
    );
    assert_eq!(
        paths(&v),
        vec![("/0/2".into(), "changed"), ("/1".into(), "added")]
    );
    // Another encoding: not compared, once a message needs it.
    let snappy = headers(&[
        ("content-type", "application/grpc"),
        ("grpc-encoding", "snappy"),
    ]);
    let v = run_with(
        &snappy,
        &framed(1, b"xx"),
        &plain,
        &frame(&m),
        &RuleSpec::default(),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::UnsupportedEncoding));
    assert_eq!(
        v.note.as_deref(),
        Some("primary grpc-encoding `snappy` is not supported")
    );
    let v = run_with(
        &snappy,
        &frame(&m),
        &plain,
        &frame(&m),
        &RuleSpec::default(),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    // A bomb is not expanded past the cap.
    let small = CompareLimits {
        max_decoded_bytes: 1 << 16,
        ..CompareLimits::default()
    };
    let bomb = framed(1, &gzip(&vec![0u8; 1 << 20]));
    let v = run_with(&gz, &bomb, &plain, &frame(&m), &RuleSpec::default(), &small);
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::DecodedTooLarge));
    assert_eq!(
        v.note.as_deref(),
        Some("primary gRPC messages decode past 65536 bytes")
    );
    // Corrupt compressed data: that message compared as bytes, with a note.
    let v = run_with(
        &gz,
        &framed(1, b"not gzip"),
        &plain,
        &frame(&m),
        &RuleSpec::default(),
        &limits,
    );
    assert_eq!(paths(&v), vec![("".into(), "type_changed")]);
    assert!(v
        .note
        .unwrap()
        .starts_with("primary message 0 does not decompress (gzip decoding failed"));
}

#[test]
fn malformed_framing_is_compared_as_bytes() {
    let good = body(&[quote("a", 1)]);
    let mut cut = good.clone();
    cut.truncate(good.len() - 2);
    let v = run(&good, &cut, &RuleSpec::default());
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    assert_eq!(paths(&v), vec![("".into(), "changed")]);
    assert_eq!(
        v.note.as_deref(),
        Some(
            "candidate body is not gRPC framing (message 0 declares 12 bytes, 10 follow); \
             compared as bytes; bodies differ from byte 15"
        )
    );
    let v = run(
        &good,
        &[good.clone(), vec![0, 0]].concat(),
        &RuleSpec::default(),
    );
    assert!(v
        .note
        .unwrap()
        .contains("2 bytes after message 1 are not a message header"));
    let v = run(&good, &framed(0x80, b""), &RuleSpec::default());
    assert!(v.note.unwrap().contains("message 0 has flags 0x80"));
    let plain = grpc_headers();
    let v = run_with(
        &plain,
        &framed(1, b"x"),
        &plain,
        &good,
        &RuleSpec::default(),
        &CompareLimits::default(),
    );
    assert!(v
        .note
        .unwrap()
        .contains("message 0 is compressed and there is no grpc-encoding"));
}

#[test]
fn a_message_that_is_not_protobuf_is_compared_as_bytes() {
    let junk = b"\xff\xff\xff".to_vec();
    let v = run(
        &body(std::slice::from_ref(&junk)),
        &body(&[quote("a", 1)]),
        &RuleSpec::default(),
    );
    assert_eq!(paths(&v), vec![("".into(), "type_changed")]);
    assert_eq!(
        v.note.as_deref(),
        Some(
            "primary message 0 is not protobuf (truncated or overlong tag at byte 0), compared \
             as bytes"
        )
    );
    assert!(v.differences[0]
        .primary
        .as_deref()
        .unwrap()
        .starts_with("3 bytes, blake3 "));
    let v = run(
        &body(&[junk.clone(), quote("a", 1)]),
        &body(&[junk, quote("a", 2)]),
        &RuleSpec::default(),
    );
    assert_eq!(paths(&v), vec![("/1/2".into(), "changed")]);
}

#[test]
fn too_many_messages_are_skipped() {
    let limits = CompareLimits {
        max_records: 2,
        ..CompareLimits::default()
    };
    let h = grpc_headers();
    let three = body(&[quote("a", 1), quote("a", 1), quote("a", 1)]);
    let v = run_with(
        &h,
        &three,
        &h,
        &body(&[quote("a", 1)]),
        &RuleSpec::default(),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::TooManyRecords));
    assert_eq!(
        v.note.as_deref(),
        Some("primary body has more than 2 records; not compared")
    );
}

#[test]
fn grpc_json_messages_are_json() {
    let h = headers(&[("content-type", "application/grpc+json")]);
    let v = run_with(
        &h,
        &frame(br#"{"price":1,"sku":"a"}"#),
        &h,
        &frame(br#"{ "sku": "a", "price": 2 }"#),
        &RuleSpec::default(),
        &CompareLimits::default(),
    );
    assert_eq!(paths(&v), vec![("/price".into(), "changed")]);
}
