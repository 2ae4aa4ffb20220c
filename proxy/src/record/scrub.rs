//! Redaction of a recorded exchange, before its line is encoded: nothing unredacted reaches a
//! file. Three passes:
//!
//! 1. the values of secret headers (Authorization, Cookie, Set-Cookie, Proxy-Authorization, and
//!    `report.redact_headers`) become `[redacted]`;
//! 2. body values at `report.redact_paths` become `"[redacted]"` (JSON bodies);
//! 3. the request's own credentials (those headers' values, a token after its scheme, each
//!    cookie's value) are replaced wherever else they appear — the query, other headers, any
//!    body — when at least `MIN_SECRET` characters long, so that a short value such as `1`
//!    does not blank every `1` in the file.

use std::borrow::Cow;

use crate::observe::redact::{Redactor, Secrets, REDACTED};
use crate::record::format::{Body, BodyRef};

/// The redaction of one exchange: the redactor, and the request's credentials to scrub.
pub struct Scrubber<'a> {
    redactor: &'a Redactor,
    secrets: Secrets,
}

impl<'a> Scrubber<'a> {
    /// Learn the credentials from the request's headers and URI (path and query).
    pub fn new<'h>(
        redactor: &'a Redactor,
        request_headers: impl IntoIterator<Item = (&'h str, &'h str)>,
        uri: &str,
    ) -> Self {
        let secrets = Secrets::learn(redactor, request_headers, uri);
        Self { redactor, secrets }
    }

    /// Text with every known credential replaced.
    pub fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.secrets.scrub(text)
    }

    /// A URI (or a URL) as recorded: hidden parameters' values redacted (whatever their
    /// length), then credentials scrubbed.
    pub fn uri<'u>(&self, uri: &'u str) -> Cow<'u, str> {
        match self.redactor.redact_query(uri) {
            Cow::Borrowed(u) => self.text(u),
            Cow::Owned(u) => Cow::Owned(self.text(&u).into_owned()),
        }
    }

    /// A header's value as recorded: `[redacted]` for a secret header; otherwise the value
    /// with hidden parameters of any URL in it redacted (`Location`, `Referer`) and credentials
    /// scrubbed.
    pub fn value<'v>(&self, name: &str, value: &'v str) -> Cow<'v, str> {
        if self.redactor.hides_header(name) {
            Cow::Borrowed(REDACTED)
        } else {
            self.uri(value)
        }
    }

    /// Header pairs with secret headers redacted and credentials scrubbed from the rest.
    pub fn headers(&self, headers: Vec<(String, String)>) -> Vec<(String, String)> {
        headers
            .into_iter()
            .map(|(name, value)| {
                let value = self.value(&name, &value).into_owned();
                (name, value)
            })
            .collect()
    }

    /// The same, borrowed: only a value that changes is copied.
    pub fn header_refs<'h>(
        &self,
        headers: &[(&'h str, Cow<'h, str>)],
    ) -> Vec<(&'h str, Cow<'h, str>)> {
        headers
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Cow::Borrowed(v) => self.value(name, v),
                    Cow::Owned(v) => Cow::Owned(self.value(name, v).into_owned()),
                };
                (*name, value)
            })
            .collect()
    }

    /// A body as recorded: configured JSON paths redacted, credentials scrubbed.
    pub fn body(&self, bytes: &[u8]) -> Body {
        BodyRef::of_bytes(&self.scrubbed(bytes)).to_body()
    }

    /// A body's bytes as recorded, borrowed when nothing in them is redacted.
    pub fn scrubbed<'b>(&self, bytes: &'b [u8]) -> Cow<'b, [u8]> {
        let body = match self.json_paths(bytes) {
            Some(redacted) => Cow::Owned(redacted),
            None => Cow::Borrowed(bytes),
        };
        if self.secrets.is_empty() {
            return body;
        }
        let replaced = match std::str::from_utf8(&body) {
            Ok(text) => match self.text(text) {
                Cow::Borrowed(_) => None,
                Cow::Owned(t) => Some(t.into_bytes()),
            },
            Err(_) => Some(self.bytes(&body)),
        };
        match replaced {
            Some(r) => Cow::Owned(r),
            None => body,
        }
    }

    /// A JSON body re-encoded with the configured paths redacted; `None` when it has none of
    /// them (its bytes are then kept exactly as they were) or is not JSON.
    fn json_paths(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        if !self.redactor.has_body_paths() {
            return None;
        }
        let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let mut pointer = String::new();
        if !redact_value(self.redactor, &mut value, &mut pointer) {
            return None;
        }
        serde_json::to_vec(&value).ok()
    }

    fn bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for s in self.secrets.values() {
            out = replace_bytes(&out, s.as_bytes(), REDACTED.as_bytes());
        }
        out
    }
}

