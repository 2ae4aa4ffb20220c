//! The state file (`cutover.state_file`): every route's cutover state and live mirror share,
//! written whole and atomically (a temporary file renamed over the old one) on every change,
//! read once at start. A file that cannot be read stops the start, naming it: resuming a
//! cutover from a guess could move users between backends.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::cutover::controller::Persisted;

const VERSION: u32 = 1;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    pub version: u32,
    #[serde(default)]
    pub routes: BTreeMap<String, RouteState>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutover: Option<Persisted>,
    /// An operator's mirror share (the brake), with the file's share it was set against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_percent: Option<Brake>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Brake {
    pub percent: f64,
    /// The configured share when it was set: a file that changes the share wins over it.
    pub configured: f64,
}

/// The saved state, or an empty one when the file does not exist yet.
pub fn read(path: &Path) -> anyhow::Result<StateFile> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(StateFile {
                version: VERSION,
                ..StateFile::default()
            })
        }
        Err(e) => return Err(e).with_context(|| format!("cutover.state_file {}", path.display())),
    };
    let state: StateFile = serde_json::from_slice(&text).with_context(|| {
        format!(
            "cutover.state_file {} is not a shadowdiff state file; fix or remove it",
            path.display()
        )
    })?;
    anyhow::ensure!(
        state.version == VERSION,
        "cutover.state_file {}: version {} is not {VERSION}",
        path.display(),
        state.version
    );
    Ok(state)
}

/// Replace the file with `state`: a reader sees the old file or the new one, never half.
pub fn write(path: &Path, state: &StateFile) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let text = serde_json::to_vec_pretty(state)?;
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(&text)?;
        // On disk before the rename makes it the state: a crash leaves the old file or this one.
        f.sync_all()
    });
    written.with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming onto {}", path.display()))
}
