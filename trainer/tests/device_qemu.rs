//! End to end over a serial line: the `serial` firmware under QEMU (mps2-an386), its UART0 on a
//! unix socket, driven by `trainer device`, and the same on `trainer device-sim` (the host's
//! simulated device, whose answers are compared with the firmware's). Push, adapt, classify, save; reboot the device
//! (`Reboot`: a core reset, the simulated flash stays, as a real part's flash stays through a
//! power cycle); the boot restores the saved state, which classifies again with the same
//! replies, bit for bit; a class
//! enrolled from a CSV into the head's class bank, classified by its label, saved, kept through
//! a reboot and forgotten; a signed model update, run after the next reboot; bad frames on the
//! raw line.
//!
//! Needs QEMU and the firmware ELF: `cargo xtask firmware` builds it and runs this test with
//! `FEWSHOT_SERIAL_ELF` set (it is `#[ignore]`d in a plain `cargo test`).

mod common;

use common::qemu::{device, device_on, ok, start_qemu, start_qemu_pty, start_sim, Sim};
use fewshot_protocol::{frame, DeviceError, Input, InputAction, Reply, Request, MAX_FRAME};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Rows of 8 features and a label 0-4: five clusters (shots `0..n` of each class).
fn write_csv(path: &Path, shots: std::ops::Range<usize>) {
    let mut text = String::from("# f1..f8, label\n");
    for c in 0..5 {
        for i in shots.clone() {
            let x: Vec<String> = (0..8)
                .map(|j| {
                    let v = if j % 5 == c { 3.0 } else { 0.0 } + 0.1 * ((i + j) % 3) as f64;
                    format!("{v}")
                })
                .collect();
            text += &format!("{},{c}\n", x.join(","));
        }
    }
    std::fs::write(path, text).expect("the CSV is written");
}

/// Rows of 8 features of a class the head was not exported with (every feature high), no label.
fn write_novel_csv(path: &Path, shots: std::ops::Range<usize>) {
    let mut text = String::from("# f1..f8 of a new class\n");
    for i in shots {
        let x: Vec<String> = (0..8)
            .map(|j| format!("{}", 2.0 + 0.1 * ((i + j) % 3) as f64))
            .collect();
        text += &(x.join(",") + "\n");
    }
    std::fs::write(path, text).expect("the CSV is written");
}

/// The labels `classify --enrolled` reports for `csv`.
fn enrolled_classes(socket: &Path, csv: &Path) -> Vec<Value> {
    ok(
        socket,
        &["classify", "--enrolled", "--csv", csv.to_str().unwrap()],
    )
}