/// Replace values at redacted pointers; whether anything was replaced.
fn redact_value(r: &Redactor, value: &mut serde_json::Value, pointer: &mut String) -> bool {
    if !pointer.is_empty() && r.hides_body_path(pointer) {
        *value = serde_json::Value::String(REDACTED.to_owned());
        return true;
    }
    let len = pointer.len();
    let mut any = false;
    let visit = |segment: &str, child: &mut serde_json::Value, pointer: &mut String| {
        pointer.push('/');
        pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        let hit = redact_value(r, child, pointer);
        pointer.truncate(len);
        hit
    };
    match value {
        serde_json::Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                any |= visit(k, child, pointer);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                any |= visit(&i.to_string(), child, pointer);
            }
        }
        _ => {}
    }
    any
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        crate::observe::redact::for_tests(
            "redact_headers = [\"X-Api-Key\"]\nredact_paths = [\"/user/ssn\"]\nredact_query = [\"API_KEY\"]\n",
        )
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn secret_headers_paths_and_echoed_credentials_are_redacted() {
        let r = redactor();
        let req = pairs(&[
            ("authorization", "Bearer tok-1234567890"),
            ("cookie", "session=sess-abcdefgh; theme=dark"),
            ("x-api-key", "key-ABCDEFGH"),
            ("accept", "application/json"),
        ]);
        let s = Scrubber::new(&r, req.iter().map(|(n, v)| (n.as_str(), v.as_str())), "/a");
        let headers = s.headers(req.clone());
        assert_eq!(headers[0].1, REDACTED);
        assert_eq!(headers[1].1, REDACTED);
        assert_eq!(headers[2].1, REDACTED);
        assert_eq!(headers[3].1, "application/json");
        let echoed = s.headers(pairs(&[("x-echo", "was tok-1234567890")]));
        assert_eq!(echoed[0].1, "was [redacted]");

        let body = s.body(
            br#"{"user":{"ssn":"123-45-6789","name":"Ann"},"seen":"sess-abcdefgh","key":"key-ABCDEFGH","theme":"dark"}"#,
        );
        let text = body.text().unwrap().0;
        for secret in [
            "123-45-6789",
            "sess-abcdefgh",
            "key-ABCDEFGH",
            "tok-1234567890",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("\"Ann\"") && text.contains("\"dark\""),
            "{text}"
        );
        assert_eq!(s.text("/a?token=tok-1234567890"), "/a?token=[redacted]");
    }

    /// A credential in the query (OAuth's `access_token`, always; `report.redact_query`'s
    /// names): its value is redacted in the URI whatever its length and however the name is
    /// spelt, and, when long enough to search for, wherever the exchange echoes it.
    #[test]
    fn query_credentials_are_redacted_in_the_uri_and_wherever_they_are_echoed() {
        let r = redactor();
        let uri = "/a?page=2&access_token=tok%2Fq%2B1234567&Api_Key=k1&x=access_token&empty=";
        let s = Scrubber::new(&r, [("accept", "*/*")], uri);
        assert_eq!(
            s.uri(uri),
            "/a?page=2&access_token=[redacted]&Api_Key=[redacted]&x=access_token&empty="
        );
        let spelt = "/a?ACCESS%5Ftoken=tok-1234567890";
        assert_eq!(
            Scrubber::new(&r, [], spelt).uri(spelt),
            "/a?ACCESS%5Ftoken=[redacted]"
        );
        // Echoed as written and as an application decodes it; `k1` is too short to search for.
        let echoed = s.headers(pairs(&[
            ("location", "/next?access_token=tok%2Fq%2B1234567"),
            ("x-token", "tok/q+1234567"),
            ("x-key", "k1"),
        ]));
        assert_eq!(echoed[0].1, "/next?access_token=[redacted]");
        assert_eq!(echoed[1].1, "[redacted]");
        assert_eq!(echoed[2].1, "k1");
        let body = s.body(br#"{"token":"tok/q+1234567"}"#).text().unwrap().0;
        assert_eq!(body, r#"{"token":"[redacted]"}"#);
        // A URL in a header: v1's redirect with a token of its own, in the query or, as an
        // implicit grant has it, in the fragment.
        let redirect = s.headers(pairs(&[
            (
                "location",
                "https://app/cb#access_token=v1-made-42&token_type=bearer",
            ),
            ("referer", "https://app/page?x=1&api_key=zz#top"),
        ]));
        assert_eq!(
            redirect[0].1,
            "https://app/cb#access_token=[redacted]&token_type=bearer"
        );
        assert_eq!(redirect[1].1, "https://app/page?x=1&api_key=[redacted]#top");
        // Nothing hidden: the URI is the client's, borrowed.
        assert!(matches!(s.uri("/a?page=2"), Cow::Borrowed("/a?page=2")));
    }

    #[test]
    fn short_values_are_not_scrubbed_everywhere_and_clean_bodies_keep_their_bytes() {
        let r = redactor();
        let s = Scrubber::new(&r, [("cookie", "a=1; theme=dark")], "/");
        let raw = br#"{ "b": 1,  "a": "dark" }"#;
        assert_eq!(s.body(raw).text().unwrap().0.as_bytes(), raw);
        let binary = s.body(&[0xff, b'x']);
        assert!(binary.body_base64.is_some());
    }
}
