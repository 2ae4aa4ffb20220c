//! Misbehaving peers over raw TCP: upstreams that hang, reset, speak garbage or stream forever,
//! and a client that writes exact bytes and reads whatever comes back. Ephemeral ports only.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{eventually, TestProxy};

/// A raw TCP upstream: every accepted connection goes to `handler` in its own task.
pub struct RawUpstream {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl RawUpstream {
    pub async fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(handler(stream));
            }
        });
        Self { addr, accepted }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Accepts, reads the request, never answers; holds the connection until the peer closes it.
pub async fn hung_upstream() -> RawUpstream {
    RawUpstream::start(|mut s| async move {
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await
}

/// Reads the request head, answers `bytes` verbatim, then closes.
pub async fn garbage_upstream(bytes: &'static [u8]) -> RawUpstream {
    RawUpstream::start(move |mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s.write_all(bytes).await;
        let _ = s.shutdown().await;
    })
    .await
}

/// For a path under `/reset`: answers 200 with `Content-Length: 1000` (JSON), sends the first 100
/// body bytes, then resets the connection (SO_LINGER 0: an RST, not a FIN). Any other path gets a
/// plain `200 {"ok":true}` and the connection is closed.
pub async fn reset_mid_body_upstream() -> RawUpstream {
    RawUpstream::start(|mut s| async move {
        let Ok(head) = read_head(&mut s).await else {
            return;
        };
        if !head.split(|b| *b == b' ').nth(1).is_some_and(|p| p.starts_with(b"/reset")) {
            let ok = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}";
            let _ = s.write_all(ok.as_bytes()).await;
            let _ = s.shutdown().await;
            return;
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(&[b' '; 100]).await;
        let _ = s.flush().await;
        // Let the head and the partial body reach the peer before the reset discards them.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = s.set_zero_linger();
        drop(s);
    })
    .await
}

/// Answers 200 with a chunked body of 16 KiB chunks, one every 10 ms, until the peer goes away.
pub async fn endless_upstream() -> RawUpstream {
    RawUpstream::start(|mut s| async move {
        let _ = read_head(&mut s).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let mut chunk = format!("{:x}\r\n", 16 * 1024).into_bytes();
        chunk.extend_from_slice(&[b'x'; 16 * 1024]);
        chunk.extend_from_slice(b"\r\n");
        while s.write_all(&chunk).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Read up to the end of a request or response head (`\r\n\r\n`); what follows may be included.
pub async fn read_head(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(got)
}

/// Connect, write `bytes` in one write, read until the server closes (at most 10 s).
/// On a keep-alive connection, end the last request with `Connection: close`.
pub async fn raw_request(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .expect("read");
    out
}

/// One parsed response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Split a byte stream into the HTTP/1.1 responses it holds (Content-Length or chunked bodies).
pub fn parse_responses(mut bytes: &[u8]) -> Vec<RawResponse> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete response head");
        let head = std::str::from_utf8(&bytes[..end]).expect("ASCII head");
        bytes = &bytes[end + 4..];
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let mut resp = RawResponse {
            status: status.parse().unwrap(),
            headers,
            body: Vec::new(),
        };
        if let Some(len) = resp.header("content-length") {
            let len: usize = len.parse().unwrap();
            resp.body = bytes[..len].to_vec();
            bytes = &bytes[len..];
        } else if resp.header("transfer-encoding") == Some("chunked") {
            loop {
                let eol = bytes.windows(2).position(|w| w == b"\r\n").unwrap();
                let size = std::str::from_utf8(&bytes[..eol]).unwrap();
                let size = usize::from_str_radix(size.split(';').next().unwrap(), 16).unwrap();
                bytes = &bytes[eol + 2..];
                if size == 0 {
                    // No trailers expected: the final CRLF.
                    bytes = &bytes[2..];
                    break;
                }
                resp.body.extend_from_slice(&bytes[..size]);
                bytes = &bytes[size + 2..];
            }
        }
        out.push(resp);
    }
    out
}

/// After a fault: every mirror has ended and no captured byte is still held.
pub async fn assert_drained(proxy: &TestProxy) {
    let shared = &proxy.running.shared;
    eventually(Duration::from_secs(10), || {
        shared.metrics.mirrors_in_flight.get() == 0 && shared.metrics.pending_bytes.get() == 0
    })
    .await;
    let m = proxy.metrics().await;
    assert_eq!(m.value("shadowdiff_mirrors_in_flight", &[]), 0.0);
    assert_eq!(m.value("shadowdiff_pending_bytes", &[]), 0.0);
}

/// Answers the first request on each connection (200, keep-alive), then reads the next request
/// whole and closes without a byte of answer: a keep-alive connection the upstream dropped just
/// as the request arrived. Counts the requests it received by method.
pub struct StaleUpstream {
    pub upstream: RawUpstream,
    pub gets: Arc<AtomicUsize>,
    pub posts: Arc<AtomicUsize>,
}

pub async fn stale_upstream() -> StaleUpstream {
    let (gets, posts) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (g, p) = (gets.clone(), posts.clone());
    let upstream = RawUpstream::start(move |mut s| {
        let (g, p) = (g.clone(), p.clone());
        async move {
            for nth in 0.. {
                let Ok(head) = read_head(&mut s).await else {
                    return;
                };
                if head.is_empty() {
                    return;
                }
                if head.starts_with(b"POST") {
                    p.fetch_add(1, Ordering::SeqCst);
                } else {
                    g.fetch_add(1, Ordering::SeqCst);
                }
                if nth > 0 {
                    // Dropped with the request unanswered (bodies here fit in the first read).
                    return;
                }
                let ok = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 8\r\n\r\n{\"v\":1}\n";
                if s.write_all(ok.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    StaleUpstream {
        upstream,
        gets,
        posts,
    }
}

/// Answers every request with a chunked JSON body `{"a":1}` ended by the trailer
/// `x-checksum: VALUE` (declared in `Trailer`, as HTTP/1.1 requires).
pub async fn trailer_upstream(value: &'static str) -> RawUpstream {
    RawUpstream::start(move |mut s| async move {
        loop {
            match read_head(&mut s).await {
                Ok(head) if !head.is_empty() => {}
                _ => return,
            }
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\
                 trailer: x-checksum\r\n\r\n7\r\n{{\"a\":1}}\r\n0\r\nx-checksum: {value}\r\n\r\n"
            );
            if s.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await
}
