//! Every board's build script: puts the board's `memory.x` (beside its `Cargo.toml`) where
//! cortex-m-rt's `link.x` finds it.
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let memory = std::fs::read(dir.join("memory.x")).expect("the board has a memory.x");
    std::fs::write(out.join("memory.x"), memory).expect("writing memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
}
