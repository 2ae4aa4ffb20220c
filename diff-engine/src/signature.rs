//! A mismatch's signature: the route and the sorted set of (part, generalised path, kind) that
//! differ, with array indices and numeric keys generalised (`/items/3/price` → `/items/*/price`),
//! so that ten thousand mismatches of one kind are one signature, and a rare one stays visible
//! beside them.

use crate::model::{ChangeKind, Difference, Part};

/// One element of a signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignatureItem {
    pub part: Part,
    /// A generalised JSON Pointer for the body; the header (or `trailer:`) name for headers;
    /// empty or `grpc-status` for the status.
    pub path: String,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// 16 hex digits of a blake3 hash of the route and the items: stable across runs and
    /// versions, so a stored signature meets its next occurrence.
    pub id: String,
    pub route: String,
    /// Sorted, without repeats.
    pub items: Vec<SignatureItem>,
}

impl Signature {
    pub fn of(route: &str, differences: &[Difference]) -> Self {
        let mut items: Vec<SignatureItem> = differences
            .iter()
            .map(|d| SignatureItem {
                part: d.part,
                path: match d.part {
                    Part::Body => generalise(&d.path),
                    Part::Status | Part::Headers => d.path.clone(),
                },
                kind: d.kind,
            })
            .collect();
        items.sort();
        items.dedup();
        let mut h = blake3::Hasher::new();
        h.update(route.as_bytes());
        for i in &items {
            h.update(&[0, i.part as u8, i.kind as u8]);
            h.update(i.path.as_bytes());
        }
        let id = h.finalize().to_hex()[..16].to_owned();
        Self {
            id,
            route: route.to_owned(),
            items,
        }
    }
}

/// A JSON Pointer with every all-digit segment (an array index, or a numeric key such as an id)
/// as `*`: the shape of the place, not the instance.
pub fn generalise(pointer: &str) -> String {
    if !pointer.bytes().any(|b| b.is_ascii_digit()) {
        return pointer.to_owned();
    }
    let mut out = String::with_capacity(pointer.len());
    for (i, seg) in pointer.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('*');
        } else {
            out.push_str(seg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(part: Part, path: &str, kind: ChangeKind) -> Difference {
        Difference {
            part,
            path: path.into(),
            kind,
            primary: None,
            candidate: None,
        }
    }

    #[test]
    fn indices_and_numeric_keys_are_generalised() {
        assert_eq!(generalise("/items/3/price"), "/items/*/price");
        assert_eq!(generalise("/users/12345/name"), "/users/*/name");
        assert_eq!(generalise("/v2/sku"), "/v2/sku");
        assert_eq!(generalise(""), "");
        assert_eq!(generalise("/0"), "/*");
    }

    #[test]
    fn the_same_shape_is_the_same_signature() {
        let a = Signature::of(
            "orders",
            &[
                diff(Part::Body, "/items/3/price", ChangeKind::Changed),
                diff(Part::Body, "/items/7/price", ChangeKind::Changed),
                diff(Part::Headers, "etag", ChangeKind::Changed),
            ],
        );
        let b = Signature::of(
            "orders",
            &[
                diff(Part::Headers, "etag", ChangeKind::Changed),
                diff(Part::Body, "/items/0/price", ChangeKind::Changed),
            ],
        );
        assert_eq!(a, b);
        assert_eq!(a.items.len(), 2);
        assert_eq!(a.id.len(), 16);
        // Another route, or another kind, is another signature.
        assert_ne!(
            a.id,
            Signature::of("users", &[diff(Part::Headers, "etag", ChangeKind::Changed)]).id
        );
        let removed = Signature::of(
            "orders",
            &[diff(Part::Body, "/items/0/price", ChangeKind::Removed)],
        );
        let changed = Signature::of(
            "orders",
            &[diff(Part::Body, "/items/0/price", ChangeKind::Changed)],
        );
        assert_ne!(removed.id, changed.id);
    }
}
