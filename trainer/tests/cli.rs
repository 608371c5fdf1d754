//! The command line: bad input exits 2 with a precise message, training is reproducible bit for
//! bit (also across a checkpoint and --resume), and the written model loads, evaluates and
//! inspects.

mod common;
use common::{bin, run};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dir(name: &str) -> PathBuf {
    common::dir("cli", name)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const TINY: &str = r#"
[model]
hidden = [8]
[meta]
algorithm = "meta_sgd"
steps = 2
step_weights = [0.5, 1.0]
[train]
iterations = 30
meta_batch = 4
checkpoint_every = 10
[eval]
shots = [5]
steps = [0, 2]
tasks = 20
query = 20
"#;

fn write(d: &Path, name: &str, text: &str) -> PathBuf {
    let p = d.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_config_exits_2_naming_file_line_and_field() {
    let d = dir("badcfg");
    let p = write(&d, "a.toml", "[meta]\nsteps = 3\nbogus = 1\n");
    let o = run(bin().args(["train", "--config"]).arg(&p));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("a.toml:3") && e.contains("bogus"), "{e}");

    let p = write(&d, "b.toml", "[train]\nmeta_batch = 4\nlr = -1.0\n");
    let o = run(bin().args(["train", "--config"]).arg(&p));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("b.toml:3") && e.contains("train.lr"), "{e}");

    let p = write(&d, "c.toml", "[meta]\nclip = \"big\"\n");
    let o = run(bin().args(["train", "--config"]).arg(&p));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("c.toml:2"), "{}", stderr(&o));

    let p = write(
        &d,
        "d.toml",
        "[task]\nkind = \"csv\"\npath = \"/nonexistent/x.csv\"\n",
    );
    let o = run(bin().args(["train", "--config"]).arg(&p));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/x.csv"), "{}", stderr(&o));
}

