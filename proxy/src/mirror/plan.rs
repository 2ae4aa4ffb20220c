//! Who is mirrored: safe method (or a route that allows unsafe ones), sampled, breaker closed,
//! an in-flight slot free on the route and overall. A refused mirror is counted with its reason.

use http::{HeaderMap, Method};
use tokio::sync::OwnedSemaphorePermit;

use crate::observe::outcome::SkipReason;
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};
use crate::upstream::breaker::Admit;

/// A request that passed every gate: sampled, allowed, breaker closed, a slot free. Holding it
/// holds the in-flight slot.
pub struct Planned {
    _permit: OwnedSemaphorePermit,
    _route_permit: Option<OwnedSemaphorePermit>,
}

pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Should this request be mirrored? Counts the reason when a wanted mirror is refused.
pub fn plan(
    shared: &Shared,
    snap: &Snapshot,
    route: &RouteRuntime,
    method: &Method,
    headers: &HeaderMap,
) -> Option<Planned> {
    if route.percent() == 0.0 {
        return None;
    }
    if !is_safe(method) && !route.allow_unsafe_methods {
        route.metrics.skip(SkipReason::UnsafeMethod);
        return None;
    }
    if !route.sampled(headers) {
        return None;
    }
    // gRPC needs HTTP/2; an HTTP/1.1-only v2 would fail every call.
    if snap.candidate.http1_only() && crate::net::headers::is_grpc(headers) {
        route.metrics.skip(SkipReason::UnsupportedProtocol);
        return None;
    }
    if shared.breaker.admit() == Admit::No {
        route.metrics.skip(SkipReason::BreakerOpen);
        return None;
    }
    // The route's own cap first, so one slow route cannot take every global slot.
    let route_permit = match route
        .in_flight
        .clone()
        .map(|s| s.try_acquire_owned())
        .transpose()
    {
        Ok(p) => p,
        Err(_) => {
            route.metrics.skip(SkipReason::Overloaded);
            return None;
        }
    };
    match snap.in_flight.clone().try_acquire_owned() {
        Ok(permit) => Some(Planned {
            _permit: permit,
            _route_permit: route_permit,
        }),
        Err(_) => {
            route.metrics.skip(SkipReason::Overloaded);
            None
        }
    }
}
