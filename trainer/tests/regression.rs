//! Regression on a user's own CSV of repeated measures (subjects x time points, targets in raw
//! units of hundreds): targets standardised on the meta-training tasks and undone by the device,
//! the run record and its checks, evaluation over distinct held-out tasks with baselines on the
//! same draws, cross-validation over task ids, and values refused before any work.
//!
//! The generator of the measured data sets is here; the measurement itself (MAML, Meta-SGD and
//! the implicit step against the population mean, full size) is the ignored test at the end:
//! `cargo test --release -p trainer --test regression -- --ignored --nocapture`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
mod common;
use common::{bin, run, train_refuses};
use trainer::config::Config;
use trainer::eval::{ci_cell, line_predict, mean_ci, t95, Interval};
use trainer::tasks::{CsvTasks, Sinusoid, Task, TaskSource};

/// Subject trajectories in raw units: `linear`: y = offset + slope * t + noise (offset ~ 500 +-
/// 150, slope ~ 20 +- 8 per time unit, noise sd 15); otherwise a saturating growth curve
/// y = base + amp (1 - exp(-t / tau)) + noise (base ~ 300 +- 80, amp ~ 400 +- 120, tau in
/// [2, 8], noise sd 15). Each subject has 8-15 time points at irregular times in [0, 20).
pub fn repeated_measures(subjects: usize, linear: bool, seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = |rng: &mut ChaCha8Rng| {
        // Box-Muller.
        let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut s = String::from("task_id,x1,y1\n");
    for i in 0..subjects {
        let n = rng.random_range(8..=15);
        let (a, b, c) = (
            normal(&mut rng),
            normal(&mut rng),
            rng.random_range(2.0..8.0),
        );
        for _ in 0..n {
            let t: f64 = rng.random_range(0.0..20.0);
            let y = if linear {
                500.0 + 150.0 * a + (20.0 + 8.0 * b) * t
            } else {
                300.0 + 80.0 * a + (400.0 + 120.0 * b) * (1.0 - (-t / c).exp())
            } + 15.0 * normal(&mut rng);
            s += &format!("s{i:02},{t:.2},{y:.1}\n");
        }
    }
    s
}

fn dir(name: &str) -> PathBuf {
    common::dir("reg", name)
}

fn config(algorithm: &str, iterations: u64) -> String {
    let (steps, alpha, extra) = match algorithm {
        "proximal" => (1, 0.5, "scope = \"head_only\"\nalpha_max = 100.0\n"),
        _ => (5, 0.05, ""),
    };
    format!(
        r#"[task]
kind = "csv"
path = "subjects.csv"
test_fraction = 0.2

[model]
hidden = [32, 32]

[meta]
algorithm = "{algorithm}"
steps = {steps}
alpha = {alpha}
step_weights = []
{extra}
[train]
iterations = {iterations}
shots_min = 2
shots_max = 7
query = 5
lr = 3e-3
lr_final = 3e-4

[eval]
shots = [2, 5]
steps = [{steps}]
tasks = 60
"#
    )
}

/// (method, K, steps) -> (mean, ci, tasks) of an `eval --json` output.
fn row(v: &serde_json::Value, method: &str, k: u64, steps: u64) -> serde_json::Value {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["method"] == method && r["shots"] == k && r["steps"] == steps)
        .unwrap_or_else(|| panic!("no {method} K={k} steps={steps} in {v}"))
        .clone()
}

