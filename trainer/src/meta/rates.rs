//! Learned step sizes: alpha = alpha_max * sigmoid(u) (positive and bounded), in the runtime's
//! shapes (scalar, per layer per step, per parameter), and the chain rule back to `u`.

use super::{adapted_layers, adapted_ranges, n_adapted, MetaSpec, RateKind, Scope};
use crate::net::Arch;
use crate::real::Real;

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Number of learned rate parameters `u` for this spec.
pub fn n_rate_params(arch: &Arch, spec: &MetaSpec) -> usize {
    let scope = spec.effective_scope();
    match spec.algorithm.rates() {
        RateKind::Scalar => 0,
        RateKind::PerParameter => n_adapted(arch, scope),
        RateKind::PerLayerPerStep => spec.steps * adapted_layers(arch, scope).len() * 2,
    }
}

/// Initial rate parameters: every alpha starts at `spec.alpha`.
pub fn init_rates(arch: &Arch, spec: &MetaSpec) -> Vec<f64> {
    let u0 = logit((spec.alpha / spec.alpha_max).clamp(1e-6, 1.0 - 1e-6));
    vec![u0; n_rate_params(arch, spec)]
}

/// The rates in the runtime's shapes.
#[derive(Clone, Debug, PartialEq)]
pub enum Rates {
    Scalar(f64),
    /// `[steps][adapted layer][weight, bias]`
    PerLayerPerStep(Vec<Vec<[f64; 2]>>),
    /// One per adapted parameter, layout of `adapted_ranges`.
    PerParameter(Vec<f64>),
}

pub fn rates(arch: &Arch, spec: &MetaSpec, u: &[f64]) -> Rates {
    let a = |x: f64| spec.alpha_max * sigmoid(x);
    match spec.algorithm.rates() {
        RateKind::Scalar => Rates::Scalar(spec.alpha),
        RateKind::PerParameter => Rates::PerParameter(u.iter().map(|&x| a(x)).collect()),
        RateKind::PerLayerPerStep => {
            let nla = adapted_layers(arch, spec.effective_scope()).len();
            Rates::PerLayerPerStep(
                (0..spec.steps)
                    .map(|s| {
                        (0..nla)
                            .map(|l| [a(u[(s * nla + l) * 2]), a(u[(s * nla + l) * 2 + 1])])
                            .collect()
                    })
                    .collect(),
            )
        }
    }
}

/// Full-length per-parameter alpha vector for inner step `s` (zero outside the adapted set).
pub fn alpha_vector<T: Real>(arch: &Arch, scope: Scope, rates: &Rates, s: usize) -> Vec<T> {
    let mut out = vec![T::zero(); arch.n_params()];
    match rates {
        Rates::Scalar(a) => {
            for r in adapted_ranges(arch, scope) {
                out[r].fill(T::from_f64(*a));
            }
        }
        Rates::PerParameter(v) => {
            let mut i = 0;
            for r in adapted_ranges(arch, scope) {
                for o in &mut out[r] {
                    *o = T::from_f64(v[i]);
                    i += 1;
                }
            }
        }
        Rates::PerLayerPerStep(t) => {
            let row = &t[s.min(t.len().saturating_sub(1))];
            for (j, (l, w)) in adapted_layers(arch, scope).into_iter().enumerate() {
                if w {
                    out[arch.w_off(l)..arch.b_off(l)].fill(T::from_f64(row[j][0]));
                }
                let b = arch.b_off(l);
                out[b..arch.end_off(l)].fill(T::from_f64(row[j][1]));
            }
        }
    }
    out
}

/// Chain the alpha-table gradients (summed over tasks) into gradients of the rate parameters `u`.
pub fn rate_param_grad(arch: &Arch, spec: &MetaSpec, u: &[f64], g_alpha: &[Vec<f64>]) -> Vec<f64> {
    let scope = spec.effective_scope();
    let dsig = |x: f64| spec.alpha_max * sigmoid(x) * (1.0 - sigmoid(x));
    let mut gu = vec![0.0; u.len()];
    match spec.algorithm.rates() {
        RateKind::Scalar => {}
        RateKind::PerParameter => {
            let mut j = 0;
            for r in adapted_ranges(arch, scope) {
                for i in r {
                    gu[j] = g_alpha[0][i] * dsig(u[j]);
                    j += 1;
                }
            }
        }
        RateKind::PerLayerPerStep => {
            let layers = adapted_layers(arch, scope);
            let nla = layers.len();
            for (s, ga) in g_alpha.iter().enumerate() {
                for (j, &(l, w)) in layers.iter().enumerate() {
                    let (wo, bo) = (arch.w_off(l), arch.b_off(l));
                    let iw = (s * nla + j) * 2;
                    if w {
                        gu[iw] = ga[wo..bo].iter().sum::<f64>() * dsig(u[iw]);
                    }
                    gu[iw + 1] = ga[bo..arch.end_off(l)].iter().sum::<f64>() * dsig(u[iw + 1]);
                }
            }
        }
    }
    gu
}
