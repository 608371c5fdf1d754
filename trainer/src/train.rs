//! The outer loop: Adam on (theta, rate parameters), seeded task streams (bit-for-bit
//! reproducible, resumable), checkpoints, Ctrl-C handling and a progress bar.

use crate::meta::{batch_meta_grad_in, init_rates, MetaSpec, TaskData, Workspace};
use crate::net::Arch;
use crate::tasks::{Split, Task, TaskSource};
use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    pub iterations: u64,
    pub meta_batch: usize,
    /// Support size drawn uniformly in [shots_min, shots_max] per task.
    pub shots_min: usize,
    pub shots_max: usize,
    pub query: usize,
    pub lr: f64,
    /// Cosine decay of the outer rate down to this value.
    pub lr_final: f64,
    /// Clip of the global norm of the meta-gradient (0 = off).
    pub grad_norm_clip: f64,
    pub seed: u64,
    pub checkpoint_every: u64,
}

/// Everything needed to continue training exactly where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub arch: Arch,
    pub spec: MetaSpec,
    pub settings: TrainSettings,
    pub theta: Vec<f64>,
    pub u: Vec<f64>,
    pub m: Vec<f64>,
    pub v: Vec<f64>,
    pub iter: u64,
    /// (iteration, mean meta-loss over the logging window)
    pub curve: Vec<(u64, f64)>,
    /// Output normalisation `(shift, scale)` per output: the run trains on `(y - shift) / scale`
    /// and the exported head returns `z * scale + shift` (None: raw targets).
    #[serde(default)]
    pub targets: Option<(Vec<f64>, Vec<f64>)>,
}

impl State {
    pub fn new(arch: Arch, spec: MetaSpec, settings: TrainSettings) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let theta = arch.init_params(&mut rng);
        let u = init_rates(&arch, &spec);
        let n = theta.len() + u.len();
        State {
            arch,
            spec,
            settings,
            theta,
            u,
            m: vec![0.0; n],
            v: vec![0.0; n],
            iter: 0,
            curve: vec![],
            targets: None,
        }
    }

    /// Reads a checkpoint; one whose vectors do not have its own architecture's and meta
    /// spec's sizes (hand-edited, truncated by another tool) is refused rather than indexed.
    pub fn load(path: &Path) -> Result<Self> {
        let s: State = read_json(path)?;
        let nt = s.arch.n_params();
        let n = nt + crate::meta::n_rate_params(&s.arch, &s.spec);
        check_sizes(
            path,
            s.theta.len() == nt
                && s.theta.len() + s.u.len() == n
                && s.m.len() == n
                && s.v.len() == n,
        )?;
        Ok(s)
    }
}

/// `resumable!(State, Settings)`: [`Checkpoint`] for a state with an `iter` field and
/// [`RunSettings`] for its settings with `iterations` and `checkpoint_every` fields.
macro_rules! resumable {
    ($state:ty, $settings:ty) => {
        impl $crate::train::Checkpoint for $state {
            fn iter(&self) -> u64 {
                self.iter
            }
        }

        impl $crate::train::RunSettings for $settings {
            fn length_and_period(&mut self) -> (&mut u64, &mut u64) {
                (&mut self.iterations, &mut self.checkpoint_every)
            }
        }
    };
}
pub(crate) use resumable;

resumable!(State, TrainSettings);

/// The state of a resumable training run, saved as its checkpoint.
pub trait Checkpoint: Serialize {
    /// Steps taken.
    fn iter(&self) -> u64;

    fn save(&self, path: &Path) -> Result<()> {
        write_json_atomic(self, path)
    }
}

/// Settings of a resumable run: a resume may change the run's length and its checkpoint period,
/// nothing else (a changed seed, rate or batch would silently not apply).
pub trait RunSettings: Clone + PartialEq {
    /// The run's length (iterations) and checkpoint period.
    fn length_and_period(&mut self) -> (&mut u64, &mut u64);

