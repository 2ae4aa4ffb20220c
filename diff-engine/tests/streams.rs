//! Record streams compared record by record (issue 22.4): NDJSON / JSON Lines, RFC 7464 JSON
//! text sequences, server-sent events.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

mod support;

use diff_engine::{CompareLimits, MatchKind, Outcome, Part, RuleSpec, SkipReason, Verdict};
use support::{ignore, paths};

const NDJSON: &str = "application/x-ndjson";
const SSE: &str = "text/event-stream";

fn run(ct: &str, a: &str, b: &str, spec: &RuleSpec) -> Verdict {
    support::bodies(
        ct,
        a.as_bytes(),
        b.as_bytes(),
        spec,
        &CompareLimits::default(),
    )
}

fn mismatch() -> Outcome {
    Outcome::Mismatch(vec![Part::Body])
}

#[test]
fn ndjson_equal_streams_reformatted_match_canonically() {
    let a = "{\"id\":1,\"price\":10}\n{\"id\":2,\"price\":20}\n";
    let b = "{ \"price\": 10, \"id\": 1.0 }\r\n\n   \n{\"price\":20,\"id\":2}";
    for ct in [
        NDJSON,
        "application/jsonl",
        "application/x-jsonlines; charset=utf-8",
    ] {
        let v = run(ct, a, b, &RuleSpec::default());
        assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical), "{ct}");
        assert_eq!(v.note, None);
    }
    // As one JSON body the same bytes are not even valid JSON.
    let v = run("application/json", a, b, &RuleSpec::default());
    assert_eq!(v.outcome, mismatch());
}

#[test]
fn ndjson_differences_name_the_record() {
    let a = "{\"id\":0}\n{\"id\":1}\n{\"id\":2}\n{\"id\":3,\"price\":10}\n";
    let b = "{\"id\":0}\n{\"id\":1}\n{\"id\":2}\n{\"id\":3,\"price\":11}\n{\"id\":4}\n";
    let v = run(NDJSON, a, b, &RuleSpec::default());
    assert_eq!(v.outcome, mismatch());
    assert_eq!(
        paths(&v),
        vec![("/3/price".into(), "changed"), ("/4".into(), "added")]
    );
    assert_eq!(v.differences[1].candidate.as_deref(), Some("{\"id\":4}"));
    let v = run(NDJSON, b, a, &RuleSpec::default());
    assert_eq!(
        paths(&v),
        vec![("/3/price".into(), "changed"), ("/4".into(), "removed")]
    );
}

#[test]
fn rules_see_the_index_as_the_first_segment() {
    let a = "{\"request_id\":\"a\",\"v\":1}\n{\"request_id\":\"b\",\"v\":2}\n";
    let b = "{\"request_id\":\"x\",\"v\":1}\n{\"request_id\":\"y\",\"v\":2}\n";
    let v = run(NDJSON, a, b, &ignore(&["/*/request_id"]));
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
    // Only the record it names.
    let v = run(NDJSON, a, b, &ignore(&["/0/request_id"]));
    assert_eq!(paths(&v), vec![("/1/request_id".into(), "changed")]);
    // A whole record, and a record on one side only at an ignored index.
    let v = run(
        NDJSON,
        a,
        &format!("{b}{{}}\n"),
        &ignore(&["/*/request_id", "/2"]),
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
}

#[test]
fn a_record_that_is_not_json_is_compared_as_text_in_its_place() {
    let a = "{\"a\":1}\nnot json\n{\"a\":3}\n";
    let b = "{\"a\":1}\nnot   json\n{\"a\":3}\n";
    let v = run(NDJSON, a, b, &RuleSpec::default());
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
    assert_eq!(
        v.note.as_deref(),
        Some(
            "primary record 1 is not valid JSON (invalid literal at byte 0), compared as \
             text; candidate record 1 is not valid JSON (invalid literal at byte 0), \
             compared as text"
        )
    );
    let v = run(
        NDJSON,
        a,
        "{\"a\":1}\nnot jsob\n{\"a\":4}\n",
        &RuleSpec::default(),
    );
    assert_eq!(
        paths(&v),
        vec![("/1".into(), "changed"), ("/2/a".into(), "changed")]
    );
    assert_eq!(v.differences[0].primary.as_deref(), Some("not json"));
    let v = run(
        NDJSON,
        a,
        "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n",
        &RuleSpec::default(),
    );
    assert_eq!(paths(&v), vec![("/1".into(), "type_changed")]);
    assert_eq!(
        v.note.as_deref(),
        Some(
            "primary record 1 is not valid JSON (invalid literal at byte 0), compared as \
             text"
        )
    );
    // A JSON string and the same characters unquoted are not the same record.
    let v = run(NDJSON, "\"abc\"\n", "abc\n", &RuleSpec::default());
    assert_eq!(paths(&v), vec![("/0".into(), "type_changed")]);
}

#[test]
fn json_text_sequences() {
    let a = "\u{1e}{\"id\":1,\"p\":2}\n\u{1e}[1,2]\n";
    let b = "\u{1e}\u{1e}{ \"p\" : 2, \"id\" : 1 }\n\u{1e}[1, 3]\n";
    let v = run("application/json-seq", a, b, &RuleSpec::default());
    assert_eq!(paths(&v), vec![("/1/1".into(), "changed")]);
    let v = run(
        "application/json-seq",
        a,
        &b.replace('3', "2"),
        &RuleSpec::default(),
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
}

#[test]
fn server_sent_events_compare_event_by_event() {
    let a = ": keep-alive\n\nevent: quote\nid: 1\ndata: {\"sym\":\"A\",\"price\":10}\n\n\
             event: quote\nid: 2\ndata: {\"sym\":\"B\",\n\
             data: \"price\":20}\n\n";
    let b = "event: quote\r\nid: 1\r\ndata:{\"price\":10.0,\"sym\":\"A\"}\r\n\r\n\
             :another comment\r\nevent: quote\r\nid: 2\r\ndata: {\"price\":20,\r\n\
             data: \"sym\":\"B\"}\r\n\r\n";
    let v = run(SSE, a, b, &RuleSpec::default());
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical), "{v:?}");
    let c = a
        .replace("\"price\":20", "\"price\":21")
        .replace("id: 1", "id: 9");
    let v = run(SSE, a, &c, &RuleSpec::default());
    assert_eq!(
        paths(&v),
        vec![
            ("/0/id".into(), "changed"),
            ("/1/data/price".into(), "changed")
        ]
    );
    let v = run(SSE, a, &c, &ignore(&["/*/id", "/*/data/price"]));
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
    // One more event.
    let v = run(
        SSE,
        a,
        &format!("{a}data: [DONE]\n\n"),
        &RuleSpec::default(),
    );
    assert_eq!(paths(&v), vec![("/2".into(), "added")]);
    assert_eq!(
        v.differences[0].candidate.as_deref(),
        Some("{\"data\":\"[DONE]\"}")
    );
}

