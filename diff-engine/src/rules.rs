//! Noise rules: what a user declares to be not a difference.
//!
//! Every body rule is scoped to the paths its pattern matches (see [`crate::pointer`] docs for
//! `*` and `**`) and changes only how values *at* those paths compare:
//! - `ignore_paths`: the subtree at a matching path is not compared (nor reported when added or
//!   removed). A rule on `/a/b` never hides `/a`, `/a/c` or `/a/bb`.
//! - `tolerances`: two numbers at a matching path are equal if `|a-b| <= abs` or
//!   `|a-b| <= rel * max(|a|,|b|)`. Not inherited by children; a number vs a string is still a
//!   type change.
//! - `timestamps`: two strings at a matching path that both parse as RFC 3339 are equal when they
//!   are the same instant. Unparseable strings compare as strings.
//! - `unordered_arrays`: two arrays at a matching path compare as multisets.
//! - `sort_arrays_by`: two arrays at a matching path are stably sorted by the canonical text of
//!   member `key` (elements without it last) and then compared index by index; reported indexes
//!   are positions after sorting.

use http::HeaderName;
use thiserror::Error;

use crate::number::Number;
use crate::pointer::{Pattern, Step};
use crate::timestamp::parse_instant;

/// Plain-data rule declaration, as written in config (`[compare]` or a route's override).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSpec {
    /// JSON Pointers to ignore; `*` matches one segment, `**` any depth.
    pub ignore_paths: Vec<String>,
    /// Numbers within a tolerance are equal.
    pub tolerances: Vec<ToleranceRule>,
    /// Strings at these paths compare as RFC 3339 instants.
    pub timestamps: Vec<String>,
    /// Arrays at these paths compare as multisets.
    pub unordered_arrays: Vec<String>,
    /// Arrays at these paths are sorted by a member key before comparing.
    pub sort_arrays_by: Vec<SortRule>,
    /// Headers ignored on top of the default noise list.
    pub ignore_headers: Vec<String>,
    /// If set, only these headers are compared (the noise list no longer applies).
    pub compare_headers: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToleranceRule {
    pub path: String,
    pub abs: f64,
    pub rel: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortRule {
    pub path: String,
    pub key: String,
}

#[derive(Debug, Error, PartialEq)]
pub enum RuleError {
    #[error("`{value}` is not a JSON Pointer pattern: {why}")]
    BadPath { value: String, why: String },
    #[error("`{value}` is not a valid header name")]
    BadHeader { value: String },
    #[error("tolerance at `{path}`: {why}")]
    BadTolerance { path: String, why: String },
}

/// Compiled, validated rules. Cheap to share (wrap in `Arc`).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    spec: RuleSpec,
    ignore: Vec<Pattern>,
    tolerances: Vec<(Pattern, f64, f64)>,
    timestamps: Vec<Pattern>,
    unordered: Vec<Pattern>,
    sort_by: Vec<(Pattern, String)>,
    ignore_headers: Vec<HeaderName>,
    compare_headers: Option<Vec<HeaderName>>,
}

