//! gRPC messages read by field name with a schema (issue 23). The FileDescriptorSet is built
//! in code (no protoc on the machine) for:
//!
//! ```proto
//! syntax = "proto3";
//! package shop;
//! enum Status { UNKNOWN = 0; IN_STOCK = 1; SOLD_OUT = 2; }
//! message Money { string currency = 1; int64 units = 2; }
//! message Quote {
//!   string sku = 1; int64 price = 2; Money total = 3; repeated string tags = 4;
//!   map<string, int32> stock = 5; Status status = 6; double ratio = 7; bytes blob = 8;
//!   float weight = 9;
//! }
//! message QuoteRequest { string sku = 1; }
//! service Shop {
//!   rpc GetQuote(QuoteRequest) returns (Quote);
//!   rpc WatchQuotes(QuoteRequest) returns (stream Quote);
//! }
//! ```
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

mod support;

use diff_engine::{
    compare, compare_with, CompareLimits, GrpcCall, GrpcSchema, MatchKind, Outcome, Part, Response,
    RuleSet, RuleSpec, Verdict,
};
use proptest::prelude::*;
use prost_reflect::prost::Message as _;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, FileDescriptorSet, MessageOptions, MethodDescriptorProto,
    ServiceDescriptorProto,
};
use support::wire::{bytes, double, frame, int, varint};
use support::{headers, ignore, paths};

const GET: &str = "/shop.Shop/GetQuote";
const WATCH: &str = "/shop.Shop/WatchQuotes";

fn field(name: &str, number: i32, ty: Type, type_name: Option<&str>) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(ty as i32),
        type_name: type_name.map(Into::into),
        json_name: None,
        ..Default::default()
    }
}

fn message(name: &str, fields: Vec<FieldDescriptorProto>) -> DescriptorProto {
    DescriptorProto {
        name: Some(name.into()),
        field: fields,
        ..Default::default()
    }
}

fn descriptor_set() -> Vec<u8> {
    let mut tags = field("tags", 4, Type::String, None);
    tags.label = Some(Label::Repeated as i32);
    let mut stock = field("stock", 5, Type::Message, Some(".shop.Quote.StockEntry"));
    stock.label = Some(Label::Repeated as i32);
    let mut entry = message(
        "StockEntry",
        vec![
            field("key", 1, Type::String, None),
            field("value", 2, Type::Int32, None),
        ],
    );
    entry.options = Some(MessageOptions {
        map_entry: Some(true),
        ..Default::default()
    });
    let mut quote = message(
        "Quote",
        vec![
            field("sku", 1, Type::String, None),
            field("price", 2, Type::Int64, None),
            field("total", 3, Type::Message, Some(".shop.Money")),
            tags,
            stock,
            field("status", 6, Type::Enum, Some(".shop.Status")),
            field("ratio", 7, Type::Double, None),
            field("blob", 8, Type::Bytes, None),
            field("weight", 9, Type::Float, None),
        ],
    );
    quote.nested_type = vec![entry];
    let status = EnumDescriptorProto {
        name: Some("Status".into()),
        value: ["UNKNOWN", "IN_STOCK", "SOLD_OUT"]
            .iter()
            .enumerate()
            .map(|(i, n)| EnumValueDescriptorProto {
                name: Some((*n).into()),
                number: Some(i as i32),
                options: None,
            })
            .collect(),
        ..Default::default()
    };
    let method = |name: &str, streaming: bool| MethodDescriptorProto {
        name: Some(name.into()),
        input_type: Some(".shop.QuoteRequest".into()),
        output_type: Some(".shop.Quote".into()),
        server_streaming: Some(streaming),
        ..Default::default()
    };
    let file = FileDescriptorProto {
        name: Some("shop.proto".into()),
        package: Some("shop".into()),
        syntax: Some("proto3".into()),
        message_type: vec![
            message(
                "Money",
                vec![
                    field("currency", 1, Type::String, None),
                    field("units", 2, Type::Int64, None),
                ],
            ),
            quote,
            message("QuoteRequest", vec![field("sku", 1, Type::String, None)]),
        ],
        enum_type: vec![status],
        service: vec![ServiceDescriptorProto {
            name: Some("Shop".into()),
            method: vec![method("GetQuote", false), method("WatchQuotes", true)],
            options: None,
        }],
        ..Default::default()
    };
    FileDescriptorSet { file: vec![file] }.encode_to_vec()
}

fn schema() -> GrpcSchema {
    GrpcSchema::from_descriptor_set(&descriptor_set()).unwrap()
}

