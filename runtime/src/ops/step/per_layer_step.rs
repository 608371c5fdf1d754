//! MAML++ step sizes: a table `[steps][adapted layer][2]` (0: weights, 1: bias); step `s` uses
//! row `min(s, steps - 1)`.

use core::fmt;

use super::{Slot, StepOp};
use crate::format::layout::AdaptedRange;
use crate::format::{invalid, AdaptSpec, HeadSpec};
use crate::math::Rate;
use crate::Error;

/// The per-layer, per-step table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerLayerPerStep {
    /// Rows in the table (at least 1).
    pub steps: u16,
    /// Offset of the table in the weights section, in f32.
    pub offset: u32,
}

impl StepOp for PerLayerPerStep {
    fn rate_len(&self, range: &AdaptedRange, _: usize) -> usize {
        usize::from(self.steps) * range.layers() * 2
    }
    fn tensor_offset(&self) -> Option<u32> {
        Some(self.offset)
    }
    fn validate(&self, _: &HeadSpec<'_>, _: &AdaptSpec) -> Result<(), Error> {
        if self.steps == 0 {
            return Err(invalid("adapt.rate.steps"));
        }
        Ok(())
    }
    #[inline]
    fn layer_rates<'a>(
        &self,
        table: &'a [f32],
        layers: usize,
        slot: Slot,
        step: u16,
    ) -> (Rate<'a>, Rate<'a>) {
        let row = usize::from(step.min(self.steps.saturating_sub(1)));
        let at = (row * layers + slot.position) * 2;
        let w = table.get(at).copied().unwrap_or(0.0);
        let b = table.get(at + 1).copied().unwrap_or(0.0);
        (Rate::Same(w), Rate::Same(b))
    }
    fn same_every_step(&self) -> bool {
        false
    }
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "per layer per step ({} rows)", self.steps)
    }
}