/// `trainer train --no-eval` of `config` into `model`, which must succeed.
fn train_quietly(config: &std::path::Path, model: &std::path::Path) {
    let o = run(bin()
        .args(["train", "--threads", "1", "--no-eval", "--config"])
        .arg(config)
        .arg("--out")
        .arg(model));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_head_is_named_after_the_target_columns() {
    let d = dir("named");
    // The same measures under a user's column names, the target before an input.
    let csv =
        repeated_measures(12, true, 3).replacen("task_id,x1,y1", "subject,hours,reading_mv", 1);
    let csv: String = csv
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{},{}\n", f[0], f[2], f[1])
        })
        .collect();
    std::fs::write(d.join("subjects.csv"), csv).unwrap();
    let cfg = config("maml", 5).replacen(
        "test_fraction = 0.2",
        "test_fraction = 0.2\ntask_column = \"subject\"\ntargets = [\"reading_mv\"]",
        1,
    );
    std::fs::write(d.join("run.toml"), cfg).unwrap();
    let model = d.join("m.postcard");
    train_quietly(&d.join("run.toml"), &model);
    let blob = runtime::format::AlignedBytes::read(&model).unwrap();
    let m = runtime::Model::from_bytes(&blob).unwrap();
    assert_eq!(m.heads()[0].name, "reading_mv");
    assert_eq!(m.input_len(), 1);
    // Names are cut to the format's limit on a character boundary; none gives `y`.
    let long = vec![
        "température_°C".to_string(),
        "humidité_relative_%".to_string(),
    ];
    let name = trainer::regression::head_name(&long).unwrap();
    assert!(name.len() <= runtime::format::MAX_NAME_LEN, "{name}");
    assert!("température_°C, humidité_relative_%".starts_with(&name));
    assert_eq!(trainer::regression::head_name(&[]), None);
    // A configuration file's stem longer than a model name may be is cut, not refused after
    // the training (a 38-byte stem failed at export before).
    let long_cfg = d.join("sensor_calibration_with_temperature_v2.toml");
    std::fs::copy(d.join("run.toml"), &long_cfg).unwrap();
    train_quietly(&long_cfg, &d.join("long.postcard"));
    let blob = runtime::format::AlignedBytes::read(d.join("long.postcard")).unwrap();
    let m = runtime::Model::from_bytes(&blob).unwrap();
    assert_eq!(m.name(), "sensor_calibration_with_temperat");
    // A multi-task model is named after its file, cut the same way.
    let long = std::path::Path::new("/tmp/a model of the front door's vibration sensor.postcard");
    let name = trainer::export::model_name(long).unwrap();
    assert_eq!(name, "a model of the front door's vibr");
}

#[test]
fn several_targets_are_scored_each_in_its_units_and_eval_takes_the_runs_settings() {
    let d = dir("two-targets");
    // A second target in other units (a thousandth of the first, plus a per-row wobble).
    let csv: String = repeated_measures(12, true, 3)
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => "task_id,x1,level,level_k\n".to_string(),
            _ => {
                let y: f64 = l.rsplit(',').next().unwrap().parse().unwrap();
                format!("{l},{}\n", y / 1000.0 + (i % 3) as f64 * 1e-3)
            }
        })
        .collect();
    std::fs::write(d.join("subjects.csv"), csv).unwrap();
    let cfg = config("maml", 5).replacen(
        "test_fraction = 0.2",
        "test_fraction = 0.2\ntargets = [\"level\", \"level_k\"]",
        1,
    );
    std::fs::write(d.join("run.toml"), cfg).unwrap();
    let model = d.join("m.postcard");
    train_quietly(&d.join("run.toml"), &model);
    // No --shots / --steps / --tasks: the run's [eval] (K 2 and 5, 5 steps), not 5,10,20.
    let o = run(bin().args(["eval", "--json", "--model"]).arg(&model));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let shots: Vec<u64> = v["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["shots"].as_u64().unwrap())
        .collect();
    assert_eq!(shots, [2, 5]);
    for method in ["model", "population_mean", "line"] {
        let r = row(&v, method, 5, if method == "model" { 5 } else { 0 });
        let per = r["per_output"].as_array().unwrap();
        let names: Vec<&str> = per.iter().map(|o| o["output"].as_str().unwrap()).collect();
        assert_eq!(names, ["level", "level_k"]);
        // The query MSE is their mean; the second output's is a millionth of the first's.
        let (a, b) = (
            per[0]["mean_mse"].as_f64().unwrap(),
            per[1]["mean_mse"].as_f64().unwrap(),
        );
        let mean = r["mean_mse"].as_f64().unwrap();
        assert!((mean - (a + b) / 2.0).abs() < 1e-9 * mean.max(1.0), "{r}");
        assert!(b < a * 1e-3, "{r}");
    }
    let o = run(bin().args(["eval", "--model"]).arg(&model));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("each output's query MSE") && text.contains("level_k"),
        "{text}"
    );
    // An `[eval]` K that a held-out task (8 to 15 rows) cannot serve is refused before any
    // training, naming the key; few held-out tasks get a note pointing to `cv`.
    let big = std::fs::read_to_string(d.join("run.toml"))
        .unwrap()
        .replace("shots = [2, 5]", "shots = [2, 15]");
    std::fs::write(d.join("big.toml"), big).unwrap();
    let o = run(bin()
        .args(["train", "--threads", "1", "--config"])
        .arg(d.join("big.toml"))
        .arg("--out")
        .arg(d.join("big.postcard")));
    let err = String::from_utf8_lossy(&o.stderr);
    // ... and the held-out tasks too short for it.
    assert!(
        !o.status.success()
            && err.contains("`[eval] shots`: K = 15 needs 16 rows per held-out task")
            && err.contains(" rows); a K up to "),
        "{err}"
    );
    assert!(!d.join("big.postcard").exists());
    let two = std::fs::read_to_string(d.join("run.toml")).unwrap();
    assert!(two.contains("test_fraction = 0.2"));
    let o = run(bin()
        .args(["train", "--threads", "1", "--iterations", "1", "--config"])
        .arg(d.join("run.toml"))
        .arg("--out")
        .arg(d.join("two.postcard")));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("note: 2 held-out task(s)") && err.contains("trainer cv"),
        "{err}"
    );
}

