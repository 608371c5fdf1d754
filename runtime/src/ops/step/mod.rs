//! Step rules: the one place that dispatches how the inner loop sizes its steps.
//!
//! A step rule is a file here implementing `StepOp` (its learning-rate tensor, validation,
//! the step sizes of each adapted layer, the scratch of its own solver, and, for a rule that
//! is not a gradient step, its whole run), a variant of [`LearningRate`] in the format and one
//! arm of the dispatch below. The implicit (proximal) step is behind the cargo feature
//! `implicit-step`: without it the arm answers [`Error::FeatureDisabled`] (such a model is
//! refused at load before it gets here).
//!
//! ```
//! use fewshot_runtime::LearningRate;
//! assert_eq!(LearningRate::Scalar(0.1).to_string(), "scalar 0.1");
//! ```

pub mod per_layer_step;
pub mod per_parameter;
#[cfg(feature = "implicit-step")]
pub mod proximal;
pub mod scalar;

use core::fmt;

use crate::adapt::inner::InnerLoop;
use crate::adapt::AdaptReport;
use crate::format::layout::AdaptedRange;
use crate::format::{AdaptSpec, Capabilities, HeadSpec, LearningRate};
use crate::math::Rate;
use crate::Error;
use per_layer_step::PerLayerPerStep;
use per_parameter::PerParameter;
#[cfg(feature = "implicit-step")]
use proximal::Proximal;
use scalar::Scalar;

/// Where one adapted layer sits: its position among the adapted layers, and its tensors'
/// offsets and sizes in the state.
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub position: usize,
    pub w_at: Option<usize>,
    pub b_at: usize,
    pub nw: usize,
    pub nb: usize,
}

/// The buffers and log of a run (see `StepOp::run`).
#[cfg_attr(not(feature = "implicit-step"), allow(dead_code))]
pub(crate) struct Run<'r> {
    /// The adapted parameters (the state).
    pub params: &'r mut [f32],
    /// The activations, the first region filled with the first adapted layer's inputs.
    pub acts: &'r mut [f32],
    /// The rule's own scratch (`StepOp::solve_len` floats).
    pub solve: &'r mut [f32],
    /// Steps to run.
    pub steps: u16,
    /// The support loss before each step and after the last.
    pub losses: &'r mut [f32],
    /// Whether the caller asked for the guard (keep the best step's parameters).
    pub guard: bool,
}

/// What every step rule declares and does.
pub(crate) trait StepOp {
    /// Length in f32 of its learning-rate tensor (0 for none).
    fn rate_len(&self, range: &AdaptedRange, adapted_params: usize) -> usize;
    /// Offset of its learning-rate tensor in the weights section, if it has one.
    fn tensor_offset(&self) -> Option<u32> {
        None
    }
    /// The capability a model with this step rule needs (format v3).
    fn capability(&self) -> Capabilities {
        Capabilities::NONE
    }
    /// Checks the rule against the head it adapts.
    fn validate(&self, head: &HeadSpec<'_>, spec: &AdaptSpec) -> Result<(), Error>;
    /// Step sizes `(weights, bias)` of the adapted layer at `slot` at step `step`, from its
    /// tensor `table`, for `layers` adapted layers.
    fn layer_rates<'a>(
        &self,
        table: &'a [f32],
        layers: usize,
        slot: Slot,
        step: u16,
    ) -> (Rate<'a>, Rate<'a>);
    /// True when every step uses the same step sizes.
    fn same_every_step(&self) -> bool;
    /// Floats of scratch its own solver needs for `k` samples of a last layer `outputs` wide.
    fn solve_len(&self, _k: usize, _outputs: usize) -> Option<usize> {
        Some(0)
    }
    /// Runs the whole adaptation itself, when it is not a gradient step; `None` for the
    /// inner loop's gradient steps.
    fn run(&self, _lp: &InnerLoop<'_>, _run: Run<'_>) -> Option<Result<AdaptReport, Error>> {
        None
    }
    /// What it is, for people (`trainer inspect`).
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// The dispatch: binds `$op` to the step rule's op and evaluates `$body`; `$disabled` is the
/// answer of a rule this build leaves out.
macro_rules! dispatch {
    ($rate:expr, $op:ident => $body:expr, disabled => $disabled:expr) => {
        match $rate {
            LearningRate::Scalar(rate) => {
                let $op = Scalar { rate };
                $body
            }
            LearningRate::PerLayerPerStep { steps, offset } => {
                let $op = PerLayerPerStep { steps, offset };
                $body
            }
            LearningRate::PerParameter { offset } => {
                let $op = PerParameter { offset };
                $body
            }
            #[cfg(feature = "implicit-step")]
            LearningRate::Proximal { offset } => {
                let $op = Proximal { offset };
                $body
            }
            #[cfg(not(feature = "implicit-step"))]
            LearningRate::Proximal { .. } => $disabled,
        }
    };
}

/// The error of a step rule this build leaves out.
#[cfg(not(feature = "implicit-step"))]
const IMPLICIT_DISABLED: Error = Error::FeatureDisabled {
    feature: "implicit-step",
};

impl LearningRate {
    /// Length in f32 of the learning-rate tensor (0 for a scalar rate).
    pub fn rate_len(&self, range: &AdaptedRange, adapted_params: usize) -> usize {
        dispatch!(*self, op => op.rate_len(range, adapted_params), disabled => 0)
    }
    /// The capability a model with this step rule needs (format v3), also in a build that
    /// leaves the rule out.
    pub fn capability(&self) -> Capabilities {
        dispatch!(*self, op => op.capability(), disabled => Capabilities::IMPLICIT_STEP)
    }
    /// Offset of the learning-rate tensor in the weights section, if it has one.
    pub fn tensor_offset(&self) -> Option<u32> {
        dispatch!(*self, op => op.tensor_offset(), disabled => None)
    }
    pub(crate) fn validate(&self, head: &HeadSpec<'_>, spec: &AdaptSpec) -> Result<(), Error> {
        dispatch!(*self, op => op.validate(head, spec), disabled => Err(IMPLICIT_DISABLED))
    }
    #[inline]
    pub(crate) fn layer_rates<'a>(
        &self,
        table: &'a [f32],
        layers: usize,
        slot: Slot,
        step: u16,
    ) -> (Rate<'a>, Rate<'a>) {
        dispatch!(
            *self,
            op => op.layer_rates(table, layers, slot, step),
            disabled => (Rate::Same(0.0), Rate::Same(0.0))
        )
    }
    #[inline]
    pub(crate) fn same_every_step(&self) -> bool {
        dispatch!(*self, op => op.same_every_step(), disabled => true)
    }
    #[inline]
    pub(crate) fn solve_len(&self, k: usize, outputs: usize) -> Option<usize> {
        dispatch!(*self, op => op.solve_len(k, outputs), disabled => Some(0))
    }
    #[inline]
    pub(crate) fn run(
        &self,
        lp: &InnerLoop<'_>,
        run: Run<'_>,
    ) -> Option<Result<AdaptReport, Error>> {
        dispatch!(*self, op => op.run(lp, run), disabled => Some(Err(IMPLICIT_DISABLED)))
    }
}

impl fmt::Display for LearningRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(*self, op => op.describe(f), disabled => f.write_str("implicit (disabled)"))
    }
}
