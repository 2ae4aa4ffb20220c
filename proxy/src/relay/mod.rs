//! The HTTP/1.1 relay: plain keep-alive requests cross the proxy as bytes — the head parsed
//! with httparse and written anew for v1, the body passed on as it arrives, v1's answer the
//! same way back — on a plain TCP connection the client connection keeps (`upstream/raw.rs`).
//! No hyper state machine on either leg. On a route that copies nothing, no `Request` or
//! `HeaderMap` is built at all; on one that mirrors or records, the copies get the heads as
//! maps and the bodies through the same captures `TeeBody` feeds (`forward::Copies`).
//!
//! Everything else is hyper's: the first request that is not plain (`head.rs`), or that a
//! canary may serve from v2, hands the connection to hyper from that request on, with the
//! bytes already read (`rewind.rs`). What the relay does for a request it carries is
//! what `forward` does for it: the same fix-ups (hop-by-hop fields out, `X-Forwarded-*` in,
//! the mirror mark removed), the same timeouts, the same metrics and access line, the same
//! retry of a bodiless idempotent request on a reused connection v1 closed, the same error
//! answers.

pub mod answer;
pub mod head;
pub mod rewind;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::cutover::Backend;
use crate::forward::{self, Copies, Inbound};
use crate::mirror::CopyTo;
use crate::net::headers::{field, forwarded_chain, is_hop_by_hop, push_field};
use crate::net::idle::{Stalled, Which};
use crate::net::response::{self, Shape, MAX_HEAD, MAX_HEADERS};
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};
use crate::tee::CaptureEnd;
use crate::upstream::lane::{ClientBody, LaneError};
use crate::upstream::raw::{Keeper, RawConn};
use crate::upstream::retry::is_idempotent;
use answer::{BodyError, Tees};
use head::{Parsed, Plain};
use rewind::Rewind;

/// Pipelined bytes read from the client while v1 answers: past this, reading waits.
const MAX_AHEAD: usize = 64 * 1024;

/// How a connection left the relay.
pub enum Ended<I> {
    /// Closed: by the client, by `Connection: close`, idle, shutdown, or after an error.
    Closed,
    /// Hyper serves the rest, starting with the bytes the relay read and did not use.
    Hyper(Rewind<I>),
}

/// Serve `io` until it ends or a request needs hyper. `idle_limit` bounds the wait for each
/// head (the header read timeout); `closing` turns true at shutdown: the exchange in flight
/// finishes, no other starts.
pub async fn serve<I>(
    shared: &Arc<Shared>,
    mut io: I,
    inbound: &Inbound,
    closing: &mut watch::Receiver<bool>,
    idle_limit: Duration,
) -> Ended<I>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let keeper = Keeper::new(&shared.shelves.raw);
    let mut relay = Relay {
        shared,
        inbound,
        keeper,
        // Allocated at first use: a connection that never sends a request costs no buffers.
        client: BytesMut::new(),
        v1: BytesMut::new(),
        out: Vec::new(),
    };
    loop {
        match relay.next(&mut io, closing, idle_limit).await {
            Next::Relayed => {}
            Next::Close => {
                let _ = io.shutdown().await;
                return Ended::Closed;
            }
            Next::Hyper => {
                let read = std::mem::take(&mut relay.client).freeze();
                return Ended::Hyper(Rewind::new(read, io));
            }
        }
    }
}

/// Why v1 gave no answer the relay can pass on.
enum Failure {
    Lane(LaneError),
    Timeout,
    /// The client went away first.
    Cancelled,
}

impl Failure {
    /// The connection broke before any byte of an answer: a reused one v1 had closed.
    fn closed_before_response(&self) -> bool {
        matches!(
            self,
            Failure::Lane(LaneError::Io {
                before_response: true,
                ..
            })
        )
    }

    /// The request was not read whole from the client: the connection cannot carry another.
    fn request_unfinished(&self) -> bool {
        matches!(
            self,
            Failure::Lane(
                LaneError::ClientBody(_)
                    | LaneError::Io {
                        before_response: false,
                        ..
                    }
            )
        )
    }
}

