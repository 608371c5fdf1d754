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
        if self.max {
            let first = plane.get(y0 * wd + x0).copied().unwrap_or(0.0);
            rows.flatten()
                .fold(first, |m, &v| if v > m { v } else { m })
        } else {
            let sum = rows.flatten().fold(0.0f32, |s, &v| s + v);
            sum * (1.0 / (kh * kw) as f32)
        }
    }
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
        let (ow, st) = (usize::from(out.width), usize::from(self.spec.stride));
        for (xs, ys) in x.chunks_exact(plane).zip(y.chunks_exact_mut(per)) {
            for (j, v) in ys.iter_mut().enumerate() {
                *v = self.window(xs, (j / ow) * st, (j % ow) * st);
            }
        }
    }
}
