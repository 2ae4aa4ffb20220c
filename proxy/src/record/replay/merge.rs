//! Under `--speed`, the lines of every file in the order they were recorded: files from several
//! proxies (a sidecar per pod, or recordings gathered from several hosts) cover stretches of
//! time that overlap, and replayed one file after another, each file after the first would be
//! behind its pace and sent all at once. A merge on each line's `time`; a file is opened only
//! when the merge reaches its first line's time, so only files whose stretches overlap are open
//! together (one writer's rotated files follow one another), each with its own read-ahead.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;

use bytes::Bytes;

use crate::record::read::{FileEnd, Lines};

use super::recorded::time_ms;

/// Lines looked at for a file's first time before it is opened for good: a file whose first
/// lines carry no time (corrupt, or not a recording) is taken first and its problems reported.
const LOOK_AHEAD: usize = 16;

/// Every line of `files` in recorded-time order to `on_line(file, number, text)` (ties in file
/// order, a line without a readable time in its place after the one before it), and each file's
/// end to `on_end(file, end)` when its lines run out.
pub fn by_time(
    files: &[PathBuf],
    mut on_line: impl FnMut(usize, u64, Bytes),
    mut on_end: impl FnMut(usize, FileEnd),
) {
    let mut starts: Vec<(u64, usize)> = Vec::with_capacity(files.len());
    for (file, path) in files.iter().enumerate() {
        match Lines::open(path) {
            Ok(lines) => {
                let first = lines
                    .take(LOOK_AHEAD)
                    .find_map(|(_, text)| time_ms(&text))
                    .unwrap_or(0);
                starts.push((first, file));
            }
            Err(why) => on_end(file, FileEnd::Unreadable(why)),
        }
    }
    starts.sort_unstable();
    let mut starts = starts.into_iter().peekable();

    let mut open = Open {
        heads: (0..files.len()).map(|_| None).collect(),
        due: BinaryHeap::new(),
    };
    loop {
        let next_due = open.due.peek().map(|Reverse((t, _))| *t);
        if let Some(&(first, file)) = starts.peek() {
            if next_due.is_none_or(|t| first <= t) {
                starts.next();
                match Lines::open(&files[file]) {
                    Ok(lines) => open.advance(file, lines, first, &mut on_end),
                    Err(why) => on_end(file, FileEnd::Unreadable(why)),
                }
                continue;
            }
        }
        let Some(Reverse((time, file))) = open.due.pop() else {
            return;
        };
        let Some(head) = open.heads[file].take() else {
            continue;
        };
        on_line(file, head.number, head.text);
        open.advance(file, head.lines, time, &mut on_end);
    }
}

/// The files being read, each with its next line, and which is due first.
struct Open {
    heads: Vec<Option<Head>>,
    /// `(time, file)` of each open file's next line, earliest on top.
    due: BinaryHeap<Reverse<(u64, usize)>>,
}

struct Head {
    lines: Lines,
    number: u64,
    text: Bytes,
}

impl Open {
    /// Read `file`'s next line and queue it by its time (`before`, the line before's, if it
    /// has none); a file with no more lines is ended.
    fn advance(
        &mut self,
        file: usize,
        mut lines: Lines,
        before: u64,
        on_end: &mut impl FnMut(usize, FileEnd),
    ) {
        match lines.next() {
            Some((number, text)) => {
                let time = time_ms(&text).unwrap_or(before);
                self.heads[file] = Some(Head {
                    lines,
                    number,
                    text,
                });
                self.due.push(Reverse((time, file)));
            }
            None => on_end(file, lines.end()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at_s: u32, id: &str) -> String {
        format!(
            r#"{{"time":"2026-01-01T00:{:02}:{:02}.000Z","id":"{id}"}}"#,
            at_s / 60,
            at_s % 60
        )
    }

    fn merged(files: &[PathBuf]) -> (Vec<String>, Vec<(usize, FileEnd)>) {
        let (mut lines, mut ends) = (Vec::new(), Vec::new());
        by_time(
            files,
            |file, n, text| lines.push(format!("{file}:{n}:{}", String::from_utf8_lossy(&text))),
            |file, end| ends.push((file, end)),
        );
        (lines, ends)
    }

    #[test]
    fn files_of_two_writers_interleave_by_time_and_a_rotated_file_follows_its_predecessor() {
        let dir = std::env::temp_dir().join(format!("shadowdiff-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, lines: &[String]| {
            let path = dir.join(name);
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            std::fs::write(&path, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
            path
        };
        // Pod a, its next (rotated) file, and pod b whose stretch overlaps both; b has a line
        // without a time, which keeps its place after the line before it.
        let a1 = write("a-1", &[line(0, "a0"), line(20, "a20"), line(40, "a40")]);
        let a2 = write("a-2", &[line(60, "a60"), line(80, "a80")]);
        let b = write(
            "b",
            &[
                line(10, "b10"),
                line(30, "b30"),
                "{not json".into(),
                line(50, "b50"),
                line(70, "b70"),
            ],
        );
        let missing = dir.join("gone");
        let (lines, ends) = merged(&[a1, a2, b, missing]);
        let ids: Vec<&str> = lines
            .iter()
            .map(|l| {
                l.rsplit_once("\"id\":\"")
                    .map_or("bad", |(_, id)| &id[..id.len() - 2])
            })
            .collect();
        assert_eq!(
            ids,
            ["a0", "b10", "a20", "b30", "bad", "a40", "b50", "a60", "b70", "a80"]
        );
        // Each line keeps its own file and number.
        assert!(lines.contains(&"2:3:{not json".to_string()), "{lines:?}");
        assert!(lines[0].starts_with("0:1:") && lines[9].starts_with("1:2:"));
        let mut ends = ends;
        ends.sort_by_key(|(f, _)| *f);
        assert_eq!(ends.len(), 4);
        assert!(ends[..3].iter().all(|(_, e)| *e == FileEnd::Complete));
        assert!(matches!(ends[3], (3, FileEnd::Unreadable(_))), "{ends:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_file_read_alone_keeps_its_order_even_when_time_steps_back() {
        let dir = std::env::temp_dir().join(format!("shadowdiff-merge1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("one.jsonl");
        // Lines are written as exchanges finish: a slow one recorded after a later arrival.
        let text = [line(5, "x"), line(3, "y"), line(9, "z")].join("\n");
        std::fs::write(&path, text).unwrap();
        let (lines, ends) = merged(std::slice::from_ref(&path));
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].contains("\"x\"") && lines[1].contains("\"y\"") && lines[2].contains("\"z\"")
        );
        assert_eq!(ends, [(0, FileEnd::Complete)]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
