//! The model a serial-protocol firmware serves and its sizes, chosen at build time: included
//! by path by `firmware/build.rs` and `boards/shared/build.rs`, so the QEMU `serial` firmware and
//! the boards take a user's model the same way.

use std::path::{Path, PathBuf};

/// Writes `OUT_DIR/serial_model.bin` and `OUT_DIR/serial_sizes.rs`: the files
/// `FEWSHOT_SERIAL_MODEL` and `FEWSHOT_SERIAL_SIZES` name (a model file and what `trainer
/// inspect MODEL --rust --head H --k K --device` prints for it; relative paths are from the
/// repository root, `root`), else the multi-head fixture and `firmware/src/serial_sizes.rs`.
/// The sizes' inner doc comments become plain comments (the file is included in a module).
pub fn write_serial_model(root: &Path) {
    println!("cargo:rerun-if-env-changed=FEWSHOT_SERIAL_MODEL");
    println!("cargo:rerun-if-env-changed=FEWSHOT_SERIAL_SIZES");
    let var = |name| std::env::var_os(name).map(|p| root.join(PathBuf::from(p)));
    let (model, sizes) = match (var("FEWSHOT_SERIAL_MODEL"), var("FEWSHOT_SERIAL_SIZES")) {
        (Some(m), Some(s)) => (m, s),
        (None, None) => (
            root.join("firmware/fixtures/multihead.fsm"),
            root.join("firmware/src/serial_sizes.rs"),
        ),
        _ => fail("set both FEWSHOT_SERIAL_MODEL and FEWSHOT_SERIAL_SIZES, or neither"),
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed={}", model.display());
    println!("cargo:rerun-if-changed={}", sizes.display());
    write(&out.join("serial_model.bin"), &read(&model));
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
    eprintln!("serial model: {message}");
    std::process::exit(1)
}
