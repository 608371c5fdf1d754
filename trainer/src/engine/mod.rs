//! The training engine every kind of run goes through: one run loop ([`run`]), one optimiser
//! ([`optim`]: Adam with bias correction, a cosine schedule and gradient clipping), one
//! checkpoint and resume flow ([`checkpoint`]). A kind of training is a [`Job`]: what one
//! iteration's gradient is, what validation it runs and when it stops early.
//!
//! ```
//! use trainer::engine::{self, optim::{Adam, Optimiser}, Checkpoints, Job, Trainable};
//! use std::sync::atomic::AtomicBool;
//!
//! // A state: one parameter, Adam's moments, the step count.
//! #[derive(serde::Serialize)]
//! struct Line { x: [f64; 1], adam: Adam, iter: u64 }
//! impl engine::Checkpoint for Line {
//!     fn iter(&self) -> u64 { self.iter }
//!     fn iter_mut(&mut self) -> &mut u64 { &mut self.iter }
//! }
//! impl Trainable for Line {
//!     fn optimiser(&self) -> Optimiser {
//!         Optimiser { lr: 0.1, lr_final: 0.001, grad_norm_clip: 0.0, iterations: 500, warmup: 0 }
//!     }
//!     fn checkpoint_every(&self) -> u64 { 0 }
//!     fn parts(&mut self) -> (&mut Adam, Vec<&mut [f64]>) { (&mut self.adam, vec![&mut self.x[..]]) }
//! }
//! // A job: minimise (x - 3)^2.
//! struct Fit;
//! impl Job for Fit {
//!     type State = Line;
//!     fn gradient(&mut self, st: &mut Line, _it: u64) -> anyhow::Result<(f64, Vec<f64>)> {
//!         let d = st.x[0] - 3.0;
//!         Ok((d * d, vec![2.0 * d]))
//!     }
//! }
//! let mut st = Line { x: [0.0], adam: Adam::new(1), iter: 0 };
//! let stop = AtomicBool::new(false);
//! let ckpts = Checkpoints { path: None, stop: &stop, stop_at: None };
//! assert!(engine::run(&mut Fit, &mut st, &ckpts, false).unwrap());
//! assert_eq!(st.iter, 500);
//! assert!((st.x[0] - 3.0).abs() < 1e-3);
//! ```

pub mod checkpoint;
pub mod optim;
mod run;

pub(crate) use checkpoint::resumable;
pub use checkpoint::{
    check_sizes, progress_bar, read_json, train_checkpointed, write_json_atomic, Checkpoint,
    Checkpoints, RunFlags, RunSettings,
};
pub use run::{apply, run, Flow, Job, Trainable};
