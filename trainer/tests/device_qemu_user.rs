//! A model of the user's own over the serial line, as the README's "Your model over the serial
//! protocol" builds it: the shipped PLAID int8 model (current signatures, 256 inputs) exported
//! with a class bank (`export --max-classes`), its sizes written by `inspect --rust --device`,
//! the `serial` firmware built around both (`FEWSHOT_SERIAL_MODEL`, `FEWSHOT_SERIAL_SIZES`) and
//! run under QEMU. Five appliances the model never saw are enrolled from CSV rows of
//! `data/plaid.csv.gz` (each row staged in chunks: wider than a request carries), held-out rows
//! classified by their labels: every answer bit-equal to the runtime's `ClassBank` on the host,
//! and the same after saving the bank, a reboot and restoring it.
//!
//! Needs QEMU and the firmware's toolchain: `cargo xtask firmware` runs it (`#[ignore]`d in a
//! plain `cargo test`). It builds the firmware in `firmware/target/serial-user`, and the
//! nRF52840 DK's firmware around the same model in `boards/target/serial-user`.

mod common;

use common::qemu::{ok, start_qemu};
use common::{bin, run};
use runtime::{ClassBank, Model};
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// PLAID's appliance classes the model was not trained on (`trainer/configs/plaid_conv1d.toml`).
const NOVEL: [u16; 5] = [3, 5, 8, 9, 10];
/// Support rows per enrolled class (the device's buffer, `--k`).
const SHOTS: usize = 5;
/// Held-out rows per class.
const HELD_OUT: usize = 10;

/// A row: its 256 values and its class.
type Row = (Vec<f32>, u16);

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// PLAID's rows (256 values, then the class) by class, in file order.
fn plaid_rows() -> Vec<Row> {
    let file = std::fs::File::open(root().join("data/plaid.csv.gz")).unwrap();
    let lines = std::io::BufReader::new(flate2::read::GzDecoder::new(file)).lines();
    lines
        .map(|l| {
            let l = l.unwrap();
            let (x, c) = l.rsplit_once(',').unwrap();
            let x = x.split(',').map(|v| v.parse().unwrap()).collect();
            (x, c.trim().parse().unwrap())
        })
        .collect()
}

/// The first `SHOTS` rows of each novel class into `support`, the next `HELD_OUT` into `query`;
/// the same rows, for the host's bank.
fn write_csvs(support: &Path, query: &Path) -> (Vec<Row>, Vec<Row>) {
    let rows = plaid_rows();
    let (mut s, mut q) = (Vec::new(), Vec::new());
    for c in NOVEL {
        let of: Vec<_> = rows.iter().filter(|r| r.1 == c).cloned().collect();
        s.extend(of[..SHOTS].iter().cloned());
        q.extend(of[SHOTS..SHOTS + HELD_OUT].iter().cloned());
    }
    let csv = |rows: &[Row]| -> String {
        rows.iter()
            .map(|(x, c)| {
                let x: Vec<String> = x.iter().map(|v| v.to_string()).collect();
                format!("{},{c}\n", x.join(","))
            })
            .collect()
    };
    std::fs::write(support, csv(&s)).unwrap();
    std::fs::write(query, csv(&q)).unwrap();
    (s, q)
}

/// A fresh folder in the temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fewshot-user-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The user's model in `dir`, as the README makes it: the PLAID int8 model exported with a
/// bank of 40 classes (a record of 5 948 bytes: more than `Layout::SMALL`'s 4 KiB slots, so the
/// firmware's flash layout must be the one made for the model's records), and its sizes for
/// `SHOTS` samples with the protocol's `Device`.
fn users_model(dir: &Path) -> (PathBuf, PathBuf) {
    let (model, sizes) = (dir.join("plaid.postcard"), dir.join("plaid_sizes.rs"));
    let m = export_with_bank(40, &model);
    let k = SHOTS.to_string();
    let text = trainer(&["inspect", m, "--rust", "--head", "0", "--k", &k, "--device"]);
    std::fs::write(&sizes, text).unwrap();
    (model, sizes)
}

/// The shipped PLAID int8 model exported to `out` with a bank of `classes` (`export
/// --max-classes`); `out` as a string.
fn export_with_bank(classes: u16, out: &Path) -> &str {
    let (c, m) = (classes.to_string(), out.to_str().unwrap());
    trainer(&[
        "export",
        "models/plaid_conv1d_int8.postcard",
        "--head",
        "0",
        "--max-classes",
        &c,
        "--out",
        m,
    ]);
    m
}

