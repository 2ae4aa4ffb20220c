//! Hop-by-hop header handling (RFC 9110 §7.6.1) and forwarding headers.
//!
//! `TE: trailers` is the one TE value a proxy forwards (gRPC servers refuse a call without it),
//! and `Trailer`, which declares the trailer fields, is end to end: HTTP/1.1 servers (hyper's
//! among them) send trailers only for the fields it names.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Fixed hop-by-hop fields; `Proxy-*`, `TE` and whatever `Connection` names are handled
/// separately.
const HOP_BY_HOP: [HeaderName; 4] = [
    header::CONNECTION,
    KEEP_ALIVE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Remove hop-by-hop headers in place. Allocation-free when there is nothing to remove, which is
/// the common case on the request path.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Fields named by Connection go first, while Connection is still there to read.
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if headers.contains_key(header::TE) {
        let trailers = headers
            .get_all(header::TE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("trailers")
            });
        headers.remove(header::TE);
        if trailers {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
    }
    if headers.keys().any(is_proxy_header) {
        let proxy: Vec<HeaderName> = headers
            .keys()
            .filter(|n| is_proxy_header(n))
            .cloned()
            .collect();
        for name in proxy {
            headers.remove(name);
        }
    }
    headers.remove(PROXY_CONNECTION);
}

fn is_proxy_header(name: &HeaderName) -> bool {
    is_proxy_name(name.as_str())
}

/// `Proxy-Authorization`, `Proxy-Authenticate`, `Proxy-Connection`… are for this hop only.
fn is_proxy_name(name: &str) -> bool {
    name.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
}

/// A field name (any case) that never crosses the proxy: the fixed hop-by-hop fields, `TE` and
/// `Proxy-*` — for the relay, which reads names off the wire; what `Connection` names is the
/// caller's to add.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h.as_str()))
        || name.eq_ignore_ascii_case("te")
        || is_proxy_name(name)
}

/// `name: value\r\n` onto a head being written, the name lower-cased as hyper writes it.
pub fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend(name.iter().map(u8::to_ascii_lowercase));
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A field read off the wire as a map entry; `None` for a name or value a `HeaderMap` cannot
/// hold.
pub fn field(name: &[u8], value: &[u8]) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_bytes(name).ok()?,
        HeaderValue::from_bytes(value).ok()?,
    ))
}

/// Append the client address to `X-Forwarded-For` and set `X-Forwarded-Proto`.
/// `client` is the peer address as a header value, made once per connection: without a chain
/// to extend, this costs no allocation per request.
pub fn add_forwarded(headers: &mut HeaderMap, client: &HeaderValue, proto: &'static str) {
    let value = match headers.get(&X_FORWARDED_FOR).map(HeaderValue::as_bytes) {
        Some(prev) if !prev.is_empty() => {
            HeaderValue::from_bytes(&forwarded_chain(prev, client.as_bytes())).ok()
        }
        _ => Some(client.clone()),
    };
    if let Some(v) = value {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
}

/// A client's non-empty `X-Forwarded-For` chain extended with the peer: `prev, client`.
pub fn forwarded_chain(prev: &[u8], client: &[u8]) -> Vec<u8> {
    let mut chain = Vec::with_capacity(prev.len() + 2 + client.len());
    chain.extend_from_slice(prev);
    chain.extend_from_slice(b", ");
    chain.extend_from_slice(client);
    chain
}

/// The peer's address as an `X-Forwarded-For` element.
pub fn peer_value(ip: std::net::IpAddr) -> HeaderValue {
    // An IP address always renders as a valid header value.
    HeaderValue::from_str(&ip.to_string()).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// A gRPC call (`content-type: application/grpc…`)?
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| is_grpc_type(v.as_bytes()))
}

/// A gRPC content type (`application/grpc`, `application/grpc+proto`…).
pub fn is_grpc_type(content_type: &[u8]) -> bool {
    content_type.starts_with(b"application/grpc")
}

/// The deadline a gRPC client gave its call (`grpc-timeout`: up to 8 digits and a unit, H M S m
/// u n), if it gave one that parses.
pub fn grpc_timeout(headers: &HeaderMap) -> Option<std::time::Duration> {
    use std::time::Duration;
    let v = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// An upstream's deadline for this request: a gRPC call's own `grpc-timeout` (at most
/// `grpc.max_timeout`), else the upstream's `timeout`.
pub fn upstream_deadline(
    headers: &HeaderMap,
    grpc: &config::Grpc,
    timeout: std::time::Duration,
) -> std::time::Duration {
    grpc_timeout(headers).map_or(timeout, |t| t.min(grpc.max_timeout))
}

/// The `Content-Length` a message declared, if it declared one that parses.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_fixed_named_and_proxy_headers_only() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic abc"),
            ("proxy-connection", "keep-alive"),
            ("content-type", "application/json"),
            ("x-request-id", "r1"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            vec!["content-type", "te", "trailer", "x-request-id"],
            "TE: trailers and Trailer are kept; the rest of the hop goes"
        );
        assert_eq!(h["te"], "trailers");
    }

    #[test]
    fn grpc_timeouts_parse_with_their_units() {
        use std::time::Duration;
        let t = |v: &str| grpc_timeout(&map(&[("grpc-timeout", v)]));
        assert_eq!(t("100m"), Some(Duration::from_millis(100)));
        assert_eq!(t("2S"), Some(Duration::from_secs(2)));
        assert_eq!(t("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(t("5u"), Some(Duration::from_micros(5)));
        assert_eq!(t("123456789S"), None, "at most 8 digits");
        assert_eq!(t("S"), None);
        assert_eq!(t("10x"), None);
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn te_keeps_only_trailers() {
        let mut h = map(&[("te", "gzip;q=0.5, Trailers")]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h["te"], "trailers");
        let mut h = map(&[("te", "gzip, deflate")]);
        strip_hop_by_hop(&mut h);
        assert!(!h.contains_key("te"));
    }

    #[test]
    fn forwarded_for_appends_to_existing_chain() {
        let mut h = map(&[("x-forwarded-for", "10.0.0.1")]);
        add_forwarded(&mut h, &peer_value("127.0.0.1".parse().unwrap()), "http");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        let mut fresh = HeaderMap::new();
        add_forwarded(&mut fresh, &peer_value("::1".parse().unwrap()), "https");
        assert_eq!(fresh["x-forwarded-for"], "::1");
        assert_eq!(fresh["x-forwarded-proto"], "https");
    }
}
