//! The pooled clients' connector under the upstream's connection cap: every connection the pool
//! opens first takes a slot (`cap.rs`), and gives it back when the connection closes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::Authority;
use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use tower_service::Service;

use crate::upstream::cap::{ConnectionCap, Slot};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector whose connections each hold a slot of `cap`.
#[derive(Clone)]
pub struct CappedConnector<C> {
    inner: C,
    cap: Arc<ConnectionCap>,
    /// What to dial, whatever authority a request's URI carries (see `Target::pooled_uri`).
    target: Authority,
}

impl<C> CappedConnector<C> {
    pub fn new(inner: C, cap: Arc<ConnectionCap>, target: Authority) -> Self {
        Self { inner, cap, target }
    }
}

impl<C> Service<Uri> for CappedConnector<C>
where
    C: Service<Uri> + Clone + Send + 'static,
    C::Future: Send,
    C::Error: Into<BoxError>,
{
    type Response = Capped<C::Response>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut parts = uri.into_parts();
        parts.authority = Some(self.target.clone());
        let uri = Uri::from_parts(parts);
        let (cap, mut inner) = (self.cap.clone(), self.inner.clone());
        // `poll_ready` readied `self.inner`; the clone is polled ready again inside.
        std::mem::swap(&mut inner, &mut self.inner);
        Box::pin(async move {
            let uri = uri?;
            let slot = cap.acquire().await?;
            let io = inner.call(uri).await.map_err(Into::into)?;
            Ok(Capped { io, _slot: slot })
        })
    }
}

/// A connection holding its slot.
pub struct Capped<T> {
    io: T,
    _slot: Slot,
}

impl<T: Connection> Connection for Capped<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

impl<T: Read + Unpin> Read for Capped<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Capped<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
