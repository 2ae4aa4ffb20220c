//! Question: how fast does the diff engine digest and compare real JSON bodies, and is the
//! canonical digest within reach of the cost of merely parsing the same bytes with serde_json?
//!
//! Targets (issue 3): canonical digest at least 0.8x `serde_json::from_slice::<Value>`; raw
//! digest at least 3 GB/s on bodies of 64 KiB and more. Corpus: twitter.json,
//! citm_catalog.json, canada.json from `$SHADOWDIFF_CORPUS`, or else `../shared/corpora/json`
//! relative to the workspace root. Run: `cargo bench -p shadowdiff-benches --bench engine`.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use diff_engine::{canonical_digest, compare, raw_digest, CompareLimits, Response, RuleSet};
use http::HeaderMap;

const FILES: [&str; 3] = ["twitter.json", "citm_catalog.json", "canada.json"];

fn corpus_dir() -> PathBuf {
    match std::env::var_os("SHADOWDIFF_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/json"),
    }
}

/// A copy of `body` with one digit changed past the middle: still valid JSON (a digit is
/// only ever raised, or 9 lowered to 8, so no leading zero appears), now one difference.
fn with_one_change(body: &[u8]) -> Vec<u8> {
    let mut copy = body.to_vec();
    let at = (body.len() / 2..body.len())
        .find(|&i| body[i].is_ascii_digit())
        .expect("corpus file has a digit past its middle");
    copy[at] = if copy[at] == b'9' { b'8' } else { copy[at] + 1 };
    copy
}

fn engine(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().expect("static"),
    );
    let rules = RuleSet::default();
    let limits = CompareLimits {
        max_decoded_bytes: 64 << 20,
        ..CompareLimits::default()
    };
    for name in FILES {
        let path = corpus_dir().join(name);
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let changed = with_one_change(&body);
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("raw_digest", ""), |b| {
            b.iter(|| raw_digest(black_box(&body)))
        });
        group.bench_function(BenchmarkId::new("canonical_digest", ""), |b| {
            b.iter(|| canonical_digest(black_box(&body)).expect("valid corpus"))
        });
        group.bench_function(BenchmarkId::new("serde_json_value", ""), |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&body)).expect("valid"))
        });
        group.bench_function(BenchmarkId::new("compare_one_change", ""), |b| {
            let p = Response {
                status: 200,
                headers: &headers,
                body: &body,
                trailers: None,
            };
            let q = Response {
                status: 200,
                headers: &headers,
                body: &changed,
                trailers: None,
            };
            b.iter(|| {
                let v = compare(black_box(&p), black_box(&q), &rules, &limits);
                assert_eq!(v.differences.len(), 1);
                v
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Short runs: the bench machine is two shared cores.
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = engine
}
criterion_main!(benches);
