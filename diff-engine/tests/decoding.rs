//! Content-Encoding: bodies are compared decoded, under a cap, and never expanded past it.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

mod support;

use std::io::Write;

use diff_engine::{
    compare, CompareLimits, MatchKind, Outcome, Part, Response, RuleSet, SkipReason,
};
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use support::headers;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A brotli stream holding `data` in one uncompressed meta-block (RFC 7932 §9.2), so the test
/// needs no brotli encoder: WBITS=16, ISLAST=0, MNIBBLES=4, MLEN-1, ISUNCOMPRESSED=1, padding,
/// the bytes, then an empty last meta-block.
fn brotli_stored(data: &[u8]) -> Vec<u8> {
    let header = ((data.len() as u32 - 1) << 4) | (1 << 20);
    let mut out = header.to_le_bytes()[..3].to_vec();
    out.extend_from_slice(data);
    out.push(0x03);
    out
}

fn run(a: (&str, &[u8]), b: (&str, &[u8]), limits: &CompareLimits) -> diff_engine::Verdict {
    let ha = headers(&[
        ("content-type", "application/json"),
        ("content-encoding", a.0),
    ]);
    let hb = headers(&[
        ("content-type", "application/json"),
        ("content-encoding", b.0),
    ]);
    compare(
        &Response {
            status: 200,
            headers: &ha,
            body: a.1,
            trailers: None,
        },
        &Response {
            status: 200,
            headers: &hb,
            body: b.1,
            trailers: None,
        },
        &RuleSet::default(),
        limits,
    )
}

const DOC: &[u8] = br#"{"id":1,"name":"x"}"#;

#[test]
fn encodings_decode_to_the_same_body() {
    let limits = CompareLimits::default();
    let same = Outcome::Match(MatchKind::Identical);
    assert_eq!(
        run(("gzip", &gzip(DOC)), ("identity", DOC), &limits).outcome,
        same
    );
    assert_eq!(
        run(
            ("deflate", &zlib(DOC)),
            ("br", &brotli_stored(DOC)),
            &limits
        )
        .outcome,
        same
    );
    let reformatted = br#"{ "name": "x", "id": 1.0 }"#;
    let v = run(
        ("br", &brotli_stored(reformatted)),
        ("gzip", &gzip(DOC)),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
    let v = run(
        ("gzip", &gzip(br#"{"id":2,"name":"x"}"#)),
        ("identity", DOC),
        &limits,
    );
    assert_eq!(v.differences[0].path, "/id");
}

#[test]
fn a_bomb_is_skipped_not_expanded() {
    let limits = CompareLimits {
        max_decoded_bytes: 1 << 20,
        ..CompareLimits::default()
    };
    let bomb = gzip(&vec![b' '; 8 << 20]);
    let v = run(("gzip", &bomb), ("identity", DOC), &limits);
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::DecodedTooLarge));
    assert_eq!(
        v.note.as_deref(),
        Some("primary body decodes past 1048576 bytes")
    );
}

#[test]
fn unknown_encoding_is_skipped_unless_identical() {
    let limits = CompareLimits::default();
    let v = run(("zstd", b"abc"), ("zstd", b"abd"), &limits);
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::UnsupportedEncoding));
    assert_eq!(
        v.note.as_deref(),
        Some("primary Content-Encoding `zstd` is not supported")
    );
    let v = run(("zstd", b"abc"), ("zstd", b"abc"), &limits);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
}

#[test]
fn corrupt_encoding_is_a_mismatch_with_a_note() {
    let limits = CompareLimits::default();
    let v = run(
        ("gzip", b"definitely not gzip"),
        ("gzip", &gzip(DOC)),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    let note = v.note.unwrap();
    assert!(
        note.starts_with("primary body: gzip decoding failed: "),
        "{note}"
    );
    let mut truncated = gzip(DOC);
    truncated.truncate(truncated.len() - 6);
    let v = run(("gzip", &gzip(DOC)), ("gzip", &truncated), &limits);
    assert!(v
        .note
        .unwrap()
        .starts_with("candidate body: gzip decoding failed"));
}

#[test]
fn a_status_mismatch_wins_over_a_skipped_body() {
    let ha = headers(&[("content-encoding", "zstd")]);
    let v = compare(
        &Response {
            status: 200,
            headers: &ha,
            body: b"x",
            trailers: None,
        },
        &Response {
            status: 503,
            headers: &ha,
            body: b"y",
            trailers: None,
        },
        &RuleSet::default(),
        &CompareLimits::default(),
    );
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Status]));
    assert!(v.note.unwrap().contains("not supported"));
}
