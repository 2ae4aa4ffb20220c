//! gRPC messages read by field name, with the service's protobuf descriptors.
//!
//! A [`GrpcSchema`] is built once from a FileDescriptorSet (what `protoc --include_imports
//! --descriptor_set_out=FILE` writes). A response's message type is the output type of the
//! method named by the request path `/package.Service/Method`. Each message is decoded with
//! `prost-reflect` and becomes a value keyed by field name as written in the `.proto`
//! (`unit_price`, not the JSON mapping's `unitPrice`), close to the proto3 JSON mapping
//! otherwise: integers of every width as exact integers, `float`/`double` as numbers
//! (non-finite ones as the strings `NaN`, `Infinity`, `-Infinity`; a `float` by its shortest
//! decimal, so `0.1f` reads 0.1), `bytes` as base64, enums by value name (a number the enum
//! does not name as that number), maps as objects keyed by the key's text, extensions as
//! `[full.name]`. A field at its default value and an absent field are the same (as the wire
//! format has it). Fields the schema does not know (an older schema, a newer server) are kept,
//! read without the schema under their numbers (`/7`), so they are still compared.

use std::borrow::Cow;

use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MapKey, MessageDescriptor};
use thiserror::Error;

use crate::json::Value;
use crate::keys::key_cmp;
use crate::number::Number;
use crate::protobuf::{self, base64};

/// Protobuf descriptors that gRPC messages are read with. Cheap to clone (shared inside).
#[derive(Debug, Clone)]
pub struct GrpcSchema {
    pool: DescriptorPool,
}

/// Why bytes are not a usable FileDescriptorSet.
#[derive(Debug, Clone, Error)]
#[error("not a usable protobuf FileDescriptorSet: {0}")]
pub struct SchemaError(String);

impl GrpcSchema {
    /// Reads a serialized `google.protobuf.FileDescriptorSet` (with its imports).
    pub fn from_descriptor_set(bytes: &[u8]) -> Result<Self, SchemaError> {
        DescriptorPool::decode(bytes)
            .map(|pool| Self { pool })
            .map_err(|e| SchemaError(e.to_string()))
    }

    /// Whether the schema describes the method at this request path (`/package.Service/Method`).
    pub fn has_method(&self, path: &str) -> bool {
        self.output_type(path).is_some()
    }

    /// The output message type of the method at `path`.
    pub(crate) fn output_type(&self, path: &str) -> Option<MessageDescriptor> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        let service = self.pool.get_service_by_name(service)?;
        let method = service.methods().find(|m| m.name() == method)?;
        Some(method.output())
    }
}

/// Decodes one message of type `desc` into a value.
pub(crate) fn decode(
    desc: &MessageDescriptor,
    bytes: &[u8],
    max_depth: usize,
) -> Result<Value<'static>, String> {
    let message = DynamicMessage::decode(desc.clone(), bytes).map_err(|e| e.to_string())?;
    Ok(message_value(&message, max_depth))
}

fn message_value(m: &DynamicMessage, max_depth: usize) -> Value<'static> {
    let mut members: Vec<(Cow<'static, str>, Value<'static>)> = m
        .fields()
        .map(|(field, v)| {
            let v = match (v, field.is_map(), field.kind()) {
                (prost_reflect::Value::Map(map), true, Kind::Message(entry)) => {
                    map_value(map, &entry.map_entry_value_field().kind(), max_depth)
                }
                (v, _, kind) => value(v, &kind, max_depth),
            };
            (Cow::Owned(field.name().to_owned()), v)
        })
        .collect();
    members.extend(m.extensions().map(|(ext, v)| {
        (
            Cow::Owned(format!("[{}]", ext.full_name())),
            value(v, &ext.kind(), max_depth),
        )
    }));
    let mut unknown = Vec::new();
    for field in m.unknown_fields() {
        field.encode(&mut unknown);
    }
    if !unknown.is_empty() {
        // Field names never start with a digit, so numbered members cannot collide with them.
        match protobuf::decode_owned(&unknown, max_depth) {
            Ok(Value::Object(fields)) => members.extend(fields),
            // A group (wire types 3/4) the generic reader does not read: field 0, which no
            // field has, holding the bytes.
            _ => members.push((Cow::Borrowed("0"), bytes_value(&unknown))),
        }
    }
    members.sort_by(|a, b| key_cmp(&a.0, &b.0));
    Value::Object(members)
}

fn map_value(
    map: &std::collections::HashMap<MapKey, prost_reflect::Value>,
    kind: &Kind,
    max_depth: usize,
) -> Value<'static> {
    let mut members: Vec<(Cow<'static, str>, Value<'static>)> = map
        .iter()
        .map(|(k, v)| {
            let key = match k {
                MapKey::Bool(b) => b.to_string(),
                MapKey::I32(n) => n.to_string(),
                MapKey::I64(n) => n.to_string(),
                MapKey::U32(n) => n.to_string(),
                MapKey::U64(n) => n.to_string(),
                MapKey::String(s) => s.clone(),
            };
            (Cow::Owned(key), value(v, kind, max_depth))
        })
        .collect();
    // Keys of one map are distinct, and so are their texts.
    members.sort_by(|a, b| key_cmp(&a.0, &b.0));
    Value::Object(members)
}

fn value(v: &prost_reflect::Value, kind: &Kind, max_depth: usize) -> Value<'static> {
    use prost_reflect::Value as P;
    let int = |n: i128| Value::Number(Number::Integer(n));
    match v {
        P::Bool(b) => Value::Bool(*b),
        P::I32(n) => int(i128::from(*n)),
        P::I64(n) => int(i128::from(*n)),
        P::U32(n) => int(i128::from(*n)),
        P::U64(n) => int(i128::from(*n)),
        // The shortest decimal of the f32 read as a double: distinct floats stay distinct.
        P::F32(f) => double(f.to_string().parse().unwrap_or(f64::from(*f))),
        P::F64(f) => double(*f),
        P::String(s) => Value::String(Cow::Owned(s.clone())),
        P::Bytes(b) => Value::String(Cow::Owned(base64(b))),
        P::EnumNumber(n) => match kind.as_enum().and_then(|e| e.get_value(*n)) {
            Some(named) => Value::String(Cow::Owned(named.name().to_owned())),
            None => int(i128::from(*n)),
        },
        P::Message(m) => message_value(m, max_depth),
        P::List(items) => Value::Array(items.iter().map(|v| value(v, kind, max_depth)).collect()),
        // Only a map field holds a map, and `message_value` reads those.
        P::Map(map) => map_value(map, kind, max_depth),
    }
}

fn double(f: f64) -> Value<'static> {
    let text = |s: &'static str| Value::String(Cow::Borrowed(s));
    if f.is_nan() {
        text("NaN")
    } else if f.is_infinite() {
        text(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else if f == 0.0 {
        // Both zeros are the integer 0, as a JSON parse reads them.
        Value::Number(Number::Integer(0))
    } else {
        Value::Number(Number::Float(f))
    }
}

fn bytes_value(bytes: &[u8]) -> Value<'static> {
    Value::Object(vec![(
        Cow::Borrowed("base64"),
        Value::String(Cow::Owned(base64(bytes))),
    )])
}
