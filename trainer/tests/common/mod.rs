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
pub fn dir(prefix: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("trainer-{prefix}-{}-{name}", std::process::id()));
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
