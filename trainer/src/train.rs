//! Meta-training on a task source as a job of the [`engine`]: the state (theta, rate
//! parameters), its settings, and the seeded meta-batch of each iteration (bit-for-bit
//! reproducible, resumable).

use crate::engine::optim::{Adam, Optimiser};
use crate::engine::{self, check_sizes, read_json, Checkpoints, Job, Trainable};
use crate::meta::{batch_meta_grad_in, init_rates, BatchWorkspace, MetaSpec, TaskData};
use crate::net::Arch;
use crate::tasks::{Split, Task, TaskSource};
use anyhow::Result;
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    /// Iterations over which the outer rate rises linearly to its schedule's (0: none).
    #[serde(default)]
    pub warmup: u64,
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
    /// The optimiser's moments (`m`, `v` in the checkpoint).
    #[serde(flatten)]
    pub adam: Adam,
    pub iter: u64,
    /// (iteration, mean meta-loss over the logging window)
    pub curve: Vec<(u64, f64)>,
    /// Output normalisation `(shift, scale)` per output: the run trains on `(y - shift) / scale`
    /// and the exported head returns `z * scale + shift` (None: raw targets).
    #[serde(default)]
    pub targets: Option<(Vec<f64>, Vec<f64>)>,
}

engine::resumable!(State, TrainSettings);

impl State {
    pub fn new(arch: Arch, spec: MetaSpec, settings: TrainSettings) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let theta = arch.init_params(&mut rng);
        let u = init_rates(&arch, &spec);
        let adam = Adam::new(theta.len() + u.len());
        State {
            arch,
            spec,
            settings,
            theta,
            u,
            adam,
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
            s.theta.len() == nt && s.theta.len() + s.u.len() == n && s.adam.fits(n),
        )?;
        Ok(s)
    }
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
    batch: BatchWorkspace<f32>,
}

/// The meta-gradient of a meta-batch: (mean meta-loss, gradient over (theta, u)).
fn meta_gradient(
    state: &State,
    tasks: &[Task],
    parallel: bool,
    buf: &mut StepBuffers,
) -> (f64, Vec<f64>) {
    buf.data.truncate(tasks.len());
    for (i, t) in tasks.iter().enumerate() {
        match buf.data.get_mut(i) {
            Some(d) => d.set(&state.arch, t),
            None => buf.data.push(TaskData::new(&state.arch, t)),
        }
    }
    let g = batch_meta_grad_in(
        &mut buf.batch,
        &state.arch,
        &state.spec,
        (&state.theta, &state.u),
        &buf.data,
        parallel,
    );
    let grad = g.g_theta.iter().chain(&g.g_u).copied().collect();
    (g.loss, grad)
}

/// One optimiser step on the meta-batch `tasks` (the benchmark's unit of work); returns the
/// meta-loss, or None when the meta-gradient was not finite (nothing changed).
pub fn step(
    state: &mut State,
    tasks: &[Task],
    parallel: bool,
    buf: &mut StepBuffers,
) -> Option<f64> {
    let (loss, mut grad) = meta_gradient(state, tasks, parallel, buf);
    engine::apply(state, &mut grad).ok().map(|()| loss)
}

impl TrainSettings {
    /// The engine's optimiser for these settings.
    pub fn optimiser(&self) -> Optimiser {
        let (lr, clip) = (self.lr, self.grad_norm_clip);
        Optimiser::new(lr, Some(self.lr_final), clip, self.iterations).with_warmup(self.warmup)
    }
}

impl Trainable for State {
    fn optimiser(&self) -> Optimiser {
        self.settings.optimiser()
    }

    fn checkpoint_every(&self) -> u64 {
        self.settings.checkpoint_every
    }

    fn parts(&mut self) -> (&mut Adam, Vec<&mut [f64]>) {
        (&mut self.adam, vec![&mut self.theta, &mut self.u])
    }
}

/// Meta-training on a task source: the meta-batch of each iteration, the loss curve (mean over
/// windows of 100 iterations) and the progress message.
struct MetaTraining<'a> {
    source: &'a dyn TaskSource,
    window: (f64, u64),
    running: f64,
    buf: StepBuffers,
}

impl Job for MetaTraining<'_> {
    type State = State;

    fn gradient(&mut self, st: &mut State, it: u64) -> Result<(f64, Vec<f64>)> {
        let tasks = sample_batch(self.source, &st.settings, it);
        Ok(meta_gradient(st, &tasks, true, &mut self.buf))
    }

    fn stepped(&mut self, st: &mut State, it: u64, loss: f64, bar: &ProgressBar) {
        const WINDOW: u64 = 100;
        self.window = (self.window.0 + loss, self.window.1 + 1);
        self.running = if self.running.is_nan() {
            loss
        } else {
            0.98 * self.running + 0.02 * loss
        };
        if it.is_multiple_of(WINDOW) {
            st.curve.push((it, self.window.0 / self.window.1 as f64));
            self.window = (0.0, 0);
        }
        if it.is_multiple_of(20) {
            bar.set_message(format!(
                "{:.0} it/s  meta-loss {:.4}",
                bar.per_sec(),
                self.running
            ));
        }
    }
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
    let mut job = MetaTraining {
        source,
        window: (0.0, 0),
        running: f64::NAN,
        buf: StepBuffers::default(),
    };
    engine::run(&mut job, state, ckpts, progress)
}
