//! Object key order: RFC 8785 sorts by UTF-16 code units, not by UTF-8 bytes or code points.
//! The two orders only disagree when a character above U+FFFF (a surrogate pair in UTF-16,
//! 0xD800..0xDBFF first) meets one in U+E000..U+FFFF.

use std::cmp::Ordering;

/// Compares two keys by their UTF-16 code units.
pub(crate) fn key_cmp(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let Some(i) = x.iter().zip(y).position(|(p, q)| p != q) else {
        return x.len().cmp(&y.len());
    };
    if x[i] < 0x80 && y[i] < 0x80 {
        return x[i].cmp(&y[i]);
    }
    // Back up to the start of the differing characters (the prefix is shared, so the same
    // boundary holds in both).
    let start = (0..=i).rev().find(|&j| a.is_char_boundary(j)).unwrap_or(0);
    match (a[start..].chars().next(), b[start..].chars().next()) {
        (Some(p), Some(q)) => first_unit(p).cmp(&first_unit(q)).then(p.cmp(&q)),
        _ => x.len().cmp(&y.len()),
    }
}

/// The first UTF-16 code unit of a character.
fn first_unit(c: char) -> u32 {
    let c = u32::from(c);
    if c >= 0x10000 {
        0xD800 + ((c - 0x10000) >> 10)
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16_cmp(a: &str, b: &str) -> Ordering {
        a.encode_utf16().cmp(b.encode_utf16())
    }

    #[test]
    fn agrees_with_utf16_order() {
        let keys = [
            "",
            "a",
            "ab",
            "b",
            "\u{7f}",
            "\u{80}",
            "é",
            "\u{ffff}",
            "\u{fb33}",
            "\u{e000}",
            "😂",
            "\u{10000}",
            "a😂",
            "a\u{fb33}",
            "€",
            "\n",
            "10",
            "1",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(key_cmp(a, b), utf16_cmp(a, b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn supplementary_sorts_before_high_bmp() {
        // UTF-8 byte order would put U+FB33 first.
        assert_eq!(key_cmp("😂", "\u{fb33}"), Ordering::Less);
    }
}
