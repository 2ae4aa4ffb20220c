//! A chunked response body, read incrementally (RFC 9112 §7.1) so the relay can pass each
//! chunk's data on as it arrives. Strict where a lenient reader would let two parsers disagree:
//! hex sizes of at most 16 digits (no overflow), CRLF after every size line and every chunk,
//! no bare LF, bounded size lines and trailer sections.

/// A chunk-size line longer than this (extensions included) is refused.
const MAX_SIZE_LINE: usize = 4096;
/// The trailer section's limit.
const MAX_TRAILERS: usize = 16 * 1024;

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers(usize),
    Done,
}

/// What the next bytes of the buffer are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More bytes are needed before anything can be said.
    Need,
    /// Framing (a size line, a chunk's CRLF): drop this many bytes.
    Skip(usize),
    /// This many bytes of body data.
    Data(usize),
    /// One trailer field line of this many bytes, CRLF included.
    Trailer(usize),
    /// The blank line that ends the body: drop this many bytes; the body is over.
    End(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunk size line")]
    Size,
    #[error("chunk size overflows")]
    Overflow,
    #[error("chunk data not followed by CRLF")]
    DataEnd,
    #[error("invalid trailer section")]
    Trailers,
}

#[derive(Debug)]
pub struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Self { state: State::Size }
    }
}

impl Decoder {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The next step over `buf`, which starts where the previous step's bytes ended.
    pub fn step(&mut self, buf: &[u8]) -> Result<Step, ChunkError> {
        match self.state {
            State::Done => Ok(Step::End(0)),
            State::Size => {
                let Some(eol) = find_crlf(buf, MAX_SIZE_LINE)? else {
                    return Ok(Step::Need);
                };
                let size = chunk_size(&buf[..eol])?;
                self.state = if size == 0 {
                    State::Trailers(0)
                } else {
                    State::Data(size)
                };
                Ok(Step::Skip(eol + 2))
            }
            State::Data(left) => {
                if buf.is_empty() {
                    return Ok(Step::Need);
                }
                let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::DataEnd
                } else {
                    State::Data(left)
                };
                Ok(Step::Data(n))
            }
            State::DataEnd => match buf {
                [] | [b'\r'] => Ok(Step::Need),
                [b'\r', b'\n', ..] => {
                    self.state = State::Size;
                    Ok(Step::Skip(2))
                }
                _ => Err(ChunkError::DataEnd),
            },
            State::Trailers(seen) => {
                let Some(eol) = find_crlf(buf, MAX_TRAILERS - seen)? else {
                    return Ok(Step::Need);
                };
                if eol == 0 {
                    self.state = State::Done;
                    return Ok(Step::End(2));
                }
                let line = &buf[..eol];
                let colon = line.iter().position(|b| *b == b':');
                if !colon.is_some_and(|c| c > 0 && line[..c].iter().all(|b| is_tchar(*b))) {
                    return Err(ChunkError::Trailers);
                }
                self.state = State::Trailers(seen + eol + 2);
                Ok(Step::Trailer(eol + 2))
            }
        }
    }
}

/// Where the CRLF that ends the line at the start of `buf` is; `Need`-able (`None`) when the
/// buffer ends first. A bare LF, a CR not before LF, or a line past `max`, is an error.
fn find_crlf(buf: &[u8], max: usize) -> Result<Option<usize>, ChunkError> {
    let scan = &buf[..buf.len().min(max.saturating_add(1))];
    match memchr::memchr(b'\n', scan) {
        Some(i) if i > 0 && buf[i - 1] == b'\r' => {
            if buf[..i - 1].contains(&b'\r') {
                return Err(ChunkError::Size);
            }
            Ok(Some(i - 1))
        }
        Some(_) => Err(ChunkError::Size),
        None if scan.len() > max => Err(ChunkError::Size),
        None => Ok(None),
    }
}

