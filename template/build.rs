//! Puts the part's memory layout where the linker looks for it: `memory.x` for the Cortex-M
//! (cortex-m-rt's link.x includes it), `memory-riscv.x` for RISC-V (given before riscv-rt's
//! link.x in `.cargo/config.toml`).
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for file in ["memory.x", "memory-riscv.x"] {
        fs::copy(file, out.join(file)).expect("the memory layouts are readable");
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rustc-link-search={}", out.display());
}
