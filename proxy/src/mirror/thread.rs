//! The mirror leg's own thread: every exchange with v2 (connecting, sending, reading, its
//! timers) runs on a current-thread runtime of its own, at a lower scheduling priority than the
//! I/O thread that serves v1.
//!
//! On one runtime, a burst of mirror completions is work queued ahead of a v1 socket that just
//! became readable, and tokio has no priorities to say which goes first. On two threads the
//! kernel decides, and a niced thread yields the core to v1's whenever both are runnable: v1
//! waits for mirror work at most a scheduler slice, not a whole burst. What crosses between
//! the threads is what already crossed between tasks: the tee's oneshots, the atomics of the
//! limit and the in-flight slots.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub struct MirrorThread {
    handle: Handle,
    /// Dropped (or sent) to end the thread; its runtime then drops the tasks still on it,
    /// each counted `shutdown` as a mirror dropped past the grace period is.
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl MirrorThread {
    /// Start the thread, `nice` steps below the I/O thread's priority.
    pub fn start(nice: u32) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("shadowdiff-mirror".into())
            .spawn(move || {
                crate::threads::lower_priority(nice);
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Self {
            handle,
            stop: Mutex::new(Some(stop)),
        })
    }

    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(task);
    }

    /// End the thread (mirrors still on it are dropped and counted). Idempotent.
    pub fn stop(&self) {
        self.stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

impl Drop for MirrorThread {
    fn drop(&mut self) {
        self.stop();
    }
}
