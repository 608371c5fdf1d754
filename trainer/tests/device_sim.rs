//! A user's own model on `trainer device-sim`, driven by `trainer device` as the README shows:
//! CSV columns in another order read by name through `--model` (the run record's input
//! names), the refusals that keep a user from a silently wrong answer (an extra column, a
//! label the head does not have, a label enrolled already: refused before the buffer is
//! emptied), a head that starts from prototypes exported enrollable (its bank starts empty),
//! and a socket already served.

mod common;
use common::qemu::{device_measured, device_on, start_sim, start_sim_on, start_sim_with};
use common::{bin, run, Noise};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// 8 classes x 20 rows of 4 features: class `c` high on feature `c % 4`, shifted by 1.5 on
/// the odd features for `c >= 4`.
fn value(c: usize, j: usize, noise: &mut Noise) -> f64 {
    let on = if j == c % 4 { 2.0 } else { 0.0 };
    let shift = if c >= 4 && j % 2 == 1 { 1.5 } else { 0.0 };
    on + shift + 0.6 * noise.next()
}

/// The training file: header `a,b,c,d,class` (the run's `label_column`).
fn data_csv(path: &Path) {
    let mut noise = Noise(7);
    let mut s = String::from("a,b,c,d,class\n");
    for c in 0..8 {
        for _ in 0..20 {
            let x: Vec<String> = (0..4)
                .map(|j| format!("{:.4}", value(c, j, &mut noise)))
                .collect();
            s += &format!("{},{c}\n", x.join(","));
        }
    }
    std::fs::write(path, s).unwrap();
}

/// Rows of classes 4..8 labelled 0..4 (the head's classes), seeded by `seed`: once with the
/// model's columns in its order, once as `label,d,time,site,c,b,a` (another order, and a
/// number and a word that are not inputs).
fn novel_csvs(dir: &Path, name: &str, rows: usize, seed: u64) -> (PathBuf, PathBuf) {
    let mut noise = Noise(seed);
    let (mut plain, mut swapped) = (
        String::from("a,b,c,d,label\n"),
        String::from("label,d,time,site,c,b,a\n"),
    );
    for c in 4..8 {
        for i in 0..rows {
            let x: Vec<f64> = (0..4).map(|j| value(c, j, &mut noise)).collect();
            plain += &format!("{},{},{},{},{}\n", x[0], x[1], x[2], x[3], c - 4);
            swapped += &format!("{},{},{i},M0{c},{},{},{}\n", c - 4, x[3], x[2], x[1], x[0]);
        }
    }
    let (p, s) = (
        dir.join(format!("{name}.csv")),
        dir.join(format!("{name}-swapped.csv")),
    );
    std::fs::write(&p, plain).unwrap();
    std::fs::write(&s, swapped).unwrap();
    (p, s)
}

const CONFIG: &str = r#"task = "classification"
data = "data.csv"
label_column = "class"
train_classes = [0, 1, 2, 3]
test_classes = [4, 5, 6, 7]
ways = 4
shots = [1, 5]
query = 5
hidden = [8]
iterations = 20
val_every = 10
val_episodes = 10
"#;

/// `trainer device --socket S ARGS`: exit status, stdout, stderr.
fn device_text(socket: &Path, args: &[&str]) -> (bool, String, String) {
    let o = run(bin().arg("device").arg("--socket").arg(socket).args(args));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (o.status.success(), text(&o.stdout), text(&o.stderr))
}