/// A quote: sku, price, total {currency EUR, units price}.
fn quote(sku: &str, price: u64) -> Vec<u8> {
    [
        bytes(1, sku.as_bytes()),
        int(2, price),
        bytes(3, &[bytes(1, b"EUR"), int(2, price)].concat()),
    ]
    .concat()
}

fn body(messages: &[Vec<u8>]) -> Vec<u8> {
    messages
        .iter()
        .map(|m| frame(m))
        .collect::<Vec<_>>()
        .concat()
}

fn run_at(method: &str, a: &[u8], b: &[u8], spec: &RuleSpec) -> Verdict {
    let h = headers(&[("content-type", "application/grpc+proto")]);
    let t = headers(&[("grpc-status", "0")]);
    let (ra, rb) = (
        Response {
            status: 200,
            headers: &h,
            body: a,
            trailers: Some(&t),
        },
        Response {
            status: 200,
            headers: &h,
            body: b,
            trailers: Some(&t),
        },
    );
    let schema = schema();
    compare_with(
        &ra,
        &rb,
        &RuleSet::compile(spec).unwrap(),
        &CompareLimits::default(),
        Some(GrpcCall {
            schema: &schema,
            method,
        }),
    )
}

fn run(a: &[u8], b: &[u8]) -> Verdict {
    run_at(GET, a, b, &RuleSpec::default())
}

#[test]
fn unary_difference_names_the_field() {
    let (a, b) = (body(&[quote("sku-1", 100)]), body(&[quote("sku-1", 101)]));
    let v = run(&a, &b);
    assert_eq!(v.outcome, Outcome::Mismatch(vec![Part::Body]));
    assert_eq!(
        paths(&v),
        vec![
            ("/price".into(), "changed"),
            ("/total/units".into(), "changed")
        ]
    );
    assert_eq!(
        (
            v.differences[0].primary.as_deref(),
            v.differences[0].candidate.as_deref()
        ),
        (Some("100"), Some("101"))
    );
    // The same bodies without the schema: field numbers.
    let h = headers(&[("content-type", "application/grpc")]);
    let r = |body| Response {
        status: 200,
        headers: &h,
        body,
        trailers: None,
    };
    let v = compare(
        &r(&a),
        &r(&b),
        &RuleSet::default(),
        &CompareLimits::default(),
    );
    assert_eq!(
        paths(&v),
        vec![("/2".into(), "changed"), ("/3/2".into(), "changed")]
    );
    // Rules name fields.
    let v = run_at(GET, &a, &b, &ignore(&["/price", "/total/units"]));
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Rules));
}

#[test]
fn equal_messages_match() {
    let a = body(&[quote("sku-1", 100)]);
    assert_eq!(run(&a, &a).outcome, Outcome::Match(MatchKind::Identical));
    // A default value sent explicitly is the same as one left out, and field order does not
    // matter.
    let explicit = [int(6, 0), int(2, 100), quote("sku-1", 100)].concat();
    let v = run(&a, &body(&[explicit]));
    assert_eq!(v.outcome, Outcome::Match(MatchKind::Canonical), "{v:?}");
}

