//! Entry points: read the file, parse it, lay the flags over it, validate.
use std::path::Path;

use crate::raw::RawConfig;
use crate::{validate, Config, ConfigError, Overrides};

/// A commented example listing every key with its default (`config/shadowdiff.example.toml`).
pub const EXAMPLE_TOML: &str = include_str!("../shadowdiff.example.toml");

impl Config {
    /// Read `file` (if any), lay `overrides` over it, validate.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let text = match file {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?,
            None => String::new(),
        };
        Self::from_toml_str(&text, overrides)
    }

    /// Parse TOML text, lay `overrides` over it, validate.
    pub fn from_toml_str(text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, text))?;
        validate::build(raw, overrides)
    }

    /// The commented example configuration: every key with its default.
    pub fn to_toml_example() -> &'static str {
        EXAMPLE_TOML
    }
}
