//! The HTTP/1.1 relay: plain keep-alive requests on routes that copy nothing (no mirror, no
//! recording, no canary) cross the proxy as bytes — the head parsed with httparse and written
//! anew for v1, the body passed on as it arrives, v1's answer the same way back — on a plain
//! TCP connection the client connection keeps (`upstream/raw.rs`). No hyper state machine on
//! either leg, no `Request` or `HeaderMap` built: the unmirrored path's cost, measured in
//! `benches/README.md`.
//!
//! Everything else is hyper's: the first request that is not plain (`head.rs`), or whose route
//! mirrors, records or serves a canary, hands the connection to hyper from that request on,
//! with the bytes already read (`rewind.rs`). What the relay does for a request it carries is
//! what `forward` does for it: the same fix-ups (hop-by-hop fields out, `X-Forwarded-*` in,
//! the mirror mark removed), the same timeouts, the same metrics and access line, the same
//! retry of a bodiless idempotent request on a reused connection v1 closed, the same error
//! answers.

pub mod answer;
pub mod chunked;
pub mod head;
pub mod rewind;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::cutover::Backend;
use crate::forward::{self, Inbound};
use crate::net::headers::is_hop_by_hop;
use crate::net::idle::{Stalled, Which};
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};
use crate::upstream::lane::{expiry_of, ClientBody, LaneError};
use crate::upstream::raw::{Keeper, RawConn};
use crate::upstream::retry::is_idempotent;
use answer::BodyError;
use head::{Parsed, Plain};
use rewind::Rewind;

