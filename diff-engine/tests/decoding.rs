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

/// Browsers ask for `zstd` (RFC 8878) and servers answer with it: it was skipped as unsupported,
/// every such exchange uncompared.
#[test]
fn zstd_decodes_like_the_others_and_its_bombs_are_refused() {
    let limits = CompareLimits::default();
    let zst = zstd::encode_all(DOC, 3).unwrap();
    let v = run(("zstd", &zst), ("gzip", &gzip(DOC)), &limits);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
    let v = run(
        (
            "zstd",
            &zstd::encode_all(&br#"{"id":1,"name":"y"}"#[..], 3).unwrap(),
        ),
        ("identity", DOC),
        &limits,
    );
    assert_eq!(v.differences[0].path, "/name");
    // Two frames one after another are one body.
    let two = [
        zstd::encode_all(&DOC[..7], 1).unwrap(),
        zstd::encode_all(&DOC[7..], 1).unwrap(),
    ]
    .concat();
    let v = run(("zstd", &two), ("identity", DOC), &limits);
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));

    let small = CompareLimits {
        max_decoded_bytes: 1 << 20,
        ..CompareLimits::default()
    };
    let bomb = zstd::encode_all(&vec![b' '; 8 << 20][..], 3).unwrap();
    let v = run(("zstd", &bomb), ("identity", DOC), &small);
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::DecodedTooLarge));

    // A frame that asks for a 16 MiB window (RFC 9659 allows 8): refused, not allocated.
    let mut wide = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    wide.window_log(24).unwrap();
    wide.write_all(DOC).unwrap();
    let wide = wide.finish().unwrap();
    let v = run(("zstd", &wide), ("identity", DOC), &limits);
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    let note = v.note.unwrap();
    assert!(
        note.starts_with("primary body: zstd decoding failed"),
        "{note}"
    );
}

#[test]
fn unknown_encoding_is_skipped_unless_identical() {
    let limits = CompareLimits::default();
    let v = run(("compress", b"abc"), ("compress", b"abd"), &limits);
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::UnsupportedEncoding));
    assert_eq!(
        v.note.as_deref(),
        Some("primary Content-Encoding `compress` is not supported")
    );
    let v = run(("compress", b"abc"), ("compress", b"abc"), &limits);
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
    let ha = headers(&[("content-encoding", "compress")]);
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
