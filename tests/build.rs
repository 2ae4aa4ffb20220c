//! Compiles `proto/quotes.proto` for the gRPC tests without a system `protoc` (protox is a
//! protobuf compiler in Rust), and keeps the descriptor set for `[grpc] descriptor_set`.
use std::path::PathBuf;

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/quotes.proto");
    let fds = protox::compile(["quotes.proto"], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("quotes.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
