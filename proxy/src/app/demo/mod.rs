//! `shadowdiff demo`: v1, v2 and the proxy in one process, a few hundred requests, a report.

pub mod sample;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub use sample::Role;

use crate::admin::summary::{self, RouteSummary};

/// The demo's config: one route per sample endpoint, everything mirrored.
fn demo_config(v1: SocketAddr, v2: SocketAddr, listen: &str, admin: &str) -> String {
    format!(
        r#"
listen = "{listen}"
admin = "{admin}"
mirror_percent = 100

[primary]
url = "http://{v1}"

[candidate]
url = "http://{v2}"
timeout = "2s"

[[routes]]
name = "users"
path_template = "/users/{{id}}"

[[routes]]
name = "orders"
path_template = "/orders/{{id}}"

[[routes]]
name = "catalog"
path_prefix = "/catalog"

[[routes]]
name = "slow"
path_prefix = "/slow"
"#
    )
}

pub async fn run(once: bool, requests: usize) -> anyhow::Result<()> {
    crate::observe::logging::init_logging(config::LogFormat::Text, "warn");
    let v1 = sample::spawn(Role::V1, ([127, 0, 0, 1], 0).into()).await?;
    let v2 = sample::spawn(Role::V2, ([127, 0, 0, 1], 0).into()).await?;
    // Friendly fixed ports when free, ephemeral ones when not.
    let running = match start_proxy(v1, v2, "127.0.0.1:8080", "127.0.0.1:9901").await {
        Ok(r) => r,
        Err(_) => start_proxy(v1, v2, "127.0.0.1:0", "127.0.0.1:0").await?,
    };
    println!(
        "shadowdiff demo: v1 on {v1}, v2 on {v2}, proxy on {}, admin on {}",
        running.listen, running.admin
    );
    drive(running.listen, requests).await?;
    settle(&running.shared).await;
    print_table(&summary::summary(&running.shared).routes);
    if once {
        running.shutdown().await;
        return Ok(());
    }
    let (l, a) = (running.listen, running.admin);
    println!("\nStill serving. Try:");
    println!("  curl -i http://{l}/orders/7        # served by v1; v2's answer differs at /total");
    println!("  curl -i http://{l}/users/7         # v2 reorders keys: still a match");
    println!("  open   http://{a}/                 # the report page");
    println!("  curl   http://{a}/api/mismatches?limit=3");
    println!("  curl   http://{a}/metrics");
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}

async fn start_proxy(
    v1: SocketAddr,
    v2: SocketAddr,
    listen: &str,
    admin: &str,
) -> anyhow::Result<crate::Running> {
    let cfg = config::Config::from_toml_str(
        &demo_config(v1, v2, listen, admin),
        &config::Overrides::default(),
    )
    .context("demo config")?;
    let shared = crate::Shared::new(cfg)?;
    crate::start(shared).await
}

const PATHS: [&str; 4] = ["/users/", "/orders/", "/catalog", "/slow"];

/// Send `n` requests, 8 at a time, with a progress bar.
async fn drive(proxy: SocketAddr, n: usize) -> anyhow::Result<()> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let started = Instant::now();
    let mut done = 0usize;
    for batch in (0..n).collect::<Vec<_>>().chunks(8) {
        let mut tasks = Vec::with_capacity(batch.len());
        for &i in batch {
            let p = PATHS[i % PATHS.len()];
            let path = if p.ends_with('/') {
                format!("{p}{}", i % 50)
            } else {
                p.to_string()
            };
            let uri: http::Uri = format!("http://{proxy}{path}").parse()?;
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let resp = client.get(uri).await?;
                resp.into_body().collect().await?;
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
            done += 1;
        }
        progress(done, n);
    }
    eprintln!(" {n} requests in {:.1?}", started.elapsed());
    Ok(())
}

fn progress(done: usize, total: usize) {
    const WIDTH: usize = 40;
    // A bar redrawn with carriage returns is for a terminal; a log gets a line per quarter.
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let quarter = total.div_ceil(4).max(1);
        if done % quarter < 8 || done == total {
            eprintln!("{done}/{total} requests");
        }
        return;
    }
    let filled = done * WIDTH / total.max(1);
    eprint!(
        "\r[{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
    let _ = std::io::stderr().flush();
}

/// Wait (briefly) until every mirror has ended as a comparison or a skip.
async fn settle(shared: &Arc<crate::Shared>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !shared.is_idle() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn print_table(routes: &[RouteSummary]) {
    println!(
        "\n{:<10} {:>9} {:>9} {:>9} {:>10} {:>8}  first differing path",
        "endpoint", "requests", "compared", "matched", "mismatched", "skipped"
    );
    for r in routes.iter().filter(|r| r.requests > 0) {
        let skipped: u64 = r.skipped.iter().map(|(_, n)| n).sum();
        println!(
            "{:<10} {:>9} {:>9} {:>9} {:>10} {:>8}  {}",
            r.route,
            r.requests,
            r.compared,
            r.matched,
            r.mismatched,
            skipped,
            r.first_path.as_deref().unwrap_or("-")
        );
    }
}
