//! Input views ([`Extension::views`](crate::format::Extension::views), format v5, cargo feature
//! `input-views`): affine warps of an image input. Inference runs the trunk on each view, before
//! any head, and hands every head the features of the input and of each view; a matching head
//! keeps each unit's best score over the views.
//!
//! ```
//! use fewshot_runtime::ops::views::warp_image;
//! use fewshot_runtime::format::WarpSet;
//!
//! // A 3x3 image moved one pixel right: the left column becomes zero.
//! let set = WarpSet { width: 3, height: 3, count: 1, offset: 0 };
//! let image = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
//! let mut out = [0.0f32; 9];
//! warp_image(&set, &[1.0, 0.0, -1.0, 0.0, 1.0, 0.0], &image, &mut out);
//! assert_eq!(out, [0.0, 1.0, 2.0, 0.0, 4.0, 5.0, 0.0, 7.0, 8.0]);
//! ```

use crate::format::{Model, WarpSet};
use crate::infer::{split, Network};
use crate::Error;

/// The identity warp, `[1, 0, 0, 0, 1, 0]`: its view reuses the input's trunk pass.
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

/// Floats of inference scratch the views need: each view's features, and a warped input.
pub(crate) fn scratch_len(model: &Model<'_>) -> usize {
    match model.views() {
        Some((set, _)) => usize::from(set.count) * model.feature_len() + model.input_len(),
        None => 0,
    }
}

/// Runs the trunk on every view of `input` but the identity ones, each view's features into its
/// slot of `out` (`count * feature_len`, then a warped input's room), with `a` and `b` as the
/// trunk's ping-pong buffers; the identity slots are [`fill_identity`]'s.
pub(crate) fn run<'m, 's>(
    net: &Network<'m, 's>,
    (set, table): (WarpSet, &[f32]),
    input: &[f32],
    (a, b): (&mut [f32], &mut [f32]),
    out: &mut [f32],
) -> Result<(), Error>
where
    'm: 's,
{
    let bug = Error::internal("ops::views::run");
    let f = net.model().feature_len();
    let (slots, warped) = split(out, usize::from(set.count) * f)?;
    let warped = warped.get_mut(..input.len()).ok_or(bug)?;
    for (warp, slot) in table.chunks_exact(6).zip(slots.chunks_exact_mut(f)) {
        if warp == IDENTITY_WARP {
            continue;
        }
        warp_image(&set, warp, input, warped);
        let features = match net.trunk_into(warped, a, b)? {
            0 => &*a,
            _ => &*b,
        };
        slot.copy_from_slice(features.get(..f).ok_or(bug)?);
    }
    Ok(())
}

/// Copies the input's features `plain` into the identity views' slots of `out`.
pub(crate) fn fill_identity(table: &[f32], plain: &[f32], out: &mut [f32]) {
    let slots = out.chunks_exact_mut(plain.len().max(1));
    for (warp, slot) in table.chunks_exact(6).zip(slots) {
        if warp == IDENTITY_WARP && slot.len() == plain.len() {
            slot.copy_from_slice(plain);
        }
    }
}
