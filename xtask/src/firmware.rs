//! The firmware side of xtask: QEMU runner, host tools, firmware CI, size
//! check and benchmark.

use crate::elf::{Elf, STT_FUNC, STT_OBJECT};
use crate::{run, run_limited, run_with};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Firmware targets and the QEMU machine that runs each.
const MACHINES: &[(&str, &str)] = &[
    // Cortex-M4 with FPU.
    ("thumbv7em-none-eabihf", "mps2-an386"),
    // Cortex-M3, soft float.
    ("thumbv7m-none-eabi", "mps2-an385"),
];

/// RISC-V rv32imac (soft float) on QEMU's `virt` machine: the demo, every on-target test and
/// the serial firmware (`qemu-system-riscv32`, from Debian's qemu-system-riscv).
const RISCV: (&str, &str) = ("riscv32imac-unknown-none-elf", "virt");

/// defmt-print pinned: 1.x decodes defmt 0.3.100+ (which forwards to defmt 1,
/// wire format 4).
const DEFMT_PRINT_VERSION: &str = "1.2.0";

/// What `SNAPSHOT` holds and the growth it tolerates.
const SNAPSHOT: &str = "firmware/size-snapshot.txt";
const SIZE_TOLERANCE_PERCENT: u64 = 5;
/// The firmware features the demo, the on-target tests and the size check are built with
/// (`int8` is a default one): the convolution stems and the audio front-end, which the demo's
/// keyword part (`src/bin/demo/keyword.rs`), `tests/conv.rs` and `tests/frontend.rs` need. One
/// feature set for all, so that no step rebuilds what another built.
const FEATURES: &str = "conv,audio-frontend";
/// The firmware's default features but `mps2`, for RISC-V (with [`FEATURES`]).
const RISCV_FEATURES: &str = "implicit-step,matching-head,input-views,int8";

/// What RISC-V builds the demo, the tests and the benchmark with: [`RISCV_FEATURES`] and
/// [`FEATURES`].
fn riscv_features() -> String {
    format!("{RISCV_FEATURES},{FEATURES}")
}

/// `cargo build` of the size probes (`size_probe`, `size_baseline`) for `triple`, in release;
/// the caller adds the features.
pub(crate) fn probe_build(triple: &str) -> Vec<&str> {
    vec![
        "build",
        "--release",
        "--target",
        triple,
        "--bin",
        "size_probe",
        "--bin",
        "size_baseline",
    ]
}

/// The template's build and run under its own runner, at most (a cold build takes about 1 min).
const TEMPLATE_LIMIT: Duration = Duration::from_secs(600);

/// Default guard against a firmware that hangs.
const DEFAULT_TIMEOUT_S: u64 = 120;

