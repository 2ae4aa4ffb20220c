//! Listeners: accept loops for the data and admin ports, and graceful shutdown.
//!
//! The data listener speaks HTTP/1.1 (keep-alive) and HTTP/2 with prior knowledge (h2c) on the
//! same port. Shutdown: stop accepting, let in-flight exchanges finish within the grace period,
//! then close the comparison pool (queued comparisons finish).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::admin;
use crate::forward::{self, Inbound};
use crate::metrics::GaugeHold;
use crate::state::Shared;

/// The admin listener's and sample services' request-head deadline (slowloris guard).
const ADMIN_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pings on idle h2 connections, so a peer that vanished is noticed and its connection freed.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// A running proxy: its bound addresses and a handle to stop it.
pub struct Running {
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    pub shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop accepting, drain, and wait until everything has ended.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        // Connections and mirrors are done; queued comparisons finish before we return.
        let shared = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || shared.compare.close()).await;
    }
}

/// Bind both listeners and serve until `shutdown` resolves (or [`Running::shutdown`]).
pub async fn start(shared: Arc<Shared>) -> anyhow::Result<Running> {
    let (listen_addr, admin_addr, grace) = {
        let snap = shared.snapshot.load();
        (
            snap.config.listen,
            snap.config.admin,
            snap.config.shutdown_grace,
        )
    };
    let data = TcpListener::bind(listen_addr)
        .await
        .with_context(|| format!("binding data listener {listen_addr}"))?;
    let admin_l = TcpListener::bind(admin_addr)
        .await
        .with_context(|| format!("binding admin listener {admin_addr}"))?;
    let listen = data.local_addr()?;
    let admin = admin_l.local_addr()?;
    tracing::info!(%listen, %admin, "listening");

    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let admin_task = tokio::spawn(admin::serve(
        admin_l,
        shared.clone(),
        wait_for(stop_rx.clone()),
    ));
    let data_task = tokio::spawn(serve_data(data, shared.clone(), wait_for(stop_rx), grace));
    shared.ready.store(true, Ordering::Release);
    let s = shared.clone();
    let task = tokio::spawn(async move {
        let _ = data_task.await;
        s.ready.store(false, Ordering::Release);
        let _ = admin_task.await;
    });
    Ok(Running {
        listen,
        admin,
        shared,
        stop,
        task,
    })
}

async fn wait_for(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// HTTP/1.1 with keep-alive and h2 (prior knowledge or ALPN); `header_read_timeout` bounds
/// the wait for each request head, idle keep-alive time included.
pub fn http_builder_with(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE);
    b
}

pub fn http_builder() -> auto::Builder<TokioExecutor> {
    http_builder_with(ADMIN_HEADER_READ_TIMEOUT)
}

async fn serve_data(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let (header_timeout, max_connections) = {
        let snap = shared.snapshot.load();
        (
            snap.config.header_read_timeout,
            snap.config.limits.max_connections,
        )
    };
    let builder = http_builder_with(header_timeout);
    let graceful = GracefulShutdown::new();
    // A slot per open client connection. At the limit, new ones wait in the kernel's backlog
    // (as with haproxy's maxconn) rather than being accepted and closed.
    let slots = Arc::new(Semaphore::new(max_connections));
    let metrics = shared.metrics.clone();
    let mut last_warned: Option<std::time::Instant> = None;
    tokio::pin!(stop);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                metrics.connection_limit_waits.inc();
                // At the limit this happens on every close: say it once per 10 s, not per pause.
                if last_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    last_warned = Some(std::time::Instant::now());
                    tracing::warn!(
                        max_connections,
                        "connection limit reached; accepting paused"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break, // never closed
                    },
                    () = &mut stop => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        metrics.client_connections_accepted.inc();
        // Both end with the connection's task, however it ends.
        let open = (slot, GaugeHold::new(&metrics.client_connections));
        let tls = shared.server_tls.as_ref().map(|t| t.acceptor());
        let proto = if tls.is_some() { "https" } else { "http" };
        let inbound = Arc::new(Inbound::new(peer, proto));
        let shared = shared.clone();
        let svc = service_fn(move |req| {
            let (shared, inbound) = (shared.clone(), inbound.clone());
            async move { Ok::<_, Infallible>(forward::handle(shared, req, inbound).await) }
        });
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _open = open;
            let result = match tls {
                None => {
                    watcher
                        .watch(
                            builder
                                .serve_connection(
                                    TokioIo::new(FirstBytes::new(stream, header_timeout)),
                                    svc,
                                )
                                .into_owned(),
                        )
                        .await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        // ALPN picks h2 or http/1.1; the auto builder reads the preface either way.
                        Ok(Ok(tls)) => {
                            watcher
                                .watch(
                                    builder
                                        .serve_connection(
                                            TokioIo::new(FirstBytes::new(tls, header_timeout)),
                                            svc,
                                        )
                                        .into_owned(),
                                )
                                .await
                        }
                        Ok(Err(e)) => Err(e.into()),
                        Err(_) => Err("TLS handshake timed out".into()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(grace = ?grace, "draining connections");
    let deadline = tokio::time::Instant::now() + grace;
    if tokio::time::timeout_at(deadline, graceful.shutdown())
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

/// The client's stream, with a deadline on its first bytes.
///
/// hyper's `header_read_timeout` only starts once the auto builder has told HTTP/1.1 from h2,
/// and that needs bytes: a client that connected and sent nothing (or trickled a prefix of the
/// h2 preface) held its connection and task forever. The deadline is armed until the bytes read
/// stop looking like the h2 preface (HTTP/1.1: hyper's header timer takes over) or the whole
/// preface has arrived.
struct FirstBytes<S> {
    inner: S,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    seen: usize,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

impl<S> FirstBytes<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            seen: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytes<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let Some(deadline) = this.deadline.as_mut() else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                let end = this.seen + new.len();
                if !new.is_empty() {
                    if end < H2_PREFACE.len() && H2_PREFACE[this.seen..end] == *new {
                        this.seen = end;
                    } else {
                        this.deadline = None;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no request within the header read timeout",
                )))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytes<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
