//! Matching heads ([`HeadKind::Matching`](crate::HeadKind::Matching), cargo feature
//! `matching-head`): each class is a mixture of prototype units pooled by log-sum-exp; with
//! warps, each unit keeps its best score over affine warps of an image input.
//!
//! ```
//! use fewshot_runtime::ops::head::matching::{pool_classes, warp_image};
//! use fewshot_runtime::format::WarpSet;
//!
//! // A 3x3 image moved one pixel right: the left column becomes zero.
//! let set = WarpSet { width: 3, height: 3, count: 1, offset: 0 };
//! let image = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
//! let mut out = [0.0f32; 9];
//! warp_image(&set, &[1.0, 0.0, -1.0, 0.0, 1.0, 0.0], &image, &mut out);
//! assert_eq!(out, [0.0, 1.0, 2.0, 0.0, 4.0, 5.0, 0.0, 7.0, 8.0]);
//!
//! // Two classes of two prototypes: each class is the log-sum-exp of its units (micromath's
//! // exp and ln are approximations, to about 1e-3).
//! let mut scores = [0.0f32; 2];
//! pool_classes(&[0.0, 0.0, 1.0, -40.0], 2, &mut scores);
//! assert!((scores[0] - 2.0f32.ln()).abs() < 1e-3 && (scores[1] - 1.0).abs() < 1e-3);
//! ```

use core::fmt;

use super::classification::{check_logits, cross_entropy_loss, label_count, softmax_delta_bound};
use super::{HeadOp, HeadScratch, LossInput};
use crate::adapt::Targets;
use crate::format::{invalid, Capabilities, HeadSpec, Header, Model, WarpSet, MAX_WARPS};
use crate::infer::{split, Network};
use crate::math::{exp, ln, log_sum_exp, max_and_sum_exp, softmax};
use crate::Error;

/// A matching head: `classes` classes of `per_class` prototype units, with optional warps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matching {
    /// Number of classes.
    pub classes: u16,
    /// Prototypes per class.
    pub per_class: u16,
    /// The input warps, if any.
    pub warps: Option<WarpSet>,
}

