//! An HTTP/1.1 response head as the plain-connection legs read it — the relay's v1 answer and
//! the v2 leg's — parsed with httparse and judged once: its framing (RFC 9112 §6.3), whether
//! the connection may carry another request, and which fields are end-to-end; and its body
//! walked by that framing ([`Body`]).

use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode};

use crate::net::chunked::{ChunkError, Decoder, Step};
use crate::net::headers::is_hop_by_hop;

/// hyper's own limit on header fields: a request head with more goes to hyper, which answers
/// it; a response head with more is refused.
pub const MAX_HEADERS: usize = 100;
/// The most of a head (request or response) a plain-connection leg buffers before giving up.
pub const MAX_HEAD: usize = 64 * 1024;

/// How a response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Until the upstream closes.
    Close,
}

/// What a head says about the exchange, owned.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub status: StatusCode,
    /// Bytes of the head (to drop from the buffer).
    pub len: usize,
    pub framing: Framing,
    /// The upstream may be asked for another request on this connection afterwards.
    pub reusable: bool,
    /// When the upstream may close the connection (its `Keep-Alive: timeout=N`), if it said.
    pub expires: Option<Instant>,
}

/// A parsed head: its shape, and its fields borrowed from the buffer.
pub struct Head<'b> {
    pub shape: Shape,
    pub reason: Option<&'b str>,
    pub fields: &'b [httparse::Header<'b>],
    /// What `Connection` names is hop-by-hop too.
    named: [&'b [u8]; 8],
    n_named: usize,
}

impl Head<'_> {
    /// A field to pass on: not hop-by-hop, not named by `Connection`.
    pub fn end_to_end(&self, name: &str) -> bool {
        !is_hop_by_hop(name)
            && !self.named[..self.n_named]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// Parse a response head from `buf`; `None` while incomplete. A 1xx head other than 101 comes
/// back with no body, for the caller to drop and read on; 101 to a request that asked for no
/// upgrade is refused.
pub fn parse<'b>(
    buf: &'b [u8],
    storage: &'b mut [httparse::Header<'b>],
    head_request: bool,
) -> Result<Option<Head<'b>>, &'static str> {
    let mut resp = httparse::Response::new(storage);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err("response head too large")
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("malformed response head"),
    };
    let status = StatusCode::from_u16(resp.code.unwrap_or(0)).map_err(|_| "invalid status code")?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err("101 to a request that asked for no upgrade");
    }
    let (version, reason, fields) = (resp.version, resp.reason, resp.headers);
    let mut head = Head {
        shape: Shape {
            status,
            len,
            framing: Framing::None,
            reusable: true,
            expires: None,
        },
        reason,
        fields: &*fields,
        named: [&[]; 8],
        n_named: 0,
    };
    if status.is_informational() {
        return Ok(Some(head));
    }
    let (mut close, mut keep) = (false, false);
    let (mut te, mut length) = (None, None);
    for h in head.fields {
        if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep = true;
                } else if head.n_named < head.named.len() {
                    head.named[head.n_named] = token;
                    head.n_named += 1;
                } else {
                    return Err("too many Connection options");
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = content_length(h.value).ok_or("invalid content-length")?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting content-length");
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("keep-alive") {
            head.shape.expires = expiry_of(h.value);
        }
    }
    let bodiless =
        head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let framing = match (bodiless, te, length) {
        (true, _, _) => Framing::None,
        (false, Some(te), _) if last_coding_is_chunked(te) => Framing::Chunked,
        (false, Some(_), _) => Framing::Close,
        (false, None, Some(n)) => Framing::Length(n),
        (false, None, None) => Framing::Close,
    };
    let closes = close || (version == Some(0) && !keep);
    // Length and encoding both: the framing is in doubt; the connection is not used again.
    let doubtful = te.is_some() && length.is_some();
    head.shape.framing = framing;
    head.shape.reusable = !closes && !doubtful && framing != Framing::Close;
    Ok(Some(head))
}

