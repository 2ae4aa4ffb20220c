//! How a body is compared, from its media type (or a sniff when there is none).

use http::header::CONTENT_TYPE;
use http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum BodyKind {
    Binary,
    Text,
    Json,
}

/// The kind for one side: `application/json` and `application/*+json` (any case, any
/// parameters) are JSON; `text/*`, XML and JavaScript are text; without a Content-Type a body
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
    }
}
