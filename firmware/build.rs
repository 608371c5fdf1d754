//! Relinks when the memory layout changes: `memory.x` is read by the linker (through
//! cortex-m-rt's `link.x`), which cargo does not track. Picks the `serial` firmware's model
//! (`serial_model.rs`).
use std::path::PathBuf;

#[path = "serial_model.rs"]
mod serial_model;

fn main() {
    println!("cargo:rerun-if-changed=memory.x");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    serial_model::write_serial_model(&dir.join(".."));
}
