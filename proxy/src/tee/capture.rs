//! The tee: a body wrapper that passes every frame through untouched and keeps a capped copy.
//!
//! v1's bytes reach the client as they arrive; the copy is taken into memory of the capture's own
//! and handed over through a oneshot once the stream ends — or when the wrapper is dropped early
//! (client gone), as `Aborted`. Every byte of the copy is reserved against the global
//! [`ByteBudget`] before it is allocated (a declared length up front): past the per-side cap or
//! the global budget, the copy is dropped (and the reason kept) while the stream goes on.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
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
    bytes: Bytes,
    /// The trailers that ended the body, if it had any (gRPC's status lives there).
    pub trailers: Option<HeaderMap>,
    _held: Held,
}

impl CapturedBody {
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A body that was not captured from a stream (replay reads v1's from a file): it holds no
    /// bytes of the budget, which bounds what the proxy copies off live traffic.
    pub fn detached(body: Bytes, budget: &Arc<ByteBudget>) -> Self {
        Self {
            bytes: body,
            trailers: None,
            _held: Held::empty(budget),
        }
    }

    /// The body, contiguous (a reference count, no copy).
    pub fn contiguous(&self) -> Bytes {
        self.bytes.clone()
    }
}

pub type CaptureResult = Result<CapturedBody, CaptureEnd>;

/// Bytes copied out of a body into memory of the capture's own, every byte of it reserved in the
/// budget before it is allocated. Copied, not `Bytes` clones of the stream's chunks: a clone
/// keeps the upstream connection's whole read buffer alive (an 8 KiB buffer for a 1 KiB body, up
/// to 400 KiB for a large one), memory the budget would never have seen.
#[derive(Debug)]
pub struct CaptureBuf {
    buf: Vec<u8>,
    cap: usize,
    held: Held,
}

impl CaptureBuf {
    /// A declared length (`Content-Length`) is checked against `cap` and reserved whole, up
    /// front: a body that cannot be kept is known before a byte of it is read.
    pub fn new(
        cap: usize,
        budget: &Arc<ByteBudget>,
        declared: Option<u64>,
    ) -> Result<Self, CaptureEnd> {
        let mut held = Held::empty(budget);
        let mut buf = Vec::new();
        if let Some(n) = declared {
            let n = usize::try_from(n).map_err(|_| CaptureEnd::TooLarge)?;
            if n > cap {
                return Err(CaptureEnd::TooLarge);
            }
            if !held.grow(n) {
                return Err(CaptureEnd::Overloaded);
            }
            buf.reserve_exact(n);
        }
        Ok(Self { buf, cap, held })
    }

