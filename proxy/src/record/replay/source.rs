//! The files, decompressed and cut into lines on a blocking thread and handed over in batches
//! through a bounded channel: a recording is never held in memory whole. Each line is parsed
//! by the worker that sends it, just before it is sent ([`Parser`]): parsed ahead on the
//! reader thread, every exchange was made on one thread and used and freed on another, cold in
//! the cache, and the replay ran 11 % slower for it (benches/README.md, "Replay").

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::record::read::{read_lines, BadLine, FileEnd};

use super::merge;
use super::recorded::Recorded;

/// Lines go over in batches: one wake-up of the reader or the workers per batch, not per line
/// (each is a thread switch on a busy core).
pub const BATCH: usize = 64;
/// Batches read ahead of the requests sent.
const AHEAD: usize = 16;

/// What reading found, besides the lines themselves.
#[derive(Debug, Default)]
pub struct Read {
    /// Exchanges read and parsed (bad lines not counted).
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

    /// The reader's account (every line it cut) with the lines that did not parse taken out.
    pub fn with_bad(mut self, bad: Vec<BadLine>) -> Self {
        self.lines -= bad.len() as u64;
        self.bad = bad;
        self
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

/// A line as read: where it is, and its text (a slice of a decompressed chunk).
pub struct RawLine {
    file: usize,
    number: u64,
    text: Bytes,
}

/// Turns lines into exchanges where they are sent, and keeps the ones that are not, with their
/// file and line number, for the report.
pub struct Parser {
    files: Arc<[PathBuf]>,
    /// With the index of its file, for the order of the report.
    bad: Mutex<Vec<(usize, BadLine)>>,
}

impl Parser {
    pub fn parse(&self, line: RawLine) -> Option<Recorded> {
        match Recorded::parse(&line.text) {
            Ok(exchange) => Some(exchange),
            Err(why) => {
                let bad = BadLine {
                    file: self.files[line.file].clone(),
                    line: line.number,
                    why,
                };
                let mut kept = self.bad.lock().unwrap_or_else(|p| p.into_inner());
                kept.push((line.file, bad));
                None
            }
        }
    }

    /// The lines that did not parse, in file and line order.
    pub fn take_bad(&self) -> Vec<BadLine> {
        let mut bad = std::mem::take(&mut *self.bad.lock().unwrap_or_else(|p| p.into_inner()));
        // Workers parse their batches side by side; the report lists them as the files do.
        bad.sort_by_key(|(file, b)| (*file, b.line));
        bad.into_iter().map(|(_, b)| b).collect()
    }
}

/// Read the files on a blocking thread — one after another, or under `--speed` all of them
/// merged into recorded-time order (`by_time`, [`super::merge`]); the lines in batches of up to
/// [`BATCH`], and what was found at the end (`Read::lines` counting every line cut, good or bad).
pub fn spawn(
    files: Vec<PathBuf>,
    by_time: bool,
) -> (mpsc::Receiver<Vec<RawLine>>, Arc<Parser>, JoinHandle<Read>) {
    let files: Arc<[PathBuf]> = files.into();
    let (tx, rx) = mpsc::channel(AHEAD);
    let reading = files.clone();
    let handle = tokio::task::spawn_blocking(move || {
        let mut read = Read::default();
        let mut batch = Vec::with_capacity(BATCH);
        let mut on_line = |file, number, text| {
            read.lines += 1;
            batch.push(RawLine { file, number, text });
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                // The receiver only goes away when the replay stops early.
                let _ = tx.blocking_send(full);
            }
        };
        let mut ends = Vec::with_capacity(reading.len());
        if by_time {
            merge::by_time(&reading, on_line, |file, end| ends.push((file, end)));
        } else {
            for (file, path) in reading.iter().enumerate() {
                let end = read_lines(path, |number, text| on_line(file, number, text));
                ends.push((file, end));
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        // In the files' order, however they were read.
        ends.sort_by_key(|(file, _)| *file);
        for (file, end) in ends {
            let path = &reading[file];
            match end {
                FileEnd::Complete => {}
                FileEnd::Truncated { lines, why } => {
                    read.truncated.push((path.clone(), lines, why))
                }
                FileEnd::Unreadable(why) => read.unreadable.push((path.clone(), why)),
            }
        }
        read
    });
    let parser = Parser {
        files,
        bad: Mutex::new(Vec::new()),
    };
    (rx, Arc::new(parser), handle)
}