#[test]
fn a_csv_run_records_its_split_evaluates_over_distinct_tasks_and_refuses_another_split() {
    let d = dir("run");
    std::fs::write(d.join("subjects.csv"), repeated_measures(30, true, 1)).unwrap();
    std::fs::write(d.join("run.toml"), config("maml", 300)).unwrap();
    let model = d.join("out").join("m.postcard");
    let o = run(bin()
        .current_dir(std::env::temp_dir())
        .args(["train", "--threads", "1", "--no-eval", "--config"])
        .arg(d.join("run.toml"))
        .arg("--out")
        .arg(&model));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    // The held-out ids are printed and recorded; the targets are standardised.
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.with_extension("run.json")).unwrap()).unwrap();
    let test_ids: Vec<String> = serde_json::from_value(rec["test_ids"].clone()).unwrap();
    assert_eq!(test_ids.len(), 6);
    assert!(
        err.contains(&format!("6 held-out tasks {test_ids:?}")),
        "{err}"
    );
    assert!(err.contains("targets standardised"), "{err}");
    let (shift, scale): (Vec<f64>, Vec<f64>) =
        serde_json::from_value(rec["targets"].clone()).unwrap();
    // Mean and sd of the 24 meta-training subjects' rows: hundreds, in raw units.
    assert!(
        shift[0] > 400.0 && shift[0] < 1000.0 && scale[0] > 50.0,
        "{shift:?} {scale:?}"
    );
    // The exported head carries them (format v2): the device takes and returns raw units.
    let blob = runtime::format::AlignedBytes::read(&model).unwrap();
    let m = runtime::Model::from_bytes(&blob).unwrap();
    let (s, c) = m.output_normalisation(0).unwrap();
    assert_eq!((s[0], c[0]), (shift[0] as f32, scale[0] as f32));

    let eval = |extra: &[&str]| {
        run(bin()
            .args([
                "eval", "--json", "--shots", "2,5", "--steps", "5", "--tasks", "60",
            ])
            .arg("--model")
            .arg(&model)
            .args(extra))
    };
    // --new-classes is a classification option: refused, not ignored.
    let o = eval(&[
        "--new-classes",
        "--data",
        d.join("subjects.csv").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--new-classes is for classification"));
    let o = eval(&["--per-task"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Six distinct held-out subjects, ten support draws each, the CI over the six.
    for u in v["units"].as_array().unwrap() {
        assert_eq!(
            (u["tasks"].as_u64(), u["draws"].as_u64()),
            (Some(6), Some(10))
        );
        assert_eq!(u["distinct"], true);
        let ids: Vec<String> = serde_json::from_value(u["ids"].clone()).unwrap();
        let mut sorted = test_ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        // Every subject has at least 8 rows: K = 5 leaves 3 or more query rows, never 100.
        assert!(u["query_min"].as_u64().unwrap() >= 3 && u["query_max"].as_u64().unwrap() <= 13);
    }
    for k in [2, 5] {
        for (method, steps) in [
            ("model", 0),
            ("model", 5),
            ("population_mean", 0),
            ("line", 0),
        ] {
            let r = row(&v, method, k, steps);
            let per: Vec<f64> = r["per_task"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["mse"].as_f64().unwrap())
                .collect();
            assert_eq!(per.len(), 6);
            let (mean, ci) = mean_ci(&per);
            assert!((mean - r["mean_mse"].as_f64().unwrap()).abs() < 1e-9 * mean.abs().max(1.0));
            assert!((ci - r["ci95"].as_f64().unwrap()).abs() < 1e-9 * ci.abs().max(1.0));
            assert_eq!(r["tasks"], 6);
        }
        // Each model row minus each baseline, task by task, recomputed from `per_task`.
        let per = |r: &serde_json::Value| -> Vec<f64> {
            let t = r["per_task"].as_array().unwrap();
            t.iter().map(|t| t["mse"].as_f64().unwrap()).collect()
        };
        let model = row(&v, "model", k, 5);
        let diffs = model["minus_baseline"].as_array().unwrap();
        assert_eq!(diffs.len(), 2);
        for d in diffs {
            let base = row(&v, d["baseline"].as_str().unwrap(), k, 0);
            let paired: Vec<f64> = per(&model)
                .iter()
                .zip(per(&base))
                .map(|(a, b)| a - b)
                .collect();
            let (mean, ci) = mean_ci(&paired);
            assert!((mean - d["mean"].as_f64().unwrap()).abs() < 1e-9 * mean.abs().max(1.0));
            assert!((ci - d["ci95"].as_f64().unwrap()).abs() < 1e-9 * ci.abs().max(1.0));
        }
        assert!(row(&v, "line", k, 0).get("minus_baseline").is_none());
    }
    // Raw units: the population mean's error is the spread of subjects (thousands to tens of
    // thousands); the model adapted to 5 points beats it.
    let pm = row(&v, "population_mean", 5, 0)["mean_mse"]
        .as_f64()
        .unwrap();
    let adapted = row(&v, "model", 5, 5)["mean_mse"].as_f64().unwrap();
    assert!(pm > 2000.0, "{pm}");
    assert!(adapted < pm, "model {adapted} vs population mean {pm}");
    // The text table says what the CI is over and the query rows used.
    let o = run(bin()
        .args(["eval", "--shots", "5", "--tasks", "60", "--model"])
        .arg(&model));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("6 distinct held-out tasks, 10 support draw(s) each")
            && out.contains("(asked 100)"),
        "{out}"
    );
    assert!(
        out.contains("population_mean") && out.contains("line"),
        "{out}"
    );

    // Another split, another file, a K the held-out subjects cannot give: refused.
    let other = d.join("other.csv");
    let text = std::fs::read_to_string(d.join("subjects.csv")).unwrap();
    std::fs::write(&other, text + "s00,1.00,500.0\n").unwrap();
    for (extra, want) in [
        (vec!["--split-seed", "3"], "are not the model's"),
        (
            vec!["--task", &format!("csv:{}", other.display())],
            "SHA-256",
        ),
        (
            vec!["--shots", "100"],
            "K = 100 needs 101 rows per held-out task",
        ),
    ] {
        let o = eval(&extra);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {e}");
        assert!(e.contains(want), "{extra:?}: want {want}, got {e}");
    }
    // A K some held-out subjects cannot give is scored on the others, the rest named.
    let o = eval(&["--shots", "12"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let at = |k: u64| {
        v["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["shots"] == k)
            .unwrap()
    };
    let (all, at12) = (at(2), at(12));
    let short = at12["short"].as_array().unwrap().len();
    assert!(short > 0, "{v}");
    assert_eq!(
        at12["tasks"].as_u64().unwrap() + short as u64,
        all["tasks"].as_u64().unwrap()
    );
}

#[test]
fn cross_validation_scores_every_task_once_from_its_own_fold() {
    let d = dir("cv");
    std::fs::write(d.join("subjects.csv"), repeated_measures(9, false, 2)).unwrap();
    std::fs::write(d.join("run.toml"), config("meta_sgd", 40)).unwrap();
    let o = run(bin()
        .args([
            "cv",
            "--threads",
            "1",
            "--folds",
            "3",
            "--json",
            "--per-task",
            "--config",
        ])
        .arg(d.join("run.toml")));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let folds: Vec<Vec<String>> = serde_json::from_value(v["folds"].clone()).unwrap();
    assert_eq!(folds.len(), 3);
    let mut all: Vec<String> = folds.concat();
    all.sort();
    let want: Vec<String> = (0..9).map(|i| format!("s{i:02}")).collect();
    assert_eq!(all, want);
    let r = row(&v, "model", 5, 5);
    assert_eq!(r["tasks"], 9);
    let mut scored: Vec<String> = r["per_task"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"].as_str().unwrap().to_string())
        .collect();
    scored.sort();
    assert_eq!(scored, want);
    // Leave-one-task-out is N = tasks; more folds than tasks is refused.
    let o = run(bin()
        .args(["cv", "--folds", "10", "--config"])
        .arg(d.join("run.toml")));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--folds must be in 2..=9"));
    // A K that no task can serve is refused before any fold trains, naming every task across
    // the folds and the largest K that fits all of them (the fewest rows - 1); a K that some
    // can serve is scored on those, the others named.
    let text = std::fs::read_to_string(d.join("subjects.csv")).unwrap();
    let mut rows = std::collections::BTreeMap::<String, usize>::new();
    for l in text.lines().skip(1) {
        *rows
            .entry(l.split(',').next().unwrap().to_string())
            .or_default() += 1;
    }
    let fewest = *rows.values().min().unwrap();
    let k = *rows.values().max().unwrap() - 1;
    let short = rows.values().filter(|&&r| r < k + 1).count();
    assert!(short >= 2 && fewest < k, "{rows:?}");
    let with_k = |k: usize| {
        std::fs::write(
            d.join("big.toml"),
            config("meta_sgd", 40).replace("shots = [2, 5]", &format!("shots = [2, {k}]")),
        )
        .unwrap();
        run(bin()
            .args(["cv", "--folds", "9", "--config"])
            .arg(d.join("big.toml")))
    };
    let o = with_k(k);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains(&format!("K = {k}: {short} held-out task(s) left out")),
        "{out}"
    );
    let o = with_k(k + 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        !err.contains("fold 1/"),
        "refused only after training: {err}"
    );
    assert!(
        err.contains("9 of 9 tasks the folds hold out have fewer: "),
        "{err}"
    );
    assert!(
        err.contains(&format!("a K up to {} fits every one", fewest - 1)),
        "{err}"
    );
}

#[test]
fn targets_and_inputs_are_standardised_on_meta_training_tasks_only() {
    let text = repeated_measures(10, true, 3);
    let a = CsvTasks::parse(&text, "f.csv", 0.3, 0, 2, &Default::default()).unwrap();
    // Change every held-out row's target: the fitted statistics do not move.
    let held: Vec<String> = a.test_ids.clone();
    let changed: String = text
        .lines()
        .map(|l| match l.split_once(',') {
            Some((id, rest)) if held.iter().any(|h| h == id) => {
                let (x, _) = rest.split_once(',').unwrap();
                format!("{id},{x},99999\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    let b = CsvTasks::parse(&changed, "f.csv", 0.3, 0, 2, &Default::default()).unwrap();
    assert_eq!(a.test_ids, b.test_ids);
    assert_eq!(a.target_normalisation(), b.target_normalisation());
    assert_eq!(a.normalisation(), b.normalisation());
    assert_eq!(a.target_mean(), b.target_mean());
    // They are the meta-training rows' mean and (population) sd.
    let ys: Vec<f64> = text
        .lines()
        .skip(1)
        .filter(|l| a.train_ids.iter().any(|t| l.starts_with(&format!("{t},"))))
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    let m = ys.iter().sum::<f64>() / ys.len() as f64;
    let sd = (ys.iter().map(|y| (y - m).powi(2)).sum::<f64>() / ys.len() as f64).sqrt();
    let (shift, scale) = a.target_normalisation().unwrap();
    assert!((shift[0] - m).abs() < 1e-9 && (scale[0] - sd).abs() < 1e-9);
    // The sinusoid family keeps raw targets: no output normalisation, bytes unchanged.
    assert_eq!(Sinusoid.target_normalisation(), None);
    let cfg = Config::default();
    let s = trainer::regression::fresh_state(&cfg, &Sinusoid).unwrap();
    assert_eq!(s.targets, None);
    let bytes = trainer::regression::model_def("s", &cfg, &s)
        .unwrap()
        .to_bytes()
        .unwrap();
    assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 3);
    let plain = trainer::export::model_def("s", &s.arch, &s.spec, &s.theta, &s.u)
        .unwrap()
        .to_bytes()
        .unwrap();
    assert_eq!(bytes, plain);
}

#[test]
fn csv_values_are_finite_as_f32_and_errors_name_line_and_column() {
    let e = CsvTasks::parse(
        "task_id,x1,y1\na,1,2\na,2,1e300\nb,1,2\nb,2,3\n",
        "big.csv",
        0.5,
        0,
        2,
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("big.csv:3: field `y1`") && e.contains("column 3") && e.contains("32-bit"),
        "{e}"
    );
    // Quoted cells and comments go through the csv crate.
    let t = CsvTasks::parse(
        "task_id,x1,y1\n# a comment\n\"a\",1,2\na,2,3\nb,1,2\nb,2,3\n",
        "q.csv",
        0.5,
        0,
        2,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(t.ids(), ["a", "b"]);
}

#[test]
fn config_values_are_range_checked_with_file_line_and_key() {
    let d = dir("cfg");
    std::fs::write(d.join("subjects.csv"), repeated_measures(6, true, 4)).unwrap();
    let base = config("maml", 10);
    let cases = [
        (
            base.replace("alpha = 0.05", "alpha = 1e300"),
            "run.toml:12: field `meta.alpha`",
        ),
        (
            base.replace("step_weights = []", "step_weights = []\nclip = 1e300"),
            "field `meta.clip`",
        ),
        (base.replace("lr = 3e-3", "lr = 1e300"), "field `train.lr`"),
        (
            base.replace(
                "hidden = [32, 32]",
                "hidden = [4, 4, 4, 4, 4, 4, 4, 4, 4, 4]",
            ),
            "run.toml:7: field `model.hidden`",
        ),
        (
            base.replace("hidden = [32, 32]", "hidden = [8192]"),
            "field `model.hidden`",
        ),
        (
            base.replace("hidden = [32, 32]", "hidden = [4096, 4096]"),
            "2^20 weights",
        ),
    ];
    train_refuses(&d, &cases);
}

fn task(sx: &[f64], sy: &[f64], qx: &[f64], n_in: usize) -> Task {
    Task {
        n_in,
        n_out: 1,
        support_x: sx.to_vec(),
        support_y: sy.to_vec(),
        query_x: qx.to_vec(),
        query_y: vec![0.0; qx.len() / n_in],
        truth: None,
    }
}

#[test]
fn the_line_baseline_and_the_t_interval() {
    let id = (vec![0.0], vec![1.0]);
    // Least squares through exact points; one point or a constant input: the support mean.
    let p = line_predict(&task(&[1.0, 2.0, 4.0], &[3.0, 5.0, 9.0], &[10.0], 1), &id);
    assert!((p[0] - 21.0).abs() < 1e-9, "{p:?}");
    assert_eq!(line_predict(&task(&[1.0], &[7.0], &[5.0], 1), &id), [7.0]);
    assert_eq!(
        line_predict(&task(&[2.0, 2.0], &[1.0, 3.0], &[9.0], 1), &id),
        [2.0]
    );
    // Several inputs and at least inputs + 2 rows: least squares, exact on a plane.
    let id2 = (vec![0.0, 0.0], vec![1.0, 1.0]);
    let sx = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0];
    let sy: Vec<f64> = sx.chunks(2).map(|x| 10.0 * x[0] + x[1]).collect();
    let p = line_predict(&task(&sx, &sy, &[3.0, 0.0], 2), &id2);
    assert!((p[0] - 30.0).abs() < 1e-9, "{p:?}");
    // Fewer rows: ridge, shrunk towards the mean but following the trend, whatever the
    // inputs' units (a task whose inputs vary 1000x less than the population's is not
    // flattened to its mean).
    let ridge = |unit: f64| {
        let sx: Vec<f64> = sx[..6].iter().map(|v| v * unit).collect();
        line_predict(&task(&sx, &sy[..3], &[3.0 * unit, 0.0], 2), &id2)[0]
    };
    let mean = sy[..3].iter().sum::<f64>() / 3.0;
    assert!(
        ridge(1.0) > mean + 5.0 && ridge(1.0) < 30.0,
        "{}",
        ridge(1.0)
    );
    assert!(
        (ridge(1e-3) - ridge(1.0)).abs() < 1e-6 * ridge(1.0),
        "{}",
        ridge(1e-3)
    );
    // Student's t for few units, the normal's 1.96 for many.
    assert_eq!(t95(5), 2.571);
    assert!((t95(1000) - 1.9623).abs() < 1e-3);
    let (m, ci) = mean_ci(&[1.0, 2.0, 3.0]);
    assert!((m - 2.0).abs() < 1e-12 && (ci - 4.303 / 3f64.sqrt()).abs() < 1e-9);
    // One unit has no interval: not a zero-width one. Printed as not available, `null` in JSON.
    let (m, ci) = mean_ci(&[52.13]);
    assert!(m == 52.13 && ci.is_nan(), "{ci}");
    let one = Interval {
        mean: m,
        half: ci,
        n: 1,
        unit: "class",
    };
    assert_eq!(one.to_string(), "52.13 (1 class, no interval)");
    let two = Interval {
        mean: -2.8,
        half: 0.2,
        n: 500,
        unit: "episode",
    };
    assert_eq!(format!("{two:+}"), "-2.80 +- 0.20");
    assert_eq!(
        (ci_cell(ci, 2), ci_cell(0.5, 2)),
        ("n/a".into(), "0.50".into())
    );
    assert_eq!(serde_json::json!([m, ci]), serde_json::json!([52.13, null]));
}

/// The measurement for the README: full-size data sets, the three algorithms, as deployed.
#[test]
#[ignore]
fn measure_repeated_measures() {
    let d = dir("measure");
    let iterations: u64 = std::env::var("ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    for (name, linear) in [("linear", true), ("growth", false)] {
        let csv = d.join("subjects.csv");
        std::fs::write(&csv, repeated_measures(30, linear, 7)).unwrap();
        std::fs::copy(&csv, d.join(format!("{name}.csv"))).unwrap();
        for alg in ["maml", "meta_sgd", "proximal"] {
            let mut text = config(alg, iterations).replace("tasks = 60", "tasks = 600");
            text = text.replace("shots = [2, 5]", "shots = [2, 5, 7]");
            std::fs::write(d.join("run.toml"), &text).unwrap();
            let model = d.join(format!("{name}_{alg}.postcard"));
            let t0 = std::time::Instant::now();
            let o = run(bin()
                .args(["train", "--config"])
                .arg(d.join("run.toml"))
                .arg("--out")
                .arg(&model));
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            println!(
                "== {name}, {alg}, {iterations} iterations ({:.0} s)\n{}",
                t0.elapsed().as_secs_f64(),
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
    println!("data and models in {}", d.display());
}
