//! Pooling of the stem (cargo feature `conv`): the largest value or the mean of each window of
//! each channel, windows of `size` (rows, columns) every `stride` positions, without padding;
//! global average pooling is the mean over a window the size of the map. No parameters, no
//! activation.
//!
//! A max keeps the first of equal values and is taken by comparison (`v > m`); a mean is the
//! window's values added in row-major order from 0, times `1 / (rows x columns)`: as the
//! trainer's forward pass computes them.
//!
//! ```
//! use fewshot_runtime::format::spec::{Map, PoolSpec};
//! use fewshot_runtime::ops::layer::{LayerOp, Pool};
//! let spec = PoolSpec { input: Map { channels: 1, height: 1, width: 4 }, size: [1, 2], stride: 2 };
//! let mut y = [0.0; 2];
//! Pool::max(&spec).forward(&[], &[], &[1.0, 3.0, -2.0, -4.0], &mut y);
//! assert_eq!(y, [3.0, -2.0]);
//! Pool::mean(&spec).forward(&[], &[], &[1.0, 3.0, -2.0, -4.0], &mut y);
//! assert_eq!(y, [2.0, -3.0]);
//! ```

use super::conv::{map_len, side};
use super::LayerOp;
use crate::format::spec::{Map, PoolSpec};
use crate::format::{invalid, Capabilities};
use crate::math::tiles::tiled;
use crate::{Activation, Error};

/// A pooling layer's geometry and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    spec: PoolSpec,
    max: bool,
}

impl Pool {
    /// Max pooling.
    pub fn max(spec: &PoolSpec) -> Pool {
        Pool {
            spec: *spec,
            max: true,
        }
    }
    /// Average pooling.
    pub fn mean(spec: &PoolSpec) -> Pool {
        Pool {
            spec: *spec,
            max: false,
        }
    }
    /// Global average pooling of `input`: one mean per channel.
    pub fn global(input: &Map) -> Pool {
        Pool::mean(&PoolSpec {
            input: *input,
            size: [input.height, input.width],
            stride: 1,
        })
    }

    /// The input map.
    pub fn input_map(&self) -> Map {
        self.spec.input
    }

    /// The output map, `None` when the geometry is invalid.
    pub fn output_map(&self) -> Option<Map> {
        let s = &self.spec;
        let map = Map {
            channels: s.input.channels,
            height: side(s.input.height, s.size[0], 0, s.stride)?,
            width: side(s.input.width, s.size[1], 0, s.stride)?,
        };
        map_len(&s.input)?;
        map_len(&map)?;
        Some(map)
    }

    /// The window at row `y0`, column `x0` of channel `c`'s `plane`.
    fn window(&self, plane: &[f32], y0: usize, x0: usize) -> f32 {
        let wd = usize::from(self.spec.input.width);
        let [kh, kw] = [
            usize::from(self.spec.size[0]),
            usize::from(self.spec.size[1]),
        ];
        let rows = (y0..y0 + kh).filter_map(|r| plane.get(r * wd + x0..r * wd + x0 + kw));
        self.reduce(rows.flatten())
    }

