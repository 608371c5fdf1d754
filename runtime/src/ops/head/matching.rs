//! Matching heads ([`HeadKind::Matching`](crate::HeadKind::Matching), cargo feature
//! `matching-head`): each class is a mixture of prototype units pooled by log-sum-exp; with the
//! model's input views ([`crate::ops::views`]), each unit keeps its best score over the views.
//!
//! ```
//! use fewshot_runtime::ops::head::matching::pool_classes;
//!
//! // Two classes of two prototypes: each class is the log-sum-exp of its units (micromath's
//! // exp and ln are approximations, to about 1e-3).
//! let mut scores = [0.0f32; 2];
//! pool_classes(&[0.0, 0.0, 1.0, -40.0], 2, &mut scores);
//! assert!((scores[0] - 2.0f32.ln()).abs() < 1e-3 && (scores[1] - 1.0).abs() < 1e-3);
//! ```

use core::fmt;

use super::classification::{check_logits, cross_entropy_loss, label_count, softmax_delta_bound};
use super::{Features, HeadOp, HeadScratch, LossInput};
use crate::adapt::Targets;
use crate::format::{invalid, Capabilities, HeadSpec, Header, Model, WarpSet};
use crate::infer::{split, Network};
use crate::math::{exp, ln, log_sum_exp, max_and_sum_exp, softmax};
use crate::Error;

/// A matching head: `classes` classes of `per_class` prototype units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matching {
    /// Number of classes.
    pub classes: u16,
    /// Prototypes per class.
    pub per_class: u16,
    /// Format v1 to v4: the input warps declared by the head (read as the model's views; their
    /// table is this head's tensor).
    pub legacy_warps: Option<WarpSet>,
}

/// Class scores from prototype units: `scores[c] = log sum_i exp(units[c * per_class + i])`.
pub fn pool_classes(units: &[f32], per_class: usize, scores: &mut [f32]) {
    for (s, group) in scores.iter_mut().zip(units.chunks(per_class.max(1))) {
        *s = log_sum_exp(group);
    }
}

/// Cross-entropy of the class scores `log sum_{j in c} exp(u_j)` of one row of prototype units
/// (`per_class` per class), with `delta`, replaced by its gradient divided by `k`: with `r` the
/// softmax over every unit and `q` the one within the label's class, `r_j - [j in label] q_j`.
fn pooled_cross_entropy(
    row: &mut [f32],
    per_class: usize,
    label: usize,
    delta: bool,
    k: f32,
) -> f32 {
    let group = label * per_class..(label + 1) * per_class;
    let (ml, sl) = max_and_sum_exp(row.get(group.clone()).unwrap_or(&[]));
    let (m, s) = max_and_sum_exp(row);
    if delta {
        let (inv, inv_l) = (1.0 / s, 1.0 / sl);
        for (j, u) in row.iter_mut().enumerate() {
            let r = exp(*u - m) * inv;
            let q = if group.contains(&j) {
                exp(*u - ml) * inv_l
            } else {
                0.0
            };
            *u = (r - q) / k;
        }
    }
    (m + ln(s)) - (ml + ln(sl))
}

impl Matching {
    /// Each unit's best score over the views' features `views` into `best`, with `z` as
    /// scratch: `max_v (z_j(h_v) - s |h_v|^2)`.
    #[allow(clippy::too_many_arguments)]
    fn best_over_views<'m, 's>(
        &self,
        net: &Network<'m, 's>,
        h: usize,
        head: &HeadSpec<'_>,
        views: &[f32],
        (c, d): (&mut [f32], &mut [f32]),
        (z, best): (&mut [f32], &mut [f32]),
    ) -> Result<(), Error>
    where
        'm: 's,
    {
        let bug = Error::internal("ops::head::matching");
        let s = head.adapt.and_then(|a| a.prototype_scale).ok_or(bug)?;
        let f = net.model().feature_len();
        best.iter_mut().for_each(|v| *v = f32::NEG_INFINITY);
        for features in views.chunks_exact(f) {
            let norm = net.head_layers(h, head, features, c, d, z, true)?;
            for (m, &v) in best.iter_mut().zip(z.iter()) {
                *m = crate::math::max(*m, v - s * norm);
            }
        }
        Ok(())
    }
}

impl HeadOp for Matching {
    fn outputs(&self) -> usize {
        usize::from(self.classes)
    }
    fn classes(&self) -> Option<u16> {
        Some(self.classes)
    }
    fn capability(&self) -> Capabilities {
        Capabilities::MATCHING_HEAD
    }
    fn per_class(&self) -> usize {
        usize::from(self.per_class).max(1)
    }
    fn units(&self) -> usize {
        usize::from(self.classes) * usize::from(self.per_class)
    }
    fn validate(&self, _: &Header<'_>, head: &HeadSpec<'_>, outputs: u16) -> Result<(), Error> {
        let units = u32::from(self.classes) * u32::from(self.per_class);
        if self.classes < 2 || self.per_class < 1 || units != u32::from(outputs) {
            return Err(invalid("head.kind"));
        }
        check_logits(head)
    }
    fn reads_views(&self) -> bool {
        true
    }
    fn tensor(&self) -> Option<(u32, usize)> {
        self.legacy_warps
            .map(|set| (set.offset, usize::from(set.count) * 6))
    }
    /// Two buffers of prototype units.
    fn infer_scratch(&self, _: &Model<'_>) -> usize {
        2 * self.units()
    }
    // Out of line: the dispatch then stays small enough to inline into `Network::infer` for
    // the other kinds (a matching query is long; one call is nothing to it).
    #[inline(never)]
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
        let units = self.units();
        let HeadScratch { c, d, extra } = scratch;
        let (z, rest) = split(extra, units)?;
        let best = rest
            .get_mut(..units)
            .ok_or(Error::internal("ops::head::matching"))?;
        if features.views.is_empty() {
            net.head_layers(h, head, features.plain, c, d, z, false)?;
            best.copy_from_slice(z);
        } else {
            self.best_over_views(net, h, head, features.views, (c, d), (z, best))?;
        }
        pool_classes(best, usize::from(self.per_class), dst);
        softmax(dst);
        Ok(())
    }
    fn support_len(&self, _: &Model<'_>, _: usize, targets: Targets<'_>) -> Result<usize, Error> {
        label_count(targets, self.classes)
    }
    fn loss(&self, input: LossInput<'_>) -> Result<f32, Error> {
        let per_class = self.per_class();
        if per_class <= 1 {
            return cross_entropy_loss(input, self.units());
        }
        let Targets::Classes(labels) = input.targets else {
            return Err(Error::TargetKindMismatch);
        };
        let k = input.k as f32;
        let mut loss = 0.0f32;
        for (row, &label) in input.out.chunks_exact_mut(self.units()).zip(labels) {
            loss += pooled_cross_entropy(row, per_class, usize::from(label), input.delta, k);
        }
        Ok(loss / k)
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
        write!(
            f,
            "matching, {} classes x {} prototypes (log-sum-exp)",
            self.classes, self.per_class
        )?;
        f.write_str(", softmax CE")
    }
}
