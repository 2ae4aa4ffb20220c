//! A cap on the connections open to one upstream (`[primary] max_connections`,
//! `[candidate] max_connections`), pooled and lane connections alike, like Envoy's per-cluster
//! circuit breakers. A request that finds every connection taken waits `queue_timeout` for one
//! and is then refused at once: the client gets 503, a mirror is shed `overloaded`. Never a hang,
//! never descriptor exhaustion: without it an h2 client's streams fanned out into thousands of
//! v1 connections.
//!
//! Lanes keep their connection between a client's requests, so idle lane connections could hold
//! every slot; a request that finds none free first reclaims one idle lane connection (as nginx
//! reuses free keep-alive connections when it runs out).

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::observe::metrics::GaugeHold;

/// No connection came free within `queue_timeout`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("all {max} connections to the upstream are in use (waited {waited:?})")]
pub struct Overloaded {
    pub max: usize,
    pub waited: Duration,
}

/// Something that can close an idle connection it keeps, giving its slot back.
pub trait Reclaim: Send + Sync {
    /// Close one idle kept connection, if there is one; whether one was closed.
    fn reclaim_idle(&self) -> bool;
}

/// One upstream's connection slots, for the life of the process (a reload resizes them).
pub struct ConnectionCap {
    slots: Arc<Semaphore>,
    max: Mutex<usize>,
    queue_timeout: Mutex<Duration>,
    open: IntGauge,
    /// Lanes that have kept a connection, to reclaim from under pressure.
    keepers: Mutex<Vec<Weak<dyn Reclaim>>>,
}

/// One open connection's slot: held as long as the connection lives.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _open: GaugeHold,
}

impl ConnectionCap {
    pub fn new(max: usize, queue_timeout: Duration, open: IntGauge) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(max)),
            max: Mutex::new(max),
            queue_timeout: Mutex::new(queue_timeout),
            open,
            keepers: Mutex::new(Vec::new()),
        })
    }

    /// Take the new config's cap and wait; open connections keep their slots (a smaller cap is
    /// reached as they close).
    pub fn resize(&self, max: usize, queue_timeout: Duration) {
        *self
            .queue_timeout
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = queue_timeout;
        let mut current = self.max.lock().unwrap_or_else(PoisonError::into_inner);
        if max > *current {
            self.slots.add_permits(max - *current);
        } else {
            let mut owed = *current - max;
            while owed > 0 {
                // Free slots go now; the rest as their connections close.
                let gone = self.slots.forget_permits(owed);
                if gone == 0 {
                    let slots = self.slots.clone();
                    tokio::spawn(async move {
                        if let Ok(p) = slots.acquire_many_owned(owed as u32).await {
                            p.forget();
                        }
                    });
                    break;
                }
                owed -= gone;
            }
        }
        *current = max;
    }

    /// Remember a lane that keeps a connection, to reclaim from when slots run out.
    pub fn register(&self, keeper: Weak<dyn Reclaim>) {
        let mut keepers = self.keepers.lock().unwrap_or_else(PoisonError::into_inner);
        // Drop the lanes whose client connection has gone; cheap, and bounds the list.
        if keepers.len() >= 64 && keepers.len().is_power_of_two() {
            keepers.retain(|k| k.strong_count() > 0);
        }
        keepers.push(keeper);
    }

    /// A slot for a new connection: at once when one is free, else after reclaiming an idle
    /// lane connection, else within `queue_timeout`.
    pub async fn acquire(&self) -> Result<Slot, Overloaded> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(self.slot(permit));
        }
        self.reclaim_one();
        let wait = *self
            .queue_timeout
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match tokio::time::timeout(wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(self.slot(permit)),
            _ => Err(Overloaded {
                max: *self.max.lock().unwrap_or_else(PoisonError::into_inner),
                waited: wait,
            }),
        }
    }

    fn slot(&self, permit: OwnedSemaphorePermit) -> Slot {
        Slot {
            _permit: permit,
            _open: GaugeHold::new(&self.open),
        }
    }

    fn reclaim_one(&self) {
        let keepers: Vec<Arc<dyn Reclaim>> = {
            let mut list = self.keepers.lock().unwrap_or_else(PoisonError::into_inner);
            list.retain(|k| k.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for k in keepers {
            if k.reclaim_idle() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(max: usize, wait_ms: u64) -> Arc<ConnectionCap> {
        let g = IntGauge::new("g", "g").expect("gauge");
        ConnectionCap::new(max, Duration::from_millis(wait_ms), g)
    }

    #[tokio::test]
    async fn past_the_cap_a_connection_waits_then_is_refused() {
        let c = cap(1, 50);
        let first = c.acquire().await.expect("one slot");
        assert_eq!(c.open.get(), 1);
        let Err(refused) = c.acquire().await else {
            panic!("a second slot past a cap of one");
        };
        assert_eq!(refused.max, 1);
        drop(first);
        assert_eq!(c.open.get(), 0);
        assert!(c.acquire().await.is_ok(), "the slot came back");
    }

    struct Idle(Mutex<Option<Slot>>);
    impl Reclaim for Idle {
        fn reclaim_idle(&self) -> bool {
            self.0.lock().expect("lock").take().is_some()
        }
    }

    #[tokio::test]
    async fn an_idle_kept_connection_is_reclaimed_for_a_new_one() {
        let c = cap(1, 0);
        let kept: Arc<Idle> = Arc::new(Idle(Mutex::new(Some(c.acquire().await.expect("slot")))));
        let weak: Weak<dyn Reclaim> = Arc::downgrade(&(kept.clone() as Arc<dyn Reclaim>));
        c.register(weak);
        assert!(
            c.acquire().await.is_ok(),
            "the idle connection gave its slot"
        );
        assert!(kept.0.lock().expect("lock").is_none());
    }

    #[tokio::test]
    async fn a_resize_adds_or_forgets_slots() {
        let c = cap(1, 0);
        c.resize(2, Duration::ZERO);
        let (a, b) = (c.acquire().await, c.acquire().await);
        assert!(a.is_ok() && b.is_ok());
        drop((a, b));
        c.resize(1, Duration::ZERO);
        let a = c.acquire().await;
        assert!(a.is_ok());
        assert!(c.acquire().await.is_err(), "back to one");
    }
}
