//! Relinks when the memory layout changes: `memory.x` is read by the linker (through
//! cortex-m-rt's `link.x`), which cargo does not track.
fn main() {
    println!("cargo:rerun-if-changed=memory.x");
}
