//! Multi-task heads: joint training, the multi-head export served from one trunk pass, the
//! relatedness command, bad configurations, and the digits CLI path on a tiny synthetic CSV
//! (its checkpoints and --resume too).

use runtime::{Heads, Model};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::AtomicBool;
use trainer::multitask::config::MtConfig;
use trainer::multitask::{build_heads, model_def, train, Source};
use trainer::net::{forward, Fwd};

mod common;
use common::{bin, run};

fn dir(name: &str) -> PathBuf {
    common::dir("mt", name)
}

/// `trainer train --config CONFIG --out MODEL`.
fn train_config(config: &Path, model: &Path) -> Output {
    run(bin()
        .args(["train", "--config"])
        .arg(config)
        .arg("--out")
        .arg(model))
}

/// 4x4 images, `classes` classes, `per` rows each: a class-dependent stroke plus row noise.
fn tiny_csv(path: &Path, classes: usize, per: usize) {
    let mut s = String::new();
    for r in 0..classes * per {
        let c = r % classes;
        let v: Vec<String> = (0..16)
            .map(|j| {
                let on = (j * 7 + c * 3) % 5 < 2;
                let noise = ((r * 13 + j * 5) % 7) as f64 / 3.0;
                format!("{}", if on { 12.0 + noise } else { noise })
            })
            .collect();
        s += &format!("{},{c}\n", v.join(","));
    }
    std::fs::write(path, s).unwrap();
}

const MT: &str = r#"
iterations = 30
batch = 8
meta_batch = 2
val_every = 10
val_batches = 2
[trunk]
hidden = [8, 8]
standardise_inputs = true
[relatedness]
batches = 4
budget = 5
[[head]]
name = "classes"
source = "classes"
path = "tiny.csv"
loss = "ce"
[[head]]
name = "intensity"
source = "intensity"
path = "tiny.csv"
loss = "mse"
weight = "uncertainty"
[[head]]
name = "episodes"
source = "classes"
path = "tiny.csv"
loss = "ce"
adaptable = true
ways = 2
shots = 1
query = 2
steps = 2
alpha = 0.2
"#;

#[test]
fn multi_head_model_serves_every_head_from_one_trunk_pass() {
    let d = dir("infer");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    let cfg = MtConfig::parse(MT, "mt.toml").unwrap();
    let heads = build_heads(&cfg, &d).unwrap();
    let t = train(&cfg, &heads, &AtomicBool::new(false), false).unwrap();
    // Training moved the weights and the learned log-variance of the uncertainty-weighted head.
    let init = trainer::multitask::Params::init(&cfg, &heads);
    assert_ne!(init.trunk, t.params.trunk);
    assert!(t.params.s[1] != 0.0 && t.params.s[0] == 0.0);
    let first = &t.curve[0];
    let last = t.curve.last().unwrap();
    assert!(last.val_loss[0] < first.val_loss[0], "{:?}", t.curve);
    let bytes = model_def("mt", &heads, &t.params)
        .unwrap()
        .to_bytes()
        .unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.heads().len(), 3);
    assert!(model.adapt_spec(2).is_ok());
    let net = model.network();
    let mut scratch = vec![0.0f32; model.infer_scratch_len()];
    let x: Vec<f32> = (0..16).map(|j| ((j * 5) % 13) as f32).collect();
    let widths = [4usize, 1, 2];
    let mut all = vec![0.0f32; 7];
    net.infer(&x, Heads::ALL, &mut scratch, &mut all).unwrap();
    let mut at = 0;
    for (h, &w) in widths.iter().enumerate() {
        let mut one = vec![0.0f32; w];
        net.infer(&x, Heads::only(h), &mut scratch, &mut one)
            .unwrap();
        assert_eq!(&all[at..at + w], &one[..], "head {h}");
        // The trainer's own forward pass of the same head agrees (f32 export).
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let xn: Vec<f64> = heads[h].arch.normalise(&xd);
        let mut fwd = Fwd::default();
        forward(&heads[h].arch, &t.params.theta(h), &xn, 1, &mut fwd, 0);
        let mut y = fwd.ys[heads[h].arch.layers.len()].clone();
        if heads[h].is_cls() {
            // The runtime returns class probabilities.
            let z = y.clone();
            trainer::net::softmax(&z, &mut y);
        }
        for (a, b) in y.iter().zip(&one) {
            assert!((a - *b as f64).abs() < 1e-3, "head {h}: {a} vs {b}");
        }
        at += w;
    }
}

#[test]
fn relatedness_prints_a_table_and_writes_a_heatmap() {
    let d = dir("rel");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    std::fs::write(d.join("mt.toml"), MT).unwrap();
    let png = d.join("rel.png");
    let o = run(bin()
        .args(["relatedness", "--config"])
        .arg(d.join("mt.toml"))
        .arg("--out")
        .arg(&png));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("trunk-gradient cosine") && out.contains("transfer gain"),
        "{out}"
    );
    assert!(
        out.contains("intensity") && out.contains("episodes"),
        "{out}"
    );
    let meta = std::fs::metadata(&png).unwrap();
    assert!(meta.len() > 1000);
    // Repeated over seeds: gains carry their spread across seeds (0 with one seed).
    let sd_of = |seeds: &str| -> serde_json::Value {
        let o = run(bin()
            .args(["relatedness", "--json", "--seeds", seeds, "--config"])
            .arg(d.join("mt.toml"))
            .arg("--out")
            .arg(&png));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["seeds"].as_u64(), Some(seeds.parse().unwrap()));
        v["gain_sd"].clone()
    };
    let flat = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect()
    };
    assert!(flat(&sd_of("1")).iter().all(|&x| x == 0.0));
    assert!(flat(&sd_of("2")).iter().any(|&x| x > 0.0));
    // The cosines are of mean gradients: once the heads have fit (300 iterations; at 30 they
    // still differ), a second head of the same task reads as related, far above a head of
    // another target (a mean of per-batch cosines read both near 0).
    let copy = MT.replace("name = \"episodes\"", "name = \"copy\"\nsource = \"classes\"\npath = \"tiny.csv\"\nloss = \"ce\"\n[[head]]\nname = \"episodes\"");
    std::fs::write(d.join("copy.toml"), copy).unwrap();
    let o = run(bin()
        .args([
            "relatedness",
            "--json",
            "--no-transfer",
            "--budget",
            "300",
            "--batches",
            "16",
            "--config",
        ])
        .arg(d.join("copy.toml"))
        .arg("--out")
        .arg(&png));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cos = |i: usize, j: usize| v["cos"][i][j][0].as_f64().unwrap();
    assert!(cos(0, 2) > 0.3 && cos(0, 2) > cos(0, 1).abs() + 0.2, "{v}");
    // The diagonal is each head's reliability, not 1.
    assert!((0.0..1.0).contains(&cos(0, 0)), "{v}");
    let o = run(bin()
        .args(["relatedness", "--seeds", "0", "--config"])
        .arg(d.join("mt.toml")));
    assert_eq!(o.status.code(), Some(2));
    // train --config with [[head]] tables trains and exports the multi-head model.
    let model = d.join("m.postcard");
    let o = train_config(&d.join("mt.toml"), &model);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let blob = std::fs::read(&model).unwrap();
    assert!(model.with_extension("curve.png").exists());
    let o = run(bin().arg("inspect").arg(&model));
    assert!(o.status.success() && !blob.is_empty());
}