/// The identity warp, `[1, 0, 0, 0, 1, 0]`: inference reuses the shared trunk pass for it.
pub const IDENTITY_WARP: [f32; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

/// `floor` with IEEE operations only, so host and device agree bit for bit.
fn floor(x: f32) -> f32 {
    let t = x as i32 as f32;
    if t > x {
        t - 1.0
    } else {
        t
    }
}

/// Pixel `(col, row)` of `image`, zero outside.
fn pixel(image: &[f32], width: usize, height: usize, col: f32, row: f32) -> f32 {
    if col < 0.0 || row < 0.0 || col >= width as f32 || row >= height as f32 {
        return 0.0;
    }
    image
        .get(row as usize * width + col as usize)
        .copied()
        .unwrap_or(0.0)
}

/// Writes `image` warped by `warp` (`[a, b, tx, c, d, ty]`, see [`WarpSet`]) into `out`.
/// Both are `set.width * set.height` long; a shorter slice leaves the rest untouched.
pub fn warp_image(set: &WarpSet, warp: &[f32], image: &[f32], out: &mut [f32]) {
    let [a, b, tx, c, d, ty] = match warp {
        &[a, b, tx, c, d, ty] => [a, b, tx, c, d, ty],
        _ => IDENTITY_WARP,
    };
    let (w, h) = (usize::from(set.width), usize::from(set.height));
    let cx = (w as f32 - 1.0) * 0.5;
    let cy = (h as f32 - 1.0) * 0.5;
    for (i, o) in out.iter_mut().enumerate().take(w * h) {
        let x = (i % w) as f32 - cx;
        let y = (i / w) as f32 - cy;
        let sx = a * x + b * y + tx + cx;
        let sy = c * x + d * y + ty + cy;
        let (x0, y0) = (floor(sx), floor(sy));
        let (fx, fy) = (sx - x0, sy - y0);
        let p00 = pixel(image, w, h, x0, y0);
        let p01 = pixel(image, w, h, x0 + 1.0, y0);
        let p10 = pixel(image, w, h, x0, y0 + 1.0);
        let p11 = pixel(image, w, h, x0 + 1.0, y0 + 1.0);
        let top = p00 * (1.0 - fx) + p01 * fx;
        let bottom = p10 * (1.0 - fx) + p11 * fx;
        *o = top * (1.0 - fy) + bottom * fy;
    }
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

/// Warps need an image that is the whole input, and the prototype scale of their distance.
fn check_warps(header: &Header<'_>, head: &HeadSpec<'_>, set: &WarpSet) -> Result<(), Error> {
    let pixels = usize::from(set.width) * usize::from(set.height);
    if pixels != usize::from(header.input_len) {
        return Err(invalid("head.kind.warps.size"));
    }
    if set.count == 0 || usize::from(set.count) > MAX_WARPS {
        return Err(invalid("head.kind.warps.count"));
    }
    if head.adapt.and_then(|a| a.prototype_scale).is_none() {
        return Err(invalid("head.kind.warps"));
    }
    Ok(())
}

impl Matching {
    /// Unit scores of every warp of `input` into `best` (each unit's best over the warps), with
    /// `z` and `rest` as scratch.
    #[allow(clippy::too_many_arguments)]
    fn best_over_warps<'m, 's>(
        &self,
        net: &Network<'m, 's>,
        h: usize,
        head: &HeadSpec<'_>,
        set: &WarpSet,
        input: &[f32],
        features: &[f32],
        (c, d): (&mut [f32], &mut [f32]),
        (z, best, rest): (&mut [f32], &mut [f32], &mut [f32]),
    ) -> Result<(), Error>
    where
        'm: 's,
    {
        let bug = Error::internal("ops::head::matching");
        let model = net.model();
        let s = head.adapt.and_then(|a| a.prototype_scale).ok_or(bug)?;
        let table = model.warps(h).ok_or(bug)?;
        let n = model.input_len();
        let tw = model.trunk_width();
        let (warped, rest) = split(rest, n)?;
        let (a, rest) = split(rest, tw)?;
        let b = rest.get_mut(..tw).ok_or(bug)?;
        best.iter_mut().for_each(|v| *v = f32::NEG_INFINITY);
        for warp in table.chunks_exact(6) {
            // The identity reads the features the shared trunk pass already made.
            let f: &[f32] = if warp == IDENTITY_WARP {
                features
            } else {
                warp_image(set, warp, input, warped);
                match net.trunk_into(warped, a, b)? {
                    0 => a,
                    _ => b,
                }
            };
            let f = f.get(..model.feature_len()).ok_or(bug)?;
            let norm = net.head_layers(h, head, f, c, d, z, true)?;
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
    fn validate(
        &self,
        header: &Header<'_>,
        head: &HeadSpec<'_>,
        outputs: u16,
    ) -> Result<(), Error> {
        let units = u32::from(self.classes) * u32::from(self.per_class);
        if self.classes < 2 || self.per_class < 1 || units != u32::from(outputs) {
            return Err(invalid("head.kind"));
        }
        check_logits(head)?;
        match &self.warps {
            Some(set) => check_warps(header, head, set),
            None => Ok(()),
        }
    }
    fn tensor(&self) -> Option<(u32, usize)> {
        self.warps
            .map(|set| (set.offset, usize::from(set.count) * 6))
    }
    /// Two buffers of prototype units, and for warps a warped input and a second trunk.
    fn infer_scratch(&self, model: &Model<'_>) -> usize {
        match self.warps {
            None => 2 * self.units(),
            Some(_) => 2 * self.units() + model.input_len() + 2 * model.trunk_width(),
        }
    }
    // Out of line: the dispatch then stays small enough to inline into `Network::infer` for
    // the other kinds (a matching query is long; one call is nothing to it).
    #[inline(never)]
    fn infer<'m, 's>(
        &self,
        net: &Network<'m, 's>,
        h: usize,
        head: &HeadSpec<'_>,
        input: &[f32],
        features: &[f32],
        scratch: HeadScratch<'_>,
        dst: &mut [f32],
    ) -> Result<(), Error>
    where
        'm: 's,
    {
        let units = self.units();
        let HeadScratch { c, d, extra } = scratch;
        let (z, rest) = split(extra, units)?;
        let (best, rest) = split(rest, units)?;
        match &self.warps {
            None => {
                net.head_layers(h, head, features, c, d, z, false)?;
                best.copy_from_slice(z);
            }
            Some(set) => {
                self.best_over_warps(net, h, head, set, input, features, (c, d), (z, best, rest))?
            }
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
        if let Some(s) = self.warps {
            write!(
                f,
                ", best of {} warps of a {}x{} image",
                s.count, s.width, s.height
            )?;
        }
        f.write_str(", softmax CE")
    }
}
