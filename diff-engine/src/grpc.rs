//! gRPC bodies (`application/grpc`, `application/grpc+proto`, `application/grpc+json`): a
//! sequence of length-prefixed messages (1 byte of flags, bit 0 = compressed, then a 4-byte
//! big-endian length), compared message by message.
//!
//! A compressed message is decoded with the side's `grpc-encoding` (`gzip`, `deflate`;
//! `identity`); another encoding is `Skipped(UnsupportedEncoding)` once a message needs it.
//! The decoded messages together count against `max_decoded_bytes`
//! (`Skipped(DecodedTooLarge)`), their number against `max_records`
//! (`Skipped(TooManyRecords)`). Framing that does not add up (a length past the end, a partial
//! header, unknown flags, a compressed message without `grpc-encoding`) is not gRPC: the bodies
//! are compared as bytes with a note. A message whose compressed data is corrupt, or that does
//! not decode, is compared as bytes in its place.
//!
//! With a [`GrpcCall`] (a schema and the request's method path) messages are read by field
//! name as the method's output type (see `schema`); without one, or for a method the schema
//! does not describe (the note says so), from the wire format by field number (see
//! `protobuf`).
//!
//! One message on each side (a unary response) is compared as the body itself (`/price`);
//! otherwise each message is at its index (`/3/price`), and a message on one side only is
//! `added`/`removed` at `/N`.

use std::borrow::Cow;

use http::HeaderMap;

use crate::decode::{self, Coding, DecodeError};
use crate::diff::Collector;
use crate::media::GrpcFormat;
use crate::model::{CompareLimits, SkipReason};
use crate::protobuf;
use crate::records::{self, Layout, Record, Side};
use crate::rules::RuleSet;
use crate::schema::{self, GrpcSchema};
use crate::verdict::BodyVerdict;

const GRPC_ENCODING: &str = "grpc-encoding";

/// What the body comparison does when a side is not gRPC.
pub(crate) enum Fallback {
    /// Compare the bodies as bytes; the note says why.
    Bytes(String),
    /// Not compared.
    Skip(BodyVerdict),
}

/// One side's body, headers and name.
pub(crate) struct Body<'a> {
    pub(crate) name: &'static str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) bytes: &'a [u8],
}

/// A gRPC call's schema and method, so that its messages are read by field name.
#[derive(Debug, Clone, Copy)]
pub struct GrpcCall<'a> {
    pub schema: &'a GrpcSchema,
    /// The request path, `/package.Service/Method`: the method's output type is the type of
    /// every response message.
    pub method: &'a str,
}

/// How each message is read.
enum Reader {
    /// The wire format alone, keyed by field number.
    Wire,
    /// By the method's output type, keyed by field name.
    Schema(prost_reflect::MessageDescriptor),
    Json,
}

pub(crate) fn compare(
    format: GrpcFormat,
    a: Body<'_>,
    b: Body<'_>,
    call: Option<GrpcCall<'_>>,
    rules: &RuleSet,
    limits: &CompareLimits,
    out: &mut Collector,
) -> Result<BodyVerdict, Fallback> {
    let (ma, mb) = (messages(&a, limits)?, messages(&b, limits)?);
    let (reader, note) = match (format, call) {
        (GrpcFormat::Json, _) => (Reader::Json, None),
        (GrpcFormat::Proto, None) => (Reader::Wire, None),
        (GrpcFormat::Proto, Some(call)) => match call.schema.output_type(call.method) {
            Some(desc) => (Reader::Schema(desc), None),
            None => (
                Reader::Wire,
                Some(format!(
                    "method `{}` is not in the gRPC schema; messages read without it",
                    call.method
                )),
            ),
        },
    };
    let (sa, sb) = (
        side(a.name, &reader, &ma, limits),
        side(b.name, &reader, &mb, limits),
    );
    let layout = match (sa.len(), sb.len()) {
        (1, 1) => Layout::Root,
        _ => Layout::Indexed,
    };
    Ok(records::compare(&sa, &sb, layout, rules, out, note))
}

