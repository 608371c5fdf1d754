//! A user's own data, as the README's walk-through uses it: a CSV of multi-channel sensor
//! windows in raw units (negative values, a header with the label first), a configuration file
//! next to it, `train`, then `eval` from the run record with every baseline on the same episodes;
//! another data file or split is refused, and so are options the input kind cannot take.

mod common;
use common::{bin, run, train_no_eval, train_refuses, Noise};
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    common::dir("user", name)
}

/// 12 classes x 30 windows of 3 channels x 8 samples: each class a different waveform per
/// channel, in raw units around an offset of 1000 with noise, some values negative.
fn windows_csv(path: &Path) {
    let mut s = String::from("label");
    for c in 0..3 {
        for t in 0..8 {
            s += &format!(",ch{c}_t{t}");
        }
    }
    s += "\n";
    let mut noise = Noise(12345);
    for row in 0..360 {
        let class = row % 12;
        s += &class.to_string();
        for c in 0..3 {
            for t in 0..8 {
                let phase = (class * 7 + c * 3) as f64 * 0.6;
                let v = 1000.0 * (c as f64 - 1.0)
                    + 300.0 * ((t as f64) * 0.8 + phase).sin()
                    + 150.0 * noise.next();
                s += &format!(",{v:.3}");
            }
        }
        s += "\n";
    }
    std::fs::write(path, s).unwrap();
}

const CONFIG: &str = r#"task = "classification"
data = "windows.csv"
train_classes = [0, 1, 2, 3, 4, 5, 6, 7]
val_classes = [6, 7]
test_classes = [8, 9, 10, 11]
ways = 4
shots = [1, 5]
query = 5
hidden = [16]
iterations = 40
val_every = 10
val_episodes = 20
device_scales = [0.5]
device_alphas = [0.0, 0.3]
device_steps = 2

[input]
kind = "series"
channels = 3
length = 8
"#;

