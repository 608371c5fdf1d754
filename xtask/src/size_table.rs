//! `cargo xtask size-table`: the runtime's own `.text` per feature set on the Cortex-M4F and
//! on RISC-V (rv32imac).
//!
//! Each row builds the firmware's `size_probe` (load a dense model, infer, adapt by gradient
//! steps, reset; see `firmware/src/bin/size_probe.rs`) with one set of the firmware's features,
//! at `opt-level = "z"` and at the release profile's `opt-level = 3`, and subtracts
//! `size_baseline` (the same program without the runtime calls). On RISC-V the runtime's code
//! includes the f32 library calls a core without an FPU needs. The builds go to their own
//! target folder (`firmware/target/size-table`), so the release build the tests use is left
//! alone.

use crate::firmware::{firmware_dir, probe_build, read_elf};
use anyhow::Result;
use std::path::Path;

/// The probe's triples: the Cortex-M4F the other figures are for, and RISC-V.
const TRIPLES: [&str; 2] = ["thumbv7em-none-eabihf", "riscv32imac-unknown-none-elf"];

/// One row: its label and the firmware features it builds with (never the defaults).
const ROWS: &[(&str, &str)] = &[
    ("dense f32 layers, gradient adaptation, loader", ""),
    (
        "the same with the portable kernels (`portable-kernels`)",
        "portable-kernels",
    ),
    (
        "+ matching heads and input views (`matching-head`, `input-views`)",
        "matching-head,input-views",
    ),
    ("+ implicit step (`implicit-step`)", "implicit-step"),
    ("+ convolution stems (`conv`)", "conv"),
    ("+ int8 stems (`conv`, `int8`)", "conv,int8"),
    ("+ persistence of the adapted state", "probe-persist"),
    ("+ signed models (Ed25519)", "probe-signature"),
    (
        "+ audio front-end, log-mel (`audio-frontend`)",
        "probe-frontend",
    ),
    (
        "every row above but `portable-kernels` and int8",
        "matching-head,input-views,implicit-step,conv,probe-persist,probe-signature",
    ),
];

/// Builds every row at both optimisation levels and prints the table.
pub fn run(root: &Path) -> Result<()> {
    let fw = firmware_dir(root);
    let target_dir = fw.join("target").join("size-table");
    let target_dir = target_dir.to_string_lossy();
    let mut lines = Vec::new();
    for (label, features) in ROWS {
        let mut sizes = Vec::new();
        for triple in TRIPLES {
            for opt in ["z", "3"] {
                sizes.push(probe(&fw, &target_dir, triple, features, opt)?.to_string());
            }
        }
        lines.push(format!("| {label} | {} |", sizes.join(" | ")));
    }
    println!();
    println!(
        "| runtime features | {} `.text` at opt-level \"z\" | at opt-level 3 | {} at \"z\" | at 3 |",
        TRIPLES[0], TRIPLES[1]
    );
    println!("|---|---:|---:|---:|---:|");
    for line in lines {
        println!("{line}");
    }
    println!();
    println!("bytes of .text: size_probe minus size_baseline, fat LTO, one codegen unit");
    Ok(())
}

/// The runtime's `.text` on `triple` with `features` at `opt`: `size_probe - size_baseline`.
fn probe(fw: &Path, target_dir: &str, triple: &str, features: &str, opt: &str) -> Result<u32> {
    let mut args = probe_build(triple);
    args.extend(["-q", "--no-default-features"]);
    if !features.is_empty() {
        args.extend(["--features", features]);
    }
    crate::run_with(
        fw,
        "cargo",
        &args,
        &[
            ("CARGO_TARGET_DIR", target_dir),
            ("CARGO_PROFILE_RELEASE_OPT_LEVEL", opt),
        ],
    )?;
    let elf = |bin: &str| read_elf(&Path::new(target_dir).join(triple).join("release").join(bin));
    let with = elf("size_probe")?.section_size(".text");
    let without = elf("size_baseline")?.section_size(".text");
    Ok(with.saturating_sub(without))
}