/// A short run of one fixed regression head on `tiny.csv`'s mean intensity (append a head key
/// to change it).
const INTENSITY: &str = "iterations = 4\nval_every = 2\nval_batches = 1\n[trunk]\nhidden = [8]\n\n\
    [[head]]\nname = \"mean\"\nsource = \"intensity\"\npath = \"tiny.csv\"\nloss = \"mse\"\n";

#[test]
fn eval_of_a_multitask_model_reads_its_record_or_says_what_it_lacks() {
    let d = dir("eval-mt");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    std::fs::write(d.join("mt.toml"), INTENSITY).unwrap();
    let model = d.join("m.postcard");
    let o = train_config(&d.join("mt.toml"), &model);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // With the run record `train` wrote, `eval` scores every head as `train`'s table did.
    let o = run(bin().arg("eval").arg("--model").arg(&model));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = std::fs::read_to_string(d.join("m.eval.json")).unwrap();
    let trained: serde_json::Value = serde_json::from_str(&table).unwrap();
    let mean = trained[0]["mean"].as_f64().unwrap();
    assert!(
        out.contains("mean ")
            && out.contains("population_mean")
            && out.contains(&format!("{mean:.5}")),
        "{out}\n{table}"
    );
    // Without it, `eval` would take the sinusoid family: a model of another width is refused
    // naming what to give, not with the tasks' widths alone.
    std::fs::remove_file(d.join("m.run.json")).unwrap();
    let o = run(bin().arg("eval").arg("--model").arg(&model));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("would take the sinusoid family (1 input), the model has 16 inputs")
            && err.contains("--task csv:PATH or --config"),
        "{err}"
    );
    let o = run(bin()
        .args(["eval", "--head", "mean", "--model"])
        .arg(&model));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("with its run record"),
        "{err}"
    );
}

/// `subject,f1..f4,cadence` rows of per-subject lines `cadence = a_s (f1 + f2) + b_s` (the
/// columns in `order`), subjects `first..first + n`, 12 rows each.
fn subjects_csv(path: &Path, first: usize, n: usize, order: &[&str]) {
    let mut t = order.join(",") + "\n";
    for s in first..first + n {
        let (a, b) = (1.0 + 0.3 * (s % 5) as f64, 100.0 + 5.0 * (s % 3) as f64);
        for j in 0..12 {
            let f: Vec<f64> = (0..4)
                .map(|i| ((s * 7 + j * 3 + i * 5) % 11) as f64 / 5.0 - 1.0)
                .collect();
            let cell = |c: &str| match c {
                "subject" => format!("p{s}"),
                "cadence" => format!("{}", a * (f[0] + f[1]) + b),
                f_i => format!("{}", f[f_i[1..].parse::<usize>().unwrap() - 1]),
            };
            t += &(order.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",") + "\n");
        }
    }
    std::fs::write(path, t).unwrap();
}

/// `f1..f4,label` rows of classes `first..first + n`, `per` each (the columns in `order`).
fn activity_csv(path: &Path, first: usize, n: usize, per: usize, order: &[&str]) {
    let mut t = order.join(",") + "\n";
    for c in first..first + n {
        for j in 0..per {
            let f: Vec<f64> = (0..4)
                .map(|i| ((c * 5 + i * 3) % 7) as f64 + ((j * 13 + i) % 5) as f64 / 10.0)
                .collect();
            let cell = |col: &str| match col {
                "label" => format!("k{c}"),
                f_i => format!("{}", f[f_i[1..].parse::<usize>().unwrap() - 1]),
            };
            t += &(order.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",") + "\n");
        }
    }
    std::fs::write(path, t).unwrap();
}

