//! Checkpoints and run control shared by every training job: the resumable state trait, the
//! settings a resume may change, atomic JSON checkpoints, Ctrl-C / `--stop-after`, the
//! command-line run flags and the progress bar.

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// `resumable!(State, Settings)`: [`Checkpoint`] for a state with an `iter` field and
/// [`RunSettings`] for its settings with `iterations` and `checkpoint_every` fields.
macro_rules! resumable {
    ($state:ty, $settings:ty) => {
        impl $crate::engine::Checkpoint for $state {
            fn iter(&self) -> u64 {
                self.iter
            }
            fn iter_mut(&mut self) -> &mut u64 {
                &mut self.iter
            }
        }

        impl $crate::engine::RunSettings for $settings {
            fn length_and_period(&mut self) -> (&mut u64, &mut u64) {
                (&mut self.iterations, &mut self.checkpoint_every)
            }
        }
    };
}
pub(crate) use resumable;

/// The state of a resumable training run, saved as its checkpoint.
pub trait Checkpoint: Serialize {
    /// Steps taken.
    fn iter(&self) -> u64;

    /// Steps taken, counted by the run loop.
    fn iter_mut(&mut self) -> &mut u64;

    fn save(&self, path: &Path) -> Result<()> {
        write_json_atomic(self, path)
    }
}

/// Settings of a resumable run: a resume may change the run's length and its checkpoint period,
/// nothing else (a changed seed, rate or batch would silently not apply). Compared as the
/// checkpoint stores them (a field it does not store, such as the class names a configuration
/// resolved, cannot differ).
pub trait RunSettings: Clone + Serialize {
    /// The run's length (iterations) and checkpoint period.
    fn length_and_period(&mut self) -> (&mut u64, &mut u64);

    /// Whether a run made with `self` (a checkpoint's settings) may continue as `now`; if so,
    /// `self` takes `now`'s length and checkpoint period. Err: the settings that differ
    /// ([`differences`]).
    fn resume_as(&mut self, now: &Self) -> Result<(), String> {
        let rest = |c: &Self| {
            let mut c = c.clone();
            let (length, period) = c.length_and_period();
            (*length, *period) = (0, 0);
            c
        };
        let differ = differences(&rest(self), &rest(now));
        if differ.is_empty() {
            *self = now.clone();
            return Ok(());
        }
        Err(differ.join("; "))
    }
}

/// Said after a checkpoint's differences: one made by another version of the trainer (its
/// defaults or its statistics' last digits) may not resume.
pub const OTHER_VERSION: &str =
    " (a checkpoint of another version of the trainer may not resume: start the run again without --resume)";

/// Where `stored` (a checkpoint's) and `now` differ, serialized as JSON: each differing field's
/// path and both values (`train.lr: checkpoint 0.001, now 0.002`); numbers within a relative
/// 1e-9 of each other are the same (statistics recomputed by another build can differ in
/// their last digit). Empty when they agree.
pub fn differences<T: Serialize>(stored: &T, now: &T) -> Vec<String> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(stored), serde_json::to_value(now)) else {
        return vec!["(not comparable)".into()];
    };
    let mut out = Vec::new();
    differ("", &a, &b, &mut out);
    out
}

fn differ(at: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    let join = |k: &str| match at.is_empty() {
        true => k.to_string(),
        false => format!("{at}.{k}"),
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let null = Value::Null;
                differ(
                    &join(k),
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                differ(&format!("{at}[{i}]"), u, v, out);
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let (u, v) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            if (u - v).abs() > 1e-9 * u.abs().max(v.abs()) && out.len() < 8 {
                out.push(format!("{at}: checkpoint {x}, now {y}"));
            }
        }
        _ if a != b && out.len() < 8 => {
            let show = |v: &Value| {
                let s = v.to_string();
                match s.chars().count() > 60 {
                    true => format!("{}...", s.chars().take(57).collect::<String>()),
                    false => s,
                }
            };
            out.push(format!("{at}: checkpoint {}, now {}", show(a), show(b)));
        }
        _ => {}
    }
}

/// A run that writes the model `out` and keeps its checkpoint beside it (`<out>.ckpt`): the
/// state is `resumed(ckpt)` with `--resume` (which refuses another run's checkpoint), else
/// `fresh()`; `train` trains it on. A run stopped by Ctrl-C or `--stop-after` has written the
/// checkpoint: says how to continue and returns None (the command exits 130). A finished run
/// saves its final state too and returns it.
pub fn train_checkpointed<S: Checkpoint>(
    out: &Path,
    flags: &RunFlags,
    stop: &AtomicBool,
    resumed: impl FnOnce(&Path) -> Result<S>,
    fresh: impl FnOnce() -> Result<S>,
    train: impl FnOnce(&mut S, &Checkpoints) -> Result<bool>,
) -> Result<Option<S>> {
    let ckpt = out.with_extension("ckpt");
    if let Some(d) = ckpt.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut state = if flags.resume {
        let s = resumed(&ckpt)?;
        eprintln!("resuming at iteration {}", s.iter());
        s
    } else {
        fresh()?
    };
    let ckpts = Checkpoints {
        path: Some(&ckpt),
        stop,
        stop_at: flags.stop_after,
    };
    if !train(&mut state, &ckpts)? {
        eprintln!(
            "interrupted: checkpoint {} (continue with --resume)",
            ckpt.display()
        );
        return Ok(None);
    }
    state.save(&ckpt)?;
    Ok(Some(state))
}

