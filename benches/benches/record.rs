//! Question: what does the recording's line itself cost — the work every recorded exchange
//! needs whatever the hand-off around it — for the load harness's exchange (a GET answered with
//! `benches/load/doc.json`, 1,265 bytes of JSON)?
//!
//! Issue 16 asks that recording at 100 % raise the proxy's CPU per request by at most 20 %. The
//! harness's `sd0` row spends ~10 µs of proxy CPU per request, so everything a recorded
//! exchange costs must fit in ~2 µs; these benches measure how much of that the line alone
//! takes, with the writer's own code:
//!
//! - `body_as_json`: deciding that v1's body can be embedded as itself (`body_json`): UTF-8,
//!   one line, valid JSON — the check that keeps every line valid JSON;
//! - `body_as_base64`: the same body as base64, the form that needs no check (what a body that
//!   is not UTF-8 gets), for comparison;
//! - `encode`: the whole line from the captured exchange (redaction, the body check, JSON);
//! - `encode_zstd`: the line and its compression into a zstd stream at the writer's level,
//!   as the writer thread does for each exchange (the file write itself not included).
//!
//! Run: `cargo bench -p shadowdiff-benches --bench record`.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use shadowdiff::compare::Side;
use shadowdiff::observe::redact::Redactor;
use shadowdiff::record::exchange::Exchange;
use shadowdiff::record::format::{BodyRef, VerdictLine};
use shadowdiff::record::writer::LEVEL;
use shadowdiff::tee::{ByteBudget, CapturedBody};

const DOC: &[u8] = include_bytes!("../load/doc.json");

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    map
}

/// The harness's exchange as the tap hands it to the writer: wrk's request after the proxy's
/// inbound fix-ups, nginx's answer less hop-by-hop headers, no mirror.
fn exchange() -> Exchange {
    let config = config::Config::from_toml_str(
        "[primary]\nurl = \"http://127.0.0.1:1\"\n[candidate]\nurl = \"http://127.0.0.1:2\"\n",
        &config::Overrides::default(),
    )
    .expect("static config");
    let budget = ByteBudget::new(
        1 << 30,
        prometheus::IntGauge::new("bench_pending", "bench").expect("static gauge"),
        0,
    );
    Exchange {
        time_ms: 1_767_225_601_500,
        route: "default".into(),
        method: Method::GET,
        uri: "/doc.json".into(),
        request_headers: headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "127.0.0.1:8080"),
        ]),
        request_body: None,
        primary: Side {
            status: 200,
            headers: headers(&[
                ("server", "nginx"),
                ("date", "Mon, 07 Dec 2026 20:00:00 GMT"),
                ("content-type", "application/json"),
                ("content-length", "1265"),
                ("last-modified", "Mon, 07 Dec 2026 14:43:15 GMT"),
                ("accept-ranges", "bytes"),
            ]),
            body: CapturedBody::detached(Bytes::from_static(DOC), &budget),
            elapsed: Duration::from_micros(180),
        },
        candidate: None,
        verdict: VerdictLine::not_mirrored(),
        redact: Arc::new(Redactor::new(&config.report).expect("default report")),
    }
}

fn record(c: &mut Criterion) {
    let exchange = exchange();
    let mut line = Vec::with_capacity(16 * 1024);
    exchange.encode(&mut line).expect("encodes");
    let mut group = c.benchmark_group("record_line");
    group.throughput(Throughput::Elements(1));
    group.bench_function("body_as_json", |b| {
        b.iter(|| {
            let body = BodyRef::of_bytes(black_box(DOC));
            assert!(body.body_json.is_some(), "the document embeds as JSON");
        })
    });
    // The alternative that needs no check: the body as base64 (what a non-UTF-8 body gets).
    group.bench_function("body_as_base64", |b| {
        b.iter(|| {
            let mut copy = black_box(DOC).to_vec();
            copy[0] = 0xff; // not UTF-8: the encoder's base64 branch
            let body = BodyRef::of_bytes(&copy);
            assert!(body.body_base64.is_some());
        })
    });
    group.bench_function("encode", |b| {
        b.iter(|| {
            line.clear();
            exchange.encode(&mut line).expect("encodes");
            line.push(b'\n');
        })
    });
    let mut zstd = zstd::stream::write::Encoder::new(std::io::sink(), LEVEL).expect("encoder");
    group.bench_function("encode_zstd", |b| {
        b.iter(|| {
            line.clear();
            exchange.encode(&mut line).expect("encodes");
            line.push(b'\n');
            zstd.write_all(&line).expect("a sink takes everything");
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = record
}
criterion_main!(benches);
