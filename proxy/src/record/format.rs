//! The recording's line format, version 1: one JSON object per exchange, one per line, in
//! zstd-compressed files (`zstd -dc FILE | jq`). docs/recording.md is the reference; a change
//! that old readers would misread bumps [`VERSION`].

use std::borrow::Cow;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The `version` of every line this build writes; readers refuse others line by line.
pub const VERSION: u32 = 1;

/// One recorded exchange (written through [`LineRef`], its borrowed twin).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Line {
    pub version: u32,
    /// When the request arrived, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// The route it fell under when recorded (informational: replay routes by its own config).
    pub route: String,
    pub method: String,
    /// Path and query, as the client sent them (secrets scrubbed).
    pub uri: String,
    pub request: Message,
    pub primary: Answer,
    /// v2's answer, when the request was mirrored and `include_candidate` is on.
    #[serde(default)]
    pub candidate: Option<Answer>,
    pub verdict: VerdictLine,
}

/// A request: headers in order (repeats kept) and the body.
// Read through a flat twin: serde's `flatten` buffers the whole object to deserialize it,
// which made reading a line (and so replay) markedly slower.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "MessageWire")]
pub struct Message {
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// A response: status, headers, body, and the time to its headers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "AnswerWire")]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub latency_ms: f64,
}

#[derive(Deserialize)]
struct MessageWire {
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_json: Option<Box<RawValue>>,
    #[serde(default)]
    body_base64: Option<String>,
}

impl From<MessageWire> for Message {
    fn from(w: MessageWire) -> Self {
        Self {
            headers: w.headers,
            body: Body {
                body: w.body,
                body_json: w.body_json,
                body_base64: w.body_base64,
            },
        }
    }
}

#[derive(Deserialize)]
struct AnswerWire {
    status: u16,
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_json: Option<Box<RawValue>>,
    #[serde(default)]
    body_base64: Option<String>,
    latency_ms: f64,
}

impl From<AnswerWire> for Answer {
    fn from(w: AnswerWire) -> Self {
        Self {
            status: w.status,
            headers: w.headers,
            body: Body {
                body: w.body,
                body_json: w.body_json,
                body_base64: w.body_base64,
            },
            latency_ms: w.latency_ms,
        }
    }
}

/// A body, one of three ways, none when empty: `body_json`, the body itself when it is a JSON
/// object or array on one line (kept byte for byte, readable with jq, and cheap to read back:
/// no string to unescape); `body` when it is other UTF-8 text; `body_base64` otherwise.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Body {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub body_json: Option<Box<RawValue>>,
    #[serde(default)]
    pub body_base64: Option<String>,
}

impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body
            && self.body_base64 == other.body_base64
            && self.body_json.as_ref().map(|r| r.get()) == other.body_json.as_ref().map(|r| r.get())
    }
}

impl Body {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        BodyRef::of_bytes(bytes).to_body()
    }

    /// A body known to be UTF-8 text.
    pub fn from_text(text: &str) -> Self {
        BodyRef::of_text(text).to_body()
    }

    fn as_ref(&self) -> BodyRef<'_> {
        BodyRef {
            body: self.body.as_deref(),
            body_json: self.body_json.as_deref(),
            body_base64: self.body_base64.as_deref().map(Cow::Borrowed),
        }
    }

    /// The body as text, as HAR carries it (`true` when that text is base64).
    pub fn text(&self) -> Option<(String, bool)> {
        match (&self.body, &self.body_json, &self.body_base64) {
            (Some(t), _, _) => Some((t.clone(), false)),
            (_, Some(raw), _) => Some((raw.get().to_owned(), false)),
            (_, _, Some(b)) => Some((b.clone(), true)),
            _ => None,
        }
    }

    pub fn to_bytes(&self) -> Result<bytes::Bytes, String> {
        self.clone().into_bytes()
    }

    /// The bytes, taking the text's buffer rather than copying it.
    pub fn into_bytes(self) -> Result<bytes::Bytes, String> {
        match (self.body, self.body_json, self.body_base64) {
            (Some(text), None, None) => Ok(bytes::Bytes::from(text.into_bytes())),
            (None, Some(raw), None) => Ok(bytes::Bytes::from(String::from(Box::<str>::from(raw)))),
            (None, None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(bytes::Bytes::from)
                .map_err(|e| format!("body_base64: {e}")),
            (None, None, None) => Ok(bytes::Bytes::new()),
            _ => Err("more than one of body, body_json and body_base64 is set".into()),
        }
    }
}