#[test]
fn a_users_series_csv_trains_evaluates_with_baselines_and_refuses_another_split() {
    let d = dir("series");
    windows_csv(&d.join("windows.csv"));
    std::fs::write(d.join("run.toml"), CONFIG).unwrap();
    let model = d.join("out").join("m.postcard");
    // Run from elsewhere: the data path is relative to the configuration file.
    let o = run(bin()
        .current_dir(std::env::temp_dir())
        .args(["train", "--no-eval", "--config"])
        .arg(d.join("run.toml"))
        .arg("--out")
        .arg(&model));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(err.contains("held-out classes [6, 7]"), "{err}");
    assert!(
        err.contains("trunk identity") && err.contains("trunk trained"),
        "{err}"
    );
    // The trained trunk is exported only when it beats the identity beyond the validation
    // episodes' noise, after iteration 0.
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.with_extension("trained.json")).unwrap())
            .unwrap();
    let c = t["candidates"].as_array().unwrap();
    assert_eq!(c.len(), 2);
    let gain = t["trunk_gain"].as_array().unwrap();
    let (gain, ci) = (gain[0].as_f64().unwrap(), gain[1].as_f64().unwrap());
    let trained_wins = gain > ci && t["best_iter"].as_u64().unwrap() > 0;
    let first = c[0]["trunk"].as_str().unwrap();
    assert_eq!(
        first,
        if trained_wins { "trained" } else { "identity" },
        "{t}"
    );

    // Steps at a chosen rate of 0 would change nothing: the model then asks for none.
    let device = &t["device"];
    let steps = device["steps"].as_u64().unwrap();
    assert_eq!(
        steps == 0,
        device["alpha"].as_f64().unwrap() == 0.0,
        "{device}"
    );

    let eval = |extra: &[&str]| {
        run(bin()
            .args(["eval", "--episodes", "30", "--json", "--model"])
            .arg(&model)
            .args(extra))
    };
    // Steps asked of a head whose step size is 0 are said to repeat the 0-step row.
    let o = eval(&["--steps", "0,3", "--shots", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let noted =
        String::from_utf8_lossy(&o.stderr).contains("its rows with steps repeat the 0-step row");
    assert_eq!(noted, device["alpha"].as_f64().unwrap() == 0.0, "{device}");
    // A regression flag on a classification model is refused, not ignored.
    let o = eval(&["--tasks", "5"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--tasks is for regression models"), "{err}");
    let o = eval(&["--per-task"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["test_classes"], serde_json::json!([8, 9, 10, 11]));
    assert_eq!(v["val_classes"], serde_json::json!([6, 7]));
    let rows = v["results"].as_array().unwrap();
    for shots in [1, 5] {
        let methods: Vec<&str> = rows
            .iter()
            .filter(|r| r["shots"] == shots)
            .map(|r| r["method"].as_str().unwrap())
            .collect();
        // The model at 0 steps, and at the model's own steps when it takes any.
        let models = if steps == 0 { 1 } else { 2 };
        let mut want = vec!["model"; models];
        want.extend([
            "nearest_centroid_raw",
            "nearest_centroid_standardised",
            "protonet",
        ]);
        assert_eq!(methods, want);
    }
    for r in rows {
        let per = r["per_episode"].as_array().unwrap();
        assert_eq!((per.len(), r["episodes"].as_u64()), (30, Some(30)), "{r}");
        let mean = per.iter().map(|a| a.as_f64().unwrap()).sum::<f64>() / 30.0;
        // In percent, as `accuracy`.
        assert!((mean - r["accuracy"].as_f64().unwrap()).abs() < 1e-9);
    }
    // Episodes are the independent units: their count and distinct draws are reported.
    let units = v["units"].as_array().unwrap();
    assert_eq!(units.len(), 2);
    assert!(units
        .iter()
        .all(|u| u["episodes"] == 30 && u["distinct"] == 30 && u["ways"] == 4));
    // The same waveforms are easy: the standardised baseline and the model are far above chance.
    let acc = |m: &str, k: u64| {
        rows.iter()
            .find(|r| r["method"] == m && r["shots"] == k)
            .unwrap()["accuracy"]
            .as_f64()
            .unwrap()
    };
    assert!(acc("nearest_centroid_standardised", 5) > 60.0, "{v}");
    assert!(acc("model", 5) > 60.0, "{v}");

    // Another data file (one value changed) is refused: the split and normalisation are the run's.
    let other = d.join("other.csv");
    let text = std::fs::read_to_string(d.join("windows.csv")).unwrap();
    std::fs::write(&other, text.replacen("\n0,-", "\n0,-1", 1)).unwrap();
    let o = eval(&["--data", other.to_str().unwrap()]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("SHA-256"), "{e}");
    // An episode file (4-way 1-shot, 1 query) over the novel classes 8-11 is evaluated; one
    // whose first class is a training class (0) is refused, naming it.
    let labels: Vec<u32> = (text.lines().skip(1))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let rows_of = |c: u32| -> Vec<usize> {
        (0..labels.len())
            .filter(|&r| labels[r] == c)
            .take(2)
            .collect()
    };
    let episode = |classes: [u32; 4]| {
        let two: Vec<Vec<usize>> = classes.iter().map(|&c| rows_of(c)).collect();
        let support = two.iter().map(|r| r[0]);
        let query = two.iter().map(|r| r[1]);
        let rows: Vec<String> = support.chain(query).map(|r| r.to_string()).collect();
        rows.join(",") + "\n"
    };
    for (classes, ok) in [([8, 9, 10, 11], true), ([0, 9, 10, 11], false)] {
        let file = d.join("episodes.txt");
        std::fs::write(&file, episode(classes)).unwrap();
        let o = run(bin()
            .args(["eval", "--shots", "1", "--episodes"])
            .arg(&file)
            .arg("--model")
            .arg(&model));
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.success(), ok, "{classes:?}: {e}");
        assert!(
            ok || e.contains("class 0 is not one of the model's novel classes"),
            "{e}"
        );
    }
    // A file of other classes (the user's own): with the record it would be the run's classes,
    // so the refusal says how to take the file's classes as new to the model.
    let few = d.join("few.csv");
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            let label = l.split(',').next().and_then(|c| c.parse::<u32>().ok());
            l.starts_with("label") || label.is_some_and(|c| c < 6)
        })
        .collect();
    std::fs::write(&few, kept.join("\n") + "\n").unwrap();
    let o = eval(&["--data", few.to_str().unwrap()]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("run's classes") && e.contains("add --new-classes"),
        "{e}"
    );
    // With --new-classes the record is not read: every class of the file is new to the model.
    let o = eval(&[
        "--data",
        few.to_str().unwrap(),
        "--new-classes",
        "--ways",
        "2",
        "--shots",
        "1",
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("is new to the model"), "{e}");
    // The same file with its feature columns in reverse order, and a column the model does not
    // read: matched by name to the record's inputs, the same episodes give the same numbers.
    let reordered = d.join("few-reordered.csv");
    let rows: Vec<String> = kept
        .iter()
        .map(|l| {
            let mut cells: Vec<&str> = l.split(',').collect();
            cells[1..].reverse();
            let extra = if l.starts_with("label") { "hour" } else { "7" };
            format!("{},{extra}", cells.join(","))
        })
        .collect();
    std::fs::write(&reordered, rows.join("\n") + "\n").unwrap();
    let new_classes = |file: &Path| {
        let o = eval(&[
            "--data",
            file.to_str().unwrap(),
            "--new-classes",
            "--ways",
            "2",
            "--shots",
            "1",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (
            v["results"].clone(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (by_position, _) = new_classes(&few);
    let (by_name, e) = new_classes(&reordered);
    assert_eq!(by_name, by_position);
    assert!(
        e.contains("read by name")
            && e.contains("not read (not the model's inputs nor the label): hour"),
        "{e}"
    );
    let o = eval(&["--new-classes"]);
    assert_eq!(o.status.code(), Some(2));
    // Another split given with --config is refused too.
    std::fs::write(
        d.join("other.toml"),
        CONFIG.replace("val_classes = [6, 7]", "val_classes = [0, 1]"),
    )
    .unwrap();
    let o = eval(&["--config", d.join("other.toml").to_str().unwrap()]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("val_classes"), "{e}");

    // Enrollment measured with a bank too small for the run's original classes and the
    // held-out ones is refused before any episode, naming the size it needs.
    let o = run(bin()
        .args([
            "enroll-eval",
            "--max-classes",
            "5",
            "--episodes",
            "1",
            "--model",
        ])
        .arg(&model));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{e}");
    assert!(
        e.contains("head 0 holds 5 classes at most") && e.contains("`--max-classes 12` or more"),
        "{e}"
    );

    // --new-classes with the record beside the model: a text column that is neither an input
    // nor the label is left unread, and the classes its trunk trained on or validated on are
    // named.
    let sited = d.join("sited.csv");
    let with_site: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => format!("{l},site"),
            _ => format!("{l},plant{}", i % 3),
        })
        .collect();
    std::fs::write(&sited, with_site.join("\n") + "\n").unwrap();
    let o = run(bin()
        .args([
            "eval",
            "--episodes",
            "5",
            "--ways",
            "4",
            "--new-classes",
            "--model",
        ])
        .arg(&model)
        .arg("--data")
        .arg(&sited));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{e}");
    assert!(
        e.contains("not read (not the model's inputs nor the label): site"),
        "{e}"
    );
    assert!(
        e.contains("are classes the model's trunk trained on")
            && e.contains("chose its stopping point and device settings"),
        "{e}"
    );
    // More ways than the run's novel classes: said so, not as a row count.
    let o = run(bin().args(["eval", "--ways", "5", "--model"]).arg(&model));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("the novel classes are 4") && e.contains("--ways 4 at most"),
        "{e}"
    );

    // A shipped model (no record beside it) on the user's own classes: every class of the data
    // is new to it, the baselines beside it on the same episodes.
    let shipped = d.join("shipped.postcard");
    std::fs::copy(&model, &shipped).unwrap();
    let novel = d.join("novel.csv");
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            let label = l.split(',').next().unwrap_or("");
            label.parse::<usize>().map_or(true, |c| c >= 8)
        })
        .collect();
    std::fs::write(&novel, kept.join("\n") + "\n").unwrap();
    let eval_shipped = |args: &[&str]| {
        run(bin()
            .args(["eval", "--episodes", "30"])
            .args(args)
            .arg("--model")
            .arg(&shipped)
            .arg("--data")
            .arg(&novel))
    };
    let o = eval_shipped(&["--json", "--ways", "4"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && e.contains("every class of"), "{e}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["test_classes"], serde_json::json!([8, 9, 10, 11]), "{v}");
    let methods: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert!(methods.contains(&"nearest_centroid_standardised"), "{v}");
    // The unknown-input threshold needs the run's validation classes.
    let o = eval_shipped(&["--unknown-queries", "2"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("validation classes"),
        "{e}"
    );
    // A threshold given (the device's) is measured on the user's classes without them.
    let o = eval_shipped(&[
        "--ways",
        "3",
        "--unknown-queries",
        "2",
        "--unknown-score",
        "distance",
        "--unknown-threshold",
        "-1e9",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("t given (--unknown-threshold)"), "{text}");
    // Every distance is below 1e9: nothing rejected, every unknown query accepted.
    let last = text.lines().last().unwrap_or("");
    assert!(last.contains("0.00 +- 0.00   100.00 +- 0.00"), "{text}");
}

#[test]
fn wrong_shapes_and_image_options_are_refused_before_any_work() {
    let d = dir("refusals");
    windows_csv(&d.join("windows.csv"));
    let cases = [
        // An image-only option on a series, named at its line.
        (
            CONFIG.replace("hidden = [16]", "hidden = [16]\nrotations = true"),
            "run.toml:10: field `rotations`",
        ),
        // A declared shape the rows do not have.
        (
            CONFIG.replace("length = 8", "length = 7"),
            "rows have 24 features",
        ),
        // Training episodes larger than the training classes' rows (30 less the 8 held out).
        (
            CONFIG.replace("shots = [1, 5]", "shots = [1, 20]"),
            "training episodes need 2 classes with shots + query = 20 + 5 = 25",
        ),
        // A value that passes the type check but not the range check.
        (
            CONFIG.replace("iterations = 40", "iterations = 40\nlr = 1e300"),
            "field `lr`",
        ),
        // A trunk the runtime cannot hold (a flattened map of more than 4096 values into a
        // dense layer): refused before training, not at export, with each layer's width.
        (
            CONFIG.replace("hidden = [16]\n", "")
                + "[[trunk]]\nkind = \"conv1d\"\nchannels = 600\nkernel = 3\npadding = 1\n\
                   [[trunk]]\nkind = \"flatten\"\n[[trunk]]\nkind = \"dense\"\nunits = 16\n",
            "the runtime cannot hold this trunk: layer width (MAX_WIDTH) too small: needs 4800, capacity 4096. Its input has 24 values, its layers output 0 convolution 4800, 1 flatten 4800, 2 dense 16. layer 2 (dense): 4800 values, a dense layer takes and gives at most 4096",
        ),
        // A convolution map above the stem's limit, named with the limit it passes.
        (
            CONFIG.replace("hidden = [16]\n", "")
                + "[[trunk]]\nkind = \"conv1d\"\nchannels = 2100\nkernel = 3\npadding = 1\n\
                   [[trunk]]\nkind = \"global_avg_pool\"\n",
            "layer 0 (convolution): 16800 values, a convolution or pooling map holds at most 16384: use fewer channels",
        ),
        // A kernel longer than the declared series: at its [[trunk]] table, before the data.
        (
            CONFIG.replace("hidden = [16]\n", "")
                + "[[trunk]]\nkind = \"conv1d\"\nchannels = 4\nkernel = 9\n",
            "field `trunk[0].kind`: `conv1d`: a kernel of 1 x 9 with padding 0 x 0 and stride 1 does not fit its input, a series of 3 channels x 8",
        ),
    ];
    train_refuses(&d, &cases);
}

#[test]
fn an_image_of_several_channels_trains_through_a_conv2d_stem() {
    // The 3 x 8 windows read as images of 3 channels x 2 rows x 4 columns.
    let d = dir("channels");
    windows_csv(&d.join("windows.csv"));
    let image = CONFIG.replace("hidden = [16]\n", "").replace(
        "kind = \"series\"\nchannels = 3\nlength = 8",
        "kind = \"image\"\nchannels = 3\nheight = 2\nwidth = 4",
    ) + "[[trunk]]\nkind = \"conv2d\"\nchannels = 4\nkernel = 3\npadding = 1\n\
           [[trunk]]\nkind = \"global_avg_pool\"\n\
           [augment]\ntime_shift = 1\nfeature_mask = 1\n";
    let model = d.join("m.postcard");
    let o = train_no_eval(&d, &image, &model);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(bin().arg("inspect").arg(&model));
    let text = String::from_utf8_lossy(&o.stdout);
    // The trained trunk or the identity was exported: either way the input is 3 x 2 x 4.
    assert!(
        text.contains("3x2x4 -> 4x2x4") || text.contains("inputs     24"),
        "{text}"
    );
    // Rotations and the other square grey-image options need one channel (here 6 x 2 x 2).
    let d = dir("channels-refused");
    windows_csv(&d.join("windows.csv"));
    let square = image
        .replace("iterations = 40", "iterations = 40\nrotations = true")
        .replace(
            "channels = 3\nheight = 2\nwidth = 4",
            "channels = 6\nheight = 2\nwidth = 2",
        );
    train_refuses(&d, &[(square, "width = height and one channel")]);
}

#[test]
fn device_steps_that_change_nothing_are_not_chosen() {
    // Steps at a rate too small to move a prototype tie with the prototype start on every
    // validation episode: the device is set to take none, though the stepped setting comes
    // first in the grid.
    let d = dir("no-steps");
    windows_csv(&d.join("windows.csv"));
    let cfg = CONFIG.replace("device_alphas = [0.0, 0.3]", "device_alphas = [1e-9, 0.0]");
    let model = d.join("m.postcard");
    let o = train_no_eval(&d, &cfg, &model);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.with_extension("trained.json")).unwrap())
            .unwrap();
    assert_eq!(t["device"]["steps"], 0, "{}", t["device"]);
    assert_eq!(t["device"]["alpha"], 0.0, "{}", t["device"]);
    // The test that decided it, recorded and printed.
    assert_eq!(t["steps_test"]["gain"], 0.0, "{}", t["steps_test"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("device steps minus the prototype start on the same validation episodes: +0.00 +- 0.00 points (")
            && err.contains("not above zero beyond noise, the device takes none"),
        "{err}"
    );
}

#[test]
fn standardised_windows_are_exported_and_computed_as_the_device_does() {
    // The host's f64 standardisation (training) against the runtime's f32 one (the device).
    let w = trainer::net::WindowStandardise {
        channels: 3,
        eps: 1e-6,
    };
    let row: Vec<f64> = (0..24)
        .map(|i| 500.0 * (i / 8) as f64 + (i as f64 * 1.7).sin() * 30.0)
        .collect();
    let host = w.apply(&row, 24);
    let mut device = vec![0.0f32; 24];
    for (x, o) in row.chunks(8).zip(device.chunks_mut(8)) {
        let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        runtime::math::standardise(&x, o, 1e-6);
    }
    for (h, d) in host.iter().zip(&device) {
        assert!((h - *d as f64).abs() < 1e-4, "{h} vs {d}");
    }
    // A run with standardised windows exports a model that declares the input transform, and
    // its eval adds nearest centroid on the model's own input to the baselines.
    let d = dir("windows");
    windows_csv(&d.join("windows.csv"));
    let cfg = CONFIG.replace("hidden = [16]", "hidden = [16]\nstandardise_windows = true");
    std::fs::write(d.join("run.toml"), cfg).unwrap();
    let model = d.join("m.postcard");
    let o = run(bin()
        .args(["train", "--config"])
        .arg(d.join("run.toml"))
        .arg("--out")
        .arg(&model));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let blob = runtime::format::AlignedBytes::from_slice(&std::fs::read(&model).unwrap());
    let loaded = runtime::Model::from_bytes(blob.as_bytes()).unwrap();
    assert!(loaded
        .capabilities()
        .contains(runtime::Capabilities::INPUT_TRANSFORM));
    let so = String::from_utf8_lossy(&o.stdout);
    assert!(so.contains("nearest_centroid_model_input"), "{so}");
}

#[test]
fn the_trunk_can_be_chosen_over_folds_of_the_training_classes() {
    let d = dir("folds");
    windows_csv(&d.join("windows.csv"));
    let cfg = CONFIG.replace("hidden = [16]", "hidden = [16]\ntrunk_folds = 2");
    let model = d.join("m.postcard");
    let o = train_no_eval(&d, &cfg, &model);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("chosen over 2 folds"), "{err}");
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.with_extension("trained.json")).unwrap())
            .unwrap();
    let f = &t["folds"];
    let folds: Vec<Vec<u64>> = serde_json::from_value(f["folds"].clone()).unwrap();
    // Two disjoint folds covering the training classes, each scored for both trunks.
    let mut all: Vec<u64> = folds.concat();
    all.sort_unstable();
    assert_eq!(all, (0..8).collect::<Vec<_>>());
    assert_eq!(f["trained"].as_array().unwrap().len(), 2);
    assert_eq!(f["identity"].as_array().unwrap().len(), 2);
    // The exported trunk is the trained one only when its gain over the identity, class by
    // class over every fold's validation classes (each training class once), lies above zero
    // beyond Student's t interval, and its best validation came after iteration 0.
    let gains: Vec<(f64, f64)> = serde_json::from_value(f["gains"].clone()).unwrap();
    assert_eq!(gains.len(), 2);
    let per_class: Vec<Vec<f64>> = serde_json::from_value(f["class_gains"].clone()).unwrap();
    let all: Vec<f64> = per_class.concat();
    assert_eq!(all.len(), 8, "{f}");
    let n = all.len() as f64;
    let gain = all.iter().sum::<f64>() / n;
    let sd = (all.iter().map(|g| (g - gain).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let ci = 2.365 * sd / n.sqrt();
    let first = t["candidates"][0]["trunk"].as_str().unwrap();
    let trained = gain > ci && t["best_iter"].as_u64().unwrap() > 0;
    assert_eq!(first, if trained { "trained" } else { "identity" }, "{f}");
    assert!(
        err.contains(
            "trained minus identity over the folds' 8 validation classes (the class as the unit)"
        ),
        "{err}"
    );
    // Too many folds for the classes is refused at its key.
    std::fs::write(
        d.join("bad.toml"),
        CONFIG.replace("hidden = [16]", "hidden = [16]\ntrunk_folds = 5"),
    )
    .unwrap();
    let o = run(bin().args(["train", "--config"]).arg(d.join("bad.toml")));
    assert!(String::from_utf8_lossy(&o.stderr).contains("field `trunk_folds`"));
}

#[test]
fn train_takes_the_data_file_from_the_command_line_and_eval_follows_the_record() {
    let d = dir("data-flag");
    std::fs::create_dir_all(d.join("elsewhere")).unwrap();
    windows_csv(&d.join("elsewhere").join("mine.csv"));
    // The configuration names a file that does not exist; --data replaces it.
    std::fs::write(
        d.join("run.toml"),
        CONFIG.replace("windows.csv", "missing.csv"),
    )
    .unwrap();
    let model = d.join("m.postcard");
    let o = run(bin()
        .current_dir(&d)
        .args(["train", "--no-eval", "--config", "run.toml", "--data"])
        .arg("elsewhere/mine.csv")
        .arg("--out")
        .arg(&model));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.with_extension("run.json")).unwrap()).unwrap();
    assert_eq!(r["config"]["data"], "elsewhere/mine.csv");
    let o = run(bin()
        .args(["eval", "--episodes", "5", "--model"])
        .arg(&model));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A class of the file that no list names is not dropped silently.
    std::fs::write(
        d.join("unlisted.toml"),
        CONFIG
            .replace("windows.csv", "elsewhere/mine.csv")
            .replace("test_classes = [8, 9, 10, 11]", "test_classes = [8, 9, 10]"),
    )
    .unwrap();
    let o = run(bin()
        .current_dir(&d)
        .args(["train", "--no-eval", "--config", "unlisted.toml", "--out"])
        .arg(d.join("unlisted.postcard")));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{e}");
    assert!(
        e.contains("1 of the data's 12 classes are in neither train_classes nor test_classes, so no run uses their 30 rows: [11]"),
        "{e}"
    );
}

/// The classes of `windows_csv` by name (a gesture each), in its class order; sorted they
/// number the classes differently.
const GESTURES: [&str; 12] = [
    "wave",
    "tap",
    "circle",
    "swipe left",
    "swipe right",
    "shake",
    "tilt",
    "push",
    "pull",
    "twist",
    "flick",
    "knock",
];

/// `windows_csv` with each class index replaced by its gesture's name (quoted, as a
/// spreadsheet writes it), plus `extra` rows of a class named "aardvark" (sorted first).
fn gestures_csv(path: &Path, extra: usize) {
    windows_csv(path);
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let mut s = format!("{}\n", lines.next().unwrap());
    for l in lines {
        let (c, rest) = l.split_once(',').unwrap();
        s += &format!("\"{}\",{rest}\n", GESTURES[c.parse::<usize>().unwrap()]);
    }
    for i in 0..extra {
        s += &format!("aardvark{}\n", format!(",{i}.5").repeat(24));
    }
    std::fs::write(path, s).unwrap();
}

/// [`CONFIG`] naming its classes by their gestures, for [`gestures_csv`].
fn named_config() -> String {
    let names = |v: &[usize]| format!("{:?}", v.iter().map(|&c| GESTURES[c]).collect::<Vec<_>>());
    CONFIG
        .replace(
            "[0, 1, 2, 3, 4, 5, 6, 7]",
            &names(&[0, 1, 2, 3, 4, 5, 6, 7]),
        )
        .replace("[6, 7]", &names(&[6, 7]))
        .replace("[8, 9, 10, 11]", &names(&[8, 9, 10, 11]))
}

#[test]
fn classes_named_in_the_data_are_named_in_the_configuration() {
    let d = dir("named");
    gestures_csv(&d.join("windows.csv"), 0);
    gestures_csv(&d.join("more.csv"), 30);
    let config = named_config();
    std::fs::write(d.join("run.toml"), &config).unwrap();
    let model = d.join("m.postcard");
    let o = run(bin()
        .current_dir(&d)
        .args(["train", "--no-eval", "--config", "run.toml", "--out"])
        .arg(&model));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(r#"validation on held-out classes ["tilt", "push"]"#),
        "{err}"
    );
    // The record holds the classes' numbers in the data's sorted names.
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.with_extension("run.json")).unwrap()).unwrap();
    let mut sorted = GESTURES.to_vec();
    sorted.sort_unstable();
    let index = |g: &str| sorted.iter().position(|s| *s == g).unwrap();
    let test: Vec<usize> = GESTURES[8..].iter().map(|g| index(g)).collect();
    assert_eq!(r["config"]["test_classes"], serde_json::json!(test));
    let eval = |args: &[&str]| {
        let o = run(bin()
            .current_dir(&d)
            .args(["eval", "--episodes", "5", "--json"])
            .args(args));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let from_record = eval(&["--model", "m.postcard"]);
    assert_eq!(from_record["test_classes"], serde_json::json!(test));
    // Another file whose extra class sorts first: the configuration's names are found again
    // in it (each class one number higher), not its numbers reused.
    std::fs::copy(&model, d.join("bare.postcard")).unwrap();
    let other = eval(&[
        "--model",
        "bare.postcard",
        "--config",
        "run.toml",
        "--data",
        "more.csv",
    ]);
    let shifted: Vec<usize> = test.iter().map(|c| c + 1).collect();
    assert_eq!(other["test_classes"], serde_json::json!(shifted));
    assert_eq!(other["class_names"][shifted[0]], sorted[test[0]]);
    // A name the data does not have, and numbers among names, are refused with what exists.
    std::fs::remove_file(&model).unwrap();
    let text = std::fs::read_to_string(d.join("windows.csv")).unwrap();
    train_refuses(
        &d,
        &[(
            config.replace("\"knock\"", "\"knok\""),
            r#"no class named "knok"; its classes are ["circle", "flick", "knock""#,
        )],
    );
    std::fs::write(d.join("windows.csv"), text.replacen("\"wave\"", "3", 1)).unwrap();
    train_refuses(
        &d,
        &[(
            config.clone(),
            "windows.csv:2: field `label`: a number among class names",
        )],
    );
    // The labels under another header name: `label_column` names it, for the classes' names
    // and for training.
    std::fs::write(
        d.join("windows.csv"),
        text.replacen("label,", "gesture,", 1),
    )
    .unwrap();
    let config = config.replace(
        "data = \"windows.csv\"",
        "data = \"windows.csv\"\nlabel_column = \"gesture\"",
    );
    std::fs::write(d.join("run.toml"), &config).unwrap();
    let o = run(bin()
        .current_dir(&d)
        .args(["train", "--no-eval", "--config", "run.toml", "--out"])
        .arg(&model));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        eval(&["--model", "m.postcard"])["test_classes"],
        serde_json::json!(test)
    );
    // A column read as nothing (each row's subject): `ignore_columns` in a run, the same as
    // flags for a model without a record; the same episodes and numbers as without it.
    let logged: String = std::fs::read_to_string(d.join("windows.csv"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => format!("subject,{l}\n"),
            _ => format!("s{},{l}\n", i % 3),
        })
        .collect();
    std::fs::write(d.join("logged.csv"), logged).unwrap();
    let logged_cfg = config.replace(
        "data = \"windows.csv\"",
        "data = \"logged.csv\"\nignore_columns = [\"subject\"]",
    );
    std::fs::write(d.join("logged.toml"), logged_cfg).unwrap();
    let o = run(bin().current_dir(&d).args([
        "train",
        "--no-eval",
        "--config",
        "logged.toml",
        "--out",
        "l.postcard",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bare = ["--model", "bare.postcard", "--label-column", "gesture"];
    let plain = eval(&[&bare[..], &["--data", "windows.csv"]].concat());
    let ignoring = ["--data", "logged.csv", "--ignore-columns", "subject"];
    let skipped = eval(&[&bare[..], &ignoring[..]].concat());
    assert_eq!(plain["results"], skipped["results"]);
    assert!(plain["results"].as_array().is_some_and(|r| !r.is_empty()));
}

/// Messages name classes as the data does: the fold lines of `trunk_folds` too. A `ways` the
/// classes cannot fill is said, with what the episodes use instead.
#[test]
fn fold_lines_name_classes_and_fewer_ways_than_asked_are_noted() {
    let d = dir("fold-names");
    gestures_csv(&d.join("windows.csv"), 0);
    let config = named_config()
        .replace("hidden = [16]", "hidden = [16]\ntrunk_folds = 2")
        .replace("ways = 4", "ways = 7");
    let o = train_no_eval(&d, &config, &d.join("m.postcard"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("trunk fold [\""), "{err}");
    assert!(!err.contains("trunk fold [0"), "{err}");
    assert!(
        err.contains("chosen over 2 folds of the training classes [\""),
        "{err}"
    );
    // 6 trunk classes (8 less the 2 validating) and 2 validation classes for `ways = 7`.
    assert!(
        err.contains("note: `ways = 7` asks for 7-way episodes; the data allow training episodes 6-way (the trunk trains on 6 classes), validation episodes 2-way (2 validation classes)"),
        "{err}"
    );
}

#[test]
fn a_run_of_named_classes_resumes_from_its_checkpoint() {
    // The configuration's class names are resolved to indices the checkpoint stores; a resume
    // compared the names too and refused every such run as "a different configuration".
    let d = dir("named-resume");
    windows_csv(&d.join("numbered.csv"));
    let text = std::fs::read_to_string(d.join("numbered.csv")).unwrap();
    let named: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| match (i, l.split_once(',')) {
            (_, None) => l.to_string(),
            (0, Some((_, rest))) => format!("kind,{rest}"),
            (_, Some((label, rest))) => format!("c{label},{rest}"),
        })
        .collect();
    std::fs::write(d.join("windows.csv"), named.join("\n") + "\n").unwrap();
    let cfg = CONFIG
        .replace("ways = 4", "ways = 4\nlabel_column = \"kind\"")
        .replace(
            "[0, 1, 2, 3, 4, 5, 6, 7]",
            r#"["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"]"#,
        )
        .replace("[6, 7]", r#"["c6", "c7"]"#)
        .replace("[8, 9, 10, 11]", r#"["c8", "c9", "c10", "c11"]"#);
    std::fs::write(d.join("run.toml"), cfg).unwrap();
    let train = |out: &str, extra: &[&str]| {
        run(bin()
            .args(["train", "--no-eval"])
            .args(extra)
            .arg("--config")
            .arg(d.join("run.toml"))
            .arg("--out")
            .arg(d.join(out)))
    };
    assert!(train("whole.postcard", &[]).status.success());
    assert_eq!(
        train("parts.postcard", &["--stop-after", "20"])
            .status
            .code(),
        Some(130)
    );
    let o = train("parts.postcard", &["--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(d.join("whole.postcard")).unwrap(),
        std::fs::read(d.join("parts.postcard")).unwrap()
    );
    // Later rows with a numeric column last: --new-classes reads the labels from the run's
    // label column (it took the last column, whose values are no labels).
    let later: Vec<String> = named
        .iter()
        .enumerate()
        .map(|(i, l)| match i {
            0 => format!("{l},qrs_ms"),
            _ => format!("{l},{}.5", 100 + i % 7),
        })
        .collect();
    std::fs::write(d.join("later.csv"), later.join("\n") + "\n").unwrap();
    let o = run(bin()
        .args([
            "eval",
            "--episodes",
            "5",
            "--ways",
            "4",
            "--new-classes",
            "--model",
        ])
        .arg(d.join("whole.postcard"))
        .arg("--data")
        .arg(d.join("later.csv")));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{e}");
    assert!(
        e.contains("labels from column \"kind\", the run's")
            && e.contains("not the model's inputs nor the label): qrs_ms"),
        "{e}"
    );
}

#[test]
fn open_set_training_learns_a_threshold_resumes_exactly_and_checks_its_rows() {
    let d = dir("open-set");
    windows_csv(&d.join("windows.csv"));
    let cfg = CONFIG.replace("query = 5", "query = 5\nunknown_queries = 6");
    std::fs::write(d.join("run.toml"), &cfg).unwrap();
    let train = |out: &str, extra: &[&str]| {
        let o = run(bin()
            .args(["train", "--no-eval"])
            .args(extra)
            .arg("--config")
            .arg(d.join("run.toml"))
            .arg("--out")
            .arg(d.join(out)));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success() || err.contains("interrupted"), "{err}");
        err
    };
    let err = train("whole.postcard", &[]);
    assert!(err.contains("open-set training (6 rows"), "{err}");
    let trained = |out: &str| -> serde_json::Value {
        let p = d.join(out).with_extension("trained.json");
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let tau = trained("whole.postcard")["open_set_threshold"]
        .as_f64()
        .unwrap();
    assert!(tau.is_finite() && tau > 0.0, "{tau}");
    // The threshold is part of the checkpoint: stopped and resumed, the same model and tau.
    train("parts.postcard", &["--stop-after", "20"]);
    train("parts.postcard", &["--resume"]);
    assert_eq!(
        std::fs::read(d.join("whole.postcard")).unwrap(),
        std::fs::read(d.join("parts.postcard")).unwrap()
    );
    assert_eq!(
        trained("parts.postcard")["open_set_threshold"].as_f64(),
        Some(tau)
    );
    // A closed-set run records none.
    std::fs::write(d.join("closed.toml"), CONFIG).unwrap();
    let o = run(bin()
        .args(["train", "--no-eval", "--config"])
        .arg(d.join("closed.toml"))
        .arg("--out")
        .arg(d.join("closed.postcard")));
    assert!(o.status.success());
    assert!(trained("closed.postcard")["open_set_threshold"].is_null());
    // More outside rows than the classes outside an episode hold: refused before training
    // (the trunk's 6 classes, 22 of their 30 rows each beside the seen-class check's; 4-way
    // episodes leave 2 classes outside).
    std::fs::write(
        d.join("bad.toml"),
        CONFIG.replace("query = 5", "query = 5\nunknown_queries = 45"),
    )
    .unwrap();
    let o = run(bin().args(["train", "--config"]).arg(d.join("bad.toml")));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("as few as 44 rows"),
        "{err}"
    );
}

/// Rows of 6 subjects x 6 classes x 5: each class a pattern of 4 features, each subject an
/// offset much larger than the patterns' differences (a sensor's own gain and bias).
fn subjects_csv(path: &Path) {
    let mut s = String::from("who,a,b,c,d,label\n");
    let mut noise = Noise(77);
    for subject in 0..6 {
        let offset: Vec<f64> = (0..4).map(|_| 40.0 * noise.next()).collect();
        for class in 0..6 {
            for _ in 0..5 {
                s += &format!("s{subject}");
                for (j, o) in offset.iter().enumerate() {
                    let pattern = if (class + j) % 4 == 0 { 3.0 } else { 0.0 };
                    s += &format!(",{:.3}", o + pattern + 0.3 * noise.next());
                }
                s += &format!(",{class}\n");
            }
        }
    }
    std::fs::write(path, s).unwrap();
}

/// A run on `subjects_csv`: 2 novel classes of the 6 (`cv` holds out every class in turn).
const SUBJECTS_CONFIG: &str = r#"task = "classification"
data = "subjects.csv"
subject_column = "who"
train_classes = [0, 1, 2, 3]
val_classes = [2, 3]
test_classes = [4, 5]
ways = 2
shots = [1]
query = 3
hidden = [8]
iterations = 10
val_every = 5
val_episodes = 10
"#;

/// With `subject_column`, `eval` also draws episodes within one subject (the subject as a
/// unit): where subjects differ more than classes, nearest centroid within a subject is near
/// perfect while pooled episodes mix subjects; the subject column is no feature.
#[test]
fn a_subject_column_adds_episodes_within_one_subject() {
    let d = dir("subjects");
    subjects_csv(&d.join("subjects.csv"));
    let model = d.join("m.postcard");
    let o = train_no_eval(&d, SUBJECTS_CONFIG, &model);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(err.contains("4 input(s)"), "{err}");
    let o = run(bin()
        .args([
            "eval",
            "--episodes",
            "200",
            "--shots",
            "1,4",
            "--json",
            "--model",
        ])
        .arg(&model));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let acc = |rows: &serde_json::Value, method: &str, shots: u64| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == method && r["shots"] == shots)
            .map(|r| r["accuracy"].as_f64().unwrap())
            .unwrap()
    };
    let within = &v["within_subject"];
    assert_eq!(within.as_array().unwrap().len(), 2, "{within}");
    // Every subject has 5 rows of each novel class: 4 queries beside 1 shot, 1 beside 4.
    assert_eq!(within[0]["eligible"].as_array().unwrap().len(), 6);
    assert_eq!(within[0]["query"], serde_json::json!([4, 4]));
    assert_eq!(within[1]["query"], serde_json::json!([1, 1]));
    // At 4 shots a class's 5 rows of a subject split 5 ways only, 30 over the 6 subjects.
    assert_eq!(within[1]["fewest_splits"][1], 30, "{within}");
    let rows = &within[0]["rows"];
    assert_eq!(rows[0]["subjects"], 6, "{rows}");
    // The interval's units: each subject's own mean, named.
    let per = rows[0]["per_subject"].as_array().unwrap();
    assert_eq!(per.len(), 6, "{rows}");
    assert!(per
        .iter()
        .all(|p| p["subject"].is_string() && p["episodes"].as_u64() >= Some(1)));
    let pooled = acc(&v["results"], "nearest_centroid_raw", 1);
    let own = acc(rows, "nearest_centroid_raw", 1);
    assert!(
        own > 95.0 && own > pooled + 20.0,
        "within {own}, pooled {pooled}"
    );
    // The text says what the episodes were drawn from, and which shot count no subject can
    // host (5 shots and a query need 6 rows of a class; every subject has 5).
    let o = run(bin()
        .args([
            "eval",
            "--episodes",
            "50",
            "--shots",
            "1,5",
            "--query",
            "1",
            "--model",
        ])
        .arg(&model));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("within one subject, 2-way 1-shot: episodes drawn from 6 of 6 subjects"),
        "{out}"
    );
    assert!(
        !out.contains("distinct ways (its rows are few): the episodes repeat them, and the interval over episodes"),
        "1 shot of 5 rows: many splits: {out}"
    );
    assert!(
        out.contains("within one subject, 2-way 5-shot: no episode: none of the 6 subjects has 2 novel classes of 6 rows or more"),
        "{out}"
    );
    // Two novel classes of six: `cv` is named, with the most folds the classes allow.
    assert!(
        out.contains("(2 novel classes: `trainer cv --config <this configuration> --folds 3`"),
        "{out}"
    );

    // Later rows of new classes with --new-classes: the record's subject column is read, so
    // the later subjects are units too; without a record, --subject-column names it.
    let o = run(bin()
        .args([
            "eval",
            "--new-classes",
            "--episodes",
            "50",
            "--shots",
            "1",
            "--ways",
            "2",
        ])
        .args(["--model"])
        .arg(&model)
        .arg("--data")
        .arg(d.join("subjects.csv")));
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{err}");
    assert!(err.contains("subjects from column \"who\""), "{err}");
    // The run trained on every subject of this file: said, with what it overrates.
    assert!(
        err.contains("6 of its 6 subjects (\"s0\", \"s1\", \"s2\", \"s3\", \"s4\", \"s5\") gave the model's run its training rows"),
        "{err}"
    );
    assert!(out.contains("method (within one subject)"), "{out}");
    let shipped = d.join("shipped.postcard");
    std::fs::copy(&model, &shipped).unwrap();
    let o = run(bin()
        .args(["eval", "--episodes", "50", "--shots", "1", "--ways", "2"])
        .args(["--subject-column", "who", "--model"])
        .arg(&shipped)
        .arg("--data")
        .arg(d.join("subjects.csv")));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("method (within one subject)"), "{out}");

    // Subjects held out of the run: their rows train nothing, and the novel classes are
    // evaluated on theirs only (within one subject: those two subjects are the units).
    let held = SUBJECTS_CONFIG.replace("ways = 2", "ways = 2\ntest_subjects = [\"s4\", \"s5\"]");
    let model = d.join("held.postcard");
    let o = train_no_eval(&d, &held, &model);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("test_subjects s4, s5: their 60 rows train and validate nothing"),
        "{err}"
    );
    let o = run(bin()
        .args([
            "eval",
            "--episodes",
            "50",
            "--shots",
            "1",
            "--json",
            "--model",
        ])
        .arg(&model));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let within = &v["within_subject"][0];
    assert_eq!(
        within["eligible"],
        serde_json::json!(["s4", "s5"]),
        "{within}"
    );
    assert_eq!(within["rows"][0]["subjects"], 2);
    let o = run(bin()
        .args(["eval", "--episodes", "50", "--shots", "1", "--model"])
        .arg(&model));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("episodes drawn from 2 of 2 held-out subjects (`test_subjects`)"),
        "{out}"
    );
    // A subject the column does not hold, or one without a subject column: refused.
    let o = train_no_eval(&d, &held.replace("\"s5\"", "\"s9\""), &model);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success() && err.contains("no subject \"s9\""),
        "{err}"
    );
    let o = train_no_eval(
        &d,
        &held.replace("subject_column = \"who\"", "ignore_columns = [\"who\"]"),
        &model,
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success() && err.contains("`test_subjects` names subjects of `subject_column`"),
        "{err}"
    );
}

