//! Meta-learning algorithms: exact second-order MAML (Hessian-vector products through every inner
//! step), first-order MAML, Reptile, Meta-SGD (learned per-parameter rates), MAML++ per-layer
//! per-step rates, and ANIL. All share one inner loop with the runtime's semantics:
//! `theta <- theta - alpha (.) clamp(grad, -clip, clip)` on the adapted parameters only.
//! The exception is the proximal rule: an implicit step on a linear regression head with
//! Meta-SGD's per-parameter rates, solved in closed form (see `proximal`).

mod grad;
mod inner;
mod proximal;
mod rates;

pub use grad::{
    batch_meta_grad, batch_meta_grad_in, task_meta_grad, BatchGrad, BatchWorkspace, Ctx, TaskLoss,
    Workspace,
};
pub use inner::{batch_loss_t, clamp, inner_loop, query_loss, support_loss};
pub use proximal::unsupported as proximal_unsupported;
pub use rates::{
    alpha_vector, init_rates, logit, n_rate_params, rate_param_grad, rates, sigmoid, Rates,
};

use crate::net::{Arch, Targets};
use crate::real::Real;
use crate::tasks::Task;
use serde::{Deserialize, Serialize};
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Second-order MAML, fixed scalar rate.
    Maml,
    /// First-order MAML.
    Fomaml,
    /// Reptile: meta-gradient = theta_0 - theta_S.
    Reptile,
    /// Learned per-parameter rates alpha = alpha_max * sigmoid(u) (second-order).
    MetaSgd,
    /// Learned per-layer, per-step rates (MAML++; second-order).
    MamlPp,
    /// Almost No Inner Loop: second-order MAML adapting the head only.
    Anil,
    /// Implicit (proximal) steps on a linear regression head with learned per-parameter rates:
    /// `theta' = theta - alpha (.) grad L_support(theta')`, solved exactly.
    Proximal,
}

impl Algorithm {
    pub const ALL: [Algorithm; 7] = [
        Algorithm::Maml,
        Algorithm::Fomaml,
        Algorithm::Reptile,
        Algorithm::MetaSgd,
        Algorithm::MamlPp,
        Algorithm::Anil,
        Algorithm::Proximal,
    ];
    pub fn rates(self) -> RateKind {
        match self {
            Algorithm::MetaSgd | Algorithm::Proximal => RateKind::PerParameter,
            Algorithm::MamlPp => RateKind::PerLayerPerStep,
            _ => RateKind::Scalar,
        }
    }
    /// Whether the inner loop adapts the head only, whatever the scope (ANIL, the implicit step).
    pub fn head_only(self) -> bool {
        matches!(self, Algorithm::Anil | Algorithm::Proximal)
    }
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Maml => "maml",
            Algorithm::Fomaml => "fomaml",
            Algorithm::Reptile => "reptile",
            Algorithm::MetaSgd => "meta_sgd",
            Algorithm::MamlPp => "maml_pp",
            Algorithm::Anil => "anil",
            Algorithm::Proximal => "proximal",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    HeadOnly,
    HeadAndLastTrunk(usize),
    BiasesOnly,
    Everything,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateKind {
    Scalar,
    PerLayerPerStep,
    PerParameter,
}

/// Everything that defines the meta-objective (not the outer optimiser).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaSpec {
    pub algorithm: Algorithm,
    pub scope: Scope,
    /// Inner steps during meta-training (= the device's step count for learned rates).
    pub steps: usize,
    /// Scalar rate, and the initial value of learned rates.
    pub alpha: f64,
    /// Upper bound of learned rates.
    pub alpha_max: f64,
    pub clip: f64,
    /// Weight of the query loss after each step `1..=steps` (index 0 = after step 1).
    pub step_weights: Vec<f64>,
    /// Drop the Hessian terms even for second-order algorithms.
    pub first_order: bool,
}

/// Step weights that count the query loss after the last of `steps` inner steps only (the
/// default: the model is judged as the device will run it).
pub fn last_step_weights(steps: usize) -> Vec<f64> {
    (1..=steps)
        .map(|s| if s == steps { 1.0 } else { 0.0 })
        .collect()
}