/// `text` as a raw JSON value when it is a JSON object or array whose bytes survive exactly
/// (no surrounding whitespace) on one line (no CR or LF, which would end the line).
fn json_as_is(text: &str) -> Option<&RawValue> {
    // One vectorised search for both bytes: a `contains` over a set of chars walks the text char
    // by char, and two slice searches walk it twice.
    if !(text.starts_with('{') || text.starts_with('['))
        || memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_some()
    {
        return None;
    }
    // Borrowed: validated where it lies, not copied.
    let raw: &RawValue = serde_json::from_str(text).ok()?;
    (raw.get().len() == text.len()).then_some(raw)
}

/// What is written: a line borrowing from the exchange it records (the recorder encodes an
/// exchange without building an owned [`Line`] first), and the one definition of how a line
/// is spelled — the owned types serialize through it.
#[derive(Serialize)]
pub struct LineRef<'a> {
    pub version: u32,
    pub time: &'a str,
    pub route: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub request: MessageRef<'a>,
    pub primary: AnswerRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<AnswerRef<'a>>,
    pub verdict: &'a VerdictLine,
}

#[derive(Serialize)]
pub struct MessageRef<'a> {
    pub headers: Vec<(&'a str, Cow<'a, str>)>,
    #[serde(flatten)]
    pub body: BodyRef<'a>,
}

#[derive(Serialize)]
pub struct AnswerRef<'a> {
    pub status: u16,
    pub headers: Vec<(&'a str, Cow<'a, str>)>,
    #[serde(flatten)]
    pub body: BodyRef<'a>,
    pub latency_ms: f64,
}

/// A body as written, one of three ways, none when empty (see [`Body`]).
#[derive(Debug, Default, Serialize)]
pub struct BodyRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_json: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<Cow<'a, str>>,
}

impl<'a> BodyRef<'a> {
    pub fn of_bytes(bytes: &'a [u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::of_text(text),
            Err(_) => Self {
                body_base64: Some(Cow::Owned(
                    base64::engine::general_purpose::STANDARD.encode(bytes),
                )),
                ..Self::default()
            },
        }
    }

    /// A body known to be UTF-8 text.
    pub fn of_text(text: &'a str) -> Self {
        if text.is_empty() {
            return Self::default();
        }
        match json_as_is(text) {
            Some(raw) => Self {
                body_json: Some(raw),
                ..Self::default()
            },
            None => Self {
                body: Some(text),
                ..Self::default()
            },
        }
    }

    pub fn to_body(&self) -> Body {
        Body {
            body: self.body.map(str::to_owned),
            body_json: self.body_json.map(RawValue::to_owned),
            body_base64: self.body_base64.as_ref().map(|b| b.to_string()),
        }
    }
}

/// Owned header pairs, borrowed for writing.
fn pair_refs(pairs: &[(String, String)]) -> Vec<(&str, Cow<'_, str>)> {
    pairs
        .iter()
        .map(|(n, v)| (n.as_str(), Cow::Borrowed(v.as_str())))
        .collect()
}

impl Message {
    fn as_ref(&self) -> MessageRef<'_> {
        MessageRef {
            headers: pair_refs(&self.headers),
            body: self.body.as_ref(),
        }
    }
}

impl Answer {
    fn as_ref(&self) -> AnswerRef<'_> {
        AnswerRef {
            status: self.status,
            headers: pair_refs(&self.headers),
            body: self.body.as_ref(),
            latency_ms: self.latency_ms,
        }
    }
}

impl Serialize for Line {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LineRef {
            version: self.version,
            time: &self.time,
            route: &self.route,
            method: &self.method,
            uri: &self.uri,
            request: self.request.as_ref(),
            primary: self.primary.as_ref(),
            candidate: self.candidate.as_ref().map(Answer::as_ref),
            verdict: &self.verdict,
        }
        .serialize(s)
    }
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_ref().serialize(s)
    }
}

impl Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_ref().serialize(s)
    }
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_ref().serialize(s)
    }
}

