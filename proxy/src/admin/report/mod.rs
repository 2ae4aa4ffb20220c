//! The report page, served by the admin listener at `GET /`.
//!
//! One static HTML document compiled into the binary (`page.html`, inline CSS and vanilla JS; no
//! CDN, no build step, no external fonts or scripts). In the browser it fetches `/api/summary`,
//! `/api/signatures`, `/api/noise/suggestions`, `/api/mismatches?limit=20` and `/api/cutover`
//! every 2 s and renders: for each route in canary or promoted mode, the cutover's state, weight,
//! schedule, gates against their thresholds, the rollback reason and recent events (one line when
//! every route is in shadow mode); per route, the counts, the windowed mismatch rate as a bar
//! against the budget, skips by reason and the top differing paths, with a link to the route's
//! signatures; then the findings, led by the mismatch signatures (most frequent first, each with
//! its count, share, places, first and last seen, example paths, and its exemplars behind a
//! `<details>`: a rare signature is never buried under a frequent one, as it is in the recent
//! list), the learned noise per route (each place's evidence and the config lines that silence
//! it) and the recent mismatches with v1 | v2 side by side per differing JSON Pointer. Each API
//! is fetched on its own, so one failing leaves the other parts current. Values come from
//! upstream responses, so the script only ever inserts them with `textContent`/`setAttribute`.
//!
//! ## Content-Security-Policy
//!
//! [`CONTENT_SECURITY_POLICY`] starts from `default-src 'none'` (nothing may load) and allows
//! only what the page needs: its own inline `<script>` and `<style>` (`'unsafe-inline'`), `fetch`
//! back to the admin listener (`connect-src 'self'`) and `data:`/same-origin images. A nonce or
//! hash would be the textbook alternative to `'unsafe-inline'`, but a nonce needs per-response
//! templating of a static page and a hash must be kept in step with every edit of it; neither
//! buys much here, because the script never turns data into markup (no `innerHTML`), and with
//! every other source denied an injected `<script src>`, `<img>` beacon, form post or frame
//! could not reach anywhere. `base-uri`, `form-action` and `frame-ancestors` are closed too (the
//! latter two are not covered by `default-src`).

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body_util::Full;

/// The page, as served.
pub const PAGE: &str = include_str!("page.html");

/// See the module documentation for why each directive is what it is.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `GET /` on the admin listener.
pub fn page() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_with_strict_headers() {
        let r = page();
        let h = r.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
    }

    #[test]
    fn page_is_self_contained_and_never_parses_data_as_html() {
        for banned in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "<script src",
            "<link",
            "@import",
            "url(",
            "http://",
            "https://",
        ] {
            assert!(!PAGE.contains(banned), "page.html contains {banned:?}");
        }
        for api in [
            "/api/summary",
            "/api/signatures",
            "/api/noise/suggestions",
            "/api/mismatches?limit=20",
            "/api/cutover",
        ] {
            assert!(PAGE.contains(api), "page.html does not fetch {api}");
        }
    }
}
