//! Plain TCP connections — to v1 for the HTTP/1.1 relay (`relay/`), to v2 for the mirrors'
//! exchanges (`plain.rs`): kept between a client's requests, shelved between client
//! connections, counted under the upstream's connection cap and reclaimable by it while idle —
//! a lane's life (`lane.rs`) without hyper's connection task.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use http::uri::Authority;
use tokio::net::TcpStream;

use crate::upstream::cap::{ConnectionCap, Reclaim, Slot};
use crate::upstream::lane::{dial_tcp, LaneError};
use crate::upstream::shelf::{Shelf, Shelved};

/// An open connection to v1 between exchanges.
pub struct RawConn {
    pub stream: TcpStream,
    authority: Authority,
    /// Past this v1 may close it (its `Keep-Alive: timeout=N`): not reused then.
    pub expires: Option<Instant>,
    _slot: Slot,
}

impl RawConn {
    /// A new connection under `cap` (the slot first: at the cap no connect is tried).
    pub async fn connect(
        authority: &Authority,
        timeout: Duration,
        cap: &ConnectionCap,
    ) -> Result<Self, LaneError> {
        let slot = cap.acquire().await.map_err(LaneError::Overloaded)?;
        let stream = dial_tcp(authority, timeout).await?;
        Ok(Self {
            stream,
            authority: authority.clone(),
            expires: None,
            _slot: slot,
        })
    }
}

impl Shelved for RawConn {
    fn keepable(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| now < at)
    }

    /// Still good for a request to `authority`: same upstream, not expired, and v1 has neither
    /// closed it nor sent anything unasked. Costs a read only when the socket has signalled
    /// something since the last read came up short.
    fn usable(&self, authority: &Authority, now: Instant) -> bool {
        if self.authority != *authority || self.expires.is_some_and(|at| now >= at) {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => matches!(
                self.stream.try_read(&mut [0u8; 1]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
            ),
        }
    }
}

/// A client connection's idle connection to an upstream (v1 for the relay, v2 for its
/// mirrors), where the cap can reclaim it.
pub struct Keeper {
    kept: Mutex<Option<RawConn>>,
    shelf: Arc<Shelf<RawConn>>,
    /// Known to the cap (registered once, on the first keep).
    registered: AtomicBool,
    /// A mirror holds it (see [`Keeper::lease`]).
    leased: AtomicBool,
}

impl Keeper {
    pub fn new(shelf: &Arc<Shelf<RawConn>>) -> Arc<Self> {
        Arc::new(Self {
            kept: Mutex::new(None),
            shelf: shelf.clone(),
            registered: AtomicBool::new(false),
            leased: AtomicBool::new(false),
        })
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Option<RawConn>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept connection, else a shelved one, if still usable for `authority`.
    pub fn take(&self, authority: &Authority) -> Option<RawConn> {
        let now = Instant::now();
        let kept = self.kept().take().filter(|c| c.usable(authority, now));
        kept.or_else(|| self.shelf.take(authority))
    }

    /// Keep `conn` for this client's next request.
    pub fn keep(self: &Arc<Self>, conn: RawConn, cap: &ConnectionCap) {
        *self.kept() = Some(conn);
        if !self.registered.swap(true, Ordering::Relaxed) {
            let me: Arc<dyn Reclaim> = self.clone();
            cap.register(Arc::downgrade(&me));
        }
    }

    /// For a mirror (the v2 leg): the kept connection, unless another mirror of this client
    /// connection holds it — a mirror may outlive its request, and the next one then uses the
    /// pool rather than dialling a connection it could not keep.
    pub fn lease(self: &Arc<Self>, authority: &Authority) -> Option<Lease> {
        if self.leased.swap(true, Ordering::Acquire) {
            return None;
        }
        Some(Lease {
            conn: self.take(authority),
            keeper: self.clone(),
        })
    }
}

/// A mirror's hold on its client connection's keeper; dropping it frees the keeper.
pub struct Lease {
    keeper: Arc<Keeper>,
    /// The connection to use first (none: dial one).
    pub conn: Option<RawConn>,
}

impl Lease {
    /// The answer was read to its end on `conn`: keep it for the next mirror.
    pub fn finish(self, conn: RawConn, cap: &ConnectionCap) {
        self.keeper.keep(conn, cap);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.keeper.leased.store(false, Ordering::Release);
    }
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper").finish_non_exhaustive()
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        let kept = self
            .kept
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(conn) = kept {
            self.shelf.put(conn);
        }
    }
}

impl Reclaim for Keeper {
    fn reclaim_idle(&self) -> bool {
        self.kept().take().is_some()
    }
}
