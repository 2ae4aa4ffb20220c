//! The recording writer: a thread of its own behind a bounded queue, writing each exchange as a
//! line to a zstd-compressed file, and rotating files by size (the oldest goes).
//!
//! The request path only ever `try_send`s: a full queue drops the exchange and counts it
//! (`queue_full`), never waits. A write error (unwritable directory, full disk) is logged once
//! per failure streak, counts the exchange as `write_failed`, and the next exchange tries a new
//! file; nothing of it reaches a client.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};

use crate::observe::metrics::RecordMetrics;
use crate::observe::outcome::RecordDropReason;
use crate::record::exchange::Exchange;

/// Exchanges waiting for the writer. Their bodies are reserved in `limits.max_pending_bytes`,
/// so memory is bounded by the budget whatever this is; it only absorbs bursts.
const QUEUE: usize = 4096;
/// While busy the writer polls rather than sleeps in `recv`, so a send on the request path
/// never has to wake a thread (a futex call per request).
const POLL: Duration = Duration::from_millis(5);
/// Idle this long, the writer blocks instead (one wake-up for the next exchange).
const IDLE: Duration = Duration::from_millis(500);
/// Written lines reach the disk within this (a zstd block flush), so a crash loses at most this
/// much, and a reader of the live file sees the exchanges up to it.
const FLUSH: Duration = Duration::from_secs(1);
/// zstd level 1: the cheapest, still ~5-10× on JSON; the writer's CPU is the proxy's CPU.
pub const LEVEL: i32 = 1;
/// How long `close` waits for exchanges still being captured to reach the queue.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// File names sort by time: `shadowdiff-<unix ms, 13 digits>-<pid>-<seq>.jsonl.zst`.
pub const PREFIX: &str = "shadowdiff-";
pub const SUFFIX: &str = ".jsonl.zst";

pub struct Recorder {
    tx: ArcSwapOption<Sender<Exchange>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub metrics: RecordMetrics,
    /// Recordings being captured (their task awaits v1's body), for `close`.
    capturing: AtomicUsize,
}

impl Recorder {
    /// Start the writer thread when `record.dir` is set; `None` otherwise. The directory is
    /// created on the first write, so an unwritable one is a counted runtime error, not a
    /// failed start.
    pub fn start(record: &config::Record, metrics: RecordMetrics) -> io::Result<Option<Arc<Self>>> {
        let Some(dir) = record.dir.clone() else {
            return Ok(None);
        };
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let writer = Writer {
            rx,
            files: Files::new(dir, record.max_file_bytes, record.max_files),
            metrics: metrics.clone(),
            failing: false,
            line: Vec::with_capacity(16 * 1024),
        };
        let thread = std::thread::Builder::new()
            .name("shadowdiff-record".into())
            .spawn(move || writer.run())?;
        Ok(Some(Arc::new(Self {
            tx: ArcSwapOption::from_pointee(tx),
            thread: Mutex::new(Some(thread)),
            metrics,
            capturing: AtomicUsize::new(0),
        })))
    }

    /// Queue an exchange, or drop it and count why.
    pub fn submit(&self, exchange: Exchange) {
        let tx = self.tx.load();
        let Some(tx) = tx.as_deref() else {
            self.metrics.drop(RecordDropReason::Shutdown);
            return;
        };
        match tx.try_send(exchange) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.metrics.drop(RecordDropReason::QueueFull),
            Err(TrySendError::Disconnected(_)) => self.metrics.drop(RecordDropReason::Shutdown),
        }
    }

    /// Held by a recording while it is captured, so `close` can let it finish.
    pub fn capturing(self: &Arc<Self>) -> Capturing {
        self.capturing.fetch_add(1, Ordering::AcqRel);
        Capturing(self.clone())
    }

    /// Let recordings being captured reach the queue (for a while), write what is queued,
    /// finish the current file, and wait for the thread. Blocking: call it off the runtime.
    pub fn close(&self) {
        let deadline = Instant::now() + CLOSE_WAIT;
        while self.capturing.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.tx.store(None);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.close();
    }
}

/// One recording being captured; see [`Recorder::capturing`].
pub struct Capturing(Arc<Recorder>);

impl Capturing {
    pub fn recorder(&self) -> &Recorder {
        &self.0
    }
}