/// Enroll class 100 from a CSV, classify held-out rows by it, save the bank, reboot (the boot
/// restores it) and classify again (the same replies), then forget it.
fn enroll_save_reboot_restore_forget(s: &Path, dir: &Path) {
    let (shots, held_out) = (dir.join("new-support.csv"), dir.join("new-query.csv"));
    write_novel_csv(&shots, 0..4);
    write_novel_csv(&held_out, 4..10);
    let labels = |s: &Path| ok(s, &["info"])[0]["Info"]["bank"]["labels"].clone();
    assert_eq!(labels(s), serde_json::json!([0, 1, 2, 3, 4]));
    let enrolled = ok(
        s,
        &["enroll", "--label", "100", "--csv", shots.to_str().unwrap()],
    );
    assert_eq!(
        enrolled.last().unwrap()["Bank"],
        serde_json::json!({"classes": 6, "capacity": 8})
    );
    assert_eq!(labels(s), serde_json::json!([0, 1, 2, 3, 4, 100]));
    let before = enrolled_classes(s, &held_out);
    let hits = before
        .iter()
        .filter(|r| r["Enrolled"]["class"] == 100)
        .count();
    assert!(
        hits * 2 > before.len(),
        "held-out rows of class 100: {before:?}"
    );
    assert_eq!(ok(s, &["save-bank"])[0]["Saved"]["sequence"], 1);

    assert_eq!(ok(s, &["reboot"])[0], "Done");
    assert_eq!(
        labels(s),
        serde_json::json!([0, 1, 2, 3, 4, 100]),
        "the boot restored the saved bank"
    );
    assert_eq!(
        enrolled_classes(s, &held_out),
        before,
        "the restored bank classifies as before the reboot"
    );
    assert_eq!(ok(s, &["restore-bank"])[0]["Restored"]["sequence"], 1);

    assert_eq!(
        ok(s, &["forget", "--label", "100"])[0]["Bank"]["classes"],
        5
    );
    assert_eq!(labels(s), serde_json::json!([0, 1, 2, 3, 4]));
    let after = enrolled_classes(s, &held_out);
    assert!(
        after.iter().all(|r| r["Enrolled"]["class"] != 100),
        "{after:?}"
    );
    let (again, accepted) = device(s, &["forget", "--label", "100"]);
    assert!(!accepted, "forgetting it twice is refused");
    assert_eq!(again[0]["Error"]["Runtime"]["kind"], "UnknownLabel");

    // Behind a margin no row can overcome, the same rows enrolled again answer nowhere.
    let margin = |s: &Path| ok(s, &["info"])[0]["Info"]["bank"]["margin"].clone();
    assert_eq!(margin(s), 0.0);
    ok(s, &["set-margin", "--margin", "1000000"]);
    assert_eq!(margin(s), 1_000_000.0);
    ok(
        s,
        &["enroll", "--label", "100", "--csv", shots.to_str().unwrap()],
    );
    let walled = enrolled_classes(s, &held_out);
    assert!(
        walled.iter().all(|r| r["Enrolled"]["class"] != 100),
        "{walled:?}"
    );
    ok(s, &["forget", "--label", "100"]);
    ok(s, &["set-margin", "--margin", "0"]);

    // A CSV of named classes (a header's `label` column): `--class` enrolls one class's rows.
    let named = dir.join("named.csv");
    let novel = std::fs::read_to_string(&shots).expect("the CSV is read");
    let mut text = String::from("f1,f2,f3,f4,f5,f6,f7,f8,label\n");
    for row in novel.lines().filter(|l| !l.starts_with('#')) {
        text += &format!(
            "{row},\"desk lamp\"\n{},fan\n",
            ["3", "0", "0", "0", "0", "3", "0", "0"].join(",")
        );
    }
    std::fs::write(&named, text).expect("the CSV is written");
    let enrolled = ok(
        s,
        &[
            "enroll",
            "--label",
            "101",
            "--csv",
            named.to_str().unwrap(),
            "--class",
            "desk lamp",
        ],
    );
    assert_eq!(enrolled.last().unwrap()["Bank"]["classes"], 6);
    let by_name = enrolled_classes(s, &held_out);
    assert_eq!(
        by_name
            .iter()
            .filter(|r| r["Enrolled"]["class"] == 101)
            .count(),
        hits,
        "the named rows are the same samples as class 100's: {by_name:?}"
    );
    // Rows labelled by name are scored through `--class-label`, and tallied per name.
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["device", "--socket"])
        .arg(s)
        .args(["classify", "--enrolled", "--csv"])
        .arg(&named)
        .args(["--class-label", "desk lamp=101"])
        .output()
        .expect("the trainer binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for line in [
        "class \"desk lamp\": answered 101 x4",
        "not scored (no --class-label NAME=LABEL): [\"fan\"]",
        "accuracy: 4/4 (100.0%)",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in {text}");
    }
    // Each answer carries its distances (class 101 came from 4 rows: a within-class
    // variance); above `--unknown-relative` a row is "unknown".
    assert!(
        by_name.iter().all(|r| r["Enrolled"]["relative_distance"]
            .as_f64()
            .is_some_and(|v| v >= 0.0)),
        "{by_name:?}"
    );
    let unknown = |threshold: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_trainer"))
            .args(["device", "--socket"])
            .arg(s)
            .args(["classify", "--enrolled", "--csv"])
            .arg(&named)
            .args([
                "--class-label",
                "desk lamp=101",
                "--unknown-relative",
                threshold,
            ])
            .output()
            .expect("the trainer binary runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let text = unknown("1e30");
    assert!(text.contains("\"desk lamp\": answered 101 x4"), "{text}");
    // The lamp's own rows lie off their mean: at 0 every row is unknown.
    let text = unknown("0");
    assert!(
        text.contains("\"desk lamp\": answered unknown x4") && text.contains("accuracy: 0/4"),
        "{text}"
    );
    // `push` sends rows labelled by name under the labels `--class-label` gives them, and
    // refuses a name without one.
    let named_csv = named.to_str().unwrap();
    let e = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["device", "--socket"])
        .arg(s)
        .args(["push", "--csv", named_csv])
        .output()
        .expect("the trainer binary runs");
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(
        !e.status.success() && err.contains("--class-label \"desk lamp=N\""),
        "{err}"
    );
    ok(s, &["clear"]);
    let pushed = ok(
        s,
        &[
            "push",
            "--csv",
            named_csv,
            "--class-label",
            "desk lamp=0",
            "--class-label",
            "fan=1",
        ],
    );
    assert_eq!(pushed.len(), 8, "{pushed:?}");
    ok(s, &["clear"]);
    assert_eq!(
        ok(s, &["forget", "--label", "101"])[0]["Bank"]["classes"],
        5
    );
}

