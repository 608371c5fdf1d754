//! `trainer device` with inputs wider than one request carries (`MAX_INPUT`, 64 values): a
//! device served on the host (the protocol's `Device` on a unix socket, as QEMU's UART would be)
//! for a model of 200 inputs, a sensor window. `push`, `adapt`, `classify`, `enroll` and
//! `classify --enrolled` stage each row in chunks; a device of an older protocol (3 could not
//! stage) is refused naming both versions.

use fewshot_protocol::device::{Device, Handler, Layout, RamFlash, Session};
use fewshot_protocol::{Reply, Request};
use runtime::signature::PublicKey;
use runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use runtime::{Activation, AdaptScope, Model};
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Inputs: a window of 200 values, four bands of 50.
const W: usize = 200;
const BANDS: usize = 4;
/// Room for either model below: 15 adapted parameters, 2 targets a sample, a bank of 45.
type Dev = Device<'static, RamFlash<40960>, 15, 512, 4, 16, W, 2, 45>;

/// 200 -> 4 (tanh: each feature a band's mean) -> a 3-class prototype head, up to 5 classes.
fn model() -> &'static Model<'static> {
    let band = W / BANDS;
    let weights = (0..BANDS * W)
        .map(|i| if (i % W) / band == i / W { 0.02 } else { 0.0 })
        .collect();
    let trunk = Dense::new(W, BANDS, Activation::Tanh, weights, vec![0.0; BANDS]);
    let adapt =
        AdaptDef::new(AdaptScope::HeadOnly, 3, RateDef::Scalar(0.1), 10.0).with_prototypes(2.0);
    let head = HeadDef::classification(
        0,
        "window",
        vec![Dense::zeros(BANDS, 3, Activation::Identity)],
    )
    .with_adapt(adapt)
    .with_max_classes(5);
    let def = ModelDef::new("window-200", W).trunk(trunk).head(head);
    let blob = Box::leak(Box::new(def.to_aligned_bytes().unwrap()));
    Box::leak(Box::new(Model::from_bytes(blob.as_bytes()).unwrap()))
}

/// The device, answering `Info` as protocol `version`.
struct Served {
    device: Dev,
    version: u16,
}

impl Handler for Served {
    fn handle(&mut self, request: &Request) -> Reply {
        match self.device.handle(request) {
            Reply::Info(mut i) => {
                i.protocol_version = self.version;
                Reply::Info(i)
            }
            r => r,
        }
    }
}

/// Serves a fresh device on a socket in `dir`, one connection after another (each `trainer
/// device` command connects once), for as long as the test runs.
fn serve(dir: &Path, model: &'static Model<'static>, version: u16) -> PathBuf {
    let socket = dir.join(format!("{}-v{version}.sock", model.name()));
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).unwrap();
    answer(model, version, move || listener.accept().map(|(s, _)| s));
    socket
}

/// Serves a fresh device on a TCP port of 127.0.0.1 (as QEMU's `-chardev socket,host=..,
/// port=..`), one connection after another; its address.
fn serve_tcp(model: &'static Model<'static>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let version = fewshot_protocol::PROTOCOL_VERSION;
    answer(model, version, move || listener.accept().map(|(s, _)| s));
    addr
}