/// A response head as the copies get it.
pub fn parts(status: StatusCode, headers: HeaderMap) -> http::response::Parts {
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = status;
    parts.headers = headers;
    parts
}

/// Where a response body is, as its framing delimits it: the relay passing v1's body on and
/// the v2 leg reading v2's walk it with the same steps (`net/chunked.rs`'s), so the two cannot
/// disagree on where a body ends.
pub struct Body {
    framing: Framing,
    /// Bytes still to come of a body framed by its length.
    left: u64,
    chunks: Decoder,
}

impl Body {
    pub fn new(framing: Framing) -> Self {
        Self {
            framing,
            left: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            chunks: Decoder::default(),
        }
    }

    /// The next step over `buf`, which starts where the previous step's bytes ended. On
    /// `Step::Need` read more; if the stream has ended instead, the body is whole only when
    /// [`Body::ends_at_close`].
    pub fn step(&mut self, buf: &[u8]) -> Result<Step, ChunkError> {
        match self.framing {
            Framing::None => Ok(Step::End(0)),
            Framing::Length(_) if self.left == 0 => Ok(Step::End(0)),
            Framing::Chunked => self.chunks.step(buf),
            _ if buf.is_empty() => Ok(Step::Need),
            Framing::Length(_) => {
                let n = usize::try_from(self.left).map_or(buf.len(), |l| l.min(buf.len()));
                self.left -= n as u64;
                Ok(Step::Data(n))
            }
            Framing::Close => Ok(Step::Data(buf.len())),
        }
    }

    /// The upstream's close ends this body (rather than cutting it short).
    pub fn ends_at_close(&self) -> bool {
        self.framing == Framing::Close
    }
}

/// `1*DIGIT`, nothing else (no sign, no list, no spaces inside; httparse trims the ends), and
/// not past what a u64 holds.
pub fn content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// When a kept connection should no longer be reused, from a `Keep-Alive` field's value: a
/// little before the upstream's announced `timeout=N` runs out, so a request is not written
/// onto a connection it is closing. `None` when it announced none.
pub fn expiry_of(value: &[u8]) -> Option<Instant> {
    let value = std::str::from_utf8(value).ok()?;
    let secs: u64 = value
        .split(',')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("timeout"))
        .and_then(|(_, v)| v.trim().parse().ok())?;
    let timeout = Duration::from_secs(secs);
    let margin = (timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(2));
    Some(Instant::now() + timeout.saturating_sub(margin))
}

fn last_coding_is_chunked(te: &[u8]) -> bool {
    te.rsplit(|b| *b == b',')
        .next()
        .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_and_reuse_are_read_off_the_head() {
        let shape = |wire: &[u8], head_request: bool| {
            let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
            parse(wire, &mut storage, head_request)
                .map(|h| h.map(|h| (h.shape.framing, h.shape.reusable)))
        };
        assert_eq!(
            shape(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n", false),
            Ok(Some((Framing::Length(3), true)))
        );
        assert_eq!(
            shape(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n", true),
            Ok(Some((Framing::None, true))),
            "an answer to HEAD has no body whatever it declares"
        );
        assert_eq!(
            shape(b"HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\n", false),
            Ok(Some((Framing::Length(3), false))),
            "HTTP/1.0 without keep-alive closes"
        );
        assert_eq!(
            shape(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n",
                false
            ),
            Ok(Some((Framing::Chunked, false))),
            "length and encoding both: the encoding frames it, the connection is not reused"
        );
        assert_eq!(
            shape(b"HTTP/1.1 200 OK\r\n\r\n", false),
            Ok(Some((Framing::Close, false)))
        );
        assert_eq!(shape(b"HTTP/1.1 200 OK\r\ncontent-le", false), Ok(None));
        assert!(shape(
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            false
        )
        .is_err());
        assert!(shape(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", false).is_err());
    }
}
