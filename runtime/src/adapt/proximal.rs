//! The implicit (proximal) step of a linear regression head, solved exactly.
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
//! only once, at the end, after every value was checked finite. `M`'s pivots are at least `c` in
//! exact arithmetic; a pivot that rounding pushed below is raised back to `c`, which keeps the
//! solve defined (and identical on every target) for any features.

use super::inner::{AdaptReport, InnerLoop};
use super::params::{layer_mut, Weights};
use super::support::Targets;
use crate::Error;

/// The solver's scratch: `M` (`K x K`, lower triangle used), the accumulated solutions
/// (`K x outputs`, sample-major) and one working vector.
struct Solver<'s> {
    system: &'s mut [f32],
    sums: &'s mut [f32],
    work: &'s mut [f32],
}

impl InnerLoop<'_> {
    /// Runs `steps` implicit steps of the (single, linear) head layer; `acts` holds the support
    /// features in its first region, `solve` is the geometry's solver region.
    pub(super) fn run_proximal(
        &self,
        params: &mut [f32],
        acts: &mut [f32],
        solve: &mut [f32],
        steps: u16,
        losses: &mut [f32],
    ) -> Result<AdaptReport, Error> {
        let Targets::Values(values) = self.support.targets else {
            return Err(Error::TargetKindMismatch);
        };
        let k = self.geo.k;
        let index = self.geo.chain_len.saturating_sub(1);
        self.forward(params, acts, self.geo.chain_len)?;
        let split = *self.geo.starts.get(1).ok_or(Error::StateMismatch)?;
        let (features, outputs) = acts
            .split_at_mut_checked(split)
            .ok_or(Error::StateMismatch)?;
        let m = outputs.len() / k.max(1);
        let h = features.len() / k.max(1);
        if h == 0 || m == 0 {
            // Validation refuses zero-width layers; this keeps `chunks_exact(h)` total.
            return Err(Error::StateMismatch);
        }
        let c = (k * m) as f32 * 0.5;
        let scale = 1.0 / (k * m) as f32;
        // Residuals y - f, and the starting loss.
        let mut initial = 0.0f32;
        for (r, y) in outputs.iter_mut().zip(values) {
            *r = *y - *r;
            initial += *r * *r;
        }
        initial *= scale;
        if !initial.is_finite() {
            return Err(Error::NonFiniteLoss { step: 0 });
        }
        let n_log = usize::from(steps) + 1;
        let log = losses.get_mut(..n_log).ok_or(Error::StateMismatch)?;
        log.fill(0.0);
        if let Some(first) = log.first_mut() {
            *first = initial;
        }
        let (system, rest) = solve
            .split_at_mut_checked(k * k)
            .ok_or(Error::StateMismatch)?;
        let (sums, rest) = rest
            .split_at_mut_checked(k * m)
            .ok_or(Error::StateMismatch)?;
        let work = rest.get_mut(..k).ok_or(Error::StateMismatch)?;
        let mut solver = Solver { system, sums, work };
        solver.sums.fill(0.0);
        let l = layer_mut(self.model, self.head, &self.range, params, index)?;
        let Weights::Adapted(w) = l.weights else {
            return Err(Error::InvalidHeader {
                field: "adapt.rate",
            });
        };
        let w_at = l.w_at.ok_or(Error::StateMismatch)?;
        let rw_all = self
            .rates
            .get(w_at..w_at + w.len())
            .ok_or(Error::StateMismatch)?;
        let rb_all = self
            .rates
            .get(l.b_at..l.b_at + m)
            .ok_or(Error::StateMismatch)?;
        for j in 0..m {
            let rw = rw_all.get(j * h..(j + 1) * h).ok_or(Error::StateMismatch)?;
            let rb = *rb_all.get(j).ok_or(Error::StateMismatch)?;
            solver.factor(features, h, rw, rb, c);
            for (i, t) in solver.work.iter_mut().enumerate() {
                *t = outputs.get(i * m + j).copied().unwrap_or(0.0);
            }
            for entry in log.iter_mut().skip(1) {
                solver.solve();
                let mut sq = 0.0f32;
                for (i, t) in solver.work.iter_mut().enumerate() {
                    if let Some(s) = solver.sums.get_mut(i * m + j) {
                        *s += *t;
                    }
                    *t *= c;
                    sq += *t * *t;
                }
                *entry += sq * scale;
            }
        }
        // Nothing has changed yet: refuse a run that did not stay finite.
        if let Some(step) = log.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteLoss { step: step as u16 });
        }
        // Two passes: check that every new value is finite, then write.
        let sums = &*solver.sums;
        for write in [false, true] {
            for j in 0..m {
                for col in 0..=h {
                    let (param, rate) = if col < h {
                        (w.get_mut(j * h + col), rw_all.get(j * h + col))
                    } else {
                        (l.bias.get_mut(j), rb_all.get(j))
                    };
                    let (Some(param), Some(rate)) = (param, rate) else {
                        return Err(Error::StateMismatch);
                    };
                    let new = *param + *rate * moved(features, sums, h, m, j, col);
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
        let (best_step, final_loss) = log.iter().enumerate().fold(
            (0, initial),
            |(bs, bl), (s, &v)| if v < bl { (s, v) } else { (bs, bl) },
        );
        Ok(AdaptReport {
            steps,
            initial_loss: initial,
            final_loss: log.last().copied().unwrap_or(final_loss),
            from_prototypes: false,
            best_step: best_step as u16,
            rolled_back: false,
        })
    }
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
    /// `M = c I + F diag(rw, rb) F~^T` into the lower triangle, then its `L D L^T` factors in
    /// place (unit `L` below the diagonal, `D` on it).
    fn factor(&mut self, features: &[f32], h: usize, rw: &[f32], rb: f32, c: f32) {
        let k = self.work.len();
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
