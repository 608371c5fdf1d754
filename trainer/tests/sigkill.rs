//! A run killed with SIGKILL (no chance to write anything) resumes from its last periodic
//! checkpoint and, with the same seed, ends with the same model bytes as an uninterrupted run.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[model]
hidden = [8]
[meta]
algorithm = "meta_sgd"
steps = 2
step_weights = [0.5, 1.0]
[train]
iterations = 4000
meta_batch = 4
checkpoint_every = 25
"#;

fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
}

#[test]
fn sigkill_then_resume_gives_the_uninterrupted_bytes() {
    let d: PathBuf = std::env::temp_dir().join(format!("trainer-sigkill-{}", std::process::id()));
    // A checkpoint an earlier process of the same pid left would be found at once.
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    let cfg = d.join("run.toml");
    std::fs::write(&cfg, CONFIG).expect("config");

    let whole = d.join("whole.postcard");
    let o = trainer()
        .args(["train", "--no-eval", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&whole)
        .output()
        .expect("trainer runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let killed = d.join("killed.postcard");
    let ckpt = killed.with_extension("ckpt");
    let mut child = trainer()
        .args(["train", "--no-eval", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&killed)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("trainer starts");
    let t0 = Instant::now();
    while !ckpt.exists() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    let status = child.wait().expect("reaped");
    assert_eq!(
        status.signal(),
        Some(9),
        "the run was killed mid-way, not finished"
    );
    assert!(!killed.exists(), "no model was written before the kill");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ckpt).expect("checkpoint")).expect("whole JSON");
    let at = saved["iter"].as_u64().expect("iteration");
    assert!(at > 0 && at < 4000, "checkpoint at {at}");

    let o = trainer()
        .args(["train", "--no-eval", "--resume", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&killed)
        .output()
        .expect("trainer resumes");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(&whole).expect("model"),
        std::fs::read(&killed).expect("model"),
        "resumed from iteration {at}"
    );
}