#[test]
fn a_stream_with_one_more_message() {
    let a = body(&[quote("a", 1), quote("b", 2)]);
    let b = body(&[quote("a", 1), quote("b", 2), quote("c", 3)]);
    let v = run_at(WATCH, &a, &b, &RuleSpec::default());
    assert_eq!(paths(&v), vec![("/2".into(), "added")]);
    assert_eq!(
        v.differences[0].candidate.as_deref(),
        Some(r#"{"price":3,"sku":"c","total":{"currency":"EUR","units":3}}"#)
    );
    let v = run_at(
        WATCH,
        &a,
        &body(&[quote("a", 1), quote("b", 5)]),
        &ignore(&["/*/total"]),
    );
    assert_eq!(paths(&v), vec![("/1/price".into(), "changed")]);
}

#[test]
fn fields_read_as_their_types() {
    let base = quote("s", 1);
    let with = |extra: Vec<u8>| body(&[[base.clone(), extra].concat()]);
    // Enums by name.
    let v = run(&with(int(6, 1)), &with(int(6, 2)));
    assert_eq!(paths(&v), vec![("/status".into(), "changed")]);
    assert_eq!(v.differences[0].primary.as_deref(), Some("\"IN_STOCK\""));
    assert_eq!(v.differences[0].candidate.as_deref(), Some("\"SOLD_OUT\""));
    // An enum number the schema does not name is that number.
    let v = run(&with(int(6, 1)), &with(int(6, 9)));
    assert_eq!(v.differences[0].candidate.as_deref(), Some("9"));
    // Maps as objects by key.
    let entry = |k: &str, n: u64| bytes(5, &[bytes(1, k.as_bytes()), int(2, n)].concat());
    let v = run(
        &with([entry("a", 1), entry("b", 2)].concat()),
        &with([entry("b", 2), entry("a", 3)].concat()),
    );
    assert_eq!(paths(&v), vec![("/stock/a".into(), "changed")]);
    // Repeated fields as arrays.
    let v = run(
        &with([bytes(4, b"x"), bytes(4, b"y")].concat()),
        &with(bytes(4, b"x")),
    );
    assert_eq!(paths(&v), vec![("/tags/1".into(), "removed")]);
    // Doubles, floats by their shortest decimal, bytes as base64.
    let float = |v: f32| {
        let mut out = Vec::new();
        varint(9 << 3 | 5, &mut out);
        out.extend_from_slice(&v.to_le_bytes());
        out
    };
    let v = run(
        &with([double(7, 0.5), float(0.1), bytes(8, b"\x00\x01")].concat()),
        &with([double(7, 0.25), float(0.2), bytes(8, b"\x00\x02")].concat()),
    );
    let shown: Vec<_> = v
        .differences
        .iter()
        .map(|d| {
            (
                d.path.as_str(),
                d.primary.as_deref().unwrap(),
                d.candidate.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            ("/blob", "\"AAE=\"", "\"AAI=\""),
            ("/ratio", "0.5", "0.25"),
            ("/weight", "0.1", "0.2"),
        ]
    );
}

#[test]
fn fields_the_schema_does_not_know_are_compared_by_number() {
    let a = body(&[quote("s", 1)]);
    let v = run(&a, &body(&[[quote("s", 1), int(15, 7)].concat()]));
    assert_eq!(paths(&v), vec![("/15".into(), "added")]);
}

#[test]
fn without_the_method_or_a_decodable_message_it_says_so() {
    let (a, b) = (body(&[quote("s", 1)]), body(&[quote("s", 2)]));
    let v = run_at("/shop.Shop/Nope", &a, &b, &RuleSpec::default());
    assert_eq!(
        paths(&v),
        vec![("/2".into(), "changed"), ("/3/2".into(), "changed")]
    );
    assert_eq!(
        v.note.as_deref(),
        Some("method `/shop.Shop/Nope` is not in the gRPC schema; messages read without it")
    );
    // Field 2 (int64) sent as a string: not a shop.Quote, read by field number (so every
    // member differs by name, and the note says why).
    let wrong = body(&[[bytes(1, b"s"), bytes(2, b"x")].concat()]);
    let v = run(&a, &wrong);
    assert_eq!(
        paths(&v),
        vec![
            ("/1".into(), "added"),
            ("/2".into(), "added"),
            ("/price".into(), "removed"),
            ("/sku".into(), "removed"),
            ("/total".into(), "removed"),
        ]
    );
    let note = v.note.unwrap();
    assert!(
        note.starts_with("candidate message 0 does not decode as shop.Quote ("),
        "{note}"
    );
    assert!(note.ends_with("read without the schema"), "{note}");
    // Neither a shop.Quote nor protobuf: bytes, one note for the message.
    let v = run(&body(&[b"\xff\xff\xff".to_vec()]), &a);
    assert_eq!(paths(&v), vec![("".into(), "type_changed")]);
    let note = v.note.unwrap();
    assert!(
        note.starts_with("primary message 0 does not decode as shop.Quote (")
            && note.ends_with(
                " and is not protobuf (truncated or overlong tag at byte 0), compared as bytes"
            ),
        "{note}"
    );
}

#[test]
fn schema_from_bytes() {
    let s = schema();
    assert!(s.has_method(GET) && s.has_method(WATCH));
    assert!(!s.has_method("/shop.Shop/Nope") && !s.has_method("shop.Shop/GetQuote"));
    let e = GrpcSchema::from_descriptor_set(b"\xff\xff").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("not a usable protobuf FileDescriptorSet: "));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any message bytes read by the schema get a verdict, never a panic.
    #[test]
    fn any_message_with_the_schema(
        a in prop::collection::vec(any::<u8>(), 0..64),
        b in prop::collection::vec(any::<u8>(), 0..64),
        n in 1usize..3,
    ) {
        let (a, b) = (body(&vec![a; n]), body(&[b]));
        let v = run_at(WATCH, &a, &b, &RuleSpec::default());
        prop_assert!(v.differences.len() <= CompareLimits::default().max_differences);
        prop_assert_eq!(run_at(GET, &a, &a, &RuleSpec::default()).outcome, Outcome::Match(MatchKind::Identical));
    }
}