/// `cv` of a classification configuration: every class the configuration names is novel in
/// one fold, its accuracy the unit; the within-subject table comes with a subject column; a
/// fold count the classes cannot fill is refused before any training; a `trunk_folds` a fold's
/// classes cannot fill is fitted to them.
#[test]
fn cv_of_a_classification_configuration_makes_every_class_novel_once() {
    let d = dir("cv_classes");
    subjects_csv(&d.join("subjects.csv"));
    std::fs::write(d.join("cv.toml"), SUBJECTS_CONFIG).unwrap();
    let cv = |folds: &str| {
        run(bin()
            .args([
                "cv",
                "--episodes",
                "100",
                "--json",
                "--per-task",
                "--folds",
                folds,
                "--config",
            ])
            .arg(d.join("cv.toml")))
    };
    let o = cv("3");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("fold ").count(), 3, "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut named: Vec<String> = v["folds"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            f.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
        })
        .collect();
    named.sort();
    assert_eq!(named, ["0", "1", "2", "3", "4", "5"]);
    let row = |table: &str, method: &str, shots: u64| {
        v[table]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == method && r["shots"] == shots)
            .cloned()
            .unwrap_or_else(|| panic!("no {method} {shots} in {table}: {v}"))
    };
    for table in ["pooled", "within_subject"] {
        let m = row(table, "model", 1);
        assert_eq!(m["classes"], 6, "{m}");
        let mut classes: Vec<&str> = m["per_class"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[0].as_str().unwrap())
            .collect();
        classes.sort_unstable();
        assert_eq!(classes, ["0", "1", "2", "3", "4", "5"], "{m}");
        // The reference is the nearest-centroid baseline with the highest mean.
        let best = m["centroid"].as_str().unwrap();
        let c = row(table, best, 1);
        assert_eq!(c["minus_centroid"], 0.0, "{c}");
        for other in ["nearest_centroid_raw", "nearest_centroid_standardised"] {
            assert!(
                row(table, other, 1)["class_accuracy"].as_f64() <= c["class_accuracy"].as_f64()
            );
        }
        // The paired difference is the difference of the means over the same classes.
        let diff = m["class_accuracy"].as_f64().unwrap() - c["class_accuracy"].as_f64().unwrap();
        assert!(
            (m["minus_centroid"].as_f64().unwrap() - diff).abs() < 1e-9,
            "{m} {c}"
        );
    }
    // Subjects differ more than classes: within one subject nearest centroid does far better
    // (classes 0 and 4, 1 and 5 share a pattern: a fold holding out such a pair cannot tell
    // them apart).
    let own = row("within_subject", "nearest_centroid_raw", 1)["class_accuracy"]
        .as_f64()
        .unwrap();
    let pooled = row("pooled", "nearest_centroid_raw", 1)["class_accuracy"]
        .as_f64()
        .unwrap();
    assert!(
        own > 75.0 && own > pooled + 20.0,
        "within {own}, pooled {pooled}"
    );
    let o = cv("4");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("give 2 to 3 folds"), "{err}");
    assert!(!err.contains("fold 1/"), "{err}");
    // A fold trains on fewer classes than the configuration: `trunk_folds = 3` fits the six
    // training classes, and 3 folds leave each run four: its trunk is chosen over 2 folds.
    let folded = SUBJECTS_CONFIG
        .replace(
            "train_classes = [0, 1, 2, 3]",
            "train_classes = [0, 1, 2, 3, 4, 5]",
        )
        .replace(
            "test_classes = [4, 5]",
            "test_classes = []\ntrunk_folds = 3",
        );
    std::fs::write(d.join("cv.toml"), folded).unwrap();
    let o = cv("3");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("note: fold 1/3 trains on 4 classes: its trunk is chosen over 2 folds of them (`trunk_folds = 3` needs 6 classes)"),
        "{err}"
    );
}
