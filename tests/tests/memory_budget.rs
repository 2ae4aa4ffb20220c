//! `limits.max_pending_bytes` bounds what mirroring holds: captured bodies (a declared length
//! reserved before a byte is read) and each mirror in flight, so a slow v2 under load cannot
//! pile up memory, while every client still gets v1's whole answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shadowdiff_e2e::{get, json, TestProxy, Upstream};

#[tokio::test]
async fn a_slow_v2_under_load_holds_no_more_than_the_budget() {
    let body: &'static str =
        Box::leak(format!("{{\"pad\":\"{}\"}}", "x".repeat(200 * 1024)).into_boxed_str());
    let v1 = Upstream::start(move |_| async move { json(body) }).await;
    let v2 = Upstream::start(move |_| async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        json(body)
    })
    .await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 100\n[limits]\nmax_capture_bytes = \"256KiB\"\nmax_pending_bytes = \"1MiB\"",
    )
    .await;
    // Watch the budget and the mirrors in flight while 100 clients fetch at once.
    let shared = proxy.running.shared.clone();
    let (peak_bytes, peak_mirrors) = (Arc::new(AtomicI64::new(0)), Arc::new(AtomicI64::new(0)));
    let (pb, pm, s) = (peak_bytes.clone(), peak_mirrors.clone(), shared.clone());
    let watcher = tokio::spawn(async move {
        loop {
            pb.fetch_max(s.metrics.pending_bytes.get(), Ordering::Relaxed);
            pm.fetch_max(s.metrics.mirrors_in_flight.get(), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let url = proxy.url(&format!("/doc/{i}"));
            tokio::spawn(async move { get(&url).await })
        })
        .collect();
    for c in calls {
        let (status, _, got) = c.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            got.len(),
            body.len(),
            "the client always gets v1's whole body"
        );
    }
    proxy.settle().await;
    watcher.abort();
    assert!(
        peak_bytes.load(Ordering::Relaxed) <= 1 << 20,
        "the budget held"
    );
    // Each mirror in flight holds 64 KiB of the budget: at most 16 in a 1 MiB budget.
    assert!(
        peak_mirrors.load(Ordering::Relaxed) <= 16,
        "mirrors in flight were bounded by the budget, saw {}",
        peak_mirrors.load(Ordering::Relaxed)
    );
    let m = proxy.metrics().await;
    assert!(
        m.skipped("default", "overloaded") > 0.0,
        "what did not fit was shed, counted"
    );
    assert!(
        m.comparisons("default", "match") > 0.0,
        "and what fitted was compared"
    );
    assert_eq!(
        shared.metrics.pending_bytes.get(),
        0,
        "nothing held afterwards"
    );
    proxy.running.shutdown().await;
}
