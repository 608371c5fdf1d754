//! Fuzzing with cargo-fuzz (libFuzzer) on the nightly toolchain: `fuzz-smoke` (part of ci) and
//! `fuzz-long` (>= 10 million executions per target, run by hand; figures in fuzz/README.md).

use crate::{output, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The fuzz targets (`fuzz/fuzz_targets/*.rs`).
pub const TARGETS: &[&str] = &["load", "adapt", "serial"];

/// The smoke run's cap for `serial` (seconds): it joined later and its budget is kept small so
/// CI grows by about 20 s (its seed reaches every request at once; `fuzz-long` runs it fully).
const SERIAL_SMOKE_S: u64 = 15;

/// Every target is built and run like this: optimised, no sanitizer (the runtime is safe Rust;
/// without ASan a run is several times faster), no debug assertions (see fuzz/src/lib.rs) but
/// overflow checks (fuzz/Cargo.toml).
const BUILD_FLAGS: &[&str] = &["-O", "-s", "none"];

/// Installs the nightly toolchain and cargo-fuzz when missing.
pub fn setup() -> Result<()> {
    let toolchains = output("rustup", &["toolchain", "list"]);
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        run(
            Path::new("."),
            "rustup",
            &["toolchain", "install", "nightly", "--profile", "minimal"],
        )?;
    }
    let has_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !has_fuzz {
        run(
            Path::new("."),
            "cargo",
            &["install", "cargo-fuzz", "--locked"],
        )?;
    }
    Ok(())
}

fn fuzz_dir(root: &Path) -> PathBuf {
    root.join("fuzz")
}

/// Copies the seeds into `fuzz/corpus/<target>`: real models (the firmware fixtures and the
/// trainer's exports, `*.fsm` and `*.postcard` under `trainer/` and `models/`), and the
/// regression inputs.
fn seed(root: &Path) -> Result<()> {
    let fuzz = fuzz_dir(root);
    for target in TARGETS {
        std::fs::create_dir_all(fuzz.join("corpus").join(target))?;
    }
    let mut models = Vec::new();
    for dir in ["firmware/fixtures", "trainer", "models"] {
        collect(&root.join(dir), "fsm", &mut models, 3);
        // The trainer writes `models/<name>.postcard`.
        collect(&root.join(dir), "postcard", &mut models, 3);
    }
    // Signed envelopes (the firmware's signed fixture) too.
    collect(&root.join("firmware/fixtures"), "signed", &mut models, 1);
    let load = fuzz.join("corpus/load");
    for m in &models {
        let name = m.file_name().context("model file name")?;
        std::fs::copy(m, load.join(name))
            .with_context(|| format!("cannot copy {}", m.display()))?;
    }
    for target in TARGETS {
        let mut inputs = Vec::new();
        collect(&fuzz.join("regressions").join(target), "", &mut inputs, 1);
        for i in inputs {
            let name = i.file_name().context("regression file name")?;
            std::fs::copy(&i, fuzz.join("corpus").join(target).join(name))?;
        }
    }
    eprintln!("fuzz: seeded corpus/load with {} real models", models.len());
    Ok(())
}

/// Files under `dir` (depth `depth`) whose extension is `ext` (any when empty).
fn collect(dir: &Path, ext: &str, out: &mut Vec<PathBuf>, depth: u32) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if depth > 1 && !p.ends_with("target") {
                collect(&p, ext, out, depth - 1);
            }
        } else if ext.is_empty() || p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// What one libFuzzer run reported.
struct Stats {
    executions: u64,
    seconds: f64,
}

/// Runs one target with libFuzzer options `opts`; fails on any crash, panic or timeout.
fn run_target(root: &Path, target: &str, opts: &[String]) -> Result<Stats> {
    let fuzz = fuzz_dir(root);
    let corpus = format!("corpus/{target}");
    let mut args: Vec<String> = ["+nightly", "fuzz", "run"]
        .iter()
        .chain(BUILD_FLAGS)
        .map(|s| s.to_string())
        .collect();
    args.extend([target.to_string(), corpus, "--".into()]);
    args.extend([
        "-print_final_stats=1".into(),
        "-timeout=10".into(),
        "-rss_limit_mb=2048".into(),
    ]);
    args.extend(opts.iter().cloned());
    eprintln!("+ (fuzz/) cargo {}", args.join(" "));
    let start = Instant::now();
    let out = Command::new("cargo")
        .args(&args)
        .current_dir(&fuzz)
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .context("cannot start cargo fuzz (run `cargo xtask setup`)")?;
    let seconds = start.elapsed().as_secs_f64();
    eprintln!("+ [{seconds:.1} s] (fuzz/) cargo {}", args.join(" "));
    let log = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    if !out.status.success() {
        for l in tail.iter().rev() {
            eprintln!("{l}");
        }
        bail!(
            "fuzz target `{target}` failed ({}): see fuzz/artifacts/{target}/",
            out.status
        );
    }
    let executions = log
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Stats {
        executions,
        seconds,
    })
}

/// `cargo xtask fuzz-smoke [SECONDS]`: every target for SECONDS (60) from the seeded corpus.
pub fn smoke(root: &Path, args: &[String]) -> Result<()> {
    let seconds: u64 = match args.first() {
        Some(s) => s.parse().with_context(|| format!("bad seconds `{s}`"))?,
        None => 60,
    };
    setup()?;
    seed(root)?;
    let mut summary = Vec::new();
    for target in TARGETS {
        let budget = match *target {
            "serial" => seconds.min(SERIAL_SMOKE_S),
            _ => seconds,
        };
        let s = run_target(root, target, &[format!("-max_total_time={budget}")])?;
        summary.push(format!(
            "fuzz {target}: {} executions in {:.0} s, 0 crashes",
            s.executions, s.seconds
        ));
    }
    for line in summary {
        eprintln!("{line}");
    }
    Ok(())
}

/// `cargo xtask fuzz-long [RUNS]`: every target for RUNS executions (10 million), one job each;
/// prints the figures fuzz/README.md records.
pub fn long(root: &Path, args: &[String]) -> Result<()> {
    let runs: u64 = match args.first() {
        Some(s) => s.parse().with_context(|| format!("bad run count `{s}`"))?,
        None => 10_000_000,
    };
    setup()?;
    seed(root)?;
    let mut summary = Vec::new();
    for target in TARGETS {
        let s = run_target(root, target, &[format!("-runs={runs}")])?;
        summary.push(format!(
            "| {target} | {} | {:.0} s | {:.0} | 0 |",
            s.executions,
            s.seconds,
            s.executions as f64 / s.seconds.max(1e-9)
        ));
    }
    println!("| target | executions | time | per second | crashes |");
    println!("|---|---:|---:|---:|---:|");
    for line in summary {
        println!("{line}");
    }
    Ok(())
}
