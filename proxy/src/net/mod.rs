//! HTTP plumbing shared by every leg: the server builder, header fix-ups, TLS, and a small
//! client for control-plane calls.

pub mod builder;
pub mod chunked;
pub mod fetch;
pub mod headers;
pub mod idle;
pub mod response;
pub mod tls;
