//! Stamps the binary with the git commit it was built from, for
//! `trolley_build_info{git_sha}`. `TROLLEY_GIT_SHA` in the environment wins (image
//! builds have no `.git`).

use std::process::Command;

fn main() {
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
