//! One finished exchange as captured, in memory, on its way to the writer: bodies are still
//! the tee's reference-counted copies, reserved in the byte budget until the line is written.

use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderMap, Method};

use crate::compare::Side;
use crate::observe::redact::Redactor;
use crate::record::format::{
    header_refs, rfc3339, AnswerRef, BodyRef, LineRef, MessageRef, VerdictLine, VERSION,
};
use crate::record::scrub::Scrubber;
use crate::tee::CapturedBody;

pub struct Exchange {
    pub time_ms: u64,
    pub route: String,
    pub method: Method,
    /// Path and query.
    pub uri: String,
    pub request_headers: HeaderMap,
    /// `None`: the request had no body.
    pub request_body: Option<CapturedBody>,
    pub primary: Side,
    pub candidate: Option<Side>,
    pub verdict: VerdictLine,
    /// What must not reach the file (`[report]` of the config the request ran under).
    pub redact: Arc<Redactor>,
}

impl Exchange {
    /// The redacted line, encoded onto `out` straight from the captured exchange: header names
    /// and values, bodies and the URI are borrowed, and only what redaction changes is copied.
    /// Runs on the writer's thread: parsing bodies for redacted paths and encoding them costs
    /// nothing on the I/O threads.
    pub fn encode(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let request_headers = header_refs(&self.request_headers);
        let s = Scrubber::new(
            &self.redact,
            request_headers.iter().map(|(n, v)| (*n, v.as_ref())),
            &self.uri,
        );
        let request_body = self.request_body.as_ref().map(CapturedBody::contiguous);
        let primary_body = self.primary.body.contiguous();
        let candidate_body = self.candidate.as_ref().map(|c| c.body.contiguous());
        // Redacted where they lie: a body with nothing to hide is not copied.
        let request_body = request_body.as_deref().map(|b| s.scrubbed(b));
        let primary_body = s.scrubbed(&primary_body);
        let candidate_body = candidate_body.as_deref().map(|b| s.scrubbed(b));
        let primary_headers = header_refs(&self.primary.headers);
        let candidate_headers = self.candidate.as_ref().map(|c| header_refs(&c.headers));
        let time = rfc3339(self.time_ms);
        let line = LineRef {
            version: VERSION,
            time: &time,
            route: &self.route,
            method: self.method.as_str(),
            uri: &s.uri(&self.uri),
            request: MessageRef {
                headers: s.header_refs(&request_headers),
                body: request_body
                    .as_deref()
                    .map(BodyRef::of_bytes)
                    .unwrap_or_default(),
            },
            primary: answer(&s, &self.primary, &primary_headers, &primary_body),
            candidate: match (&self.candidate, &candidate_headers, &candidate_body) {
                (Some(c), Some(h), Some(b)) => Some(answer(&s, c, h, b)),
                _ => None,
            },
            verdict: &self.verdict,
        };
        serde_json::to_writer(out, &line)
    }
}

/// One side's answer as written.
fn answer<'a>(
    s: &Scrubber<'_>,
    side: &Side,
    headers: &[(&'a str, Cow<'a, str>)],
    body: &'a [u8],
) -> AnswerRef<'a> {
    AnswerRef {
        status: side.status,
        headers: s.header_refs(headers),
        body: BodyRef::of_bytes(body),
        latency_ms: side.elapsed.as_secs_f64() * 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use http::{HeaderName, HeaderValue};

    use super::*;
    use crate::record::format::Line;
    use crate::tee::ByteBudget;

    fn redactor() -> Arc<Redactor> {
        Arc::new(crate::observe::redact::for_tests(
            "redact_paths = [\"/card/number\"]\n",
        ))
    }

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        map
    }

    fn side(status: u16, h: HeaderMap, body: &[u8]) -> Side {
        let budget = ByteBudget::new(1 << 20, prometheus::IntGauge::new("t", "t").unwrap(), 0);
        Side {
            status,
            headers: h,
            body: CapturedBody::detached(Bytes::copy_from_slice(body), &budget),
            elapsed: Duration::from_micros(2_500),
        }
    }

    const TOKEN: &str = "tok-1234567890abcdef";

    #[test]
    fn a_line_is_encoded_redacted_and_reads_back_to_the_same_bytes() {
        let budget = ByteBudget::new(1 << 20, prometheus::IntGauge::new("b", "b").unwrap(), 0);
        let exchange = Exchange {
            time_ms: 1_767_225_601_500,
            route: "orders".into(),
            method: Method::POST,
            uri: format!("/orders/1?token={TOKEN}"),
            request_headers: headers(&[
                ("authorization", format!("Bearer {TOKEN}").as_bytes()),
                ("x-echo", format!("was {TOKEN}").as_bytes()),
                ("x-latin", b"caf\xe9"),
                ("content-type", b"application/json"),
            ]),
            request_body: Some(CapturedBody::detached(
                Bytes::from(format!(r#"{{"token":"{TOKEN}","n":[1, 2.50]}}"#)),
                &budget,
            )),
            primary: side(
                201,
                headers(&[("set-cookie", b"sid=s3cr3t-value"), ("x-a", b"1")]),
                br#"{"card":{"number":"4242424242424242","brand":"visa"},"ok":true}"#,
            ),
            candidate: Some(side(500, HeaderMap::new(), &[0xff, 0x00, b'x'])),
            verdict: VerdictLine::not_mirrored(),
            redact: redactor(),
        };
        let mut out = Vec::new();
        exchange.encode(&mut out).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        for secret in [TOKEN, "s3cr3t-value", "4242424242424242"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let line: Line = serde_json::from_slice(&out).unwrap();
        assert_eq!(line.time, "2026-01-01T00:00:01.500Z");
        assert_eq!(line.uri, "/orders/1?token=[redacted]");
        assert_eq!(line.request.headers[0].1, "[redacted]");
        assert_eq!(line.request.headers[1].1, "was [redacted]");
        assert_eq!(
            line.request.headers[2].1, "caf\u{fffd}",
            "lossy, not dropped"
        );
        assert_eq!(
            line.request.body.body_json.as_ref().map(|r| r.get()),
            Some(r#"{"token":"[redacted]","n":[1, 2.50]}"#),
            "a JSON body is kept as itself, its spelling too"
        );
        assert_eq!(line.primary.headers[0].1, "[redacted]");
        let primary = line.primary.body.to_bytes().unwrap();
        assert!(std::str::from_utf8(&primary)
            .unwrap()
            .contains(r#""number":"[redacted]""#));
        assert_eq!(line.primary.latency_ms, 2.5);
        let candidate = line.candidate.as_ref().unwrap();
        assert_eq!(candidate.body.body_base64.as_deref(), Some("/wB4"));
        // The owned types write through the same definition: a line read back is the line.
        assert_eq!(serde_json::to_vec(&line).unwrap(), out);
    }
}
