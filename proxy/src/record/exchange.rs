//! One finished exchange as captured, in memory, on its way to the writer: bodies are still
//! the tee's reference-counted copies, reserved in the byte budget until the line is written.

use std::sync::Arc;

use http::{HeaderMap, Method};

use crate::compare::Side;
use crate::observe::redact::Redactor;
use crate::record::format::{header_pairs, rfc3339, Answer, Line, Message, VerdictLine, VERSION};
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
    /// The redacted line. Runs on the writer's thread: parsing bodies for redacted paths and
    /// encoding them costs nothing on the I/O threads.
    pub fn to_line(&self) -> Line {
        let request_headers = header_pairs(&self.request_headers);
        let s = Scrubber::new(&self.redact, &request_headers);
        let answer = |side: &Side| Answer {
            status: side.status,
            headers: s.headers(header_pairs(&side.headers)),
            body: s.body(&side.body.contiguous()),
            latency_ms: side.elapsed.as_secs_f64() * 1000.0,
        };
        Line {
            version: VERSION,
            time: rfc3339(self.time_ms),
            route: self.route.clone(),
            method: self.method.to_string(),
            uri: s.text(&self.uri).into_owned(),
            request: Message {
                headers: s.headers(request_headers),
                body: self
                    .request_body
                    .as_ref()
                    .map(|b| s.body(&b.contiguous()))
                    .unwrap_or_default(),
            },
            primary: answer(&self.primary),
            candidate: self.candidate.as_ref().map(answer),
            verdict: self.verdict.clone(),
        }
    }
}