/// A head still incomplete past this goes to hyper, which has its own limit and answer.
const MAX_HEAD: usize = 64 * 1024;
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
        client: BytesMut::with_capacity(8 * 1024),
        v1: BytesMut::with_capacity(16 * 1024),
        out: Vec::with_capacity(4 * 1024),
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
    /// A connection closed (or reset) before any byte of an answer.
    Closed,
    /// The client went away first.
    Cancelled,
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
                let mut storage = [httparse::EMPTY_HEADER; head::MAX_HEADERS];
                match head::parse(&self.client, &mut storage) {
                    Parsed::Partial if self.client.len() > MAX_HEAD => return Next::Hyper,
                    Parsed::Partial => {}
                    Parsed::Hyper => return Next::Hyper,
                    Parsed::Refuse(msg) => {
                        let resp = forward::error(StatusCode::BAD_REQUEST, msg);
                        let _ = self.reply(io, resp, true).await;
                        return Next::Close;
                    }
                    Parsed::Plain(p) => {
                        let len = p.len;
                        // Read now, not before the wait: a reload while idle applies.
                        let snap = self.shared.snapshot.load_full();
                        let Some(mut e) = begin(&mut self.out, self.inbound, &snap, &p) else {
                            return Next::Hyper;
                        };
                        e.body_left = self.take_body(len, e.body_left);
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

    /// Send the request to v1 (once more on a new connection when a reused one broke before
    /// any answer and the request can be sent twice), then pass the answer back.
    async fn exchange<I>(&mut self, io: &mut I, snap: &Snapshot, e: Exchange) -> Next
    where
        I: AsyncRead + AsyncWrite + Unpin,
    {
        let started = Instant::now();
        let target = &snap.primary;
        let cap = &self.shared.caps.primary;
        let replayable = e.bodiless && is_idempotent(&e.method);
        let mut retried = false;
        let (mut conn, head) = loop {
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
            let again = reused && replayable && !retried;
            if let Err(failure) = self.send(io, &mut conn, &e).await {
                if again && matches!(failure, Failure::Lane(LaneError::Io { .. })) {
                    retried = true;
                    e.route.metrics.primary_retries.inc();
                    continue;
                }
                return self.fail(io, &e, failure, started).await;
            }
            match self.answer_head(io, &mut conn, &e, target.timeout).await {
                Ok(head) => break (conn, head),
                Err(Failure::Closed) if again => {
                    retried = true;
                    e.route.metrics.primary_retries.inc();
                }
                Err(Failure::Cancelled) => {
                    forward::client_cancelled(&e.route, &e.method, e.path.as_deref(), started);
                    return Next::Close;
                }
                Err(failure) => return self.fail(io, &e, failure, started).await,
            }
        };
        let elapsed = started.elapsed();
        forward::served(&e.route, Backend::V1, head.status, elapsed);
        self.shared.mirror_limit.served(elapsed);
        if let Some(path) = &e.path {
            forward::log_not_mirrored(&e.route, &e.method, path, head.status, elapsed);
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
        )
        .await;
        match relayed {
            Ok(()) => {
                if head.reusable && self.v1.is_empty() {
                    conn.expires = head.keep_alive.as_deref().and_then(expiry_of);
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
    async fn send<I>(&mut self, io: &mut I, conn: &mut RawConn, e: &Exchange) -> Result<(), Failure>
    where
        I: AsyncRead + Unpin,
    {
        let broke = |source| {
            Failure::Lane(LaneError::Io {
                source,
                before_response: true,
            })
        };
        conn.stream.write_all(&self.out).await.map_err(broke)?;
        let mut left = e.body_left;
        if left == 0 {
            return Ok(());
        }
        let limit = self.shared.snapshot.load().config.client_body_timeout;
        while left > 0 {
            if self.client.is_empty() {
                self.client.reserve(16 * 1024);
                let read = tokio::time::timeout(limit, io.read_buf(&mut self.client)).await;
                match read {
                    Err(_) => {
                        let stalled = Stalled {
                            which: Which::ClientBody,
                            limit,
                        };
                        return Err(Failure::Lane(LaneError::ClientBody(ClientBody::Stalled(
                            stalled,
                        ))));
                    }
                    Ok(Ok(0) | Err(_)) => {
                        return Err(Failure::Lane(LaneError::ClientBody(ClientBody::Ended)))
                    }
                    Ok(Ok(_)) => {}
                }
            }
            let n = usize::try_from(left).map_or(self.client.len(), |l| l.min(self.client.len()));
            conn.stream
                .write_all(&self.client[..n])
                .await
                .map_err(|source| {
                    Failure::Lane(LaneError::Io {
                        source,
                        before_response: false,
                    })
                })?;
            self.client.advance(n);
            left -= n as u64;
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
    ) -> Result<answer::Head, Failure>
    where
        I: AsyncRead + Unpin,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let head_request = e.method == Method::HEAD;
        let mut answered = false;
        loop {
            if answered {
                self.out.clear();
                match answer::parse(&self.v1, head_request, e.close, &mut self.out) {
                    Ok(None) => {}
                    Ok(Some(h)) if h.status.is_informational() => {
                        self.v1.advance(h.len);
                        continue;
                    }
                    Ok(Some(h)) => return Ok(h),
                    Err(err) => return Err(Failure::Lane(err)),
                }
            }
            if self.v1.capacity() - self.v1.len() < 4096 {
                self.v1.reserve(16 * 1024);
            }
            tokio::select! {
                read = conn.stream.read_buf(&mut self.v1) => match read {
                    Ok(0) if !answered => return Err(Failure::Closed),
                    Err(_) if !answered => return Err(Failure::Closed),
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
        let error = match failure {
            Failure::Lane(err) => forward::PrimaryError::Lane(err),
            Failure::Timeout => forward::PrimaryError::Timeout,
            Failure::Closed => forward::PrimaryError::Lane(LaneError::Io {
                source: std::io::ErrorKind::UnexpectedEof.into(),
                before_response: true,
            }),
            Failure::Cancelled => {
                forward::client_cancelled(&e.route, &e.method, e.path.as_deref(), started);
                return Next::Close;
            }
        };
        let body_read = !matches!(error, forward::PrimaryError::Lane(LaneError::ClientBody(_)))
            && !matches!(
                error,
                forward::PrimaryError::Lane(LaneError::Io {
                    before_response: false,
                    ..
                })
            );
        let resp = forward::failed(&e.route, Backend::V1, &error);
        if let Some(path) = &e.path {
            forward::log_not_mirrored(&e.route, &e.method, path, resp.status(), started.elapsed());
        }
        let close = e.close || !body_read;
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
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(parts.status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &parts.headers {
            answer::push_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
        answer::push_field(out, b"content-length", body.len().to_string().as_bytes());
        answer::push_date(out);
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        io.write_all(out).await
    }

    /// Drop the head from the client's bytes and move what is there of the body to `out`.
    fn take_body(&mut self, head_len: usize, body: u64) -> u64 {
        self.client.advance(head_len);
        let n = usize::try_from(body).map_or(self.client.len(), |b| b.min(self.client.len()));
        self.out.extend_from_slice(&self.client[..n]);
        self.client.advance(n);
        body - n as u64
    }
}

/// The route's say and v1's request head in `out`; `None` when hyper must take it.
fn begin(out: &mut Vec<u8>, inbound: &Inbound, snap: &Snapshot, p: &Plain<'_>) -> Option<Exchange> {
    if !snap.primary.uses_lanes() || !snap.primary.http1_only() {
        return None;
    }
    let method = Method::from_bytes(p.method.as_bytes()).ok()?;
    let route = snap.route_for(&method, p.path());
    // gRPC, and a `grpc-timeout` that sets v1's deadline, are hyper's (`forward`).
    if !route.copies_nothing()
        || p.header("content-type").is_some_and(is_grpc)
        || p.header("grpc-timeout").is_some()
    {
        return None;
    }
    let route = route.clone();
    route.metrics.requests.inc();
    out.clear();
    out.extend_from_slice(p.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(snap.primary.prefix().as_bytes());
    out.extend_from_slice(p.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mark = snap.shaping.mark().map(http::HeaderName::as_str);
    let (mut forwarded_for, mut forwarded_proto) = (false, false);
    for h in p.headers {
        let name = h.name;
        if is_hop_by_hop(name) || mark.is_some_and(|m| name.eq_ignore_ascii_case(m)) {
            continue;
        }
        // As `add_forwarded` does on a HeaderMap: the first of each replaced in place.
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            if !std::mem::replace(&mut forwarded_for, true) {
                push_forwarded_for(out, inbound, h.value);
            }
            continue;
        }
        if name.eq_ignore_ascii_case("x-forwarded-proto") {
            if !std::mem::replace(&mut forwarded_proto, true) {
                answer::push_field(out, b"x-forwarded-proto", inbound.proto.as_bytes());
            }
            continue;
        }
        answer::push_field(out, name.as_bytes(), h.value);
    }
    if !forwarded_for {
        push_forwarded_for(out, inbound, b"");
    }
    if !forwarded_proto {
        answer::push_field(out, b"x-forwarded-proto", inbound.proto.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    let path = route.access_log.then(|| p.path().to_owned());
    Some(Exchange {
        route,
        method,
        path,
        body_left: p.body,
        bodiless: p.body == 0,
        close: p.close,
    })
}

fn push_forwarded_for(out: &mut Vec<u8>, inbound: &Inbound, previous: &[u8]) {
    let peer = inbound.peer_value.as_bytes();
    if previous.is_empty() {
        answer::push_field(out, b"x-forwarded-for", peer);
    } else {
        let mut chain = Vec::with_capacity(previous.len() + 2 + peer.len());
        chain.extend_from_slice(previous);
        chain.extend_from_slice(b", ");
        chain.extend_from_slice(peer);
        answer::push_field(out, b"x-forwarded-for", &chain);
    }
}

/// A gRPC call (`content-type: application/grpc…`): hyper's, which answers it properly.
fn is_grpc(content_type: &[u8]) -> bool {
    content_type.starts_with(b"application/grpc")
}
