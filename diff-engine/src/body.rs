//! The body policy: decode, then identical bytes, then by kind (JSON canonically, record
//! streams record by record, text and binary as bytes). Invalid input always ends in a verdict with a note, never a panic.

use crate::decode::{self, DecodeError};
use crate::diff::{diff_values, Collector};
use crate::display::{binary_preview, text_preview, value_text};
use crate::grpc::{self, Fallback, GrpcCall};
use crate::json::{self, JsonError, Value};
use crate::media::{self, BodyKind};
use crate::model::{ChangeKind, CompareLimits, Difference, MatchKind, Part, Response, SkipReason};
use crate::rules::RuleSet;
use crate::streams;
use crate::verdict::{BodyOutcome, BodyVerdict};
use crate::whitespace;

pub(crate) fn compare_body(
    p: &Response<'_>,
    c: &Response<'_>,
    call: Option<GrpcCall<'_>>,
    rules: &RuleSet,
    limits: &CompareLimits,
    out: &mut Collector,
) -> BodyVerdict {
    let (pc, cc) = (decode::codings(p.headers), decode::codings(c.headers));
    // The common case: same bytes in the same coding, nothing to decode or parse.
    if p.body == c.body && pc == cc {
        return BodyVerdict::new(BodyOutcome::Equal(MatchKind::Identical), None);
    }
    let decoded = |side: &str, body, codings: Result<Vec<_>, _>| {
        codings
            .and_then(|cs| decode::decode(body, &cs, limits.max_decoded_bytes))
            .map_err(|e| (side.to_owned(), e))
    };
    let (pd, cd) = match (
        decoded("primary", p.body, pc),
        decoded("candidate", c.body, cc),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) if !matches!(e.1, DecodeError::Corrupt(_)) => {
            return skipped(&e.0, &e.1, limits)
        }
        (a, b) => return undecodable(p.body, c.body, a.err(), b.err(), limits, out),
    };
    if pd == cd {
        return BodyVerdict::new(BodyOutcome::Equal(MatchKind::Identical), None);
    }
    match media::kind(p.headers, &pd).max(media::kind(c.headers, &cd)) {
        BodyKind::Json => json_bodies(&pd, &cd, rules, limits, out),
        BodyKind::Records(format) => streams::compare(format, &pd, &cd, rules, limits, out),
        BodyKind::Grpc(format) => {
            let (a, b) = (
                grpc::Body {
                    name: "primary",
                    headers: p.headers,
                    bytes: &pd,
                },
                grpc::Body {
                    name: "candidate",
                    headers: c.headers,
                    bytes: &cd,
                },
            );
            match grpc::compare(format, a, b, call, rules, limits, out) {
                Ok(verdict) | Err(Fallback::Skip(verdict)) => verdict,
                Err(Fallback::Bytes(note)) => {
                    bytes_differ(&pd, &cd, BodyKind::Binary, limits, out, Some(note))
                }
            }
        }
        kind => bytes_differ(&pd, &cd, kind, limits, out, None),
    }
}

fn skipped(side: &str, e: &DecodeError, limits: &CompareLimits) -> BodyVerdict {
    let (reason, note) = match e {
        DecodeError::Unsupported(name) => (
            SkipReason::UnsupportedEncoding,
            format!("{side} Content-Encoding `{name}` is not supported"),
        ),
        _ => (
            SkipReason::DecodedTooLarge,
            format!(
                "{side} body decodes past {} bytes",
                limits.max_decoded_bytes
            ),
        ),
    };
    BodyVerdict::new(BodyOutcome::Skipped(reason), Some(note))
}

/// At least one side failed to decode: the bodies differ (identical raw input was a match).
fn undecodable(
    a: &[u8],
    b: &[u8],
    ea: Option<(String, DecodeError)>,
    eb: Option<(String, DecodeError)>,
    limits: &CompareLimits,
    out: &mut Collector,
) -> BodyVerdict {
    let why = |e: Option<(String, DecodeError)>| match e {
        Some((side, DecodeError::Corrupt(msg))) => Some(format!("{side} body: {msg}")),
        _ => None,
    };
    let notes: Vec<String> = [why(ea), why(eb)].into_iter().flatten().collect();
    bytes_differ(a, b, BodyKind::Binary, limits, out, Some(notes.join("; ")))
}

fn json_bodies(
    a: &[u8],
    b: &[u8],
    rules: &RuleSet,
    limits: &CompareLimits,
    out: &mut Collector,
) -> BodyVerdict {
    let max = limits.max_value_chars;
    let (pa, pb) = (
        json::parse(a, limits.max_depth),
        json::parse(b, limits.max_depth),
    );
    if let Some(verdict) = too_deep(&pa, &pb) {
        return verdict;
    }
    match (pa, pb) {
        (Ok(x), Ok(y)) => {
            // Canonical equality, decided on the trees: `Value`'s equality is exactly "same
            // canonical text" (sorted unique members, exact integers, doubles by value), and a
            // walk that stops at the first difference costs less than serializing and hashing
            // both sides (a third of a key-order-only comparison's time went there).
            if x == y {
                return BodyVerdict::new(BodyOutcome::Equal(MatchKind::Canonical), None);
            }
            diff_values(&x, &y, rules, out);
            match out.found() {
                true => BodyVerdict::new(BodyOutcome::Differ, None),
                false => BodyVerdict::new(BodyOutcome::Equal(MatchKind::Rules), None),
            }
        }
        (Err(e), Ok(y)) => one_invalid("primary", &e, text_preview(a, max), &y, false, out),
        (Ok(x), Err(e)) => one_invalid("candidate", &e, text_preview(b, max), &x, true, out),
        (Err(ea), Err(eb)) => both_invalid(a, b, &ea, &eb, limits, out),
    }
}

