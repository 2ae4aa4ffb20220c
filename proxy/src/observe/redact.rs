//! What a mismatch record or a recording may show: values of secret headers and of configured
//! JSON paths are replaced before a record is kept in memory, served, or written to the JSONL
//! sink, and before a recorded exchange is written (`record/scrub.rs`).

use std::borrow::Cow;

use diff_engine::{Difference, Part, PathPattern};

/// Shown instead of a redacted value.
pub const REDACTED: &str = "[redacted]";

/// Always redacted, whatever the config says: credentials and sessions, the standard ones and
/// the API-key and session-token headers most services use.
const ALWAYS: [&str; 7] = [
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "x-api-key",
    "x-auth-token",
    "x-amz-security-token",
];

/// Query parameters always redacted: OAuth 2.0's bearer token in a URI (RFC 6750, 2.3), API
/// keys, and a presigned S3 URL's signature and session token.
const ALWAYS_QUERY: [&str; 5] = [
    "access_token",
    "api_key",
    "apikey",
    "x-amz-signature",
    "x-amz-security-token",
];

#[derive(Debug, Default)]
pub struct Redactor {
    /// Lower-case, sorted, each once: a handful of names, where a scan compares lengths first
    /// and beats hashing every header of every recorded exchange.
    headers: Vec<String>,
    /// Query parameter names, lower-case, sorted, each once.
    query: Vec<String>,
    paths: Vec<PathPattern>,
}

impl Redactor {
    pub fn new(report: &config::Report) -> anyhow::Result<Self> {
        let headers = names(&ALWAYS, &report.redact_headers);
        let query = names(&ALWAYS_QUERY, &report.redact_query);
        let paths = report
            .redact_paths
            .iter()
            .map(|p| PathPattern::parse(p).map_err(|e| anyhow::anyhow!("report.redact_paths: {e}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            headers,
            query,
            paths,
        })
    }

    /// Whether a header's values must not be shown or stored (`name` in any case).
    pub fn hides_header(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Whether a query parameter's value must not be stored (`name` as the URI spells it: any
    /// case, percent-encoded or not).
    pub fn hides_query_param(&self, name: &str) -> bool {
        let name = percent_decoded(name);
        self.query.iter().any(|q| q.eq_ignore_ascii_case(&name))
    }

    /// The values of hidden parameters in `uri` (a path and query, or a URL in a header), as
    /// written there: in its query, and in its fragment (`#access_token=…`, where an OAuth
    /// implicit grant's redirect carries the token).
    pub fn hidden_query_values<'s, 'u: 's>(
        &'s self,
        uri: &'u str,
    ) -> impl Iterator<Item = &'u str> + 's {
        params(uri)
            .filter(|(name, value)| !value.is_empty() && self.hides_query_param(name))
            .map(|(_, value)| value)
    }

    /// `uri` with the values of hidden parameters replaced by `[redacted]` (borrowed when it
    /// has none): they are credentials whatever their length.
    pub fn redact_query<'u>(&self, uri: &'u str) -> Cow<'u, str> {
        let mut out = String::new();
        let mut copied = 0;
        for value in self.hidden_query_values(uri) {
            // `value` is a slice of `uri`: its offset says where it lies.
            let at = value.as_ptr() as usize - uri.as_ptr() as usize;
            out.push_str(&uri[copied..at]);
            out.push_str(REDACTED);
            copied = at + value.len();
        }
        if copied == 0 {
            return Cow::Borrowed(uri);
        }
        out.push_str(&uri[copied..]);
        Cow::Owned(out)
    }

    /// Whether the body value at this JSON Pointer must not be shown or stored.
    pub fn hides_body_path(&self, pointer: &str) -> bool {
        self.paths.iter().any(|p| p.matches_pointer(pointer))
    }

    /// Whether any body path is redacted at all (so bodies need parsing).
    pub fn has_body_paths(&self) -> bool {
        !self.paths.is_empty()
    }

    /// The header names always hidden and those configured, lower-case.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(String::as_str)
    }

    /// Whether this difference's values must not be shown.
    pub fn hides(&self, d: &Difference) -> bool {
        match d.part {
            Part::Status => false,
            Part::Headers => self.hides_header(&d.path),
            Part::Body => self.hides_body_path(&d.path),
        }
    }

    /// The value to show: the original, or the redaction marker (absent stays absent).
    /// What a record may show of `value`: nothing of a hidden header or path, and no
    /// credential of the request anywhere.
    pub fn show(
        &self,
        d: &Difference,
        value: &Option<String>,
        secrets: &Secrets,
    ) -> Option<String> {
        match value {
            Some(_) if self.hides(d) => Some(REDACTED.to_string()),
            // A value may be a URL (a `Location`, a link in a body) with a hidden parameter.
            Some(v) => Some(self.redact_query(&secrets.scrub(v)).into_owned()),
            None => None,
        }
    }
}

