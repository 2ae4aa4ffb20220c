//! A slow origin for the load harness's isolation rows (`benches/load/run.sh`, `isolation.sh`):
//! answers every request with one file after a fixed delay.
//!
//!     slow_origin PORT FILE DELAY_SECONDS
//!
//! One thread, HTTP/1.1 keep-alive, timers instead of threads: a thousand mirrors waiting on it
//! cost a few hundred bytes each and no wake-ups until their delay ends, so its CPU stays out
//! of the proxy's measurement (the Python origin it replaces took several µs of the shared
//! core per request). Binds 127.0.0.1 only.
#![allow(clippy::expect_used)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Response};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: slow_origin PORT FILE DELAY_SECONDS");
        std::process::exit(2);
    }
    let (Ok(port), Ok(delay)) = (args[1].parse::<u16>(), args[3].parse::<f64>()) else {
        eprintln!("slow_origin: PORT must be a port and DELAY_SECONDS a number");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(&args[2]).unwrap_or_else(|e| {
        eprintln!("slow_origin: reading {}: {e}", args[2]);
        std::process::exit(2);
    }));
    let delay = Duration::from_secs_f64(delay.max(0.0));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(serve(port, body, delay));
}

async fn serve(port: u16, body: Bytes, delay: Duration) {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| {
            eprintln!("slow_origin: binding 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        });
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req| {
                let body = body.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    // The headers the nginx origins send that a comparison reads (Date and
                    // Server are noise by default), so a compared pair differs only in timing.
                    let response = Response::builder()
                        .header(header::CONTENT_TYPE, "application/json")
                        .header(header::LAST_MODIFIED, "Mon, 01 Jan 2024 00:00:00 GMT")
                        .header(header::ACCEPT_RANGES, "bytes")
                        .body(Full::new(body))
                        .expect("static response");
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
