//! Config reload: what a reload re-reads. Building and installing the new state is `Shared::reload`.

use std::path::PathBuf;

use config::{Config, Overrides};

/// Where a reload reads from: the file and flags the process started with.
#[derive(Debug, Clone, Default)]
pub struct ReloadSource {
    pub file: Option<PathBuf>,
    pub overrides: Overrides,
}

impl ReloadSource {
    /// Re-read the file, with the start-up flags still winning over it.
    pub fn load(&self) -> anyhow::Result<Config> {
        Ok(Config::load(self.file.as_deref(), &self.overrides)?)
    }
}
