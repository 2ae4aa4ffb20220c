//! The tee: a body wrapper that passes every frame through untouched and keeps a capped copy.
//!
//! Copies are `Bytes` clones (a reference count, no memcpy), so v1's bytes reach the client as they
//! arrive and the capture costs one atomic per chunk. The copy is handed over through a oneshot
//! once the stream ends — or when the wrapper is dropped early (client gone), as `Aborted`.
//! Every captured byte is reserved against the global [`ByteBudget`] first: past the per-side cap
//! or the global budget, the copy is dropped (and the reason kept) while the stream goes on.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

use crate::tee::budget::{ByteBudget, Held};

/// Why a capture holds no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureEnd {
    /// Over the per-side cap.
    TooLarge,
    /// The global pending-bytes budget was exhausted.
    Overloaded,
    /// The body stream failed.
    Failed,
    /// The body was dropped before its end (client or upstream gone).
    Aborted,
}

/// A complete captured body, with its bytes still reserved in the budget.
#[derive(Debug)]
pub struct CapturedBody {
    chunks: Vec<Bytes>,
    len: usize,
    _held: Held,
}

impl CapturedBody {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A body that was not captured from a stream (replay reads v1's from a file): it holds no
    /// bytes of the budget, which bounds what the proxy copies off live traffic.
    pub fn detached(body: Bytes, budget: &Arc<ByteBudget>) -> Self {
        Self {
            len: body.len(),
            chunks: vec![body],
            _held: Held::empty(budget),
        }
    }

    /// One contiguous buffer; free when the body came in one chunk (the common case).
    pub fn contiguous(&self) -> Bytes {
        match self.chunks.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut buf = BytesMut::with_capacity(self.len);
                for c in many {
                    buf.extend_from_slice(c);
                }
                buf.freeze()
            }
        }
    }
}

pub type CaptureResult = Result<CapturedBody, CaptureEnd>;

/// Why [`read_capped`] stopped before the end of a body.
#[derive(Debug)]
pub enum ReadEnd<E> {
    /// Over the per-side cap: reading stopped at the first chunk past it.
    TooLarge,
    /// The global pending-bytes budget was exhausted.
    Overloaded,
    /// The body stream failed.
    Body(E),
}

/// Read a whole body (v2's) into a capture, reserving its bytes in the budget as they arrive,
/// so bytes in flight count against `limits.max_pending_bytes` too; stops at the first chunk
/// over `cap` instead of reading on.
pub async fn read_capped<B>(
    body: B,
    cap: usize,
    budget: &Arc<ByteBudget>,
) -> Result<CapturedBody, ReadEnd<B::Error>>
where
    B: Body<Data = Bytes>,
{
    use http_body_util::BodyExt as _;
    let mut body = std::pin::pin!(body);
    let mut held = Held::empty(budget);
    let (mut chunks, mut len) = (Vec::new(), 0usize);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(ReadEnd::Body)?.into_data() else {
            continue;
        };
        if len + data.len() > cap {
            return Err(ReadEnd::TooLarge);
        }
        if !held.grow(data.len()) {
            return Err(ReadEnd::Overloaded);
        }
        len += data.len();
        chunks.push(data);
    }
    Ok(CapturedBody {
        chunks,
        len,
        _held: held,
    })
}

/// The capturing half of a tee; sends its result exactly once (on end, error, or drop).
#[derive(Debug)]
pub struct Capture {
    chunks: Vec<Bytes>,
    len: usize,
    cap: usize,
    held: Held,
    failed: Option<CaptureEnd>,
    tx: Option<oneshot::Sender<CaptureResult>>,
}

impl Capture {
    pub fn new(cap: usize, budget: &Arc<ByteBudget>) -> (Self, oneshot::Receiver<CaptureResult>) {
        let (tx, rx) = oneshot::channel();
        let held = Held::empty(budget);
        (
            Self {
                chunks: Vec::new(),
                len: 0,
                cap,
                held,
                failed: None,
                tx: Some(tx),
            },
            rx,
        )
    }

    fn push(&mut self, data: &Bytes) {
        if self.failed.is_some() || data.is_empty() {
            return;
        }
        let new_len = self.len + data.len();
        let end = if new_len > self.cap {
            Some(CaptureEnd::TooLarge)
        } else if !self.held.grow(data.len()) {
            Some(CaptureEnd::Overloaded)
        } else {
            None
        };
        match end {
            None => {
                self.chunks.push(data.clone());
                self.len = new_len;
            }
            Some(why) => self.fail(why),
        }
    }

    /// Give up on the copy: free its bytes now, not when the stream ends.
    fn fail(&mut self, why: CaptureEnd) {
        self.failed = Some(why);
        self.chunks = Vec::new();
        self.held.release_all();
    }

    fn finish(&mut self, end: Option<CaptureEnd>) {
        let Some(tx) = self.tx.take() else { return };
        let result = match end.or(self.failed) {
            Some(why) => Err(why),
            None => {
                let held = self.held.take();
                Ok(CapturedBody {
                    chunks: std::mem::take(&mut self.chunks),
                    len: self.len,
                    _held: held,
                })
            }
        };
        // The receiver may be gone (mirror abandoned); nothing to do then.
        let _ = tx.send(result);
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.finish(Some(CaptureEnd::Aborted));
    }
}

pin_project_lite::pin_project! {
    /// A body that tees into up to two [`Capture`]s — the mirror's and the recording's, each
    /// with its own cap; without any it is a plain pass-through.
    pub struct TeeBody<B> {
        #[pin]
        inner: B,
        capture: Option<Capture>,
        record: Option<Capture>,
    }
}

