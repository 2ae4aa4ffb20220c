//! shadowdiff's configuration.
//!
//! Pipeline: TOML text → raw serde structs (unknown keys rejected) → validated [`Config`] whose
//! invalid states cannot be built. Precedence: built-in defaults < config file < command-line flags.

mod load;
mod types;

pub use load::ConfigError;

pub use types::*;
