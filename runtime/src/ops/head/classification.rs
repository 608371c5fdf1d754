//! Classification heads: a softmax over classes, adapted under cross-entropy.

use core::fmt;

use super::{Features, HeadOp, HeadScratch, LossInput};
use crate::adapt::bound::ok;
use crate::adapt::Targets;
use crate::format::{invalid, HeadSpec, Header, Model};
use crate::infer::Network;
use crate::math::{cross_entropy_in_place, softmax};
use crate::{Activation, Error};

/// A classification head of `classes` classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// Number of classes.
    pub classes: u16,
}

/// The last layer of a softmax head is linear (its logits).
pub(crate) fn check_logits(head: &HeadSpec<'_>) -> Result<(), Error> {
    match head.layers.last() {
        Some(l) if l.activation == Activation::Identity => Ok(()),
        _ => Err(invalid("head.layers.activation")),
    }
}

/// Checks class labels against `classes`; returns the number of samples.
pub(crate) fn label_count(targets: Targets<'_>, classes: u16) -> Result<usize, Error> {
    let Targets::Classes(labels) = targets else {
        return Err(Error::TargetKindMismatch);
    };
    for (sample, &label) in labels.iter().enumerate() {
        if label >= classes {
            return Err(Error::LabelOutOfRange {
                sample,
                label,
                classes,
            });
        }
    }
    Ok(labels.len())
}

/// The mean cross-entropy of the softmax of each row of `out` (`m` logits) against its label;
/// with `delta`, the rows are replaced by its gradient `(p - onehot) / k`.
pub(crate) fn cross_entropy_loss(input: LossInput<'_>, m: usize) -> Result<f32, Error> {
    let Targets::Classes(labels) = input.targets else {
        return Err(Error::TargetKindMismatch);
    };
    let k = input.k as f32;
    let mut loss = 0.0f32;
    for (row, &label) in input.out.chunks_exact_mut(m.max(1)).zip(labels) {
        loss += cross_entropy_in_place(row, usize::from(label));
        if input.delta {
            for (c, p) in row.iter_mut().enumerate() {
                let target = if c == usize::from(label) { 1.0 } else { 0.0 };
                *p = (*p - target) / k;
            }
        }
    }
    Ok(loss / k)
}

/// The delta bound of a softmax loss: the gradient `p - onehot` is at most 1 in magnitude;
/// the loss, at most `2 a + log(classes)`, is checked with room for 2^32 classes.
pub(crate) fn softmax_delta_bound(a: f32) -> Result<f32, Error> {
    ok(2.0 * a + 32.0)?;
    Ok(1.0)
}

impl HeadOp for Classification {
    fn outputs(&self) -> usize {
        usize::from(self.classes)
    }
    fn classes(&self) -> Option<u16> {
        Some(self.classes)
    }
    fn validate(&self, _: &Header<'_>, head: &HeadSpec<'_>, outputs: u16) -> Result<(), Error> {
        if self.classes != outputs || self.classes < 2 {
            return Err(invalid("head.kind"));
        }
        check_logits(head)
    }
    #[inline]
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
        'm: 's,
    {
        net.head_layers(h, head, features.plain, scratch.c, scratch.d, dst, false)?;
        softmax(dst);
        Ok(())
    }
    fn support_len(&self, _: &Model<'_>, _: usize, targets: Targets<'_>) -> Result<usize, Error> {
        label_count(targets, self.classes)
    }
    #[inline]
    fn loss(&self, input: LossInput<'_>) -> Result<f32, Error> {
        cross_entropy_loss(input, self.outputs())
    }
    fn delta_bound(
        &self,
        a: f32,
        _: f32,
        _: Targets<'_>,
        _: Option<(&[f32], &[f32])>,
    ) -> Result<f32, Error> {
        softmax_delta_bound(a)
    }
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "classification, {} classes, softmax CE", self.classes)
    }
}
