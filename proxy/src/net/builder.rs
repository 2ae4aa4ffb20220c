//! The hyper server builders: HTTP/1.1 keep-alive and h2 on one port (data listener, sample
//! services), HTTP/1.1 alone (admin listener).

use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

/// The sample services' request-head deadline (slowloris guard).
const SAMPLE_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pings on idle h2 connections, so a peer that vanished is noticed and its connection freed.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// The sample services' h2 stream cap.
const SAMPLE_MAX_STREAMS: u32 = 100;

/// HTTP/1.1 with keep-alive and h2 (prior knowledge or ALPN); `header_read_timeout` bounds
/// the wait for each request head, idle keep-alive time included; `max_streams` bounds the h2
/// streams one connection may have open (each can become an upstream request).
pub fn http_builder_with(
    header_read_timeout: Duration,
    max_streams: u32,
) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE)
        .max_concurrent_streams(max_streams);
    b
}

pub fn http_builder() -> auto::Builder<TokioExecutor> {
    http_builder_with(SAMPLE_HEADER_READ_TIMEOUT, SAMPLE_MAX_STREAMS)
}

/// HTTP/1.1 only, with keep-alive and the same request-head deadline.
pub fn http1_builder(header_read_timeout: Duration) -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true);
    b
}