#[test]
fn server_sent_event_data_that_is_not_json_is_text() {
    let v = run(
        SSE,
        "data: hello\n\n",
        "data: hellp\n\n",
        &RuleSpec::default(),
    );
    assert_eq!(paths(&v), vec![("/0/data".into(), "changed")]);
    assert_eq!(
        (
            v.differences[0].primary.as_deref(),
            v.differences[0].candidate.as_deref()
        ),
        (Some("\"hello\""), Some("\"hellp\""))
    );
    // JSON string data keeps its quotes, so it never equals the same characters unquoted, and
    // equal JSON strings spelled apart are equal.
    let v = run(
        SSE,
        "data: \"done\"\n\n",
        "data: done\n\n",
        &RuleSpec::default(),
    );
    assert_eq!(paths(&v), vec![("/0/data".into(), "changed")]);
    let v = run(
        SSE,
        "data: \"d\\u006fne\"\n\n",
        "data: \"done\"\n\n",
        &RuleSpec::default(),
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
    // An event with no data, a retry, and an unterminated last event are all compared.
    let v = run(
        SSE,
        "event: ping\n\nretry: 100\n\ndata: 1\n\n",
        "event: pong\n\nretry: 200\n\ndata: 1",
        &RuleSpec::default(),
    );
    assert_eq!(
        paths(&v),
        vec![
            ("/0/event".into(), "changed"),
            ("/1/retry".into(), "changed"),
            ("/2/unterminated".into(), "added"),
        ]
    );
}

#[test]
fn too_many_records_are_skipped() {
    let limits = CompareLimits {
        max_records: 3,
        ..CompareLimits::default()
    };
    let at = |n: usize| "{\"a\":1}\n".repeat(n);
    let v = support::bodies(
        NDJSON,
        at(3).as_bytes(),
        format!("{}\n\n", at(3)).as_bytes(),
        &RuleSpec::default(),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical));
    let v = support::bodies(
        NDJSON,
        at(3).as_bytes(),
        at(4).as_bytes(),
        &RuleSpec::default(),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::TooManyRecords));
    assert_eq!(
        v.note.as_deref(),
        Some("candidate body has more than 3 records; not compared")
    );
    assert_eq!(SkipReason::TooManyRecords.as_str(), "too_many_records");
    let events = "data: 1\n\n".repeat(4);
    let v = support::bodies(
        SSE,
        events.as_bytes(),
        b"data: 2\n\n",
        &RuleSpec::default(),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::TooManyRecords));
    // Identical bytes need no parse.
    let v = support::bodies(
        SSE,
        events.as_bytes(),
        events.as_bytes(),
        &RuleSpec::default(),
        &limits,
    );
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Identical));
}

#[test]
fn a_record_too_deep_to_parse() {
    let deep = "[".repeat(200);
    let deep2 = format!("{deep} ");
    // Nothing else differs: skipped, never a mismatch.
    let v = run(
        NDJSON,
        &format!("1\n{deep}\n"),
        &format!("1\n{deep2}\n"),
        &RuleSpec::default(),
    );
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::TooDeep));
    assert!(v
        .note
        .unwrap()
        .contains("record 1 nests deeper than the depth limit"));
    // Against a value: cannot be equal.
    let v = run(
        NDJSON,
        &format!("1\n{deep}\n"),
        "1\n[]\n",
        &RuleSpec::default(),
    );
    assert_eq!(paths(&v), vec![("/1".into(), "type_changed")]);
    // Another record differs: that is a mismatch.
    let v = run(
        NDJSON,
        &format!("1\n{deep}\n"),
        &format!("2\n{deep2}\n"),
        &RuleSpec::default(),
    );
    assert_eq!(paths(&v), vec![("/0".into(), "changed")]);
    // SSE data too deep.
    let v = run(
        SSE,
        &format!("data: {deep}\n\n"),
        &format!("data:{deep}\n\n"),
        &RuleSpec::default(),
    );
    assert_eq!(v.outcome, Outcome::Skipped(SkipReason::TooDeep));
}
