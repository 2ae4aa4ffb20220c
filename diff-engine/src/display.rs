//! Short display strings for differences: canonical JSON or text, cut to a character budget.

use crate::canonical::write_value;
use crate::digest::{hex_prefix, raw_digest};
use crate::json::Value;
use crate::number::write_double;
use crate::sink::Sink;

const ELLIPSIS: char = '…';

/// A sink that keeps only what a preview of `max_chars` characters can show.
struct Preview {
    out: Vec<u8>,
    /// Any `max_chars` characters fit in `4 * max_chars` bytes; one more byte proves a cut.
    byte_budget: usize,
}

impl Sink for Preview {
    fn put(&mut self, bytes: &[u8]) {
        let room = self.byte_budget.saturating_sub(self.out.len());
        self.out.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn full(&self) -> bool {
        self.out.len() >= self.byte_budget
    }

    fn float(&mut self, value: f64) {
        write_double(value, self);
    }
}

/// Canonical JSON text of `value`, at most `max_chars` characters plus an ellipsis.
pub(crate) fn value_text(value: &Value<'_>, max_chars: usize) -> String {
    let mut sink = Preview {
        out: Vec::new(),
        byte_budget: max_chars.saturating_mul(4).saturating_add(1),
    };
    write_value(value, &mut sink);
    clip(&String::from_utf8_lossy(&sink.out), max_chars)
}

/// `s` cut to `max_chars` characters, with an ellipsis when something was cut.
pub(crate) fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_owned(),
        Some((end, _)) => {
            let mut out = s[..end].to_owned();
            out.push(ELLIPSIS);
            out
        }
    }
}

/// Preview of a body that is shown as text (lossy UTF-8 for invalid sequences).
pub(crate) fn text_preview(body: &[u8], max_chars: usize) -> String {
    let head = &body[..body
        .len()
        .min(max_chars.saturating_mul(4).saturating_add(1))];
    let shown = clip(&String::from_utf8_lossy(head), max_chars);
    if head.len() < body.len() && !shown.ends_with(ELLIPSIS) {
        return format!("{shown}{ELLIPSIS}");
    }
    shown
}

/// Preview of a binary body: its length and a blake3 prefix.
pub(crate) fn binary_preview(body: &[u8]) -> String {
    format!(
        "{} bytes, blake3 {}",
        body.len(),
        hex_prefix(&raw_digest(body), 8)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_by_characters() {
        assert_eq!(clip("héllo", 3), "hél…");
        assert_eq!(clip("héllo", 5), "héllo");
        assert_eq!(clip("", 0), "");
        assert_eq!(clip("a", 0), "…");
        assert_eq!(text_preview("ééééé".as_bytes(), 2), "éé…");
        assert_eq!(binary_preview(b""), "0 bytes, blake3 af1349b9f5f9a1a6");
    }

    #[test]
    fn large_values_stop_early() {
        let doc = format!("[{}1]", "1234567890,".repeat(100_000));
        let v = crate::json::parse(doc.as_bytes(), 8).unwrap();
        let shown = value_text(&v, 12);
        assert_eq!(shown, "[1234567890,…");
    }
}
