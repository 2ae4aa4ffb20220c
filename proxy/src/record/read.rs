//! Reading recording files: line by line, streaming (a file is never held whole), with bad
//! input reported rather than fatal — a corrupt line is counted with its file and line number
//! and the rest is read; a truncated zstd stream yields the lines before the break and says so.
//! A file that is not zstd but JSON lines as they are (a decompressed recording, a fixture
//! kept readable in a repository, edited by hand) reads the same.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read};

use bytes::Bytes;
use std::path::{Path, PathBuf};

use crate::record::format::{Line, VERSION};

/// A line that could not be used, and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    pub file: PathBuf,
    pub line: u64,
    pub why: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.why)
    }
}

/// How reading a file ended.
#[derive(Debug, Clone, PartialEq)]
pub enum FileEnd {
    Complete,
    /// The stream broke after `lines` lines (a file cut short, or still being written).
    Truncated {
        lines: u64,
        why: String,
    },
    /// Not readable at all (missing, or neither zstd nor JSON lines).
    Unreadable(String),
}

/// What a file held: every good line goes to `on_line`, bad ones to `on_bad`.
pub fn read_file(
    path: &Path,
    mut on_line: impl FnMut(Line),
    mut on_bad: impl FnMut(BadLine),
) -> FileEnd {
    read_lines(path, |n, text| match parse(&text) {
        Ok(line) => on_line(line),
        Err(why) => on_bad(BadLine {
            file: path.to_path_buf(),
            line: n,
            why,
        }),
    })
}

/// Decompressed bytes read at a time; lines are handed out as slices of these chunks.
const CHUNK: usize = 64 * 1024;

/// Every line of a file that is not blank, with its line number and without its newline: each a
/// slice of a larger decompressed chunk (a reference count, no copy), so a reader can keep parts
/// of a line — a body, a header value — without copying them either.
pub fn read_lines(path: &Path, on_line: impl FnMut(u64, Bytes)) -> FileEnd {
    read_lines_up_to(path, MAX_LINE, on_line)
}

fn read_lines_up_to(path: &Path, max_line: usize, mut on_line: impl FnMut(u64, Bytes)) -> FileEnd {
    let mut lines = match Lines::open_up_to(path, max_line) {
        Ok(l) => l,
        Err(why) => return FileEnd::Unreadable(why),
    };
    for (n, text) in &mut lines {
        on_line(n, text);
    }
    lines.end()
}

/// Chunks kept for reuse once every line cut from them is dropped.
const SPARE_CHUNKS: usize = 64;

/// A chunk that goes back to its reader when its last line is dropped: the reader's memory
/// stays its own, instead of being freed on the threads that used the lines and faulted in
/// afresh for the next chunk (measured: a tenth of a replay's time went to zeroing new pages).
struct Spare {
    buf: Vec<u8>,
    home: crossbeam_channel::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for Spare {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        // A chunk grown for one long line is not kept at that size.
        if buf.capacity() <= 2 * CHUNK {
            buf.clear();
            // Full, or the reader is gone: freed here.
            let _ = self.home.try_send(buf);
        }
    }
}

/// Longer than any line the recorder writes (three bodies of `record.max_body_bytes` at most
/// 1 GiB, base64 at worst): a stream that runs on without a newline past this is not a
/// recording, and reading it stops there instead of holding it in memory.
const MAX_LINE: usize = 5 << 30;

/// A file's lines pulled one at a time (as [`read_lines`] hands them out), for a reader that
/// takes from several files in turn; [`Lines::end`] says how the file ended once they run out.
pub struct Lines {
    decoder: Box<dyn Read>,
    max_line: usize,
    /// Lines cut so far, blank ones included: the number of the last line handed out.
    n: u64,
    /// The start of a line the last chunk cut through.
    carry: Vec<u8>,
    home: crossbeam_channel::Sender<Vec<u8>>,
    spare: crossbeam_channel::Receiver<Vec<u8>>,
    /// The chunk being cut, and where its next line starts.
    chunk: Bytes,
    from: usize,
    /// How the stream ended, once it has; its lines are handed out before it is reported.
    stopped: Option<Stopped>,
}

/// Why a stream stopped giving chunks.
enum Stopped {
    Complete,
    Overlong,
    Failed(std::io::Error),
}

impl Lines {
    pub fn open(path: &Path) -> Result<Self, String> {
        Self::open_up_to(path, MAX_LINE)
    }

