//! The tee: copies of v1's request and response bodies taken as they stream past, within the
//! byte budget, for the comparison. The client's bytes are never held back.

pub mod budget;
pub mod capture;

pub use budget::ByteBudget;
pub use capture::{
    read_capped, Capture, CaptureBuf, CaptureEnd, CaptureResult, CapturedBody, ReadEnd, TeeBody,
};