pub(crate) fn firmware_dir(root: &Path) -> PathBuf {
    root.join("firmware")
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// `defmt-print` on PATH, else in cargo's bin folder (where `cargo install` puts it).
fn defmt_print() -> PathBuf {
    if succeeds("defmt-print", &["--version"]) {
        return PathBuf::from("defmt-print");
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    cargo_home.join("bin").join("defmt-print")
}

/// Installs QEMU (Debian bookworm-backports: `qemu-system-arm`, and `qemu-system-riscv` for
/// `qemu-system-riscv32`) and defmt-print when missing.
pub fn setup_host_tools() -> Result<()> {
    let missing: Vec<&str> = QEMU_PACKAGES
        .iter()
        .filter(|(binary, _)| !succeeds(binary, &["--version"]))
        .map(|&(_, package)| package)
        .collect();
    if !missing.is_empty() {
        install_qemu(&missing)?;
    }
    let dp = defmt_print();
    let version = Command::new(&dp)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !version.contains(DEFMT_PRINT_VERSION) {
        run(
            Path::new("."),
            "cargo",
            &[
                "install",
                "defmt-print",
                "--version",
                DEFMT_PRINT_VERSION,
                "--locked",
            ],
        )?;
    }
    Ok(())
}

/// The QEMU binaries the firmware runs on and the Debian packages that hold them.
const QEMU_PACKAGES: &[(&str, &str)] = &[
    ("qemu-system-arm", "qemu-system-arm"),
    ("qemu-system-riscv32", "qemu-system-riscv"),
];

/// QEMU 10 from bookworm-backports, the version the firmware is tested with: `packages`.
fn install_qemu(packages: &[&str]) -> Result<()> {
    let names = packages.join(" ");
    if !succeeds("apt-get", &["--version"]) {
        bail!("{names} missing and there is no apt-get: install QEMU >= 7 by hand");
    }
    let sources = Path::new("/etc/apt/sources.list.d/backports.sources");
    if !sources.exists() {
        std::fs::write(
            sources,
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n\
             Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
        )
        .with_context(|| format!("cannot write {} (run as root)", sources.display()))?;
    }
    run(Path::new("/"), "apt-get", &["update"])?;
    eprintln!("+ apt-get install -y -t bookworm-backports {names}");
    let start = Instant::now();
    let status = Command::new("apt-get")
        .args(["install", "-y", "-t", "bookworm-backports"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("cannot start apt-get")?;
    eprintln!(
        "+ [{:.1} s] apt-get install -y -t bookworm-backports {names}",
        start.elapsed().as_secs_f64()
    );
    if !status.success() {
        bail!("apt-get install {names} failed with {status}");
    }
    Ok(())
}

/// Options of `cargo xtask qemu`.
struct QemuRun {
    elf: PathBuf,
    icount: bool,
    timeout: Duration,
}

/// Machine for the target triple that appears in the ELF's path.
fn machine_for(elf: &Path) -> Result<(&'static str, &'static str)> {
    for comp in elf.components() {
        let comp = comp.as_os_str().to_string_lossy();
        if let Some(&(triple, machine)) = MACHINES.iter().chain([&RISCV]).find(|(t, _)| *t == comp)
        {
            return Ok((triple, machine));
        }
    }
    bail!(
        "no known target triple in {} (expected one of: {})",
        elf.display(),
        MACHINES
            .iter()
            .chain([&RISCV])
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Runs the firmware under QEMU with semihosting, decodes its defmt output
/// through defmt-print (echoed live) and returns its exit status with the
/// decoded lines. A run longer than the timeout is killed and fails.
fn run_qemu(opts: &QemuRun) -> Result<(i32, Vec<String>)> {
    let (triple, machine) = machine_for(&opts.elf)?;
    let elf = opts.elf.to_string_lossy().into_owned();
    let (qemu_bin, mut args) = if (triple, machine) == RISCV {
        // No firmware before the program: QEMU jumps to the ELF's entry in machine mode.
        ("qemu-system-riscv32", vec!["-M", machine, "-bios", "none"])
    } else {
        ("qemu-system-arm", vec!["-M", machine])
    };
    args.extend([
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "null",
        "-semihosting-config",
        "enable=on,target=native",
    ]);
    if opts.icount {
        args.extend(["-icount", "shift=0"]);
    }
    args.extend(["-kernel", &elf]);
    eprintln!("qemu: {triple} on {machine}: {elf}");
    let mut qemu = Command::new(qemu_bin)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {qemu_bin} (run `cargo xtask setup`)"))?;
    let qemu_out = qemu.stdout.take().context("no qemu stdout")?;
    let mut printer = Command::new(defmt_print())
        .args(["-e", &elf])
        .stdin(Stdio::from(qemu_out))
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start defmt-print (run `cargo xtask setup`)")?;
    let printed = printer.stdout.take().context("no defmt-print stdout")?;
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(printed).lines() {
            let Ok(line) = line else { break };
            println!("{line}");
            lines.push(line);
        }
        lines
    });
    let deadline = Instant::now() + opts.timeout;
    let status = loop {
        if let Some(status) = qemu.try_wait().context("waiting for qemu")? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // Best effort: the process may have exited in the meantime.
            let _ = qemu.kill();
            let _ = qemu.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let printer_status = printer.wait().context("waiting for defmt-print")?;
    let lines = reader.join().unwrap_or_default();
    let Some(status) = status else {
        bail!(
            "firmware timed out after {} s (hung, or a fault without handler): {elf}",
            opts.timeout.as_secs()
        );
    };
    if !printer_status.success() {
        bail!("defmt-print failed with {printer_status}");
    }
    // Killed by a signal: no code.
    Ok((status.code().unwrap_or(128), lines))
}

/// Name of a test/bin ELF without cargo's `-<hash>` suffix.
fn artifact_stem(elf: &Path) -> String {
    let name = elf
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.rsplit_once('-') {
        Some((stem, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            stem.to_string()
        }
        _ => name,
    }
}

/// `cargo xtask qemu [--no-icount] [--timeout S] ELF [args cargo passes]`.
///
/// When `firmware/expected/<name>.txt` exists, the decoded log must equal it
/// line for line (the same file for every core: the outputs are bit-exact);
/// `XTASK_BLESS=1` rewrites it.
pub fn qemu_command(args: &[String]) -> Result<()> {
    // Every run counts instructions: deterministic timing in CI, and the
    // SysTick figures mean instructions (QEMU's real-time SysTick does not
    // reliably advance during short runs).
    let mut icount = true;
    let mut timeout = std::env::var("QEMU_TIMEOUT")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(DEFAULT_TIMEOUT_S);
    let mut elf = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--icount" => icount = true,
            "--no-icount" => icount = false,
            "--timeout" => {
                let v = it.next().context("--timeout needs seconds")?;
                timeout = v.parse().with_context(|| format!("bad --timeout {v}"))?;
            }
            // The first positional argument is the ELF; cargo test appends its
            // own arguments (test filters) after it, which mean nothing here.
            _ if elf.is_none() => elf = Some(PathBuf::from(a)),
            _ => {}
        }
    }
    let elf = elf.context("usage: cargo xtask qemu [--no-icount] [--timeout S] ELF")?;
    let (code, lines) = run_qemu(&QemuRun {
        elf: elf.clone(),
        icount,
        timeout: Duration::from_secs(timeout),
    })?;
    // The firmware package owns the `target/` folder the ELF was built in.
    let expected = elf
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "target"))
        .and_then(Path::parent)
        .filter(|pkg| pkg.join("Cargo.toml").exists())
        .map(|pkg| {
            pkg.join("expected")
                .join(format!("{}.txt", artifact_stem(&elf)))
        });
    let want = match &expected {
        Some(p) if p.exists() => Some(
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        _ => None,
    };
    // An expected file may start with `exit: N`: the status a test that
    // checks a failure path (panic, HardFault) must end with.
    let (want_code, want_log) = match &want {
        Some(w) => match w.split_once('\n') {
            Some((first, rest)) if first.starts_with("exit: ") => {
                let c = first["exit: ".len()..].trim();
                (
                    c.parse().with_context(|| format!("bad `{first}`"))?,
                    Some(rest),
                )
            }
            _ => (0, Some(w.as_str())),
        },
        None => (0, None),
    };
    let bless = std::env::var_os("XTASK_BLESS").is_some();
    if code != want_code && !bless {
        eprintln!("firmware exited with status {code} (expected {want_code})");
        std::process::exit(if code == 0 { 1 } else { code });
    }
    if let Some(path) = &expected {
        compare_expected(path, code, want_log, &lines)?;
    }
    Ok(())
}

fn compare_expected(
    expected: &Path,
    code: i32,
    want: Option<&str>,
    lines: &[String],
) -> Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    if std::env::var_os("XTASK_BLESS").is_some() {
        let header = if code != 0 {
            format!("exit: {code}\n")
        } else {
            String::new()
        };
        // Keep the wildcard lines (`prefix*`) that still match what the run printed.
        let mut blessed = String::new();
        let old: Vec<&str> = want.map(|w| w.lines().collect()).unwrap_or_default();
        for (i, got) in text.lines().enumerate() {
            match old.get(i).and_then(|w| w.strip_suffix('*').map(|p| (w, p))) {
                Some((w, prefix)) if got.starts_with(prefix) => blessed.push_str(w),
                _ => blessed.push_str(got),
            }
            blessed.push('\n');
        }
        std::fs::write(expected, format!("{header}{blessed}"))
            .with_context(|| format!("cannot write {}", expected.display()))?;
        eprintln!("blessed {}", expected.display());
        return Ok(());
    }
    let Some(want) = want else {
        return Ok(());
    };
    for (i, (w, g)) in want.lines().zip(text.lines()).enumerate() {
        // A trailing `*` matches any rest (addresses that differ per core).
        let same = match w.strip_suffix('*') {
            Some(prefix) => g.starts_with(prefix),
            None => w == g,
        };
        if !same {
            bail!(
                "decoded log differs from {} at line {}:\n  expected: {w}\n  got:      {g}",
                expected.display(),
                i + 1
            );
        }
    }
    if want.lines().count() != text.lines().count() {
        bail!(
            "decoded log has {} lines, {} expects {}",
            text.lines().count(),
            expected.display(),
            want.lines().count()
        );
    }
    eprintln!("decoded log matches {}", expected.display());
    Ok(())
}

/// What CI runs for the firmware: the demo and the on-target tests on both
/// Cortex-M machines and on RISC-V, the firmware template, the serial protocol end to end
/// (Cortex-M4F and RISC-V), then the size check.
pub fn ci(root: &Path) -> Result<()> {
    let fw = firmware_dir(root);
    for (triple, _) in MACHINES {
        demo_cargo(&fw, "run", triple)?;
        run(
            &fw,
            "cargo",
            &[
                "test",
                "--release",
                "--target",
                triple,
                "--features",
                FEATURES,
            ],
        )?;
    }
    riscv(&fw)?;
    // The template a firmware of one's own starts from (template/): built and run under QEMU
    // by its own runner, as a user runs it, on the Cortex-M4F and on RISC-V; it exits 0 when
    // every answer is the expected one. Its runner has no timeout (a user's QEMU command line):
    // the build and the run are limited here instead.
    let template = root.join("template");
    run_limited(&template, "cargo", &["run", "--release"], TEMPLATE_LIMIT)?;
    run_limited(
        &template,
        "cargo",
        &["run", "--release", "--target", RISCV.0],
        TEMPLATE_LIMIT,
    )?;
    // Built for the Cortex-M0+ too (no atomic read-modify-write): not run, QEMU's Cortex-M0
    // machine has too little RAM for its statics.
    run_limited(
        &template,
        "cargo",
        &["build", "--release", "--target", "thumbv6m-none-eabi"],
        TEMPLATE_LIMIT,
    )?;
    serial_end_to_end(root)?;
    size_command(root, &[])
}

/// The demo and every on-target test on RISC-V (QEMU virt): the same expected logs, so the
/// same bits as the host and the Cortex-M.
fn riscv(fw: &Path) -> Result<()> {
    let features = riscv_features();
    for verb in [&["run", "--bin", "demo"][..], &["test"][..]] {
        let mut args = verb.to_vec();
        args.extend([
            "--release",
            "--target",
            RISCV.0,
            "--no-default-features",
            "--features",
            &features,
        ]);
        run(fw, "cargo", &args)?;
    }
    Ok(())
}

/// The `serial` firmware under QEMU, driven over its UART by `trainer device`:
/// `trainer/tests/device_qemu.rs`, which starts QEMU itself (on the Cortex-M4F, then on
/// RISC-V), and `device_qemu_user.rs`, which also builds the firmware (and the nRF52840 DK's)
/// around a model of its own (PLAID's int8 model, 256 inputs; Cortex-M4F only). `--workspace`
/// keeps the feature set of `cargo test --workspace`, so nothing is rebuilt after it.
pub fn serial_end_to_end(root: &Path) -> Result<()> {
    let (triple, _) = MACHINES[0];
    let riscv_features = riscv_features();
    let builds: [(&str, &[&str], &[&str]); 2] = [
        (triple, &[], &["device_qemu", "device_qemu_user"]),
        (
            RISCV.0,
            &["--no-default-features", "--features", &riscv_features],
            &["device_qemu"],
        ),
    ];
    for (triple, features, tests) in builds {
        let mut args = vec!["build", "--release", "--bin", "serial", "--target", triple];
        args.extend(features);
        run(&firmware_dir(root), "cargo", &args)?;
        let elf = release_elf(root, triple, "serial");
        let elf = elf.to_string_lossy();
        let mut args = vec!["test", "--workspace"];
        for test in tests {
            args.extend(["--test", test]);
        }
        args.extend(["--", "--ignored"]);
        run_with(root, "cargo", &args, &[("FEWSHOT_SERIAL_ELF", &elf)])?;
    }
    Ok(())
}

/// `cargo qemu` / `cargo xtask demo [TARGET]`: the demo in release, on M4F
/// unless a target triple is given.
pub fn demo(root: &Path, args: &[String]) -> Result<()> {
    let triple = args.first().map(String::as_str).unwrap_or(MACHINES[0].0);
    demo_cargo(&firmware_dir(root), "run", triple)
}

/// `cargo VERB --release --bin demo --target TRIPLE --features FEATURES` in `fw`: the demo as
/// CI runs it and the size check measures it.
fn demo_cargo(fw: &Path, verb: &str, triple: &str) -> Result<()> {
    run(
        fw,
        "cargo",
        &[
            verb,
            "--release",
            "--bin",
            "demo",
            "--target",
            triple,
            "--features",
            FEATURES,
        ],
    )
}

/// The firmware's target folder (its cargo runs in `firmware/`).
fn firmware_target(root: &Path) -> PathBuf {
    target_dir(&firmware_dir(root))
}

/// The target folder of cargo run in `dir`: `CARGO_TARGET_DIR` when set (relative to `dir`),
/// else `dir/target`.
pub(crate) fn target_dir(dir: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => dir.join(t),
        None => dir.join("target"),
    }
}

fn release_elf(root: &Path, triple: &str, bin: &str) -> PathBuf {
    firmware_target(root).join(triple).join("release").join(bin)
}

pub(crate) fn read_elf(path: &Path) -> Result<Elf> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Elf::parse(&bytes).with_context(|| format!("cannot parse {}", path.display()))
}

