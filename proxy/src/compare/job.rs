//! What crosses into the comparison pool: one mirrored exchange, both sides captured whole.

use std::sync::Arc;
use std::time::Duration;

use diff_engine::GrpcSchema;
use http::{HeaderMap, Method};

use crate::route::RouteRuntime;
use crate::tee::CapturedBody;

/// One side of a pair, as captured.
pub struct Side {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: CapturedBody,
    pub elapsed: Duration,
}

/// One exchange to compare; its route says under which rules and where the verdict goes.
pub struct Job {
    pub route: Arc<RouteRuntime>,
    pub method: Method,
    pub path: String,
    pub primary: Side,
    pub candidate: Side,
    /// `[grpc] descriptor_set`, for a gRPC call: its messages are read by field name.
    pub grpc_schema: Option<Arc<GrpcSchema>>,
}