/// Garbage, then a frame too long: one error reply each, raw on the line.
fn bad_frames(socket: &Path) {
    let mut s = UnixStream::connect(socket).expect("the socket connects");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut garbage = vec![0u8, 0x09, 0x01, 0x02, 0x00];
    garbage.extend(vec![0x55; 2 * MAX_FRAME]);
    garbage.push(0);
    s.write_all(&garbage).unwrap();
    let want = [
        Reply::Error(DeviceError::BadFrame { len: 3 }),
        Reply::Error(DeviceError::FrameTooLong {
            max: MAX_FRAME as u16,
        }),
    ];
    for w in want {
        assert_eq!(read_reply(&mut s), w);
    }
}

/// One request on the raw line, its reply.
fn raw_ask(s: &mut UnixStream, request: &Request) -> Reply {
    let mut buf = [0u8; MAX_FRAME];
    s.write_all(frame::encode(request, &mut buf).unwrap())
        .unwrap();
    read_reply(s)
}

/// The next reply frame on the raw line.
fn read_reply(s: &mut UnixStream) -> Reply {
    let mut f = Vec::new();
    let mut b = [0u8; 1];
    while f.last() != Some(&0) {
        s.read_exact(&mut b).expect("a reply");
        f.push(b[0]);
    }
    frame::decode::<Reply>(&mut f).unwrap()
}

/// An input staged in two chunks is answered as the same input sent inline (the path of
/// inputs wider than a frame; the host's side is `tests/device_staged.rs`).
fn staged_input(socket: &Path) {
    let mut s = UnixStream::connect(socket).expect("the socket connects");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let x: Vec<f32> = (0..8).map(|j| if j == 2 { 3.0 } else { 0.1 }).collect();
    let inline = raw_ask(
        &mut s,
        &Request::ClassifyEnrolled {
            x: Input::from_slice(&x).unwrap(),
        },
    );
    assert!(
        matches!(inline, Reply::Enrolled { class: 2, .. }),
        "{inline:?}"
    );
    for (offset, part) in [(0u16, &x[..5]), (5, &x[5..])] {
        let chunk = Request::StageInput {
            offset,
            values: Input::from_slice(part).unwrap(),
        };
        let staged = offset + part.len() as u16;
        assert_eq!(raw_ask(&mut s, &chunk), Reply::Staged { staged, width: 8 });
    }
    let action = Request::WithStaged(InputAction::ClassifyEnrolled);
    assert_eq!(raw_ask(&mut s, &action), inline);
}

/// The serial firmware's ELF (`cargo xtask firmware` sets `FEWSHOT_SERIAL_ELF`).
fn serial_elf() -> PathBuf {
    PathBuf::from(
        std::env::var_os("FEWSHOT_SERIAL_ELF")
            .expect("FEWSHOT_SERIAL_ELF: the serial firmware's ELF (cargo xtask firmware)"),
    )
}

