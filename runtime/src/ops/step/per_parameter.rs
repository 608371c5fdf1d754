//! Meta-SGD step sizes: one per adapted parameter, laid out as the adapted parameters are
//! (each adapted layer in chain order: `W` row-major, then `b`; biases only for
//! [`AdaptScope::BiasesOnly`](crate::AdaptScope::BiasesOnly)).

use core::fmt;

use super::{Slot, StepOp};
use crate::format::layout::AdaptedRange;
use crate::format::{AdaptSpec, HeadSpec};
use crate::math::Rate;
use crate::Error;

/// The per-parameter step sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerParameter {
    /// Offset of the step sizes in the weights section, in f32.
    pub offset: u32,
}

/// The step sizes of the layer at `slot` in a per-parameter table (shared with the implicit
/// step, which lays its step sizes out alike).
#[inline]
pub(crate) fn slot_rates(table: &[f32], slot: Slot) -> (Rate<'_>, Rate<'_>) {
    let w = slot
        .w_at
        .and_then(|at| table.get(at..at + slot.nw))
        .map_or(Rate::Same(0.0), Rate::Each);
    let b = table
        .get(slot.b_at..slot.b_at + slot.nb)
        .map_or(Rate::Same(0.0), Rate::Each);
    (w, b)
}

impl StepOp for PerParameter {
    fn rate_len(&self, _: &AdaptedRange, adapted_params: usize) -> usize {
        adapted_params
    }
    fn tensor_offset(&self) -> Option<u32> {
        Some(self.offset)
    }
    fn validate(&self, _: &HeadSpec<'_>, _: &AdaptSpec) -> Result<(), Error> {
        Ok(())
    }
    #[inline]
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
        true
    }
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("per parameter (Meta-SGD)")
    }
}