    /// The largest of `values` (the first of equal ones), or their sum from 0 in order times
    /// `1 / (rows x columns)`.
    #[inline(always)]
    fn reduce<'a>(&self, values: impl Iterator<Item = &'a f32> + Clone) -> f32 {
        if self.max {
            max_of(values)
        } else {
            let [kh, kw] = self.spec.size;
            mean_of(values, 1.0 / (usize::from(kh) * usize::from(kw)) as f32)
        }
    }

    /// The input's row width.
    fn width(&self) -> usize {
        usize::from(self.spec.input.width)
    }

    /// `Some(rows)` of a window two columns wide on one or two rows, at a stride of 2, over
    /// rows of an even width: the windows [`tiled`] reads as pairs.
    fn pairs(&self) -> Option<usize> {
        let [kh, kw] = self.spec.size.map(usize::from);
        let fits = matches!(kh, 1 | 2) && kw == 2 && self.spec.stride == 2;
        (fits && self.width().is_multiple_of(2)).then_some(kh)
    }

    /// How [`tiled`] runs this pooling: `(planes at once, rows of its bands)`, the whole map
    /// where planes are whole row pairs (an even number of rows) or single rows (a series),
    /// plane by plane over an odd number of rows read in pairs; None for every other window.
    fn runs(&self) -> Option<(usize, usize)> {
        let (height, channels) = (self.spec.input.height, self.spec.input.channels);
        match (self.pairs()?, height) {
            (_, 1) => Some((usize::from(channels), 1)),
            (_, h) if h % 2 == 0 => Some((usize::from(channels), 2)),
            (2, _) => Some((1, 2)),
            _ => None,
        }
    }

    /// `xs` (one plane, or with `band` the planes of a run) into its outputs (rows of `ow`):
    /// with `band`, by [`tiled`] in bands of that many rows, max and mean each in its own loop;
    /// any other window through [`Pool::window`]. The same values in the same order either way.
    fn planes(&self, xs: &[f32], ys: &mut [f32], ow: usize, band: Option<usize>) {
        let wd = self.width();
        let st = usize::from(self.spec.stride);
        let [kh, kw] = self.spec.size.map(usize::from);
        let scale = 1.0 / (kh * kw) as f32;
        match (band, self.max) {
            (Some(b), true) => tiled(xs, ys, [wd, ow, kh, b], |w| max_of(w.iter())),
            (Some(b), false) => tiled(xs, ys, [wd, ow, kh, b], |w| mean_of(w.iter(), scale)),
            _ => {
                for (oy, yr) in ys.chunks_exact_mut(ow.max(1)).enumerate() {
                    for (ox, v) in yr.iter_mut().enumerate() {
                        *v = self.window(xs, oy * st, ox * st);
                    }
                }
            }
        }
    }
}

/// The largest of `values`, the first of equal ones (by `v > m`, as the trainer).
#[inline(always)]
fn max_of<'a>(values: impl Iterator<Item = &'a f32> + Clone) -> f32 {
    let first = values.clone().next().copied().unwrap_or(0.0);
    values.fold(first, |m, &v| if v > m { v } else { m })
}

/// The sum of `values` from 0 in order, times `scale`.
#[inline(always)]
fn mean_of<'a>(values: impl Iterator<Item = &'a f32>, scale: f32) -> f32 {
    values.fold(0.0f32, |s, &v| s + v) * scale
}

impl LayerOp for Pool {
    fn inputs(&self) -> usize {
        map_len(&self.spec.input).unwrap_or(0)
    }
    fn outputs(&self) -> usize {
        self.output_map().and_then(|m| map_len(&m)).unwrap_or(0)
    }
    /// The identity: a pooled value is the window's.
    fn activation(&self) -> Activation {
        Activation::Identity
    }
    fn weight_count(&self) -> usize {
        0
    }
    fn param_count(&self) -> usize {
        0
    }
    /// One per value read.
    fn macs(&self) -> usize {
        let [kh, kw] = self.spec.size;
        self.outputs()
            .saturating_mul(usize::from(kh))
            .saturating_mul(usize::from(kw))
    }
    /// None: it reads its input map and writes its output map.
    fn scratch_len(&self) -> usize {
        0
    }
    fn capability(&self) -> Capabilities {
        Capabilities::CONV
    }
    fn validate(&self, field: &'static str) -> Result<(), Error> {
        self.output_map().map(|_| ()).ok_or(invalid(field))
    }
    fn forward(&self, _w: &[f32], _b: &[f32], x: &[f32], y: &mut [f32]) {
        let Some(out) = self.output_map() else {
            return;
        };
        let plane = usize::from(self.spec.input.height) * usize::from(self.spec.input.width);
        let per = usize::from(out.height) * usize::from(out.width);
        let ow = usize::from(out.width);
        // A window the size of the plane (global pooling): one value per plane, its values in
        // order, in one loop.
        if self.spec.size == [self.spec.input.height, self.spec.input.width] {
            for (xs, v) in x.chunks_exact(plane).zip(y.iter_mut()) {
                *v = self.reduce(xs.iter());
            }
            return;
        }
        let (planes, band) = match self.runs() {
            Some((planes, band)) => (planes, Some(band)),
            None => (1, None),
        };
        let runs = x
            .chunks_exact(plane * planes)
            .zip(y.chunks_exact_mut(per * planes));
        for (xs, ys) in runs {
            self.planes(xs, ys, ow, band);
        }
    }
}