impl Drop for Capturing {
    fn drop(&mut self) {
        self.0.capturing.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Writer {
    rx: Receiver<Exchange>,
    files: Files,
    metrics: RecordMetrics,
    /// In a failure streak: logged once at its start, once at its end.
    failing: bool,
    /// The line being encoded, kept between lines so it is not grown afresh each time.
    line: Vec<u8>,
}

impl Writer {
    fn run(mut self) {
        let mut idle_since = Instant::now();
        let mut last_flush = Instant::now();
        loop {
            let next = if idle_since.elapsed() < IDLE {
                match self.rx.try_recv() {
                    Ok(x) => Some(x),
                    Err(TryRecvError::Empty) => {
                        std::thread::sleep(POLL);
                        None
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                match self.rx.recv_timeout(FLUSH) {
                    Ok(x) => Some(x),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            if let Some(exchange) = next {
                idle_since = Instant::now();
                self.write(&exchange);
            }
            if last_flush.elapsed() >= FLUSH {
                last_flush = Instant::now();
                let flushed = self.files.flush();
                self.outcome(flushed.map(|n| (n, false)));
            }
        }
        let finished = self.files.finish();
        self.outcome(finished.map(|n| (n, false)));
    }

    fn write(&mut self, exchange: &Exchange) {
        self.line.clear();
        if let Err(e) = exchange.encode(&mut self.line) {
            tracing::error!(error = %e, "recording: encoding an exchange failed; dropped");
            self.metrics.drop(RecordDropReason::WriteFailed);
            return;
        }
        self.line.push(b'\n');
        let written = self.files.write(&self.line);
        self.outcome(written.map(|n| (n, true)));
        // A huge line once must not keep its buffer for ever.
        self.line.shrink_to(64 * 1024);
    }

    /// Count bytes (and the exchange) written, or the failure; log at a streak's edges.
    fn outcome(&mut self, result: io::Result<(u64, bool)>) {
        match result {
            Ok((bytes, exchange)) => {
                self.metrics.written_bytes.inc_by(bytes);
                if exchange {
                    self.metrics.written.inc();
                }
                if std::mem::take(&mut self.failing) {
                    tracing::info!(dir = %self.files.dir.display(), "recording: writing again");
                }
            }
            Err(e) => {
                self.metrics.drop(RecordDropReason::WriteFailed);
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::error!(
                        dir = %self.files.dir.display(),
                        error = %e,
                        "recording: cannot write; exchanges are dropped (counted) until it can"
                    );
                }
            }
        }
    }
}

/// The rotating files of one directory.
struct Files {
    dir: PathBuf,
    max_file_bytes: u64,
    max_files: usize,
    current: Option<zstd::stream::write::Encoder<'static, Counted>>,
    /// Bytes already counted in the metric, of the current file.
    reported: u64,
    seq: u64,
}

impl Files {
    fn new(dir: PathBuf, max_file_bytes: u64, max_files: usize) -> Self {
        Self {
            dir,
            max_file_bytes,
            max_files,
            current: None,
            reported: 0,
            seq: 0,
        }
    }

    /// Append a line; the compressed bytes that reached the file since the last report.
    fn write(&mut self, line: &[u8]) -> io::Result<u64> {
        if self.current.is_none() {
            self.open()?;
        }
        let Some(enc) = self.current.as_mut() else {
            return Err(io::Error::other("no open file"));
        };
        if let Err(e) = enc.write_all(line) {
            // A broken stream is abandoned; its readable part stays for replay.
            self.current = None;
            return Err(e);
        }
        let on_disk = enc.get_ref().bytes;
        if on_disk >= self.max_file_bytes {
            return self.finish();
        }
        Ok(self.report(on_disk))
    }

    fn report(&mut self, on_disk: u64) -> u64 {
        let new = on_disk.saturating_sub(self.reported);
        self.reported = on_disk;
        new
    }

    fn flush(&mut self) -> io::Result<u64> {
        let Some(enc) = self.current.as_mut() else {
            return Ok(0);
        };
        if let Err(e) = enc.flush() {
            self.current = None;
            return Err(e);
        }
        let on_disk = enc.get_ref().bytes;
        Ok(self.report(on_disk))
    }

    /// End the current file as a complete zstd stream.
    fn finish(&mut self) -> io::Result<u64> {
        let Some(enc) = self.current.take() else {
            return Ok(0);
        };
        let mut counted = enc.finish()?;
        counted.file.flush()?;
        let n = self.report(counted.bytes);
        self.reported = 0;
        Ok(n)
    }

    /// Make room (the oldest files go) and start a new file.
    fn open(&mut self) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let files = list(&self.dir)?;
        let mut excess = (files.len() + 1).saturating_sub(self.max_files);
        for oldest in files {
            if excess == 0 {
                break;
            }
            // A file another writer holds (another proxy on this directory, or the one before
            // a restart, still draining) is not removed: its lines would be lost while counted
            // as written. It goes at a later rotation, once finished.
            if being_written(&oldest) {
                continue;
            }
            match std::fs::remove_file(&oldest) {
                Ok(()) => excess -= 1,
                // The other writer took it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => excess -= 1,
                Err(e) => return Err(e),
            }
        }
        self.seq += 1;
        let name = format!(
            "{PREFIX}{:013}-{}-{:06}{SUFFIX}",
            crate::record::format::now_ms(),
            std::process::id(),
            self.seq
        );
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(self.dir.join(name))?;
        // Held until the file is finished and dropped (the process's end releases it too):
        // what another writer's rotation asks before it removes a file. Advisory; a file
        // system without locks just goes without.
        let _ = file.try_lock();
        let counted = Counted { file, bytes: 0 };
        self.current = Some(zstd::stream::write::Encoder::new(counted, LEVEL)?);
        self.reported = 0;
        Ok(())
    }
}

/// Whether a writer holds `path` (its lock, taken when the file was made, is still held).
fn being_written(path: &Path) -> bool {
    File::open(path).is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
}

/// Recording files in `dir`, oldest first.
pub fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A file that counts the bytes written to it.
struct Counted {
    file: File,
    bytes: u64,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_rotate_by_size_keep_max_files_and_end_as_complete_streams() {
        let dir = std::env::temp_dir().join(format!("shadowdiff-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut files = Files::new(dir.clone(), 2048, 3);
        let mut written = 0;
        // zstd emits compressed bytes a block (up to 128 KiB of input) at a time: enough lines
        // for several blocks, so several files.
        for i in 0..10_000u32 {
            // Incompressible enough that a file fills: every line differs.
            let line = format!(
                "{{\"i\":{i},\"h\":\"{}\"}}\n",
                blake3::hash(&i.to_le_bytes())
            );
            written += files.write(line.as_bytes()).unwrap();
        }
        written += files.finish().unwrap();
        let kept = list(&dir).unwrap();
        assert_eq!(kept.len(), 3, "the oldest files went: {kept:?}");
        let on_disk: u64 = kept.iter().map(|f| f.metadata().unwrap().len()).sum();
        assert!(written >= on_disk, "every byte on disk was counted");
        let mut last = Vec::new();
        for f in &kept {
            let text = zstd::decode_all(File::open(f).unwrap()).expect("a complete stream");
            last = text
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
        }
        let newest: serde_json::Value = serde_json::from_slice(last.last().unwrap()).unwrap();
        assert_eq!(newest["i"], 9999, "the newest line is in the newest file");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Two writers on one directory (two proxies, or the one before a restart still draining):
    /// rotation keeps the directory's bound without removing the file the other is writing,
    /// whose lines would be counted as written and lost.
    #[test]
    fn rotation_never_removes_a_file_another_writer_is_writing() {
        let dir = std::env::temp_dir().join(format!("shadowdiff-shared-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let line = |i: u32| {
            format!(
                "{{\"i\":{i},\"h\":\"{}\"}}\n",
                blake3::hash(&i.to_le_bytes())
            )
        };
        let mut a = Files::new(dir.clone(), u64::MAX, 3);
        a.write(line(0).as_bytes()).unwrap();
        a.flush().unwrap();
        let mut b = Files::new(dir.clone(), 2048, 3);
        // One process, so one pid in both writers' names: the sequence tells them apart.
        b.seq = 1000;
        for i in 0..10_000 {
            b.write(line(i).as_bytes()).unwrap();
        }
        b.finish().unwrap();
        for i in 1..100 {
            a.write(line(i).as_bytes()).unwrap();
        }
        a.finish().unwrap();
        let kept = list(&dir).unwrap();
        let a_file = kept
            .iter()
            .find(|f| {
                let text = zstd::decode_all(File::open(f).unwrap()).unwrap();
                text.split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count()
                    == 100
            })
            .cloned()
            .unwrap_or_else(|| panic!("the first writer's file went: {kept:?}"));
        assert_eq!(
            kept.len(),
            3,
            "the bound held, the held file in it: {kept:?}"
        );
        // Finished, it is an ordinary old file: the next rotations take it, and the bound holds.
        for i in 0..10_000 {
            b.write(line(i).as_bytes()).unwrap();
        }
        b.finish().unwrap();
        let kept = list(&dir).unwrap();
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert!(!kept.contains(&a_file), "{kept:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
