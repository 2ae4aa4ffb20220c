//! [`ConfigError`]: every message names the key (or flag) it is about.
//!
//! TOML and serde errors carry a byte span but not the table they occurred in, so
//! [`ConfigError::from_toml`] maps the span back to a key path with [`crate::locate`].

use std::fmt;
use std::path::PathBuf;

use crate::locate;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A key the schema does not have, usually a typo. `table` is the table's key path
    /// (`candidate`, `routes[1].compare`), empty at the top level.
    #[error("unknown key `{key}` {}{} ({expected})", in_table(table), fmt_at(at))]
    UnknownKey {
        key: String,
        table: String,
        at: Option<Location>,
        expected: String,
    },
    /// Not valid TOML, or a value of the wrong type (`timeout = 5`). `key` is the key path
    /// when it could be found.
    #[error("{}{message}{}", key.as_deref().map(|k| format!("{k}: ")).unwrap_or_else(|| "TOML: ".into()), fmt_at(at))]
    Parse {
        key: Option<String>,
        message: String,
        at: Option<Location>,
    },
    /// A value that is out of range, malformed, missing or inconsistent with another.
    /// `key` is a key path (`routes[1].mirror_percent`) or a flag (`--mirror-percent`).
    #[error("{key}: {why}")]
    Invalid { key: String, why: String },
}

/// Where in the file an error is, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

fn fmt_at(location: &Option<Location>) -> String {
    location.map(|l| format!(" at {l}")).unwrap_or_default()
}

fn in_table(table: &str) -> String {
    if table.is_empty() {
        "at the top level".into()
    } else {
        format!("in [{table}]")
    }
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, why: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            why: why.into(),
        }
    }

    /// The key path or flag this error is about, if any.
    pub fn key(&self) -> Option<String> {
        match self {
            Self::Read { .. } => None,
            Self::UnknownKey { key, table, .. } if table.is_empty() => Some(key.clone()),
            Self::UnknownKey { key, table, .. } => Some(format!("{table}.{key}")),
            Self::Parse { key, .. } => key.clone(),
            Self::Invalid { key, .. } => Some(key.clone()),
        }
    }

    /// Map a TOML/serde error on `text` to a message that names the key.
    pub(crate) fn from_toml(err: &toml::de::Error, text: &str) -> Self {
        let span = err.span();
        let at = span.as_ref().map(|s| location(text, s.start));
        let path = span.clone().and_then(|s| locate::key_at(text, s.start));
        let message = err.message().trim_end().to_owned();
        // A value TOML cannot even read (an integer past i64) leaves no tree to find the key
        // in: name it from the line itself.
        if path.is_none() && message.contains("number") {
            if let Some(key) = span.and_then(|s| line_key(text, s.start)) {
                return Self::Parse {
                    key: Some(key),
                    message: tidy(&message),
                    at,
                };
            }
        }
        if let (Some(rest), Some(path)) = (message.strip_prefix("unknown field `"), &path) {
            if let Some((key, expected)) = rest.split_once('`') {
                return Self::UnknownKey {
                    key: key.to_owned(),
                    table: path.parent(),
                    at,
                    expected: expected.trim_start_matches(", ").to_owned(),
                };
            }
        }
        Self::Parse {
            key: path.map(|p| p.to_string()),
            message: tidy(&message),
            at,
        }
    }
}

/// Speak TOML, not serde: `map`/`sequence` are tables/arrays, and our private structs
/// (`expected struct RawUpstream`) are tables.
fn tidy(message: &str) -> String {
    let message = match message.find("expected struct Raw") {
        Some(i) => format!("{}expected a table", &message[..i]),
        None => message.to_owned(),
    };
    message
        .replace("invalid type: map", "invalid type: table")
        .replace("invalid type: sequence", "invalid type: array")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table")
}

/// `table.key` for a `key = value` line at `offset`, the table from the nearest `[header]`
/// above it (plain keys and headers only; enough to name a key TOML could not parse).
fn line_key(text: &str, offset: usize) -> Option<String> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    {
        return None;
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_owned(),
    })
}

fn location(text: &str, offset: usize) -> Location {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Location { line, column }
}
