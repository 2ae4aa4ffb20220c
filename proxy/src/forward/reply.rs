//! What the client gets back: v1's streamed body, or a short error of the proxy's own.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use crate::net::idle::IdleBody;
use crate::tee::TeeBody;

/// v1's streamed body, or a short error body of the proxy's own.
pub type ProxyBody = Either<TeeBody<IdleBody<Incoming>>, Full<Bytes>>;

/// A gRPC call the proxy ends itself: HTTP 200 with the status in the headers (a
/// "trailers-only" response), as gRPC clients expect; `message` is plain ASCII.
pub fn grpc_error(code: u32, message: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::new())));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(code));
    h.insert("grpc-message", HeaderValue::from_static(message));
    resp
}

/// A short plain-text response of the proxy's own.
pub fn error(status: StatusCode, msg: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from_static(msg.as_bytes()))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