/// Parses the snapshot: lines `TRIPLE BIN .text BYTES`, `#` comments.
fn read_snapshot(path: &Path) -> Result<Vec<(String, String, u64)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [triple, bin, ".text", bytes] => {
                let bytes = bytes
                    .parse()
                    .with_context(|| format!("{}:{}: bad size {bytes}", path.display(), n + 1))?;
                out.push((triple.to_string(), bin.to_string(), bytes));
            }
            _ => bail!(
                "{}:{}: expected `TRIPLE BIN .text BYTES`",
                path.display(),
                n + 1
            ),
        }
    }
    Ok(out)
}

/// `cargo xtask size [--update]`.
pub fn size_command(root: &Path, args: &[String]) -> Result<()> {
    let update = args.iter().any(|a| a == "--update");
    for (triple, _) in MACHINES {
        demo_cargo(&firmware_dir(root), "build", triple)?;
    }
    size_check(root, update)
}

/// Fails when the demo's `.text` grew more than 5% over the committed
/// snapshot; `update` rewrites the snapshot instead. Needs the release demo
/// built for every target.
fn size_check(root: &Path, update: bool) -> Result<()> {
    let path = root.join(SNAPSHOT);
    if update {
        let mut text = String::from(
            "# `.text` bytes of the release demo firmware, checked by `cargo xtask ci`:\n\
             # it fails when `.text` grows by more than 5%. Rewrite with `cargo xtask size --update`.\n",
        );
        for (triple, _) in MACHINES {
            let elf = read_elf(&release_elf(root, triple, "demo"))?;
            text.push_str(&format!(
                "{triple} demo .text {}\n",
                elf.section_size(".text")
            ));
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("updated {}", path.display());
        return Ok(());
    }
    let mut failures = Vec::new();
    for (triple, bin, snap) in read_snapshot(&path)? {
        let elf = read_elf(&release_elf(root, &triple, &bin))?;
        let now = u64::from(elf.section_size(".text"));
        let limit = snap + snap * SIZE_TOLERANCE_PERCENT / 100;
        let change = (now as f64 - snap as f64) / (snap.max(1) as f64) * 100.0;
        eprintln!("size: {triple} {bin} .text {now} bytes (snapshot {snap}, {change:+.1}%, limit {limit})");
        if now > limit {
            failures.push(format!(
                "{triple} {bin}: .text {now} > {limit} (snapshot {snap} + {SIZE_TOLERANCE_PERCENT}%)"
            ));
        }
    }
    if !failures.is_empty() {
        bail!(
            "firmware .text grew beyond the snapshot: {}\n(if intended, run `cargo xtask size --update` and commit {SNAPSHOT})",
            failures.join("; ")
        );
    }
    Ok(())
}

/// `cargo xtask bench-firmware [--model PATH]`: runs the bench firmware under
/// `-icount shift=0` (it logs the instruction and stack table; with `--model`, then the
/// `bench_model` firmware on that model file, a user's: the rows of the presets' table for it),
/// then prints the flash/RAM split of the bench and demo ELFs.
pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let fw = firmware_dir(root);
    let mut triple = MACHINES[0].0;
    let mut model = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--model", Some(path)) => {
                let p = std::fs::canonicalize(path).with_context(|| format!("--model {path}"))?;
                model = Some(p.to_string_lossy().into_owned());
            }
            ("--target", Some(t)) => {
                triple = MACHINES
                    .iter()
                    .chain([&RISCV])
                    .map(|&(m, _)| m)
                    .find(|m| m == t)
                    .with_context(|| format!("no QEMU machine for --target {t}"))?;
            }
            _ => bail!(
                "usage: cargo xtask bench-firmware [--model PATH] [--target thumbv7em-none-eabihf|thumbv7m-none-eabi|{}]",
                RISCV.0
            ),
        }
    }
    let env: Vec<(&str, &str)> = model
        .iter()
        .map(|p| ("FEWSHOT_BENCH_MODEL", p.as_str()))
        .collect();
    // The bench and the demo need the `conv` and `audio-frontend` features (the f32
    // convolution, audio front-end and keyword rows; the demo's keyword part), as CI builds
    // them; the size probes are built without them. RISC-V builds without `mps2`.
    let riscv_features = riscv_features();
    let (features, probe_features): (&str, &[&str]) = if triple == RISCV.0 {
        (
            &riscv_features,
            &["--no-default-features", "--features", RISCV_FEATURES],
        )
    } else {
        (FEATURES, &[])
    };
    let mut bins = vec![
        "build",
        "--release",
        "--target",
        triple,
        "--bin",
        "bench",
        "--bin",
        "demo",
    ];
    if model.is_some() {
        bins.extend(["--bin", "bench_model"]);
    }
    if triple == RISCV.0 {
        bins.push("--no-default-features");
    }
    bins.extend(["--features", features]);
    run_with(&fw, "cargo", &bins, &env)?;
    let mut probes = probe_build(triple);
    probes.extend_from_slice(probe_features);
    run(&fw, "cargo", &probes)?;
    let elf = release_elf(root, triple, "bench");
    let (code, _) = run_qemu(&QemuRun {
        elf: elf.clone(),
        icount: true,
        timeout: Duration::from_secs(600),
    })?;
    if code != 0 {
        bail!("bench firmware exited with status {code}");
    }
    if let Some(path) = &model {
        let (code, _) = run_qemu(&QemuRun {
            elf: release_elf(root, triple, "bench_model"),
            icount: true,
            timeout: Duration::from_secs(600),
        })?;
        if code != 0 {
            bail!("your model {path} was not measured: the log above says why");
        }
    }
    println!();
    println!("| ELF ({triple}, release) | .text | .rodata | model bytes | runtime fns | .data | .bss | stack reserved |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for bin in ["demo", "bench"] {
        let e = read_elf(&release_elf(root, triple, bin))?;
        let model: u32 = e
            .symbols
            .iter()
            .filter(|s| s.kind == STT_OBJECT && s.name.contains("ALIGNED"))
            .map(|s| s.size)
            .sum();
        let runtime: u32 = e
            .symbols
            .iter()
            .filter(|s| s.kind == STT_FUNC && s.name.contains("fewshot_runtime"))
            .map(|s| s.size)
            .sum();
        let data = e.alloc_size(&[".data"], false);
        let bss = e.alloc_size(&[".bss", ".uninit"], true);
        println!(
            "| {bin} | {} | {} | {model} | {runtime} | {data} | {bss} | {} |",
            e.section_size(".text"),
            e.section_size(".rodata"),
            e.section_size(".stack")
        );
    }
    println!();
    println!("model bytes: objects embedded by include_model! (symbol ALIGNED); runtime fns: functions of fewshot_runtime left out-of-line after LTO (inlined code counts for its caller)");
    let with = read_elf(&release_elf(root, triple, "size_probe"))?.section_size(".text");
    let without = read_elf(&release_elf(root, triple, "size_baseline"))?.section_size(".text");
    println!(
        "runtime code (loader + inference + adaptation, both head kinds): {} bytes of .text \
         (size_probe {with} - size_baseline {without})",
        with.saturating_sub(without)
    );
    Ok(())
}
