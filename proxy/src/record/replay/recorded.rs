//! One recorded exchange as replay sends it, parsed on the reader thread from a line that is a
//! slice of a decompressed chunk: strings, header values and bodies stay slices of that chunk
//! (no copy unless JSON escaping forced one), and the header maps are built before the line
//! reaches a worker. The format is `record::format`'s (docs/recording.md); fields replay does
//! not use (`route`, `candidate`, `verdict`) are required as the format requires them and skipped
//! unread.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::observe::redact::REDACTED;
use crate::record::format::{parse_rfc3339, VERSION};

/// A recorded request and v1's recorded answer, ready to send and compare.
#[derive(Debug)]
pub struct Recorded {
    pub method: Method,
    pub pq: PathAndQuery,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When the request arrived, in milliseconds since the epoch (for `--speed`).
    pub time_ms: Option<u64>,
    pub primary: RecordedAnswer,
}

/// v1's answer as recorded.
#[derive(Debug)]
pub struct RecordedAnswer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub latency: Duration,
}

impl Recorded {
    /// The exchange on `line`, or why the line is not one.
    pub fn parse(line: &Bytes) -> Result<Self, String> {
        let wire: LineWire<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        if wire.version != VERSION {
            return Err(format!(
                "version {} (this build reads {VERSION})",
                wire.version
            ));
        }
        let method = Method::from_bytes(wire.method.0.as_bytes())
            .map_err(|_| format!("method {:?}: not an HTTP method", wire.method.0))?;
        let target = match without_redacted_params(&wire.uri.0) {
            Some(kept) => Bytes::from(kept),
            None => bytes_of(line, &wire.uri),
        };
        let pq = PathAndQuery::from_maybe_shared(target)
            .map_err(|_| format!("uri {:?}: not a request target", wire.uri.0))?;
        let (request, primary) = (&wire.request, &wire.primary);
        let (Some(status), Some(latency_ms)) = (primary.status, primary.latency_ms) else {
            return Err("primary: `status` and `latency_ms` are required".into());
        };
        // A negative time reads as none; one past what a `Duration` holds is not a time.
        let latency = Duration::try_from_secs_f64(latency_ms.max(0.0) / 1000.0)
            .map_err(|_| format!("primary: latency_ms {latency_ms:e} is not a duration"))?;
        Ok(Self {
            method,
            pq,
            headers: header_map(line, &request.headers),
            body: request.body(line).map_err(|e| format!("request: {e}"))?,
            time_ms: parse_rfc3339(&wire.time.0),
            primary: RecordedAnswer {
                status,
                headers: header_map(line, &primary.headers),
                body: primary.body(line).map_err(|e| format!("primary: {e}"))?,
                latency,
            },
        })
    }
}

/// A line's recorded arrival in milliseconds since the epoch, the rest of it unread (to put
/// lines of several files in time order before they are parsed where they are sent).
pub fn time_ms(line: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Timed<'a> {
        #[serde(borrow)]
        time: Text<'a>,
    }
    let timed: Timed<'_> = serde_json::from_slice(line).ok()?;
    parse_rfc3339(&timed.time.0)
}

/// A JSON string, borrowed from the line unless it had escapes to undo.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct LineWire<'a> {
    version: u32,
    #[serde(borrow)]
    time: Text<'a>,
    #[serde(rename = "route")]
    _route: IgnoredAny,
    #[serde(borrow)]
    method: Text<'a>,
    #[serde(borrow)]
    uri: Text<'a>,
    #[serde(borrow)]
    request: PartWire<'a>,
    #[serde(borrow)]
    primary: PartWire<'a>,
    #[serde(rename = "candidate", default)]
    _candidate: Option<IgnoredAny>,
    #[serde(rename = "verdict")]
    _verdict: IgnoredAny,
}

