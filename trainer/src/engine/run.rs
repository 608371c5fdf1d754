//! The one run loop: stop requests, the job's validation, its gradient, the optimiser's step,
//! the checkpoint, in that order at every iteration.

use super::checkpoint::{progress_bar, Checkpoint, Checkpoints};
use super::optim::{Adam, NonFinite, Optimiser};
use anyhow::{bail, Result};
use indicatif::ProgressBar;

/// Whether a run goes on after a job's validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Take the next step.
    Continue,
    /// End the run here (early stopping, nothing to train), as if it had reached its length.
    Stop,
}

/// A state the optimiser can move: its settings, its moments and its trained parameters.
pub trait Trainable: Checkpoint {
    /// The optimiser's settings, with the run's length.
    fn optimiser(&self) -> Optimiser;

    /// Iterations between checkpoints (0: none).
    fn checkpoint_every(&self) -> u64;

    /// Adam's moments, and the parameter segments in the order of the job's gradient.
    fn parts(&mut self) -> (&mut Adam, Vec<&mut [f64]>);
}

/// One kind of training (meta-learning on tasks, episodic classification, multi-task heads):
/// what its iterations compute. The loop, the optimiser and the checkpoints are the engine's.
pub trait Job {
    /// What the job trains and checkpoints.
    type State: Trainable;

    /// Before the step from iteration `it`, and once more when the run is over: validation,
    /// curves, the progress message. May end the run.
    fn observe(&mut self, _st: &mut Self::State, _it: u64, _bar: &ProgressBar) -> Result<Flow> {
        Ok(Flow::Continue)
    }

    /// The mean loss of iteration `it`'s batch (a pure function of the seed and `it`, so a
    /// resumed run replays the same stream) and its gradient, in [`Trainable::parts`]'s order.
    fn gradient(&mut self, st: &mut Self::State, it: u64) -> Result<(f64, Vec<f64>)>;

    /// After the step to iteration `it`, before its checkpoint.
    fn stepped(&mut self, _st: &mut Self::State, _it: u64, _loss: f64, _bar: &ProgressBar) {}
}

/// The optimiser's step on `st` with `grad`, counted in the state's iterations.
pub fn apply<S: Trainable>(st: &mut S, grad: &mut [f64]) -> Result<(), NonFinite> {
    let opt = st.optimiser();
    let t = st.iter() + 1;
    let (adam, mut params) = st.parts();
    adam.step_at(&opt, t, grad, &mut params)?;
    *st.iter_mut() = t;
    Ok(())
}

/// Trains `st` on to the job's length, or until `ckpts` stops it (Ctrl-C, `--stop-after`: the
/// checkpoint is written and the result is false) or the job does (early stopping). Writes the
/// checkpoint every [`Trainable::checkpoint_every`] steps. A resumed run gives the bytes of the
/// uninterrupted one.
pub fn run<J: Job>(
    job: &mut J,
    st: &mut J::State,
    ckpts: &Checkpoints,
    progress: bool,
) -> Result<bool> {
    let total = st.optimiser().iterations;
    let bar = progress_bar(progress, total, st.iter());
    loop {
        let it = st.iter();
        if ckpts.stopped((it, total), st, &bar)? {
            return Ok(false);
        }
        if job.observe(st, it, &bar)? == Flow::Stop || it >= total {
            break;
        }
        let (loss, mut grad) = job.gradient(st, it)?;
        if !loss.is_finite() || apply(st, &mut grad).is_err() {
            // The batch of an iteration is fixed by (seed, iteration): retrying cannot help.
            bail!("non-finite loss or gradient at iteration {it} (lower `lr`?)");
        }
        job.stepped(st, it + 1, loss, &bar);
        bar.set_position(it + 1);
        ckpts.after_step(it + 1, st.checkpoint_every(), st)?;
    }
    bar.finish();
    Ok(true)
}
