//! The windows of a pooling layer: `kernel` rows x columns of each channel, every `stride`
//! positions, without padding (a window never leaves the map).

use super::layer::Shape;
use serde::{Deserialize, Serialize};

/// A pooling geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub input: Shape,
    /// Window height and width (height 1 for a series).
    pub kernel: [usize; 2],
    pub stride: usize,
}

impl Window {
    /// The output map (`None`: the window does not fit the input, or a size is zero).
    pub fn output_checked(&self) -> Option<Shape> {
        let side = |len: usize, k: usize| {
            (k >= 1 && len >= k && self.stride >= 1).then(|| (len - k) / self.stride + 1)
        };
        Some(Shape {
            channels: self.input.channels,
            height: side(self.input.height, self.kernel[0])?,
            width: side(self.input.width, self.kernel[1])?,
        })
        .filter(|o| !o.is_empty())
    }
    /// The output map (a checked geometry).
    pub fn output(&self) -> Shape {
        self.output_checked().unwrap_or(Shape::flat(0))
    }
    /// Values per window.
    pub fn size(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }
    /// For every output index `j` of one sample, in order: `f(j, window)` with the input indices
    /// of its window.
    pub fn each(&self, mut f: impl FnMut(usize, &mut dyn Iterator<Item = usize>)) {
        let o = self.output();
        let (h, w, s) = (self.input.height, self.input.width, self.stride);
        let [kh, kw] = self.kernel;
        let mut j = 0;
        for c in 0..o.channels {
            for y in 0..o.height {
                for x in 0..o.width {
                    let base = (c * h + y * s) * w + x * s;
                    let mut it = (0..kh).flat_map(|a| (0..kw).map(move |b| base + a * w + b));
                    f(j, &mut it);
                    j += 1;
                }
            }
        }
    }
}
