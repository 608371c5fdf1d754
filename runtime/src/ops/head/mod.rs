//! Head kinds: the one place that dispatches what a head predicts and which loss adapts it.
//!
//! A head kind is a file here implementing `HeadOp` (its geometry, validation, its own
//! tensor, inference scratch and output, the support targets it takes, its loss and the loss's
//! overflow bound), a variant of [`HeadKind`] in the format and one arm of the dispatch below.
//! Matching heads are behind the cargo feature `matching-head`: without it the arm answers
//! [`Error::FeatureDisabled`] (such a model is refused at load before it gets here).
//!
//! ```
//! use fewshot_runtime::HeadKind;
//! let kind = HeadKind::Classification { classes: 5 };
//! assert_eq!((kind.outputs(), kind.units(), kind.classes()), (5, 5, Some(5)));
//! assert_eq!(kind.to_string(), "classification, 5 classes, softmax CE");
//! ```

pub mod classification;
#[cfg(feature = "matching-head")]
pub mod matching;
pub mod regression;

use core::fmt;

use crate::adapt::Targets;
use crate::format::{Capabilities, HeadKind, HeadSpec, Header, Model};
use crate::infer::Network;
use crate::{Activation, Error};
use classification::Classification;
#[cfg(feature = "matching-head")]
use matching::Matching;
use regression::Regression;

/// The buffers a head works in at inference: `c` and `d` (the widest hidden head layer each)
/// and what `HeadOp::infer_scratch` asked for.
pub(crate) struct HeadScratch<'b> {
    /// A hidden layer's output.
    pub c: &'b mut [f32],
    /// The next hidden layer's output.
    pub d: &'b mut [f32],
    /// The head kind's own scratch.
    #[cfg_attr(not(feature = "matching-head"), allow(dead_code))]
    pub extra: &'b mut [f32],
}

/// What a head reads at inference: the trunk's features of the input, and of each input view
/// (a head is a function of these alone; it never runs the trunk).
pub(crate) struct Features<'f> {
    /// The features of the input as given.
    pub plain: &'f [f32],
    /// The features of each input view, one after the other; empty when the model has none or
    /// no selected head reads them.
    #[cfg_attr(not(feature = "matching-head"), allow(dead_code))]
    pub views: &'f [f32],
}

/// The last layer's outputs of every support sample and what the loss needs to know.
pub(crate) struct LossInput<'a> {
    /// `k` rows of the last layer's width: replaced by the loss's gradient with respect to the
    /// pre-activations when `delta` is set.
    pub out: &'a mut [f32],
    /// The support targets.
    pub targets: Targets<'a>,
    /// The last layer's activation.
    pub activation: Activation,
    /// The output normalisation of the head, if any.
    pub norm: Option<(&'a [f32], &'a [f32])>,
    /// Samples.
    pub k: usize,
    /// Whether to write the gradient.
    pub delta: bool,
}

