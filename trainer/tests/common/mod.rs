//! Helpers of the trainer's command-line tests: the binary, a scratch folder, a seeded noise
//! source, and the check that `train` refuses a configuration before it writes a model.
#![allow(dead_code)]

pub mod qemu;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
}

/// A fresh folder `trainer-<prefix>-<pid>-<name>` in the temp dir.
/// The first call for a folder in this process empties what an earlier process of the same
/// pid left there (a `keys/` folder `keygen` refuses to overwrite, say); later calls, from the
/// same test or another, share it.
pub fn dir(prefix: &str, name: &str) -> PathBuf {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static FRESH: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let d = std::env::temp_dir().join(format!("trainer-{prefix}-{}-{name}", std::process::id()));
    let mut fresh = FRESH.get_or_init(Default::default).lock().unwrap();
    if fresh.insert(d.clone()) {
        let _ = std::fs::remove_dir_all(&d);
    }
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn run(c: &mut Command) -> Output {
    c.output().unwrap()
}

/// Uniform noise in [-0.5, 0.5) from a seeded linear congruential generator.
pub struct Noise(pub u64);

impl Noise {
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    }
}

/// `train --no-eval --config <d>/run.toml` on each configuration text: exit 2 with `want` in
/// the message, no model written, in under 20 s (refused before any training).
/// Writes `config` as `d/run.toml` and runs `train --no-eval` on it, writing `model`.
pub fn train_no_eval(d: &Path, config: &str, model: &Path) -> Output {
    std::fs::write(d.join("run.toml"), config).unwrap();
    run(bin()
        .args(["train", "--no-eval", "--config"])
        .arg(d.join("run.toml"))
        .arg("--out")
        .arg(model))
}

pub fn train_refuses(d: &Path, cases: &[(String, &str)]) {
    for (text, want) in cases {
        std::fs::write(d.join("run.toml"), text).unwrap();
        let t0 = std::time::Instant::now();
        let o = run(bin()
            .args(["train", "--no-eval", "--config"])
            .arg(d.join("run.toml"))
            .arg("--out")
            .arg(d.join("m.postcard")));
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(e.contains(want), "want {want}, got {e}");
        assert!(!d.join("m.postcard").exists());
        assert!(t0.elapsed().as_secs() < 20);
    }
}

/// Writes `d/s.csv` (8 classes of 14 sine-phase series of 16 samples, uniform noise of width
/// `noise`) and `d/run.toml`: a conv1d trunk trained on classes 0-4 (3 and 4 validate), 3-way
/// 1-shot, with `keys` (test classes, iterations, validation) added; then `train` with `flags`
/// writes `d/<model>`.
pub fn conv_run(
    d: &Path,
    noise: f64,
    keys: &str,
    flags: &[&str],
    model: &str,
) -> std::process::Output {
    let mut csv = String::from("label");
    (0..16).for_each(|t| csv += &format!(",t{t}"));
    let mut rng = Noise(99);
    for row in 0..112 {
        let class = row % 8;
        csv += &format!("\n{class}");
        for t in 0..16 {
            let v = (t as f64 * 0.7 + class as f64 * 0.8).sin() + noise * rng.next();
            csv += &format!(",{v:.4}");
        }
    }
    std::fs::write(d.join("s.csv"), csv + "\n").unwrap();
    let config = format!("task = \"classification\"\ndata = \"s.csv\"\ntrain_classes = [0, 1, 2, 3, 4]\nval_classes = [3, 4]\n{keys}\nways = 3\nshots = [1]\nquery = 3\n[input]\nkind = \"series\"\nchannels = 1\nlength = 16\n[[trunk]]\nkind = \"conv1d\"\nchannels = 4\nkernel = 3\npadding = 1\n[[trunk]]\nkind = \"max_pool\"\nsize = 2\n[[trunk]]\nkind = \"flatten\"\n");
    std::fs::write(d.join("run.toml"), config).unwrap();
    run(bin()
        .arg("train")
        .args(flags)
        .arg("--config")
        .arg(d.join("run.toml"))
        .arg("--out")
        .arg(d.join(model)))
}
