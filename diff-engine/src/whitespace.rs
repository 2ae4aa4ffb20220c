//! Bodies that are not valid JSON, compared with JSON's insignificant whitespace ignored.
//!
//! Whitespace (space, tab, LF, CR) outside strings is dropped, except that a run between two
//! bytes that would otherwise join into one token (`1 2`, `true false`, `<a> <b>`) counts as one
//! space, so no two different token sequences become equal. Inside strings (from an unescaped
//! `"` to the next) every byte counts. Both bodies are read the same way, byte by byte, with no
//! copy: two bodies are equal here exactly when they are the same tokens, which for JSON that
//! is invalid only for its content (a duplicate key, a lone surrogate) means the same data.

/// JSON's whitespace.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A byte that can continue a token (a number, a literal, or any junk): whitespace next to it
/// is a separator.
fn joins(b: u8) -> bool {
    !is_ws(b) && !matches!(b, b'{' | b'}' | b'[' | b']' | b':' | b',' | b'"')
}

/// The significant bytes of a body, each with its offset in the body.
struct Squeezed<'b> {
    body: &'b [u8],
    at: usize,
    in_string: bool,
    escaped: bool,
    /// The last byte yielded outside a string joins a token.
    after_word: bool,
}

impl<'b> Squeezed<'b> {
    fn new(body: &'b [u8]) -> Self {
        Self {
            body,
            at: 0,
            in_string: false,
            escaped: false,
            after_word: false,
        }
    }
}

impl Iterator for Squeezed<'_> {
    type Item = (u8, usize);

    fn next(&mut self) -> Option<(u8, usize)> {
        loop {
            let at = self.at;
            let b = *self.body.get(at)?;
            if self.in_string {
                self.at += 1;
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                return Some((b, at));
            }
            if is_ws(b) {
                while self.body.get(self.at).is_some_and(|&c| is_ws(c)) {
                    self.at += 1;
                }
                let next_joins = self.body.get(self.at).is_some_and(|&c| joins(c));
                if self.after_word && next_joins {
                    self.after_word = false;
                    return Some((b' ', at));
                }
                continue;
            }
            self.at += 1;
            self.in_string = b == b'"';
            self.after_word = joins(b);
            return Some((b, at));
        }
    }
}

/// `None` when `a` and `b` are equal with whitespace outside strings ignored, else the offsets
/// in `a` and in `b` where they part (a body's length when it ends first).
pub(crate) fn first_difference(a: &[u8], b: &[u8]) -> Option<(usize, usize)> {
    let (mut x, mut y) = (Squeezed::new(a), Squeezed::new(b));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return None,
            (Some((p, _)), Some((q, _))) if p == q => {}
            (p, q) => return Some((p.map_or(a.len(), |p| p.1), q.map_or(b.len(), |q| q.1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squeezed(s: &str) -> String {
        Squeezed::new(s.as_bytes())
            .map(|(b, _)| b as char)
            .collect()
    }

    #[test]
    fn drops_only_insignificant_whitespace() {
        assert_eq!(
            squeezed(" { \"a\" :\t1 ,\r\n\"b\" : [ ] } "),
            "{\"a\":1,\"b\":[]}"
        );
        assert_eq!(
            squeezed("[\"a  b\", \"c\\\" d\" ]"),
            "[\"a  b\",\"c\\\" d\"]"
        );
        assert_eq!(squeezed("[1 \n 2, true  false]"), "[1 2,true false]");
        assert_eq!(squeezed("<p> hi   there </p>"), "<p> hi there </p>");
        assert_eq!(squeezed("\"open  "), "\"open  ");
        assert_eq!(squeezed(" \n "), "");
    }

    #[test]
    fn first_difference_gives_both_offsets() {
        assert_eq!(first_difference(b"[1, 2]", b"[1,2]"), None);
        assert_eq!(first_difference(b"[1, 2]", b"[1,3]"), Some((4, 3)));
        assert_eq!(first_difference(b"[1 2]", b"[12]"), Some((2, 2)));
        assert_eq!(first_difference(b"[1]", b"[1] ,"), Some((3, 4)));
        assert_eq!(first_difference(b"", b"  "), None);
    }
}
