//! A body with a limit on the pause between two frames: the client's request body
//! (`client_body_timeout`) and v1's response body (`stream_idle_timeout`). A body that streams
//! for an hour is fine; one that stops for longer than the limit ends with [`Stalled`].
//!
//! The timer is made only when the body first makes the reader wait, so a body that is already
//! there (most of them) never touches the timer wheel.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which body stalled, for the error and for whoever maps it to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The client's request body (`client_body_timeout`): the client is to blame.
    ClientBody,
    /// An upstream's response body (`stream_idle_timeout`).
    UpstreamBody,
}

/// No frame for longer than the limit.
#[derive(Debug, thiserror::Error)]
#[error("{which:?} sent nothing for {limit:?}")]
pub struct Stalled {
    pub which: Which,
    pub limit: Duration,
}

/// Says when a body has ended, for a timer that must start only then (v1's response timeout
/// counts from the last request byte sent).
#[derive(Debug, Default)]
pub struct Ended {
    done: AtomicBool,
    notify: Notify,
}

impl Ended {
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn set(&self) {
        if !self.done.swap(true, Ordering::AcqRel) {
            self.notify.notify_waiters();
        }
    }

    /// Resolves once the body has ended (or failed).
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_done() {
                return;
            }
            notified.await;
        }
    }
}

pin_project_lite::pin_project! {
    /// `inner` with a limit on the pause between frames.
    pub struct IdleBody<B> {
        #[pin]
        inner: B,
        which: Which,
        limit: Duration,
        timer: Option<Pin<Box<Sleep>>>,
        ended: Option<Arc<Ended>>,
        failures: Option<prometheus::IntCounter>,
    }
}

impl<B: Body> IdleBody<B> {
    pub fn new(inner: B, which: Which, limit: Duration) -> Self {
        Self {
            inner,
            which,
            limit,
            timer: None,
            ended: None,
            failures: None,
        }
    }

    /// Count the body breaking off (its stream failing, or stalling) in `failures`.
    pub fn counting(mut self, failures: prometheus::IntCounter) -> Self {
        self.failures = Some(failures);
        self
    }

    /// Also tell `ended` when the body is over.
    pub fn with_ended(mut self, ended: Arc<Ended>) -> Self {
        if self.inner.is_end_stream() {
            ended.set();
        }
        self.ended = Some(ended);
        self
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                let over = match &frame {
                    None | Some(Err(_)) => true,
                    Some(Ok(f)) => f.is_trailers(),
                };
                if matches!(frame, Some(Err(_))) {
                    if let Some(c) = this.failures.as_ref() {
                        c.inc();
                    }
                }
                if over {
                    if let Some(e) = this.ended.as_ref() {
                        e.set();
                    }
                } else if let Some(t) = this.timer.as_mut() {
                    t.as_mut().reset(Instant::now() + *this.limit);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let limit = *this.limit;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        if let Some(c) = this.failures.as_ref() {
                            c.inc();
                        }
                        if let Some(e) = this.ended.as_ref() {
                            e.set();
                        }
                        let stalled = Stalled {
                            which: *this.which,
                            limit,
                        };
                        Poll::Ready(Some(Err(Box::new(stalled))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