    fn open_up_to(path: &Path, max_line: usize) -> Result<Self, String> {
        let (home, spare) = crossbeam_channel::bounded(SPARE_CHUNKS);
        Ok(Self {
            decoder: open(path)?,
            max_line,
            n: 0,
            carry: Vec::new(),
            home,
            spare,
            chunk: Bytes::new(),
            from: 0,
            stopped: None,
        })
    }

    /// The next chunk of whole lines, or how the stream stopped.
    fn refill(&mut self) {
        let mut buf: Vec<u8> = self.spare.try_recv().unwrap_or_default();
        // Sized up front and exactly: grown from empty, each chunk would be copied a dozen times
        // on its way to 64 KiB, and one doubled past 2 × CHUNK would not be kept.
        buf.reserve_exact(self.carry.len() + CHUNK);
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        let start = buf.len();
        let read = (&mut self.decoder).take(CHUNK as u64).read_to_end(&mut buf);
        // Whole lines go out now and a cut one waits for the rest; at the end of the stream a
        // last line without its newline is a line, at a break it is part of the break.
        let cut = match read {
            Ok(0) => buf.len(),
            _ => memchr::memrchr(b'\n', &buf[start..]).map_or(0, |i| start + i + 1),
        };
        self.carry.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        self.stopped = match read {
            Ok(0) => Some(Stopped::Complete),
            Ok(_) if self.carry.len() > self.max_line => Some(Stopped::Overlong),
            Ok(_) => None,
            Err(e) => Some(Stopped::Failed(e)),
        };
        self.chunk = Bytes::from_owner(Spare {
            buf,
            home: self.home.clone(),
        });
        self.from = 0;
    }

    /// How the file ended: meaningful once the lines have run out.
    pub fn end(&self) -> FileEnd {
        match &self.stopped {
            None | Some(Stopped::Complete) => FileEnd::Complete,
            Some(Stopped::Overlong) => FileEnd::Truncated {
                lines: self.n,
                why: format!(
                    "line {} runs past {} bytes without ending",
                    self.n + 1,
                    self.max_line
                ),
            },
            // A partial last line before the break is part of the break, not a line. A stream
            // cut inside its first block has no line at all, and is still a cut, not a stranger.
            Some(Stopped::Failed(e))
                if self.n == 0 && e.kind() != std::io::ErrorKind::UnexpectedEof =>
            {
                FileEnd::Unreadable(format!("not a zstd stream: {e}"))
            }
            Some(Stopped::Failed(e)) => FileEnd::Truncated {
                lines: self.n,
                why: e.to_string(),
            },
        }
    }
}

impl Iterator for Lines {
    type Item = (u64, Bytes);

    fn next(&mut self) -> Option<(u64, Bytes)> {
        loop {
            while self.from < self.chunk.len() {
                let (from, chunk) = (self.from, &self.chunk);
                let end = memchr::memchr(b'\n', &chunk[from..]).map_or(chunk.len(), |i| from + i);
                self.n += 1;
                self.from = end + 1;
                if !chunk[from..end].iter().all(u8::is_ascii_whitespace) {
                    return Some((self.n, chunk.slice(from..end)));
                }
            }
            if self.stopped.is_some() {
                return None;
            }
            self.refill();
        }
    }
}

/// zstd's frame magic number, first in every compressed file (RFC 8878, 3.1.1).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The file's text: decompressed when it is zstd; as it is when it is JSON lines.
fn open(path: &Path) -> Result<Box<dyn Read>, String> {
    let mut file = BufReader::new(File::open(path).map_err(|e| e.to_string())?);
    let head = file.fill_buf().map_err(|e| e.to_string())?;
    if head.starts_with(&ZSTD_MAGIC) {
        let decoder = zstd::stream::read::Decoder::with_buffer(file).map_err(|e| e.to_string())?;
        return Ok(Box::new(decoder));
    }
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => Ok(Box::new(file)),
        Some(_) => Err("neither a zstd stream nor JSON lines".into()),
    }
}