/// What every head kind declares and does.
pub(crate) trait HeadOp {
    /// Output width (values or classes).
    fn outputs(&self) -> usize;
    /// Number of classes, for the classification kinds.
    fn classes(&self) -> Option<u16> {
        None
    }
    /// Units of the last layer per output.
    fn per_class(&self) -> usize {
        1
    }
    /// Width of the last layer.
    fn units(&self) -> usize {
        self.outputs()
    }
    /// The capability a model with this head kind needs (format v3).
    fn capability(&self) -> Capabilities {
        Capabilities::NONE
    }
    /// Outputs an output normalisation (format v2) may scale, if the kind takes one.
    fn normalised_outputs(&self) -> Option<usize> {
        None
    }
    /// True when it reads the input views' features (the model's views are then computed).
    fn reads_views(&self) -> bool {
        false
    }
    /// Checks the kind against its head, whose last layer is `outputs` wide.
    fn validate(&self, header: &Header<'_>, head: &HeadSpec<'_>, outputs: u16)
        -> Result<(), Error>;
    /// The head kind's own tensor in the weights section: `(offset, length in f32)`.
    fn tensor(&self) -> Option<(u32, usize)> {
        None
    }
    /// Floats of inference scratch it needs beyond the hidden head layers' two buffers.
    fn infer_scratch(&self, _model: &Model<'_>) -> usize {
        0
    }
    /// Its outputs for one sample, from its features, into `dst` (its [`HeadOp::outputs`] wide).
    fn infer<'m, 's>(
        &self,
        net: &Network<'m, 's>,
        h: usize,
        head: &HeadSpec<'_>,
        features: &Features<'_>,
        scratch: HeadScratch<'_>,
        dst: &mut [f32],
    ) -> Result<(), Error>
    where
        'm: 's;
    /// Checks the support targets against the head; returns the number of samples.
    fn support_len(
        &self,
        model: &Model<'_>,
        head: usize,
        targets: Targets<'_>,
    ) -> Result<usize, Error>;
    /// The support loss (and, with `delta`, its gradient in place of the outputs).
    fn loss(&self, input: LossInput<'_>) -> Result<f32, Error>;
    /// The bound of the last layer's delta when every output is at most `a` in magnitude;
    /// also checks that the loss itself stays below the overflow limit.
    fn delta_bound(
        &self,
        a: f32,
        k: f32,
        targets: Targets<'_>,
        norm: Option<(&[f32], &[f32])>,
    ) -> Result<f32, Error>;
    /// What it is, for people (`trainer inspect`).
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// The dispatch: binds `$op` to the head kind's op and evaluates `$body`; `$disabled` is the
/// answer of a kind this build leaves out.
macro_rules! dispatch {
    ($kind:expr, $op:ident => $body:expr, disabled => $disabled:expr) => {
        match $kind {
            HeadKind::Regression { outputs } => {
                let $op = Regression { outputs };
                $body
            }
            HeadKind::Classification { classes } => {
                let $op = Classification { classes };
                $body
            }
            #[cfg(feature = "matching-head")]
            HeadKind::Matching {
                classes,
                per_class,
                warps,
            } => {
                let $op = Matching {
                    classes,
                    per_class,
                    legacy_warps: warps,
                };
                $body
            }
            #[cfg(not(feature = "matching-head"))]
            HeadKind::Matching { .. } => $disabled,
        }
    };
}

/// The error of a head kind this build leaves out.
#[cfg(not(feature = "matching-head"))]
const MATCHING_DISABLED: Error = Error::FeatureDisabled {
    feature: "matching-head",
};

impl HeadKind {
    /// Output width (values or classes).
    #[inline]
    pub fn outputs(&self) -> usize {
        dispatch!(*self, op => op.outputs(), disabled => 0)
    }
    /// Number of classes, for the classification kinds.
    #[inline]
    pub fn classes(&self) -> Option<u16> {
        dispatch!(*self, op => op.classes(), disabled => None)
    }
    /// Prototype units per class: a matching head's `per_class` (at least 1), else 1.
    #[inline]
    pub fn per_class(&self) -> usize {
        dispatch!(*self, op => op.per_class(), disabled => 1)
    }
    /// Width of the last layer: the outputs, or every prototype unit of a matching head.
    #[inline]
    pub fn units(&self) -> usize {
        dispatch!(*self, op => op.units(), disabled => 0)
    }
    /// The capability a model with this head kind needs (format v3), also in a build that
    /// leaves the kind out.
    pub fn capability(&self) -> Capabilities {
        dispatch!(*self, op => op.capability(), disabled => Capabilities::MATCHING_HEAD)
    }
    /// Outputs an output normalisation may scale (regression heads), else `None`.
    pub fn normalised_outputs(&self) -> Option<usize> {
        dispatch!(*self, op => op.normalised_outputs(), disabled => None)
    }
    /// True when it reads the input views' features (a matching head).
    pub fn reads_views(&self) -> bool {
        dispatch!(*self, op => op.reads_views(), disabled => false)
    }
    /// The head kind's own tensor in the weights section, `(offset, length in f32)`, if any
    /// (a format v1 to v4 matching head's warps).
    pub fn tensor(&self) -> Option<(u32, usize)> {
        dispatch!(*self, op => op.tensor(), disabled => None)
    }
    pub(crate) fn validate(
        &self,
        header: &Header<'_>,
        head: &HeadSpec<'_>,
        outputs: u16,
    ) -> Result<(), Error> {
        dispatch!(*self, op => op.validate(header, head, outputs), disabled => Err(MATCHING_DISABLED))
    }
    pub(crate) fn infer_scratch(&self, model: &Model<'_>) -> usize {
        dispatch!(*self, op => op.infer_scratch(model), disabled => 0)
    }
    #[inline]
    pub(crate) fn infer<'m, 's>(
        &self,
        net: &Network<'m, 's>,
        h: usize,
        head: &HeadSpec<'_>,
        features: &Features<'_>,
        scratch: HeadScratch<'_>,
        dst: &mut [f32],
    ) -> Result<(), Error>
    where
        'm: 's,
    {
        dispatch!(
            *self,
            op => op.infer(net, h, head, features, scratch, dst),
            disabled => Err(MATCHING_DISABLED)
        )
    }
    #[inline]
    pub(crate) fn support_len(
        &self,
        model: &Model<'_>,
        head: usize,
        targets: Targets<'_>,
    ) -> Result<usize, Error> {
        dispatch!(*self, op => op.support_len(model, head, targets), disabled => Err(MATCHING_DISABLED))
    }
    #[inline]
    pub(crate) fn loss(&self, input: LossInput<'_>) -> Result<f32, Error> {
        dispatch!(*self, op => op.loss(input), disabled => Err(MATCHING_DISABLED))
    }
    #[inline]
    pub(crate) fn delta_bound(
        &self,
        a: f32,
        k: f32,
        targets: Targets<'_>,
        norm: Option<(&[f32], &[f32])>,
    ) -> Result<f32, Error> {
        dispatch!(*self, op => op.delta_bound(a, k, targets, norm), disabled => Err(MATCHING_DISABLED))
    }
}

impl fmt::Display for HeadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(*self, op => op.describe(f), disabled => f.write_str("matching (disabled)"))
    }
}
