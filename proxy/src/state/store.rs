//! What the proxy learns and keeps across restarts, in `state_dir`: mismatch signatures and the
//! noise learned from v1 against itself, in one embedded database file (`shadowdiff.redb`).
//! Written by a thread of its own every few seconds when something changed, and once more at
//! shutdown; read once at start. A file that cannot be opened stops the start, naming it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use redb::{Database, TableDefinition};

use crate::observe::noise::NoiseLearner;
use crate::observe::signatures::Signatures;

/// One row each: the whole state as JSON, replaced on every save (it is small and bounded).
const STATE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("state");
const SIGNATURES: &str = "signatures";
const NOISE: &str = "noise";
/// How often changes reach the disk.
const EVERY: Duration = Duration::from_secs(5);

pub struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Open (or create) the store in `dir`, and put back what it holds.
    pub fn open(dir: &Path, signatures: &Signatures, noise: &NoiseLearner) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("state_dir {}", dir.display()))?;
        let path = dir.join("shadowdiff.redb");
        let db = Database::create(&path)
            .with_context(|| format!("state_dir: opening {}", path.display()))?;
        let store = Self { db, path };
        store
            .load(signatures, noise)
            .with_context(|| format!("state_dir: reading {}", store.path.display()))?;
        Ok(store)
    }

    fn load(&self, signatures: &Signatures, noise: &NoiseLearner) -> anyhow::Result<()> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if let Some(v) = table.get(SIGNATURES)? {
            signatures.restore(serde_json::from_slice(v.value())?);
        }
        if let Some(v) = table.get(NOISE)? {
            noise.restore(serde_json::from_slice(v.value())?);
        }
        Ok(())
    }

    /// Write what changed since the last save (nothing when nothing did).
    pub fn save(&self, signatures: &Signatures, noise: &NoiseLearner) -> anyhow::Result<()> {
        let sig = signatures.take_changes();
        let learned = noise.take_changes();
        if sig.is_none() && learned.is_none() {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(STATE)?;
            if let Some(s) = sig {
                table.insert(SIGNATURES, serde_json::to_vec(&s)?.as_slice())?;
            }
            if let Some(n) = learned {
                table.insert(NOISE, serde_json::to_vec(&n)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

/// The saving thread: every few seconds until `stop`, then once more.
pub fn spawn_saver(
    store: Arc<Store>,
    signatures: Arc<Signatures>,
    noise: Arc<NoiseLearner>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("shadowdiff-state".into())
        .spawn(move || {
            let save = || {
                if let Err(e) = store.save(&signatures, &noise) {
                    tracing::error!(error = format!("{e:#}"), path = %store.path.display(), "could not save signatures and learned noise");
                }
            };
            while !stop.load(Ordering::Acquire) {
                std::thread::park_timeout(EVERY);
                save();
            }
            save();
        })
}
