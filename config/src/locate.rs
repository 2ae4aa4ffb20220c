//! Find the key path at a byte offset of a TOML document, for error messages.
//!
//! The document is read a second time into a tree that records each key's span. The key at an
//! error is the last key that starts at or before the error: for an unknown key that is the key
//! itself, for a bad value it is the key the value belongs to (values follow their key, also
//! inside inline tables and arrays of tables). Best effort: `None` if the tree cannot be read.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A key path such as `routes[1].compare.ignore_paths`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The path of the table holding the last key (empty at the top level).
    pub fn parent(&self) -> String {
        let mut segments = self.0.clone();
        segments.pop();
        KeyPath(segments).to_string()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

pub(crate) fn key_at(text: &str, offset: usize) -> Option<KeyPath> {
    let root: Node = toml::from_str(text).ok()?;
    let mut keys = Vec::new();
    root.collect(&mut Vec::new(), &mut keys);
    // An error on a `[table]` header points at its `[`, before the header's own keys: take the
    // deepest key on that line instead.
    let rest = text.get(offset..).unwrap_or_default();
    let limit = if rest.starts_with('[') {
        offset + rest.find('\n').unwrap_or(rest.len())
    } else {
        offset
    };
    keys.into_iter()
        .filter(|(start, _)| *start <= limit)
        .max_by_key(|(start, _)| *start)
        .map(|(_, path)| KeyPath(path))
}

enum Node {
    Table(Vec<(Spanned<String>, Node)>),
    Array(Vec<Node>),
    Leaf,
}

impl Node {
    fn collect(&self, path: &mut Vec<Segment>, out: &mut Vec<(usize, Vec<Segment>)>) {
        match self {
            Node::Table(entries) => {
                for (key, value) in entries {
                    path.push(Segment::Key(key.get_ref().clone()));
                    out.push((key.span().start, path.clone()));
                    value.collect(path, out);
                    path.pop();
                }
            }
            Node::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Segment::Index(i));
                    item.collect(path, out);
                    path.pop();
                }
            }
            Node::Leaf => {}
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Table(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> Option<String> {
        let offset = text.find(needle).expect("needle in text");
        key_at(text, offset).map(|p| p.to_string())
    }

    #[test]
    fn finds_keys_in_tables_arrays_and_inline_tables() {
        let text = r#"
listen = "x"
[candidate]
url = "http://a"
[[routes]]
name = "a"
[[routes]]
name = "b"
[routes.compare]
tolerances = [{ path = "/a", abs = "oops" }]
"#;
        assert_eq!(at(text, "\"x\"").as_deref(), Some("listen"));
        assert_eq!(at(text, "url").as_deref(), Some("candidate.url"));
        assert_eq!(at(text, "\"b\"").as_deref(), Some("routes[1].name"));
        assert_eq!(
            at(text, "\"oops\"").as_deref(),
            Some("routes[1].compare.tolerances[0].abs")
        );
        assert_eq!(
            at(text, "[routes.compare]").as_deref(),
            Some("routes[1].compare")
        );
        assert_eq!(key_at("not toml [", 0), None);
    }
}
