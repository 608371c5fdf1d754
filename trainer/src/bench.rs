//! Speed benchmark: meta-iterations per second for every algorithm on the reference network.

use crate::meta::{Algorithm, MetaSpec, Scope};
use crate::net::{Activation, Arch, HeadKind};
use crate::tasks::Sinusoid;
use crate::train::{sample_batch, step, State, StepBuffers, TrainSettings};
use std::time::Instant;

pub struct BenchResult {
    pub algorithm: Algorithm,
    pub steps: usize,
    pub iters: u64,
    /// Median over chunks.
    pub secs_per_1000: f64,
    pub best_secs_per_1000: f64,
}

/// Time `iters` meta-iterations (meta-batch 25, K = 10, 1-40-40-1 ReLU) of each of
/// `algorithms`, on the current rayon pool (`threads` = 1 for the single-thread target).
pub fn run(algorithms: &[Algorithm], iters: u64, steps: usize, parallel: bool) -> Vec<BenchResult> {
    algorithms
        .iter()
        .map(|&algorithm| {
            let arch = Arch::mlp(1, &[40, 40], 1, Activation::Relu, HeadKind::Regression);
            let spec = MetaSpec {
                algorithm,
                scope: Scope::Everything,
                steps,
                alpha: 0.01,
                alpha_max: 0.1,
                clip: 10.0,
                step_weights: crate::meta::last_step_weights(steps),
                first_order: false,
            };
            let settings = TrainSettings {
                iterations: iters,
                meta_batch: 25,
                shots_min: 10,
                shots_max: 10,
                query: 10,
                lr: 1e-3,
                lr_final: 1e-3,
                grad_norm_clip: 0.0,
                warmup: 0,
                seed: 1,
                checkpoint_every: 0,
            };
            let mut st = State::new(arch, spec, settings.clone());
            let batches: Vec<_> = (0..iters)
                .map(|i| sample_batch(&Sinusoid, &settings, i))
                .collect();
            let mut buf = StepBuffers::default();
            step(&mut st, &batches[0], parallel, &mut buf);
            // Chunks of 50 iterations: the machine is shared, so report the median and the best
            // chunk (the best is the least disturbed by other processes).
            let mut chunks: Vec<f64> = batches
                .chunks(50)
                .map(|c| {
                    let t0 = Instant::now();
                    for b in c {
                        step(&mut st, b, parallel, &mut buf);
                    }
                    t0.elapsed().as_secs_f64() * 1000.0 / c.len() as f64
                })
                .collect();
            chunks.sort_by(f64::total_cmp);
            BenchResult {
                algorithm,
                steps,
                iters,
                secs_per_1000: chunks[chunks.len() / 2],
                best_secs_per_1000: chunks[0],
            }
        })
        .collect()
}
