//! Noise rules: what a user declares to be not a difference.

use thiserror::Error;

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
}

impl RuleSet {
    pub fn compile(spec: &RuleSpec) -> Result<Self, RuleError> {
        Ok(Self { spec: spec.clone() })
    }

    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }
}