impl<B: Body<Data = Bytes>> TeeBody<B> {
    pub fn new(inner: B, capture: Option<Capture>) -> Self {
        Self::with_record(inner, capture, None)
    }

    /// A tee for the mirror (`capture`) and for a recording (`record`).
    pub fn with_record(inner: B, capture: Option<Capture>, record: Option<Capture>) -> Self {
        let mut tee = Self {
            inner,
            capture,
            record,
        };
        // An already-finished body (empty, HEAD, 204) may never be polled: settle it now.
        if tee.inner.is_end_stream() {
            for c in [tee.capture.as_mut(), tee.record.as_mut()]
                .into_iter()
                .flatten()
            {
                c.finish(None);
            }
        }
        tee
    }

    pub fn passthrough(inner: B) -> Self {
        Self::with_record(inner, None, None)
    }
}

impl<B: Body<Data = Bytes>> Body for TeeBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        for capture in [this.capture.as_mut(), this.record.as_mut()]
            .into_iter()
            .flatten()
        {
            match &frame {
                Some(Ok(f)) => {
                    if let Some(data) = f.data_ref() {
                        capture.push(data);
                    }
                    // With a known length the server stops polling after the last byte.
                    if this.inner.is_end_stream() {
                        capture.finish(None);
                    }
                }
                Some(Err(_)) => capture.finish(Some(CaptureEnd::Failed)),
                None => capture.finish(None),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;

    use http_body_util::BodyExt;

    use super::*;

    fn budget(limit: usize) -> Arc<ByteBudget> {
        ByteBudget::new(limit, prometheus::IntGauge::new("g", "g").unwrap())
    }

    /// A body of fixed chunks that reports its end only after the last poll, like a chunked stream.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    fn chunks(parts: &[&'static str]) -> Chunks {
        Chunks(
            parts
                .iter()
                .map(|p| Bytes::from_static(p.as_bytes()))
                .collect(),
        )
    }

    #[tokio::test]
    async fn passes_every_byte_and_captures_a_copy() {
        let b = budget(1 << 20);
        let (cap, rx) = Capture::new(1024, &b);
        let out = TeeBody::new(chunks(&["{\"a\":", "1}"]), Some(cap))
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&out[..], b"{\"a\":1}");
        let got = rx.await.unwrap().unwrap();
        assert_eq!(&got.contiguous()[..], b"{\"a\":1}");
        assert_eq!(
            b.used(),
            7,
            "captured bytes stay reserved while the capture lives"
        );
        drop(got);
        assert_eq!(b.used(), 0, "and are released with it");
    }

    #[tokio::test]
    async fn the_mirror_and_the_recording_each_get_a_copy_within_their_own_cap() {
        let b = budget(1 << 20);
        let (mirror, mirror_rx) = Capture::new(1024, &b);
        let (record, record_rx) = Capture::new(4, &b);
        let out = TeeBody::with_record(chunks(&["abc", "def"]), Some(mirror), Some(record))
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&out[..], b"abcdef");
        assert_eq!(
            &mirror_rx.await.unwrap().unwrap().contiguous()[..],
            b"abcdef"
        );
        assert_eq!(record_rx.await.unwrap().unwrap_err(), CaptureEnd::TooLarge);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn over_the_cap_the_client_still_gets_everything() {
        let b = budget(1 << 20);
        let (cap, rx) = Capture::new(4, &b);
        let out = TeeBody::new(chunks(&["abc", "def", "ghi"]), Some(cap))
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&out[..], b"abcdefghi");
        assert_eq!(rx.await.unwrap().unwrap_err(), CaptureEnd::TooLarge);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn global_budget_exhausted_is_overloaded() {
        let b = budget(5);
        let (cap, rx) = Capture::new(1024, &b);
        let out = TeeBody::new(chunks(&["abc", "def"]), Some(cap))
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&out[..], b"abcdef");
        assert_eq!(rx.await.unwrap().unwrap_err(), CaptureEnd::Overloaded);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn dropped_midway_reports_aborted() {
        let b = budget(1 << 20);
        let (cap, rx) = Capture::new(1024, &b);
        let mut tee = TeeBody::new(chunks(&["abc", "def"]), Some(cap));
        let first = tee.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "abc");
        drop(tee);
        assert_eq!(rx.await.unwrap().unwrap_err(), CaptureEnd::Aborted);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn an_empty_body_settles_without_being_polled() {
        let b = budget(16);
        let (cap, rx) = Capture::new(16, &b);
        let _tee = TeeBody::new(http_body_util::Empty::<Bytes>::new(), Some(cap));
        assert!(rx.await.unwrap().unwrap().is_empty());
    }

    #[tokio::test]
    async fn read_capped_keeps_a_body_within_the_cap_and_its_bytes_reserved() {
        let b = budget(1 << 20);
        let got = read_capped(chunks(&["ab", "cd"]), 4, &b).await.unwrap();
        assert_eq!(&got.contiguous()[..], b"abcd");
        assert_eq!(b.used(), 4);
        drop(got);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn read_capped_stops_at_the_cap_or_the_budget() {
        let b = budget(1 << 20);
        assert!(matches!(
            read_capped(chunks(&["abc", "def"]), 4, &b).await,
            Err(ReadEnd::TooLarge)
        ));
        assert_eq!(b.used(), 0, "a refused body holds nothing");
        let tight = budget(4);
        assert!(matches!(
            read_capped(chunks(&["abc", "def"]), 1024, &tight).await,
            Err(ReadEnd::Overloaded)
        ));
        assert_eq!(tight.used(), 0);
    }
}
