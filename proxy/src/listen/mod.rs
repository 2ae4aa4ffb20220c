//! Accept: one loop for every listener — the data port, the admin port and the demo's sample
//! services — with the same back-off on accept errors and an optional cap on open connections.
//!
//! Hand-off: each accepted connection moves to a task of its own (`serve`), carrying its
//! stream, its peer address and the [`Slot`] it holds under the cap.

pub mod data;
pub mod first_bytes;
pub mod idle;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::IntCounter;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long to wait after a failed accept (out of descriptors and the like) instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// At the limit a pause happens on every close: say it once per this long, not per pause.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A cap on open connections. At the limit, accepting pauses and new clients wait in the
/// kernel's backlog (as with haproxy's `maxconn`) rather than being accepted and closed.
pub struct ConnectionCap {
    slots: Arc<Semaphore>,
    max: usize,
    /// Counted each time accepting pauses.
    waits: IntCounter,
}

impl ConnectionCap {
    pub fn new(max: usize, waits: IntCounter) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            waits,
        }
    }

    /// The slots themselves: all of them free again means every connection has ended.
    pub fn slots(&self) -> Arc<Semaphore> {
        self.slots.clone()
    }
}

/// A connection's place under its listener's cap, given back when the connection's task ends.
pub type Slot = Option<OwnedSemaphorePermit>;

/// Accept on `listener` until `stop`, handing each connection to `serve` in a task of its own.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    name: &'static str,
    cap: Option<ConnectionCap>,
    stop: impl Future<Output = ()>,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr, Slot) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(stop);
    let mut last_warned: Option<Instant> = None;
    loop {
        let slot = match &cap {
            None => None,
            Some(cap) => match cap.slots.clone().try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => {
                    cap.waits.inc();
                    if last_warned.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                        last_warned = Some(Instant::now());
                        tracing::warn!(
                            listener = name,
                            max_connections = cap.max,
                            "connection limit reached; accepting paused"
                        );
                    }
                    tokio::select! {
                        slot = cap.slots.clone().acquire_owned() => match slot {
                            Ok(slot) => Some(slot),
                            Err(_) => break, // never closed
                        },
                        () = &mut stop => break,
                    }
                }
            },
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(listener = name, error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, peer, slot));
    }
}