impl RuleSet {
    pub fn compile(spec: &RuleSpec) -> Result<Self, RuleError> {
        let tolerances = spec
            .tolerances
            .iter()
            .map(|t| {
                Ok((
                    pattern(&t.path)?,
                    check_bound(t, "abs", t.abs)?,
                    check_bound(t, "rel", t.rel)?,
                ))
            })
            .collect::<Result<_, RuleError>>()?;
        let sort_by = spec
            .sort_arrays_by
            .iter()
            .map(|s| Ok((pattern(&s.path)?, s.key.clone())))
            .collect::<Result<_, RuleError>>()?;
        Ok(Self {
            spec: spec.clone(),
            ignore: patterns(&spec.ignore_paths)?,
            tolerances,
            timestamps: patterns(&spec.timestamps)?,
            unordered: patterns(&spec.unordered_arrays)?,
            sort_by,
            ignore_headers: header_names(&spec.ignore_headers)?,
            compare_headers: spec
                .compare_headers
                .as_deref()
                .map(header_names)
                .transpose()?,
        })
    }

    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }

    /// Whether any body rule exists (without one, canonical equality is the whole story).
    pub(crate) fn has_body_rules(&self) -> bool {
        !(self.ignore.is_empty()
            && self.tolerances.is_empty()
            && self.timestamps.is_empty()
            && self.unordered.is_empty()
            && self.sort_by.is_empty())
    }

    pub(crate) fn ignored(&self, path: &[Step<'_>]) -> bool {
        self.ignore.iter().any(|p| p.matches(path))
    }

    pub(crate) fn within_tolerance(
        &self,
        path: &[Step<'_>],
        a: &Number<'_>,
        b: &Number<'_>,
    ) -> bool {
        let (x, y) = (a.to_f64(), b.to_f64());
        let d = (x - y).abs();
        self.tolerances
            .iter()
            .filter(|(p, _, _)| p.matches(path))
            .any(|(_, abs, rel)| d <= *abs || d <= rel * x.abs().max(y.abs()))
    }

    pub(crate) fn same_instant(&self, path: &[Step<'_>], a: &str, b: &str) -> bool {
        self.timestamps.iter().any(|p| p.matches(path))
            && matches!((parse_instant(a), parse_instant(b)), (Some(x), Some(y)) if x == y)
    }

    pub(crate) fn unordered(&self, path: &[Step<'_>]) -> bool {
        self.unordered.iter().any(|p| p.matches(path))
    }

    pub(crate) fn sort_key(&self, path: &[Step<'_>]) -> Option<&str> {
        self.sort_by
            .iter()
            .find(|(p, _)| p.matches(path))
            .map(|(_, k)| k.as_str())
    }

    /// Whether a header takes part in the comparison.
    pub(crate) fn header_compared(&self, name: &HeaderName) -> bool {
        if self.ignore_headers.contains(name) {
            return false;
        }
        match &self.compare_headers {
            Some(only) => only.contains(name),
            None => !is_default_noise(name),
        }
    }
}

fn pattern(text: &str) -> Result<Pattern, RuleError> {
    Pattern::parse(text).map_err(|why| RuleError::BadPath {
        value: text.to_owned(),
        why,
    })
}

fn patterns(texts: &[String]) -> Result<Vec<Pattern>, RuleError> {
    texts.iter().map(|t| pattern(t)).collect()
}

fn check_bound(rule: &ToleranceRule, name: &str, v: f64) -> Result<f64, RuleError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(RuleError::BadTolerance {
            path: rule.path.clone(),
            why: format!("{name} must be a finite number >= 0, got {v}"),
        })
    }
}

fn header_names(names: &[String]) -> Result<Vec<HeaderName>, RuleError> {
    names
        .iter()
        .map(|n| {
            HeaderName::from_bytes(n.as_bytes())
                .map_err(|_| RuleError::BadHeader { value: n.clone() })
        })
        .collect()
}

/// Headers that differ between two healthy deployments for reasons that say nothing about the
/// response: per-hop transport, per-request ids, timing and server identity. Content-Length,
/// Content-Encoding and gRPC's grpc-encoding are here because bodies (and gRPC messages) are
/// compared decoded (a gzip vs identity response with the same JSON is a match); ETag and
/// Last-Modified because they are validators derived from the bytes (or the file's time), which
/// differ whenever the serialisation does, while the body itself is compared.
const NOISE: &[&str] = &[
    "date",
    "etag",
    "last-modified",
    "server",
    "content-length",
    "content-encoding",
    "grpc-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "traceparent",
    "tracestate",
    "x-request-id",
    "x-amzn-trace-id",
    "b3",
];

/// Prefixes of noise header families (`proxy-authenticate`, `x-b3-traceid`, our own marks).
const NOISE_PREFIXES: &[&str] = &["proxy-", "x-b3-", "x-shadowdiff-"];

pub(crate) fn is_default_noise(name: &HeaderName) -> bool {
    let n = name.as_str();
    NOISE.contains(&n) || NOISE_PREFIXES.iter().any(|p| n.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_names_the_offending_value() {
        let spec = RuleSpec {
            ignore_paths: vec!["/ok".into(), "nope".into()],
            ..RuleSpec::default()
        };
        assert_eq!(
            RuleSet::compile(&spec).unwrap_err().to_string(),
            "`nope` is not a JSON Pointer pattern: a pointer is empty or starts with `/`"
        );
        let spec = RuleSpec {
            tolerances: vec![ToleranceRule {
                path: "/p".into(),
                abs: -1.0,
                rel: 0.0,
            }],
            ..RuleSpec::default()
        };
        assert_eq!(
            RuleSet::compile(&spec).unwrap_err().to_string(),
            "tolerance at `/p`: abs must be a finite number >= 0, got -1"
        );
        let spec = RuleSpec {
            tolerances: vec![ToleranceRule {
                path: "/p".into(),
                abs: 0.0,
                rel: f64::NAN,
            }],
            ..RuleSpec::default()
        };
        assert!(matches!(
            RuleSet::compile(&spec),
            Err(RuleError::BadTolerance { .. })
        ));
        let spec = RuleSpec {
            compare_headers: Some(vec!["bad header".into()]),
            ..RuleSpec::default()
        };
        assert_eq!(
            RuleSet::compile(&spec).unwrap_err(),
            RuleError::BadHeader {
                value: "bad header".into()
            }
        );
    }

    #[test]
    fn header_selection() {
        let rules = RuleSet::compile(&RuleSpec {
            ignore_headers: vec!["X-Cache".into()],
            ..RuleSpec::default()
        })
        .unwrap();
        assert!(!rules.header_compared(&HeaderName::from_static("x-cache")));
        assert!(!rules.header_compared(&HeaderName::from_static("date")));
        assert!(rules.header_compared(&HeaderName::from_static("content-type")));
        let only = RuleSet::compile(&RuleSpec {
            compare_headers: Some(vec!["Date".into(), "ETag".into()]),
            ignore_headers: vec!["etag".into()],
            ..RuleSpec::default()
        })
        .unwrap();
        assert!(only.header_compared(&HeaderName::from_static("date")));
        assert!(!only.header_compared(&HeaderName::from_static("etag")));
        assert!(!only.header_compared(&HeaderName::from_static("content-type")));
    }
}
