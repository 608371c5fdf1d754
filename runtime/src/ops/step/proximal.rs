//! The implicit (proximal) step of a linear regression head, solved exactly (cargo feature
//! `implicit-step`).
//!
//! With the head's input features `F` (K rows, plus a column of ones for the bias) fixed, the
//! support loss `L(w) = |F w - y|^2 / (K m)` of one output row `w` is quadratic, so the implicit
//! step `w' = w - D grad L(w')` (`D` the row's step sizes) has the closed form
//!
//! ```text
//! M = c I + F D F^T   (K x K, c = K m / 2),   a = M^-1 r,   w' = w + D F^T a,   r = y - F w.
//! ```
//!
//! The residual after the step is `c a`, so S steps factor `M` once and solve S times: the
//! whole run costs `K^2 (H + S) + K^3 / 6` multiply-adds per output, and the state changes
//! only once, at the end, after every value was checked finite.
//!
//! # What is proven, and what f32 needs
//!
//! In exact arithmetic the step is stable for every step size: `c M^-1` has its eigenvalues in
//! `(0, 1]`, so no step raises the support loss, and every pivot of `M`'s `L D L^T` factors is at
//! least `c`. In f32 this holds only while rounding cannot decide the factors. A pivot `d_i` is
//! the diagonal `M_ii` minus non-negative terms that are each at most `M_ii`, so rounding moves
//! it by about `i u M_ii` (`u = 2^-24`): when the features are large for the step sizes (`M_ii`
//! far above `c`, as with inputs thousands of times the training range), the pivots, and then
//! the steps, are rounding noise, and the loss can grow at every step.
//!
//! So every pivot must be at least `M_ii / PIVOT_LIMIT` (`PIVOT_LIMIT = 10^4`): then rounding
//! moves it by at most `K u 10^4`, 1.2% at K = 20, and the step is the exact step of a system
//! within that of `M`. A support set that fails is refused with [`Error::IllConditioned`] (the
//! output, the sample, its `M_ii / d_i`) before the state changes. The shipped
//! `models/sinusoid_proximal.postcard` on its task family (inputs in [-5, 5], K = 1-20) stays
//! below 600, 17 times under the limit; at 4 times that input range 4% of support sets are
//! refused, at 10 times most.
//!
//! Refusing rather than regularising: raising `c` (or clamping pivots) would change the step
//! the trainer meta-learns through (`trainer/src/meta/proximal.rs` differentiates this exact
//! solve), so the device would no longer run the model that was trained and evaluated; a
//! support set this far outside the training range is better refused, with the numbers to
//! act on, than adapted to something no one measured. A pivot in `[M_ii / PIVOT_LIMIT, c)` is
//! rounding only and is raised back to `c`, which keeps the solve identical on every target.
//!
//! The log reports the loss of `c a` at each step; [`AdaptState::adapt_guarded`] keeps the
//! parameters of its lowest entry (solving again up to that step when it is not the last), as
//! it does for gradient steps.
//!
//! [`AdaptState::adapt_guarded`]: crate::AdaptState::adapt_guarded

use core::fmt;

use super::per_parameter::slot_rates;
use super::{Run, Slot, StepOp};
use crate::adapt::inner::InnerLoop;
use crate::adapt::params::{layer_mut, Weights};
use crate::adapt::{AdaptReport, Targets};
use crate::format::layout::AdaptedRange;
use crate::format::{invalid, AdaptScope, AdaptSpec, Capabilities, HeadKind, HeadSpec};
use crate::math::Rate;
use crate::ops::head::regression::standardised_target;
use crate::{Activation, Error};

/// Per-parameter step sizes (laid out as Meta-SGD's), each step taken implicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proximal {
    /// Offset of the step sizes in the weights section, in f32.
    pub offset: u32,
}

