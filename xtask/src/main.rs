//! Project automation: `cargo ci` (every test, installing what is missing).
//!
//! Run from the repository root through the aliases in `.cargo/config.toml`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod boards;
mod data;
mod elf;
mod firmware;
mod fuzz;
mod keyword_clips;
mod size_table;

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
        Some("embedded") => embedded(true),
        Some("qemu") => firmware::qemu_command(&args[1..]),
        Some("firmware") => firmware::ci(&root()),
        Some("device-e2e") => firmware::serial_end_to_end(&root()),
        Some("boards") => boards::ci(&root()),
        Some("data") => data::command(&root(), &args[1..]),
        Some("fixtures") => run_with(
            &root(),
            "cargo",
            &[
                "test",
                "-q",
                "-p",
                "fewshot-tests",
                "--test",
                "firmware_fixtures",
                "--test",
                "signed_fixtures",
            ],
            &[("FEWSHOT_BLESS", "1")],
        ),
        Some("reproduce") => run(
            &root(),
            "cargo",
            &[
                "test",
                "--release",
                "-p",
                "trainer",
                "--test",
                "reproduce",
                "--",
                "--ignored",
            ],
        ),
        Some("demo") => firmware::demo(&root(), &args[1..]),
        Some("size") => firmware::size_command(&root(), &args[1..]),
        Some("bench-firmware") => firmware::bench(&root(), &args[1..]),
        Some("size-table") => size_table::run(&root()),
        Some("fuzz-smoke") => fuzz::smoke(&root(), &args[1..]),
        Some("fuzz-long") => fuzz::long(&root(), &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <command>");
            eprintln!(
                "  ci              install what is missing, then run every test (what CI runs)"
            );
            eprintln!(
                "  setup           install rustup targets and host tools (QEMU, defmt-print)"
            );
            eprintln!("  embedded        build the runtime for every embedded target");
            eprintln!("  qemu [--no-icount] [--timeout S] ELF");
            eprintln!("                  run a firmware ELF under QEMU, decode its defmt logs,");
            eprintln!("                  return its exit status (the firmware's cargo runner)");
            eprintln!(
                "  fixtures        regenerate firmware/fixtures (models, tasks, golden outputs)"
            );
            eprintln!(
                "  reproduce       retrain the committed presets from scratch and check them (minutes; not in ci)"
            );
            eprintln!("  demo [TARGET]   the firmware demo under QEMU (`cargo qemu`)");
            eprintln!(
                "  firmware        firmware demo + on-target tests on M4F and M3, size check"
            );
            eprintln!(
                "  device-e2e      the serial firmware under QEMU driven by `trainer device` (in firmware)"
            );
            eprintln!(
                "  boards          lint and build the real-board firmwares (boards/), their sizes (in ci)"
            );
            eprintln!(
                "  data words [--small] [--out DIR] [--words N] [--renditions R] [--seed S] [--jobs J]"
            );
            eprintln!(
                "                  synthesise the spoken-words set with espeak-ng (data/README.md)"
            );
            eprintln!(
                "  data check      the small words set twice: made, then a cache hit (in ci)"
            );
            eprintln!(
                "  data keyword-clips [--words DIR]  the keyword demo's clips from the words set"
            );
            eprintln!("  size [--update] firmware .text against firmware/size-snapshot.txt");
            eprintln!(
                "  bench-firmware [--model PATH] [--target TRIPLE]  instruction counts, flash and RAM of the firmware (Cortex-M4F; M3, RISC-V), and of a model of yours (not in ci)"
            );
            eprintln!(
                "  size-table      the runtime's .text per feature set, opt-level z and 3 (not in ci)"
            );
            eprintln!(
                "  fuzz-smoke [S]  every fuzz target for S seconds (60; serial at most 15), from the seeded corpus"
            );
            eprintln!(
                "  fuzz-long [N]   every fuzz target for N executions (10 million; not in ci)"
            );
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
pub(crate) fn run(dir: &Path, program: &str, args: &[&str]) -> Result<()> {
    run_with(dir, program, args, &[])
}

/// [`run`] with extra environment variables. Prints the elapsed time when the command ends
/// (`+ [12.3 s] ...`), so a CI log shows where the time goes.
pub(crate) fn run_with(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<()> {
    run_command(dir, program, args, env, None)
}

/// [`run`] that fails when the command takes longer than `limit`: the command and everything
/// it started (its own process group: cargo and the QEMU its runner starts) are killed, so a
/// hung firmware run by a runner without a timeout fails CI instead of stalling it.
pub(crate) fn run_limited(dir: &Path, program: &str, args: &[&str], limit: Duration) -> Result<()> {
    run_command(dir, program, args, &[], Some(limit))
}

fn run_command(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Option<Duration>,
) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let vars: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    let line = format!("{vars}{program} {}", args.join(" "));
    eprintln!("+ {line}");
    let start = Instant::now();
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir);
    if limit.is_some() {
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let status = match limit {
        None => child.wait().context("waiting for the command")?,
        Some(limit) => loop {
            if let Some(status) = child.try_wait().context("waiting for the command")? {
                break status;
            }
            if start.elapsed() >= limit {
                // The whole group: killing cargo alone would leave its runner's QEMU running.
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = child.wait();
                bail!("`{line}` still running after {} s: killed", limit.as_secs());
            }
            std::thread::sleep(Duration::from_millis(50));
        },
    };
    eprintln!("+ [{:.1} s] {line}", start.elapsed().as_secs_f64());
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

/// Output of a command, or an empty string when it cannot run.
pub(crate) fn output(program: &str, args: &[&str]) -> String {
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
    firmware::setup_host_tools()?;
    fewshot_datasets::words::ensure_installed()?;
    fuzz::setup()?;
    Ok(())
}

/// The runtime on every embedded target (no std, no alloc), with its default features and
/// with none. `all`: a release build of each (`cargo xtask embedded`). Otherwise what CI
/// proves, cheaper: a real release build with the default features on every target (ARMv6-M:
/// no hardware divide or compare-and-swap; RISC-V; and the Cortex-M4F's hand-written kernels
/// assembled without LTO, as a user's crate builds them, which the firmware's fat-LTO build
/// does not show), and a type check without them; the firmware (`firmware::ci`) builds, links
/// and runs the runtime on ARMv7E-M and ARMv7-M.
fn embedded(all: bool) -> Result<()> {
    for target in EMBEDDED_TARGETS {
        for features in [None, Some("--no-default-features")] {
            let build = all || features.is_none();
            let mut args = vec![
                if build { "build" } else { "check" },
                "-p",
                "fewshot-runtime",
                "--release",
                "--target",
                target,
            ];
            args.extend(features);
            run(&root(), "cargo", &args)?;
        }
    }
    Ok(())
}

/// Everything CI runs.
fn ci() -> Result<()> {
    setup()?;
    // Formatting and lints first: they fail in seconds, not after the build.
    run(&root(), "cargo", &["fmt", "--all", "--check"])?;
    for dir in ["firmware", "fuzz", "template"] {
        run(&root().join(dir), "cargo", &["fmt", "--check"])?;
    }
    run(
        &root(),
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The runtime as the Cortex-M4F compiles it: its hand-written kernels exist only there.
    run(
        &root(),
        "cargo",
        &[
            "clippy",
            "-p",
            "fewshot-runtime",
            "--target",
            "thumbv7em-none-eabihf",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The firmware template (its own workspace; run by `cargo xtask firmware`), for the
    // Cortex-M4F and for RISC-V.
    run(
        &root().join("template"),
        "cargo",
        &["clippy", "--all-targets", "--", "-D", "warnings"],
    )?;
    run(
        &root().join("template"),
        "cargo",
        &[
            "clippy",
            "--all-targets",
            "--target",
            "riscv32imac-unknown-none-elf",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The firmware for its default target (firmware/.cargo/config.toml), and for RISC-V
    // (without the mps2 peripherals).
    run(
        &root().join("firmware"),
        "cargo",
        &["clippy", "--all-targets", "--", "-D", "warnings"],
    )?;
    run(
        &root().join("firmware"),
        "cargo",
        &[
            "clippy",
            "--all-targets",
            "--target",
            "riscv32imac-unknown-none-elf",
            "--no-default-features",
            "--features",
            "implicit-step,matching-head,input-views,int8",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    embedded(false)?;
    run(&root(), "cargo", &["test", "--workspace", "--all-targets"])?;
    run(&root(), "cargo", &["test", "--workspace", "--doc"])?;
    // The words set's command end to end on its small subset (seconds; the library's own test
    // above checks determinism and the cache).
    data::small_check(&root())?;
    // The runtime without its optional features: it builds, its unit and integration tests
    // pass, and it refuses such models. (Its doc tests and example need no such run: the doc
    // tests passed above, the example requires `implicit-step`.)
    run(
        &root(),
        "cargo",
        &[
            "test",
            "-p",
            "fewshot-runtime",
            "--no-default-features",
            "--features",
            "std",
            "--lib",
            "--tests",
        ],
    )?;
    // The library docs stay warning-free (broken links, missing docs): on the host, and as a
    // firmware author builds them (the device target, the device features).
    let device = [
        "--target",
        "thumbv7em-none-eabihf",
        "--features",
        "conv,int8,audio-frontend",
    ];
    for build in [&["--features", "std"][..], &device[..]] {
        let mut args = vec!["doc", "-p", "fewshot-runtime", "--no-deps"];
        args.extend_from_slice(build);
        run_with(&root(), "cargo", &args, &[("RUSTDOCFLAGS", "-D warnings")])?;
    }
    // The host crates' docs as well: a link a refactor broke fails here, not in a reader's hands.
    run_with(
        &root(),
        "cargo",
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--exclude",
            "fewshot-runtime",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    firmware::ci(&root())?;
    boards::ci(&root())?;
    // 30 s per target: several hundred thousand inputs each from the seeded corpus (real
    // models and every regression input); the long runs are `fuzz-long`.
    fuzz::smoke(&root(), &["30".to_string()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command past its limit fails, and what it started is killed with it.
    #[test]
    fn a_command_past_its_limit_fails_and_its_children_die() {
        let dir = std::env::temp_dir().join(format!("xtask-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let start = Instant::now();
        let script = "sleep 30 & echo $! > child.pid; wait";
        let r = run_limited(&dir, "sh", &["-c", script], Duration::from_secs(1));
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("still running after 1 s"));
        assert!(start.elapsed() < Duration::from_secs(10));
        let pid = std::fs::read_to_string(dir.join("child.pid")).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        // Gone, or a zombie waiting for its new parent to reap it: not running either way.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        let running = stat.is_ok_and(|s| !s.contains(") Z "));
        assert!(!running, "the child {pid} outlived the limit");
        run_limited(&dir, "true", &[], Duration::from_secs(10)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
