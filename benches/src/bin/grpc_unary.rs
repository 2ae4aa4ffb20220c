//! Question: what does putting shadowdiff in front of a gRPC service cost a unary call?
//!
//! One process: the tests' tonic quotes service (v1 and v2, h2c), the proxy in front of v1
//! (`protocol = "h2c"`), and C concurrent tonic clients calling `GetQuote` for D seconds,
//! alternating direct → through the proxy at 0 % → through the proxy at 100 % mirroring, for R
//! rounds. Prints calls/s and p50/p99 per arm, medians over rounds, and each proxied arm's
//! ratio to direct measured in the same round.
//!
//!     cargo run --release -p shadowdiff-benches --bin grpc_unary -- [ROUNDS] [SECONDS] [CLIENTS]
//!
//! Everything shares the machine's cores (one runtime, worker threads = cores): the ratio is
//! what the proxy adds to a caller on the same host, not a throughput ceiling.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shadowdiff_e2e::grpc::{self, pb::QuoteRequest, Behaviour};

struct Arm {
    calls_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn measure(addr: SocketAddr, seconds: u64, clients: usize) -> Arm {
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut c = grpc::client(addr).await;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let ok = c
                    .get_quote(QuoteRequest {
                        symbol: "ACME".into(),
                        ..Default::default()
                    })
                    .await
                    .is_ok();
                if ok {
                    lat.push(t.elapsed().as_micros() as f64);
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap_or_default());
    }
    lat.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        lat.get(((lat.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Arm {
        calls_per_s: lat.len() as f64 / seconds as f64,
        p50_us: pick(0.5),
        p99_us: pick(0.99),
    }
}

async fn proxy(v1: SocketAddr, v2: SocketAddr, percent: u32) -> shadowdiff::Running {
    let text = format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmirror_percent = {percent}\n\
         [log]\nlevel = \"error\"\n\
         [primary]\nurl = \"http://{v1}\"\nprotocol = \"h2c\"\n\
         [candidate]\nurl = \"http://{v2}\"\nprotocol = \"h2c\"\n\
         [[routes]]\nname = \"quotes\"\npath_prefix = \"/quotes.v1.Quotes/\"\nallow_unsafe_methods = true\n"
    );
    let cfg = config::Config::from_toml_str(&text, &config::Overrides::default()).expect("config");
    let shared = shadowdiff::Shared::new(cfg).expect("proxy state");
    shadowdiff::start(shared).await.expect("proxy start")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (rounds, seconds, clients) = (
        args.first().copied().unwrap_or(5),
        args.get(1).copied().unwrap_or(3),
        args.get(2).copied().unwrap_or(16) as usize,
    );
    let v1 = grpc::serve_h2c(Behaviour::default()).await;
    let v2 = grpc::serve_h2c(Behaviour::default()).await;
    let p0 = proxy(v1, v2, 0).await;
    let p100 = proxy(v1, v2, 100).await;
    let arms = [
        ("direct", v1),
        ("proxy 0 %", p0.listen),
        ("proxy 100 %", p100.listen),
    ];
    // Warm every path once.
    for (_, addr) in &arms {
        measure(*addr, 1, clients).await;
    }
    let mut rows: Vec<Vec<Arm>> = arms.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, (_, addr)) in arms.iter().enumerate() {
            rows[i].push(measure(*addr, seconds, clients).await);
        }
    }
    println!(
        "gRPC unary GetQuote, {clients} clients, {rounds} rounds of {seconds} s per arm (medians)\n"
    );
    println!("| arm | calls/s | p50 | p99 | calls/s vs direct | p99 vs direct |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, (name, _)) in arms.iter().enumerate() {
        let ratio = |f: fn(&Arm) -> f64| {
            median(
                rows[i]
                    .iter()
                    .zip(&rows[0])
                    .map(|(a, d)| f(a) / f(d))
                    .collect(),
            )
        };
        println!(
            "| {name} | {:.0} | {:.0} µs | {:.0} µs | {:.2}× | {:.2}× |",
            median(rows[i].iter().map(|a| a.calls_per_s).collect()),
            median(rows[i].iter().map(|a| a.p50_us).collect()),
            median(rows[i].iter().map(|a| a.p99_us).collect()),
            ratio(|a| a.calls_per_s),
            ratio(|a| a.p99_us),
        );
    }
    p0.shutdown().await;
    p100.shutdown().await;
}