/// The connection broke before v1 answered anything.
fn broke(source: std::io::Error) -> Failure {
    Failure::Lane(LaneError::Io {
        source,
        before_response: true,
    })
}

enum Next {
    Relayed,
    Close,
    Hyper,
}

/// One client connection's buffers and its connection to v1.
struct Relay<'a> {
    shared: &'a Arc<Shared>,
    inbound: &'a Inbound,
    keeper: Arc<Keeper>,
    /// Bytes read from the client and not yet used.
    client: BytesMut,
    /// Bytes read from v1 and not yet used.
    v1: BytesMut,
    /// What is about to be written (v1's request head, the client's answer head).
    out: Vec<u8>,
}

/// A request the relay carries, once its head has been turned into v1's.
struct Exchange {
    route: Arc<RouteRuntime>,
    method: Method,
    /// For the access line, when the route logs.
    path: Option<String>,
    /// Body bytes still to read from the client after those already in `out`.
    body_left: u64,
    bodiless: bool,
    close: bool,
    /// The mirror and recording this request starts, and the tees on its body.
    copies: Copies,
    tees: Tees,
}

impl Relay<'_> {
    async fn next<I>(
        &mut self,
        io: &mut I,
        closing: &mut watch::Receiver<bool>,
        idle_limit: Duration,
    ) -> Next
    where
        I: AsyncRead + AsyncWrite + Unpin,
    {
        let deadline = tokio::time::Instant::now() + idle_limit;
        let (exchange, snap) = loop {
            if !self.client.is_empty() {
                let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
                match head::parse(&self.client, &mut storage) {
                    Parsed::Partial if self.client.len() > MAX_HEAD => {
                        return self.hand_off("head")
                    }
                    Parsed::Partial => {}
                    Parsed::Hyper => return self.hand_off("head"),
                    Parsed::Refuse(msg) => {
                        let resp = forward::error(StatusCode::BAD_REQUEST, msg);
                        let _ = self.reply(io, resp, true).await;
                        return Next::Close;
                    }
                    Parsed::Plain(p) => {
                        let len = p.len;
                        // Read now, not before the wait: a reload while idle applies.
                        let snap = self.shared.snapshot.load_full();
                        let mut e = match begin(&mut self.out, self.shared, self.inbound, &snap, &p)
                        {
                            Ok(e) => e,
                            Err(reason) => return self.hand_off(reason),
                        };
                        e.body_left = self.take_body(len, &mut e);
                        break (e, snap);
                    }
                }
            } else if *closing.borrow() {
                return Next::Close;
            }
            if self.client.capacity() - self.client.len() < 1024 {
                self.client.reserve(8 * 1024);
            }
            tokio::select! {
                read = io.read_buf(&mut self.client) => match read {
                    Ok(0) | Err(_) => return Next::Close,
                    Ok(_) => {}
                },
                () = tokio::time::sleep_until(deadline) => return Next::Close,
                _ = closing.changed(), if self.client.is_empty() => return Next::Close,
            }
        };
        self.exchange(io, &snap, exchange).await
    }

    /// Count why the connection goes to hyper.
    fn hand_off(&self, reason: &'static str) -> Next {
        let m = &self.shared.metrics;
        m.relay_handoffs.with_label_values(&[reason]).inc();
        Next::Hyper
    }

    /// Send the request to v1 (once more on a new connection when a reused one broke before
    /// any answer and the request can be sent twice), then pass the answer back.
    async fn exchange<I>(&mut self, io: &mut I, snap: &Snapshot, mut e: Exchange) -> Next
    where
        I: AsyncRead + AsyncWrite + Unpin,
    {
        let started = Instant::now();
        let target = &snap.primary;
        let cap = &self.shared.caps.primary;
        let replayable = e.bodiless && is_idempotent(&e.method);
        let mut retried = false;
        let (mut conn, (head, fields)) = loop {
            let kept = if retried {
                None
            } else {
                self.keeper.take(target.authority())
            };
            let reused = kept.is_some();
            let mut conn = match kept {
                Some(c) => c,
                None => {
                    match RawConn::connect(target.authority(), target.connect_timeout, cap).await {
                        Ok(c) => c,
                        Err(err) => return self.fail(io, &e, Failure::Lane(err), started).await,
                    }
                }
            };
            let sent = match self.send(io, &mut conn, &mut e, snap).await {
                Ok(()) => self.answer_head(io, &mut conn, &e, target.timeout).await,
                Err(failure) => Err(failure),
            };
            match sent {
                Ok(head) => break (conn, head),
                Err(f) if f.closed_before_response() && reused && replayable && !retried => {
                    retried = true;
                    e.route.metrics.primary_retries.inc();
                }
                Err(failure) => return self.fail(io, &e, failure, started).await,
            }
        };
        let elapsed = started.elapsed();
        forward::served(&e.route, Backend::V1, head.status, elapsed);
        self.shared.mirror_limit.served(elapsed);
        // A mirrored exchange is logged when its verdict is known.
        if let (Some(path), false) = (&e.path, e.copies.mirrored()) {
            forward::log_not_mirrored(&e.route, &e.method, path, head.status, elapsed);
        }
        let mut tees = Tees::default();
        if let Some(headers) = fields {
            let parts = response::parts(head.status, headers);
            let copies = std::mem::take(&mut e.copies);
            let (capture, record) = copies.primary_answered(self.shared, snap, &parts, elapsed);
            tees = Tees(capture, record);
        }
        self.v1.advance(head.len);
        let idle = snap.config.stream_idle_timeout;
        let relayed = answer::relay_body(
            head.framing,
            &mut conn.stream,
            &mut self.v1,
            io,
            &mut self.out,
            idle,
            &mut tees,
        )
        .await;
        match relayed {
            Ok(()) => {
                if head.reusable && self.v1.is_empty() {
                    conn.expires = head.expires;
                    self.keeper.keep(conn, cap);
                }
                self.v1.clear();
                if e.close {
                    Next::Close
                } else {
                    Next::Relayed
                }
            }
            Err(BodyError::Upstream) => {
                e.route.metrics.primary_body.inc();
                self.v1.clear();
                Next::Close
            }
            Err(BodyError::Client) => Next::Close,
        }
    }

    /// Write v1's request (head and what was read of the body, in `out`), then the rest of
    /// the body as the client sends it, each wait bounded by `client_body_timeout`.
    async fn send<I>(
        &mut self,
        io: &mut I,
        conn: &mut RawConn,
        e: &mut Exchange,
        snap: &Snapshot,
    ) -> Result<(), Failure>
    where
        I: AsyncRead + Unpin,
    {
        conn.stream.write_all(&self.out).await.map_err(broke)?;
        let mut left = e.body_left;
        let limit = snap.config.client_body_timeout;
        while left > 0 {
            if self.client.is_empty() {
                self.client.reserve(16 * 1024);
                let read = tokio::time::timeout(limit, io.read_buf(&mut self.client)).await;
                let failed = match read {
                    Ok(Ok(n)) if n > 0 => None,
                    Err(_) => Some(ClientBody::Stalled(Stalled {
                        which: Which::ClientBody,
                        limit,
                    })),
                    Ok(_) => Some(ClientBody::Ended),
                };
                if let Some(failed) = failed {
                    e.tees.finish(Some(CaptureEnd::Failed));
                    return Err(Failure::Lane(LaneError::ClientBody(failed)));
                }
            }
            let n = usize::try_from(left).map_or(self.client.len(), |l| l.min(self.client.len()));
            self.out.clear();
            e.tees.take(&mut self.client, n, &mut self.out);
            left -= n as u64;
            conn.stream.write_all(&self.out).await.map_err(|source| {
                Failure::Lane(LaneError::Io {
                    source,
                    before_response: false,
                })
            })?;
        }
        if e.body_left > 0 {
            e.tees.finish(None);
        }
        Ok(())
    }

    /// Read v1's answer head within `timeout` (informational heads skipped), its rewrite for
    /// the client left in `out`. Meanwhile the client is watched: gone, it is `Cancelled`.
    async fn answer_head<I>(
        &mut self,
        io: &mut I,
        conn: &mut RawConn,
        e: &Exchange,
        timeout: Duration,
    ) -> Result<(Shape, Option<HeaderMap>), Failure>
    where
        I: AsyncRead + Unpin,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let head_request = e.method == Method::HEAD;
        let mut answered = false;
        loop {
            if answered {
                self.out.clear();
                // The copies get v1's head as a map (built only when there are copies).
                let mut fields = (!e.copies.is_empty()).then(HeaderMap::new);
                match answer::parse(
                    &self.v1,
                    head_request,
                    e.close,
                    &mut self.out,
                    fields.as_mut(),
                ) {
                    Ok(None) => {}
                    Ok(Some(h)) if h.status.is_informational() => {
                        self.v1.advance(h.len);
                        continue;
                    }
                    Ok(Some(h)) => return Ok((h, fields)),
                    Err(err) => return Err(Failure::Lane(err)),
                }
            }
            if self.v1.capacity() - self.v1.len() < 4096 {
                self.v1.reserve(16 * 1024);
            }
            tokio::select! {
                read = conn.stream.read_buf(&mut self.v1) => match read {
                    Ok(0) if !answered => return Err(broke(std::io::ErrorKind::UnexpectedEof.into())),
                    Err(source) if !answered => return Err(broke(source)),
                    Ok(0) => return Err(Failure::Lane(LaneError::Invalid("connection closed inside the response head"))),
                    Err(source) => return Err(Failure::Lane(LaneError::Io { source, before_response: false })),
                    Ok(_) => answered = true,
                },
                read = io.read_buf(&mut self.client), if self.client.len() < MAX_AHEAD => match read {
                    Ok(0) | Err(_) => return Err(Failure::Cancelled),
                    Ok(_) => {}
                },
                () = tokio::time::sleep_until(deadline) => return Err(Failure::Timeout),
            }
        }
    }

    /// No answer from v1: the client gets what `forward` would give it, counted the same way.
    /// The connection stays open when the request was read whole.
    async fn fail<I>(
        &mut self,
        io: &mut I,
        e: &Exchange,
        failure: Failure,
        started: Instant,
    ) -> Next
    where
        I: AsyncWrite + Unpin,
    {
        let close = e.close || failure.request_unfinished();
        let error = match failure {
            Failure::Lane(err) => forward::PrimaryError::Lane(err),
            Failure::Timeout => forward::PrimaryError::Timeout,
            Failure::Cancelled => {
                forward::client_cancelled(&e.route, &e.method, e.path.as_deref(), started);
                return Next::Close;
            }
        };
        let resp = forward::failed(&e.route, Backend::V1, &error);
        if let Some(path) = &e.path {
            forward::log_not_mirrored(&e.route, &e.method, path, resp.status(), started.elapsed());
        }
        match self.reply(io, resp, close).await {
            Ok(()) if !close => Next::Relayed,
            _ => Next::Close,
        }
    }

    /// One of the proxy's own answers (small, whole), written as hyper would write it.
    async fn reply<I>(
        &mut self,
        io: &mut I,
        resp: http::Response<forward::ProxyBody>,
        close: bool,
    ) -> std::io::Result<()>
    where
        I: AsyncWrite + Unpin,
    {
        let (parts, body) = resp.into_parts();
        let body: Bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let out = &mut self.out;
        out.clear();
        answer::push_status_line(out, parts.status, None);
        for (name, value) in &parts.headers {
            push_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
        push_field(out, b"content-length", body.len().to_string().as_bytes());
        answer::push_date(out);
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        io.write_all(out).await
    }

    /// Drop the head from the client's bytes and move what is there of the body to `out`
    /// (and the tees); the body bytes still to come.
    fn take_body(&mut self, head_len: usize, e: &mut Exchange) -> u64 {
        self.client.advance(head_len);
        let body = e.body_left;
        let n = usize::try_from(body).map_or(self.client.len(), |b| b.min(self.client.len()));
        e.tees.take(&mut self.client, n, &mut self.out);
        if n as u64 == body {
            e.tees.finish(None);
        }
        body - n as u64
    }
}

