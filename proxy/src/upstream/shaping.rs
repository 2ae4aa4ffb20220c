//! Candidate request shaping: how the mirrored copy differs from the request v1 got.
//!
//! By default only by the mark (`x-shadowdiff-mirror: 1`, `[candidate] mark_header`): v2 gets
//! the same Host as v1, so URLs an application builds from Host compare equal (with v2's own
//! Host, 30 % of an echoing service's comparisons were false mismatches). Opt-in
//! (`[candidate]`): an explicit `host`, or the Envoy-style `-shadow` suffix on the client's Host;
//! headers added or removed; a path prefix rewrite.

use bytes::Bytes;
use http::header::{HeaderName, HOST};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, Request};

use config::Candidate;

use crate::upstream::Target;

/// A request copy with these parts.
fn copy(method: &Method, uri: http::Uri, headers: HeaderMap, body: Bytes) -> Request<Bytes> {
    let mut req = Request::new(body);
    *req.method_mut() = method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    req
}

/// `[candidate]` shaping, parsed once per config.
#[derive(Debug, Clone, Default)]
pub struct Shaping {
    shadow_host_suffix: bool,
    /// `[candidate] host`.
    host: Option<HeaderValue>,
    /// `[candidate] mark_header`; `None` sends no mark.
    mark: Option<HeaderName>,
    add: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
    rewrite: Option<(String, String)>,
}

