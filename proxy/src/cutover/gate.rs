//! The gates: v2's error rate, v2's p95 latency next to v1's, the comparisons' mismatch ratio,
//! and optional Prometheus queries. Each judges one interval as pass, fail or "no data" (too few
//! samples to say), which holds a step without ever advancing it.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use serde::Serialize;

use config::{CutoverPolicy, PromGate};

use crate::cutover::window::Taken;
use crate::net::fetch::Fetcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    NoData,
}

/// One gate's judgement of one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    pub gate: String,
    /// What was measured (a ratio); `None` without data.
    pub value: Option<f64>,
    /// The most it may be.
    pub max: f64,
    pub verdict: Verdict,
    /// Samples behind the value (requests or comparisons); 0 for a Prometheus gate.
    pub samples: u64,
}

impl Reading {
    fn judged(gate: &str, value: Option<f64>, max: f64, samples: u64) -> Self {
        let verdict = match value {
            None => Verdict::NoData,
            Some(v) if v > max => Verdict::Fail,
            Some(_) => Verdict::Pass,
        };
        Self {
            gate: gate.to_owned(),
            value,
            max,
            verdict,
            samples,
        }
    }
}

/// What the built-in gates need besides the interval's numbers.
pub struct Context {
    /// The route's mismatch budget (`budget.ratio`).
    pub budget: f64,
    /// Comparisons run on this route (its mirror share is above 0).
    pub comparing: bool,
    /// v1 serves part of the route: there is a v1 latency to compare with.
    pub v1_serves: bool,
}

/// The built-in gates on one interval.
pub fn built_in(policy: &CutoverPolicy, taken: &Taken, cx: &Context) -> Vec<Reading> {
    let min = policy.min_samples;
    let mut out = Vec::with_capacity(3);
    let v2 = taken.v2;
    let error_rate = (v2.requests >= min).then(|| v2.errors as f64 / v2.requests as f64);
    out.push(Reading::judged(
        "error_rate",
        error_rate,
        policy.max_error_rate,
        v2.requests,
    ));
    // At 100 % v1 serves nothing: there is no v1 latency this interval to hold v2's against.
    if cx.v1_serves {
        let v1 = taken.v1;
        let increase = match (v1.p95, v2.p95) {
            (Some(a), Some(b)) if v1.requests >= min && v2.requests >= min && !a.is_zero() => {
                Some(b.as_secs_f64() / a.as_secs_f64() - 1.0)
            }
            _ => None,
        };
        out.push(Reading::judged(
            "latency",
            increase,
            policy.max_latency_increase,
            v1.requests.min(v2.requests),
        ));
    }
    if cx.comparing {
        let ratio = (taken.compared >= min && taken.compared > 0)
            .then(|| taken.mismatched as f64 / taken.compared as f64);
        out.push(Reading::judged(
            "mismatch",
            ratio,
            cx.budget,
            taken.compared,
        ));
    }
    out
}

/// A Prometheus gate: the instant query's value; no series, an error or a non-number is no data.
pub async fn prometheus(fetcher: &Fetcher, gate: &PromGate, timeout: Duration) -> Reading {
    let value = match query(fetcher, gate, timeout).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(gate = %gate.name, error = %e, "prometheus gate has no value");
            None
        }
    };
    Reading::judged(&gate.name, value, gate.max, 0)
}

async fn query(
    fetcher: &Fetcher,
    gate: &PromGate,
    timeout: Duration,
) -> anyhow::Result<Option<f64>> {
    let base = gate.prometheus.to_string();
    let url = format!(
        "{}/api/v1/query?query={}",
        base.trim_end_matches('/'),
        encode(&gate.query)
    );
    let req = Request::builder()
        .method(Method::GET)
        .uri(url)
        .body(Full::new(Bytes::new()))?;
    let (status, body) = fetcher.send(req, timeout).await?;
    anyhow::ensure!(status.is_success(), "prometheus answered {status}");
    value_of(&body)
}

/// The first sample of an instant vector or a scalar, as Prometheus's HTTP API returns it.
fn value_of(body: &[u8]) -> anyhow::Result<Option<f64>> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    let data = &v["data"];
    let sample = match data["resultType"].as_str() {
        Some("vector") => data["result"].get(0).map(|s| &s["value"]),
        Some("scalar") => Some(&data["result"]),
        other => anyhow::bail!("result type {other:?}: use a query that returns one number"),
    };
    let Some(text) = sample.and_then(|s| s.get(1)).and_then(|t| t.as_str()) else {
        return Ok(None);
    };
    let n: f64 = text.parse()?;
    Ok(n.is_finite().then_some(n))
}

/// Percent-encoding for a query-string value (PromQL has spaces, braces, quotes).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cutover::window::LegTaken;

    fn policy() -> CutoverPolicy {
        config::Config::from_toml_str(
            "[primary]\nurl = \"http://a\"\n[candidate]\nurl = \"http://b\"\n",
            &Default::default(),
        )
        .unwrap()
        .cutover
        .policy
    }

    #[test]
    fn too_few_samples_is_no_data_and_an_error_burst_fails() {
        let p = policy();
        let cx = Context {
            budget: 0.01,
            comparing: true,
            v1_serves: true,
        };
        let quiet = Taken::default();
        assert!(built_in(&p, &quiet, &cx)
            .iter()
            .all(|r| r.verdict == Verdict::NoData));
        let ms = |n| Some(Duration::from_millis(n));
        let busy = Taken {
            v1: LegTaken {
                requests: 100,
                errors: 0,
                p95: ms(100),
            },
            v2: LegTaken {
                requests: 100,
                errors: 5,
                p95: ms(150),
            },
            compared: 100,
            mismatched: 0,
        };
        let r = built_in(&p, &busy, &cx);
        let verdicts: Vec<_> = r.iter().map(|r| (r.gate.as_str(), r.verdict)).collect();
        assert_eq!(
            verdicts,
            [
                ("error_rate", Verdict::Fail),
                ("latency", Verdict::Fail),
                ("mismatch", Verdict::Pass)
            ]
        );
        assert!((r[1].value.unwrap() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn prometheus_answers_are_read() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5,"0.25"]}]}}"#;
        assert_eq!(value_of(vector).unwrap(), Some(0.25));
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(value_of(empty).unwrap(), None);
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"3"]}}"#;
        assert_eq!(value_of(scalar).unwrap(), Some(3.0));
        assert!(value_of(br#"{"data":{"resultType":"matrix","result":[]}}"#).is_err());
        assert_eq!(
            encode("rate(x{a=\"b\"}[1m])"),
            "rate%28x%7Ba%3D%22b%22%7D%5B1m%5D%29"
        );
    }
}
