//! Compiles `proto/` with protox (pure Rust), so building needs no `protoc` on the machine.

use std::error::Error;
use std::path::PathBuf;

use prost::Message as _;

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let files = [proto_root.join("payment/v1/gateway.proto")];
    // A directory makes cargo rescan every file in it, so a new or edited .proto rebuilds.
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let fds = protox::compile(files, [&proto_root])?;

    // prost-build's `compile_fds` ignores `file_descriptor_set_path` (it only writes that file
    // when it runs protoc itself; checked in prost-build 0.14.6), so the set for gRPC reflection
    // is written here, from the very descriptors the code is generated from.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("payment_v1_descriptor.bin"),
        fds.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