impl Shaping {
    pub fn new(c: &Candidate) -> anyhow::Result<Self> {
        let add = c
            .add_headers
            .iter()
            .map(|(k, v)| {
                Ok((
                    HeaderName::from_bytes(k.as_bytes())?,
                    HeaderValue::from_str(v)?,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        let remove = c
            .remove_headers
            .iter()
            .map(|k| HeaderName::from_bytes(k.as_bytes()))
            .collect::<Result<_, _>>()?;
        let host = c.host.as_deref().map(HeaderValue::from_str).transpose()?;
        let mark = c
            .mark_header
            .as_deref()
            .map(|m| HeaderName::from_bytes(m.as_bytes()))
            .transpose()?;
        Ok(Self {
            shadow_host_suffix: c.shadow_host_suffix,
            host,
            mark,
            add,
            remove,
            rewrite: c.rewrite_path_prefix.clone(),
        })
    }

    /// The copy sent to v1 while v2 serves (reverse shadow): the client's request as v1 would
    /// have had it, with the mark alone — v2's host, headers and path shaping are v2's.
    pub fn reverse_request(
        &self,
        target: &Target,
        method: &Method,
        pq: Option<&PathAndQuery>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Request<Bytes>, http::Error> {
        let mut req = copy(method, target.uri(pq)?, headers, body);
        self.marked(req.headers_mut());
        Ok(req)
    }

    /// The request sent to v2 for a client request with this method, target and headers.
    pub fn request(
        &self,
        target: &Target,
        method: &Method,
        pq: Option<&PathAndQuery>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Request<Bytes>, http::Error> {
        let rewritten = self.rewrite_path(pq);
        let uri = target.uri(rewritten.as_ref().or(pq))?;
        let client_host = headers.get(HOST);
        let host = match (&self.host, self.shadow_host_suffix, client_host) {
            (Some(explicit), _, _) => Some(explicit.clone()),
            (None, true, Some(h)) => h
                .to_str()
                .ok()
                .and_then(|h| HeaderValue::from_str(&shadow_host(h)).ok()),
            (None, false, Some(h)) => Some(h.clone()),
            // No Host from the client (HTTP/1.0): v2's own, as v1 got its own.
            (None, _, None) => HeaderValue::from_str(target.authority().as_str()).ok(),
        };
        let mut req = copy(method, uri, headers, body);
        let h = req.headers_mut();
        if let Some(host) = host {
            h.insert(HOST, host);
        }
        for name in &self.remove {
            h.remove(name);
        }
        for (name, value) in &self.add {
            h.insert(name.clone(), value.clone());
        }
        self.marked(h);
        Ok(req)
    }

    /// The mark on a copy, so the receiving backend can tell it from a client's request.
    fn marked(&self, headers: &mut HeaderMap) {
        if let Some(mark) = &self.mark {
            headers.insert(mark.clone(), HeaderValue::from_static("1"));
        }
    }

    /// The mark's name: only the proxy may set it, so a client's is removed from v1's request.
    pub fn mark(&self) -> Option<&HeaderName> {
        self.mark.as_ref()
    }

    fn rewrite_path(&self, pq: Option<&PathAndQuery>) -> Option<PathAndQuery> {
        let (from, to) = self.rewrite.as_ref()?;
        let pq = pq?;
        let rest = pq.as_str().strip_prefix(from.as_str())?;
        PathAndQuery::try_from(format!("{to}{rest}")).ok()
    }
}

/// `api.example.com:8443` → `api.example.com-shadow:8443`, as Envoy does.
fn shadow_host(host: &str) -> String {
    // A bracketed IPv6 literal keeps its port after the bracket.
    let split = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => i,
        _ => host.len(),
    };
    format!("{}-shadow{}", &host[..split], &host[split..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaping(toml_extra: &str) -> (Shaping, Target) {
        let text = format!(
            "[primary]\nurl = \"http://127.0.0.1:1\"\n[candidate]\nurl = \"http://v2.internal:8080/base\"\n{toml_extra}"
        );
        let c = config::Config::from_toml_str(&text, &config::Overrides::default()).unwrap();
        (
            Shaping::new(&c.candidate).unwrap(),
            Target::new(&c.candidate.upstream).unwrap(),
        )
    }

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HOST, "api.example.com:8443".parse().unwrap());
        h.insert("authorization", "Bearer t".parse().unwrap());
        h.insert("x-keep", "1".parse().unwrap());
        h
    }

    #[test]
    fn default_shaping_marks_the_copy_and_gives_v2_the_clients_host() {
        let (s, t) = shaping("");
        let pq = PathAndQuery::from_static("/a?b=1");
        let r = s
            .request(&t, &Method::GET, Some(&pq), headers(), Bytes::new())
            .unwrap();
        assert_eq!(r.uri(), "http://v2.internal:8080/base/a?b=1");
        assert_eq!(r.headers()[HOST], "api.example.com:8443", "the Host v1 got");
        assert_eq!(r.headers()["x-shadowdiff-mirror"], "1");
        assert_eq!(r.headers()["authorization"], "Bearer t");
    }

    #[test]
    fn opt_in_shaping_suffixes_host_edits_headers_and_rewrites_the_path() {
        let (s, t) = shaping(
            "shadow_host_suffix = true\nremove_headers = [\"authorization\"]\nadd_headers = { \"x-env\" = \"shadow\" }\nrewrite_path_prefix = { from = \"/api/v1\", to = \"/api/v2\" }\n",
        );
        let pq = PathAndQuery::from_static("/api/v1/orders?x=1");
        let r = s
            .request(&t, &Method::GET, Some(&pq), headers(), Bytes::new())
            .unwrap();
        assert_eq!(r.uri(), "http://v2.internal:8080/base/api/v2/orders?x=1");
        assert_eq!(r.headers()[HOST], "api.example.com-shadow:8443");
        assert!(r.headers().get("authorization").is_none());
        assert_eq!(r.headers()["x-env"], "shadow");
        assert_eq!(r.headers()["x-keep"], "1");
        // Paths outside the prefix are untouched.
        let other = PathAndQuery::from_static("/health");
        let r = s
            .request(&t, &Method::GET, Some(&other), headers(), Bytes::new())
            .unwrap();
        assert_eq!(r.uri(), "http://v2.internal:8080/base/health");
    }

    #[test]
    fn an_explicit_host_or_mark_replaces_the_defaults() {
        let (s, t) = shaping("host = \"v2.example.net\"\nmark_header = \"x-shadow\"\n");
        let r = s
            .request(&t, &Method::GET, None, headers(), Bytes::new())
            .unwrap();
        assert_eq!(r.headers()[HOST], "v2.example.net");
        assert_eq!(r.headers()["x-shadow"], "1");
        assert!(r.headers().get("x-shadowdiff-mirror").is_none());
        let (s, t) = shaping("mark_header = \"\"\n");
        let r = s
            .request(&t, &Method::GET, None, headers(), Bytes::new())
            .unwrap();
        assert!(
            r.headers().get("x-shadowdiff-mirror").is_none(),
            "no mark at all"
        );
        let mut no_host = headers();
        no_host.remove(HOST);
        let r = s
            .request(&t, &Method::GET, None, no_host, Bytes::new())
            .unwrap();
        assert_eq!(
            r.headers()[HOST],
            "v2.internal:8080",
            "HTTP/1.0 without Host: v2's own"
        );
    }

    #[test]
    fn shadow_suffix_goes_before_the_port() {
        assert_eq!(shadow_host("a.com"), "a.com-shadow");
        assert_eq!(shadow_host("a.com:80"), "a.com-shadow:80");
        assert_eq!(shadow_host("[::1]:80"), "[::1]-shadow:80");
        assert_eq!(shadow_host("[::1]"), "[::1]-shadow");
    }
}