#[test]
fn a_users_model_on_the_simulated_device() {
    let d = common::dir("sim", "user");
    data_csv(&d.join("data.csv"));
    std::fs::write(d.join("run.toml"), CONFIG).unwrap();
    let model = d.join("m.postcard");
    let o = run(bin()
        .args(["train", "--no-eval", "--config"])
        .arg(d.join("run.toml"))
        .arg("--out")
        .arg(&model));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let enrollable = d.join("e.postcard");
    let o = run(bin()
        .arg("export")
        .arg(&model)
        .args(["--head", "0", "--max-classes", "8", "--out"])
        .arg(&enrollable));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && text.contains("starting empty"),
        "{text}"
    );

    let socket = d.join("dev.sock");
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/fixtures/test-signing.pub");
    let _sim = start_sim(&enrollable, 0, &key, &socket);
    let again = run(bin()
        .args(["device-sim", "--model"])
        .arg(&enrollable)
        .arg("--socket")
        .arg(&socket));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && err.contains("a device serves it already"),
        "{err}"
    );

    let s = socket.to_str().unwrap();
    let m = enrollable.to_str().unwrap();
    let (support, support_swapped) = novel_csvs(&d, "support", 3, 11);
    let (query, query_swapped) = novel_csvs(&d, "query", 5, 12);
    let json = |args: &[&str]| {
        let (replies, ok) = device_on(&["--socket", s], args);
        assert!(ok, "{args:?}: {replies:?}");
        replies
    };
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();

    // The model's column order, by position.
    json(&["push", "--csv", &path(&support)]);
    json(&["adapt"]);
    let by_position = json(&["classify", "--csv", &path(&query)]);
    // --json gives the accuracy beside the replies (rows of class c in order, 5 each).
    let (replies, measured, _) =
        device_measured(&["--socket", s], &["classify", "--csv", &path(&query)]);
    assert_eq!(replies, by_position);
    let right = (replies.iter().enumerate())
        .filter(|(i, r)| r["Class"]["class"] == serde_json::json!(i / 5))
        .count();
    assert_eq!(measured["accuracy"]["labelled"], 20, "{measured:?}");
    assert_eq!(measured["accuracy"]["right"], right, "{measured:?}");
    // Another order and a column that is not an input: refused by position, read by name
    // with --model, to the same answers.
    let (ok, _, err) = device_text(&socket, &["classify", "--csv", &path(&query_swapped)]);
    assert!(
        !ok && err.contains("column 4 (\"site\"): not a number")
            && err.contains("--ignore-columns site"),
        "{err}"
    );
    let (ok, _, err) = device_text(
        &socket,
        &[
            "classify",
            "--csv",
            &path(&query_swapped),
            "--ignore-columns",
            "site",
        ],
    );
    assert!(
        !ok && err
            .contains("5 feature columns beside the label (d, time, c, b, a), the model takes 4"),
        "{err}"
    );
    json(&["clear"]);
    json(&["reset"]);
    let (ok, _, err) = device_text(
        &socket,
        &["--model", m, "push", "--csv", &path(&support_swapped)],
    );
    assert!(ok, "{err}");
    assert!(
        err.contains("read by name in the model's order (a, b, c, d); not read: time, site"),
        "{err}"
    );
    json(&["adapt"]);
    let by_name = json(&["--model", m, "classify", "--csv", &path(&query_swapped)]);
    assert_eq!(by_name, by_position);
    // The run's label column (`class`) found by --model without --label-column, beside a
    // column of words.
    let renamed = d.join("query-class.csv");
    let text = std::fs::read_to_string(&query_swapped).unwrap();
    std::fs::write(&renamed, text.replacen("label,", "class,", 1)).unwrap();
    let (ok, _, err) = device_text(&socket, &["classify", "--csv", &path(&renamed)]);
    assert!(!ok && err.contains("(\"site\"): not a number"), "{err}");
    let by_record = json(&["--model", m, "classify", "--csv", &path(&renamed)]);
    assert_eq!(by_record, by_position);
    // --model names the model the device serves.
    let (ok, _, err) = device_text(
        &socket,
        &[
            "--model",
            model.to_str().unwrap(),
            "classify",
            "--csv",
            &path(&query),
        ],
    );
    assert!(ok, "the export keeps the model id: {err}");
    assert!(err.contains("the device serves another export of"), "{err}");

    // A label the head does not have is refused at push, naming the file and line.
    let bad = d.join("bad-label.csv");
    std::fs::write(&bad, "a,b,c,d,label\n1,0,0,0,1\n1,0,0,0,7\n").unwrap();
    let free = |replies: Vec<Value>| replies[0]["Info"]["free_samples"].clone();
    let before = free(json(&["info"]));
    let (ok, _, err) = device_text(&socket, &["push", "--csv", &path(&bad)]);
    assert!(
        !ok && err.contains("bad-label.csv:3: label 7: the device's head has 4 classes"),
        "{err}"
    );
    // Refused before any row was sent: the good row before it is not in the buffer.
    assert_eq!(free(json(&["info"])), before);
    // `classify` scores such a row as wrong, and says why.
    let (ok, _, err) = device_text(&socket, &["classify", "--csv", &path(&bad)]);
    assert!(
        ok && err.contains(
            "rows labelled {7} cannot be answered right: the device's head has 4 classes, 0 to 3"
        ),
        "{err}"
    );

    // The bank of a head that starts from prototypes starts empty; enrolling a label in use
    // is refused before the support buffer is emptied.
    let labels = |replies: &[Value]| replies[0]["Info"]["bank"]["labels"].clone();
    assert_eq!(labels(&json(&["info"])), serde_json::json!([]));
    let (ok, _, err) = device_text(
        &socket,
        &[
            "enroll",
            "--label",
            "100",
            "--csv",
            &path(&support),
            "--class",
            "2",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(labels(&json(&["info"])), serde_json::json!([100]));
    json(&["push", "--csv", &path(&support)]);
    let stored = |replies: &[Value]| replies[0]["Info"]["free_samples"].clone();
    let free = stored(&json(&["info"]));
    let (ok, _, err) = device_text(
        &socket,
        &["enroll", "--label", "100", "--csv", &path(&support)],
    );
    assert!(
        !ok && err.contains("label 100 is enrolled already"),
        "{err}"
    );
    assert_eq!(stored(&json(&["info"])), free, "the buffer is as it was");
    // More rows than the buffer holds: refused before it is emptied, saying how many fit.
    let many = d.join("many.csv");
    let rows: String = (0..257).map(|i| format!("{i},0,0,1,2\n")).collect();
    std::fs::write(&many, format!("a,b,c,d,label\n{rows}")).unwrap();
    let (ok, _, err) = device_text(
        &socket,
        &["enroll", "--label", "101", "--csv", &path(&many)],
    );
    assert!(
        !ok && err.contains("257 rows to enroll, the device's support buffer holds 256"),
        "{err}"
    );
    assert_eq!(stored(&json(&["info"])), free, "the buffer is as it was");
    // Rows above the threshold are said to be unknown, row by row.
    let (ok, out, err) = device_text(
        &socket,
        &[
            "classify",
            "--enrolled",
            "--csv",
            &path(&query),
            "--unknown-relative",
            "0",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("-> unknown (above --unknown-relative 0)"),
        "{out}"
    );
    // --json carries what the text says: each row's answer, null for unknown.
    let o = run(bin()
        .args(["device", "--json", "--socket"])
        .arg(&socket)
        .args(["classify", "--enrolled", "--csv"])
        .arg(&query)
        .args(["--unknown-relative", "0"]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let unknown = out.matches("-> unknown").count();
    let answers = v["answers"].as_array().unwrap();
    assert_eq!(
        answers.iter().filter(|a| a.is_null()).count(),
        unknown,
        "{v}"
    );
    assert!(unknown > 0);
}

/// `--flash FILE`: a state saved before the simulator stops is restored by the next one on the
/// same file (a power cut between them), and answers as before.
#[test]
fn the_flash_file_outlives_the_simulator() {
    let d = common::dir("sim", "flash");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/fixtures");
    let (model, key) = (
        fixtures.join("multihead.fsm"),
        fixtures.join("test-signing.pub"),
    );
    let (socket, flash) = (d.join("dev.sock"), d.join("flash.bin"));
    let mut text = String::from("f1,f2,f3,f4,f5,f6,f7,f8,label\n");
    for c in 0..5 {
        for i in 0..3 {
            let x: Vec<String> = (0..8)
                .map(|j| {
                    format!(
                        "{}",
                        if j % 5 == c {
                            3.0
                        } else {
                            0.1 * ((i + j) % 3) as f64
                        }
                    )
                })
                .collect();
            text += &format!("{},{c}\n", x.join(","));
        }
    }
    let csv = d.join("rows.csv");
    std::fs::write(&csv, text).unwrap();
    let csv = csv.to_str().unwrap();
    let s = socket.to_str().unwrap();
    let json = |args: &[&str]| {
        let (replies, ok) = device_on(&["--socket", s], args);
        assert!(ok, "{args:?}: {replies:?}");
        replies
    };
    let sim = start_sim_on(&model, 1, &key, &socket, Some(&flash));
    json(&["push", "--csv", csv]);
    json(&["adapt"]);
    let before = json(&["classify", "--csv", csv]);
    json(&["save"]);
    drop(sim);
    let _sim = start_sim_on(&model, 1, &key, &socket, Some(&flash));
    // The start restored the saved state from the file: it classifies as before.
    assert_eq!(json(&["classify", "--csv", csv]), before);
    json(&["restore"]);
    assert_eq!(json(&["classify", "--csv", csv]), before);
}

/// An update installed on the flash that the next boot's firmware cannot serve (another model
/// built in: here one whose head 0 does not adapt) is said to be refused, not to run "from the
/// next boot": a reboot would not change it.
#[test]
fn an_installed_update_the_boot_refused_is_said_so() {
    let d = common::dir("sim", "refused");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/fixtures");
    let key = fixtures.join("test-signing.pub");
    let (socket, flash) = (d.join("dev.sock"), d.join("flash.bin"));
    let sim = start_sim_on(
        &fixtures.join("multihead.fsm"),
        1,
        &key,
        &socket,
        Some(&flash),
    );
    // A bare model, or an envelope cut short, is refused before anything is sent (the device
    // would erase its other model slot at the first request).
    let bare = fixtures.join("multihead.fsm");
    let (ok, _, err) = device_text(&socket, &["update", "--envelope", bare.to_str().unwrap()]);
    assert!(!ok && err.contains("a model file? sign it"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    let envelope = fixtures.join("update-v1.signed");
    let bytes = std::fs::read(&envelope).unwrap();
    let cut = d.join("cut.signed");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let (ok, _, err) = device_text(&socket, &["update", "--envelope", cut.to_str().unwrap()]);
    assert!(!ok && err.contains("cut short"), "{err}");
    let (ok, _, err) = device_text(
        &socket,
        &["update", "--envelope", envelope.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = device_text(&socket, &["info"]);
    assert!(ok, "{err}");
    assert!(out.contains("in slot 0 (runs from the next boot)"), "{out}");
    drop(sim);
    let sinusoid = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sinusoid.postcard");
    let _sim = start_sim_on(&sinusoid, 0, &key, &socket, Some(&flash));
    let (ok, out, err) = device_text(&socket, &["info"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("running: the model built into the firmware")
            && out.contains("(not running: this boot refused it"),
        "{out}"
    );
}

/// `device-sim --max-steps N` mirrors a firmware whose loss log holds N steps: `info` says it,
/// and `adapt --steps` past it is refused with the limit, as the firmware's learner does.
#[test]
fn the_simulator_takes_a_firmwares_limit_of_inner_steps() {
    let d = common::dir("sim", "max-steps");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/fixtures");
    let (model, key) = (
        fixtures.join("multihead.fsm"),
        fixtures.join("test-signing.pub"),
    );
    let socket = d.join("dev.sock");
    let _sim = start_sim_with(&model, 1, &key, &socket, None, &["--max-steps", "5"]);
    let (ok, out, err) = device_text(&socket, &["info"]);
    assert!(ok, "{err}");
    assert!(out.contains("adapts for at most 5 steps"), "{out}");
    let (replies, ok) = device_on(
        &["--socket", socket.to_str().unwrap()],
        &["adapt", "--steps", "6"],
    );
    assert!(!ok, "{replies:?}");
    let e = &replies[0]["Error"]["Runtime"];
    assert_eq!(e["kind"], "TooManySteps", "{replies:?}");
    assert_eq!(e["numbers"], serde_json::json!([6, 5]), "{replies:?}");
    // Below the head's default of 3 steps: refused at the start.
    let o = run(bin()
        .arg("device-sim")
        .arg("--model")
        .arg(&model)
        .args(["--head", "1", "--max-steps", "2", "--socket"])
        .arg(d.join("other.sock")));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the head's default is 3 inner steps"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
