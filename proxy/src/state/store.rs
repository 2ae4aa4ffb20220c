//! What the proxy learns and keeps across restarts, in `state_dir`: mismatch signatures and the
//! noise learned from v1 against itself, in one embedded database file (`shadowdiff.redb`).
//! Written by a thread of its own every few seconds when something changed, and once more at
//! shutdown; read once at start. A file that cannot be opened stops the start, naming it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use redb::{Database, TableDefinition};

use crate::observe::noise::{NoiseLearner, RouteNoise};
use crate::observe::signatures::{Saved, Signatures};

/// One row each: the whole state as JSON, replaced on every save (it is small and bounded).
const STATE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("state");
const SIGNATURES: &str = "signatures";
const NOISE: &str = "noise";
/// What a store holds: the signatures and the learned noise, each when saved.
type Held = (Option<Saved>, Option<HashMap<String, RouteNoise>>);
/// The store's file in `state_dir`.
const FILE: &str = "shadowdiff.redb";
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
        let path = dir.join(FILE);
        let db = Database::create(&path)
            .with_context(|| format!("state_dir: opening {}", path.display()))?;
        let store = Self { db, path };
        let (saved_signatures, saved_noise) = store
            .read()
            .with_context(|| format!("state_dir: reading {}", store.path.display()))?;
        if let Some(s) = saved_signatures {
            signatures.restore(s);
        }
        if let Some(n) = saved_noise {
            noise.restore(n);
        }
        Ok(store)
    }

    /// For `check-config`: refuse what [`Store::open`] would refuse at start, creating nothing,
    /// and without the lock that a running proxy holds on its store (an operator checks a file
    /// on the host whose proxy it configures): a store in use is one that opened.
    pub fn check(dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(FILE);
        if !path.exists() {
            // The start creates the directory: the nearest part of it that exists must be one.
            let existing = dir.ancestors().find(|p| p.exists());
            return match existing {
                Some(p) if !p.is_dir() => Err(anyhow::anyhow!(
                    "state_dir {}: {} is not a directory",
                    dir.display(),
                    p.display()
                )),
                _ => Ok(()),
            };
        }
        match Database::open(&path) {
            Ok(db) => {
                let store = Self { db, path };
                store
                    .read()
                    .map(drop)
                    .with_context(|| format!("state_dir: reading {}", store.path.display()))
            }
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("state_dir: opening {}", path.display())),
        }
    }

    /// What the store holds, parsed.
    fn read(&self) -> anyhow::Result<Held> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((None, None)),
            Err(e) => return Err(e.into()),
        };
        let signatures = match table.get(SIGNATURES)? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        };
        let noise = match table.get(NOISE)? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        };
        Ok((signatures, noise))
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
