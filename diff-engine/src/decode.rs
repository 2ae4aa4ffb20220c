//! Content-Encoding decoding under a size cap. Every decoder is read through `Read::take(cap + 1)`,
//! so a decompression bomb costs at most `cap + 1` bytes of output before it is refused.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use http::header::CONTENT_ENCODING;
use http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Decoded output would exceed the cap.
    TooLarge,
    /// A coding we do not decode (named as sent).
    Unsupported(String),
    /// The body is not valid in its declared coding.
    Corrupt(String),
}

/// The codings in the order they were applied (`identity` dropped). All header lines count.
pub(crate) fn codings(headers: &HeaderMap) -> Result<Vec<Coding>, DecodeError> {
    let mut out = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
        for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token {
                "identity" => {}
                "gzip" | "x-gzip" => out.push(Coding::Gzip),
                "deflate" => out.push(Coding::Deflate),
                "br" => out.push(Coding::Brotli),
                "zstd" => out.push(Coding::Zstd),
                other => return Err(DecodeError::Unsupported(other.to_owned())),
            }
        }
    }
    Ok(out)
}

/// A body as its `Content-Encoding` header lines say it was sent, decoded, without producing
/// more than `cap` bytes; or why it cannot be (a coding not decoded here, a corrupt stream, too
/// large). For tools that show a body (a HAR's `content.text` is the decoded body).
pub fn decode_content<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
    cap: usize,
) -> Result<Cow<'b, [u8]>, String> {
    let why = |e: DecodeError| match e {
        DecodeError::TooLarge => format!("decoded, it is larger than {cap} bytes"),
        DecodeError::Unsupported(coding) => format!("content-encoding {coding} is not decoded"),
        DecodeError::Corrupt(why) => why,
    };
    let codings = codings(headers).map_err(why)?;
    decode(body, &codings, cap).map_err(why)
}

/// Undoes `codings` (last applied first) without producing more than `cap` bytes.
pub(crate) fn decode<'b>(
    body: &'b [u8],
    codings: &[Coding],
    cap: usize,
) -> Result<Cow<'b, [u8]>, DecodeError> {
    let mut cur = Cow::Borrowed(body);
    for coding in codings.iter().rev() {
        // An empty body (HEAD, 204, 304) carries no encoded stream to decode.
        if cur.is_empty() {
            break;
        }
        cur = Cow::Owned(decode_one(&cur, *coding, cap)?);
    }
    if cur.len() > cap {
        return Err(DecodeError::TooLarge);
    }
    Ok(cur)
}

fn decode_one(data: &[u8], coding: Coding, cap: usize) -> Result<Vec<u8>, DecodeError> {
    match coding {
        Coding::Gzip => read_capped(MultiGzDecoder::new(data), cap, "gzip"),
        // RFC 9110 says zlib, but some servers send raw deflate: sniff the zlib header.
        Coding::Deflate if has_zlib_header(data) => {
            read_capped(ZlibDecoder::new(data), cap, "deflate")
        }
        Coding::Deflate => read_capped(DeflateDecoder::new(data), cap, "raw deflate"),
        Coding::Brotli => read_capped(
            brotli_decompressor::Decompressor::new(data, 4096),
            cap,
            "br",
        ),
        Coding::Zstd => {
            let corrupt =
                |e: std::io::Error| DecodeError::Corrupt(format!("zstd decoding failed: {e}"));
            let mut decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(corrupt)?;
            // RFC 9659: a zstd content coding's window is at most 8 MiB, and a decoder may refuse
            // more; so a frame cannot make the comparison hold a larger window.
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(corrupt)?;
            read_capped(decoder, cap, "zstd")
        }
    }
}

/// 2^23 = 8 MiB, RFC 9659's limit for the `zstd` content coding.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// RFC 1950: method 8 (deflate) and a header checksum divisible by 31.
fn has_zlib_header(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

fn read_capped(reader: impl Read, cap: usize, name: &str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt(format!("{name} decoding failed: {e}")))?;
    if out.len() > cap {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::Compression;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decodes_each_coding() {
        let body = b"{\"a\":1}".repeat(100);
        assert_eq!(
            decode(&gzip(&body), &[Coding::Gzip], 1 << 20).unwrap(),
            &body[..]
        );
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&body).unwrap();
        assert_eq!(
            decode(&z.finish().unwrap(), &[Coding::Deflate], 1 << 20).unwrap(),
            &body[..]
        );
        let mut d = DeflateEncoder::new(Vec::new(), Compression::default());
        d.write_all(&body).unwrap();
        assert_eq!(
            decode(&d.finish().unwrap(), &[Coding::Deflate], 1 << 20).unwrap(),
            &body[..]
        );
        // Two codings applied in order gzip, gzip.
        let twice = gzip(&gzip(&body));
        assert_eq!(
            decode(&twice, &[Coding::Gzip, Coding::Gzip], 1 << 20).unwrap(),
            &body[..]
        );
    }

    #[test]
    fn bomb_is_refused_at_the_cap() {
        let bomb = gzip(&vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100 << 10);
        assert_eq!(
            decode(&bomb, &[Coding::Gzip], 1 << 20),
            Err(DecodeError::TooLarge)
        );
        assert_eq!(
            decode(&gzip(&[7; 1024]), &[Coding::Gzip], 1024)
                .unwrap()
                .len(),
            1024
        );
        assert_eq!(
            decode(&gzip(&[7; 1025]), &[Coding::Gzip], 1024),
            Err(DecodeError::TooLarge)
        );
    }

    #[test]
    fn corrupt_and_unknown() {
        assert!(matches!(
            decode(b"not gzip", &[Coding::Gzip], 100),
            Err(DecodeError::Corrupt(_))
        ));
        let mut h = HeaderMap::new();
        h.append(CONTENT_ENCODING, "gzip".parse().unwrap());
        h.append(CONTENT_ENCODING, "Identity, BR".parse().unwrap());
        assert_eq!(codings(&h), Ok(vec![Coding::Gzip, Coding::Brotli]));
        h.append(CONTENT_ENCODING, "Zstd".parse().unwrap());
        assert_eq!(
            codings(&h),
            Ok(vec![Coding::Gzip, Coding::Brotli, Coding::Zstd])
        );
        h.insert(CONTENT_ENCODING, "compress".parse().unwrap());
        assert_eq!(
            codings(&h),
            Err(DecodeError::Unsupported("compress".into()))
        );
    }
}
