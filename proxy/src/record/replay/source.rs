//! The files, read and parsed on a blocking thread and handed over in batches through a bounded
//! channel: a recording is never held in memory whole, and the workers get exchanges ready to
//! send (`Recorded`), not text.

use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::record::read::{read_lines, BadLine, FileEnd};

use super::recorded::Recorded;

/// Lines go over in batches: one wake-up of the reader or the workers per batch, not per line
/// (each is a thread switch on a busy core).
pub const BATCH: usize = 64;
/// Batches read ahead of the requests sent.
const AHEAD: usize = 16;

/// What reading found, besides the lines themselves.
#[derive(Debug, Default)]
pub struct Read {
    pub lines: u64,
    pub bad: Vec<BadLine>,
    /// Files whose stream broke, with the lines read before the break and why.
    pub truncated: Vec<(PathBuf, u64, String)>,
    pub unreadable: Vec<(PathBuf, String)>,
}

impl Read {
    pub fn describe_problems(&self) -> String {
        let mut out = String::new();
        for (file, why) in &self.unreadable {
            out.push_str(&format!("\n  {}: unreadable: {why}", file.display()));
        }
        for b in self.bad.iter().take(5) {
            out.push_str(&format!("\n  {b}"));
        }
        out
    }
}

/// Lines in all files, for the progress bar's total: a first pass that decompresses and splits
/// but parses nothing (and copies no line).
pub fn count(files: &[PathBuf]) -> u64 {
    let mut lines = 0;
    for file in files {
        read_lines(file, |_, _| lines += 1);
    }
    lines
}

/// Read every file in order on a blocking thread; the lines in batches of up to [`BATCH`],
/// and what was found at the end.
pub fn spawn(files: Vec<PathBuf>) -> (mpsc::Receiver<Vec<Recorded>>, JoinHandle<Read>) {
    let (tx, rx) = mpsc::channel(AHEAD);
    let handle = tokio::task::spawn_blocking(move || {
        let mut read = Read::default();
        let mut batch = Vec::with_capacity(BATCH);
        for file in files {
            let mut bad = Vec::new();
            let mut lines = 0u64;
            let end = read_lines(&file, |n, text| match Recorded::parse(&text) {
                Ok(exchange) => {
                    lines += 1;
                    batch.push(exchange);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        // The receiver only goes away when the replay stops early.
                        let _ = tx.blocking_send(full);
                    }
                }
                Err(why) => bad.push(BadLine {
                    file: file.clone(),
                    line: n,
                    why,
                }),
            });
            read.lines += lines;
            read.bad.extend(bad);
            match end {
                FileEnd::Complete => {}
                FileEnd::Truncated { lines, why } => read.truncated.push((file, lines, why)),
                FileEnd::Unreadable(why) => read.unreadable.push((file, why)),
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        read
    });
    (rx, handle)
}
