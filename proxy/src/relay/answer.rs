//! v1's answer on the relay: its head read and rewritten for the client (hop-by-hop fields out,
//! names lower-cased, `date` added, framing stated), and its body passed on as it arrives —
//! by length, or re-chunked from v1's chunks or from a body v1 ends by closing.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::net::headers::is_hop_by_hop;
use crate::relay::chunked::{Decoder, Step};
use crate::relay::head::{content_length, MAX_HEAD, MAX_HEADERS};
use crate::tee::{Capture, CaptureEnd};
use crate::upstream::lane::expiry_of;
use crate::upstream::lane::LaneError;

/// The copies a body feeds as it passes (the mirror's, the recording's), as `TeeBody` does on
/// hyper's path.
#[derive(Default)]
pub struct Tees(pub Option<Capture>, pub Option<Capture>);

impl Tees {
    pub fn is_empty(&self) -> bool {
        self.0.is_none() && self.1.is_none()
    }

    fn each(&mut self) -> impl Iterator<Item = &mut Capture> {
        self.0.iter_mut().chain(self.1.iter_mut())
    }

    pub fn push(&mut self, data: &Bytes) {
        self.each().for_each(|c| c.push(data));
    }

    /// One trailer field line of v1's chunked body (`name: value\r\n`, checked by the decoder).
    pub fn trailer(&mut self, line: &[u8]) {
        if self.is_empty() {
            return;
        }
        let line = line.strip_suffix(b"\r\n").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            self.each().for_each(|c| c.trailer(n.clone(), v.clone()));
        }
    }

    /// The body ended (`None`) or failed; a tee dropped unfinished says `Aborted`.
    pub fn finish(&mut self, end: Option<CaptureEnd>) {
        self.each().for_each(|c| c.finish(end));
    }

    /// `n` bytes off the front of `buf`: appended to `out` and, when anything copies them,
    /// given to the tees (a reference count, not a copy).
    pub fn take(&mut self, buf: &mut BytesMut, n: usize, out: &mut Vec<u8>) {
        if self.is_empty() {
            out.extend_from_slice(&buf[..n]);
            buf.advance(n);
        } else {
            let data = buf.split_to(n).freeze();
            self.push(&data);
            out.extend_from_slice(&data);
        }
    }
}

/// How v1's body is framed, and so how it goes on to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Until v1 closes.
    Close,
}

/// A response head, rewritten.
pub struct Head {
    pub status: StatusCode,
    /// Bytes of v1's head (to drop from the buffer).
    pub len: usize,
    pub framing: Framing,
    /// v1 may be asked for another request on this connection afterwards.
    pub reusable: bool,
    /// When v1 may close the connection (its `Keep-Alive: timeout=N`), if it said.
    pub expires: Option<Instant>,
}

/// Parse a response head from `buf`; `None` while incomplete. 1xx heads other than 101 are
/// skipped (returned with `status` 1xx for the caller to drop and read on). The client's head
/// goes into `out`.
pub fn parse(
    buf: &[u8],
    head_request: bool,
    close_client: bool,
    out: &mut Vec<u8>,
    mut fields: Option<&mut HeaderMap>,
) -> Result<Option<Head>, LaneError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut storage);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(LaneError::Invalid("response head too large"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(LaneError::Invalid("malformed response head")),
    };
    let code = resp.code.unwrap_or(0);
    let status =
        StatusCode::from_u16(code).map_err(|_| LaneError::Invalid("invalid status code"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(LaneError::Invalid(
            "101 to a request that asked for no upgrade",
        ));
    }
    if status.is_informational() {
        return Ok(Some(Head {
            status,
            len,
            framing: Framing::None,
            reusable: true,
            expires: None,
        }));
    }
    // What Connection names is hop-by-hop too; and whether v1 closes after this answer.
    let mut named: [&[u8]; 8] = [&[]; 8];
    let (mut n_named, mut close, mut keep) = (0, false, false);
    let (mut te, mut length, mut expires) = (None, None, None);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep = true;
                } else if n_named < named.len() {
                    named[n_named] = token;
                    n_named += 1;
                } else {
                    return Err(LaneError::Invalid("too many Connection options"));
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = content_length(h.value).ok_or(LaneError::Invalid("invalid content-length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(LaneError::Invalid("conflicting content-length"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("keep-alive") {
            expires = expiry_of(h.value);
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
    let v1_closes = close || (resp.version == Some(0) && !keep);
    // Length and encoding both: v1's framing is in doubt; the connection is not used again.
    let doubtful = te.is_some() && length.is_some();
    push_status_line(out, status, resp.reason.filter(|r| !r.is_empty()));
    let rechunked = matches!(framing, Framing::Chunked | Framing::Close);
    let mut has_date = false;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        if is_hop_by_hop(h.name)
            || named[..n_named]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
            || (rechunked && h.name.eq_ignore_ascii_case("content-length"))
        {
            continue;
        }
        has_date |= h.name.eq_ignore_ascii_case("date");
        push_field(out, name, h.value);
        if let Some(map) = fields.as_deref_mut() {
            // The head the copies get: what the client gets, as hyper's path hands it over.
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name),
                HeaderValue::from_bytes(h.value),
            ) else {
                return Err(LaneError::Invalid("invalid response field"));
            };
            map.append(n, v);
        }
    }
    if !has_date {
        push_date(out);
    }
    if rechunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if close_client {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Some(Head {
        status,
        len,
        framing,
        reusable: !v1_closes && !doubtful && framing != Framing::Close,
        expires,
    }))
}

