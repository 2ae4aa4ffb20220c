//! Header and trailer comparison: names after the rules, values compared as bytes, a repeated
//! field as the ordered list of its values. Trailers are compared exactly like headers, under
//! the same rules, and reported under `Part::Headers` with the path `trailer:<name>`.
//!
//! gRPC puts its status in the trailers (`grpc-status`, `grpc-message`,
//! `grpc-status-details-bin`), or, in a trailers-only response (an error with no message), in
//! the one header section. Those fields are read where each side sent them, so one side
//! answering trailers-only and the other headers-then-trailers is not a difference by itself.
//! `grpc-status` is a status: a differing one is a `Part::Status` difference at path
//! `grpc-status`, never hidden by header rules (like the HTTP status), and never a header
//! difference.

use http::{HeaderMap, HeaderName};

use crate::diff::Collector;
use crate::display::clip;
use crate::model::{ChangeKind, Difference, Part, Response, TRAILER_PREFIX};
use crate::rules::RuleSet;

pub(crate) const GRPC_STATUS: &str = "grpc-status";
/// The same as a name: a lookup by `&str` parses and validates the name every time.
const GRPC_STATUS_NAME: HeaderName = HeaderName::from_static(GRPC_STATUS);

/// The fields gRPC sends as its status: in the trailers, or in the headers of a trailers-only
/// response.
const GRPC_STATUS_FIELDS: [&str; 3] = [GRPC_STATUS, "grpc-message", "grpc-status-details-bin"];

fn is_grpc_status_field(name: &HeaderName) -> bool {
    GRPC_STATUS_FIELDS.contains(&name.as_str())
}

/// One response's two field sections, as compared.
struct Sections<'a> {
    headers: &'a HeaderMap,
    trailers: Option<&'a HeaderMap>,
    /// No trailers and a `grpc-status` header: gRPC's status fields in the headers belong to
    /// the trailer section.
    trailers_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Headers,
    Trailers,
}

impl<'a> Sections<'a> {
    fn of(r: &Response<'a>) -> Self {
        let trailers = r.trailers.filter(|t| !t.is_empty());
        Self {
            headers: r.headers,
            trailers,
            trailers_only: trailers.is_none() && r.headers.contains_key(GRPC_STATUS_NAME),
        }
    }

    /// The map a field of `section` is read from, if any.
    fn map(&self, section: Section, name: &HeaderName) -> Option<&'a HeaderMap> {
        let moved = self.trailers_only && is_grpc_status_field(name);
        match (section, moved) {
            (Section::Headers, false) | (Section::Trailers, true) => Some(self.headers),
            (Section::Headers, true) => None,
            (Section::Trailers, false) => self.trailers,
        }
    }

    fn values(&self, section: Section, name: &HeaderName) -> Vec<&'a [u8]> {
        self.values_iter(section, name).collect()
    }

    fn values_iter<'n>(
        &self,
        section: Section,
        name: &'n HeaderName,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.map(section, name)
            .into_iter()
            .flat_map(move |m| m.get_all(name).iter().map(|v| v.as_bytes()))
    }

    fn has(&self, section: Section, name: &HeaderName) -> bool {
        self.map(section, name)
            .is_some_and(|m| m.contains_key(name))
    }

    fn names(&self, section: Section) -> impl Iterator<Item = &'a HeaderName> + '_ {
        // Without a trailers-only response each section is one map, read as it is.
        let maps = match (section, self.trailers_only) {
            (Section::Headers, false) => [Some(self.headers), None],
            (Section::Trailers, false) => [self.trailers, None],
            (_, true) => [Some(self.headers), self.trailers],
        };
        maps.into_iter()
            .flatten()
            .flat_map(HeaderMap::keys)
            .filter(move |n| !self.trailers_only || self.has(section, n))
    }
}

/// The `grpc-status` difference, if the two sides' gRPC statuses differ.
pub(crate) fn grpc_status_difference(
    a: &Response<'_>,
    b: &Response<'_>,
    max_chars: usize,
) -> Option<Difference> {
    let name = GRPC_STATUS_NAME;
    let (va, vb) = (
        Sections::of(a).values(Section::Trailers, &name),
        Sections::of(b).values(Section::Trailers, &name),
    );
    (va != vb).then(|| Difference {
        part: Part::Status,
        path: GRPC_STATUS.to_owned(),
        kind: change_kind(&va, &vb),
        primary: show(&va, max_chars),
        candidate: show(&vb, max_chars),
    })
}

/// Pushes one difference per compared header name whose value lists differ, sorted by name,
/// then the same for trailers.
pub(crate) fn diff_headers(
    a: &Response<'_>,
    b: &Response<'_>,
    rules: &RuleSet,
    out: &mut Collector,
) {
    let (sa, sb) = (Sections::of(a), Sections::of(b));
    for (section, prefix) in [(Section::Headers, ""), (Section::Trailers, TRAILER_PREFIX)] {
        if agree(&sa, &sb, section, rules) {
            continue;
        }
        let mut names: Vec<&HeaderName> = sa
            .names(section)
            .chain(sb.names(section))
            .filter(|n| n.as_str() != GRPC_STATUS && rules.header_compared(n))
            .collect();
        names.sort_unstable_by(|x, y| x.as_str().cmp(y.as_str()));
        names.dedup();
        for name in names {
            let (va, vb) = (sa.values(section, name), sb.values(section, name));
            if va == vb {
                continue;
            }
            let max = out.max_value_chars();
            out.push(Difference {
                part: Part::Headers,
                path: format!("{prefix}{}", name.as_str()),
                kind: change_kind(&va, &vb),
                primary: show(&va, max),
                candidate: show(&vb, max),
            });
            if out.full() {
                return;
            }
        }
    }
}

/// Whether no compared field of `section` differs, found without collecting, sorting or
/// allocating anything: most pairs agree, and only a pair that does not pays for the report.
fn agree(sa: &Sections<'_>, sb: &Sections<'_>, section: Section, rules: &RuleSet) -> bool {
    let compared = |n: &HeaderName| n.as_str() != GRPC_STATUS && rules.header_compared(n);
    // Every field of `a` with the same values in `b`; then no field of `b` that `a` lacks.
    sa.names(section)
        .filter(|n| compared(n))
        .all(|n| sa.values_iter(section, n).eq(sb.values_iter(section, n)))
        && sb
            .names(section)
            .filter(|n| compared(n))
            .all(|n| sa.has(section, n))
}

fn change_kind(a: &[&[u8]], b: &[&[u8]]) -> ChangeKind {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => ChangeKind::Added,
        (_, true) => ChangeKind::Removed,
        _ => ChangeKind::Changed,
    }
}

/// Values joined by `, ` (lossy UTF-8), or `None` when the field is absent.
fn show(values: &[&[u8]], max_chars: usize) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let joined: Vec<_> = values.iter().map(|v| String::from_utf8_lossy(v)).collect();
    Some(clip(&joined.join(", "), max_chars))
}
