//! Relinks when the memory layout changes: `memory.x` is read by the linker (through
//! cortex-m-rt's `link.x`), which cargo does not track. Picks the `serial` firmware's model.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=memory.x");
    serial_model();
}

/// The model the `serial` firmware serves and its sizes, into `OUT_DIR` (`serial_model.bin`,
/// `serial_sizes.rs`): `FEWSHOT_SERIAL_MODEL` and `FEWSHOT_SERIAL_SIZES` (a model file and what
/// `trainer inspect MODEL --rust --head H --k K --device` prints for it; relative paths are
/// from `firmware/`), else the multi-head fixture and `src/serial_sizes.rs`.
fn serial_model() {
    println!("cargo:rerun-if-env-changed=FEWSHOT_SERIAL_MODEL");
    println!("cargo:rerun-if-env-changed=FEWSHOT_SERIAL_SIZES");
    let var = |name| std::env::var_os(name).map(PathBuf::from);
    let (model, sizes) = match (var("FEWSHOT_SERIAL_MODEL"), var("FEWSHOT_SERIAL_SIZES")) {
        (Some(m), Some(s)) => (m, s),
        (None, None) => (
            PathBuf::from("fixtures/multihead.fsm"),
            PathBuf::from("src/serial_sizes.rs"),
        ),
        _ => fail("set both FEWSHOT_SERIAL_MODEL and FEWSHOT_SERIAL_SIZES, or neither"),
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed={}", model.display());
    println!("cargo:rerun-if-changed={}", sizes.display());
    let bytes = read(&model);
    write(&out.join("serial_model.bin"), &bytes);
    // Included inside a module: its inner doc comments become plain comments.
    let text = String::from_utf8(read(&sizes))
        .unwrap_or_else(|_| fail(&format!("{}: not UTF-8", sizes.display())));
    let body: String = text
        .lines()
        .map(|l| match l.strip_prefix("//!") {
            Some(rest) => format!("//{rest}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    write(&out.join("serial_sizes.rs"), body.as_bytes());
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())))
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())))
}

fn fail(message: &str) -> ! {
    eprintln!("fewshot-firmware build: {message}");
    std::process::exit(1)
}
