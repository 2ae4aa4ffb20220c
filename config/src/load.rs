//! STUB (to be replaced): parsing, defaults, merging and validation.
use std::path::Path;

use crate::{Config, Overrides};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key}: {why}")]
    Invalid { key: String, why: String },
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

impl Config {
    /// Read `file` (if any), lay `overrides` over it, validate.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let text = match file {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.display().to_string(),
                source,
            })?,
            None => String::new(),
        };
        Self::from_toml_str(&text, overrides)
    }

    /// Parse TOML text, lay `overrides` over it, validate.
    pub fn from_toml_str(_text: &str, _overrides: &Overrides) -> Result<Config, ConfigError> {
        Err(ConfigError::Invalid {
            key: "".into(),
            why: "not implemented".into(),
        })
    }
}