/// The names always hidden and the configured ones, lower-case, sorted, each once.
fn names(always: &[&str], configured: &[String]) -> Vec<String> {
    let mut names: Vec<String> = always
        .iter()
        .map(|n| n.to_string())
        .chain(configured.iter().map(|n| n.to_ascii_lowercase()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A URI's parameters after its first `?` or `#` as `(name, value)` slices of it, as written
/// (`a&b=` gives `("a", "")`, `("b", "")`).
fn params(uri: &str) -> impl Iterator<Item = (&str, &str)> {
    // Every header value of every recorded exchange comes through here; nearly none has a
    // `?` or a `#`, found by one vectorised search.
    let start = memchr::memchr2(b'?', b'#', uri.as_bytes()).map_or(uri.len(), |i| i + 1);
    uri[start..]
        .split(['&', '#', '?'])
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// `%XX` escapes decoded (a name may be written `access%5Ftoken`); text that is not a valid
/// escape, or decodes to other than UTF-8, is kept as written.
fn percent_decoded(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|b| hex(*b)),
            bytes.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_or(Cow::Borrowed(text), Cow::Owned)
}

/// Shorter credential values are not searched for elsewhere (they would match everywhere).
pub const MIN_SECRET: usize = 8;

/// A request's own credentials — the values of its hidden headers, a token after its scheme,
/// each cookie's value — to be scrubbed wherever else they appear (an application that echoes
/// `Authorization` into its body or a header would otherwise show it in exemplars, the JSONL
/// file and recordings). Values shorter than [`MIN_SECRET`] are left alone.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    /// Longest first, so a value that contains another is replaced whole.
    values: Vec<String>,
}

impl Secrets {
    /// Learn the credentials from a request's headers and its URI's hidden query parameters.
    pub fn learn<'h>(
        redactor: &Redactor,
        headers: impl IntoIterator<Item = (&'h str, &'h str)>,
        uri: &str,
    ) -> Self {
        let mut values = Vec::new();
        for value in redactor.hidden_query_values(uri) {
            // As written in the URI, and as an application that decoded it would echo it.
            values.push(value.to_owned());
            values.push(percent_decoded(&value.replace('+', " ")).into_owned());
        }
        for (name, value) in headers {
            if !redactor.hides_header(name) {
                continue;
            }
            values.push(value.trim().to_owned());
            // `Bearer <token>`, `Basic <base64>`: the token alone may appear elsewhere.
            if let Some((_, token)) = value.trim().split_once(' ') {
                values.push(token.trim().to_owned());
            }
            if name.eq_ignore_ascii_case("cookie") {
                values.extend(
                    value
                        .split(';')
                        .filter_map(|pair| pair.split_once('='))
                        .map(|(_, v)| v.trim().to_owned()),
                );
            }
        }
        values.retain(|s| s.chars().count() >= MIN_SECRET);
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Self { values }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The credentials, longest first.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Text with every credential replaced by `[redacted]`.
    pub fn scrub<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let mut out = std::borrow::Cow::Borrowed(text);
        for s in &self.values {
            if out.contains(s.as_str()) {
                out = std::borrow::Cow::Owned(out.replace(s.as_str(), REDACTED));
            }
        }
        out
    }
}

/// A redactor for tests, from the lines of a `[report]` table.
#[cfg(test)]
pub(crate) fn for_tests(report: &str) -> Redactor {
    let toml = format!(
        "[primary]\nurl = \"http://a\"\n[candidate]\nurl = \"http://b\"\n[report]\n{report}"
    );
    let config = config::Config::from_toml_str(&toml, &config::Overrides::default())
        .unwrap_or_else(|e| panic!("a test's [report]: {e}"));
    Redactor::new(&config.report).unwrap_or_else(|e| panic!("a test's [report]: {e}"))
}

#[cfg(test)]
mod tests {
    use diff_engine::ChangeKind;

    use super::*;

    fn diff(part: Part, path: &str) -> Difference {
        Difference {
            part,
            path: path.into(),
            kind: ChangeKind::Changed,
            primary: Some("a".into()),
            candidate: Some("b".into()),
        }
    }

    #[test]
    fn secrets_and_configured_paths_are_hidden_and_nothing_else() {
        let r =
            for_tests("redact_headers = [\"X-Api-Key\"]\nredact_paths = [\"/users/*/email\"]\n");
        for (part, path) in [
            (Part::Headers, "set-cookie"),
            (Part::Headers, "authorization"),
            (Part::Headers, "x-api-key"),
            (Part::Body, "/users/3/email"),
        ] {
            let d = diff(part, path);
            assert_eq!(
                r.show(&d, &d.primary, &Secrets::default()).as_deref(),
                Some(REDACTED),
                "{path}"
            );
        }
        for (part, path) in [
            (Part::Headers, "content-type"),
            (Part::Body, "/users/3/name"),
            (Part::Body, "/email"),
            (Part::Status, ""),
        ] {
            let d = diff(part, path);
            assert_eq!(
                r.show(&d, &d.primary, &Secrets::default()).as_deref(),
                Some("a"),
                "{path}"
            );
        }
        // Names in any case, configured or seen; a prefix or a longer name is another header.
        for name in ["X-API-KEY", "Authorization", "Set-Cookie"] {
            assert!(r.hides_header(name), "{name}");
        }
        // Without any configuration: the usual API-key and token headers and parameters.
        let bare = for_tests("");
        for name in [
            "X-Api-Key",
            "x-auth-token",
            "X-Amz-Security-Token",
            "proxy-authorization",
        ] {
            assert!(bare.hides_header(name), "{name}");
        }
        for name in ["api_key", "APIKEY", "X-Amz-Signature", "access_token"] {
            assert!(bare.hides_query_param(name), "{name}");
        }
        assert!(!bare.hides_query_param("key") && !bare.hides_header("x-request-id"));
        for name in ["x-api", "x-api-key2", "cookies", ""] {
            assert!(!r.hides_header(name), "{name}");
        }
        // A URL shown in a difference keeps its hidden parameters' values hidden.
        let location = Difference {
            primary: Some("/cb?access_token=abc&x=1".into()),
            ..diff(Part::Headers, "location")
        };
        assert_eq!(
            r.show(&location, &location.primary, &Secrets::default())
                .as_deref(),
            Some("/cb?access_token=[redacted]&x=1")
        );
        let absent = Difference {
            primary: None,
            ..diff(Part::Headers, "cookie")
        };
        assert_eq!(r.show(&absent, &absent.primary, &Secrets::default()), None);
    }
}