/// A request or an answer: the request has no `status` and no `latency_ms`, an answer must
/// have both (checked after reading). The body's three fields are spelled out, not
/// `flatten`ed: serde buffers a flattened struct's whole object before reading it.
#[derive(Deserialize)]
struct PartWire<'a> {
    #[serde(default)]
    status: Option<u16>,
    #[serde(borrow)]
    headers: Vec<(Text<'a>, Text<'a>)>,
    #[serde(borrow, default)]
    body: Option<Text<'a>>,
    #[serde(borrow, default)]
    body_json: Option<&'a RawValue>,
    #[serde(borrow, default)]
    body_base64: Option<Text<'a>>,
    #[serde(default)]
    latency_ms: Option<f64>,
}

impl PartWire<'_> {
    fn body(&self, line: &Bytes) -> Result<Bytes, String> {
        body(line, &self.body, self.body_json, &self.body_base64)
    }
}

/// A body given one of three ways (`record::format::Body`), none when empty.
fn body(
    line: &Bytes,
    text: &Option<Text<'_>>,
    json: Option<&RawValue>,
    encoded: &Option<Text<'_>>,
) -> Result<Bytes, String> {
    match (text, json, encoded) {
        (Some(text), None, None) => Ok(bytes_of(line, text)),
        (None, Some(raw), None) => Ok(line.slice_ref(raw.get().as_bytes())),
        (None, None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.0.as_bytes())
            .map(Bytes::from)
            .map_err(|e| format!("body_base64: {e}")),
        (None, None, None) => Ok(Bytes::new()),
        _ => Err("more than one of body, body_json and body_base64 is set".into()),
    }
}

/// The URI without the query parameters whose values were redacted when recorded (`None`
/// when it has none): as with a redacted header, a credential that was never recorded is not
/// sent as `[redacted]`.
fn without_redacted_params(uri: &str) -> Option<String> {
    let (path, query) = uri.split_once('?')?;
    if !query.contains(REDACTED) {
        return None;
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| p.split_once('=').is_none_or(|(_, v)| v != REDACTED))
        .collect();
    Some(if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    })
}

/// A string of the line as bytes: a slice of the line when it was borrowed from it.
fn bytes_of(line: &Bytes, text: &Text<'_>) -> Bytes {
    match &text.0 {
        Cow::Borrowed(s) => line.slice_ref(s.as_bytes()),
        Cow::Owned(s) => Bytes::copy_from_slice(s.as_bytes()),
    }
}