/// `1*HEXDIG *( BWS ";" ... )`: the size; extensions are allowed and ignored.
fn chunk_size(line: &[u8]) -> Result<u64, ChunkError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ChunkError::Size);
    }
    let rest = &line[digits..];
    let ext_ok = rest.is_empty() || rest.trim_ascii_start().first() == Some(&b';');
    if !ext_ok || rest.iter().any(|b| *b == 0 || *b == b'\n') {
        return Err(ChunkError::Size);
    }
    let significant = line[..digits].iter().skip_while(|b| **b == b'0').count();
    if significant > 16 {
        return Err(ChunkError::Overflow);
    }
    line[..digits].iter().try_fold(0u64, |n, d| {
        let v = (*d as char).to_digit(16).ok_or(ChunkError::Size)?;
        n.checked_mul(16)
            .and_then(|n| n.checked_add(u64::from(v)))
            .ok_or(ChunkError::Overflow)
    })
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Decode a whole chunked body held in `wire`: its data and trailer lines, or the error; for
/// tests and the fuzz target.
pub fn decode_all(wire: &[u8]) -> Result<(Vec<u8>, Vec<u8>, usize), ChunkError> {
    let mut d = Decoder::default();
    let (mut data, mut trailers, mut at) = (Vec::new(), Vec::new(), 0);
    loop {
        match d.step(&wire[at..])? {
            Step::Need => return Err(ChunkError::Size),
            Step::Skip(n) => at += n,
            Step::Data(n) => {
                data.extend_from_slice(&wire[at..at + n]);
                at += n;
            }
            Step::Trailer(n) => {
                trailers.extend_from_slice(&wire[at..at + n]);
                at += n;
            }
            Step::End(n) => return Ok((data, trailers, at + n)),
        }
    }
}

/// One trailer field line (`name: value\r\n`, as [`Step::Trailer`] hands it out) as a field;
/// `None` for a line no header map can hold.
pub fn trailer_field(line: &[u8]) -> Option<(http::HeaderName, http::HeaderValue)> {
    let line = line.strip_suffix(b"\r\n").unwrap_or(line);
    let colon = line.iter().position(|b| *b == b':')?;
    crate::net::headers::field(&line[..colon], line[colon + 1..].trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(chunks: &[Vec<u8>], ext: bool) -> Vec<u8> {
        let mut w = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            w.extend_from_slice(format!("{:x}", c.len()).as_bytes());
            if ext {
                w.extend_from_slice(b" ;name=value");
            }
            w.extend_from_slice(b"\r\n");
            w.extend_from_slice(c);
            w.extend_from_slice(b"\r\n");
        }
        w.extend_from_slice(b"0\r\n\r\n");
        w
    }

    #[test]
    fn strict_framing() {
        assert_eq!(decode_all(b"3\r\nabc\r\n0\r\n\r\n").unwrap().0, b"abc");
        assert_eq!(
            decode_all(b"3\r\nabc\r\n0\r\nx-a: 1\r\n\r\n").unwrap().1,
            b"x-a: 1\r\n"
        );
        assert_eq!(
            decode_all(b"0000000000000000003\r\nabc\r\n0\r\n\r\n")
                .unwrap()
                .0,
            b"abc"
        );
        assert_eq!(
            decode_all(b"10000000000000000\r\n"),
            Err(ChunkError::Overflow)
        );
        for bad in [
            &b"xyz\r\nabc\r\n0\r\n\r\n"[..],
            b"3\nabc\r\n0\r\n\r\n",
            b"3\r\nabcd\r\n0\r\n\r\n",
            b"-3\r\nabc\r\n0\r\n\r\n",
            b"3 x\r\nabc\r\n0\r\n\r\n",
            b"3\r\nabc\r\n0\r\nnocolon\r\n\r\n",
            b"3\r\nabc\r\n0\r\n: v\r\n\r\n",
            b"3\r\r\nabc\r\n0\r\n\r\n",
        ] {
            assert!(
                decode_all(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest! {
        /// Any split of a valid body into reads gives back the same data.
        #[test]
        fn any_split_decodes(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
                             ext in any::<bool>(), cut in proptest::collection::vec(1usize..7, 1..64)) {
            let wire = encode(&chunks, ext);
            let want: Vec<u8> = chunks.concat();
            let mut d = Decoder::default();
            let (mut buf, mut got, mut fed, mut cuts) = (Vec::new(), Vec::new(), 0, cut.iter().cycle());
            while !d.is_done() {
                match d.step(&buf).unwrap() {
                    Step::Need => {
                        prop_assert!(fed < wire.len());
                        let n = (*cuts.next().unwrap()).min(wire.len() - fed);
                        buf.extend_from_slice(&wire[fed..fed + n]);
                        fed += n;
                    }
                    Step::Skip(n) | Step::Trailer(n) | Step::End(n) => { buf.drain(..n); }
                    Step::Data(n) => { got.extend(buf.drain(..n)); }
                }
            }
            prop_assert_eq!(got, want);
            prop_assert_eq!(fed, wire.len());
        }

        /// Arbitrary bytes: an answer, never a panic, never more data than bytes.
        #[test]
        fn arbitrary_bytes_never_panic(wire in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((data, _, used)) = decode_all(&wire) {
                prop_assert!(data.len() <= used && used <= wire.len());
            }
        }
    }
}