impl StepOp for Proximal {
    fn rate_len(&self, _: &AdaptedRange, adapted_params: usize) -> usize {
        adapted_params
    }
    fn tensor_offset(&self) -> Option<u32> {
        Some(self.offset)
    }
    fn capability(&self) -> Capabilities {
        Capabilities::IMPLICIT_STEP
    }
    /// The step is solved in closed form: one identity dense layer under mean squared error,
    /// adapted alone.
    fn validate(&self, head: &HeadSpec<'_>, spec: &AdaptSpec) -> Result<(), Error> {
        let single_linear = head.layers.len() == 1
            && head
                .layers
                .first()
                .is_some_and(|l| l.activation == Activation::Identity);
        if single_linear
            && matches!(head.kind, HeadKind::Regression { .. })
            && matches!(spec.scope, AdaptScope::HeadOnly)
            && spec.prototype_scale.is_none()
        {
            Ok(())
        } else {
            Err(invalid("adapt.rate"))
        }
    }
    fn layer_rates<'a>(
        &self,
        table: &'a [f32],
        _: usize,
        slot: Slot,
        _: u16,
    ) -> (Rate<'a>, Rate<'a>) {
        slot_rates(table, slot)
    }
    fn same_every_step(&self) -> bool {
        false
    }
    /// `M` (`K x K`), the solutions (`K x outputs`) and one working vector.
    fn solve_len(&self, k: usize, outputs: usize) -> Option<usize> {
        k.checked_add(outputs)
            .and_then(|n| n.checked_add(1))
            .and_then(|n| n.checked_mul(k))
    }
    /// Computed whole before the state changes, so the guard needs no copy of the state.
    fn run(&self, lp: &InnerLoop<'_>, run: Run<'_>) -> Option<Result<AdaptReport, Error>> {
        Some(lp.run_proximal(run))
    }
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("per parameter, implicit (proximal) head step")
    }
}

/// The solver: its scratch, `M` (`K x K`, lower triangle used), the accumulated solutions
/// (`K x outputs`, sample-major) and one working vector, and what it reads: the support
/// features (`K x h`), the starting residuals (`K x m`) and `c`.
struct Solver<'s> {
    system: &'s mut [f32],
    sums: &'s mut [f32],
    work: &'s mut [f32],
    features: &'s [f32],
    residuals: &'s [f32],
    h: usize,
    m: usize,
    c: f32,
}

