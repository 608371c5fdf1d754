//! One step size for every parameter and step (MAML, first-order MAML, Reptile, ANIL).

use core::fmt;

use super::{Slot, StepOp};
use crate::format::layout::AdaptedRange;
use crate::format::{invalid, AdaptSpec, HeadSpec};
use crate::math::Rate;
use crate::Error;

/// The scalar step size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scalar {
    /// Step size (finite, non-negative).
    pub rate: f32,
}

impl StepOp for Scalar {
    fn rate_len(&self, _: &AdaptedRange, _: usize) -> usize {
        0
    }
    fn validate(&self, _: &HeadSpec<'_>, _: &AdaptSpec) -> Result<(), Error> {
        if self.rate.is_finite() && self.rate >= 0.0 {
            Ok(())
        } else {
            Err(invalid("adapt.rate"))
        }
    }
    #[inline]
    fn layer_rates<'a>(&self, _: &'a [f32], _: usize, _: Slot, _: u16) -> (Rate<'a>, Rate<'a>) {
        (Rate::Same(self.rate), Rate::Same(self.rate))
    }
    fn same_every_step(&self) -> bool {
        true
    }
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scalar {}", self.rate)
    }
}