/// The route's say and v1's request head in `out`; the copies started (a mirror, a
/// recording: they get the same head as a `request::Parts`); `Err(why)` when hyper must take
/// it.
fn begin(
    out: &mut Vec<u8>,
    shared: &Arc<Shared>,
    inbound: &Inbound,
    snap: &Arc<Snapshot>,
    p: &Plain<'_>,
) -> Result<Exchange, &'static str> {
    if !snap.primary.uses_lanes() || !snap.primary.http1_only() {
        return Err("upstream");
    }
    let method = Method::from_bytes(p.method.as_bytes()).map_err(|_| "head")?;
    let route = snap.route_for(&method, p.path());
    // A canary's v2 leg, gRPC, and a `grpc-timeout` that sets v1's deadline are hyper's
    // (`forward`).
    if route.cutover.v2_serves() {
        return Err("canary");
    }
    if p.grpc {
        return Err("grpc");
    }
    let mut head = V1Head {
        out,
        fields: (!route.copies_nothing()).then(HeaderMap::new),
    };
    head.out.clear();
    head.out.extend_from_slice(p.method.as_bytes());
    head.out.push(b' ');
    head.out.extend_from_slice(snap.primary.prefix().as_bytes());
    head.out.extend_from_slice(p.target.as_bytes());
    head.out.extend_from_slice(b" HTTP/1.1\r\n");
    let mark = snap.shaping.mark().map(http::HeaderName::as_str);
    let proto = inbound.proto.as_bytes();
    let (mut forwarded_for, mut forwarded_proto) = (false, false);
    for h in p.headers {
        let name = h.name;
        if is_hop_by_hop(name) || mark.is_some_and(|m| name.eq_ignore_ascii_case(m)) {
            continue;
        }
        // As `add_forwarded` does on a HeaderMap: the first of each replaced in place.
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            if !std::mem::replace(&mut forwarded_for, true) {
                head.forwarded_for(inbound, h.value).ok_or("head")?;
            }
        } else if name.eq_ignore_ascii_case("x-forwarded-proto") {
            if !std::mem::replace(&mut forwarded_proto, true) {
                head.field(b"x-forwarded-proto", proto).ok_or("head")?;
            }
        } else {
            head.field(name.as_bytes(), h.value).ok_or("head")?;
        }
    }
    if !forwarded_for {
        head.forwarded_for(inbound, b"").ok_or("head")?;
    }
    if !forwarded_proto {
        head.field(b"x-forwarded-proto", proto).ok_or("head")?;
    }
    head.out.extend_from_slice(b"\r\n");
    let route = route.clone();
    route.metrics.requests.inc();
    shared.metrics.relay_requests.inc();
    let mut copies = Copies::default();
    let mut tees = Tees::default();
    if let Some(headers) = head.fields {
        let mut parts = http::Request::new(()).into_parts().0;
        parts.method = method.clone();
        parts.uri = http::Uri::try_from(p.target).map_err(|_| "head")?;
        parts.headers = headers;
        let to = CopyTo::Candidate(Some(inbound.mirror_lane.clone()));
        copies = Copies::start(shared, snap, &route, &parts, p.body == 0, to, true);
        let (capture, record) = copies.request_captures();
        tees = Tees(capture, record);
    }
    let path = route.access_log.then(|| p.path().to_owned());
    Ok(Exchange {
        route,
        method,
        path,
        body_left: p.body,
        bodiless: p.body == 0,
        close: p.close,
        copies,
        tees,
    })
}

/// v1's request head being written, and the same fields as a map when copies need them.
struct V1Head<'a> {
    out: &'a mut Vec<u8>,
    fields: Option<HeaderMap>,
}

impl V1Head<'_> {
    /// One field; `None` when it cannot go in a `HeaderMap` (hyper's path then answers it).
    fn field(&mut self, name: &[u8], value: &[u8]) -> Option<()> {
        push_field(self.out, name, value);
        if let Some(map) = &mut self.fields {
            let (name, value) = field(name, value)?;
            map.append(name, value);
        }
        Some(())
    }

    /// `X-Forwarded-For`: the client's chain (if any) and the peer, as `add_forwarded` writes it.
    fn forwarded_for(&mut self, inbound: &Inbound, previous: &[u8]) -> Option<()> {
        let peer = inbound.peer_value.as_bytes();
        if previous.is_empty() {
            return self.field(b"x-forwarded-for", peer);
        }
        self.field(b"x-forwarded-for", &forwarded_chain(previous, peer))
    }
}
