//! One request on a plain connection (`raw.rs`) with its answer read whole into a capture: the
//! v2 leg's exchange (mirrors, replay) without hyper's client — no dispatch channel, no
//! connection task to wake, no second task per request — as the relay does for v1. The same
//! response reading as the relay's (`net::response`, `net::chunked`), so v2's framing is judged
//! by the rules v1's is.

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use http::response::Parts;
use http::{header, HeaderMap, Method, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::chunked::{trailer_field, Step};
use crate::net::headers::{field, is_hop_by_hop, push_field};
use crate::net::response::{self, Framing, Shape, MAX_HEADERS};
use crate::tee::{ByteBudget, CaptureBuf, CaptureEnd, CapturedBody};
use crate::upstream::lane::LaneError;
use crate::upstream::raw::RawConn;

/// Bytes asked of the socket per read.
const READ: usize = 16 * 1024;

/// Why an exchange on a plain connection ended without an answer to compare.
#[derive(Debug)]
pub enum PlainError {
    /// The connection broke, or the upstream's answer was not HTTP.
    Lane(LaneError),
    /// The body was over the capture cap, or the byte budget was spent.
    Capture(CaptureEnd),
}

/// v2's answer, read whole.
pub struct Answer {
    pub parts: Parts,
    pub body: CapturedBody,
    /// When the head was in (the upstream's latency, as hyper's path measures it).
    pub head_at: Instant,
    /// The connection may carry the next request.
    pub reusable: bool,
}

/// Send `req` on `conn` and read the answer into memory of at most `cap`
/// bytes, reserved in `budget`.
pub async fn exchange(
    conn: &mut RawConn,
    req: &Request<Bytes>,
    cap: usize,
    budget: &std::sync::Arc<ByteBudget>,
) -> Result<Answer, PlainError> {
    let body = req.body();
    let mut out = Vec::with_capacity(512 + body.len().min(SAME_WRITE));
    write_head(&mut out, req);
    // A small body goes in the same write as the head.
    if body.len() <= SAME_WRITE {
        out.extend_from_slice(body);
        conn.stream.write_all(&out).await.map_err(|e| io(e, true))?;
    } else {
        conn.stream.write_all(&out).await.map_err(|e| io(e, true))?;
        conn.stream.write_all(body).await.map_err(|e| io(e, true))?;
    }
    let mut buf = BytesMut::with_capacity(READ);
    let (shape, headers) = read_head(conn, &mut buf, req.method() == Method::HEAD).await?;
    let head_at = Instant::now();
    let declared = match shape.framing {
        Framing::Length(n) => Some(n),
        _ => None,
    };
    let mut capture = CaptureBuf::new(cap, budget, declared).map_err(PlainError::Capture)?;
    let trailers = read_body(conn, &mut buf, shape.framing, &mut capture).await?;
    conn.expires = shape.expires;
    Ok(Answer {
        parts: response::parts(shape.status, headers),
        body: capture.finish(trailers),
        head_at,
        // Bytes past the answer were never asked for: the connection's framing is in doubt.
        reusable: shape.reusable && buf.is_empty(),
    })
}

/// A body up to this size goes out in the head's write.
const SAME_WRITE: usize = 16 * 1024;

fn io(source: std::io::Error, before_response: bool) -> PlainError {
    PlainError::Lane(LaneError::Io {
        source,
        before_response,
    })
}

fn invalid(why: &'static str) -> PlainError {
    PlainError::Lane(LaneError::Invalid(why))
}

/// The final answer's head (early hints are read past) and its fields; `buf` keeps what
/// follows the head.
async fn read_head(
    conn: &mut RawConn,
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<(Shape, HeaderMap), PlainError> {
    // Whether any byte of an answer arrived (an early hint counts): only a connection that
    // broke before that may be retried.
    let mut answered = false;
    loop {
        if !buf.is_empty() {
            let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match response::parse(buf, &mut storage, head_request).map_err(invalid)? {
                Some(h) if h.shape.status.is_informational() => {
                    let n = h.shape.len;
                    buf.advance(n);
                    continue;
                }
                Some(h) => {
                    // End-to-end fields only, as the comparison takes them from either client.
                    let mut headers = HeaderMap::with_capacity(h.fields.len());
                    for f in h.fields.iter().filter(|f| h.end_to_end(f.name)) {
                        let (n, v) = field(f.name.as_bytes(), f.value)
                            .ok_or_else(|| invalid("invalid response field"))?;
                        headers.append(n, v);
                    }
                    let shape = h.shape;
                    buf.advance(shape.len);
                    return Ok((shape, headers));
                }
                None => {}
            }
        }
        let n = read(conn, buf).await.map_err(|e| io(e, !answered))?;
        if n == 0 {
            return Err(io(std::io::ErrorKind::UnexpectedEof.into(), !answered));
        }
        answered = true;
    }
}

/// The body as `framing` delimits it, into `capture`; the trailers of a chunked one.
async fn read_body(
    conn: &mut RawConn,
    buf: &mut BytesMut,
    framing: Framing,
    capture: &mut CaptureBuf,
) -> Result<Option<HeaderMap>, PlainError> {
    let mut trailers = None;
    let mut body = response::Body::new(framing);
    loop {
        match body
            .step(buf)
            .map_err(|_| invalid("invalid chunked body"))?
        {
            Step::Need => {
                if read(conn, buf).await.map_err(|e| io(e, false))? == 0 {
                    if body.ends_at_close() {
                        return Ok(trailers);
                    }
                    // The connection ended and more was due: the body was cut short.
                    return Err(io(std::io::ErrorKind::UnexpectedEof.into(), false));
                }
            }
            Step::Skip(n) => buf.advance(n),
            Step::Data(n) => {
                capture.push(&buf[..n]).map_err(PlainError::Capture)?;
                buf.advance(n);
            }
            Step::Trailer(n) => {
                if let Some((name, value)) = trailer_field(&buf[..n]) {
                    trailers
                        .get_or_insert_with(HeaderMap::new)
                        .append(name, value);
                }
                buf.advance(n);
            }
            Step::End(n) => {
                buf.advance(n);
                return Ok(trailers);
            }
        }
    }
}

async fn read(conn: &mut RawConn, buf: &mut BytesMut) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < READ / 4 {
        buf.reserve(READ);
    }
    conn.stream.read_buf(buf).await
}

/// The request line in origin form and the fields, as hyper's client writes them: names lower
/// case, hop-by-hop fields out, and the body's own length stated (a `Content-Length` that
/// disagreed with the body would desynchronise the connection).
fn write_head(out: &mut Vec<u8>, req: &Request<Bytes>) {
    let body_len = req.body().len();
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(pq.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut stated = false;
    for (name, value) in req.headers() {
        if name == header::CONTENT_LENGTH {
            stated = true;
            continue;
        }
        if is_hop_by_hop(name.as_str()) {
            continue;
        }
        push_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if body_len > 0 || stated {
        push_field(out, b"content-length", body_len.to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn head_of(req: Request<Bytes>) -> String {
        let mut out = Vec::new();
        write_head(&mut out, &req);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_head_states_the_bodys_own_length_and_no_hop_by_hop_field() {
        let req = Request::post("http://v2.internal/orders?x=1")
            .header("host", "shop.example")
            .header("content-length", "999")
            .header("transfer-encoding", "chunked")
            .header("connection", "keep-alive")
            .header("x-a", "1")
            .body(Bytes::from_static(b"{}"))
            .unwrap();
        assert_eq!(
            head_of(req),
            "POST /orders?x=1 HTTP/1.1\r\nhost: shop.example\r\nx-a: 1\r\ncontent-length: 2\r\n\r\n"
        );
        // No body and no length asked for: none stated (hyper's client does the same).
        let get = Request::get("/a").body(Bytes::new()).unwrap();
        assert_eq!(head_of(get), "GET /a HTTP/1.1\r\n\r\n");
    }

    /// What a leg made of v2's answer: status, fields, body and trailers — or that it failed.
    type Read = Option<(u16, Vec<(String, Vec<u8>)>, Vec<u8>, Vec<(String, Vec<u8>)>)>;

    fn fields(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<_> = map
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        out.sort();
        out
    }

    /// A v2 that answers the first request on each connection with `wire`, then closes.
    async fn answering(wire: Vec<u8>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let wire = wire.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&b[..n]),
                        }
                    }
                    let _ = s.write_all(&wire).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        addr
    }

    fn request() -> Request<Bytes> {
        Request::get("/a")
            .header("host", "v2")
            .body(Bytes::new())
            .unwrap()
    }

    async fn by_plain(addr: std::net::SocketAddr, budget: &Arc<ByteBudget>) -> Read {
        let cap = crate::upstream::cap::ConnectionCap::new(
            4,
            std::time::Duration::from_millis(100),
            prometheus::IntGauge::new("open", "open").unwrap(),
        );
        let authority: http::uri::Authority = addr.to_string().parse().unwrap();
        let mut conn = RawConn::connect(&authority, std::time::Duration::from_secs(1), &cap)
            .await
            .ok()?;
        let a = exchange(&mut conn, &request(), 1 << 20, budget)
            .await
            .ok()?;
        let trailers = a.body.trailers.as_ref().map(fields).unwrap_or_default();
        let mut headers = a.parts.headers;
        crate::net::headers::strip_hop_by_hop(&mut headers);
        Some((
            a.parts.status.as_u16(),
            fields(&headers),
            a.body.contiguous().to_vec(),
            trailers,
        ))
    }

    async fn by_hyper(addr: std::net::SocketAddr, budget: &Arc<ByteBudget>) -> Read {
        let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .ok()?;
        tokio::spawn(conn);
        let resp = send
            .send_request(request().map(http_body_util::Full::new))
            .await
            .ok()?;
        let (parts, body) = resp.into_parts();
        let declared = crate::net::headers::content_length(&parts.headers);
        let body = crate::tee::read_capped(body, 1 << 20, budget, declared)
            .await
            .ok()?;
        let trailers = body.trailers.as_ref().map(fields).unwrap_or_default();
        let mut headers = parts.headers;
        crate::net::headers::strip_hop_by_hop(&mut headers);
        Some((
            parts.status.as_u16(),
            fields(&headers),
            body.contiguous().to_vec(),
            trailers,
        ))
    }

    /// A well-formed answer, framed one of the ways v2 may frame it.
    fn answer() -> impl Strategy<Value = Vec<u8>> {
        let body = proptest::collection::vec(any::<u8>(), 0..300);
        let framing = 0..4u8;
        let cuts = proptest::collection::vec(1..64usize, 1..6);
        let extra = proptest::collection::vec(("x-[a-z]{1,6}", "[ -~]{0,12}"), 0..4);
        let hint = any::<bool>();
        let trailer = any::<bool>();
        (body, framing, cuts, extra, hint, trailer).prop_map(
            |(body, framing, cuts, extra, hint, trailer)| {
                let mut w = Vec::new();
                if hint {
                    w.extend_from_slice(b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n");
                }
                let version = if framing == 3 { "1.0" } else { "1.1" };
                w.extend_from_slice(format!("HTTP/{version} 200 OK\r\n").as_bytes());
                for (n, v) in &extra {
                    w.extend_from_slice(format!("{n}: {}\r\n", v.trim()).as_bytes());
                }
                match framing {
                    // By length (also HTTP/1.0's).
                    0 | 3 => {
                        w.extend_from_slice(
                            format!("content-length: {}\r\n\r\n", body.len()).as_bytes(),
                        );
                        w.extend_from_slice(&body);
                    }
                    // Chunked, cut where the strategy says, maybe with a trailer.
                    1 => {
                        w.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
                        let mut rest = &body[..];
                        for c in cuts.iter().cycle() {
                            if rest.is_empty() {
                                break;
                            }
                            let n = (*c).min(rest.len());
                            w.extend_from_slice(format!("{n:x};ext=1\r\n").as_bytes());
                            w.extend_from_slice(&rest[..n]);
                            w.extend_from_slice(b"\r\n");
                            rest = &rest[n..];
                        }
                        w.extend_from_slice(b"0\r\n");
                        if trailer {
                            w.extend_from_slice(b"x-trailer: t\r\n");
                        }
                        w.extend_from_slice(b"\r\n");
                    }
                    // Until v2 closes.
                    _ => {
                        w.extend_from_slice(b"\r\n");
                        w.extend_from_slice(&body);
                    }
                }
                w
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The same bytes from v2 read by the plain leg and by hyper's client: the same status,
        /// end-to-end fields, body and trailers.
        #[test]
        fn the_plain_leg_reads_v2_as_hyper_does(wire in answer()) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let budget = ByteBudget::new(1 << 24, prometheus::IntGauge::new("b", "b").unwrap(), 0);
            let (plain, hyper) = rt.block_on(async {
                let addr = answering(wire.clone()).await;
                (by_plain(addr, &budget).await, by_hyper(addr, &budget).await)
            });
            prop_assert!(plain.is_some(), "{:?}", String::from_utf8_lossy(&wire));
            prop_assert_eq!(plain, hyper, "{:?}", String::from_utf8_lossy(&wire));
        }
    }
}
