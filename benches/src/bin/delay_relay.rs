//! A TCP relay that can add latency, for the fault harness (`benches/isolation/faults.sh`): this
//! machine's kernel has no netem.
//!
//!     delay_relay LISTEN UPSTREAM DELAY_MS
//!
//! Every connection to LISTEN is relayed to UPSTREAM. While the delay is on, each chunk coming
//! back from UPSTREAM is held DELAY_MS before it is passed on (in order, so a response arrives
//! DELAY_MS late, like netem's delay on the return path); the request direction is not delayed.
//! The delay starts off; SIGUSR1 turns it on, SIGUSR2 off. One thread, no busy loops: it must
//! cost the machine almost nothing next to what it measures.
#![allow(clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: delay_relay LISTEN UPSTREAM DELAY_MS");
        std::process::exit(2);
    }
    let Ok(delay_ms) = args[3].parse::<u64>() else {
        eprintln!("delay_relay: DELAY_MS must be an integer, got {}", args[3]);
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(serve(args[1].clone(), args[2].clone(), delay_ms));
}

async fn serve(listen: String, upstream: String, delay_ms: u64) {
    let listener = match TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("delay_relay: binding {listen}: {e}");
            std::process::exit(1);
        }
    };
    let delay = Arc::new(AtomicU64::new(0));
    let d = delay.clone();
    tokio::spawn(async move {
        let (Ok(mut on), Ok(mut off)) = (
            signal(SignalKind::user_defined1()),
            signal(SignalKind::user_defined2()),
        ) else {
            eprintln!("delay_relay: cannot install signal handlers");
            std::process::exit(1);
        };
        loop {
            tokio::select! {
                _ = on.recv() => d.store(delay_ms, Ordering::Relaxed),
                _ = off.recv() => d.store(0, Ordering::Relaxed),
            }
        }
    });
    let upstream: Arc<str> = upstream.into();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let (upstream, delay) = (upstream.clone(), delay.clone());
        tokio::spawn(async move {
            if let Ok(server) = TcpStream::connect(&*upstream).await {
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                relay(client, server, delay).await;
            }
        });
    }
}

async fn relay(client: TcpStream, server: TcpStream, delay: Arc<AtomicU64>) {
    let (mut client_r, mut client_w) = client.into_split();
    let (mut server_r, mut server_w) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut client_r, &mut server_w).await;
        let _ = server_w.shutdown().await;
    };
    // Reader stamps each chunk with when it may leave; the writer waits for that moment.
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = server_r.read(&mut buf).await {
            let due = Instant::now() + Duration::from_millis(delay.load(Ordering::Relaxed));
            if tx.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    let write = async {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if client_w.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = client_w.shutdown().await;
    };
    tokio::join!(up, async { tokio::join!(read, write) });
}
