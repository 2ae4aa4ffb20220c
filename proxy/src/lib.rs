//! shadowdiff: serve v1, mirror to v2, compare, export drift.