impl InnerLoop<'_> {
    /// Runs `steps` implicit steps of the (single, linear) head layer; `acts` holds the support
    /// features in its first region, `solve` is the geometry's solver region. `guarded`: stop
    /// at the first step whose logged loss rises above the best so far (or is not finite) and
    /// keep the parameters of the best step, as [`crate::AdaptState::adapt_guarded`] promises.
    fn run_proximal(&self, run: Run<'_>) -> Result<AdaptReport, Error> {
        let Run {
            params,
            acts,
            solve,
            steps,
            losses,
            guard: guarded,
        } = run;
        let bug = Error::internal("ops::step::proximal::run_proximal");
        let Targets::Values(values) = self.support.targets else {
            return Err(Error::TargetKindMismatch);
        };
        let k = self.geo.k;
        let index = self.geo.chain_len.saturating_sub(1);
        self.forward(params, acts, self.geo.chain_len)?;
        let split = *self.geo.starts.get(1).ok_or(bug)?;
        let (features, outputs) = acts.split_at_mut_checked(split).ok_or(bug)?;
        let m = outputs.len() / k.max(1);
        let h = features.len() / k.max(1);
        if h == 0 || m == 0 {
            // Validation refuses zero-width layers; this keeps `chunks_exact(h)` total.
            return Err(bug);
        }
        let c = (k * m) as f32 * 0.5;
        let scale = 1.0 / (k * m) as f32;
        // Residuals y - f, and the starting loss.
        let mut initial = 0.0f32;
        let norm = self.model.output_normalisation(self.head);
        for (i, (r, y)) in outputs.iter_mut().zip(values).enumerate() {
            *r = standardised_target(norm, i, *y) - *r;
            initial += *r * *r;
        }
        initial *= scale;
        if !initial.is_finite() {
            return Err(Error::NonFiniteLoss { step: 0 });
        }
        let n_log = usize::from(steps) + 1;
        let log = losses.get_mut(..n_log).ok_or(bug)?;
        log.fill(0.0);
        if let Some(first) = log.first_mut() {
            *first = initial;
        }
        let (system, rest) = solve.split_at_mut_checked(k * k).ok_or(bug)?;
        let (sums, rest) = rest.split_at_mut_checked(k * m).ok_or(bug)?;
        let work = rest.get_mut(..k).ok_or(bug)?;
        let mut solver = Solver {
            system,
            sums,
            work,
            features: &*features,
            residuals: outputs,
            h,
            m,
            c,
        };
        let l = layer_mut(self.model, self.head, &self.range, params, index)?;
        let Weights::Adapted(w) = l.weights else {
            return Err(Error::InvalidHeader {
                field: "adapt.rate",
            });
        };
        let w_at = l.w_at.ok_or(bug)?;
        let rw_all = self.rates.get(w_at..w_at + w.len()).ok_or(bug)?;
        let rb_all = self.rates.get(l.b_at..l.b_at + m).ok_or(bug)?;
        // Every step of every output, logging the support loss (the state does not change).
        solver.sums.fill(0.0);
        for j in 0..m {
            solver.output(j, rw_all, rb_all, n_log - 1, Some(&mut *log), scale)?;
        }
        // The step to keep: the last, or with the guard the lowest loss of the log up to the
        // first that is not finite (where the steps stop, as gradient steps do).
        let non_finite = log.iter().position(|v| !v.is_finite());
        let (ran, kept) = match (non_finite, guarded) {
            // Nothing has changed yet: refuse a run that did not stay finite.
            (Some(step), false) => return Err(Error::NonFiniteLoss { step: step as u16 }),
            (Some(step), true) => (step, best_step(log.get(..step).unwrap_or(&[]))),
            (None, false) => (n_log - 1, n_log - 1),
            (None, true) => (n_log - 1, best_step(log)),
        };
        let rolled_back = kept < n_log - 1;
        if kept < n_log - 1 {
            // Rolled back: the accumulated solutions of the kept steps only (the same factors
            // and solves as above, so the same values).
            solver.sums.fill(0.0);
            for j in 0..m {
                solver.output(j, rw_all, rb_all, kept, None, scale)?;
            }
        }
        // Two passes: check that every new value is finite, then write (nothing to write when
        // the guard keeps the start: the state stays bit-identical).
        let sums = &*solver.sums;
        let passes: &[bool] = if kept == 0 { &[] } else { &[false, true] };
        for &write in passes {
            for j in 0..m {
                for col in 0..=h {
                    let (param, rate) = if col < h {
                        (w.get_mut(j * h + col), rw_all.get(j * h + col))
                    } else {
                        (l.bias.get_mut(j), rb_all.get(j))
                    };
                    let (Some(param), Some(rate)) = (param, rate) else {
                        return Err(bug);
                    };
                    let new = *param + *rate * moved(solver.features, sums, h, m, j, col);
                    if !new.is_finite() {
                        return Err(Error::NonFinite {
                            what: "adapted parameter",
                            sample: 0,
                        });
                    }
                    if write {
                        *param = new;
                    }
                }
            }
        }
        Ok(AdaptReport {
            steps: ran as u16,
            initial_loss: initial,
            final_loss: log.get(kept).copied().unwrap_or(initial),
            from_prototypes: false,
            best_step: if guarded { kept } else { best_step(log) } as u16,
            rolled_back,
        })
    }
}

/// The largest `diagonal / pivot` of `M`'s `L D L^T` factors the implicit step accepts.
pub const PIVOT_LIMIT: u32 = 10_000;

/// `diag / pivot` rounded down, saturating (`u32::MAX` for a pivot that is not positive, or
/// either value not finite).
fn pivot_ratio(diag: f32, pivot: f32) -> u32 {
    let r = diag / pivot;
    if pivot > 0.0 && r.is_finite() && r < u32::MAX as f32 {
        r as u32
    } else {
        u32::MAX
    }
}

/// The first step of the lowest loss in `log` (0 for an empty log).
fn best_step(log: &[f32]) -> usize {
    let mut best = 0;
    for (s, v) in log.iter().enumerate() {
        if log.get(best).is_some_and(|b| v < b) {
            best = s;
        }
    }
    best
}

/// `sum_i F~[i][col] A[i][j]`: column `col` of the features with a trailing 1 (`col == h`), against
/// the accumulated solutions of output `j`.
fn moved(features: &[f32], sums: &[f32], h: usize, m: usize, j: usize, col: usize) -> f32 {
    let mut acc = 0.0f32;
    for (i, row) in features.chunks_exact(h).enumerate() {
        let f = if col < h {
            row.get(col).copied().unwrap_or(0.0)
        } else {
            1.0
        };
        acc += f * sums.get(i * m + j).copied().unwrap_or(0.0);
    }
    acc
}