impl MetaSpec {
    pub fn effective_scope(&self) -> Scope {
        if self.algorithm.head_only() {
            Scope::HeadOnly
        } else {
            self.scope
        }
    }
    pub fn second_order(&self) -> bool {
        !self.first_order && !matches!(self.algorithm, Algorithm::Fomaml | Algorithm::Reptile)
    }
}

/// The adapted layers in chain order, with whether their weight matrix adapts (the bias always does).
pub fn adapted_layers(arch: &Arch, scope: Scope) -> Vec<(usize, bool)> {
    let nl = arch.layers.len();
    match scope {
        Scope::HeadOnly => (arch.n_trunk..nl).map(|l| (l, true)).collect(),
        Scope::HeadAndLastTrunk(k) => (arch.n_trunk.saturating_sub(k)..nl)
            .map(|l| (l, true))
            .collect(),
        Scope::BiasesOnly => (0..nl).map(|l| (l, false)).collect(),
        Scope::Everything => (0..nl).map(|l| (l, true)).collect(),
    }
}

/// Ranges of the flat parameter vector that adapt, in the runtime's Meta-SGD layout order.
pub fn adapted_ranges(arch: &Arch, scope: Scope) -> Vec<Range<usize>> {
    let mut r = Vec::new();
    for (l, w) in adapted_layers(arch, scope) {
        if w {
            r.push(arch.w_off(l)..arch.b_off(l));
        }
        r.push(arch.b_off(l)..arch.end_off(l));
    }
    r
}

pub fn n_adapted(arch: &Arch, scope: Scope) -> usize {
    adapted_ranges(arch, scope).iter().map(|r| r.len()).sum()
}

/// A task converted to the compute type and normalised.
#[derive(Clone, Debug)]
pub struct TaskData<T> {
    pub k: usize,
    pub q: usize,
    pub sx: Vec<T>,
    pub sy: Vec<T>,
    pub qx: Vec<T>,
    pub qy: Vec<T>,
    /// Class labels (classification tasks; then `sy` / `qy` are empty).
    pub sl: Vec<usize>,
    pub ql: Vec<usize>,
}

impl<T: Real> TaskData<T> {
    pub fn new(arch: &Arch, t: &Task) -> Self {
        let mut d = TaskData {
            k: 0,
            q: 0,
            sx: Vec::new(),
            sy: Vec::new(),
            qx: Vec::new(),
            qy: Vec::new(),
            sl: Vec::new(),
            ql: Vec::new(),
        };
        d.set(arch, t);
        d
    }
    /// Becomes the (regression) task `t`, in its own buffers.
    pub fn set(&mut self, arch: &Arch, t: &Task) {
        let to_t = |v: &[f64], out: &mut Vec<T>| {
            out.clear();
            out.extend(v.iter().map(|&v| T::from_f64(v)));
        };
        (self.k, self.q) = (t.k(), t.q());
        arch.normalise_into(&t.support_x, &mut self.sx);
        to_t(&t.support_y, &mut self.sy);
        arch.normalise_into(&t.query_x, &mut self.qx);
        to_t(&t.query_y, &mut self.qy);
        self.sl.clear();
        self.ql.clear();
    }
    /// A classification episode: normalised inputs and class labels (`k` support, `q` query rows).
    pub fn classes(arch: &Arch, sx: &[f64], sl: Vec<usize>, qx: &[f64], ql: Vec<usize>) -> Self {
        TaskData {
            k: sl.len(),
            q: ql.len(),
            sx: arch.normalise(sx),
            sy: Vec::new(),
            qx: arch.normalise(qx),
            qy: Vec::new(),
            sl,
            ql,
        }
    }
    pub fn is_classification(&self) -> bool {
        !self.sl.is_empty()
    }
    /// Support targets as the network's loss takes them.
    pub fn st(&self) -> Targets<'_, T> {
        if self.is_classification() {
            Targets::Cls(&self.sl)
        } else {
            Targets::Reg(&self.sy)
        }
    }
    /// Query targets.
    pub fn qt(&self) -> Targets<'_, T> {
        if self.is_classification() {
            Targets::Cls(&self.ql)
        } else {
            Targets::Reg(&self.qy)
        }
    }
}