/// A thread that answers the connections `accept` gives, one after another, with a fresh
/// device answering `Info` as protocol `version`.
fn answer<S: Read + Write>(
    model: &'static Model<'static>,
    version: u16,
    mut accept: impl FnMut() -> std::io::Result<S> + Send + 'static,
) {
    let key = PublicKey::from_bytes([7; 32]);
    let device = Device::new(model, 0, RamFlash::new(), &Layout::SMALL, key).unwrap();
    let mut served = Served { device, version };
    std::thread::spawn(move || {
        let mut session = Session::new();
        while let Ok(mut stream) = accept() {
            let mut byte = [0u8; 1];
            while let Ok(1) = stream.read(&mut byte) {
                if let Some(a) = session.feed(&mut served, byte[0]) {
                    if stream.write_all(a.frame).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// `trainer device --socket S ARGS`: stdout, stderr, success.
fn device(socket: &Path, args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["device", "--socket"])
        .arg(socket)
        .args(args)
        .output()
        .expect("the trainer binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (text(&out.stdout), text(&out.stderr), out.status.success())
}

fn ok(socket: &Path, args: &[&str]) -> String {
    let (out, err, success) = device(socket, args);
    assert!(success, "trainer device {args:?}: {out}\n{err}");
    out
}

/// A CSV of windows (band `class` high) labelled `class`, shots `shots` of each class.
fn windows(path: &Path, classes: &[usize], shots: std::ops::Range<usize>) {
    let band = W / BANDS;
    let mut text = String::new();
    for &c in classes {
        for i in shots.clone() {
            let x: Vec<String> = (0..W)
                .map(|j| {
                    let v = if j / band == c { 40.0 } else { 0.0 } + ((i * 7 + j) % 5) as f64;
                    format!("{v}")
                })
                .collect();
            text += &format!("{},{c}\n", x.join(","));
        }
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn wide_rows_are_staged_by_every_command_that_sends_an_input() {
    let dir = std::env::temp_dir().join(format!("fewshot-staged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = serve(&dir, model(), fewshot_protocol::PROTOCOL_VERSION);
    let (support, query) = (dir.join("support.csv"), dir.join("query.csv"));
    windows(&support, &[0, 1, 2], 0..3);
    windows(&query, &[0, 1, 2], 3..6);
    let info = ok(&s, &["info"]);
    assert!(info.contains("200 inputs"), "{info}");
    assert!(info.contains("adapts for at most 3 steps"), "{info}");
    // The same device over TCP.
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["device", "--tcp", &serve_tcp(model()), "info"])
        .output()
        .unwrap();
    let tcp = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && tcp.contains("200 inputs"), "{tcp}");
    let pushed = ok(&s, &["push", "--csv", support.to_str().unwrap()]);
    assert_eq!(pushed.lines().last(), Some("samples: 9 of 16"), "{pushed}");
    ok(&s, &["adapt"]);
    let classified = ok(&s, &["classify", "--csv", query.to_str().unwrap()]);
    assert!(
        classified.contains("accuracy: 9/9 (100.0%)"),
        "{classified}"
    );
    let infer = ok(&s, &["infer", "--csv", query.to_str().unwrap()]);
    assert_eq!(
        infer.lines().filter(|l| l.starts_with("outputs: ")).count(),
        9
    );

    // A class enrolled from wide rows (band 3), classified by its label.
    let (new, new_query) = (dir.join("new.csv"), dir.join("new-query.csv"));
    windows(&new, &[3], 0..4);
    windows(&new_query, &[3], 4..8);
    let enrolled = ok(
        &s,
        &["enroll", "--label", "30", "--csv", new.to_str().unwrap()],
    );
    // The head's rows are zeros (placeholders for the prototype start): the bank started
    // empty.
    assert_eq!(
        enrolled.lines().last(),
        Some("class bank: 1 of 5 classes"),
        "{enrolled}"
    );
    let by_bank = ok(
        &s,
        &[
            "classify",
            "--enrolled",
            "--csv",
            new_query.to_str().unwrap(),
            "--class-label",
            "3=30",
        ],
    );
    assert_eq!(
        by_bank
            .lines()
            .filter(|l| l.starts_with("class 30 "))
            .count(),
        4,
        "{by_bank}"
    );
    // The CSV's numeric class 3 is the device's 30 (`--class-label 3=30`): scored as such.
    assert!(by_bank.contains("accuracy: 4/4 (100.0%)"), "{by_bank}");

    // A device of an older protocol (3 could not stage): refused before any row is sent,
    // saying why; `info` still describes it.
    let old = serve(&dir, model(), 3);
    let (_, err, success) = device(&old, &["classify", "--csv", query.to_str().unwrap()]);
    assert!(!success);
    assert!(
        err.contains("the device speaks fewshot-protocol 3, this host"),
        "{err}"
    );
    assert!(err.contains("update the device's firmware"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// 200 -> 4 (tanh) -> 2 values (a regression head, its last layer adapted).
fn regression_model() -> &'static Model<'static> {
    let trunk = Dense::new(
        W,
        BANDS,
        Activation::Tanh,
        vec![0.01; BANDS * W],
        vec![0.0; BANDS],
    );
    let adapt = AdaptDef::new(AdaptScope::HeadOnly, 3, RateDef::Scalar(0.1), 10.0);
    let outputs = vec![Dense::zeros(BANDS, 2, Activation::Identity)];
    // Named after its two target columns, as the trainer names it.
    let head = HeadDef::regression(0, "level, level_k", outputs).with_adapt(adapt);
    let def = ModelDef::new("window-regression", W)
        .trunk(trunk)
        .head(head);
    let blob = Box::leak(Box::new(def.to_aligned_bytes().unwrap()));
    Box::leak(Box::new(Model::from_bytes(blob.as_bytes()).unwrap()))
}

#[test]
fn regression_rows_carry_as_many_targets_as_the_head_predicts() {
    let dir = std::env::temp_dir().join(format!("fewshot-staged-reg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = serve(&dir, regression_model(), fewshot_protocol::PROTOCOL_VERSION);
    let row = |targets: &[f64]| {
        let x: Vec<String> = (0..W).map(|j| format!("{}", j % 7)).collect();
        let y: Vec<String> = targets.iter().map(|v| v.to_string()).collect();
        format!("{},{}\n", x.join(","), y.join(","))
    };
    let (good, bad) = (dir.join("good.csv"), dir.join("bad.csv"));
    std::fs::write(&good, row(&[1.0, -2.0]) + &row(&[0.5, 3.0])).unwrap();
    let pushed = ok(&s, &["push", "--csv", good.to_str().unwrap()]);
    assert_eq!(pushed.lines().last(), Some("samples: 2 of 16"), "{pushed}");
    let adapted = ok(&s, &["adapt"]);
    assert!(adapted.starts_with("adapted: 3 steps"), "{adapted}");
    // `infer` on rows with their targets: each row's outputs, then the MSE over the targets,
    // then each target's.
    let infer = ok(&s, &["infer", "--csv", good.to_str().unwrap()]);
    let outputs: Vec<f64> = infer
        .lines()
        .filter_map(|l| l.strip_prefix("outputs: ["))
        .flat_map(|l| l.trim_end_matches(']').split(", "))
        .map(|v| v.parse().unwrap())
        .collect();
    let targets = [1.0, -2.0, 0.5, 3.0];
    assert_eq!(outputs.len(), targets.len(), "{infer}");
    let mse = outputs
        .iter()
        .zip(targets)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / 4.0;
    let expected = format!("query MSE: {mse:.6} over 4 target values");
    let each = |o: usize| {
        let se: f64 = (0..2)
            .map(|r| (outputs[r * 2 + o] - targets[r * 2 + o]).powi(2))
            .sum();
        se / 2.0
    };
    let tail: Vec<&str> = infer.lines().rev().take(3).collect();
    assert_eq!(tail[2], expected, "{infer}");
    assert_eq!(tail[1], format!("  level: {:.6}", each(0)), "{infer}");
    assert_eq!(tail[0], format!("  level_k: {:.6}", each(1)), "{infer}");
    // The same measures in --json, beside the replies.
    let (json, _, success) = device(&s, &["--json", "infer", "--csv", good.to_str().unwrap()]);
    assert!(success, "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["replies"].as_array().map(Vec::len), Some(2), "{json}");
    // The text printed the outputs rounded to f32's shortest form: close, not equal.
    let close =
        |v: &serde_json::Value, x: f64| (v.as_f64().unwrap() - x).abs() <= 1e-6 * x.abs().max(1.0);
    assert!(close(&json["query_mse"]["mse"], mse), "{json}");
    assert_eq!(json["query_mse"]["target_values"], 4, "{json}");
    assert!(close(&json["per_output"]["level"], each(0)), "{json}");
    assert!(close(&json["per_output"]["level_k"], each(1)), "{json}");
    // A header, read by position, naming a target column among the inputs: refused.
    let names: Vec<String> = (0..W).map(|j| format!("c{j}")).collect();
    let mut swapped = names.clone();
    swapped[3] = "level".into();
    let header = format!("{},c3,level_k\n", swapped.join(","));
    let reordered = dir.join("reordered.csv");
    std::fs::write(&reordered, header + &row(&[1.0, -2.0])).unwrap();
    let (_, err, success) = device(&s, &["infer", "--csv", reordered.to_str().unwrap()]);
    assert!(!success);
    assert!(
        err.contains(
            "its column \"level\" (the name of the head's target) would be read as input 4 of 200"
        ),
        "{err}"
    );
    // 40 values after the input: an error naming the line, not a panic.
    let many: Vec<f64> = (0..40).map(f64::from).collect();
    std::fs::write(&bad, row(&many)).unwrap();
    let (_, err, success) = device(&s, &["push", "--csv", bad.to_str().unwrap()]);
    assert!(!success);
    assert!(
        err.contains(":1: 40 target values after the 200 inputs; the device's head predicts 2"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `adapt` with `--model`: a head of one regression output reports its support loss on the
/// standardised targets, and the command adds it in the target's raw units (times sd^2).
#[test]
fn adapt_with_the_model_gives_the_support_loss_in_raw_units() {
    let dir = std::env::temp_dir().join(format!("fewshot-staged-raw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let adapt = AdaptDef::new(AdaptScope::HeadOnly, 3, RateDef::Scalar(0.1), 10.0);
    let head = HeadDef::regression(
        0,
        "level_mv",
        vec![Dense::zeros(4, 1, Activation::Identity)],
    )
    .with_adapt(adapt)
    .with_output_normalisation(vec![500.0], vec![20.0]);
    let def = ModelDef::new("one-output", 4).head(head);
    let blob = Box::leak(Box::new(def.to_aligned_bytes().unwrap()));
    let path = dir.join("one-output.postcard");
    std::fs::write(&path, blob.as_bytes()).unwrap();
    let model: &'static Model<'static> =
        Box::leak(Box::new(Model::from_bytes(blob.as_bytes()).unwrap()));
    let s = serve(&dir, model, fewshot_protocol::PROTOCOL_VERSION);
    let csv = dir.join("support.csv");
    std::fs::write(&csv, "1,0,0,0,520\n0,1,0,0,470\n0,0,1,0,505\n").unwrap();
    ok(&s, &["push", "--csv", csv.to_str().unwrap()]);
    let m = ["--model", path.to_str().unwrap()];
    // The head starts at zero, so it predicts the shift (500): raw errors 20, -30 and 5.
    let (out, err, success) = device(&s, &[&m[..], &["adapt"]].concat());
    assert!(success, "{err}");
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .starts_with("  in level_mv's raw units: support MSE 441.6667 -> "),
        "{out}"
    );
    // In --json beside the reply: the device's figures times sd^2 = 400.
    let (out, err, success) = device(&s, &[&["--json"], &m[..], &["adapt"]].concat());
    assert!(success, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reply = &v["replies"][0]["Adapted"];
    let raw = &v["support_mse_raw"];
    assert_eq!(raw["target"], "level_mv", "{v}");
    for (device, key) in [("initial_loss", "before"), ("final_loss", "after")] {
        let (d, r) = (reply[device].as_f64().unwrap(), raw[key].as_f64().unwrap());
        assert!((d * 400.0 - r).abs() < 1e-9 * r, "{v}");
    }
    // Without --model the device's figure alone.
    assert_eq!(ok(&s, &["adapt"]).lines().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
