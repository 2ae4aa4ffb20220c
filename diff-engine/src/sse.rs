//! Server-sent events (`text/event-stream`, WHATWG HTML §9.2), each event a record.
//!
//! Read as a browser reads them: lines end in CRLF, LF or CR; a leading BOM is dropped; a line
//! starting with `:` is a comment (ignored); `field: value` loses one space after the colon; a
//! line without a colon is a field with an empty value; an empty line ends an event. Unknown
//! fields are ignored, an `id` holding NUL is ignored and `retry` counts only when it is all
//! ASCII digits, as in the spec. Invalid UTF-8 is read with replacement characters, as a client
//! decodes it.
//!
//! Each event is the object `{"data":…, "event":…, "id":…, "retry":…}` with only the members
//! the event sent: `event` and `id` are strings (the last line of each wins), `retry` an
//! integer (kept: a changed reconnection delay changes client behaviour; ignore `/*/retry` if
//! it does not matter), `data` the data lines joined by `\n`, parsed as JSON when it is JSON
//! (so `/3/data/price`), else the text as a string. Data that is a JSON *string* keeps its
//! quotes, as canonical JSON text (`"\"done\""`), so it never equals the same characters sent
//! unquoted (`done`). Two departures from what a browser dispatches, both so that a difference
//! on the wire is never hidden: an event with fields but no data (say `event: ping`) is a record
//! too, and a last event that the stream ends before its blank line is a record with
//! `"unterminated": true`.

use std::borrow::Cow;

use crate::canonical::write_string;
use crate::diff::Collector;
use crate::json::{self, JsonError, Value};
use crate::model::CompareLimits;
use crate::number::Number;
use crate::records::{self, Layout, Record, Side};
use crate::rules::RuleSet;
use crate::verdict::BodyVerdict;

pub(crate) fn compare(
    a: &[u8],
    b: &[u8],
    rules: &RuleSet,
    limits: &CompareLimits,
    out: &mut Collector,
) -> BodyVerdict {
    let (ea, eb) = match (events(a, limits.max_records), events(b, limits.max_records)) {
        (Ok(ea), Ok(eb)) => (ea, eb),
        (Err(TooMany), _) => return BodyVerdict::too_many_records("primary", limits),
        (_, Err(TooMany)) => return BodyVerdict::too_many_records("candidate", limits),
    };
    let (sa, sb) = (side("primary", &ea, limits), side("candidate", &eb, limits));
    records::compare(&sa, &sb, Layout::Indexed, rules, out, None)
}

/// One event as sent.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Event<'b> {
    /// The whole event as received, shown when its data cannot be parsed for depth.
    raw: &'b [u8],
    event: Option<Cow<'b, str>>,
    id: Option<Cow<'b, str>>,
    retry: Option<&'b str>,
    /// The data lines joined by `\n`; `None` when there was no data line.
    data: Option<Cow<'b, str>>,
    unterminated: bool,
}

#[derive(Debug, PartialEq)]
pub(crate) struct TooMany;

/// The events of a stream, at most `max` of them.
pub(crate) fn events(body: &[u8], max: usize) -> Result<Vec<Event<'_>>, TooMany> {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let mut out = Vec::new();
    let mut cur = Event::default();
    let (mut start, mut seen_field) = (0, false);
    let mut at = 0;
    while at < body.len() {
        let end = body[at..]
            .iter()
            .position(|&c| c == b'\n' || c == b'\r')
            .map_or(body.len(), |n| at + n);
        let line = &body[at..end];
        let next = match body.get(end..end + 2) {
            Some(b"\r\n") => end + 2,
            _ => end + 1,
        };
        if line.is_empty() {
            if seen_field {
                if out.len() == max {
                    return Err(TooMany);
                }
                cur.raw = &body[start..end];
                out.push(std::mem::take(&mut cur));
                seen_field = false;
            }
            start = next.min(body.len());
        } else if line[0] != b':' {
            seen_field |= field(&mut cur, line);
        }
        at = next;
    }
    // A stream that ends without the blank line that ends its last event.
    if seen_field {
        if out.len() == max {
            return Err(TooMany);
        }
        cur.raw = &body[start.min(body.len())..];
        cur.unterminated = true;
        out.push(cur);
    }
    Ok(out)
}

