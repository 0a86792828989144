//! Stamps the binary with the git commit it was built from, for
//! `trolley_build_info{git_sha}` (`TROLLEY_GIT_SHA` in the environment wins: image
//! builds have no `.git`), and compiles the service port's protocol buffers
//! (`proto/`) with protox, in Rust, so a build needs no `protoc`.

use std::{path::PathBuf, process::Command};

use protox::prost::Message;

/// trolley's own service and the two demos' files, unchanged (proto/README.md).
const PROTOS: [&str; 3] = [
    "trolley/cart/v1/cart.proto",
    "hipstershop/demo.proto",
    "oteldemo/demo.proto",
];

fn main() {
    stamp_git_sha();
    if let Err(error) = compile_protos() {
        panic!("proto/: {error}");
    }
}

/// The generated messages and services, and the descriptor set that server
/// reflection answers with (`$OUT_DIR/descriptors.bin`).
fn compile_protos() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("descriptors.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}

fn stamp_git_sha() {
    println!("cargo:rerun-if-env-changed=TROLLEY_GIT_SHA");
    println!("cargo:rerun-if-changed=.git/HEAD");
    let sha = std::env::var("TROLLEY_GIT_SHA")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|out| out.status.success())
                .and_then(|out| String::from_utf8(out.stdout).ok())
                .map(|s| s.trim().to_string())
        });
    println!(
        "cargo:rustc-env=TROLLEY_GIT_SHA={}",
        sha.unwrap_or_else(|| "unknown".into())
    );
}
