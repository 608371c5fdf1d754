//! Project automation: `cargo ci` (every test, installing what is missing).
//!
//! Run from the repository root through the aliases in `.cargo/config.toml`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The embedded targets the runtime must build for, with no std and no alloc.
const EMBEDDED_TARGETS: &[&str] = &[
    "thumbv7em-none-eabihf",
    "thumbv7m-none-eabi",
    "thumbv6m-none-eabi",
    "riscv32imac-unknown-none-elf",
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("setup") => setup(),
        Some("embedded") => build_embedded(),
        _ => {
            eprintln!("usage: cargo xtask <ci|setup|embedded>");
            eprintln!("  ci        install what is missing, then run every test (what CI runs)");
            eprintln!("  setup     install rustup targets and host tools only");
            eprintln!("  embedded  build the runtime for every embedded target");
            std::process::exit(2)
        }
    }
}

/// The repository root (the parent of this crate's folder).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in `dir`, echoing it, and fails when it fails.
fn run(dir: &Path, program: &str, args: &[&str]) -> Result<()> {
    eprintln!("+ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

/// Output of a command, or an empty string when it cannot run.
fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Installs the rustup targets and components the suite needs, when missing.
fn setup() -> Result<()> {
    let installed = output("rustup", &["target", "list", "--installed"]);
    let missing: Vec<&str> = EMBEDDED_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if !missing.is_empty() {
        let mut args = vec!["target", "add"];
        args.extend(missing);
        run(&root(), "rustup", &args)?;
    }
    Ok(())
}

/// Builds the runtime for every embedded target (no std, no alloc).
fn build_embedded() -> Result<()> {
    for target in EMBEDDED_TARGETS {
        run(
            &root(),
            "cargo",
            &[
                "build",
                "-p",
                "fewshot-runtime",
                "--release",
                "--target",
                target,
            ],
        )?;
    }
    Ok(())
}

/// Everything CI runs.
fn ci() -> Result<()> {
    setup()?;
    build_embedded()?;
    run(&root(), "cargo", &["test", "--workspace", "--all-targets"])?;
    run(&root(), "cargo", &["test", "--workspace", "--doc"])?;
    Ok(())
}