    pub fn push(&mut self, data: &[u8]) -> Result<(), CaptureEnd> {
        let need = self.buf.len() + data.len();
        if need > self.cap {
            return Err(CaptureEnd::TooLarge);
        }
        let reserved = self.held.bytes();
        if need > reserved {
            // Geometric growth, so a chunked body costs few reallocations; never past the cap.
            let want = need.max(reserved.saturating_mul(2)).min(self.cap);
            if !self.held.grow(want - reserved) {
                return Err(CaptureEnd::Overloaded);
            }
            self.buf.reserve_exact(want - self.buf.len());
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The body as it will be held until its comparison ends: exactly its length, in memory
    /// and in the budget (growth room is given back; a declared length has none).
    pub fn finish(mut self, trailers: Option<HeaderMap>) -> CapturedBody {
        if self.buf.capacity() > self.buf.len() {
            self.buf.shrink_to_fit();
        }
        self.held.shrink_to(self.buf.len());
        CapturedBody {
            bytes: Bytes::from(self.buf),
            trailers,
            _held: self.held,
        }
    }
}

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

/// Read a whole body (v2's) into a capture, reserving its bytes in the budget before they are
/// kept (a declared length up front, before anything is read); stops at the first chunk over
/// `cap` or past the budget instead of reading on.
pub async fn read_capped<B>(
    body: B,
    cap: usize,
    budget: &Arc<ByteBudget>,
    declared: Option<u64>,
) -> Result<CapturedBody, ReadEnd<B::Error>>
where
    B: Body<Data = Bytes>,
{
    use http_body_util::BodyExt as _;
    let ended = |e: CaptureEnd| match e {
        CaptureEnd::Overloaded => ReadEnd::Overloaded,
        _ => ReadEnd::TooLarge,
    };
    let mut buf = CaptureBuf::new(cap, budget, declared).map_err(ended)?;
    let mut body = std::pin::pin!(body);
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        match frame.map_err(ReadEnd::Body)?.into_data() {
            Ok(data) => buf.push(&data).map_err(ended)?,
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    Ok(buf.finish(trailers))
}

/// The capturing half of a tee; sends its result exactly once (on end, error, or drop).
#[derive(Debug)]
pub struct Capture {
    /// `None` once the copy was given up (the reason is in `failed`).
    buf: Option<CaptureBuf>,
    trailers: Option<HeaderMap>,
    failed: Option<CaptureEnd>,
    tx: Option<oneshot::Sender<CaptureResult>>,
}

impl Capture {
    /// A capture of at most `cap` bytes; `declared` is the body's `Content-Length`, if any.
    pub fn new(
        cap: usize,
        budget: &Arc<ByteBudget>,
        declared: Option<u64>,
    ) -> (Self, oneshot::Receiver<CaptureResult>) {
        let (tx, rx) = oneshot::channel();
        let (buf, failed) = match CaptureBuf::new(cap, budget, declared) {
            Ok(buf) => (Some(buf), None),
            Err(why) => (None, Some(why)),
        };
        (
            Self {
                buf,
                trailers: None,
                failed,
                tx: Some(tx),
            },
            rx,
        )
    }

    /// `Err(why)` once the copy has been given up.
    pub fn state(&self) -> Result<(), CaptureEnd> {
        self.failed.map_or(Ok(()), Err)
    }

    /// Copy `data` (a reference count), within the cap.
    pub fn push(&mut self, data: &Bytes) {
        let Some(buf) = self.buf.as_mut().filter(|_| !data.is_empty()) else {
            return;
        };
        if let Err(why) = buf.push(data) {
            self.fail(why);
        }
    }

    /// Give up on the copy: free its bytes now, not when the stream ends.
    fn fail(&mut self, why: CaptureEnd) {
        self.failed = Some(why);
        self.buf = None;
    }

    /// A trailer field of the body (kept with the copy, as a trailers frame would be).
    pub fn trailer(&mut self, name: HeaderName, value: HeaderValue) {
        self.trailers
            .get_or_insert_with(HeaderMap::new)
            .append(name, value);
    }

    /// The body ended (`None`), or failed: send the result, once.
    pub fn finish(&mut self, end: Option<CaptureEnd>) {
        let Some(tx) = self.tx.take() else { return };
        let result = match (end.or(self.failed), self.buf.take()) {
            (None, Some(buf)) => Ok(buf.finish(self.trailers.take())),
            (Some(why), _) => Err(why),
            // No buffer without a reason cannot happen; say aborted rather than invent a body.
            (None, None) => Err(CaptureEnd::Aborted),
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
                    } else if let Some(t) = f.trailers_ref() {
                        capture.trailers = Some(t.clone());
                    }
                    // With a known length the server stops polling after the last byte, and
                    // trailers are always the last frame: the server may drop the body after
                    // them without asking for its end.
                    if f.is_trailers() || this.inner.is_end_stream() {
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
    use crate::tee::budget::admit_mirror;

    fn budget(limit: usize) -> Arc<ByteBudget> {
        ByteBudget::new(limit, prometheus::IntGauge::new("g", "g").unwrap(), 0)
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
        let (cap, rx) = Capture::new(1024, &b, None);
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
        let (mirror, mirror_rx) = Capture::new(1024, &b, None);
        let (record, record_rx) = Capture::new(4, &b, None);
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
        let (cap, rx) = Capture::new(4, &b, None);
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
        let (cap, rx) = Capture::new(1024, &b, None);
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
        let (cap, rx) = Capture::new(1024, &b, None);
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
        let (cap, rx) = Capture::new(16, &b, None);
        let _tee = TeeBody::new(http_body_util::Empty::<Bytes>::new(), Some(cap));
        assert!(rx.await.unwrap().unwrap().is_empty());
    }

    #[tokio::test]
    async fn read_capped_keeps_a_body_within_the_cap_and_its_bytes_reserved() {
        let b = budget(1 << 20);
        let got = read_capped(chunks(&["ab", "cd"]), 4, &b, None)
            .await
            .unwrap();
        assert_eq!(&got.contiguous()[..], b"abcd");
        assert_eq!(b.used(), 4);
        drop(got);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn read_capped_stops_at_the_cap_or_the_budget() {
        let b = budget(1 << 20);
        assert!(matches!(
            read_capped(chunks(&["abc", "def"]), 4, &b, None).await,
            Err(ReadEnd::TooLarge)
        ));
        assert_eq!(b.used(), 0, "a refused body holds nothing");
        let tight = budget(4);
        assert!(matches!(
            read_capped(chunks(&["abc", "def"]), 1024, &tight, None).await,
            Err(ReadEnd::Overloaded)
        ));
        assert_eq!(tight.used(), 0);
    }

    /// The capture's verdict once its (empty, already finished) body has settled it.
    async fn settled(cap: Capture, rx: oneshot::Receiver<CaptureResult>) -> Option<CaptureEnd> {
        let _tee = TeeBody::new(http_body_util::Empty::<Bytes>::new(), Some(cap));
        rx.await.unwrap().err()
    }

    #[tokio::test]
    async fn a_declared_length_is_checked_and_reserved_before_a_byte_is_read() {
        let b = budget(100);
        let (cap, rx) = Capture::new(50, &b, Some(60));
        assert_eq!(settled(cap, rx).await, Some(CaptureEnd::TooLarge));
        let (kept, _kept_rx) = Capture::new(1024, &b, Some(80));
        assert_eq!(b.used(), 80, "reserved whole, up front");
        let (cap, rx) = Capture::new(1024, &b, Some(30));
        assert_eq!(
            settled(cap, rx).await,
            Some(CaptureEnd::Overloaded),
            "no room for it: known before reading"
        );
        drop(kept);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn a_kept_body_holds_exactly_its_length() {
        let b = budget(1 << 20);
        let (cap, rx) = Capture::new(1 << 20, &b, None);
        let body = chunks(&["aaaaa", "bbbbbbb", "c"]);
        let _ = TeeBody::new(body, Some(cap)).collect().await.unwrap();
        let got = rx.await.unwrap().unwrap();
        assert_eq!(&got.contiguous()[..], b"aaaaabbbbbbbc");
        assert_eq!(b.used(), 13, "growth room given back");
    }

    #[test]
    fn a_new_mirror_takes_its_overhead_and_a_promise_of_a_recent_pair() {
        let b = budget(1000);
        b.observe_pair(8000); // estimate 1000
        assert!(
            admit_mirror(&b, 10).is_none(),
            "no room beside a typical pair"
        );
        assert_eq!(b.used(), 0, "a refused mirror holds nothing");
        let b = budget(1000);
        b.observe_pair(800); // estimate 100
        let (own, promise) = admit_mirror(&b, 100).expect("room");
        assert_eq!(b.used(), 200);
        drop(promise);
        assert_eq!(b.used(), 100, "the promise goes back, the overhead stays");
        drop(own);
    }
}
