//! The one optimiser of every training job: Adam with bias correction (the form of Kingma & Ba's
//! Algorithm 1, as PyTorch computes it), a cosine decay of the rate from `lr` to `lr_final`, an
//! optional linear warm-up of the rate over the first steps, and clipping of the gradient's
//! global norm.
//!
//! ```
//! use trainer::engine::optim::{Adam, Optimiser};
//! let opt = Optimiser { lr: 0.1, lr_final: 0.1, grad_norm_clip: 0.0, iterations: 10, warmup: 0 };
//! let mut adam = Adam::new(1);
//! let mut x = [1.0f64];
//! // Minimise x^2: the first step moves by lr whatever the gradient's size.
//! adam.step(&opt, &mut [2.0 * x[0]], &mut [&mut x[..]]).unwrap();
//! assert!((x[0] - 0.9).abs() < 1e-9);
//! ```

use serde::{Deserialize, Serialize};

/// Adam's constants (the paper's and every framework's defaults).
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// How a job's parameters move: the settings every configuration kind declares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Optimiser {
    /// Outer learning rate at the first step.
    pub lr: f64,
    /// Rate at the last step, reached by a cosine decay (`lr`: constant).
    pub lr_final: f64,
    /// Clip of the gradient's global norm (0: off).
    pub grad_norm_clip: f64,
    /// Steps of the whole run (the decay's length).
    pub iterations: u64,
    /// Steps over which the rate rises linearly to the schedule's (step `t <= warmup` takes
    /// `t / warmup` of it; 0: none).
    pub warmup: u64,
}

impl Optimiser {
    /// The settings of a run of `iterations` steps: a constant rate without `lr_final`, no
    /// warm-up (see [`Optimiser::with_warmup`]).
    pub fn new(lr: f64, lr_final: Option<f64>, grad_norm_clip: f64, iterations: u64) -> Self {
        Optimiser {
            lr,
            lr_final: lr_final.unwrap_or(lr),
            grad_norm_clip,
            iterations,
            warmup: 0,
        }
    }

    /// The same with a linear warm-up over the first `steps` steps.
    pub fn with_warmup(self, steps: u64) -> Self {
        Optimiser {
            warmup: steps,
            ..self
        }
    }

    /// The rate of step `t` (1-based): the cosine decay, scaled by `t / warmup` while
    /// `t < warmup`.
    pub fn rate(&self, t: u64) -> f64 {
        let frac = (t as f64 / self.iterations.max(1) as f64).min(1.0);
        let decayed = self.lr_final
            + 0.5 * (self.lr - self.lr_final) * (1.0 + (std::f64::consts::PI * frac).cos());
        if t < self.warmup {
            decayed * t as f64 / self.warmup as f64
        } else {
            decayed
        }
    }

    /// The range checks shared by every configuration: `(key, message)` of the first bad value.
    pub fn check(&self, max_clip: f64) -> Result<(), (&'static str, String)> {
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !(pos(self.lr) && self.lr <= 1.0) {
            return Err(("lr", format!("must be in (0, 1], got {:?}", self.lr)));
        }
        if !(pos(self.lr_final) && self.lr_final <= self.lr) {
            return Err(("lr_final", "must be finite, > 0 and <= lr".into()));
        }
        if self.warmup > self.iterations {
            return Err((
                "warmup",
                format!(
                    "must be at most iterations ({}), got {}",
                    self.iterations, self.warmup
                ),
            ));
        }
        if !(self.grad_norm_clip.is_finite() && (0.0..=max_clip).contains(&self.grad_norm_clip)) {
            return Err((
                "grad_norm_clip",
                format!("must be in [0, {max_clip:e}] (0 = off)"),
            ));
        }
        Ok(())
    }
}

/// Adam's moments and step count: part of every checkpoint (flattened into it, so a state keeps
/// its `m`, `v` fields).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// First moments, one per trained parameter.
    pub m: Vec<f64>,
    /// Second moments.
    pub v: Vec<f64>,
}

/// A gradient whose norm is not finite: the step was not taken.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonFinite;