/// A fresh folder `fewshot-<name>-<pid>` in the temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fewshot-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Support rows 0..4 and query rows 4..7 of each of the five classes, in `dir`.
fn support_and_query(dir: &Path) -> (PathBuf, PathBuf) {
    let (support, query) = (dir.join("support.csv"), dir.join("query.csv"));
    write_csv(&support, 0..4);
    write_csv(&query, 4..7);
    (support, query)
}

/// Push the support rows, adapt, classify the query rows: the replies.
fn adapted_answers(s: &Path, support: &Path, query: &Path) -> Vec<Value> {
    let pushed = ok(s, &["push", "--csv", support.to_str().unwrap()]);
    assert_eq!(pushed.len(), 20);
    assert_eq!(pushed[19]["Samples"]["stored"], 20);
    let adapted = ok(s, &["adapt"]);
    assert_eq!(adapted[0]["Adapted"]["steps"], 3);
    ok(s, &["classify", "--csv", query.to_str().unwrap()])
}

/// What the `serial` firmware and `trainer device-sim` are both asked, on the device at
/// `s` serving head 1 of the multi-head fixture: push, adapt, classify, save, reboot,
/// restore; enroll, save, reboot, restore, forget; a signed update run after a reboot; bad
/// frames and a staged input. `buffer`: the support buffer's capacity, filled and refused
/// past when it is the firmware's 20. Returns the first classification's replies.
fn scenario(s: &Path, dir: &Path, buffer: usize) -> Vec<Value> {
    let (support, query) = support_and_query(dir);
    let info = ok(s, &["info"]);
    assert_eq!(info[0]["Info"]["model_name"], "multihead-fixture");
    assert_eq!(info[0]["Info"]["input_len"], 8);
    assert_eq!(info[0]["Info"]["max_samples"], buffer);
    let before = adapted_answers(s, &support, &query);
    for (i, r) in before.iter().enumerate() {
        assert_eq!(r["Class"]["class"], i / 3, "query {i}: {r}");
    }
    if buffer == 20 {
        let (full, accepted) = device(s, &["push", "--csv", query.to_str().unwrap()]);
        assert!(!accepted, "a full buffer is refused");
        assert_eq!(full[0]["Error"]["Runtime"]["kind"], "SupportSetFull");
    }
    assert_eq!(ok(s, &["save"])[0]["Saved"]["sequence"], 1);

    assert_eq!(ok(s, &["reboot"])[0], "Done");
    // The boot restored the saved state: it classifies as before the reboot, and `restore`
    // finds the same record.
    let after = ok(s, &["classify", "--csv", query.to_str().unwrap()]);
    assert_eq!(
        after, before,
        "the state restored at boot classifies as before the reboot"
    );
    assert_eq!(ok(s, &["restore"])[0]["Restored"]["sequence"], 1);
    // `reset` goes back to the meta-learned start: a prototype head has no classes before a
    // support set.
    assert_eq!(ok(s, &["reset"])[0], "Done");
    let (fresh, accepted) = device(s, &["classify", "--csv", query.to_str().unwrap()]);
    assert!(!accepted, "{fresh:?}");
    assert_eq!(fresh[0]["Error"]["Runtime"]["kind"], "NoClassEnrolled");
    assert_eq!(ok(s, &["restore"])[0]["Restored"]["sequence"], 1);
    assert_eq!(
        ok(s, &["classify", "--csv", query.to_str().unwrap()]),
        before
    );
    enroll_save_reboot_restore_forget(s, dir);

    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/fixtures/update-v1.signed");
    let installed = ok(s, &["update", "--envelope", v1.to_str().unwrap()]);
    assert_eq!(installed[0]["UpdateStarted"]["slot"], 0);
    assert_eq!(installed[1]["UpdateInstalled"]["model_version"], 1);
    let (again, accepted) = device(s, &["update", "--envelope", v1.to_str().unwrap()]);
    assert!(!accepted, "re-installing version 1 is refused");
    assert_eq!(
        again.last().unwrap()["Error"]["Runtime"]["kind"],
        "Rollback"
    );
    // After a reboot the device runs the installed update, not its built-in model.
    assert_eq!(ok(s, &["reboot"])[0], "Done");
    let info = ok(s, &["info"]);
    assert_eq!(info[0]["Info"]["model_name"], "multihead-update");
    assert_eq!(info[0]["Info"]["installed"]["model_version"], 1);
    assert_eq!(
        info[0]["Info"]["served_slot"], 0,
        "read in place from slot 0"
    );
    bad_frames(s);
    staged_input(s);
    assert_eq!(
        ok(s, &["info"])[0]["Info"]["model_name"],
        "multihead-update"
    );
    before
}

