//! HAR 1.2 (<http://www.softwareishard.com/blog/har-12-spec/>), the archive format browsers and
//! HTTP tools export: `shadowdiff record export --har` writes one from recordings, and
//! `shadowdiff record import --har` turns one into a recording (redacted like a live capture).

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Unexpected,
    Visitor,
};
use serde::{Deserialize, Serialize};

use crate::observe::redact::Redactor;
use crate::record::format::{
    parse_rfc3339, rfc3339, Answer, Body, Line, Message, VerdictLine, VERSION,
};
use crate::record::read::{read_file, FileEnd};
use crate::record::scrub::Scrubber;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Creator {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(default)]
    pub started_date_time: String,
    /// Total time of the entry, milliseconds.
    #[serde(default)]
    pub time: f64,
    pub request: Request,
    pub response: Response,
    #[serde(default)]
    pub cache: serde_json::Value,
    #[serde(default)]
    pub timings: Timings,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub http_version: String,
    #[serde(default)]
    pub cookies: Vec<serde_json::Value>,
    #[serde(default)]
    pub headers: Vec<Pair>,
    #[serde(default)]
    pub query_string: Vec<Pair>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_data: Option<PostData>,
    #[serde(default = "unknown")]
    pub headers_size: i64,
    #[serde(default = "unknown")]
    pub body_size: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub status: u16,
    #[serde(default)]
    pub status_text: String,
    #[serde(default)]
    pub http_version: String,
    #[serde(default)]
    pub cookies: Vec<serde_json::Value>,
    #[serde(default)]
    pub headers: Vec<Pair>,
    #[serde(default)]
    pub content: Content,
    #[serde(default, rename = "redirectURL")]
    pub redirect_url: String,
    #[serde(default = "unknown")]
    pub headers_size: i64,
    #[serde(default = "unknown")]
    pub body_size: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pair {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostData {
    #[serde(default)]
    pub mime_type: String,
    #[serde(default)]
    pub text: String,
    /// Not in HAR 1.2 (its `postData` has no encoding); a `_`-prefixed custom field, as the
    /// spec allows, for request bodies that are not text.
    #[serde(default, rename = "_encoding", skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub mime_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Timings {
    #[serde(default)]
    pub send: f64,
    #[serde(default)]
    pub wait: f64,
    #[serde(default)]
    pub receive: f64,
}

fn unknown() -> i64 {
    -1
}

/// What an export or import found.
#[derive(Debug, Default)]
pub struct Converted {
    pub entries: usize,
    /// Lines or entries that could not be used, with where and why.
    pub problems: Vec<String>,
}

/// Recording files → one HAR 1.2 file, written an entry at a time: a day's recording does not
/// have to fit in memory, nor its HAR text.
pub fn export(files: &[std::path::PathBuf], out: &Path) -> anyhow::Result<Converted> {
    write_whole(out, |partial| write_har(files, partial))
}

/// Runs `write` on a partial file beside `out` and renames it over `out` once `write` succeeded:
/// a conversion that fails (a bad input, a full disk) leaves no half file, and an earlier `out`
/// as it was.
fn write_whole<T>(out: &Path, write: impl FnOnce(&Path) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let name = out
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let partial = out.with_file_name(format!(".{name}.partial"));
    let done = write(&partial).and_then(|t| {
        std::fs::rename(&partial, out).with_context(|| format!("writing {}", out.display()))?;
        Ok(t)
    });
    if done.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    done
}

fn write_har(files: &[std::path::PathBuf], path: &Path) -> anyhow::Result<Converted> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let creator = Creator {
        name: "shadowdiff".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    write!(w, "{{\"log\": {{\"version\": \"1.2\", \"creator\": ")?;
    serde_json::to_writer(&mut w, &creator)?;
    w.write_all(b", \"entries\": [")?;
    let (mut done, mut entries) = (Converted::default(), 0);
    // The callback cannot return an error: the first one is kept and ends the writing.
    let mut failed: Option<std::io::Error> = None;
    for file in files {
        let end = read_file(
            file,
            |line| {
                if failed.is_some() {
                    return;
                }
                let sep: &[u8] = if entries == 0 { b"\n" } else { b",\n" };
                let wrote = w
                    .write_all(sep)
                    .and_then(|()| Ok(serde_json::to_writer_pretty(&mut w, &entry(&line))?));
                match wrote {
                    Ok(()) => entries += 1,
                    Err(e) => failed = Some(e),
                }
            },
            |bad| done.problems.push(bad.to_string()),
        );
        if let Some(e) = failed.take() {
            return Err(e).with_context(|| format!("writing {}", path.display()));
        }
        match end {
            FileEnd::Complete => {}
            FileEnd::Truncated { lines, why } => done.problems.push(format!(
                "{}: zstd stream ends after line {lines} ({why}); exported what precedes",
                file.display()
            )),
            FileEnd::Unreadable(why) => {
                anyhow::bail!("{}: {why}", file.display())
            }
        }
    }
    done.entries = entries;
    w.write_all(b"\n]}}\n")?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(done)
}

/// A HAR file → one recording file, every entry redacted as a live capture would be; read and
/// written an entry at a time (a browser's HAR with its bodies runs to hundreds of megabytes).
pub fn import(input: &Path, out: &Path, redactor: &Redactor) -> anyhow::Result<Converted> {
    let file =
        std::fs::File::open(input).with_context(|| format!("reading {}", input.display()))?;
    write_whole(out, |partial| {
        let created = std::fs::File::create(partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut enc = zstd::stream::write::Encoder::new(created, 3)?;
        let mut done = Converted::default();
        // A write that fails stops the reading; it is the error reported, not the parse's.
        let mut failed: Option<std::io::Error> = None;
        let mut i = 0;
        let mut each = |e: Entry| {
            match line(&e, redactor) {
                Ok(line) => {
                    let wrote = serde_json::to_writer(&mut enc, &line)
                        .map_err(std::io::Error::from)
                        .and_then(|()| enc.write_all(b"\n"));
                    if let Err(e) = wrote {
                        failed = Some(e);
                        return Err("stopped".to_string());
                    }
                    done.entries += 1;
                }
                Err(why) => done
                    .problems
                    .push(format!("{}: entries[{i}]: {why}", input.display())),
            }
            i += 1;
            Ok(())
        };
        let mut reader = serde_json::Deserializer::from_reader(std::io::BufReader::new(file));
        let read = Walk {
            level: Level::Document,
            each: &mut each,
        }
        .deserialize(&mut reader)
        .and_then(|()| reader.end());
        if let Some(e) = failed {
            return Err(e).with_context(|| format!("writing {}", partial.display()));
        }
        read.with_context(|| format!("{}: not a HAR file", input.display()))?;
        enc.finish()?.sync_all()?;
        Ok(done)
    })
}

/// Where in a HAR document a [`Walk`] is.
#[derive(Clone, Copy)]
enum Level {
    /// `{"log": …}`
    Document,
    /// `{"version": …, "creator": …, "entries": […], …}`
    Log,
    /// `[entry, …]`
    Entries,
}

/// A HAR document read down to `log.entries`, each entry handed to `each` as soon as it is
/// parsed (an error from `each` stops the reading); every other field is skipped unread.
struct Walk<'a, F> {
    level: Level,
    each: &'a mut F,
}

impl<'de, F: FnMut(Entry) -> Result<(), String>> DeserializeSeed<'de> for Walk<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.level {
            Level::Entries => d.deserialize_seq(self),
            Level::Document | Level::Log => d.deserialize_map(self),
        }
    }
}

