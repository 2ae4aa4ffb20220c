//! Idle connections to one upstream whose client connection has gone, for the next client
//! connection to take before dialling (nginx's upstream `keepalive` pool does the same): the
//! lanes' hyper connections (`lane.rs`) and the relay's plain ones (`raw.rs`). Newest last; at
//! most [`SHELVED`], none idle past [`SHELF_IDLE`]. Each still holds its slot under the
//! upstream's cap, so the cap can reclaim them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::uri::Authority;

use crate::upstream::cap::{ConnectionCap, Reclaim};

/// Connections kept per upstream between client connections (nginx's `keepalive` is per
/// worker and commonly 16 to 64; one I/O thread here serves what several workers would).
const SHELVED: usize = 128;
/// Longer idle than this, a shelved connection is closed rather than handed out: upstreams
/// close idle keep-alive connections on their own clock (nginx's default is 75 s).
const SHELF_IDLE: Duration = Duration::from_secs(30);

/// A connection that can wait on a shelf.
pub trait Shelved {
    /// Worth a slot now: idle and open, not past its expiry.
    fn keepable(&self, now: Instant) -> bool;
    /// Good for a request to `authority` now.
    fn usable(&self, authority: &Authority, now: Instant) -> bool;
}

pub struct Shelf<T> {
    idle: Mutex<VecDeque<(T, Instant)>>,
}

impl<T: Shelved + Send + 'static> Shelf<T> {
    /// An empty shelf, known to `cap` as a keeper of idle connections.
    pub fn new(cap: &ConnectionCap) -> Arc<Self> {
        let shelf = Arc::new(Self {
            idle: Mutex::new(VecDeque::new()),
        });
        let me: Arc<dyn Reclaim> = shelf.clone();
        cap.register(Arc::downgrade(&me));
        shelf
    }
}

impl<T: Shelved> Shelf<T> {
    fn idle(&self) -> std::sync::MutexGuard<'_, VecDeque<(T, Instant)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keep `conn` if it is worth it; the oldest goes when full.
    pub fn put(&self, conn: T) {
        let now = Instant::now();
        if !conn.keepable(now) {
            return;
        }
        let mut idle = self.idle();
        prune(&mut idle, now);
        if idle.len() >= SHELVED {
            idle.pop_front();
        }
        idle.push_back((conn, now));
    }

    /// The newest shelved connection still usable for `authority`; others met on the way
    /// (closed, expired, or to an upstream a reload moved away from) are closed.
    pub fn take(&self, authority: &Authority) -> Option<T> {
        let now = Instant::now();
        let mut idle = self.idle();
        prune(&mut idle, now);
        while let Some((conn, _)) = idle.pop_back() {
            if conn.usable(authority, now) {
                return Some(conn);
            }
        }
        None
    }
}

/// Close the connections idle past [`SHELF_IDLE`] (the oldest are at the front).
fn prune<T>(idle: &mut VecDeque<(T, Instant)>, now: Instant) {
    while idle
        .front()
        .is_some_and(|(_, since)| now.duration_since(*since) >= SHELF_IDLE)
    {
        idle.pop_front();
    }
}

impl<T: Shelved + Send> Reclaim for Shelf<T> {
    fn reclaim_idle(&self) -> bool {
        self.idle().pop_front().is_some()
    }
}