/// `trainer device-sim` on the fixture's head 1, updates signed with the fixtures' key.
fn start_fixture_sim(socket: &Path) -> Sim {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/fixtures");
    start_sim(
        &fixtures.join("multihead.fsm"),
        1,
        &fixtures.join("test-signing.pub"),
        socket,
    )
}

#[test]
#[ignore = "needs QEMU and the serial firmware: run by `cargo xtask firmware`"]
fn push_adapt_classify_save_reboot_restore_enroll_update() {
    let (elf, dir) = (serial_elf(), scratch("serial"));
    let (socket, log) = (dir.join("uart0.sock"), dir.join("defmt.bin"));
    let _ = std::fs::remove_file(&socket);
    let started = Instant::now();
    let qemu = start_qemu(&elf, &socket, &log);
    let on_device = scenario(&socket, &dir, 20);
    eprintln!(
        "end to end over QEMU's UART: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(qemu);

    // The host's simulator answers as the firmware, bit for bit: probabilities included.
    let (support, query) = support_and_query(&dir);
    let sim_socket = dir.join("sim.sock");
    let _sim = start_fixture_sim(&sim_socket);
    let on_host = adapted_answers(&sim_socket, &support, &query);
    assert_eq!(on_host, on_device, "device-sim and the serial firmware");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same scenario on `trainer device-sim` (its buffer: 256 samples).
#[test]
fn the_host_simulator_serves_the_scenario() {
    let dir = scratch("sim");
    let socket = dir.join("sim.sock");
    let _sim = start_fixture_sim(&socket);
    let answers = scenario(&socket, &dir, 256);
    assert_eq!(answers.len(), 15);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The host's serial-port path (`--port`, the `serialport` crate, as for a board's USB serial
/// port) on QEMU's UART0 as a pseudo-terminal: info, push, adapt and classify.
#[test]
#[ignore = "needs QEMU and the serial firmware: run by `cargo xtask firmware`"]
fn the_serial_port_path_on_a_pseudo_terminal() {
    let (elf, dir) = (serial_elf(), scratch("pty"));
    let (support, query) = (dir.join("support.csv"), dir.join("query.csv"));
    write_csv(&support, 0..3);
    write_csv(&query, 4..6);
    let pty = dir.join("uart0.pty");
    let _qemu = start_qemu_pty(&elf, &pty, &dir.join("defmt.bin"));
    let pty = pty.to_str().unwrap();
    let port = ["--port", pty];
    let ok = |args: &[&str]| {
        let (replies, success) = device_on(&port, args);
        assert!(success, "trainer device --port {pty} {args:?}: {replies:?}");
        replies
    };
    assert_eq!(ok(&["info"])[0]["Info"]["input_len"], 8);
    let pushed = ok(&["push", "--csv", support.to_str().unwrap()]);
    assert_eq!(pushed.last().unwrap()["Samples"]["stored"], 15);
    assert_eq!(ok(&["adapt"])[0]["Adapted"]["steps"], 3);
    let classified = ok(&["classify", "--csv", query.to_str().unwrap()]);
    for (i, r) in classified.iter().enumerate() {
        assert_eq!(r["Class"]["class"], i / 2, "query {i}: {r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