/// Refuses a checkpoint whose vectors do not have the sizes of its own model (hand-edited,
/// truncated by another tool) rather than indexing them.
pub fn check_sizes(path: &Path, fits: bool) -> Result<()> {
    if !fits {
        anyhow::bail!(
            "{}: checkpoint vectors do not match its model",
            path.display()
        );
    }
    Ok(())
}

/// Where a training loop writes its checkpoint, and when it stops early.
pub struct Checkpoints<'a> {
    /// The checkpoint file (None: nothing written, as in relatedness runs).
    pub path: Option<&'a Path>,
    /// Raised by Ctrl-C.
    pub stop: &'a AtomicBool,
    /// Stop at this iteration exactly as Ctrl-C would (`--stop-after`).
    pub stop_at: Option<u64>,
}

impl Checkpoints<'_> {
    /// Before the step from iteration `iter` of `total`: when the run must stop there (not
    /// when it is over), writes `state`, leaves the progress bar and returns true.
    pub fn stopped<S: Checkpoint>(
        &self,
        (iter, total): (u64, u64),
        state: &S,
        bar: &indicatif::ProgressBar,
    ) -> Result<bool> {
        let asked = self.stop.load(Ordering::SeqCst) || self.stop_at.is_some_and(|s| iter >= s);
        if !asked || iter >= total {
            return Ok(false);
        }
        self.write(state)?;
        bar.abandon_with_message(format!("interrupted at {iter}"));
        Ok(true)
    }

    /// After the step to iteration `iter`: the checkpoint every `every` steps (0: none).
    pub fn after_step<S: Checkpoint>(&self, iter: u64, every: u64, state: &S) -> Result<()> {
        if every > 0 && iter.is_multiple_of(every) {
            self.write(state)?;
        }
        Ok(())
    }

    fn write<S: Checkpoint>(&self, state: &S) -> Result<()> {
        match self.path {
            Some(p) => state.save(p),
            None => Ok(()),
        }
    }
}

/// What the command line asks of a run besides its configuration.
#[derive(Clone, Debug, Default)]
pub struct RunFlags {
    pub iterations: Option<u64>,
    pub seed: Option<u64>,
    /// Continue from `<out>.ckpt`.
    pub resume: bool,
    pub checkpoint_every: Option<u64>,
    /// Stop after this many iterations with a checkpoint, as Ctrl-C would.
    pub stop_after: Option<u64>,
    /// Skip the evaluation and the plots.
    pub no_eval: bool,
}

impl RunFlags {
    /// Puts the flags' overrides into a configuration's values.
    pub fn apply(&self, iterations: &mut u64, seed: &mut u64, checkpoint_every: &mut u64) {
        for (flag, value) in [
            (self.iterations, iterations),
            (self.seed, seed),
            (self.checkpoint_every, checkpoint_every),
        ] {
            if let Some(v) = flag {
                *value = v;
            }
        }
    }
}

/// Write a checkpoint through a temporary file and a rename, so a kill at any moment leaves
/// either the previous checkpoint or the new one.
pub fn write_json_atomic<T: Serialize + ?Sized>(v: &T, path: &Path) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(v)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Read a checkpoint written by [`write_json_atomic`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let b =
        std::fs::read(path).with_context(|| format!("reading checkpoint {}", path.display()))?;
    serde_json::from_slice(&b).with_context(|| {
        format!(
            "{}: not a trainer checkpoint (or another kind of run's)",
            path.display()
        )
    })
}

/// The progress bar of a training run (hidden when `shown` is false), starting at `at`.
pub fn progress_bar(shown: bool, total: u64, at: u64) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(total);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b.set_position(at);
    b
}

#[cfg(test)]
mod tests {
    use super::differences;
    use serde_json::json;

    #[test]
    fn differences_name_the_field_and_ignore_last_digit_noise() {
        let stored = json!({"train": {"lr": 0.001, "shift": [0.023103555555555547]}, "k": 5});
        let noise = json!({"train": {"lr": 0.001, "shift": [0.02310355555555555]}, "k": 5});
        assert!(differences(&stored, &noise).is_empty());
        let changed = json!({"train": {"lr": 0.002, "shift": [0.0231035]}, "k": 5, "new": true});
        assert_eq!(
            differences(&stored, &changed),
            [
                "new: checkpoint null, now true",
                "train.lr: checkpoint 0.001, now 0.002",
                "train.shift[0]: checkpoint 0.023103555555555547, now 0.0231035",
            ]
        );
    }
}