    /// Whether a run made with `self` (a checkpoint's settings) may continue as `now`; if so,
    /// `self` takes `now`'s length and checkpoint period.
    fn resume_as(&mut self, now: &Self) -> bool {
        let rest = |c: &Self| {
            let mut c = c.clone();
            let (length, period) = c.length_and_period();
            (*length, *period) = (0, 0);
            c
        };
        let same = rest(self) == rest(now);
        if same {
            *self = now.clone();
        }
        same
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

/// The meta-batch of iteration `iter`: a pure function of (seed, iter), so resuming replays the
/// same stream.
pub fn sample_batch(source: &dyn TaskSource, s: &TrainSettings, iter: u64) -> Vec<Task> {
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    rng.set_stream(iter + 1);
    (0..s.meta_batch)
        .map(|_| {
            let k = rng.random_range(s.shots_min..=s.shots_max.max(s.shots_min));
            source.sample(Split::MetaTrain, k, s.query, &mut rng)
        })
        .collect()
}

/// What one meta-iteration reuses from the previous one: the tasks in the compute type and the
/// workspaces of the meta-gradient.
#[derive(Default)]
pub struct StepBuffers {
    data: Vec<TaskData<f32>>,
    wss: Vec<Workspace<f32>>,
}

/// One Adam step on the concatenated (theta, u); returns (loss, final query loss).
pub fn step(
    state: &mut State,
    tasks: &[Task],
    parallel: bool,
    buf: &mut StepBuffers,
) -> (f64, f64) {
    buf.data.truncate(tasks.len());
    for (i, t) in tasks.iter().enumerate() {
        match buf.data.get_mut(i) {
            Some(d) => d.set(&state.arch, t),
            None => buf.data.push(TaskData::new(&state.arch, t)),
        }
    }
    let g = batch_meta_grad_in(
        &mut buf.wss,
        &state.arch,
        &state.spec,
        (&state.theta, &state.u),
        &buf.data,
        parallel,
    );
    let s = &state.settings;
    let mut grad: Vec<f64> = g.g_theta.iter().chain(&g.g_u).copied().collect();
    let norm = grad.iter().map(|x| x * x).sum::<f64>().sqrt();
    if s.grad_norm_clip > 0.0 && norm > s.grad_norm_clip {
        for x in &mut grad {
            *x *= s.grad_norm_clip / norm;
        }
    }
    if !norm.is_finite() {
        return (g.loss, g.final_loss);
    }
    state.iter += 1;
    let t = state.iter as f64;
    let frac = (t / s.iterations.max(1) as f64).min(1.0);
    let lr = s.lr_final + 0.5 * (s.lr - s.lr_final) * (1.0 + (std::f64::consts::PI * frac).cos());
    let (b1, b2, eps): (f64, f64, f64) = (0.9, 0.999, 1e-8);
    let (c1, c2) = (1.0 - b1.powf(t), 1.0 - b2.powf(t));
    let nt = state.theta.len();
    for (i, gi) in grad.iter().enumerate() {
        state.m[i] = b1 * state.m[i] + (1.0 - b1) * gi;
        state.v[i] = b2 * state.v[i] + (1.0 - b2) * gi * gi;
        let d = lr * (state.m[i] / c1) / ((state.v[i] / c2).sqrt() + eps);
        if i < nt {
            state.theta[i] -= d;
        } else {
            state.u[i - nt] -= d;
        }
    }
    (g.loss, g.final_loss)
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

/// Train until `settings.iterations` or until `ckpts` stops the run (Ctrl-C, or its `stop_at`,
/// which behaves like Ctrl-C at that iteration); checkpoints every `checkpoint_every` iterations
/// and on stop. Returns false when stopped early.
pub fn train(
    source: &dyn TaskSource,
    state: &mut State,
    ckpts: &Checkpoints,
    progress: bool,
) -> Result<bool> {
    let total = state.settings.iterations;
    let bar = progress_bar(progress, total, state.iter);
    let window = 100u64;
    let (mut acc, mut n) = (0.0, 0u64);
    let mut running = f64::NAN;
    let mut buf = StepBuffers::default();
    while state.iter < total {
        if ckpts.stopped((state.iter, total), state, &bar)? {
            return Ok(false);
        }
        let tasks = sample_batch(source, &state.settings, state.iter);
        let before = state.iter;
        let (loss, _) = step(state, &tasks, true, &mut buf);
        if state.iter == before {
            // The batch of an iteration is fixed by (seed, iteration): retrying cannot help.
            anyhow::bail!(
                "non-finite meta-gradient at iteration {before} (lower `lr` or `alpha_max`?)"
            );
        }
        acc += loss;
        n += 1;
        running = if running.is_nan() {
            loss
        } else {
            0.98 * running + 0.02 * loss
        };
        if state.iter.is_multiple_of(window) {
            state.curve.push((state.iter, acc / n as f64));
            acc = 0.0;
            n = 0;
        }
        if state.iter.is_multiple_of(20) {
            bar.set_position(state.iter);
            bar.set_message(format!("{:.0} it/s  meta-loss {running:.4}", bar.per_sec()));
        }
        ckpts.after_step(state.iter, state.settings.checkpoint_every, state)?;
    }
    bar.finish_with_message(format!("{:.0} it/s  meta-loss {running:.4}", bar.per_sec()));
    Ok(true)
}