/// `cargo build --release ARGS` in `dir` (a crate of its own workspace) with the user's model
/// and sizes, into `target` (the default builds' folders stay the fixture's): its output.
fn cargo_build(dir: &Path, (model, sizes): (&Path, &Path), target: &Path, args: &[&str]) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env("FEWSHOT_SERIAL_MODEL", model)
        .env("FEWSHOT_SERIAL_SIZES", sizes)
        .args(["build", "--release"])
        .args(args)
        .arg("--target-dir")
        .arg(target)
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// [`cargo_build`], which must succeed.
fn build_with_model(dir: &Path, model_sizes: (&Path, &Path), target: &Path, args: &[&str]) {
    let o = cargo_build(dir, model_sizes, target, args);
    assert!(
        o.status.success(),
        "{} builds around {}: {}",
        dir.display(),
        model_sizes.0.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `trainer ARGS`, which must succeed; its stdout.
fn trainer(args: &[&str]) -> Vec<u8> {
    let o = run(bin().current_dir(root()).args(args));
    assert!(
        o.status.success(),
        "trainer {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// The `serial` firmware's build: its folder, its target folder (its own) and arguments.
fn serial_build() -> (PathBuf, PathBuf, [&'static str; 6]) {
    let fw = root().join("firmware");
    let target = fw.join("target").join("serial-user");
    let args = [
        "--bin",
        "serial",
        "--features",
        "conv",
        "--target",
        "thumbv7em-none-eabihf",
    ];
    (fw, target, args)
}

/// The `serial` firmware around `model` and `sizes`, built in its own target folder.
fn build_firmware(model: &Path, sizes: &Path) -> PathBuf {
    let (fw, target, args) = serial_build();
    build_with_model(&fw, (model, sizes), &target, &args);
    target.join("thumbv7em-none-eabihf/release/serial")
}

/// The host's answers: the runtime's bank on the same model, the novel classes enrolled from
/// the same rows, each query scored.
fn host_answers(model: &Path, support: &[Row], query: &[Row]) -> Vec<Value> {
    let blob = runtime::format::AlignedBytes::read(model).unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut bank = Box::new(ClassBank::<'_, 2048, 8192>::from_head(&model, 0).unwrap());
    // The head starts from prototypes: its exported rows are placeholders, left out.
    assert_eq!(bank.labels().count(), 0);
    for c in NOVEL {
        let x: Vec<f32> = support
            .iter()
            .filter(|r| r.1 == c)
            .flat_map(|r| r.0.clone())
            .collect();
        bank.enroll(c, &x).unwrap();
    }
    query
        .iter()
        .map(|(x, _)| {
            let s = bank.score(x).unwrap();
            serde_json::json!({"Enrolled": {"class": s.label, "score": s.probability,
                "distance": s.distance, "relative_distance": s.relative_distance}})
        })
        .collect()
}

#[test]
#[ignore = "needs QEMU and the firmware toolchain: run by `cargo xtask firmware`"]
fn a_users_model_of_256_inputs_enrolls_appliances_over_the_uart() {
    let dir = scratch("qemu");
    let (model, sizes) = users_model(&dir);
    let elf = build_firmware(&model, &sizes);
    let (support, query) = (dir.join("support.csv"), dir.join("query.csv"));
    let (support_rows, query_rows) = write_csvs(&support, &query);

    let (socket, log) = (dir.join("uart0.sock"), dir.join("defmt.bin"));
    let _ = std::fs::remove_file(&socket);
    let qemu = start_qemu(&elf, &socket, &log);
    let s = socket.as_path();
    let info = &ok(s, &["info"])[0]["Info"];
    assert_eq!(info["model_name"], "plaid_conv1d_int8");
    assert_eq!(info["input_len"], 256);
    assert_eq!(info["bank"]["labels"], serde_json::json!([]));
    for c in NOVEL {
        let (c, csv) = (c.to_string(), support.to_str().unwrap());
        let enrolled = ok(s, &["enroll", "--label", &c, "--csv", csv, "--class", &c]);
        assert_eq!(
            enrolled.len(),
            2 + SHOTS,
            "clear, {SHOTS} rows, enroll: {enrolled:?}"
        );
    }
    let classify = ["classify", "--enrolled", "--csv", query.to_str().unwrap()];
    let answers = ok(s, &classify);
    let want = host_answers(&model, &support_rows, &query_rows);
    assert_eq!(
        answers, want,
        "the device answers as the runtime on the host"
    );
    let right = answers
        .iter()
        .zip(&query_rows)
        .filter(|(a, q)| a["Enrolled"]["class"] == q.1)
        .count();
    eprintln!(
        "PLAID novel appliances over the UART, 5-way {SHOTS}-shot: {right} of {} right",
        query_rows.len()
    );
    assert!(
        right * 5 > 2 * query_rows.len(),
        "well above chance (1 in 5): {right}"
    );

    ok(s, &["save-bank"]);
    assert_eq!(ok(s, &["reboot"])[0], "Done");
    ok(s, &["restore-bank"]);
    assert_eq!(
        ok(s, &classify),
        want,
        "the restored bank answers as before the reboot"
    );
    update_to_another_export(s, &dir);
    // Each reboot logged its stack peak, within what the firmware's RAM check allows
    // (`STACK_NEEDED` in `serial.rs`; the second session verified a signed update).
    let text = qemu.stop_and_read_log(&elf, &log);
    let peaks: Vec<u32> = text
        .lines()
        .filter_map(|l| {
            l.split("stack peak ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(peaks.len(), 2, "two reboots: {text}");
    assert!(peaks.iter().all(|&p| p <= 20 * 1024), "{peaks:?}");
    assert!(!text.contains("peaked above"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fixtures' signing seed (`tests/tests/signed_fixtures.rs`): the key whose public half
/// the firmware compiles in.
const TEST_SEED: &[u8; 32] = b"fewshot firmware TEST key 000001";

/// A model update of the user's size: the same model exported with a bank of 30 (7 KB, other
/// bytes), signed as version 2 with `trainer sign`, sent in chunks with `trainer device
/// update` into a model slot of the sizes' `UPDATE_BYTES`, and served in place from that slot
/// after a reboot.
fn update_to_another_export(s: &Path, dir: &Path) {
    let (model, key) = (dir.join("update.postcard"), dir.join("test.secret"));
    let m = export_with_bank(30, &model);
    std::fs::write(&key, TEST_SEED).unwrap();
    let signed = dir.join("update.signed");
    trainer(
        &["sign", m, "--key", key.to_str().unwrap(), "--version", "2"]
            .into_iter()
            .chain(["--out", signed.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    let sent = ok(s, &["update", "--envelope", signed.to_str().unwrap()]);
    assert_eq!(sent.last().unwrap()["UpdateInstalled"]["model_version"], 2);
    assert_eq!(ok(s, &["reboot"])[0], "Done");
    let info = &ok(s, &["info"])[0]["Info"];
    assert_eq!(info["installed"]["model_version"], 2);
    assert_eq!(
        info["bank"]["capacity"], 30,
        "the update's bank, not the built-in one's 40"
    );
}

/// Sizes that do not fit fail the build, naming what to change: a bank of 64 classes at
/// K = 30 needs more than the 64 KiB of RAM the `serial` firmware stands for, and updates of
/// 300 000 bytes more flash than its simulated NOR.
#[test]
#[ignore = "needs the firmware's toolchain: run by `cargo xtask firmware`"]
fn sizes_that_do_not_fit_fail_the_build() {
    let dir = scratch("too-large");
    let model = dir.join("plaid.postcard");
    let m = export_with_bank(64, &model);
    let inspect = ["inspect", m, "--rust", "--head", "0", "--device"];
    let cases = [
        (&["--k", "30"][..], "needs more than the 64 KiB of RAM"),
        (
            &["--k", "5", "--update-bytes", "300000"][..],
            "more flash than the simulated NOR",
        ),
    ];
    for (i, (args, message)) in cases.into_iter().enumerate() {
        let sizes = dir.join(format!("sizes{i}.rs"));
        let text = trainer(&[&inspect[..], args].concat());
        std::fs::write(&sizes, text).unwrap();
        let (fw, target, build) = serial_build();
        let o = cargo_build(&fw, (&model, &sizes), &target, &build);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} built");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The real boards take the same model the same way: the nRF52840 DK's firmware builds around
/// it (`--features conv,int8` passed through to the runtime; without int8 the build fails,
/// `check_features`). Built, not run: no board is attached.
#[test]
#[ignore = "needs the boards' toolchain: run by `cargo xtask firmware`"]
fn a_board_firmware_builds_around_the_same_model() {
    let dir = scratch("board");
    let (model, sizes) = users_model(&dir);
    let boards = root().join("boards");
    let target = boards.join("target").join("serial-user");
    let args = ["-p", "nrf52840-dk", "--features", "conv,int8"];
    build_with_model(&boards, (&model, &sizes), &target, &args);
    let elf = target.join("thumbv7em-none-eabihf/release/nrf52840-dk");
    let bytes = std::fs::read(&elf).expect("the board's ELF");
    let name = b"plaid_conv1d_int8";
    assert!(
        bytes.windows(name.len()).any(|w| w == name),
        "the board embeds the user's model"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