/// Applies one field line; whether it was a field the event keeps.
fn field<'b>(cur: &mut Event<'b>, line: &'b [u8]) -> bool {
    let (name, value) = match line.iter().position(|&c| c == b':') {
        Some(i) => {
            let v = &line[i + 1..];
            (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
        }
        None => (line, &b""[..]),
    };
    match name {
        b"event" => cur.event = Some(String::from_utf8_lossy(value)),
        b"data" => {
            let value = String::from_utf8_lossy(value);
            cur.data = Some(match cur.data.take() {
                None => value,
                Some(joined) => Cow::Owned(format!("{joined}\n{value}")),
            });
        }
        b"id" if !value.contains(&0) => cur.id = Some(String::from_utf8_lossy(value)),
        b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
            // All ASCII digits, so valid UTF-8.
            cur.retry = std::str::from_utf8(value).ok();
        }
        _ => return false,
    }
    true
}

fn side<'e>(name: &'static str, events: &'e [Event<'_>], limits: &CompareLimits) -> Side<'e> {
    let mut side = Side::new(name, "record");
    for (i, e) in events.iter().enumerate() {
        let record = match e.data.as_deref().map(|d| data_value(d, limits.max_depth)) {
            Some(Err(err)) => {
                side.fell_back(i, || {
                    format!("has data nested deeper than the depth limit ({err})")
                });
                Record::TooDeep(e.raw)
            }
            data => Record::Value(event_value(e, data.and_then(Result::ok))),
        };
        side.records.push(record);
    }
    side
}

/// The data as a value: JSON when it parses (a JSON string as its canonical text, quotes
/// included), else the text itself; an error only when it is JSON nested past the limit.
fn data_value(data: &str, max_depth: usize) -> Result<Value<'_>, JsonError> {
    match json::parse(data.as_bytes(), max_depth) {
        Ok(Value::String(s)) => {
            let mut quoted = Vec::with_capacity(s.len() + 2);
            write_string(&s, &mut quoted);
            Ok(Value::String(Cow::Owned(
                String::from_utf8_lossy(&quoted).into_owned(),
            )))
        }
        Ok(v) => Ok(v),
        Err(e @ JsonError::TooDeep { .. }) => Err(e),
        Err(_) => Ok(Value::String(Cow::Borrowed(data))),
    }
}

fn event_value<'e>(e: &'e Event<'_>, data: Option<Value<'e>>) -> Value<'e> {
    let text = |s: &'e Option<Cow<'_, str>>| s.as_deref().map(|s| Value::String(Cow::Borrowed(s)));
    // Members in canonical (sorted) order, as `Value::Object` requires.
    let members = [
        ("data", data),
        ("event", text(&e.event)),
        ("id", text(&e.id)),
        ("retry", e.retry.map(|r| Value::Number(Number::Int(r)))),
        ("unterminated", e.unterminated.then_some(Value::Bool(true))),
    ];
    Value::Object(
        members
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (Cow::Borrowed(k), v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// event, id, data, unterminated.
    type Seen = (Option<String>, Option<String>, Option<String>, bool);

    fn one(body: &str) -> Vec<Seen> {
        events(body.as_bytes(), 100)
            .unwrap()
            .into_iter()
            .map(|e| {
                (
                    e.event.map(Cow::into_owned),
                    e.id.map(Cow::into_owned),
                    e.data.map(Cow::into_owned),
                    e.unterminated,
                )
            })
            .collect()
    }

    #[test]
    fn reads_events_as_a_browser_does() {
        let body = "\u{feff}: comment\r\nevent: tick\r\ndata: a\r\ndata:b\r\n\r\n\
                    id: 7\rdata\r\rdata: {\"x\":1}\n\n\n:only a comment\n\nretry: 10\n\n";
        assert_eq!(
            one(body),
            vec![
                (Some("tick".into()), None, Some("a\nb".into()), false),
                (None, Some("7".into()), Some(String::new()), false),
                (None, None, Some("{\"x\":1}".into()), false),
                (None, None, None, false),
            ]
        );
        assert_eq!(
            one("data: 1\n\ndata: 2"),
            vec![
                (None, None, Some("1".into()), false),
                (None, None, Some("2".into()), true),
            ]
        );
        assert_eq!(one("bogus: 1\nid: a\0b\n\n"), vec![]);
        assert_eq!(events(b"data: 1\n\ndata: 2\n\n", 1), Err(TooMany));
        assert_eq!(events(b"data: 1\n\ndata: 2", 1), Err(TooMany));
        assert_eq!(events(b"data: 1\n\n", 1).map(|e| e.len()), Ok(1));
    }
}