#[test]
fn a_diverging_run_stops_with_exit_2_instead_of_retrying_forever() {
    let d = dir("diverge");
    let cfg = write(
        &d,
        "diverge.toml",
        // Every value within its range, but inner steps of rate 1e5 on an unclipped gradient
        // overflow (the largest values the range checks accept).
        &TINY
            .replace(
                "iterations = 30",
                "iterations = 30\nlr = 1.0\nlr_final = 1.0\ngrad_norm_clip = 0.0",
            )
            .replace(
                "steps = 2\n",
                "steps = 2\nalpha = 1e5\nalpha_max = 1e6\nclip = 1e6\n",
            ),
    );
    let o = run(bin()
        .args(["train", "--no-eval", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(d.join("m.postcard")));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("non-finite"), "{}", stderr(&o));
}

#[test]
fn bad_csv_and_bad_model_exit_2() {
    let d = dir("badcsv");
    let csv = write(&d, "t.csv", "task_id,x1,y1\na,1,2\na,1\n");
    let cfg = write(
        &d,
        "c.toml",
        &format!(
            "[task]\nkind = \"csv\"\npath = {:?}\n",
            csv.display().to_string()
        ),
    );
    let o = run(bin().args(["train", "--config"]).arg(&cfg));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("t.csv:3: field `y1`") && e.contains("column 3"),
        "{e}"
    );

    let junk = write(&d, "junk.postcard", "definitely not a model");
    for args in [vec!["inspect"], vec!["eval", "--model"]] {
        let o = run(bin().args(&args).arg(&junk));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("junk.postcard"), "{}", stderr(&o));
    }
    let o = run(bin()
        .args(["eval", "--model"])
        .arg(&junk)
        .args(["--shots", "x"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(bin().args(["train", "--preset", "nope"]));
    assert_eq!(o.status.code(), Some(2));
    // A valid model that does not fit the tasks (the digits classifier on sinusoid tasks),
    // and an earlier version's `--task digits`: said what the model is and how to evaluate it.
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/digits.postcard");
    for task in ["sinusoid", "digits"] {
        let o = run(bin()
            .args(["eval", "--task", task, "--steps", "0", "--model"])
            .arg(&digits));
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("is a classification model: it is evaluated from its run record"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn train_is_reproducible_and_resumable_then_eval_and_inspect() {
    let d = dir("train");
    let cfg = write(&d, "tiny.toml", TINY);
    let a = d.join("a.postcard");
    let o = run(bin()
        .args(["train", "--threads", "2", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&a));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("query MSE"));
    for ext in ["curve.png", "adaptation.png", "tasks.png", "eval.json"] {
        assert!(a.with_extension(ext).exists(), "{ext}");
    }
    // Same seed, other thread count: identical bytes.
    let b = d.join("b.postcard");
    let o = run(bin()
        .args(["train", "--no-eval", "--threads", "1", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&b));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // Stopped at 20 (the Ctrl-C path), then resumed to 30: identical bytes.
    let c = d.join("c.postcard");
    let o = run(bin()
        .args(["train", "--no-eval", "--stop-after", "20", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&c));
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    // A resume with another train setting (here the seed) is refused, not silently ignored.
    let o = run(bin()
        .args(["train", "--no-eval", "--resume", "--seed", "5", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&c));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // A checkpoint whose vectors were cut short is refused (exit 2), not indexed.
    let ckpt = c.with_extension("ckpt");
    let good = std::fs::read(&ckpt).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v["theta"].as_array_mut().unwrap().pop();
    std::fs::write(&ckpt, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = run(bin()
        .args(["train", "--no-eval", "--resume", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&c));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("do not match"), "{}", stderr(&o));
    std::fs::write(&ckpt, &good).unwrap();
    let o = run(bin()
        .args(["train", "--no-eval", "--resume", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&c));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    // Another seed: other bytes.
    let e = d.join("e.postcard");
    let o = run(bin()
        .args(["train", "--no-eval", "--seed", "9", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&e));
    assert!(o.status.success());
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&e).unwrap());

    let o = run(bin()
        .args([
            "eval", "--shots", "5,10", "--steps", "1,2", "--tasks", "10", "--json", "--model",
        ])
        .arg(&a));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["results"].as_array().unwrap();
    // Per K: the model at 0 (its start), 1 and 2 steps, the population mean and the line.
    assert_eq!(rows.len(), 10);
    assert!(rows
        .iter()
        .all(|r| r["mean_mse"].as_f64().unwrap().is_finite()));

    let o = run(bin().arg("inspect").arg(&a));
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("CRC-32") && s.contains("per parameter") && s.contains("RAM K=10"),
        "{s}"
    );
}

#[test]
fn trains_and_evaluates_on_gzipped_csv_tasks() {
    use std::io::Write;
    let d = dir("csv");
    let mut text = String::from("task_id,x1,y1\n");
    for t in 0..12 {
        let (a, b) = (0.3 * t as f64 - 1.5, 0.1 * t as f64);
        for r in 0..30 {
            let x = r as f64 / 10.0 - 1.5;
            text += &format!("task{t},{x},{}\n", a * x + b);
        }
    }
    let p = d.join("lines.csv.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    std::fs::write(&p, e.finish().unwrap()).unwrap();
    let cfg = write(
        &d,
        "lines.toml",
        &format!(
            "[task]\nkind = \"csv\"\npath = {:?}\ntest_fraction = 0.25\n{}",
            p.display().to_string(),
            TINY.replace(
                "[model]\nhidden = [8]",
                "[model]\nhidden = [8]\ninput_scale = [1.0]"
            )
        ),
    );
    let m = d.join("lines.postcard");
    let o = run(bin()
        .args(["train", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&m));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(bin()
        .args([
            "eval",
            "--test-fraction",
            "0.25",
            "--shots",
            "5",
            "--steps",
            "0,2",
            "--tasks",
            "10",
            "--json",
            "--model",
        ])
        .arg(&m)
        .arg("--task")
        .arg(format!("csv:{}", p.display())));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The model at 0 and 2 steps, the population mean and the line.
    assert_eq!(v["results"].as_array().unwrap().len(), 4);
    // Tasks new to the model, in another file: every one of them is evaluated; the training
    // file itself is refused (its tasks include the meta-training ones).
    let mut fresh = String::from("task_id,x1,y1\n");
    for t in 0..4 {
        for r in 0..12 {
            let x = r as f64 / 4.0 - 1.5;
            fresh += &format!("new{t},{x},{}\n", (0.2 * t as f64 - 0.4) * x + 0.5);
        }
    }
    let fresh = write(&d, "new-lines.csv", &fresh);
    let eval_model = |model: &Path, data: &Path| {
        run(bin()
            .args([
                "eval", "--shots", "5", "--steps", "2", "--tasks", "8", "--json",
            ])
            .arg("--model")
            .arg(model)
            .arg("--data")
            .arg(data))
    };
    let eval_data = |data: &Path| eval_model(&m, data);
    let o = eval_data(&fresh);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 4);
    assert_eq!(v["results"][0]["tasks"], 4, "{v}");
    // A model trained on raw targets: the record holds no targets' mean, so the population mean
    // is read from the run's own data file; the same meta-training tasks, the same baseline.
    let raw_cfg = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[model]\n", "[model]\nstandardise_targets = false\n");
    let raw_cfg = write(&d, "lines-raw.toml", &raw_cfg);
    let raw = d.join("lines-raw.postcard");
    let o = run(bin()
        .args(["train", "--no-eval", "--config"])
        .arg(&raw_cfg)
        .arg("--out")
        .arg(&raw));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = eval_model(&raw, &fresh);
    assert!(o.status.success(), "{}", stderr(&o));
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let population = |v: &serde_json::Value| {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == "population_mean")
            .map(|r| r["mean_mse"].clone())
    };
    assert_eq!(population(&w), population(&v));
    assert!(population(&v).is_some());
    // A classification flag on a regression model is refused, not ignored.
    let o = run(bin().args(["eval", "--ways", "3", "--model"]).arg(&m));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--ways is for classification models"),
        "{}",
        stderr(&o)
    );
    let o = eval_data(&p);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is one of the model's meta-training tasks"),
        "{}",
        stderr(&o)
    );
    // The same new tasks without their header line: refused, asking for it.
    let text = std::fs::read_to_string(&fresh).unwrap();
    let headless = write(
        &d,
        "new-lines-headless.csv",
        text.split_once('\n').unwrap().1,
    );
    let o = eval_data(&headless);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no header line") && stderr(&o).contains("training file's header"),
        "{}",
        stderr(&o)
    );
    // Two inputs and no input_scale key: the inputs are standardised on the meta-train tasks
    // (the default used to be the sinusoid's one-input scale, refused for two inputs).
    let mut text = String::from("task_id,x1,x2,y1\n");
    for t in 0..12 {
        for r in 0..30 {
            let (x1, x2) = (r as f64 * 10.0, (r % 7) as f64);
            text += &format!("task{t},{x1},{x2},{}\n", 0.01 * t as f64 * x1 - x2);
        }
    }
    let p2 = write(&d, "planes.csv", &text);
    let cfg = write(
        &d,
        "planes.toml",
        &format!(
            "[task]\nkind = \"csv\"\npath = {:?}\ntest_fraction = 0.25\n{TINY}",
            p2.display().to_string()
        ),
    );
    let m = d.join("planes.postcard");
    let o = run(bin()
        .args(["train", "--no-eval", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&m));
    assert!(o.status.success(), "{}", stderr(&o));
    let model = std::fs::read(&m).unwrap();
    let o = run(bin().arg("inspect").arg(&m));
    assert!(o.status.success() && !model.is_empty());
    assert!(String::from_utf8_lossy(&o.stdout).contains("inputs     2"));
    // Tasks new to it, their inputs in the other order and beside a column it does not read:
    // matched by name to the record's, the same numbers as the file in the model's order.
    let (mut ordered, mut reordered) = (
        String::from("task_id,x1,x2,y1\n"),
        String::from("task_id,hour,x2,x1,y1\n"),
    );
    for t in 0..4 {
        for r in 0..12 {
            let (x1, x2) = (r as f64 * 10.0, (r % 5) as f64);
            let y = 0.02 * t as f64 * x1 - x2;
            ordered += &format!("new{t},{x1},{x2},{y}\n");
            reordered += &format!("new{t},{r},{x2},{x1},{y}\n");
        }
    }
    let ordered = write(&d, "planes-new.csv", &ordered);
    let reordered = write(&d, "planes-new-reordered.csv", &reordered);
    let results = |data: &Path| {
        let o = eval_model(&m, data);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (v["results"].clone(), stderr(&o))
    };
    let (by_position, _) = results(&ordered);
    let (by_name, e) = results(&reordered);
    assert_eq!(by_name, by_position);
    assert!(
        e.contains("read by name") && e.contains("not read: hour"),
        "{e}"
    );
}

#[test]
fn ctrl_c_writes_a_checkpoint_and_resume_continues() {
    let d = dir("sigint");
    let cfg = write(&d, "tiny.toml", TINY);
    let m = d.join("m.postcard");
    let ckpt = m.with_extension("ckpt");
    let mut child = bin()
        .args([
            "train",
            "--no-eval",
            "--iterations",
            "100000000",
            "--config",
        ])
        .arg(&cfg)
        .arg("--out")
        .arg(&m)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the first periodic checkpoint, so training is under way.
    let t0 = std::time::Instant::now();
    while !ckpt.exists() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let st = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&ckpt).unwrap()).unwrap();
    let at = v["iter"].as_u64().unwrap();
    assert!(at > 0);
    let o = run(bin()
        .args([
            "train",
            "--no-eval",
            "--resume",
            "--iterations",
            "100000000",
            "--stop-after",
        ])
        .arg((at + 5).to_string())
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&m));
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&ckpt).unwrap()).unwrap();
    assert_eq!(v["iter"].as_u64().unwrap(), at + 5);
}

#[test]
fn keygen_and_sign_make_a_model_the_runtime_accepts_only_with_that_key() {
    let d = dir("sign");
    let prefix = d.join("keys/k");
    let o = run(bin().arg("keygen").arg("--out").arg(&prefix));
    assert!(o.status.success(), "{}", stderr(&o));
    let public = std::fs::read(prefix.with_extension("pub")).unwrap();
    assert_eq!(public.len(), 32);
    // No silent overwrite of a key.
    let o = run(bin().arg("keygen").arg("--out").arg(&prefix));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("exists"), "{}", stderr(&o));

    let model = d.join("m.fsm");
    let def = runtime::writer::ModelDef::new("m", 1).head(runtime::writer::HeadDef::regression(
        0,
        "y",
        vec![runtime::writer::Dense::zeros(
            1,
            1,
            runtime::Activation::Identity,
        )],
    ));
    std::fs::write(&model, def.to_bytes().unwrap()).unwrap();
    // The model version is required: anti-rollback compares it.
    let o = run(bin()
        .arg("sign")
        .arg(&model)
        .arg("--key")
        .arg(prefix.with_extension("secret")));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--version"), "{}", stderr(&o));
    let o = run(bin()
        .arg("sign")
        .arg(&model)
        .arg("--key")
        .arg(prefix.with_extension("secret"))
        .args(["--version", "12"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let signed = runtime::format::AlignedBytes::read(model.with_extension("signed")).unwrap();
    let key = runtime::signature::PublicKey::from_bytes(public.as_slice().try_into().unwrap());
    assert!(runtime::Model::from_signed_bytes(&signed, &key).is_ok());
    let opened = runtime::signature::open_versioned(&signed, &key).unwrap();
    assert_eq!(opened.model_version, 12);
    let other = runtime::signature::PublicKey::from_bytes([9; 32]);
    assert!(runtime::Model::from_signed_bytes(&signed, &other).is_err());

    // Bad inputs exit 2 naming the file.
    let o = run(bin()
        .arg("sign")
        .arg(&model)
        .arg("--key")
        .arg(&model)
        .args(["--version", "1"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("m.fsm") && stderr(&o).contains("32 bytes"),
        "{}",
        stderr(&o)
    );
    // keygen's two 32-byte files mixed up, and version 0 (below any device's newest).
    for (key, version, says) in [
        ("pub", "3", "the public key: sign with the secret one"),
        ("secret", "0", "--version"),
    ] {
        let o = run(bin()
            .arg("sign")
            .arg(&model)
            .arg("--key")
            .arg(prefix.with_extension(key))
            .args(["--version", version]));
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
    let o = run(bin()
        .args(["device-sim", "--model"])
        .arg(&model)
        .arg("--key")
        .arg(prefix.with_extension("secret"))
        .arg("--socket")
        .arg(d.join("never.sock")));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("the secret key (its public key is"),
        "{}",
        stderr(&o)
    );
    let junk = write(&d, "junk.fsm", "not a model");
    let o = run(bin()
        .arg("sign")
        .arg(&junk)
        .arg("--key")
        .arg(prefix.with_extension("secret"))
        .args(["--version", "1"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("junk.fsm"), "{}", stderr(&o));
}

/// The inputs a run takes are named in order when it trains, a running timestamp among them is
/// warned about, and the run record keeps the names for `inspect` and `inspect --rust`.
#[test]
fn train_names_the_inputs_in_order_and_inspect_reads_them_from_the_record() {
    let d = dir("input-names");
    let mut text = String::from("time,device,temp_c,y,humidity\n");
    let mut t = 1_700_000_000u64;
    for dev in 0..8 {
        for r in 0..12 {
            let (a, h) = (r as f64 - 6.0, ((r * 7) % 5) as f64);
            t += 60;
            text += &format!("{t},dev{dev},{a},{},{h}\n", 0.2 * dev as f64 * a + h);
        }
    }
    let data = write(&d, "logged.csv", &text);
    let cfg = |ignore: &str| {
        format!(
            "[task]\nkind = \"csv\"\npath = {:?}\ntask_column = \"device\"\ntargets = [\"y\"]\n{ignore}test_fraction = 0.25\n{TINY}",
            data.display().to_string()
        )
    };
    let m = d.join("logged.postcard");
    let o = run(bin()
        .args(["train", "--no-eval", "--config"])
        .arg(write(&d, "all.toml", &cfg("")))
        .arg("--out")
        .arg(&m));
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("3 input(s), in the order the device takes them: time, temp_c, humidity"),
        "{e}"
    );
    assert!(
        e.contains("warning: input column(s) \"time\" rise") && !e.contains("\"temp_c\" rise"),
        "{e}"
    );
    let o = run(bin()
        .args(["train", "--no-eval", "--config"])
        .arg(write(
            &d,
            "kept.toml",
            &cfg("ignore_columns = [\"time\"]\n"),
        ))
        .arg("--out")
        .arg(&m));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("warning: input column"),
        "{}",
        stderr(&o)
    );
    let o = run(bin().arg("inspect").arg(&m));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("inputs (from the run record): 2 input(s), in the order the device takes them: temp_c, humidity"),
        "{out}"
    );
    let o = run(bin().args(["inspect", "--rust"]).arg(&m));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("pub const INPUT_NAMES: [&str; INPUTS] = [\"temp_c\", \"humidity\"];")
            && out.contains("pub const OUTPUT_NAMES: [&str; OUTPUTS] = [\"y\"];"),
        "{out}"
    );
}

/// `inspect --rust` prints the sizes the runtime's `Learner` needs for the model's first
/// adaptable head: exactly what the runtime reports, the learner built with them.
#[test]
fn inspect_rust_prints_the_learners_sizes() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/fixtures/multihead.fsm");
    let o = run(bin().args(["inspect", "--rust", "--k", "10"]).arg(&fixture));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let value = |name: &str| -> usize {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("pub const {name}:")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line.rsplit('=')
            .next()
            .unwrap()
            .trim()
            .trim_end_matches(';')
            .parse()
            .unwrap()
    };
    let blob = runtime::format::AlignedBytes::read(&fixture).unwrap();
    let model = runtime::Model::from_bytes(&blob).unwrap();
    let needs = model.ram_needs(1, 10).unwrap();
    assert_eq!(value("HEAD"), 1);
    assert_eq!(
        (value("PARAMS"), value("SCRATCH")),
        (85, needs.adapt_scratch)
    );
    assert_eq!(
        (value("INPUTS"), value("OUTPUTS"), value("K_MAX")),
        (8, 5, 10)
    );
    assert!(text.contains("pub const HEAD_NAMES: [&str; 3] = [\"digits10\", \"new5\", \"pose\"];"));
    assert!(text.contains(
        "pub type Learner<'m> = fewshot_runtime::Learner<'m, PARAMS, SCRATCH, LOSS_LOG>;"
    ));
    // The printed sizes make a learner (with LOSS_LOG = 3 steps + 1); one float less does not.
    assert!(runtime::Learner::<85, 242, 4>::new(&model, 1).is_ok());
    assert!(runtime::Learner::<85, 242, 3>::new(&model, 1).is_err());
    // A model without an adaptable head needs --head, and a fixed head is refused.
    let o = run(bin()
        .args(["inspect", "--rust", "--head", "0"])
        .arg(&fixture));
    assert!(!o.status.success());
}

/// `export --max-classes` makes a head enrollable (format v4), `inspect --rust` prints the class
/// bank's sizes, and `enroll-eval` runs the runtime's bank on a tiny subset: without inner
/// steps the original classes' rows never move, so their accuracy among themselves is the same
/// after 10 enrollments as before.
/// `trainer export MODEL --head 0 ARGS --out OUT`.
fn export(model: &Path, args: &[&str], out: &Path) -> std::process::Output {
    run(bin()
        .arg("export")
        .arg(model)
        .args(["--head", "0"])
        .args(args)
        .arg("--out")
        .arg(out))
}

#[test]
fn export_inspect_and_enroll_eval_of_an_enrollable_head() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let digits = root.join("models/digits.postcard");
    let out = dir("enroll").join("digits32.postcard");
    let o = export(&digits, &["--max-classes", "32"], &out);
    assert!(o.status.success(), "{}", stderr(&o));
    // A regression head takes no classes: said, not a header error.
    let sinusoid = root.join("models/sinusoid.postcard");
    let o = export(
        &sinusoid,
        &["--max-classes", "4"],
        &out.with_file_name("s.postcard"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("has no classes"), "{}", stderr(&o));
    // Past the format's 1024 classes: said, not a header error.
    let o = export(
        &digits,
        &["--max-classes", "1025"],
        &out.with_file_name("big.postcard"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a bank holds at most 1024 classes"),
        "{}",
        stderr(&o)
    );
    // Nor does a matching head (several prototypes per class): said, not a header error.
    let o = run(bin()
        .arg("export")
        .arg(&digits)
        .args(["--head", "1", "--max-classes", "16", "--out"])
        .arg(out.with_file_name("m.postcard")));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("holds several prototypes per class"),
        "{}",
        stderr(&o)
    );
    // An older format for devices whose runtime reads no newer: the sinusoid (dense) as v1,
    // the same outputs; the enrollable digits head cannot be v3 (it needs 5), said so.
    let v1 = out.with_file_name("s1.postcard");
    let o = export(&sinusoid, &["--format-version", "1"], &v1);
    assert!(o.status.success(), "{}", stderr(&o));
    let old = runtime::format::AlignedBytes::read(&v1).unwrap();
    assert_eq!(old.as_bytes()[4], 1);
    let new = runtime::format::AlignedBytes::read(&sinusoid).unwrap();
    let y = |b: &runtime::format::AlignedBytes| {
        let m = runtime::Model::from_bytes(b).unwrap();
        let (mut scratch, mut out) = (vec![0.0; m.infer_scratch_len()], [0.0f32]);
        m.network()
            .infer(&[0.7], runtime::Heads::ALL, &mut scratch, &mut out)
            .unwrap();
        out[0].to_bits()
    };
    assert_eq!(y(&old), y(&new));
    let o = export(
        &digits,
        &["--max-classes", "32", "--format-version", "3"],
        &out.with_file_name("d3.postcard"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs 5 or newer"), "{}", stderr(&o));
    let blob = runtime::format::AlignedBytes::read(&out).unwrap();
    // Format v5: the digits model's warps are written as its input views.
    assert_eq!(blob.as_bytes()[4], 5);
    let model = runtime::Model::from_bytes(&blob).unwrap();
    assert_eq!(model.enrollable(0).map(|e| e.max_classes), Some(32));

    let o = run(bin().args(["inspect", "--rust", "--k", "5"]).arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let bank = runtime::ClassBank::<1, 1>::bank_len(&model, 0).unwrap();
    let scratch = runtime::ClassBank::<1, 1>::scratch_len(&model, 0, 5, 0).unwrap();
    assert!(
        text.contains("pub const MAX_CLASSES: usize = 32;"),
        "{text}"
    );
    assert!(
        text.contains(&format!("pub const BANK: usize = {bank};")),
        "{text}"
    );
    assert!(text.contains(&format!("pub const BANK_SCRATCH: usize = {scratch};")));
    assert!(
        !text.contains("pub type Learner"),
        "head 0 is fixed: no learner"
    );
    assert!(runtime::ClassBank::<2208, 256>::new(&model, 0).is_ok());
    assert_eq!(bank, 2208); // 32 x (4 + 64 + 1)

    // `--steps`: the same model asking the device for another default step count, alone or
    // with --max-classes; more than the runtime's MAX_STEPS, or nothing to change, is refused.
    let plaid = root.join("models/plaid_conv1d.postcard");
    let stepped = dir("enroll").join("plaid-steps.postcard");
    for (extra, want_max) in [(&[][..], None), (&["--max-classes", "24"][..], Some(24))] {
        let o = export(&plaid, &[&["--steps", "2"][..], extra].concat(), &stepped);
        assert!(o.status.success(), "{}", stderr(&o));
        let blob = runtime::format::AlignedBytes::read(&stepped).unwrap();
        let m = runtime::Model::from_bytes(&blob).unwrap();
        assert_eq!(m.adapt_spec(0).unwrap().steps, 2);
        assert_eq!(m.enrollable(0).map(|e| e.max_classes), want_max);
    }
    // `--ways`: the prototype head resized for a device taught 3 classes at a time (with
    // --max-classes too); its learner is sized for 3 outputs.
    let three = dir("enroll").join("plaid-3.postcard");
    let o = export(&plaid, &["--ways", "3"], &three);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("head 0 has 3 classes"));
    let blob = runtime::format::AlignedBytes::read(&three).unwrap();
    let m = runtime::Model::from_bytes(&blob).unwrap();
    assert_eq!(m.head(0).unwrap().kind.classes(), Some(3));
    let o = run(bin().args(["inspect", "--rust", "--k", "9"]).arg(&three));
    assert!(String::from_utf8_lossy(&o.stdout).contains("pub const OUTPUTS: usize = 3;"));
    for bad in [&["--steps", "1001"][..], &[][..], &["--ways", "1"][..]] {
        let o = export(&plaid, bad, &stepped);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }

    // A head that is not enrollable is refused, naming the fix.
    let o = run(bin()
        .args(["enroll-eval", "--episodes", "1", "--model"])
        .arg(&digits));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--max-classes"), "{}", stderr(&o));
    // A bank smaller than the head's own 20 classes is refused, saying so.
    let o = run(bin()
        .args([
            "enroll-eval",
            "--max-classes",
            "6",
            "--episodes",
            "1",
            "--model",
        ])
        .arg(&digits));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already has 20 classes"),
        "{}",
        stderr(&o)
    );

    let o = run(bin()
        .args([
            "enroll-eval",
            "--max-classes",
            "32",
            "--episodes",
            "3",
            "--classes",
            "2",
        ])
        .args(["--query", "5", "--steps", "0,2", "--json", "--model"])
        .arg(&digits));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["results"].as_array().unwrap();
    // 2 bank variants + 2 baselines, 4 checkpoints each.
    assert_eq!(rows.len(), 16);
    let at = |method: &str, n: u64| {
        rows.iter()
            .find(|r| r["method"] == method && r["enrollments"] == n)
            .unwrap_or_else(|| panic!("{method} {n}"))
    };
    let plain = "device bank, 0 steps";
    assert_eq!(at(plain, 0)["original"], at(plain, 0)["original_only"]);
    assert_eq!(at(plain, 10)["original_only"], at(plain, 0)["original"]);
    assert!(at(plain, 10)["enrolled"][0].as_f64().unwrap() > 50.0);
    assert_eq!(v["held_out"], serde_json::json!([5, 6]));
    // The digits preset's trunk is frozen: every row is new to it, and the output says so.
    assert_eq!(v["original_queries"]["source"], "untrained_trunk");
    // One class of each: an interval over one class does not exist, `null` and said so.
    let one = |json: &[&str]| {
        run(bin()
            .args(["enroll-eval", "--max-classes", "32", "--episodes", "2"])
            .args(["--classes", "1", "--query", "5", "--steps", "0"])
            .args(json)
            .arg("--model")
            .arg(&digits))
    };
    let o = one(&["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = &w["results"][1];
    assert_eq!(row["enrolled_classes"], 1, "{row}");
    assert!(row["enrolled_over_classes"][1].is_null(), "{row}");
    assert!(row["original_over_classes"][1].is_null(), "{row}");
    let text = String::from_utf8_lossy(&one(&[]).stdout).into_owned();
    assert!(text.contains(" (1 class, no interval) |"), "{text}");
    // `export` wrote the run record beside its model: the enrollable model is measured alone,
    // with the same results.
    let o = run(bin()
        .args(["enroll-eval", "--episodes", "3", "--classes", "2"])
        .args(["--query", "5", "--steps", "0,2", "--json", "--model"])
        .arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(w["results"], v["results"]);

    // Original classes enrolled from more samples than the new ones (a device that ships
    // knowing them); more than a class has is refused, naming it.
    let eval = |original_shots: &str| {
        run(bin()
            .args(["enroll-eval", "--max-classes", "32", "--episodes", "2"])
            .args(["--classes", "2", "--steps", "0", "--json"])
            .args(["--original-shots", original_shots, "--model"])
            .arg(&digits))
    };
    let o = eval("40");
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (&v["original_shots"], &v["shots"]),
        (&serde_json::json!(40), &serde_json::json!(5))
    );
    // Without --query, what the smallest class leaves (digit 0: 178 rows), with a note.
    let o = eval("170");
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["query"], serde_json::json!(8));
    assert!(
        stderr(&o).contains("8 queries per class (of 15): class 0 has 178 rows"),
        "{}",
        stderr(&o)
    );
    let o = eval("1000");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("class 0 has 178 rows: none left for a query"),
        "{}",
        stderr(&o)
    );
    // Queries that leave a held-out class fewer than two enrollments' samples (digit 6: 181
    // rows, 172 queries): its re-enrollment reuses samples, and a note says so.
    let o = run(bin()
        .args(["enroll-eval", "--max-classes", "32", "--episodes", "1"])
        .args([
            "--classes",
            "2",
            "--steps",
            "0",
            "--query",
            "172",
            "--model",
        ])
        .arg(&digits));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("class 6 leaves 9 rows beside its 172 queries, fewer than 2 x 5"),
        "{}",
        stderr(&o)
    );
}

/// `enroll-eval` on a trunk that trained: the original classes' queries are drawn from the
/// run's held-out rows of its training classes (and any row of its validation classes) when
/// they hold enough, else from any row, the training rows among them; either is said, under
/// the table and in `--json`.
#[test]
fn enroll_eval_scores_the_original_classes_on_rows_the_trunk_did_not_train_on() {
    let d = dir("enroll-fresh");
    let o = common::conv_run(
        &d,
        2.0,
        "test_classes = [5, 6]\niterations = 300\nlr = 0.01\nval_every = 20\nval_episodes = 200",
        &["--no-eval"],
        "m.postcard",
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("trunk trained") && err.contains("<- exported"),
        "{err}"
    );
    let eval = |query: &[&str]| {
        run(bin()
            .args(["enroll-eval", "--max-classes", "16", "--episodes", "2"])
            .args(["--steps", "0"])
            .args(query)
            .arg("--model")
            .arg(d.join("m.postcard")))
    };
    // Classes 0-2 trained the trunk and keep 4 of their 14 rows out of it (`val_fraction`
    // 0.25); 3 and 4 only validated.
    let o = eval(&["--query", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let q = &v["original_queries"];
    assert_eq!(q["source"], "held_out_rows", "{q}");
    let note = q["note"].as_str().unwrap();
    assert!(
        note.contains("held-out rows of [0, 1, 2] and any row of [3, 4]"),
        "{note}"
    );
    // 9 queries (what 14 rows leave beside 5 samples) exceed the 4 held-out rows.
    let o = eval(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("note: the original classes' queries are drawn from all their rows, the trunk's training rows among them (the run holds out 4 rows of class 0"),
        "{text}"
    );
    assert!(
        text.contains("`--query 4` draws them from held-out rows"),
        "{text}"
    );
}

/// `enroll-eval --margin`: a margin no held-out class can overcome leaves the original classes
/// exactly where they started and wins none of the enrolled classes' queries; `--protect`
/// chooses a margin on the original classes alone that meets its bound there.
#[test]
fn enroll_eval_margins_protect_the_original_classes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let digits = root.join("models/digits.postcard");
    let eval = |extra: &[&str]| {
        run(bin()
            .args(["enroll-eval", "--max-classes", "32", "--episodes", "3"])
            .args(["--classes", "3", "--query", "5", "--steps", "0", "--json"])
            .args(extra)
            .arg("--model")
            .arg(&digits))
    };
    let o = eval(&[
        "--margin",
        "0,1000",
        "--protect",
        "1",
        "--protect-episodes",
        "6",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["results"].as_array().unwrap();
    let at = |method: &str, n: u64| {
        rows.iter()
            .find(|r| r["method"] == method && r["enrollments"] == n)
            .unwrap_or_else(|| panic!("{method} {n}: {rows:?}"))
    };
    let walled = "device bank, 0 steps, margin 1000";
    assert_eq!(at(walled, 10)["original_change"][0], 0.0);
    assert_eq!(at(walled, 10)["enrolled"][0], 0.0);
    // The class as the unit: each class's mean over the episodes, then the CI over classes.
    assert_eq!(at(walled, 10)["enrolled_over_classes"][0], 0.0);
    let row = at("device bank, 0 steps", 10);
    let per_class: Vec<f64> = row["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[1].as_f64().unwrap())
        .collect();
    assert!(per_class.len() >= 2, "{row}");
    assert!(per_class.iter().all(|a| (0.0..=100.0).contains(a)), "{row}");
    let over = row["enrolled_over_classes"][1].as_f64().unwrap();
    assert!(over.is_finite() && over >= 0.0, "{row}");
    assert!(
        at("device bank, 0 steps", 10)["enrolled"][0]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let p = &v["protect"];
    assert_eq!(
        (&p["shipped"], &p["enrolled"]),
        (&serde_json::json!(2), &serde_json::json!(1))
    );
    assert!(p["drop"].as_f64().unwrap() <= 1.0, "{p}");
    let m = p["margin"].as_f64().unwrap();
    assert!(
        v["margins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_f64() == Some(m)),
        "{v}"
    );
    // Calibration draws need the rows too: refused by name, not a panic on an empty pool.
    let o = run(bin()
        .args(["enroll-eval", "--max-classes", "32", "--episodes", "1"])
        .args([
            "--classes",
            "3",
            "--query",
            "300",
            "--protect",
            "1",
            "--model",
        ])
        .arg(&digits));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--protect: class 0 has fewer than 305 rows"),
        "{}",
        stderr(&o)
    );
    let o = eval(&["--margin", "nan"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--margin NaN: not a finite number"),
        "{}",
        stderr(&o)
    );
}

/// The firmware's generated size modules are what `inspect --rust` prints for their models
/// today: a model regenerated without them fails here, not on the device.
/// `FEWSHOT_BLESS=1` rewrites them.
#[test]
fn firmware_size_modules_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let modules: [(&str, &[&str], &str); 7] = [
        (
            "models/sinusoid.postcard",
            &["--k", "10"],
            "firmware/src/sizes/sinusoid.rs",
        ),
        (
            "models/sinusoid_proximal.postcard",
            &["--k", "10"],
            "firmware/src/sizes/sinusoid_proximal.rs",
        ),
        (
            "firmware/fixtures/multihead.fsm",
            &["--head", "1", "--k", "20", "--max-steps", "50", "--device"],
            "firmware/src/serial_sizes.rs",
        ),
        (
            "firmware/fixtures/digits-enroll.fsm",
            &["--head", "0", "--k", "5"],
            "firmware/src/sizes/digits_enroll.rs",
        ),
        (
            "firmware/fixtures/keyword-enroll.fsm",
            &["--head", "0", "--k", "5"],
            "firmware/src/sizes/keyword.rs",
        ),
        (
            "models/keyword.postcard",
            &["--head", "0", "--k", "1"],
            "firmware/src/sizes/keyword_f32.rs",
        ),
        (
            "firmware/fixtures/multihead.fsm",
            &["--head", "1", "--k", "20"],
            "template/src/sizes.rs",
        ),
    ];
    let bless = std::env::var_os("FEWSHOT_BLESS").is_some();
    for (model, args, module) in modules {
        let o = run(bin()
            .current_dir(&root)
            .args(["inspect", model, "--rust"])
            .args(args));
        assert!(o.status.success(), "{}", stderr(&o));
        let path = root.join(module);
        if bless {
            std::fs::write(&path, &o.stdout).unwrap();
        } else {
            let committed = std::fs::read(&path).unwrap_or_default();
            assert!(
                committed == o.stdout,
                "{module} is stale: regenerate with `FEWSHOT_BLESS=1 cargo test -p trainer --test cli firmware_size_modules`"
            );
        }
    }
}

#[test]
fn inspect_device_reserves_the_update_bytes_asked_for() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let inspect = |extra: &[&str]| {
        run(bin()
            .current_dir(&root)
            .args([
                "inspect",
                "firmware/fixtures/multihead.fsm",
                "--rust",
                "--head",
                "1",
            ])
            .args(["--device"])
            .args(extra))
    };
    // By default the model's own envelope (3 444 + 80 bytes), rounded up to 4 KiB.
    let o = inspect(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("pub const UPDATE_BYTES: usize = 4096;"),
        "{text}"
    );
    // A later, larger model: its slots and the flash they take.
    let o = inspect(&["--update-bytes", "20000"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("pub const UPDATE_BYTES: usize = 20000;"),
        "{text}"
    );
    assert!(
        text.contains(
            "// Flash on 4 KiB erase blocks: 64 KiB (state 2 x 4 KiB, model updates 2 x 20 KiB"
        ),
        "{text}"
    );
    assert!(
        text.contains("--device --update-bytes 20000`"),
        "the command is recorded"
    );
    // Less than the model's own envelope is refused.
    let o = inspect(&["--update-bytes", "100"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("this model's own signed envelope is 3524 bytes"),
        "{}",
        stderr(&o)
    );
}

/// A classification model without its run record, evaluated with none of --config, --data or
/// --task, is refused naming what to give, instead of being taken for a regression model.
#[test]
fn eval_of_a_classification_model_without_its_record_names_what_to_give() {
    let d = dir("no-record");
    let model = d.join("plaid_int8.postcard");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(root.join("models/plaid_conv1d_int8.postcard"), &model).unwrap();
    for extra in [&[][..], &["--episodes", "10"][..]] {
        let o = run(bin().args(["eval", "--model"]).arg(&model).args(extra));
        assert_eq!(o.status.code(), Some(2));
        let e = stderr(&o);
        assert!(
            e.contains("a classification model without its run record")
                && e.contains("--config")
                && e.contains("--data"),
            "{e}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}