impl<'de, F: FnMut(Entry) -> Result<(), String>> Visitor<'de> for Walk<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.level {
            Level::Document => "a HAR document (an object with `log`)",
            Level::Log => "a HAR log (an object with `entries`)",
            Level::Entries => "a list of entries",
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (field, inner) = match self.level {
            Level::Document => ("log", Level::Log),
            Level::Log => ("entries", Level::Entries),
            Level::Entries => return Err(A::Error::invalid_type(Unexpected::Map, &self)),
        };
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == field {
                let each = &mut *self.each;
                map.next_value_seed(Walk { level: inner, each })?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        // A log without entries has none; a document without a log is not a HAR.
        match self.level {
            Level::Document if !found => Err(A::Error::missing_field("log")),
            _ => Ok(()),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if !matches!(self.level, Level::Entries) {
            return Err(A::Error::invalid_type(Unexpected::Seq, &self));
        }
        while let Some(entry) = seq.next_element::<Entry>()? {
            (self.each)(entry).map_err(A::Error::custom)?;
        }
        Ok(())
    }
}

fn pairs(list: &[(String, String)]) -> Vec<Pair> {
    list.iter()
        .map(|(name, value)| Pair {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn header<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One recorded exchange as a HAR entry (its URL on the Host it was sent to).
fn entry(line: &Line) -> Entry {
    let req = &line.request;
    let host = header(&req.headers, "host").unwrap_or("localhost");
    let query = line
        .uri
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (name, value) = kv.split_once('=').unwrap_or((kv, ""));
            Pair {
                name: name.into(),
                value: value.into(),
            }
        })
        .collect();
    let post_data = req.body.text().map(|(text, base64)| PostData {
        mime_type: header(&req.headers, "content-type")
            .unwrap_or_default()
            .into(),
        encoding: base64.then(|| "base64".into()),
        text,
    });
    let p = &line.primary;
    // The recorded bytes, decoded from base64 once: their size is the size on the wire, and
    // the HAR shows them decoded from their Content-Encoding when they can be.
    let raw = p.body.to_bytes().ok();
    let decoded = raw.as_deref().and_then(|raw| decoded(&p.headers, raw));
    let shown = decoded.as_deref().map(Body::from_bytes);
    let content = shown.as_ref().unwrap_or(&p.body).text();
    let size = decoded
        .as_ref()
        .map(Vec::len)
        .or(raw.as_ref().map(|r| r.len()))
        .map_or(0, |n| n as i64);
    Entry {
        started_date_time: line.time.clone(),
        time: p.latency_ms,
        request: Request {
            method: line.method.clone(),
            url: format!("http://{host}{}", line.uri),
            http_version: "HTTP/1.1".into(),
            cookies: Vec::new(),
            headers: pairs(&req.headers),
            query_string: query,
            post_data,
            headers_size: -1,
            body_size: req.body.to_bytes().map_or(0, |b| b.len() as i64),
        },
        response: Response {
            status: p.status,
            status_text: String::new(),
            http_version: "HTTP/1.1".into(),
            cookies: Vec::new(),
            headers: pairs(&p.headers),
            content: Content {
                size,
                mime_type: header(&p.headers, "content-type")
                    .unwrap_or_default()
                    .into(),
                encoding: content
                    .as_ref()
                    .and_then(|(_, base64)| base64.then(|| "base64".into())),
                text: content.map(|(text, _)| text),
            },
            redirect_url: String::new(),
            headers_size: -1,
            // On the wire: encoded, as recorded.
            body_size: raw.as_ref().map_or(-1, |b| b.len() as i64),
        },
        cache: serde_json::json!({}),
        timings: Timings {
            send: 0.0,
            wait: p.latency_ms,
            receive: 0.0,
        },
    }
}

/// Response headers about the body's bytes on the wire, not about the body a HAR shows.
const WIRE_FRAMING: [&str; 3] = ["content-encoding", "content-length", "transfer-encoding"];

/// Bytes a body may decode to for a HAR's `content.text`; a larger one is shown as recorded.
const MAX_DECODED: usize = 64 << 20;

/// v1's body decoded from the `Content-Encoding` it was sent with, for a HAR's
/// `content.text` (the HAR spec's is the decoded body, and import reads it so); `None` when
/// it was sent as it is, or cannot be decoded (then it is shown as recorded).
fn decoded(headers: &[(String, String)], raw: &[u8]) -> Option<Vec<u8>> {
    let codings: http::HeaderMap = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
        .filter_map(|(_, v)| Some((http::header::CONTENT_ENCODING, v.parse().ok()?)))
        .collect();
    if codings.is_empty() {
        return None;
    }
    diff_engine::decode_content(&codings, raw, MAX_DECODED)
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// One HAR entry as a recorded line, redacted; or why it cannot be one.
fn line(e: &Entry, redactor: &Redactor) -> Result<Line, String> {
    // Browsers list requests they cancelled or blocked with status 0; there is no v1 answer to
    // compare v2's with.
    match e.response.status {
        0 => return Err("no response (status 0: cancelled, blocked or failed)".into()),
        100..=999 => {}
        other => return Err(format!("response.status {other} is not an HTTP status")),
    }
    let uri: http::Uri = e
        .request
        .url
        .parse()
        .map_err(|err| format!("url `{}`: {err}", e.request.url))?;
    let target = uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let mut request_headers: Vec<(String, String)> = e
        .request
        .headers
        .iter()
        // HTTP/2 pseudo-headers (`:authority`, ...) that browsers list are not headers.
        .filter(|p| !p.name.starts_with(':'))
        .map(|p| (p.name.to_ascii_lowercase(), p.value.clone()))
        .collect();
    // An HTTP/2 request names its host in `:authority`; the recording keeps it as Host, as the
    // proxy records what v1 was sent.
    // Host and port only: a URL's user information (`https://user:secret@host/`) is not part
    // of a Host, and a password has no place in a recording.
    if let (None, Some(authority)) = (header(&request_headers, "host"), uri.authority()) {
        let host = match authority.port() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_owned(),
        };
        request_headers.insert(0, ("host".to_owned(), host));
    }
    let s = Scrubber::new(
        redactor,
        request_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
        &target,
    );
    let request_body = match &e.request.post_data {
        Some(pd) if pd.encoding.as_deref() == Some("base64") => {
            decode(&pd.text).map_err(|err| format!("request.postData: {err}"))?
        }
        Some(pd) => pd.text.clone().into_bytes(),
        None => Vec::new(),
    };
    let content = &e.response.content;
    // Saved without its content (a browser's "sanitized" export, a body it did not keep): v1's
    // answer is unknown, not empty, and an empty one would mismatch every v2 that answers.
    if content.text.is_none() && content.size > 0 {
        return Err(format!(
            "response.content: a body of {} bytes that the HAR does not hold",
            content.size
        ));
    }
    let response_body = match (&content.text, content.encoding.as_deref()) {
        (Some(t), Some("base64")) => decode(t).map_err(|err| format!("response.content: {err}"))?,
        (Some(t), _) => t.clone().into_bytes(),
        (None, _) => Vec::new(),
    };
    // `content.text` is the body as the browser decoded it: the headers that describe how it
    // came over the wire no longer describe it (left in, replay would decode a plain body as
    // gzip and call every exchange a mismatch).
    let response_headers: Vec<(String, String)> = e
        .response
        .headers
        .iter()
        .map(|p| (p.name.to_ascii_lowercase(), p.value.clone()))
        .filter(|(n, _)| !WIRE_FRAMING.contains(&n.as_str()))
        .collect();
    let wait = if e.timings.wait > 0.0 {
        e.timings.wait
    } else {
        e.time.max(0.0)
    };
    Ok(Line {
        version: VERSION,
        time: parse_rfc3339(&e.started_date_time)
            .map_or_else(|| e.started_date_time.clone(), rfc3339),
        route: crate::route::DEFAULT_ROUTE.into(),
        method: e.request.method.to_ascii_uppercase(),
        uri: s.uri(&target).into_owned(),
        request: Message {
            headers: s.headers(request_headers.clone()),
            body: s.body(&request_body),
        },
        primary: Answer {
            status: e.response.status,
            headers: s.headers(response_headers),
            body: s.body(&response_body),
            latency_ms: wait,
        },
        candidate: None,
        verdict: VerdictLine::not_mirrored(),
    })
}

fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn redactor() -> Redactor {
        crate::observe::redact::for_tests("")
    }

    fn answered(headers: &[(&str, &str)], body: &[u8]) -> Line {
        Line {
            version: VERSION,
            time: "2026-01-01T00:00:00.000Z".into(),
            route: "default".into(),
            method: "GET".into(),
            uri: "/users/7".into(),
            request: Message {
                headers: vec![("host".into(), "shop.example".into())],
                body: Body::default(),
            },
            primary: Answer {
                status: 200,
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                body: Body::from_bytes(body),
                latency_ms: 2.0,
            },
            candidate: None,
            verdict: VerdictLine::not_mirrored(),
        }
    }

    /// A HAR shows the body decoded (its `text`), and import reads it so: an answer recorded
    /// gzipped exports readable and imports back as a body replay can compare.
    #[test]
    fn an_encoded_body_exports_decoded_and_imports_back_comparable() {
        let json = br#"{"id":7,"name":"a"}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json).unwrap();
        let gz = gz.finish().unwrap();
        let headers = [
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
            ("content-length", "39"),
        ];
        let e = entry(&answered(&headers, &gz));
        let content = &e.response.content;
        assert_eq!(content.text.as_deref(), Some(r#"{"id":7,"name":"a"}"#));
        assert_eq!(content.encoding, None);
        assert_eq!(content.size, json.len() as i64);
        assert_eq!(e.response.body_size, gz.len() as i64, "bytes on the wire");
        assert!(e
            .response
            .headers
            .iter()
            .any(|h| h.name == "content-encoding"));

        let back = line(&e, &redactor()).unwrap();
        assert_eq!(&back.primary.body.to_bytes().unwrap()[..], json);
        let names: Vec<&str> = back
            .primary
            .headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["content-type"]);

        // A body that does not decode as it claims is shown as it was recorded.
        let e = entry(&answered(&headers, b"not gzip"));
        assert_eq!(e.response.content.text.as_deref(), Some("not gzip"));
    }

    /// A URL's user information never reaches the recording's Host.
    #[test]
    fn the_host_of_a_url_with_credentials_is_its_host_alone() {
        let mut e = entry(&answered(&[], b"{}"));
        e.request.headers.clear();
        e.request.url = "https://admin:hunter2-secret@shop.example:8443/users/7".into();
        let l = line(&e, &redactor()).unwrap();
        let text = serde_json::to_string(&l.request.headers).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(
            l.request.headers[0],
            ("host".into(), "shop.example:8443".into())
        );
        assert_eq!(l.uri, "/users/7");
    }

    /// A HAR saved without content lists a body's size but not the body: v1's answer is not
    /// known, and imported as empty it was a mismatch with every v2 that answers.
    #[test]
    fn an_answer_whose_body_the_har_lacks_is_skipped_and_an_empty_one_is_kept() {
        let mut e = entry(&answered(
            &[("content-type", "application/json")],
            b"{\"a\":1}",
        ));
        e.response.content.text = None;
        let why = line(&e, &redactor()).unwrap_err();
        assert!(why.contains("7 bytes that the HAR does not hold"), "{why}");
        let mut e = entry(&answered(&[], b""));
        e.response.status = 204;
        e.response.content.text = None;
        let kept = line(&e, &redactor()).unwrap();
        assert!(kept.primary.body.to_bytes().unwrap().is_empty());
    }
}