/// One line of the format, or why it is not one.
pub fn parse(text: &[u8]) -> Result<Line, String> {
    let line: Line = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    if line.version != VERSION {
        return Err(format!(
            "version {} (this build reads {VERSION})",
            line.version
        ));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(name: &str, text: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "shadowdiff-read-{name}-{}.jsonl.zst",
            std::process::id()
        ));
        std::fs::write(&path, zstd::encode_all(text, 3).unwrap()).unwrap();
        path
    }

    fn lines_of(path: &Path) -> (Vec<(u64, Vec<u8>)>, FileEnd) {
        let mut lines = Vec::new();
        let end = read_lines(path, |n, text| lines.push((n, text.to_vec())));
        (lines, end)
    }

    #[test]
    fn lines_cut_by_chunk_ends_come_out_whole_and_numbered() {
        // Lines shorter, longer and much longer than a chunk, blank ones, and a last line
        // without its newline.
        let long = vec![b'x'; CHUNK * 2 + 17];
        let just_under = vec![b'y'; CHUNK - 1];
        let mut text = Vec::new();
        let mut want = Vec::new();
        for (i, line) in [
            b"first".to_vec(),
            Vec::new(),
            long.clone(),
            b"  ".to_vec(),
            just_under.clone(),
            b"after".to_vec(),
            long,
            b"last, no newline".to_vec(),
        ]
        .into_iter()
        .enumerate()
        {
            text.extend_from_slice(&line);
            if i < 7 {
                text.push(b'\n');
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                want.push((i as u64 + 1, line));
            }
        }
        let path = file_with("chunks", &text);
        let (lines, end) = lines_of(&path);
        assert_eq!(end, FileEnd::Complete);
        assert_eq!(lines.len(), want.len());
        for ((n, got), (wn, w)) in lines.iter().zip(&want) {
            assert_eq!((n, got.len()), (wn, w.len()), "line {wn}");
            assert_eq!(got, w, "line {wn}");
        }
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_stream_cut_short_yields_the_whole_lines_before_the_cut() {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        for i in 0..3000 {
            use std::io::Write as _;
            writeln!(enc, "line {i} {}", "z".repeat(i % 97)).unwrap();
            enc.flush().unwrap();
        }
        let whole = enc.finish().unwrap();
        let path = std::env::temp_dir().join(format!("shadowdiff-read-cut-{}", std::process::id()));
        std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
        let (lines, end) = lines_of(&path);
        let FileEnd::Truncated { lines: n, .. } = end else {
            panic!("{end:?}")
        };
        assert!(n > 100 && n < 3000, "{n}");
        assert_eq!(lines.len() as u64, n, "every counted line was handed out");
        for (i, (num, text)) in lines.iter().enumerate() {
            assert_eq!(*num, i as u64 + 1);
            let want = format!("line {i} {}", "z".repeat(i % 97));
            assert_eq!(text, want.as_bytes(), "line {num} is whole");
        }
        // A stream that never ends its line is read up to a bound, not into memory whole.
        let endless = file_with(
            "endless",
            &[b"ok\n".as_slice(), &vec![b'x'; 3 * CHUNK]].concat(),
        );
        let mut seen = Vec::new();
        let end = read_lines_up_to(&endless, CHUNK, |n, _| seen.push(n));
        assert_eq!(seen, [1]);
        assert!(
            matches!(&end, FileEnd::Truncated { lines: 1, why } if why.contains("line 2 runs past")),
            "{end:?}"
        );
        let _ = std::fs::remove_file(endless);
        std::fs::write(&path, b"not zstd at all").unwrap();
        assert!(
            matches!(&lines_of(&path).1, FileEnd::Unreadable(why) if why.contains("neither")),
            "{:?}",
            lines_of(&path).1
        );
        let _ = std::fs::remove_file(path);
    }

    /// JSON lines not compressed (a recording after `zstd -d`, a fixture kept readable) read as
    /// the compressed file does: the same lines, the same numbers, across chunk ends.
    #[test]
    fn plain_json_lines_read_as_the_compressed_file_does() {
        let mut text = b"\n  \n".to_vec();
        for i in 0..400usize {
            let pad = "p".repeat((i * 997) % (CHUNK / 3));
            text.extend_from_slice(format!("{{\"i\":{i},\"pad\":\"{pad}\"}}\n").as_bytes());
        }
        let compressed = file_with("zst", &text);
        let plain = compressed.with_extension("jsonl");
        std::fs::write(&plain, &text).unwrap();
        let (want, end) = lines_of(&compressed);
        assert_eq!(end, FileEnd::Complete);
        assert_eq!(want.len(), 400);
        assert_eq!(want[0].0, 3, "numbered as the file is, blank lines counted");
        assert_eq!(lines_of(&plain), (want, FileEnd::Complete));
        for f in [compressed, plain] {
            let _ = std::fs::remove_file(f);
        }
    }
}
