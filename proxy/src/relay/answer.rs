//! v1's answer on the relay: its head read and rewritten for the client (hop-by-hop fields out,
//! names lower-cased, `date` added, framing stated), and its body passed on as it arrives —
//! by length, or re-chunked from v1's chunks or from a body v1 ends by closing.

use std::cell::RefCell;
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::net::chunked::{trailer_field, Step};
use crate::net::headers::{field, push_field};
use crate::net::response::{self, Framing, Shape, MAX_HEADERS};
use crate::tee::{Capture, CaptureEnd};
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
        if let Some((n, v)) = trailer_field(line) {
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

/// Parse v1's answer head from `buf`; `None` while incomplete. 1xx heads other than 101 come
/// back with no body (for the caller to drop and read on). The client's head goes into `out`,
/// and the copies' fields into `fields`.
pub fn parse(
    buf: &[u8],
    head_request: bool,
    close_client: bool,
    out: &mut Vec<u8>,
    mut fields: Option<&mut HeaderMap>,
) -> Result<Option<Shape>, LaneError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let Some(head) =
        response::parse(buf, &mut storage, head_request).map_err(LaneError::Invalid)?
    else {
        return Ok(None);
    };
    let shape = head.shape;
    if shape.status.is_informational() {
        return Ok(Some(shape));
    }
    push_status_line(out, shape.status, head.reason.filter(|r| !r.is_empty()));
    let rechunked = matches!(shape.framing, Framing::Chunked | Framing::Close);
    let mut has_date = false;
    for h in head.fields {
        if !head.end_to_end(h.name) || (rechunked && h.name.eq_ignore_ascii_case("content-length"))
        {
            continue;
        }
        let name = h.name.as_bytes();
        has_date |= h.name.eq_ignore_ascii_case("date");
        push_field(out, name, h.value);
        if let Some(map) = fields.as_deref_mut() {
            // The head the copies get: what the client gets, as hyper's path hands it over.
            let (n, v) =
                field(name, h.value).ok_or(LaneError::Invalid("invalid response field"))?;
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
    Ok(Some(shape))
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

/// The `date` field hyper adds to answers without one.
pub fn push_date(out: &mut Vec<u8>) {
    DATE.with(|d| push_field(out, b"date", d.borrow_mut().now()));
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
    // v1's chunks are passed on as chunks, and a body v1 ends by closing is chunked for the
    // client (which has no other way to know where it ends on a kept connection).
    let rechunk = matches!(framing, Framing::Chunked | Framing::Close);
    let mut body = response::Body::new(framing);
    let passed = async {
        loop {
            match body.step(buf).map_err(|_| BodyError::Upstream)? {
                Step::Need => {
                    if !out.is_empty() {
                        write(client, out).await?;
                    }
                    if read(v1, buf, idle).await?.is_none() {
                        if !body.ends_at_close() {
                            return Err(BodyError::Upstream);
                        }
                        out.extend_from_slice(b"0\r\n\r\n");
                        return write(client, out).await;
                    }
                }
                Step::Skip(n) => buf.advance(n),
                // The copies get v1's trailers, as hyper's path gives them; the client does not
                // (hyper sends only fields a `Trailer` header declares).
                Step::Trailer(n) => {
                    tees.trailer(&buf[..n]);
                    buf.advance(n);
                }
                Step::Data(n) if rechunk => {
                    chunk_head(out, n);
                    tees.take(buf, n, out);
                    out.extend_from_slice(b"\r\n");
                }
                Step::Data(n) => tees.take(buf, n, out),
                Step::End(n) => {
                    buf.advance(n);
                    if rechunk {
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                    return write(client, out).await;
                }
            }
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