/// One message: its bytes, or the compressed bytes that could not be decoded and why.
enum Message<'a> {
    Ok(Cow<'a, [u8]>),
    Corrupt(&'a [u8], String),
}

/// Splits a body into its messages, decompressed.
fn messages<'a>(body: &Body<'a>, limits: &CompareLimits) -> Result<Vec<Message<'a>>, Fallback> {
    let side = body.name;
    let not_grpc = |why: String| {
        Fallback::Bytes(format!(
            "{side} body is not gRPC framing ({why}); compared as bytes"
        ))
    };
    let bytes = body.bytes;
    let mut out = Vec::new();
    let mut decoded = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        let index = out.len();
        let Some(header) = bytes.get(at..at + 5) else {
            return Err(not_grpc(format!(
                "{} bytes after message {index} are not a message header",
                bytes.len() - at
            )));
        };
        let flags = header[0];
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let start = at + 5;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| {
                not_grpc(format!(
                    "message {index} declares {len} bytes, {} follow",
                    bytes.len() - start
                ))
            })?;
        if flags & !1 != 0 {
            return Err(not_grpc(format!("message {index} has flags {flags:#04x}")));
        }
        if index == limits.max_records {
            return Err(Fallback::Skip(BodyVerdict::too_many_records(side, limits)));
        }
        let raw = &bytes[start..end];
        let message = match flags & 1 {
            0 => Message::Ok(Cow::Borrowed(raw)),
            _ => {
                let coding = coding(body.headers).map_err(|e| match e {
                    Some(name) => Fallback::Skip(BodyVerdict::skipped(
                        SkipReason::UnsupportedEncoding,
                        format!("{side} grpc-encoding `{name}` is not supported"),
                    )),
                    None => not_grpc(format!(
                        "message {index} is compressed and there is no grpc-encoding"
                    )),
                })?;
                let room = limits.max_decoded_bytes.saturating_sub(decoded);
                match decode::decode(raw, coding.as_slice(), room) {
                    Ok(m) => Message::Ok(m),
                    Err(DecodeError::Corrupt(why)) => Message::Corrupt(raw, why),
                    Err(_) => return Err(Fallback::Skip(too_large(side, limits))),
                }
            }
        };
        decoded += match &message {
            Message::Ok(m) => m.len(),
            Message::Corrupt(raw, _) => raw.len(),
        };
        if decoded > limits.max_decoded_bytes {
            return Err(Fallback::Skip(too_large(side, limits)));
        }
        out.push(message);
        at = end;
    }
    Ok(out)
}

fn too_large(side: &str, limits: &CompareLimits) -> BodyVerdict {
    BodyVerdict::skipped(
        SkipReason::DecodedTooLarge,
        format!(
            "{side} gRPC messages decode past {} bytes",
            limits.max_decoded_bytes
        ),
    )
}

/// The side's message coding: `Err(Some(name))` for one we do not decode, `Err(None)` when
/// there is no `grpc-encoding` at all.
fn coding(headers: &HeaderMap) -> Result<Vec<Coding>, Option<String>> {
    let value = headers.get(GRPC_ENCODING).ok_or(None)?;
    let name = String::from_utf8_lossy(value.as_bytes())
        .trim()
        .to_ascii_lowercase();
    match name.as_str() {
        "identity" => Ok(Vec::new()),
        "gzip" => Ok(vec![Coding::Gzip]),
        "deflate" => Ok(vec![Coding::Deflate]),
        _ => Err(Some(name)),
    }
}

/// Each message as a record: protobuf read by the schema or by field number, or JSON for
/// `grpc+json`.
fn side<'m>(
    name: &'static str,
    reader: &Reader,
    messages: &'m [Message<'_>],
    limits: &CompareLimits,
) -> Side<'m> {
    let mut side = Side::new(name, "message");
    for (i, m) in messages.iter().enumerate() {
        let bytes = match m {
            Message::Ok(bytes) => bytes.as_ref(),
            Message::Corrupt(raw, why) => {
                side.fell_back(i, || {
                    format!("does not decompress ({why}), compared as bytes")
                });
                side.records.push(Record::Bytes(raw));
                continue;
            }
        };
        let (by_schema, schema_error) = match reader {
            Reader::Json => {
                side.push_json(bytes, limits.max_depth);
                continue;
            }
            Reader::Wire => (None, None),
            Reader::Schema(desc) => match schema::decode(desc, bytes, limits.max_depth) {
                Ok(v) => (Some(v), None),
                Err(e) => (
                    None,
                    Some(format!("does not decode as {} ({e})", desc.full_name())),
                ),
            },
        };
        let record = match by_schema
            .map(Ok)
            .unwrap_or_else(|| protobuf::decode(bytes, limits.max_depth))
        {
            Ok(v) => {
                if let Some(why) = schema_error {
                    side.fell_back(i, || format!("{why}, read without the schema"));
                }
                Record::Value(v)
            }
            Err(e) => {
                let why = match schema_error {
                    Some(why) => format!("{why} and is not protobuf ({e}), compared as bytes"),
                    None => format!("is not protobuf ({e}), compared as bytes"),
                };
                side.fell_back(i, || why);
                Record::Bytes(bytes)
            }
        };
        side.records.push(record);
    }
    side
}
