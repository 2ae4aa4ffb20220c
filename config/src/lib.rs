//! shadowdiff's configuration.
//!
//! Pipeline: TOML text → `raw` serde structs (unknown keys rejected) → command-line
//! [`Overrides`] laid over them → `validate` → [`Config`], whose invalid states cannot be built.
//! Precedence: built-in defaults < config file < command-line flags. A flag's value is validated
//! exactly like the file's, and its errors name the flag (`--mirror-percent: ...`).
//!
//! Every error names the key path it is about: `routes[1].mirror_percent: must be between 0 and
//! 100, got 120`, or `unknown key `mirror_precent` in [candidate] at line 7, column 1 (...)`.
//! The keys, types and defaults are listed in this crate's README.md and in
//! `shadowdiff.example.toml`.

pub mod bounds;
mod check;
pub mod defaults;
mod error;
mod load;
mod locate;
mod raw;
mod types;
mod units;
mod validate;

pub use error::{ConfigError, Location};
pub use types::*;
