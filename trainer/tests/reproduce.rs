//! From a fresh clone, the committed models are what their commands make, on any x86-64 CPU:
//! retrained from scratch, each model is as good as the committed one (its evaluation, saved in
//! `models/<name>.eval.json`, within a tolerance: `gemm` picks other kernels on other CPUs, so
//! the bytes may differ) and meets its targets as deployed:
//! - the implicit-step sinusoid config (about a minute): 600 held-out tasks, 100 query points,
//!   after 1 step <= 0.32 / 0.20 / 0.11, after 10 steps <= 0.27 / 0.096 / 0.030 for K = 5 / 10 / 20;
//! - the digits preset (about 2 minutes on 2 threads, most of it the cross-validation): novel
//!   digits 5-9, 2000 episodes, >= 76.5% 1-shot and >= 92.5% 5-shot, above nearest centroid.

use std::path::PathBuf;
use std::process::Command;

#[derive(serde::Deserialize)]
struct Row {
    shots: usize,
    steps: usize,
    tasks: usize,
    mean_mse: f64,
}

/// Runs `trainer train <args> --out <tmp>/<model>` from the checkout and returns the written
/// path; says whether the bytes are the committed ones.
fn retrain(args: &[&str], model: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("trainer-reproduce-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(model);
    let o = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .arg("train")
        .args(args)
        .arg("--out")
        .arg(&out)
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let committed = std::fs::read(root.join("models").join(model)).unwrap();
    let same = std::fs::read(&out).unwrap() == committed;
    eprintln!(
        "`trainer train {}`: {} models/{model}",
        args.join(" "),
        if same {
            "the bytes of"
        } else {
            "other bytes than (another CPU's kernels)"
        }
    );
    out
}

/// The evaluation rows saved beside the committed model `name`.
fn committed<T: serde::de::DeserializeOwned>(name: &str) -> Vec<T> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let p = root.join("models").join(format!("{name}.eval.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

#[test]
#[ignore = "retrains a preset from scratch (minutes): run with `cargo xtask reproduce`"]
fn the_proximal_config_reproduces_the_committed_model_and_meets_the_targets() {
    let out = retrain(
        &[
            "--threads",
            "2",
            "--config",
            "trainer/configs/sinusoid_proximal.toml",
        ],
        "sinusoid_proximal.postcard",
    );
    let rows: Vec<Row> =
        serde_json::from_slice(&std::fs::read(out.with_extension("eval.json")).unwrap()).unwrap();
    let targets = [
        (5, 1, 0.32),
        (10, 1, 0.20),
        (20, 1, 0.11),
        (5, 10, 0.27),
        (10, 10, 0.096),
        (20, 10, 0.030),
    ];
    let before: Vec<Row> = committed("sinusoid_proximal");
    for (shots, steps, target) in targets {
        let find = |rows: &[Row]| -> f64 {
            let r = rows
                .iter()
                .find(|r| r.shots == shots && r.steps == steps)
                .unwrap_or_else(|| panic!("no K={shots}, {steps}-step row"));
            assert_eq!(r.tasks, 600);
            r.mean_mse
        };
        let (now, then) = (find(&rows), find(&before));
        assert!(now <= target, "K={shots}, {steps} steps: {now} > {target}");
        assert!(
            now <= 1.25 * then + 1e-3,
            "K={shots}, {steps} steps: {now}, the committed model {then}"
        );
    }
}

#[derive(serde::Deserialize)]
struct AccRow {
    method: String,
    shots: usize,
    steps: Option<usize>,
    episodes: usize,
    accuracy: f64,
}

#[test]
#[ignore = "retrains a preset from scratch (minutes): run with `cargo xtask reproduce`"]
fn the_digits_preset_reproduces_the_committed_model_and_meets_the_goal() {
    let out = retrain(&["--preset", "digits", "--threads", "2"], "digits.postcard");
    // Novel digits 5-9, 5-way, 15 queries, 2000 episodes, as deployed.
    let rows: Vec<AccRow> =
        serde_json::from_slice(&std::fs::read(out.with_extension("eval.json")).unwrap()).unwrap();
    let before: Vec<AccRow> = committed("digits");
    let find = |rows: &[AccRow], method: &str, shots: usize, steps: Option<usize>| -> f64 {
        let r = rows
            .iter()
            .find(|r| r.shots == shots && r.method == method && r.steps == steps)
            .unwrap_or_else(|| panic!("no {method} {shots}-shot {steps:?}-step row"));
        assert_eq!(r.episodes, 2000);
        r.accuracy
    };
    for (shots, goal) in [(1, 76.5), (5, 92.5)] {
        let centroid = find(&rows, "nearest_centroid_raw", shots, None);
        for steps in [0, 5] {
            let now = find(&rows, "model", shots, Some(steps));
            let then = find(&before, "model", shots, Some(steps));
            assert!(
                now >= goal && now > centroid && now >= then - 1.0,
                "{shots}-shot, {steps} steps: {now} (goal {goal}, nearest centroid {centroid}, committed model {then})"
            );
        }
    }
}
