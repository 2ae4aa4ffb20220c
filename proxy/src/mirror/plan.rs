//! Who is mirrored: safe method (or a route that allows unsafe ones), sampled, breaker closed,
//! an in-flight slot free on the route, under the adaptive limit and overall. A refused mirror is
//! counted with its reason.

use http::{HeaderMap, Method};
use tokio::sync::OwnedSemaphorePermit;

use crate::mirror::limit::LimitPermit;
use crate::observe::outcome::SkipReason;
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};
use crate::tee::budget::{admit_mirror, Held};
use crate::upstream::breaker::{Admit, ProbeTurn};

/// A request that passed every gate: sampled, allowed, breaker closed, a slot free. Holding it
/// holds the in-flight slot.
pub struct Planned {
    /// The breaker's probe turn, when this mirror is the probe: given back if never sent.
    _probe: Option<ProbeTurn>,
    _permit: OwnedSemaphorePermit,
    _route_permit: Option<OwnedSemaphorePermit>,
    _limit: LimitPermit,
    /// What a mirror in flight costs besides its bodies (its task, its share of a v2
    /// connection's buffers), held in the byte budget until it ends.
    _overhead: Held,
    /// Room for its bodies, promised until v1's answer is in (see `tee/budget.rs`).
    pub promise: Held,
}

/// A mirror's memory besides its captured bodies: its task and request copy, and the v2
/// connection's read buffer (capped at [`crate::upstream::CANDIDATE_READ_BUFFER`]). Measured at
/// about 70 KiB per mirror in flight under a slow v2; reserved so the byte budget bounds it.
pub const MIRROR_OVERHEAD: usize = 64 * 1024;

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
    reverse: bool,
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
    let mirrored = if reverse {
        &snap.primary
    } else {
        &snap.candidate
    };
    if mirrored.http1_only() && crate::net::headers::is_grpc(headers) {
        route.metrics.skip(SkipReason::UnsupportedProtocol);
        return None;
    }
    // The breaker judges v2; a copy to v1 (reverse shadow) does not ask it.
    let admit = if reverse {
        Admit::Yes
    } else {
        shared.breaker.admit()
    };
    let probe = match admit {
        Admit::Yes => None,
        Admit::Probe(turn) => Some(turn),
        Admit::No => {
            route.metrics.skip(SkipReason::BreakerOpen);
            return None;
        }
    };
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
    // The adaptive limit (`limit.rs`), then the hard ceiling it moves under.
    let Some(limit) = shared.mirror_limit.try_acquire() else {
        route.metrics.skip(SkipReason::Overloaded);
        return None;
    };
    let Ok(permit) = snap.in_flight.clone().try_acquire_owned() else {
        route.metrics.skip(SkipReason::Overloaded);
        return None;
    };
    let Some((overhead, promise)) = admit_mirror(&shared.pending, MIRROR_OVERHEAD) else {
        route.metrics.skip(SkipReason::Overloaded);
        return None;
    };
    Some(Planned {
        _probe: probe,
        _permit: permit,
        _route_permit: route_permit,
        _limit: limit,
        _overhead: overhead,
        promise,
    })
}
