//! Regression heads: real-valued outputs, adapted under mean squared error. With an output
//! normalisation (format v2) the head computes in standardised units and returns raw ones.

use core::fmt;

use super::{Features, HeadOp, HeadScratch, LossInput};
use crate::adapt::bound::ok;
use crate::adapt::Targets;
use crate::format::{invalid, HeadSpec, Header, Model};
use crate::infer::Network;
use crate::math::{derivative, max};
use crate::Error;

/// A regression head of `outputs` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regression {
    /// Output width.
    pub outputs: u16,
}

/// Support target `i` (flat, sample-major) in the head's standardised units: `(t - shift) /
/// scale` under an output normalisation `(shift, scale)`, else `t`.
#[inline]
pub(crate) fn standardised_target(norm: Option<(&[f32], &[f32])>, i: usize, t: f32) -> f32 {
    match norm {
        Some((shift, scale)) => {
            let j = i % shift.len().max(1);
            match (shift.get(j), scale.get(j)) {
                (Some(m), Some(s)) => (t - m) / s,
                _ => f32::NAN,
            }
        }
        None => t,
    }
}

impl HeadOp for Regression {
    fn outputs(&self) -> usize {
        usize::from(self.outputs)
    }
    fn normalised_outputs(&self) -> Option<usize> {
        Some(self.outputs())
    }
    fn validate(&self, _: &Header<'_>, _: &HeadSpec<'_>, outputs: u16) -> Result<(), Error> {
        if self.outputs == outputs {
            Ok(())
        } else {
            Err(invalid("head.kind"))
        }
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
        if let Some((shift, scale)) = net.model().output_normalisation(h) {
            for ((y, m), s) in dst.iter_mut().zip(shift).zip(scale) {
                *y = *y * s + m;
            }
        }
        Ok(())
    }
    fn support_len(
        &self,
        model: &Model<'_>,
        head: usize,
        targets: Targets<'_>,
    ) -> Result<usize, Error> {
        let Targets::Values(values) = targets else {
            return Err(Error::TargetKindMismatch);
        };
        let m = self.outputs();
        if values.len() % m != 0 {
            return Err(Error::LengthMismatch {
                what: "support values",
                expected: (values.len() / m + 1) * m,
                found: values.len(),
            });
        }
        let norm = model.output_normalisation(head);
        for (i, v) in values.iter().enumerate() {
            if !standardised_target(norm, i, *v).is_finite() {
                return Err(Error::NonFinite {
                    what: "support target",
                    sample: i / m,
                });
            }
        }
        Ok(values.len() / m)
    }
    #[inline]
    fn loss(&self, input: LossInput<'_>) -> Result<f32, Error> {
        let LossInput {
            out,
            targets,
            activation,
            norm,
            k,
            delta,
        } = input;
        let Targets::Values(values) = targets else {
            return Err(Error::TargetKindMismatch);
        };
        let scale = 1.0 / (k as f32 * self.outputs() as f32);
        let mut loss = 0.0f32;
        for (i, (y, t)) in out.iter_mut().zip(values).enumerate() {
            let e = *y - standardised_target(norm, i, *t);
            loss += e * e;
            if delta {
                *y = 2.0 * e * scale * derivative(activation, *y);
            }
        }
        Ok(loss * scale)
    }
    fn delta_bound(
        &self,
        a: f32,
        k: f32,
        targets: Targets<'_>,
        norm: Option<(&[f32], &[f32])>,
    ) -> Result<f32, Error> {
        let Targets::Values(values) = targets else {
            return Err(Error::TargetKindMismatch);
        };
        let t = values
            .iter()
            .enumerate()
            .map(|(i, v)| standardised_target(norm, i, *v))
            .fold(0.0f32, |m, v| {
                if v.is_finite() {
                    max(m, v.abs())
                } else {
                    f32::INFINITY
                }
            });
        let e = ok(a + t)?;
        ok(k * f32::from(self.outputs) * e * e)?;
        ok(2.0 * e)
    }
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "regression, {} output(s), MSE", self.outputs)
    }
}