/// Both sides are invalid JSON (for more than depth): compared with whitespace outside strings
/// ignored (see `whitespace`), so a reformatted copy of the same invalid body (a duplicate
/// key, a lone surrogate) is equal, and the note says how it was compared.
fn both_invalid(
    a: &[u8],
    b: &[u8],
    ea: &JsonError,
    eb: &JsonError,
    limits: &CompareLimits,
    out: &mut Collector,
) -> BodyVerdict {
    let how = format!(
        "both bodies are invalid JSON (primary: {ea}; candidate: {eb}); compared with whitespace \
         outside strings ignored"
    );
    let Some((at_a, at_b)) = whitespace::first_difference(a, b) else {
        return BodyVerdict::new(
            BodyOutcome::Equal(MatchKind::Canonical),
            Some(format!("{how}, they are equal")),
        );
    };
    out.push(Difference {
        part: Part::Body,
        path: String::new(),
        kind: ChangeKind::Changed,
        primary: Some(text_preview(a, limits.max_value_chars)),
        candidate: Some(text_preview(b, limits.max_value_chars)),
    });
    BodyVerdict::new(
        BodyOutcome::Differ,
        Some(format!(
            "{how}, they differ from byte {at_a} (primary) and byte {at_b} (candidate)"
        )),
    )
}

/// A side nested past the depth limit was never parsed to the end, so nothing is known about
/// how it compares (equal data reformatted must not come out a mismatch): the body is skipped.
fn too_deep(
    pa: &Result<Value<'_>, JsonError>,
    pb: &Result<Value<'_>, JsonError>,
) -> Option<BodyVerdict> {
    let deep = |r: &Result<Value<'_>, JsonError>| matches!(r, Err(JsonError::TooDeep { .. }));
    let note = match (pa, pb) {
        (Err(ea), Err(eb)) if deep(pa) && deep(pb) => format!(
            "both bodies nest deeper than the depth limit (primary: {ea}; candidate: {eb}); \
             not compared"
        ),
        // Against valid JSON a too-deep body cannot be equal: that is a mismatch (below), not
        // a skip that would hide a runaway nesting in v2.
        (Err(e), other @ Err(_)) if deep(pa) => one_too_deep("primary", e, "candidate", other),
        (other @ Err(_), Err(e)) if deep(pb) => one_too_deep("candidate", e, "primary", other),
        _ => return None,
    };
    Some(BodyVerdict::new(
        BodyOutcome::Skipped(SkipReason::TooDeep),
        Some(note),
    ))
}

fn one_too_deep(
    side: &str,
    e: &JsonError,
    other_side: &str,
    other: &Result<Value<'_>, JsonError>,
) -> String {
    let note = format!("{side} body nests deeper than the depth limit ({e}); not compared");
    match other {
        Err(other) => format!("{note}; {other_side} body is not valid JSON either: {other}"),
        Ok(_) => note,
    }
}

/// One side is JSON and the other is not: a type change at the root.
fn one_invalid(
    side: &str,
    e: &json::JsonError,
    invalid: String,
    valid: &Value<'_>,
    invalid_is_candidate: bool,
    out: &mut Collector,
) -> BodyVerdict {
    let valid = value_text(valid, out.max_value_chars());
    let (primary, candidate) = match invalid_is_candidate {
        true => (valid, invalid),
        false => (invalid, valid),
    };
    out.push(Difference {
        part: Part::Body,
        path: String::new(),
        kind: ChangeKind::TypeChanged,
        primary: Some(primary),
        candidate: Some(candidate),
    });
    BodyVerdict::new(
        BodyOutcome::Differ,
        Some(format!("{side} body is not valid JSON: {e}")),
    )
}

/// Bodies compared as bytes that differ: one root difference with previews.
fn bytes_differ(
    a: &[u8],
    b: &[u8],
    kind: BodyKind,
    limits: &CompareLimits,
    out: &mut Collector,
    note: Option<String>,
) -> BodyVerdict {
    let show = |body: &[u8]| match kind {
        BodyKind::Binary => binary_preview(body),
        _ => text_preview(body, limits.max_value_chars),
    };
    out.push(Difference {
        part: Part::Body,
        path: String::new(),
        kind: ChangeKind::Changed,
        primary: Some(show(a)),
        candidate: Some(show(b)),
    });
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let first = format!("bodies differ from byte {at}");
    let note = match note {
        Some(n) if !n.is_empty() => format!("{n}; {first}"),
        _ => first,
    };
    BodyVerdict::new(BodyOutcome::Differ, Some(note))
}