/// How the exchange ended on the shadow side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictLine {
    /// `match`, `mismatch`, `skipped` (with `reason`) or `not_mirrored`.
    pub result: String,
    /// For a mismatch: the parts that differ (`status`, `headers`, `body`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
    /// For a mismatch: where (JSON Pointers, header names, `(status)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl VerdictLine {
    pub fn not_mirrored() -> Self {
        Self::result("not_mirrored")
    }

    pub fn skipped(reason: &str) -> Self {
        Self {
            reason: Some(reason.to_owned()),
            ..Self::result("skipped")
        }
    }

    fn result(result: &str) -> Self {
        Self {
            result: result.to_owned(),
            parts: Vec::new(),
            paths: Vec::new(),
            reason: None,
        }
    }

    /// The engine's verdict, reduced to what a reader of the file needs.
    pub fn from_engine(v: &diff_engine::Verdict) -> Self {
        use diff_engine::Outcome;
        match &v.outcome {
            Outcome::Match(_) => Self::result("match"),
            Outcome::Mismatch(parts) => Self {
                parts: parts.iter().map(|p| p.as_str().to_owned()).collect(),
                paths: v
                    .differences
                    .iter()
                    .map(|d| crate::compare::record::display_path(d).to_owned())
                    .collect(),
                ..Self::result("mismatch")
            },
            Outcome::Skipped(r) => {
                Self::skipped(crate::observe::outcome::SkipReason::from_engine(*r).as_str())
            }
        }
    }
}

/// Header pairs as recorded: lower-case names, values as text (bytes that are not UTF-8 are
/// replaced, as a header value is almost always ASCII), borrowed from the map where they can be.
pub fn header_refs(headers: &http::HeaderMap) -> Vec<(&str, Cow<'_, str>)> {
    headers
        .iter()
        .map(|(k, v)| {
            // Visible ASCII (nearly every value) is checked faster than UTF-8 is decoded.
            let value = v
                .to_str()
                .map_or_else(|_| String::from_utf8_lossy(v.as_bytes()), Cow::Borrowed);
            (k.as_str(), value)
        })
        .collect()
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `2024-05-01T12:00:00.123Z` for milliseconds since the Unix epoch.
pub fn rfc3339(ms: u64) -> String {
    let (days, rest) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Milliseconds since the Unix epoch for an RFC 3339 time (`Z` or `±hh:mm`, any fraction);
/// `None` if it is not one. HAR's `startedDateTime` is one too.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let ms: String = frac[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = ms.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest.get(1..3)?.parse::<i64>().ok()? * 60
                + rest.get(4..6)?.parse::<i64>().ok()?)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let total = ((days * 24 + h) * 60 + mi - offset_min) * 60 + s;
    u64::try_from(total * 1000 + millis).ok()
}

/// Howard Hinnant's `civil_from_days`: a day count since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_offsets_are_honoured() {
        for ms in [0, 951_782_400_123, 1_717_243_200_999, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{}", rfc3339(ms));
        }
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            parse_rfc3339("2000-02-29T02:00:00.5+02:00"),
            Some(951_782_400_500)
        );
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn bodies_are_json_or_text_when_they_can_be_and_base64_otherwise() {
        let json = Body::from_bytes(b"{\"a\": [1, 2.50]}");
        assert_eq!(
            json.body_json.as_ref().map(|r| r.get()),
            Some("{\"a\": [1, 2.50]}")
        );
        assert_eq!(
            &json.clone().into_bytes().unwrap()[..],
            b"{\"a\": [1, 2.50]}"
        );
        for not_as_is in ["{\"a\":\n1}", " {}", "{\"a\":", "12", "plain"] {
            let b = Body::from_bytes(not_as_is.as_bytes());
            assert_eq!(
                b.body.as_deref(),
                Some(not_as_is),
                "{not_as_is:?} stays text"
            );
        }
        let text = Body::from_bytes(b"{\"a\":1} trailing");
        assert_eq!(text.body.as_deref(), Some("{\"a\":1} trailing"));
        let binary = Body::from_bytes(&[0xff, 0x00, 0x01]);
        assert_eq!(binary.body_base64.as_deref(), Some("/wAB"));
        assert_eq!(&binary.to_bytes().unwrap()[..], &[0xff, 0x00, 0x01]);
        assert_eq!(Body::from_bytes(b""), Body::default());
        let line = serde_json::to_string(&Message {
            headers: vec![("a".into(), "b".into())],
            body: json,
        })
        .unwrap();
        assert_eq!(
            line,
            r#"{"headers":[["a","b"]],"body_json":{"a": [1, 2.50]}}"#
        );
        let back: Message = serde_json::from_str(&line).unwrap();
        assert_eq!(&back.body.into_bytes().unwrap()[..], b"{\"a\": [1, 2.50]}");
    }
}