/// `HTTP/1.1 <code> <reason>\r\n`: v1's reason phrase when it gave one (hyper's path passes it
/// on too), else the canonical one.
pub fn push_status_line(out: &mut Vec<u8>, status: StatusCode, reason: Option<&str>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    let reason = reason.or(status.canonical_reason()).unwrap_or("");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `name: value\r\n`, the name lower-cased as hyper writes it.
pub fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend(name.iter().map(u8::to_ascii_lowercase));
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The `date` field hyper adds to answers without one.
pub fn push_date(out: &mut Vec<u8>) {
    DATE.with(|d| push_field(out, b"date", d.borrow_mut().now()));
}

fn last_coding_is_chunked(te: &[u8]) -> bool {
    te.rsplit(|b| *b == b',')
        .next()
        .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Why passing v1's body on stopped short.
pub enum BodyError {
    /// v1 stalled, reset, or broke its framing: counted against v1.
    Upstream,
    /// The client went away.
    Client,
}

/// Pass the rest of v1's body on: `buf` holds what was read past the head, `out` the client's
/// head still to be written. `idle` bounds each wait for v1.
pub async fn relay_body<U, C>(
    framing: Framing,
    v1: &mut U,
    buf: &mut BytesMut,
    client: &mut C,
    out: &mut Vec<u8>,
    idle: Duration,
    tees: &mut Tees,
) -> Result<(), BodyError>
where
    U: AsyncRead + Unpin,
    C: AsyncWrite + Unpin,
{
    let passed = async {
        match framing {
            Framing::None => write(client, out).await,
            Framing::Length(mut left) => {
                let n = take(buf, left);
                tees.take(buf, n, out);
                left -= n as u64;
                write(client, out).await?;
                while left > 0 {
                    read(v1, buf, idle).await?.ok_or(BodyError::Upstream)?;
                    let n = take(buf, left);
                    tees.take(buf, n, out);
                    left -= n as u64;
                    write(client, out).await?;
                }
                Ok(())
            }
            Framing::Chunked => {
                let mut decoder = Decoder::default();
                loop {
                    match decoder.step(buf).map_err(|_| BodyError::Upstream)? {
                        Step::Need => {
                            if !out.is_empty() {
                                write(client, out).await?;
                            }
                            read(v1, buf, idle).await?.ok_or(BodyError::Upstream)?;
                        }
                        Step::Skip(n) => buf.advance(n),
                        // The copies get v1's trailers, as hyper's path gives them; the client
                        // does not (hyper sends only fields a `Trailer` header declares).
                        Step::Trailer(n) => {
                            tees.trailer(&buf[..n]);
                            buf.advance(n);
                        }
                        Step::Data(n) => {
                            chunk_head(out, n);
                            tees.take(buf, n, out);
                            out.extend_from_slice(b"\r\n");
                        }
                        Step::End(n) => {
                            buf.advance(n);
                            out.extend_from_slice(b"0\r\n\r\n");
                            return write(client, out).await;
                        }
                    }
                }
            }
            Framing::Close => loop {
                if !buf.is_empty() {
                    let n = buf.len();
                    chunk_head(out, n);
                    tees.take(buf, n, out);
                    out.extend_from_slice(b"\r\n");
                }
                write(client, out).await?;
                if read(v1, buf, idle).await?.is_none() {
                    out.extend_from_slice(b"0\r\n\r\n");
                    return write(client, out).await;
                }
            },
        }
    }
    .await;
    match &passed {
        Ok(()) => tees.finish(None),
        Err(BodyError::Upstream) => {
            // What arrived whole goes out before the cut (as hyper's path streams it): the
            // client sees v1's status and a body that does not end cleanly.
            if !out.is_empty() {
                let _ = write(client, out).await;
            }
            tees.finish(Some(CaptureEnd::Failed));
        }
        // Dropped unfinished: aborted, as when hyper drops a tee'd body.
        Err(BodyError::Client) => {}
    }
    passed
}

fn take(buf: &BytesMut, left: u64) -> usize {
    usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()))
}

/// A chunk's size line.
fn chunk_head(out: &mut Vec<u8>, len: usize) {
    use std::io::Write;
    let _ = write!(out, "{len:x}\r\n");
}

async fn write<C: AsyncWrite + Unpin>(client: &mut C, out: &mut Vec<u8>) -> Result<(), BodyError> {
    let r = client.write_all(out).await;
    out.clear();
    r.map_err(|_| BodyError::Client)
}

/// One read from v1 within `idle`: `Some(n)`, or `None` at its end of stream.
async fn read<U: AsyncRead + Unpin>(
    v1: &mut U,
    buf: &mut BytesMut,
    idle: Duration,
) -> Result<Option<usize>, BodyError> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    match tokio::time::timeout(idle, v1.read_buf(buf)).await {
        Ok(Ok(0)) => Ok(None),
        Ok(Ok(n)) => Ok(Some(n)),
        Ok(Err(_)) | Err(_) => Err(BodyError::Upstream),
    }
}

/// The `date` field hyper adds to answers without one, made once a second.
struct DateCache {
    second: u64,
    value: Vec<u8>,
}

impl DateCache {
    fn now(&mut self) -> &[u8] {
        let now = SystemTime::now();
        let second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second || self.value.is_empty() {
            self.second = second;
            self.value = httpdate::fmt_http_date(now).into_bytes();
        }
        &self.value
    }
}

thread_local! {
    static DATE: RefCell<DateCache> = const { RefCell::new(DateCache { second: 0, value: Vec::new() }) };
}
