//! A request head as the relay reads it: parsed by httparse, held to RFC 9112's framing rules,
//! and sorted into what the relay carries itself and what it leaves to hyper.
//!
//! The relay only carries the plain keep-alive request: HTTP/1.1, origin-form target, exactly
//! one Host, no body or one framed by a single plain Content-Length. Everything else — HTTP/1.0,
//! Transfer-Encoding, `Upgrade`, `Expect`, `TE`, `Connection` naming other fields, a repeated or
//! malformed Content-Length, a head httparse refuses — goes to hyper with the connection, whose
//! answers (and `forward::refuse`'s) are the proxy's one behaviour for them. Three things the
//! relay refuses itself, where hyper is lenient within what RFC 9112 allows: a bare LF (§2.2),
//! a Content-Length repeated with the same value (§6.3: hyper reads it as one), and a body
//! framed by both Content-Length and Transfer-Encoding (§6.1: hyper lets the encoding win and
//! closes the connection after). On neither path does a second request hide in a body.

use memchr::memchr_iter;

use crate::net::headers::is_grpc_type;
use crate::net::response::content_length;

/// What the bytes read so far hold.
pub enum Parsed<'b> {
    /// Not a whole head yet.
    Partial,
    /// A head the relay carries.
    Plain(Plain<'b>),
    /// Leave this connection to hyper from this request on.
    Hyper,
    /// Answer 400 and close.
    Refuse(&'static str),
}

/// A plain request's head: slices of the read buffer.
pub struct Plain<'b> {
    /// Bytes of the head, blank line included: the body (if any) starts there.
    pub len: usize,
    pub method: &'b str,
    /// The origin-form target, query included.
    pub target: &'b str,
    pub headers: &'b [httparse::Header<'b>],
    /// Content-Length (0 without one).
    pub body: u64,
    /// `Connection: close`: the connection ends after this exchange.
    pub close: bool,
    /// A gRPC call, or a `grpc-timeout` that sets v1's deadline: `forward`'s to handle.
    pub grpc: bool,
}

impl Plain<'_> {
    /// The target's path, for routing (the query is not part of it).
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }
}

/// Parse `buf` with `storage` for the fields.
pub fn parse<'b>(buf: &'b [u8], storage: &'b mut [httparse::Header<'b>]) -> Parsed<'b> {
    let mut req = httparse::Request::new(storage);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        // hyper parses it again and answers (400, 431…) as it always has.
        Err(_) => return Parsed::Hyper,
    };
    if has_bare_lf(&buf[..len]) {
        return Parsed::Refuse("shadowdiff: a line of the request head ends in a bare LF\n");
    }
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Parsed::Hyper;
    };
    if method == "CONNECT" || !target.starts_with('/') {
        return Parsed::Hyper;
    }
    let mut body = None;
    let mut hosts = 0;
    let (mut close, mut chunked, mut grpc) = (false, false, false);
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            if body.is_some() {
                return Parsed::Refuse("shadowdiff: the request's body length is stated twice\n");
            }
            match content_length(h.value) {
                Some(n) => body = Some(n),
                None => return Parsed::Hyper,
            }
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            match connection(h.value) {
                Some(c) => close |= c,
                None => return Parsed::Hyper,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-type") {
            grpc |= is_grpc_type(h.value);
        } else if name.eq_ignore_ascii_case("grpc-timeout") {
            grpc = true;
        } else if name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("te")
            || name.eq_ignore_ascii_case("trailer")
        {
            return Parsed::Hyper;
        }
    }
    // Framed two ways: hyper would let the encoding win and close after; refused here.
    if chunked && body.is_some() {
        return Parsed::Refuse("shadowdiff: the request's body length is stated two ways\n");
    }
    if chunked || hosts != 1 {
        return Parsed::Hyper;
    }
    Parsed::Plain(Plain {
        len,
        method,
        target,
        headers: req.headers,
        body: body.unwrap_or(0),
        close,
        grpc,
    })
}

/// An LF not preceded by CR.
fn has_bare_lf(head: &[u8]) -> bool {
    memchr_iter(b'\n', head).any(|i| i == 0 || head[i - 1] != b'\r')
}

/// `Connection` tokens: `Some(true)` when it asks to close, `None` when it names anything but
/// `close` and `keep-alive` (fields to strip as hop-by-hop: hyper's path does that).
fn connection(value: &[u8]) -> Option<bool> {
    let mut close = false;
    for token in value.split(|b| *b == b',') {
        let token = token.trim_ascii();
        if token.eq_ignore_ascii_case(b"close") {
            close = true;
        } else if !token.eq_ignore_ascii_case(b"keep-alive") && !token.is_empty() {
            return None;
        }
    }
    Some(close)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::response::MAX_HEADERS;

    fn kind(wire: &[u8]) -> &'static str {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match parse(wire, &mut storage) {
            Parsed::Partial => "partial",
            Parsed::Plain(_) => "plain",
            Parsed::Hyper => "hyper",
            Parsed::Refuse(_) => "refuse",
        }
    }

    #[test]
    fn only_the_plain_request_is_relayed() {
        assert_eq!(kind(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n"), "plain");
        assert_eq!(kind(b"GET /a HTTP/1.1\r\nhost: x\r\n"), "partial");
        assert_eq!(kind(b"GET /a HTTP/1.0\r\nhost: x\r\n\r\n"), "hyper");
        assert_eq!(kind(b"GET http://x/a HTTP/1.1\r\nhost: x\r\n\r\n"), "hyper");
        assert_eq!(kind(b"CONNECT x:443 HTTP/1.1\r\nhost: x\r\n\r\n"), "hyper");
        for h in [
            "content-length: +1",
            "content-length: 1, 1",
            "content-length: 99999999999999999999",
            "transfer-encoding: chunked",
            "upgrade: websocket",
            "expect: 100-continue",
            "te: trailers",
            "connection: x-secret",
            "host: y",
        ] {
            let wire = format!("POST /a HTTP/1.1\r\nhost: x\r\n{h}\r\n\r\n");
            assert_eq!(kind(wire.as_bytes()), "hyper", "{h}");
        }
        assert_eq!(kind(b"GET /a HTTP/1.1\r\n\r\n"), "hyper", "no host");
        assert_eq!(kind(b"GET /a HTTP/1.1\nhost: x\n\n"), "refuse");
        assert_eq!(
            kind(b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n"),
            "refuse"
        );
        assert_eq!(kind(b"GET /a HTTP/1.1\r\nhost: x\nx: 1\r\n\r\n"), "refuse");
        assert_eq!(
            kind(b"GET /a HTTP/1.1\r\nhost: x\r\nx: 1\r\n  2\r\n\r\n"),
            "hyper"
        );
        assert_eq!(
            kind(b"GET /a HTTP/1.1\r\nhost: x\r\nx: 1\x002\r\n\r\n"),
            "hyper"
        );
    }

    #[test]
    fn connection_close_and_length_are_read() {
        let wire = b"POST /a?q=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\nContent-Length: 12\r\n\r\n";
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let Parsed::Plain(p) = parse(wire, &mut storage) else {
            panic!("plain")
        };
        assert!(p.close);
        assert_eq!(p.body, 12);
        assert_eq!(p.path(), "/a");
        assert_eq!(p.len, wire.len());
        assert_eq!(
            content_length(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(content_length(b"18446744073709551616"), None);
    }
}
