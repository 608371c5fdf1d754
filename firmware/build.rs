//! Relinks when the memory layout changes: `memory.x` is read by the linker (through
//! cortex-m-rt's `link.x`), which cargo does not track. Picks the `serial` firmware's model
//! (`serial_model.rs`) and the benchmark's extra model (`FEWSHOT_BENCH_MODEL`).
use std::path::PathBuf;

#[path = "serial_model.rs"]
mod serial_model;

fn main() {
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=memory-riscv.x");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    serial_model::write_serial_model(&dir.join(".."));
    bench_model();
}

/// `OUT_DIR/bench_model.bin`: the model file `FEWSHOT_BENCH_MODEL` names (`cargo xtask
/// bench-firmware --model PATH` sets it), which the benchmark measures beside its own; empty
/// when it is not set.
fn bench_model() {
    println!("cargo:rerun-if-env-changed=FEWSHOT_BENCH_MODEL");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let bytes = match std::env::var_os("FEWSHOT_BENCH_MODEL") {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&path).display());
            std::fs::read(&path).unwrap_or_else(|e| {
                eprintln!(
                    "FEWSHOT_BENCH_MODEL {}: {e}",
                    PathBuf::from(&path).display()
                );
                std::process::exit(1)
            })
        }
        None => Vec::new(),
    };
    std::fs::write(out.join("bench_model.bin"), bytes).expect("writing bench_model.bin");
}
