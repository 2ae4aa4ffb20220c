//! Test support: in-process upstreams and a proxy under test.