/// Recorded header pairs as a map; redacted values are left out (a credential that was never
/// recorded is not sent as `[redacted]`; `candidate.add_headers` can supply a test one), and so
/// are values a header cannot carry (control characters).
fn header_map(line: &Bytes, pairs: &[(Text<'_>, Text<'_>)]) -> HeaderMap {
    // Room for what the shaping adds (Host, the mirror mark, `add_headers`) without a rehash.
    let mut map = HeaderMap::with_capacity(pairs.len() + 4);
    for (name, value) in pairs {
        if value.0 == REDACTED {
            continue;
        }
        // `from_bytes`, not `from_lowercase`: the latter lets through characters that are not
        // a token's (a `"`), and a name no server would accept would be sent.
        let n = HeaderName::from_bytes(name.0.as_bytes());
        if let (Ok(n), Ok(v)) = (n, HeaderValue::from_maybe_shared(bytes_of(line, value))) {
            map.append(n, v);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::format::{Answer, Body, Line, Message, VerdictLine};

    fn line(request_body: Body, primary_body: Body) -> Line {
        Line {
            version: VERSION,
            time: "2026-01-01T00:00:01.500Z".into(),
            route: "orders".into(),
            method: "POST".into(),
            uri: "/orders/7?x=1".into(),
            request: Message {
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("authorization".into(), REDACTED.into()),
                    ("x-quote".into(), "say \"hi\"".into()),
                    ("X-Upper".into(), "kept".into()),
                    ("x-accent".into(), "café".into()),
                    ("x-twice".into(), "1".into()),
                    ("x-twice".into(), "2".into()),
                ],
                body: request_body,
            },
            primary: Answer {
                status: 201,
                headers: vec![("etag".into(), "\"v1\"".into())],
                body: primary_body,
                latency_ms: 12.5,
            },
            candidate: None,
            verdict: VerdictLine::not_mirrored(),
        }
    }

    fn parsed(line: &Line) -> Result<Recorded, String> {
        Recorded::parse(&Bytes::from(serde_json::to_vec(line).unwrap()))
    }

    #[test]
    fn a_line_reads_as_the_owned_format_reads_it() {
        for (req, resp) in [
            (&b"{\"a\": [1, 2.50]}"[..], &b"plain \"text\"\n"[..]),
            (&[0xff, 0x00][..], &b""[..]),
        ] {
            let l = line(Body::from_bytes(req), Body::from_bytes(resp));
            let r = parsed(&l).unwrap();
            assert_eq!(r.method, Method::POST);
            assert_eq!(r.pq.as_str(), l.uri);
            assert_eq!(&r.body[..], req);
            assert_eq!(&r.primary.body[..], resp);
            assert_eq!(r.primary.status, 201);
            assert_eq!(r.primary.latency, Duration::from_micros(12_500));
            assert_eq!(r.primary.headers["etag"], "\"v1\"");
            assert_eq!(r.time_ms, Some(1_767_225_601_500));
            let h = &r.headers;
            assert_eq!(h["x-quote"], "say \"hi\"", "an escaped value is unescaped");
            assert_eq!(h["x-upper"], "kept");
            assert!(
                h.get("authorization").is_none(),
                "a redacted value is not sent"
            );
            assert_eq!(
                h["x-accent"].as_bytes(),
                "café".as_bytes(),
                "sent as recorded"
            );
            let twice: Vec<_> = h.get_all("x-twice").iter().collect();
            assert_eq!(twice, ["1", "2"]);
        }
    }

    /// The owned reader's view of a line, as replay used to build it: the reference the
    /// borrowed reader is held to.
    fn owned_header_map(pairs: &[(String, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if value == REDACTED {
                continue;
            }
            let n = HeaderName::from_bytes(name.as_bytes());
            if let (Ok(n), Ok(v)) = (n, HeaderValue::from_str(value)) {
                map.append(n, v);
            }
        }
        map
    }

    use proptest::prelude::*;

    fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
        // Names valid or not, values with quotes, backslashes, controls, non-ASCII, redacted.
        let name = prop_oneof!["[a-z][a-z0-9-]{0,12}", r#"[A-Za-z "\\]{1,6}"#];
        let value = prop_oneof![
            "[ -~]{0,24}",
            "[\"\\\\\t\u{1}é✓ a-z]{0,12}",
            Just(REDACTED.to_owned())
        ];
        proptest::collection::vec((name, value), 0..6)
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            "[ -~\n\"é]{0,40}".prop_map(String::into_bytes),
            Just(br#"{"a":[1,2.50,"x\"y"],"b":{"c":null}}"#.to_vec()),
            Just(b"[1, 2]".to_vec()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the headers and bodies, the borrowed reader builds what the owned reader
        /// builds: the same header maps (redacted and unsendable values left out) and the same
        /// body bytes.
        #[test]
        fn borrowed_and_owned_readers_agree(
            req in pairs(), resp in pairs(), req_body in body(), resp_body in body(),
            status in 100u16..600,
        ) {
            let mut l = line(Body::from_bytes(&req_body), Body::from_bytes(&resp_body));
            l.request.headers = req.clone();
            l.primary.headers = resp.clone();
            l.primary.status = status;
            let text = serde_json::to_vec(&l).unwrap();
            let back: Line = serde_json::from_slice(&text).unwrap();
            let r = Recorded::parse(&Bytes::from(text)).unwrap();
            prop_assert_eq!(&r.headers, &owned_header_map(&back.request.headers));
            prop_assert_eq!(&r.primary.headers, &owned_header_map(&back.primary.headers));
            prop_assert_eq!(&r.body[..], &back.request.body.to_bytes().unwrap()[..]);
            prop_assert_eq!(&r.body[..], &req_body[..]);
            prop_assert_eq!(&r.primary.body[..], &resp_body[..]);
            prop_assert_eq!(r.primary.status, status);
        }

        /// Any bytes at all: a line or a reason, never a panic (a borrowed string is always a
        /// slice of the line it came from).
        #[test]
        fn any_bytes_are_a_line_or_a_reason(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Recorded::parse(&Bytes::from(bytes));
        }

        /// A real line cut or corrupted anywhere: a line or a reason, never a panic.
        #[test]
        fn a_damaged_line_is_a_line_or_a_reason(cut in 0usize..2000, flip in 0usize..2000, byte in any::<u8>()) {
            let mut text = serde_json::to_vec(&line(
                Body::from_bytes(br#"{"k":"v\u00e9"}"#),
                Body::from_bytes(&[0xff, 1, 2]),
            ))
            .unwrap();
            let at = flip % text.len();
            text[at] = byte;
            text.truncate(cut.min(text.len()));
            let _ = Recorded::parse(&Bytes::from(text));
        }
    }

    #[test]
    fn query_parameters_redacted_when_recorded_are_not_sent() {
        let mut l = line(Body::default(), Body::default());
        l.uri = "/orders/7?access_token=[redacted]&page=2&key=[redacted]".into();
        assert_eq!(parsed(&l).unwrap().pq.as_str(), "/orders/7?page=2");
        l.uri = "/orders/7?access_token=[redacted]".into();
        assert_eq!(parsed(&l).unwrap().pq.as_str(), "/orders/7");
        l.uri = "/orders/7?q=[redacted]x".into();
        assert_eq!(parsed(&l).unwrap().pq.as_str(), "/orders/7?q=[redacted]x");
    }

    #[test]
    fn a_line_that_cannot_be_sent_is_a_bad_line_that_says_why() {
        let mut l = line(Body::default(), Body::default());
        l.method = "GE T".into();
        assert!(parsed(&l).unwrap_err().contains("not an HTTP method"));
        let mut l = line(Body::default(), Body::default());
        l.uri = "no slash".into();
        assert!(parsed(&l).unwrap_err().contains("not a request target"));
        let mut l = line(Body::default(), Body::default());
        l.version = 2;
        assert!(parsed(&l).unwrap_err().contains("version 2"));
        let mut l = line(Body::default(), Body::from_bytes(b"x"));
        l.primary.body.body_base64 = Some("eA==".into());
        let e = parsed(&l).unwrap_err();
        assert!(e.starts_with("primary: more than one"), "{e}");
        let text = serde_json::to_string(&line(Body::default(), Body::default())).unwrap();
        let without_status = text.replace(r#""status":201,"#, "");
        assert!(Recorded::parse(&Bytes::from(without_status))
            .unwrap_err()
            .contains("status"));
        let without_verdict = text.replace(r#","verdict":{"result":"not_mirrored"}"#, "");
        assert!(Recorded::parse(&Bytes::from(without_verdict))
            .unwrap_err()
            .contains("verdict"));
        // A latency no duration holds (it aborted the replay): a bad line; a negative one is none.
        let endless = text.replace(r#""latency_ms":12.5"#, r#""latency_ms":1e308"#);
        let e = Recorded::parse(&Bytes::from(endless)).unwrap_err();
        assert!(e.contains("latency_ms 1e308 is not a duration"), "{e}");
        let negative = text.replace(r#""latency_ms":12.5"#, r#""latency_ms":-3"#);
        let r = Recorded::parse(&Bytes::from(negative)).unwrap();
        assert_eq!(r.primary.latency, Duration::ZERO);
    }
}