impl Adam {
    /// Zero moments for `n` parameters.
    pub fn new(n: usize) -> Self {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// Parameters this optimiser moves.
    pub fn len(&self) -> usize {
        self.m.len()
    }

    /// Whether it moves none.
    pub fn is_empty(&self) -> bool {
        self.m.is_empty()
    }

    /// Whether a checkpoint's moments fit `n` parameters.
    pub fn fits(&self, n: usize) -> bool {
        self.m.len() == n && self.v.len() == n
    }

    /// Step `t` (1-based: the step count after this step) on `params`, the parameter segments
    /// in the gradient's order. `grad` is clipped in place. A gradient whose norm is not finite
    /// changes nothing and is refused. A parameter whose gradient has always been 0 (a frozen
    /// part) does not move.
    pub fn step_at(
        &mut self,
        opt: &Optimiser,
        t: u64,
        grad: &mut [f64],
        params: &mut [&mut [f64]],
    ) -> Result<(), NonFinite> {
        let n: usize = params.iter().map(|p| p.len()).sum();
        assert!(
            grad.len() == n && self.fits(n),
            "optimiser: {} gradients and {} moments for {n} parameters",
            grad.len(),
            self.m.len()
        );
        let norm = grad.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !norm.is_finite() {
            return Err(NonFinite);
        }
        if opt.grad_norm_clip > 0.0 && norm > opt.grad_norm_clip {
            let s = opt.grad_norm_clip / norm;
            grad.iter_mut().for_each(|g| *g *= s);
        }
        let tf = t as f64;
        let (c1, c2) = (1.0 - BETA1.powf(tf), 1.0 - BETA2.powf(tf));
        let lr = opt.rate(t);
        let mut at = 0;
        for seg in params.iter_mut() {
            let n = seg.len();
            let (g, m, v) = (
                &grad[at..at + n],
                &mut self.m[at..at + n],
                &mut self.v[at..at + n],
            );
            for i in 0..n {
                m[i] = BETA1 * m[i] + (1.0 - BETA1) * g[i];
                v[i] = BETA2 * v[i] + (1.0 - BETA2) * g[i] * g[i];
                seg[i] -= lr * (m[i] / c1) / ((v[i] / c2).sqrt() + EPS);
            }
            at += n;
        }
        Ok(())
    }

    /// [`Adam::step_at`] for a fresh optimiser's first step (examples, tests).
    pub fn step(
        &mut self,
        opt: &Optimiser,
        grad: &mut [f64],
        params: &mut [&mut [f64]],
    ) -> Result<(), NonFinite> {
        self.step_at(opt, 1, grad, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(lr: f64, lr_final: f64, clip: f64) -> Optimiser {
        Optimiser {
            lr,
            lr_final,
            grad_norm_clip: clip,
            iterations: 100,
            warmup: 0,
        }
    }

    #[test]
    fn bias_correction_makes_the_first_step_the_rate() {
        // (Up to eps / |g|: a gradient near eps moves by less.)
        for g in [0.3, 50.0, -7.0] {
            let mut x = [0.0];
            Adam::new(1)
                .step(&opt(0.01, 0.01, 0.0), &mut [g], &mut [&mut x[..]])
                .unwrap();
            assert!(
                (x[0] + 0.01 * g.signum()).abs() < 1e-6 * 0.01,
                "{g}: {}",
                x[0]
            );
        }
    }

    #[test]
    fn matches_the_reference_formula_over_many_steps() {
        // The textbook recursion in f64, written out once more, on a fixed gradient sequence.
        let o = opt(0.05, 0.001, 0.0);
        let mut adam = Adam::new(2);
        let (mut x, mut y) = ([0.5, -1.0], [0.5, -1.0]);
        let (mut m, mut v) = ([0.0; 2], [0.0; 2]);
        for t in 1..=100u64 {
            let g = [x[0] * 2.0 + 0.1, (t as f64).sin()];
            let gy = [y[0] * 2.0 + 0.1, (t as f64).sin()];
            adam.step_at(&o, t, &mut g.clone(), &mut [&mut x[..]])
                .unwrap();
            let lr = o.lr_final
                + 0.5
                    * (o.lr - o.lr_final)
                    * (1.0 + (std::f64::consts::PI * t as f64 / 100.0).cos());
            for i in 0..2 {
                m[i] = 0.9 * m[i] + 0.1 * gy[i];
                v[i] = 0.999 * v[i] + 0.001 * gy[i] * gy[i];
                let mh = m[i] / (1.0 - 0.9f64.powi(t as i32));
                let vh = v[i] / (1.0 - 0.999f64.powi(t as i32));
                y[i] -= lr * mh / (vh.sqrt() + 1e-8);
            }
            assert!(
                (x[0] - y[0]).abs() < 1e-12 && (x[1] - y[1]).abs() < 1e-12,
                "step {t}"
            );
        }
        assert!(
            (x[0] + 0.05).abs() < 0.01,
            "converges to the minimum: {}",
            x[0]
        );
    }

    #[test]
    fn cosine_schedule_runs_from_lr_to_lr_final() {
        let o = opt(0.1, 0.001, 0.0);
        assert!((o.rate(0) - 0.1).abs() < 1e-15);
        assert!((o.rate(50) - 0.0505).abs() < 1e-12);
        assert!((o.rate(100) - 0.001).abs() < 1e-15);
        assert_eq!(o.rate(1000), o.rate(100));
        assert_eq!(opt(0.1, 0.1, 0.0).rate(37), 0.1);
    }

    #[test]
    fn warmup_rises_linearly_then_follows_the_schedule() {
        let o = opt(0.1, 0.001, 0.0).with_warmup(10);
        assert!((o.rate(1) - opt(0.1, 0.001, 0.0).rate(1) / 10.0).abs() < 1e-15);
        assert!((o.rate(5) - 0.5 * opt(0.1, 0.001, 0.0).rate(5)).abs() < 1e-15);
        for t in [10, 50, 100] {
            assert_eq!(o.rate(t), opt(0.1, 0.001, 0.0).rate(t));
        }
        assert!(o.rate(3) < o.rate(4) && o.rate(4) < o.rate(9));
        assert_eq!(
            opt(0.1, 0.1, 0.0)
                .with_warmup(200)
                .check(1.0)
                .unwrap_err()
                .0,
            "warmup"
        );
        assert!(opt(0.1, 0.1, 0.0).with_warmup(100).check(1.0).is_ok());
    }

    #[test]
    fn clipping_scales_the_whole_gradient_and_segments_follow_gradient_order() {
        let o = opt(0.1, 0.1, 1.0);
        let (mut a, mut b) = ([0.0], [0.0, 0.0]);
        let mut g = [3.0, 4.0, 0.0];
        Adam::new(3)
            .step(&o, &mut g, &mut [&mut a[..], &mut b[..]])
            .unwrap();
        assert!((g[0] - 0.6).abs() < 1e-12 && (g[1] - 0.8).abs() < 1e-12);
        assert!(a[0] < 0.0 && b[0] < 0.0 && b[1] == 0.0, "{a:?} {b:?}");
    }

    #[test]
    fn non_finite_gradients_change_nothing() {
        let mut adam = Adam::new(2);
        let mut x = [1.0, 2.0];
        let r = adam.step(&opt(0.1, 0.1, 0.0), &mut [f64::NAN, 1.0], &mut [&mut x[..]]);
        assert_eq!(r, Err(NonFinite));
        assert_eq!((x, adam), ([1.0, 2.0], Adam::new(2)));
    }

    #[test]
    fn the_shared_range_checks_name_the_key() {
        assert_eq!(opt(2.0, 0.1, 0.0).check(1e6).unwrap_err().0, "lr");
        assert_eq!(opt(0.1, 0.2, 0.0).check(1e6).unwrap_err().0, "lr_final");
        assert_eq!(
            opt(0.1, 0.1, 1e300).check(1e6).unwrap_err().0,
            "grad_norm_clip"
        );
        assert!(opt(0.1, 0.01, 10.0).check(1e6).is_ok());
    }
}
