//! Reading recording files: line by line, streaming (a file is never held whole), with bad
//! input reported rather than fatal — a corrupt line is counted with its file and line number
//! and the rest is read; a truncated zstd stream yields the lines before the break and says so.

use std::fs::File;
use std::io::{BufRead, BufReader};
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
    /// Not readable at all (missing, or not zstd).
    Unreadable(String),
}

/// What a file held: every good line goes to `on_line`, bad ones to `on_bad`.
pub fn read_file(
    path: &Path,
    mut on_line: impl FnMut(Line),
    mut on_bad: impl FnMut(BadLine),
) -> FileEnd {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return FileEnd::Unreadable(e.to_string()),
    };
    let decoder = match zstd::stream::read::Decoder::new(file) {
        Ok(d) => d,
        Err(e) => return FileEnd::Unreadable(e.to_string()),
    };
    let mut reader = BufReader::with_capacity(256 * 1024, decoder);
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return FileEnd::Complete,
            Ok(_) => {}
            // A partial last line before the break is part of the break, not a line. A stream cut
            // inside its first block has no line at all, and is still a cut, not a stranger.
            Err(e) if n == 0 && e.kind() != std::io::ErrorKind::UnexpectedEof => {
                return FileEnd::Unreadable(format!("not a zstd stream: {e}"))
            }
            Err(e) => {
                return FileEnd::Truncated {
                    lines: n,
                    why: e.to_string(),
                }
            }
        }
        n += 1;
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse(text) {
            Ok(line) => on_line(line),
            Err(why) => on_bad(BadLine {
                file: path.to_path_buf(),
                line: n,
                why,
            }),
        }
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
