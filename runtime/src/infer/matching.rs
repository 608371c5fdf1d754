//! Matching heads ([`HeadKind::Matching`](crate::HeadKind::Matching)): affine warps of an image
//! input, and the pooling of prototype units into class scores.
//!
//! ```
//! use fewshot_runtime::infer::matching::{pool_classes, warp_image};
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

use crate::format::WarpSet;
use crate::math::log_sum_exp;

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