#[test]
fn eval_scores_one_head_of_a_multitask_model_on_a_file_it_never_saw() {
    let d = dir("eval-mt-head");
    subjects_csv(
        &d.join("subjects.csv"),
        0,
        12,
        &["subject", "f1", "f2", "f3", "f4", "cadence"],
    );
    // The rows head's columns in another order: read by name in the trunk's.
    activity_csv(
        &d.join("activity.csv"),
        0,
        3,
        12,
        &["f2", "f1", "label", "f4", "f3"],
    );
    std::fs::write(
        d.join("mt.toml"),
        "iterations = 40\nval_every = 20\nmeta_batch = 2\n[trunk]\nhidden = [8]\n\n\
         [[head]]\nname = \"cadence\"\nsource = \"csv_tasks\"\npath = \"subjects.csv\"\n\
         task_column = \"subject\"\ntargets = [\"cadence\"]\nloss = \"mse\"\nadaptable = true\n\
         algorithm = \"fomaml\"\nsteps = 2\nshots = 4\nquery = 4\n\n\
         [[head]]\nname = \"activity\"\nsource = \"classes\"\npath = \"activity.csv\"\nloss = \"ce\"\n",
    )
    .unwrap();
    let model = d.join("mt.postcard");
    let o = train_config(&d.join("mt.toml"), &model);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("read by name in the model's order (f1, f2, f3, f4)"),
        "{err}"
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("mt.run.json")).unwrap()).unwrap();
    assert_eq!(record["kind"], "multitask");
    assert_eq!(
        record["input_names"],
        serde_json::json!(["f1", "f2", "f3", "f4"])
    );
    assert_eq!(
        record["heads"][1]["outputs"],
        serde_json::json!(["k0", "k1", "k2"])
    );
    // New subjects, their columns in another order: every one a unit, beside the population
    // mean (the training targets') and a line on the same draws.
    subjects_csv(
        &d.join("new.csv"),
        20,
        3,
        &["cadence", "f3", "subject", "f2", "f1", "f4"],
    );
    let eval = |head: &str, data: &str, extra: &[&str]| {
        run(bin()
            .args(["eval", "--json", "--head", head, "--data"])
            .arg(d.join(data))
            .args(extra)
            .arg("--model")
            .arg(&model))
    };
    // A regression head of CSV tasks goes through the regression evaluator (several K, the
    // paired differences, --per-task), as a model of one head does.
    let o = eval(
        "cadence",
        "new.csv",
        &["--tasks", "30", "--shots", "2,4", "--per-task"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let methods: Vec<(&str, u64, u64)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let m = r["method"].as_str().unwrap();
            (
                m,
                r["shots"].as_u64().unwrap(),
                r["tasks"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        &methods[..4],
        [
            ("model", 2, 3),
            ("model", 2, 3),
            ("population_mean", 2, 3),
            ("line", 2, 3)
        ]
    );
    assert_eq!(methods.len(), 8);
    assert_eq!(v["units"][0]["draws"], 10);
    assert_eq!(v["head"], "cadence");
    assert_eq!(v["results"][0]["per_task"].as_array().unwrap().len(), 3);
    assert!(
        v["results"][1]["minus_baseline"][0]["mean"].is_number(),
        "{v}"
    );
    // The training subjects are refused; a fixed head's new rows are scored by its classes'
    // names; a class it does not have is refused naming its classes.
    let o = eval("cadence", "subjects.csv", &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("is one of head \"cadence\"'s meta-training tasks"),
        "{err}"
    );
    activity_csv(
        &d.join("later.csv"),
        1,
        2,
        5,
        &["f1", "f2", "f3", "f4", "label"],
    );
    let o = eval("activity", "later.csv", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (rows[0]["unit"].as_str(), rows[0]["units"].as_u64()),
        (Some("row"), Some(10))
    );
    activity_csv(
        &d.join("other.csv"),
        2,
        2,
        5,
        &["f1", "f2", "f3", "f4", "label"],
    );
    let o = eval("1", "other.csv", &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("class \"k3\" is not one of the head's classes (k0, k1, k2)"),
        "{err}"
    );
    // The run's data changed since: refused, not scored on another split.
    subjects_csv(
        &d.join("subjects.csv"),
        0,
        11,
        &["subject", "f1", "f2", "f3", "f4", "cadence"],
    );
    let o = run(bin().arg("eval").arg("--model").arg(&model));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("the run read"), "{err}");
}

#[test]
fn a_multitask_head_can_take_the_implicit_step() {
    let d = dir("proximal");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    let text = MT.replacen(
        "weight = \"uncertainty\"",
        "adaptable = true\nalgorithm = \"proximal\"\nsteps = 1\nshots = 4\nquery = 4\nalpha = 0.5",
        1,
    );
    assert_ne!(text, MT);
    let cfg = MtConfig::parse(&text, "mt.toml").unwrap();
    let heads = build_heads(&cfg, &d).unwrap();
    let t = train(&cfg, &heads, &AtomicBool::new(false), false).unwrap();
    // The adaptable regression head's meta-objective reaches its rates (they moved).
    let init = trainer::multitask::Params::init(&cfg, &heads);
    assert_ne!(init.u[1], t.params.u[1]);
    let bytes = model_def("mt", &heads, &t.params)
        .unwrap()
        .to_bytes()
        .unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    assert!(matches!(
        model.adapt_spec(1).unwrap().rate,
        runtime::LearningRate::Proximal { .. }
    ));
    // The runtime adapts it: the support loss falls in one step.
    let x: Vec<f32> = (0..4 * 16).map(|j| ((j * 7) % 17) as f32).collect();
    let y: Vec<f32> = (0..4).map(|i| i as f32 * 0.1).collect();
    let needs = model.ram_needs(1, 4).unwrap();
    let mut state: runtime::AdaptState<64> = runtime::AdaptState::new(&model, 1).unwrap();
    let mut scratch = vec![0.0f32; needs.adapt_scratch];
    let mut losses = [0.0f32; 2];
    let report = state
        .adapt(
            &model,
            runtime::Support::values(&x, &y),
            None,
            &mut scratch,
            &mut losses,
        )
        .unwrap();
    assert!(report.final_loss < report.initial_loss, "{report:?}");
}

/// Regression tasks in raw units (targets around 5000, spread 1000): y = 5000 + 1000 a x.
fn raw_tasks_csv(path: &Path, tasks: usize) {
    let mut t = String::from("task_id,x1,y1\n");
    for k in 0..tasks {
        let a = 0.5 + (k % 7) as f64 * 0.25;
        for j in 0..12 {
            let x = -1.0 + j as f64 / 6.0;
            t += &format!("u{k},{x},{}\n", 5000.0 + 1000.0 * a * x);
        }
    }
    std::fs::write(path, t).unwrap();
}

#[test]
fn a_csv_tasks_head_trains_on_standardised_targets_and_the_device_returns_raw_units() {
    let d = dir("raw-units");
    raw_tasks_csv(&d.join("tasks.csv"), 20);
    let text = |extra: &str| {
        format!(
            "iterations = 200\nval_every = 100\n[trunk]\nhidden = [8]\n\n[[head]]\nname = \"level\"\n\
             source = \"csv_tasks\"\npath = \"tasks.csv\"\nloss = \"mse\"\nadaptable = true\n\
             algorithm = \"maml\"\nsteps = 1\nshots = 5\nquery = 5\n{extra}"
        )
    };
    let cfg = MtConfig::parse(&text(""), "mt.toml").unwrap();
    let heads = build_heads(&cfg, &d).unwrap();
    let (shift, scale) = heads[0].targets.clone().expect("standardised by default");
    assert!(
        (shift[0] - 5000.0).abs() < 200.0 && scale[0] > 100.0,
        "{shift:?} {scale:?}"
    );
    let t = train(&cfg, &heads, &AtomicBool::new(false), false).unwrap();
    // Validation is on the standardised scale: far below the raw targets' variance.
    assert!(t.curve.last().unwrap().val_loss[0] < 2.0, "{:?}", t.curve);
    let bytes = model_def("mt", &heads, &t.params)
        .unwrap()
        .to_bytes()
        .unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let (s, c) = model.output_normalisation(0).expect("exported");
    assert_eq!((s[0], c[0]), (shift[0] as f32, scale[0] as f32));
    // The device's output is the trainer's standardised output in raw units.
    let mut scratch = vec![0.0f32; model.infer_scratch_len()];
    let mut y = [0.0f32];
    model
        .network()
        .infer(&[0.5], Heads::ALL, &mut scratch, &mut y)
        .unwrap();
    let h = &heads[0];
    let mut fwd = Fwd::default();
    forward(
        &h.arch,
        &t.params.theta(0),
        &h.arch.normalise(&[0.5]),
        1,
        &mut fwd,
        0,
    );
    let z = fwd.ys[h.arch.layers.len()][0];
    assert!(
        (y[0] as f64 - (z * scale[0] + shift[0])).abs() < 0.5,
        "{} vs {z}",
        y[0]
    );
    assert!((y[0] - 5000.0).abs() < 2000.0, "raw units: {}", y[0]);
    // As deployed, in raw units, one unit per held-out task (4 of 20, the 100 support draws
    // shared out among them), beside the population mean and a per-task line on the same
    // draws: the adapted head is far below the mean.
    let rows = trainer::multitask::deployed::evaluate(&bytes, &heads, &cfg, 100).unwrap();
    let find = |m: &str, s: Option<usize>| {
        rows.iter()
            .find(|r| r.method == m && r.steps == s)
            .unwrap_or_else(|| panic!("no {m} {s:?} in {rows:?}"))
    };
    let (adapted, mean) = (find("model", Some(1)), find("population_mean", None));
    assert_eq!(
        (adapted.units, adapted.unit, mean.units, adapted.draws),
        (4, "held-out task", 4, 25)
    );
    let line = find("line", None);
    assert!(line.units == 4 && line.mean.is_finite(), "{line:?}");
    assert!(mean.mean > 1e4, "raw units^2: {mean:?}");
    assert!(adapted.mean < mean.mean / 2.0, "{rows:?}");
    assert!(adapted.mean < find("model", Some(0)).mean, "{rows:?}");
    // Opting out keeps raw targets (and a v1 model).
    let cfg = MtConfig::parse(&text("standardise_targets = false"), "mt.toml").unwrap();
    assert!(build_heads(&cfg, &d).unwrap()[0].targets.is_none());
}

/// Tasks `u0..` of one raw input around `x0` (spread about 10) with y = 3 x + 40 k; the tasks
/// in `moved` have their inputs at 1000 x instead.
fn raw_inputs_csv(path: &Path, tasks: usize, x0: f64, moved: &[String]) {
    let mut t = String::from("task_id,x1,y1\n");
    for k in 0..tasks {
        for j in 0..10 {
            let mut x = x0 + ((k * 7 + j * 3) % 11) as f64 * 2.0 - 10.0;
            if moved.contains(&format!("u{k}")) {
                x *= 1000.0;
            }
            t += &format!("u{k},{x},{}\n", 3.0 * x + 40.0 * k as f64);
        }
    }
    std::fs::write(path, t).unwrap();
}

/// The held-out task ids of a task head.
fn held_out_ids(h: &trainer::multitask::Head) -> Vec<String> {
    let Source::Tasks(t) = &h.source else {
        panic!("a task head");
    };
    t.held_out()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

const RAW_INPUTS: &str = "iterations = 40\nval_every = 20\n[trunk]\nhidden = [8]\n\n[[head]]\n\
    name = \"level\"\nsource = \"csv_tasks\"\npath = \"tasks.csv\"\nloss = \"mse\"\n\
    adaptable = true\nalgorithm = \"maml\"\nsteps = 1\nshots = 4\nquery = 4\n";

#[test]
fn inputs_are_standardised_on_training_tasks_only_and_exported() {
    let d = dir("std-inputs");
    let csv = d.join("tasks.csv");
    raw_inputs_csv(&csv, 20, 500.0, &[]);
    let cfg = MtConfig::parse(RAW_INPUTS, "mt.toml").unwrap();
    let heads = build_heads(&cfg, &d).unwrap();
    let held: Vec<String> = held_out_ids(&heads[0]);
    assert_eq!(held.len(), 4);
    let (shift, scale) = (heads[0].arch.shift.clone(), heads[0].arch.scale.clone());
    // The mean and 1 / sd of the training tasks' inputs, read back from the file.
    let text = std::fs::read_to_string(&csv).unwrap();
    let train_x: Vec<f64> = (text.lines().skip(1))
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| !held.contains(&f[0].to_string()))
        .map(|f| f[1].parse().unwrap())
        .collect();
    let n = train_x.len() as f64;
    let mean = train_x.iter().sum::<f64>() / n;
    let sd = (train_x.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!((shift[0] - mean).abs() < 1e-9 && (scale[0] * sd - 1.0).abs() < 1e-9);
    assert!((shift[0] - 500.0).abs() < 20.0, "{shift:?}");
    // Held-out tasks with inputs a thousand times larger leave it as it was.
    raw_inputs_csv(&csv, 20, 500.0, &held);
    let moved = build_heads(&cfg, &d).unwrap();
    assert_eq!(held_out_ids(&moved[0]), held);
    // The split is the head's own `test_fraction` and `split_seed` (default 0.2 and 0).
    assert_eq!(held.len(), 4);
    let keys = "loss = \"mse\"\ntest_fraction = 0.5\nsplit_seed = 3\n";
    let half = MtConfig::parse(&RAW_INPUTS.replace("loss = \"mse\"\n", keys), "mt.toml").unwrap();
    let other = held_out_ids(&build_heads(&half, &d).unwrap()[0]);
    assert!(other.len() == 10 && other != held, "{other:?}");
    assert_eq!(
        (&moved[0].arch.shift, &moved[0].arch.scale),
        (&shift, &scale)
    );
    raw_inputs_csv(&csv, 20, 500.0, &[]);
    // The exported model carries it, and takes raw units: the device's prediction is the
    // trainer's forward pass of the normalised raw inputs (in raw target units).
    let t = train(&cfg, &heads, &AtomicBool::new(false), false).unwrap();
    let bytes = model_def("mt", &heads, &t.params)
        .unwrap()
        .to_bytes()
        .unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let (s, c) = model.normalisation().expect("input normalisation");
    assert_eq!((s, c), (&[shift[0] as f32][..], &[scale[0] as f32][..]));
    let (ts, tc) = heads[0].targets.clone().unwrap();
    let mut scratch = vec![0.0f32; model.infer_scratch_len()];
    for x in [480.0f32, 500.0, 515.0] {
        let mut y = [0.0f32];
        (model.network())
            .infer(&[x], Heads::ALL, &mut scratch, &mut y)
            .unwrap();
        let h = &heads[0];
        let mut fwd = Fwd::default();
        let xn: Vec<f64> = h.arch.normalise(&[f64::from(x)]);
        forward(&h.arch, &t.params.theta(0), &xn, 1, &mut fwd, 0);
        let z = fwd.ys[h.arch.layers.len()][0] * tc[0] + ts[0];
        assert!(
            (f64::from(y[0]) - z).abs() < 1e-3 * tc[0],
            "{x}: {} vs {z}",
            y[0]
        );
    }
    // Opting out: shift 0 and the given common scale.
    let off = RAW_INPUTS.replace(
        "[trunk]",
        "[trunk]\nstandardise_inputs = false\ninput_scale = 0.5",
    );
    let heads = build_heads(&MtConfig::parse(&off, "mt.toml").unwrap(), &d).unwrap();
    assert_eq!(
        (&heads[0].arch.shift[..], &heads[0].arch.scale[..]),
        (&[0.0][..], &[0.5][..])
    );
}

/// Trains the configuration `text` on the files in `d`, exports it and evaluates it as
/// deployed (20 draws): its heads, bytes and table.
/// `eval --data` of a model whose adaptable classification head was meta-learned (no prototype
/// start): episodes of the head's ways on the file's classes, each new to the model, adapted by
/// the runtime's inner loop; other ways are refused naming the head's, and the 0-step row is
/// said to be chance.
#[test]
fn eval_data_scores_a_meta_learned_classification_head_at_its_ways() {
    let d = dir("eval-mt-cls");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    std::fs::write(d.join("mt.toml"), MT).unwrap();
    let model = d.join("m.postcard");
    let o = run(bin()
        .args(["train", "--no-eval", "--config"])
        .arg(d.join("mt.toml"))
        .arg("--out")
        .arg(&model));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(d.join("tiny.csv")).unwrap();
    let header: Vec<String> = (0..16).map(|j| format!("p{j}")).collect();
    let data = d.join("mine.csv");
    std::fs::write(&data, format!("{},label\n{text}", header.join(","))).unwrap();
    let eval = |extra: &[&str]| {
        run(bin()
            .args(["eval", "--episodes", "6", "--shots", "1", "--model"])
            .arg(&model)
            .arg("--data")
            .arg(&data)
            .args(extra))
    };
    let o = eval(&[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("2-way 1-shot"), "{out}");
    assert!(out.contains("chance by construction"), "{out}");
    // Which of the model's heads is scored, and that the others are not, is said.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("head 2 \"episodes\" is evaluated here")
            && err.contains("0 \"classes\" (fixed), 1 \"intensity\" (fixed)"),
        "{err}"
    );
    // Without --data: every head on its held-out data, by the run record.
    let o = run(bin().args(["eval", "--tasks", "4", "--model"]).arg(&model));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for head in ["classes ", "intensity ", "episodes "] {
        assert!(out.contains(head), "{out}");
    }
    assert!(out.contains("every head on its held-out data"), "{out}");
    // Without the record: what evaluates a model of several heads.
    let record = std::fs::read(d.join("m.run.json")).unwrap();
    std::fs::remove_file(d.join("m.run.json")).unwrap();
    let o = run(bin().args(["eval", "--model"]).arg(&model));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("a model of 3 heads") && err.contains("without its run record"),
        "{err}"
    );
    std::fs::write(d.join("m.run.json"), record).unwrap();
    let o = eval(&["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps: Vec<_> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "model")
        .map(|r| r["steps"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [0, 2], "{v}");
    assert_eq!(v["episodes"], 6, "a count, as every other count");
    let o = eval(&["--ways", "3"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("takes 2-way episodes only (--ways 2)"),
        "{err}"
    );
    // Made enrollable, its meta-learned rows are said to be no classes of the data.
    let o = run(bin()
        .arg("export")
        .arg(&model)
        .args(["--head", "2", "--max-classes", "8", "--out"])
        .arg(d.join("enroll.postcard")));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("2 meta-learned rows as labels 0, 1") && out.contains("forget them"),
        "{out}"
    );
}

/// A scope that would adapt the convolution stem is refused before any training, naming the
/// head and its key (the export used to refuse it after the run, its checkpoint of no use).
#[test]
fn a_scope_into_a_conv_stem_is_refused_before_training() {
    let d = dir("scope-stem");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    let cfg = r#"
iterations = 5
[trunk]
input = { kind = "image", width = 4, height = 4 }
[[trunk.layers]]
kind = "conv2d"
channels = 2
kernel = 3
[[trunk.layers]]
kind = "flatten"
[[trunk.layers]]
kind = "dense"
units = 4
[[head]]
name = "episodes"
source = "classes"
path = "tiny.csv"
loss = "ce"
adaptable = true
algorithm = "fomaml"
scope = "everything"
ways = 2
shots = 1
query = 2
steps = 1
"#;
    std::fs::write(d.join("mt.toml"), cfg).unwrap();
    let model = d.join("m.postcard");
    let o = train_config(&d.join("mt.toml"), &model);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("head[0] \"episodes\": `scope` = \"everything\" adapts every trunk layer"),
        "{err}"
    );
    assert!(!model.with_extension("ckpt").exists());
}

fn trained_and_evaluated(
    text: &str,
    d: &Path,
) -> (
    Vec<trainer::multitask::Head>,
    Vec<u8>,
    Vec<trainer::multitask::deployed::HeadRow>,
) {
    let cfg = MtConfig::parse(text, "mt.toml").unwrap();
    let heads = build_heads(&cfg, d).unwrap();
    let t = train(&cfg, &heads, &AtomicBool::new(false), false).unwrap();
    let bytes = model_def("mt", &heads, &t.params)
        .unwrap()
        .to_bytes()
        .unwrap();
    let rows = trainer::multitask::deployed::evaluate(&bytes, &heads, &cfg, 20).unwrap();
    (heads, bytes, rows)
}

#[test]
fn classification_heads_are_also_scored_with_the_class_as_the_unit() {
    let d = dir("class-unit");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    let (heads, bytes, rows) = trained_and_evaluated(MT, &d);
    let of = |head: &str, unit: &str| -> Vec<_> {
        rows.iter()
            .filter(|r| r.head == head && r.unit == unit)
            .collect()
    };
    // The fixed head: each class's accuracy over its validation rows, recomputed here.
    let Source::Rows(r) = &heads[0].source else {
        panic!("rows head")
    };
    let model = Model::from_bytes(&bytes).unwrap();
    let mut scratch = vec![0.0f32; model.infer_scratch_len()];
    let per_class: Vec<f64> = (0..r.classes)
        .map(|c| {
            let hits = r.val[c].iter().filter(|&&j| {
                let x: Vec<f32> = r.x[j * r.d..(j + 1) * r.d]
                    .iter()
                    .map(|&v| v as f32)
                    .collect();
                let mut p = [0.0f32; 4];
                model
                    .network()
                    .infer(&x, Heads::only(0), &mut scratch, &mut p)
                    .unwrap();
                (0..4).fold(0, |a, k| if p[k] > p[a] { k } else { a }) == c
            });
            hits.count() as f64 / r.val[c].len() as f64
        })
        .collect();
    let (mean, ci) = trainer::eval::mean_ci(&per_class);
    let model_row = of("classes", "class")
        .into_iter()
        .find(|r| r.method == "model")
        .expect("a class-unit row");
    assert_eq!(model_row.units, 4, "{rows:?}");
    assert!(
        (model_row.mean - 100.0 * mean).abs() < 1e-9,
        "{rows:?} vs {per_class:?}"
    );
    assert!((model_row.ci95 - 100.0 * ci).abs() < 1e-9, "{rows:?}");
    // Both kinds of units, every method, for the adaptable head too (2 of 4 classes an episode).
    for head in ["classes", "episodes"] {
        let (unit, class) = (
            of(
                head,
                if head == "classes" {
                    "validation row"
                } else {
                    "episode"
                },
            ),
            of(head, "class"),
        );
        assert_eq!(unit.len(), class.len(), "{rows:?}");
        assert!(
            class.iter().all(|r| r.units == 4 && r.draws == 1),
            "{rows:?}"
        );
    }
    // A regression head has no class rows.
    assert!(of("intensity", "class").is_empty(), "{rows:?}");
}

#[test]
fn an_adaptable_rows_regression_head_is_scored_beside_its_line() {
    // Its draws have support rows, so the line baseline runs on the head's own training rows'
    // standardisation (an empty one indexed out of bounds).
    let d = dir("rows-line");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    let text = format!(
        "{INTENSITY}adaptable = true\nalgorithm = \"maml\"\nsteps = 1\nshots = 3\nquery = 3\n"
    );
    let (_, _, rows) = trained_and_evaluated(&text, &d);
    let line = rows
        .iter()
        .find(|r| r.method == "line")
        .expect("a line row");
    assert!(line.mean.is_finite() && line.units == 20, "{rows:?}");
}

#[test]
fn a_training_k_range_draws_each_training_task_its_own_k_and_validates_at_shots() {
    let d = dir("k-range");
    raw_inputs_csv(&d.join("tasks.csv"), 20, 500.0, &[]);
    let text = RAW_INPUTS.replace("shots = 4\n", "shots = 4\nshots_min = 2\nshots_max = 6\n");
    let cfg = MtConfig::parse(&text, "mt.toml").unwrap();
    let heads = build_heads(&cfg, &d).unwrap();
    let k_of = |val: bool| -> Vec<usize> {
        (0..20)
            .flat_map(|b| trainer::multitask::draws(&heads[0], &cfg, 0, b, val))
            .map(|dr| match dr {
                trainer::multitask::Draw::Values(t) => t.k(),
                _ => panic!("a task head"),
            })
            .collect()
    };
    let train_k = k_of(false);
    assert!(train_k.iter().all(|k| (2..=6).contains(k)), "{train_k:?}");
    assert!(train_k.contains(&2) && train_k.contains(&6), "{train_k:?}");
    assert!(k_of(true).iter().all(|&k| k == 4));
    // Without a range every training task has `shots`.
    let fixed = MtConfig::parse(RAW_INPUTS, "mt.toml").unwrap();
    let h = build_heads(&fixed, &d).unwrap();
    let dr = trainer::multitask::draws(&h[0], &fixed, 0, 3, false);
    assert!(dr
        .iter()
        .all(|x| matches!(x, trainer::multitask::Draw::Values(t) if t.k() == 4)));
    // An empty range is refused, naming the key.
    let bad = RAW_INPUTS.replace("shots = 4\n", "shots = 4\nshots_min = 5\nshots_max = 3\n");
    let e = MtConfig::parse(&bad, "mt.toml").unwrap_err().to_string();
    assert!(
        e.contains("head[0].shots_min") && e.contains("5..=3"),
        "{e}"
    );
    // ANIL adapts the head only: a wider scope, which it would ignore, is refused.
    let anil = RAW_INPUTS.replace("algorithm = \"maml\"", "algorithm = \"anil\"");
    assert!(MtConfig::parse(&anil, "mt.toml").is_ok());
    let wide = anil.replace("steps = 1\n", "steps = 1\nscope = \"everything\"\n");
    let e = MtConfig::parse(&wide, "mt.toml").unwrap_err().to_string();
    assert!(
        e.contains("head[0].scope") && e.contains("anil adapts the head only"),
        "{e}"
    );
}

#[test]
fn rows_heads_standardise_on_training_rows_only_and_share_one_input_width() {
    let d = dir("std-rows");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    let cfg = MtConfig::parse(MT, "mt.toml").unwrap();
    let mut heads = build_heads(&cfg, &d).unwrap();
    let fitted = trainer::multitask::input_normalisation(&cfg, &heads);
    assert_eq!(
        (&heads[1].arch.shift, &heads[1].arch.scale),
        (&fitted.0, &fitted.1)
    );
    assert!(fitted.1.iter().any(|&s| s != 1.0), "{fitted:?}");
    let Source::Rows(r) = &mut heads[0].source else {
        panic!("a rows head");
    };
    // Validation rows do not enter it; training rows do.
    let (val, train) = (r.val[0][0], r.train[0][0]);
    r.x[val * r.d] += 1e6;
    assert_eq!(
        trainer::multitask::input_normalisation(&cfg, &heads),
        fitted
    );
    let Source::Rows(r) = &mut heads[0].source else {
        unreachable!()
    };
    r.x[train * r.d] += 1e6;
    assert_ne!(
        trainer::multitask::input_normalisation(&cfg, &heads),
        fitted
    );
    // A head of another input width is refused: the heads share one trunk.
    raw_inputs_csv(&d.join("tasks.csv"), 10, 1.0, &[]);
    let text = format!(
        "{MT}{}",
        &RAW_INPUTS[RAW_INPUTS.find("[[head]]").unwrap()..]
    );
    let e = build_heads(&MtConfig::parse(&text, "mt.toml").unwrap(), &d)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("share one trunk"), "{e}");
}

#[test]
fn bad_multitask_configs_exit_2_naming_file_line_and_field() {
    let d = dir("bad");
    let cases = [
        // (replace, with, expected line, field)
        (
            "standardise_inputs = true",
            "input_scale = 0.0625",
            9,
            "trunk.input_scale",
        ),
        (
            "loss = \"mse\"\nweight",
            "loss = \"ce\"\nweight",
            22,
            "head[1].loss",
        ),
        (
            "weight = \"uncertainty\"",
            "weight = \"sometimes\"",
            23,
            "head[1].weight",
        ),
        ("ways = 2", "ways = 2\nwidth = 3", 31, "width"),
        (
            "loss = \"mse\"\nweight",
            "loss = \"mse\"\nstandardise_targets = true\nweight",
            23,
            "head[1].standardise_targets",
        ),
        (
            "val_batches = 2",
            "val_batches = 2\nlr_final = 1.0",
            7,
            "lr_final",
        ),
        (
            "val_batches = 2",
            "val_batches = 2\nwarmup = 1000000",
            7,
            "warmup",
        ),
        (
            "source = \"intensity\"",
            "source = \"brightness\"",
            20,
            "source",
        ),
        (
            "query = 2\nsteps",
            "query = 2\nalgorithm = \"proximal\"\nsteps",
            33,
            "head[2].algorithm",
        ),
        (
            "name = \"episodes\"",
            "name = \"classes\"",
            25,
            "head[2].name",
        ),
        // A rows head holds out rows (`val_fraction`), not tasks.
        (
            "name = \"episodes\"",
            "name = \"episodes\"\nsplit_seed = 1",
            26,
            "head[2].split_seed",
        ),
    ];
    for (i, (from, to, line, field)) in cases.iter().enumerate() {
        let text = MT.replacen(from, to, 1);
        assert_ne!(text, MT);
        let p = d.join(format!("bad{i}.toml"));
        std::fs::write(&p, &text).unwrap();
        let o = run(bin().args(["train", "--config"]).arg(&p));
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{e}");
        let want = format!("{}:{line}: field `{field}`", p.display());
        assert!(e.contains(&want), "want {want}, got {e}");
    }
}

/// `<d>/digits.toml`: a small digits configuration (with `extra` keys) on a tiny synthetic
/// CSV of 10 classes, `<d>/tiny.csv`.
fn tiny_digits(d: &Path, extra: &str) -> PathBuf {
    let data = d.join("tiny.csv");
    tiny_csv(&data, 10, 84);
    let cfg = format!(
        "data = {:?}\ninput = {{ kind = \"image\", width = 4, height = 4 }}\n\
         val_episodes = 5\nmeta_batch = 2\nhidden = [16, 16]\n\
         device_scales = [0.5]\ndevice_alphas = [0.0, 0.3]\ndevice_steps = 2\n{extra}",
        data.display().to_string()
    );
    std::fs::write(d.join("digits.toml"), cfg).unwrap();
    d.join("digits.toml")
}

#[test]
fn digits_cli_trains_and_evaluates_a_tiny_csv() {
    let d = dir("digits");
    let data = d.join("tiny.csv");
    tiny_digits(&d, "iterations = 4\nval_every = 2\n");
    let model = d.join("digits.postcard");
    let o = run(bin()
        .args(["train", "--preset", "digits", "--config"])
        .arg(d.join("digits.toml"))
        .arg("--out")
        .arg(&model));
    let so = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(so.contains("nearest_centroid_raw"), "{so}");
    assert!(so.contains("nearest_centroid_standardised"), "{so}");
    assert!(model.with_extension("curve.png").exists());
    assert!(model.with_extension("accuracy.png").exists());
    let o = run(bin()
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .args([
            "--shots",
            "1,5",
            "--steps",
            "0,2",
            "--episodes",
            "20",
            "--json",
        ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["results"].as_array().unwrap();
    // 2 step counts and 2 nearest-centroid baselines, for 2 shot counts.
    assert_eq!(rows.len(), 8);
    for r in rows {
        let a = r["accuracy"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&a) && r["episodes"] == 20, "{r}");
    }
}

#[test]
fn multitask_run_stopped_then_resumed_gives_the_uninterrupted_bytes() {
    let d = dir("resume");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    std::fs::write(d.join("mt.toml"), MT).unwrap();
    let train = |sub: &str, extra: &[&str]| {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        let model = d.join(sub).join("m.postcard");
        let o = run(bin()
            .args(["train", "--no-eval", "--config"])
            .arg(d.join("mt.toml"))
            .arg("--out")
            .arg(&model)
            .args(extra));
        (o, model)
    };
    let (o, straight) = train("straight", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Stopped at 13 of 30 (as Ctrl-C would): exit 130 and a checkpoint, no model.
    let (o, resumed) = train(
        "resumed",
        &["--stop-after", "13", "--checkpoint-every", "5"],
    );
    assert_eq!(o.status.code(), Some(130));
    assert!(resumed.with_extension("ckpt").exists() && !resumed.exists());
    // A checkpoint of another configuration is refused.
    let (o, _) = train("resumed", &["--resume", "--seed", "9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("different configuration"));
    // A checkpoint with a head's parameters cut short is refused, not indexed.
    let ckpt = d.join("resumed").join("m.ckpt");
    let good = std::fs::read(&ckpt).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v["params"]["heads"][0].as_array_mut().unwrap().pop();
    v["params"]["trunk"]
        .as_array_mut()
        .unwrap()
        .push(0.0.into());
    std::fs::write(&ckpt, serde_json::to_vec(&v).unwrap()).unwrap();
    let (o, _) = train("resumed", &["--resume"]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::write(&ckpt, &good).unwrap();
    let (o, resumed) = train("resumed", &["--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    same_model_and_trained_json(&straight, &resumed);
}

/// The two runs wrote the same model bytes and the same `trained.json`.
fn same_model_and_trained_json(a: &Path, b: &Path) {
    for p in [a.to_path_buf(), a.with_extension("trained.json")] {
        let q = b.with_file_name(p.file_name().unwrap());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read(&q).unwrap(),
            "{}",
            q.display()
        );
    }
}

#[test]
fn digits_run_stopped_then_resumed_gives_the_uninterrupted_bytes() {
    // A trained trunk (anchored), learned loss weights and a cross-validated metric: every part
    // of the state a checkpoint must carry; the best validation comes after the first stop.
    let common = "iterations = 12\nval_every = 4\nfreeze_trunk = false\nlr = 0.02\npatience = 0\n\
         aux_weight = \"uncertainty\"\ncv_episodes = 10\ncheckpoint_every = 5\n";
    stopped_then_resumed(
        "digits-resume",
        &format!("{common}metric_powers = [0.0, 0.2]\n[matching]\nenabled = false\n"),
    );
    // The same with the matching head's cross-validated choice in the checkpoint instead.
    stopped_then_resumed(
        "digits-resume-matching",
        &format!(
            "{common}[matching]\nper_class = [1, 2]\nshifts = [0, 1]\nshears = [0.0]\n\
             scales = [0.5]\nalphas = [0.0, 0.3]\nepisodes = 4\n"
        ),
    );
}

fn stopped_then_resumed(name: &str, extra: &str) {
    let d = dir(name);
    let cfg = tiny_digits(&d, extra);
    let train = |sub: &str, extra: &[&str]| {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        let model = d.join(sub).join("m.postcard");
        let o = run(bin()
            .args(["train", "--preset", "digits", "--no-eval", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&model)
            .args(extra));
        (o, model)
    };
    let err = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let (o, straight) = train("straight", &[]);
    assert!(o.status.success(), "{}", err(&o));
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(straight.with_extension("trained.json")).unwrap())
            .unwrap();
    assert!(t["best_iter"].as_u64().unwrap() > 6, "{}", t["best_iter"]);
    // Stopped at 6 of 12 (as Ctrl-C would): exit 130 and a checkpoint, no model.
    let (o, resumed) = train("resumed", &["--stop-after", "6"]);
    assert_eq!(o.status.code(), Some(130), "{}", err(&o));
    let ckpt = resumed.with_extension("ckpt");
    assert!(ckpt.exists() && !resumed.exists());
    // A resume with another setting is refused; the length and checkpoint period may change.
    let (o, _) = train("resumed", &["--resume", "--seed", "9"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("different configuration"), "{}", err(&o));
    let (o, _) = train(
        "resumed",
        &[
            "--resume",
            "--iterations",
            "12",
            "--checkpoint-every",
            "2",
            "--stop-after",
            "9",
        ],
    );
    assert_eq!(o.status.code(), Some(130), "{}", err(&o));
    assert!(err(&o).contains("resuming at iteration 6"), "{}", err(&o));
    // Hand-edited or damaged checkpoints are refused (exit 2), not indexed.
    let good = std::fs::read(&ckpt).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    assert_eq!(v["iter"], 9);
    for part in ["params", "m", "anchor"] {
        let mut bad = v.clone();
        bad[part].as_array_mut().unwrap().pop();
        std::fs::write(&ckpt, serde_json::to_vec(&bad).unwrap()).unwrap();
        let (o, _) = train("resumed", &["--resume"]);
        assert_eq!(o.status.code(), Some(2), "{part}: {}", err(&o));
        assert!(err(&o).contains("do not match"), "{part}: {}", err(&o));
    }
    std::fs::write(&ckpt, &good[..good.len() / 2]).unwrap();
    let (o, _) = train("resumed", &["--resume"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    std::fs::write(&ckpt, &good).unwrap();
    let (o, resumed) = train("resumed", &["--resume"]);
    assert!(o.status.success(), "{}", err(&o));
    same_model_and_trained_json(&straight, &resumed);
}

#[test]
fn bad_digits_configs_exit_2_naming_file_line_and_key() {
    let d = dir("digits-bad");
    let cases = [
        ("iterations = 4\nhidden = [0]\n", 2, "hidden"),
        ("train_classes = [0, 0, 1, 2]\n", 1, "train_classes"),
        ("\nval_fraction = 0.0\n", 2, "val_fraction"),
        ("device_steps = 70000\n", 1, "device_steps"),
        ("lr = nan\n", 1, "lr"),
        ("widths = 3\n", 1, "widths"),
        ("metric_powers = [0.0, 0.1]\n", 1, "metric_powers"),
        ("[matching]\nper_class = [0]\n", 2, "matching.per_class"),
        (
            "iterations = 4\ncheckpoint_every = -1\n",
            2,
            "checkpoint_every",
        ),
        // The multi-task spelling of a trunk's layers: named, with the classification one.
        (
            "iterations = 4\n[[trunk.layers]]\nkind = \"dense\"\nunits = 4\n",
            2,
            "trunk.layers",
        ),
    ];
    for (i, (text, line, key)) in cases.iter().enumerate() {
        let p = d.join(format!("bad{i}.toml"));
        std::fs::write(&p, text).unwrap();
        let o = run(bin()
            .args(["train", "--preset", "digits", "--config"])
            .arg(&p));
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text}: {e}");
        let want = format!("{}:{line}: field `{key}`", p.display());
        assert!(e.contains(&want), "want {want}, got {e}");
        if *key == "trunk.layers" {
            assert!(e.contains("list of `[[trunk]]` tables"), "{e}");
        }
    }
    // A flag override is checked too.
    let o = run(bin().args(["train", "--preset", "digits", "--iterations", "0"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("iterations"));
}

#[test]
fn any_toml_spelling_of_head_tables_is_a_multitask_config() {
    let d = dir("spelling");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    let text = MT.replace("[[head]]", "[[ head ]] # one head");
    std::fs::write(d.join("mt.toml"), text).unwrap();
    let o = run(bin()
        .args(["train", "--no-eval", "--iterations", "2", "--config"])
        .arg(d.join("mt.toml"))
        .arg("--out")
        .arg(d.join("m.postcard")));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `MT`'s heads on a convolution trunk over the 4x4 images, the adaptable head meta-learned
/// with `algorithm`.
fn conv_config(algorithm: &str) -> String {
    MT.replace(
        "[trunk]\nhidden = [8, 8]\nstandardise_inputs = true\n",
        "[trunk]\nstandardise_inputs = true\ninput = { kind = \"image\", width = 4, height = 4 }\n\
         [[trunk.layers]]\nkind = \"conv2d\"\nchannels = 3\nkernel = 3\npadding = 1\n\
         [[trunk.layers]]\nkind = \"max_pool\"\nsize = 2\n\
         [[trunk.layers]]\nkind = \"flatten\"\n\
         [[trunk.layers]]\nkind = \"dense\"\nunits = 8\n",
    )
    .replace(
        "adaptable = true\n",
        &format!("adaptable = true\nalgorithm = \"{algorithm}\"\n"),
    )
}

#[test]
fn a_convolution_trunk_trains_with_every_head_algorithm() {
    let d = dir("conv");
    tiny_csv(&d.join("tiny.csv"), 4, 12);
    for algorithm in ["maml", "fomaml", "anil", "meta_sgd"] {
        let cfg = MtConfig::parse(&conv_config(algorithm), "mt.toml").unwrap();
        let heads = build_heads(&cfg, &d).unwrap();
        // conv 3 x 3x3 (pad 1) -> 3 x 4 x 4, max pool 2 -> 3 x 2 x 2, flatten, dense 8.
        assert_eq!(heads[0].arch.n_trunk, 4, "{algorithm}");
        assert_eq!(heads[0].arch.layers[3].inputs, 12, "{algorithm}");
        let t = train(&cfg, &heads, &AtomicBool::new(false), false).unwrap();
        let (first, last) = (&t.curve[0], t.curve.last().unwrap());
        assert!(
            last.val_loss[0] < first.val_loss[0],
            "{algorithm}: {:?}",
            t.curve
        );
        assert!(last.val_loss.iter().all(|l| l.is_finite()), "{algorithm}");
    }
    // A convolution needs a map: on a vector input it is refused at parse time, naming it.
    let vector =
        conv_config("maml").replace("input = { kind = \"image\", width = 4, height = 4 }\n", "");
    let e = MtConfig::parse(&vector, "mt.toml").unwrap_err().to_string();
    assert!(
        e.contains("trunk.layers") && e.contains("conv2d") && e.contains("image"),
        "{e}"
    );
}

#[test]
fn a_rows_head_takes_named_classes_from_another_label_column() {
    let d = dir("named");
    tiny_csv(&d.join("plain.csv"), 4, 12);
    // The same rows with a header, the label first under `kind` and named.
    let text = std::fs::read_to_string(d.join("plain.csv")).unwrap();
    let mut s = String::from("kind");
    for j in 0..16 {
        s += &format!(",p{j}");
    }
    s += "\n";
    for line in text.lines() {
        let (x, c) = line.rsplit_once(',').unwrap();
        s += &format!("\"gesture {c}\",{x}\n");
    }
    std::fs::write(d.join("named.csv"), s).unwrap();
    let head = |classes: &str| {
        format!(
            "iterations = 5\n[trunk]\nhidden = [8]\n[[head]]\nname = \"g\"\nsource = \"classes\"\npath = \"named.csv\"\nlabel_column = \"kind\"\nclasses = {classes}\nloss = \"ce\"\n"
        )
    };
    let cfg = MtConfig::parse(&head(r#"["gesture 2", 0]"#), "mt.toml").unwrap();
    let heads = build_heads(&cfg, &d).unwrap();
    let Source::Rows(r) = &heads[0].source else {
        panic!("a rows head");
    };
    assert_eq!(r.classes, 2);
    // Head output 0 is "gesture 2" (class 2 of the sorted names), output 1 class 0: each
    // training row's label follows the list's order.
    let plain = build_heads(
        &MtConfig::parse(
            &head("[2, 0]")
                .replace("named.csv", "plain.csv")
                .replace("label_column = \"kind\"\n", ""),
            "mt.toml",
        )
        .unwrap(),
        &d,
    )
    .unwrap();
    let Source::Rows(p) = &plain[0].source else {
        panic!("a rows head");
    };
    assert_eq!((&r.class, &r.x), (&p.class, &p.x));
    let cfg = MtConfig::parse(&head(r#"["gesture 9"]"#), "mt.toml").unwrap();
    let e = format!("{:#}", build_heads(&cfg, &d).err().unwrap());
    assert!(e.contains(r#"no class named "gesture 9""#), "{e}");
}

#[test]
fn a_csv_tasks_head_reads_named_columns_as_the_x_y_layout() {
    let d = dir("task-columns");
    raw_tasks_csv(&d.join("tasks.csv"), 12);
    // The same rows under a user's names, the target before the input.
    let text = std::fs::read_to_string(d.join("tasks.csv")).unwrap();
    let mut named = String::from("subject,reading_mv,temp_c\n");
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        named += &format!("{},{},{}\n", f[0], f[2], f[1]);
    }
    std::fs::write(d.join("named.csv"), named).unwrap();
    let cfg = |path: &str, extra: &str| {
        let text = format!(
            "iterations = 20\nval_every = 10\n[trunk]\nhidden = [4]\n\n[[head]]\nname = \"level\"\n\
             source = \"csv_tasks\"\npath = \"{path}\"\nloss = \"mse\"\nadaptable = true\n\
             algorithm = \"maml\"\nsteps = 1\nshots = 5\nquery = 5\n{extra}"
        );
        MtConfig::parse(&text, "mt.toml").unwrap()
    };
    let bytes = |cfg: &MtConfig| {
        let heads = build_heads(cfg, &d).unwrap();
        let t = train(cfg, &heads, &AtomicBool::new(false), false).unwrap();
        model_def("mt", &heads, &t.params)
            .unwrap()
            .to_bytes()
            .unwrap()
    };
    let plain = bytes(&cfg("tasks.csv", ""));
    let renamed = bytes(&cfg(
        "named.csv",
        "task_column = \"subject\"\ntargets = [\"reading_mv\"]\n",
    ));
    assert_eq!(plain, renamed);
    // Without the names the file is refused (no `task_id` column).
    let heads = build_heads(&cfg("named.csv", ""), &d);
    assert!(heads.is_err());
}
