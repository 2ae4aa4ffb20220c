//! HTTP plumbing shared by every leg: the server builder, header fix-ups, TLS.

pub mod builder;
pub mod headers;
pub mod idle;
pub mod tls;
