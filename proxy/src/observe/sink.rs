//! The optional JSONL sink of mismatch records (`report.jsonl_path`), rotated by size:
//! `mismatches.jsonl` → `mismatches.jsonl.1` → … → `.N`, the oldest dropped. Written from the
//! comparison threads, never from the I/O runtime.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

pub struct JsonlSink {
    path: PathBuf,
    max_bytes: u64,
    max_files: usize,
    file: Option<File>,
    size: u64,
}

impl JsonlSink {
    pub fn open(path: &Path, max_bytes: u64, max_files: usize) -> anyhow::Result<Self> {
        let file = append(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            max_bytes,
            max_files,
            file: Some(file),
            size,
        })
    }

    /// Append one record as a line; rotate first when it would pass the size limit.
    pub fn write<T: serde::Serialize>(&mut self, record: &T) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(append(&self.path)?),
        };
        file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> anyhow::Result<()> {
        self.file = None;
        let numbered = |i: usize| PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.max_files == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for i in (1..self.max_files).rev() {
                if numbered(i).exists() {
                    std::fs::rename(numbered(i), numbered(i + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = Some(append(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

fn append(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("report.jsonl_path {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_max_files() {
        let dir = std::env::temp_dir().join(format!("shadowdiff-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.jsonl");
        let mut sink = JsonlSink::open(&path, 100, 2).unwrap();
        for i in 0..20 {
            sink.write(&serde_json::json!({ "i": i, "pad": "xxxxxxxxxxxxxxxxxxxx" }))
                .unwrap();
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        let current = read(&path);
        assert!(current.len() <= 100, "the live file stays under the limit");
        assert!(current
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
        assert!(
            current.contains("\"i\":19"),
            "the newest record is in the live file"
        );
        assert!(dir.join("m.jsonl.1").exists() && dir.join("m.jsonl.2").exists());
        assert!(
            !dir.join("m.jsonl.3").exists(),
            "at most max_files rotated files"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
