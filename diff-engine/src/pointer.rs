//! RFC 6901 JSON Pointers: building them for differences and matching rule patterns.
//!
//! A pattern is a pointer in which a segment `*` matches exactly one segment (a key or an
//! index) and `**` matches any number of segments, including zero. So `/**/id` matches `/id`
//! and `/a/0/id`, and `/**` matches everything including the whole body. A literal key named
//! `*` or `**` cannot be written.

use std::fmt::Write as _;

/// One step from a parent to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'t> {
    Key(&'t str),
    Index(usize),
}

/// Appends `segment` escaped (`~` → `~0`, `/` → `~1`).
pub(crate) fn escape_into(segment: &str, out: &mut String) {
    for c in segment.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// The pointer for a path of steps.
pub(crate) fn render(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        out.push('/');
        match step {
            Step::Key(k) => escape_into(k, &mut out),
            Step::Index(i) => _ = write!(out, "{i}"),
        }
    }
    out
}

/// A pointer for people: the empty pointer reads "the root".
pub(crate) fn display(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the root"
    } else {
        pointer
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    /// A literal segment; `index` is set when it is also a valid array index.
    Lit {
        key: String,
        index: Option<usize>,
    },
    One,
    Any,
}

impl Seg {
    fn matches(&self, step: &Step<'_>) -> bool {
        match (self, step) {
            (Seg::Lit { key, .. }, Step::Key(k)) => key == k,
            (Seg::Lit { index, .. }, Step::Index(i)) => *index == Some(*i),
            // `Any` spans are handled by `Pattern::matches`; one step is always inside one.
            (Seg::One | Seg::Any, _) => true,
        }
    }
}

/// A compiled path pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    segs: Vec<Seg>,
    has_any: bool,
}

impl Pattern {
    /// Parses a pattern; the error says why it is not one.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Self {
                segs: Vec::new(),
                has_any: false,
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err("a pointer is empty or starts with `/`".into());
        };
        let segs = rest
            .split('/')
            .map(|raw| match raw {
                "*" => Ok(Seg::One),
                "**" => Ok(Seg::Any),
                _ => unescape(raw).map(|key| Seg::Lit {
                    index: array_index(&key),
                    key,
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let has_any = segs.contains(&Seg::Any);
        Ok(Self { segs, has_any })
    }

    /// Whether the whole `path` matches.
    pub(crate) fn matches(&self, path: &[Step<'_>]) -> bool {
        if !self.has_any {
            return self.segs.len() == path.len()
                && self.segs.iter().zip(path).all(|(s, p)| s.matches(p));
        }
        // reach[j]: the pattern prefix seen so far matches path[..j]. Linear in
        // segments × depth, whatever the number of `**`.
        let mut reach = vec![false; path.len() + 1];
        reach[0] = true;
        for seg in &self.segs {
            if *seg == Seg::Any {
                let mut seen = false;
                for r in reach.iter_mut() {
                    seen |= *r;
                    *r = seen;
                }
            } else {
                for j in (1..=path.len()).rev() {
                    reach[j] = reach[j - 1] && seg.matches(&path[j - 1]);
                }
                reach[0] = false;
            }
        }
        reach[path.len()]
    }
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (c, c == '~') {
            (_, false) => out.push(c),
            (_, true) => match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err("`~` must be followed by `0` or `1`".into()),
            },
        }
    }
    Ok(out)
}

/// RFC 6901 array index: `0` or digits without a leading zero.
fn array_index(key: &str) -> Option<usize> {
    let canonical = key == "0" || (!key.starts_with('0') && !key.is_empty());
    if canonical && key.bytes().all(|b| b.is_ascii_digit()) {
        key.parse().ok()
    } else {
        None
    }
}

/// A JSON Pointer pattern for callers outside the engine (e.g. redacting report values):
/// the same syntax and matching as the rules use.
#[derive(Debug, Clone, PartialEq)]
pub struct PathPattern(Pattern);

impl PathPattern {
    pub fn parse(text: &str) -> Result<Self, crate::RuleError> {
        Pattern::parse(text)
            .map(Self)
            .map_err(|why| crate::RuleError::BadPath {
                value: text.to_string(),
                why,
            })
    }

    /// Whether an RFC 6901 pointer (as in `Difference::path`) matches; a malformed pointer never does.
    pub fn matches_pointer(&self, pointer: &str) -> bool {
        if pointer.is_empty() {
            return self.0.matches(&[]);
        }
        let Some(rest) = pointer.strip_prefix('/') else {
            return false;
        };
        let Ok(keys) = rest.split('/').map(unescape).collect::<Result<Vec<_>, _>>() else {
            return false;
        };
        let steps: Vec<Step<'_>> = keys.iter().map(|k| Step::Key(k)).collect();
        self.0.matches(&steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::{Index, Key};

    fn m(pattern: &str, path: &[Step<'_>]) -> bool {
        Pattern::parse(pattern).unwrap().matches(path)
    }

    #[test]
    fn renders_escaped_pointers() {
        assert_eq!(render(&[]), "");
        assert_eq!(
            render(&[Key("a/b"), Index(3), Key("m~n"), Key("")]),
            "/a~1b/3/m~0n/"
        );
    }

    #[test]
    fn literal_and_wildcards() {
        assert!(m("/a/b", &[Key("a"), Key("b")]));
        assert!(!m("/a/b", &[Key("a"), Key("bb")]));
        assert!(!m("/a/b", &[Key("a")]));
        assert!(!m("/a/b", &[Key("a"), Key("b"), Key("c")]));
        assert!(m("/a/*/c", &[Key("a"), Index(7), Key("c")]));
        assert!(!m("/a/*/c", &[Key("a"), Key("c")]));
        assert!(m("/**/id", &[Key("id")]));
        assert!(m("/**/id", &[Key("a"), Index(0), Key("id")]));
        assert!(!m("/**/id", &[Key("a"), Key("idx")]));
        assert!(m("/a/**", &[Key("a")]));
        assert!(m("/**", &[]));
        assert!(m("", &[]));
        assert!(!m("", &[Key("a")]));
        assert!(m("/0", &[Index(0)]) && m("/0", &[Key("0")]));
        assert!(!m("/01", &[Index(1)]));
        assert!(m("/a~1b/m~0n", &[Key("a/b"), Key("m~n")]));
    }

    #[test]
    fn bad_patterns() {
        assert!(Pattern::parse("a/b").is_err());
        assert!(Pattern::parse("/a~2").is_err());
        assert!(Pattern::parse("/a~").is_err());
    }

    #[test]
    fn public_pattern_matches_rendered_pointers() {
        let p = PathPattern::parse("/items/*/secret").unwrap();
        assert!(p.matches_pointer("/items/0/secret"));
        assert!(!p.matches_pointer("/items/0/public"));
        assert!(!p.matches_pointer("/items/0/secret/x"));
        assert!(PathPattern::parse("/a~1b")
            .unwrap()
            .matches_pointer("/a~1b"));
        assert!(PathPattern::parse("/**").unwrap().matches_pointer(""));
        assert!(PathPattern::parse("nope").is_err());
    }
}
