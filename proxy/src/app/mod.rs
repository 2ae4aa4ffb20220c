//! The binary's edges: the command line, the running process, and the demo.

pub mod cli;
pub mod controller;
pub mod ctl;
pub mod demo;
pub mod fd_limit;
pub mod run;
