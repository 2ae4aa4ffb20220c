//! How a body is compared, from its media type (or a sniff when there is none).

use http::header::CONTENT_TYPE;
use http::HeaderMap;

/// How a body is compared. When the two sides disagree the greater kind wins (a content-type
/// difference is a header difference already; the body is then read the more structured way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum BodyKind {
    Binary,
    Text,
    Json,
    /// A sequence of JSON records, compared record by record.
    Records(RecordFormat),
    /// Length-prefixed gRPC messages, compared message by message.
    Grpc(GrpcFormat),
}

/// How gRPC messages are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum GrpcFormat {
    /// `application/grpc`, `application/grpc+proto`: protobuf.
    Proto,
    /// `application/grpc+json`: JSON.
    Json,
}

/// How a record stream is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RecordFormat {
    /// NDJSON / JSON Lines: one JSON text per line, blank lines skipped.
    Lines,
    /// RFC 7464 JSON text sequences: each record starts with 0x1E (RS).
    JsonSeq,
    /// Server-sent events (`text/event-stream`): each event is a record.
    EventStream,
}

/// The kind for one side: `application/json` and `application/*+json` (any case, any
/// parameters) are JSON; NDJSON / JSON Lines, `application/json-seq` and `text/event-stream`
/// are record streams; `application/grpc` (`+proto`, `+json`) is gRPC; `text/*`, XML and JavaScript are text; without a Content-Type a body
/// that starts with `{` or `[` is JSON, other UTF-8 is text.
pub(crate) fn kind(headers: &HeaderMap, body: &[u8]) -> BodyKind {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return sniff(body);
    };
    let essence = String::from_utf8_lossy(value.as_bytes());
    let essence = essence
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (top, sub) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
    match (top, sub) {
        ("application", "json") | ("text", "json") => BodyKind::Json,
        (
            "application",
            "x-ndjson" | "ndjson" | "jsonl" | "x-jsonl" | "jsonlines" | "x-jsonlines",
        ) => BodyKind::Records(RecordFormat::Lines),
        ("application", "json-seq") => BodyKind::Records(RecordFormat::JsonSeq),
        ("text", "event-stream") => BodyKind::Records(RecordFormat::EventStream),
        ("application", "grpc" | "grpc+proto") => BodyKind::Grpc(GrpcFormat::Proto),
        ("application", "grpc+json") => BodyKind::Grpc(GrpcFormat::Json),
        ("application", s) if s.ends_with("+json") => BodyKind::Json,
        ("text", _) => BodyKind::Text,
        ("application", "xml" | "javascript" | "x-www-form-urlencoded") => BodyKind::Text,
        (_, s) if s.ends_with("+xml") => BodyKind::Text,
        _ => BodyKind::Binary,
    }
}

fn sniff(body: &[u8]) -> BodyKind {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => BodyKind::Json,
        _ if std::str::from_utf8(body).is_ok() => BodyKind::Text,
        _ => BodyKind::Binary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn classifies() {
        assert_eq!(kind(&with("application/json"), b""), BodyKind::Json);
        assert_eq!(
            kind(&with("Application/JSON; charset=utf-8"), b""),
            BodyKind::Json
        );
        assert_eq!(kind(&with("application/problem+json"), b""), BodyKind::Json);
        assert_eq!(kind(&with("text/html"), b"{"), BodyKind::Text);
        assert_eq!(kind(&with("image/png"), b"{"), BodyKind::Binary);
        assert_eq!(kind(&with("application/atom+xml"), b""), BodyKind::Text);
        assert_eq!(kind(&HeaderMap::new(), b" \n [1]"), BodyKind::Json);
        assert_eq!(kind(&HeaderMap::new(), b"hello"), BodyKind::Text);
        assert_eq!(kind(&HeaderMap::new(), b"\xff\x00"), BodyKind::Binary);
        let lines = BodyKind::Records(RecordFormat::Lines);
        for ct in [
            "application/x-ndjson",
            "application/jsonl; charset=utf-8",
            "Application/X-JSONLines",
        ] {
            assert_eq!(kind(&with(ct), b""), lines, "{ct}");
        }
        assert_eq!(
            kind(&with("application/json-seq"), b""),
            BodyKind::Records(RecordFormat::JsonSeq)
        );
        assert_eq!(
            kind(&with("text/event-stream; charset=utf-8"), b""),
            BodyKind::Records(RecordFormat::EventStream)
        );
        assert_eq!(
            kind(&with("application/grpc"), b""),
            BodyKind::Grpc(GrpcFormat::Proto)
        );
        assert_eq!(
            kind(&with("application/grpc+proto"), b""),
            BodyKind::Grpc(GrpcFormat::Proto)
        );
        assert_eq!(
            kind(&with("application/grpc+json"), b""),
            BodyKind::Grpc(GrpcFormat::Json)
        );
        // gRPC-Web carries its trailers in the body: not read as gRPC (compared as bytes).
        assert_eq!(
            kind(&with("application/grpc-web+proto"), b""),
            BodyKind::Binary
        );
    }
}