impl Solver<'_> {
    /// Output `j`: factors its system, then runs `steps` solves from its residuals, adding each
    /// solution to the sums and (with `log`) each step's loss to `log[1..]`.
    fn output(
        &mut self,
        j: usize,
        rw_all: &[f32],
        rb_all: &[f32],
        steps: usize,
        log: Option<&mut [f32]>,
        scale: f32,
    ) -> Result<(), Error> {
        let (h, m, c) = (self.h, self.m, self.c);
        let rw = rw_all
            .get(j * h..(j + 1) * h)
            .ok_or(Error::internal("ops::step::proximal::output"))?;
        let rb = *rb_all
            .get(j)
            .ok_or(Error::internal("ops::step::proximal::output"))?;
        self.factor(rw, rb)
            .map_err(|(sample, ratio)| Error::IllConditioned {
                output: j,
                sample,
                ratio,
                limit: PIVOT_LIMIT,
            })?;
        for (i, t) in self.work.iter_mut().enumerate() {
            *t = self.residuals.get(i * m + j).copied().unwrap_or(0.0);
        }
        let mut log = log.map(|l| l.iter_mut().skip(1));
        for _ in 0..steps {
            self.solve();
            let mut sq = 0.0f32;
            for (i, t) in self.work.iter_mut().enumerate() {
                if let Some(s) = self.sums.get_mut(i * m + j) {
                    *s += *t;
                }
                *t *= c;
                sq += *t * *t;
            }
            if let Some(entry) = log.as_mut().and_then(|l| l.next()) {
                *entry += sq * scale;
            }
        }
        Ok(())
    }

    /// `M = c I + F diag(rw, rb) F~^T` into the lower triangle, then its `L D L^T` factors in
    /// place (unit `L` below the diagonal, `D` on it). Refuses, as `(sample, diagonal / pivot)`,
    /// a pivot below `1 / PIVOT_LIMIT` of its diagonal (or not finite): f32 cannot solve such a
    /// system accurately (see the module docs).
    fn factor(&mut self, rw: &[f32], rb: f32) -> Result<(), (usize, u32)> {
        let (h, c) = (self.h, self.c);
        let k = self.work.len();
        let features = self.features;
        for (p, fp) in features.chunks_exact(h).enumerate().take(k) {
            for (q, fq) in features.chunks_exact(h).enumerate().take(p + 1) {
                let mut acc = rb;
                for ((a, b), r) in fp.iter().zip(fq).zip(rw) {
                    acc += *a * *r * *b;
                }
                if p == q {
                    acc += c;
                }
                if let Some(e) = self.system.get_mut(p * k + q) {
                    *e = acc;
                }
            }
        }
        let m = &mut *self.system;
        let get = |m: &[f32], i: usize| m.get(i).copied().unwrap_or(0.0);
        for i in 0..k {
            for j in 0..=i {
                let mut acc = get(m, i * k + j);
                for t in 0..j {
                    acc -= get(m, i * k + t) * get(m, j * k + t) * get(m, t * k + t);
                }
                let value = if i == j {
                    // The diagonal of M, not yet overwritten.
                    let diag = get(m, i * k + i);
                    // NaN (from a system that overflowed) fails the comparison too.
                    let accurate = acc * PIVOT_LIMIT as f32 >= diag && diag.is_finite();
                    if !accurate {
                        return Err((i, pivot_ratio(diag, acc)));
                    }
                    // At least c in exact arithmetic; rounding can only have lowered it.
                    if acc < c {
                        c
                    } else {
                        acc
                    }
                } else {
                    acc / get(m, j * k + j)
                };
                if let Some(e) = m.get_mut(i * k + j) {
                    *e = value;
                }
            }
        }
        Ok(())
    }
    /// `work <- M^-1 work` with the factors from [`Solver::factor`].
    fn solve(&mut self) {
        let k = self.work.len();
        let m = &*self.system;
        let get = |i: usize| m.get(i).copied().unwrap_or(0.0);
        for i in 0..k {
            let mut acc = self.work.get(i).copied().unwrap_or(0.0);
            for t in 0..i {
                acc -= get(i * k + t) * self.work.get(t).copied().unwrap_or(0.0);
            }
            if let Some(e) = self.work.get_mut(i) {
                *e = acc;
            }
        }
        for (i, e) in self.work.iter_mut().enumerate() {
            *e /= get(i * k + i);
        }
        for i in (0..k).rev() {
            let mut acc = self.work.get(i).copied().unwrap_or(0.0);
            for t in i + 1..k {
                acc -= get(t * k + i) * self.work.get(t).copied().unwrap_or(0.0);
            }
            if let Some(e) = self.work.get_mut(i) {
                *e = acc;
            }
        }
    }
}
