//! The data listener: HTTP/1.1 (keep-alive) and HTTP/2 with prior knowledge (h2c) on one port,
//! or both over TLS (ALPN). Shutdown: stop accepting, let in-flight exchanges finish within the
//! grace period, then wait (as long) for the mirrors they started.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use bytes::Bytes;

use crate::forward::{self, Inbound};
use crate::listen::first_bytes::FirstBytes;
use crate::listen::idle::{Activity, Tracked};
use crate::listen::{accept_loop, ConnectionCap, Slot};
use crate::net::builder::http_builder_with;
use crate::observe::metrics::GaugeHold;
use crate::relay::{self, rewind::Rewind};
use crate::state::Shared;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serve client connections until `stop`, then drain them within `grace`.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let (header_timeout, max_connections, max_streams) = {
        let snap = shared.snapshot.load();
        let limits = &snap.config.limits;
        (
            snap.config.header_read_timeout,
            limits.max_connections,
            limits.h2_max_concurrent_streams,
        )
    };
    let builder = http_builder_with(header_timeout, max_streams);
    let cap = ConnectionCap::new(
        max_connections,
        shared.metrics.connection_limit_waits.clone(),
    );
    let slots = cap.slots();
    let (closing, closing_rx) = watch::channel(false);
    accept_loop(listener, "data", Some(cap), stop, |stream, peer, slot| {
        let conn = Connection {
            shared: shared.clone(),
            builder: builder.clone(),
            closing: closing_rx.clone(),
            header_timeout,
        };
        conn.serve(stream, peer, slot)
    })
    .await;
    let _ = closing.send(true);
    drain(&shared, &slots, max_connections, grace).await;
}

/// What one client connection's task needs.
struct Connection {
    shared: Arc<Shared>,
    builder: auto::Builder<TokioExecutor>,
    /// Turns true when the listener stops: finish what is in flight, take no new requests.
    closing: watch::Receiver<bool>,
    /// Also the idle limit: a connection with no request in flight this long is closed.
    header_timeout: Duration,
}

impl Connection {
    async fn serve(self, stream: TcpStream, peer: SocketAddr, slot: Slot) {
        let metrics = &self.shared.metrics;
        metrics.client_connections_accepted.inc();
        // Both end with the connection's task, however it ends.
        let _open = (slot, GaugeHold::new(&metrics.client_connections));
        let tls = self.shared.server_tls.as_ref().map(|t| t.acceptor());
        let proto = if tls.is_some() { "https" } else { "http" };
        let inbound = Arc::new(Inbound::new(peer, proto, &self.shared.shelves));
        let relay = self.shared.snapshot.load().config.http1_relay;
        let result = match tls {
            None => self.serve_io(stream, inbound, relay).await,
            Some(acceptor) => {
                match tokio::time::timeout(self.header_timeout, acceptor.accept(stream)).await {
                    // ALPN picks h2 or http/1.1; the auto builder reads the preface either way.
                    Ok(Ok(tls)) => {
                        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                        self.serve_io(tls, inbound, relay && !h2).await
                    }
                    Ok(Err(e)) => Err(e.into()),
                    Err(_) => Err("TLS handshake timed out".into()),
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
    }

    /// A plain or TLS stream: the relay's while its requests are plain (`relay/`), then
    /// hyper's.
    async fn serve_io<I>(
        mut self,
        io: I,
        inbound: Arc<Inbound>,
        relay: bool,
    ) -> Result<(), BoxError>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = if relay {
            let ended = relay::serve(
                &self.shared,
                io,
                &inbound,
                &mut self.closing,
                self.header_timeout,
            )
            .await;
            match ended {
                relay::Ended::Closed => return Ok(()),
                relay::Ended::Hyper(io) => io,
            }
        } else {
            Rewind::new(Bytes::new(), io)
        };
        self.serve_hyper(io, inbound).await
    }

    /// HTTP/1.1 or h2 by hyper; every request goes to [`forward::handle`]. Closed gracefully
    /// when the listener stops or when no request has been in flight for `header_timeout` (see
    /// [`crate::listen::idle`]).
    async fn serve_hyper<I>(self, io: Rewind<I>, inbound: Arc<Inbound>) -> Result<(), BoxError>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Activity::new();
        let (shared, counted) = (self.shared, activity.clone());
        let svc = service_fn(move |req| {
            let (shared, inbound) = (shared.clone(), inbound.clone());
            let in_flight = counted.begin();
            async move {
                let resp = forward::handle(shared, req, inbound).await;
                Ok::<_, Infallible>(resp.map(|body| Tracked::new(body, in_flight)))
            }
        });
        let io = TokioIo::new(FirstBytes::new(io, self.header_timeout));
        // With upgrades: a WebSocket handshake becomes a tunnel to v1 (`forward/upgrade.rs`).
        let conn = self.builder.serve_connection_with_upgrades(io, svc);
        tokio::pin!(conn);
        let (mut closing, idle_limit) = (self.closing, self.header_timeout);
        let mut shutting_down = false;
        loop {
            // While busy, look again one idle limit later.
            let check_at = activity
                .idle_deadline(idle_limit)
                .unwrap_or_else(|| Instant::now() + idle_limit);
            tokio::select! {
                ended = conn.as_mut() => return ended,
                _ = closing.wait_for(|c| *c), if !shutting_down => {
                    conn.as_mut().graceful_shutdown();
                    shutting_down = true;
                }
                () = tokio::time::sleep_until(check_at), if !shutting_down => {
                    if activity.idle_deadline(idle_limit).is_some_and(|d| d <= Instant::now()) {
                        conn.as_mut().graceful_shutdown();
                        shutting_down = true;
                    }
                }
            }
        }
    }
}

/// Let open exchanges finish within `grace` (every connection gives its slot back when it
/// ends), then their mirrors.
async fn drain(shared: &Shared, slots: &Semaphore, max_connections: usize, grace: Duration) {
    tracing::info!(grace = ?grace, "draining connections");
    let deadline = tokio::time::Instant::now() + grace;
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout_at(deadline, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("grace period over; closing remaining connections");
    }
    // Every exchange has ended, but their mirrors may still be waiting for v2 (at most the
    // candidate timeout). Without this wait, `shutdown` returned with mirrors in flight and the
    // process exited under them: pending comparisons vanished uncounted. What is still running at
    // the deadline is counted `shutdown` when the runtime drops it (see `mirror::MirrorJob::run`).
    let in_flight = &shared.metrics.mirrors_in_flight;
    while in_flight.get() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if in_flight.get() > 0 {
        tracing::warn!(
            mirrors = in_flight.get(),
            "grace period over with mirrors in flight"
        );
    }
}
