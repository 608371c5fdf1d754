//! Meta-training augmentation of series and images along a time axis (the `[augment]` table):
//! a random shift in time and SpecAugment-style masks (Park et al., 2019), drawn anew for every
//! sampled row of a meta-training episode. Validation, evaluation and export never see it.
//!
//! The time axis is an image's rows (its height: the frames of a log-mel image, which
//! `trainer features` writes frame-major) or a series' samples (its length); the feature axis
//! is an image's columns (mel bands) or a series' channels. An image of several channels is
//! shifted and masked alike in every channel. A shift moves the row by up to
//! `time_shift` steps either way, repeating its first or last step into the gap (the edges of
//! a clip or window are background, so no step of zeros appears that the device never sees);
//! a time mask sets up to `time_mask` consecutive steps, a feature mask up to `feature_mask`
//! consecutive features, to the row's mean.
//!
//! ```
//! use rand::SeedableRng;
//! use trainer::classify::augment::{Axes, TimeAugment};
//! use trainer::classify::config::InputKind;
//!
//! // A 4-frame, 2-band image shifted by up to one frame, no masks.
//! let aug = TimeAugment { time_shift: 1, time_mask: 0, feature_mask: 0 };
//! let axes = Axes::of(&InputKind::grey(2, 4)).unwrap();
//! let row = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
//! let mut out = [0.0; 8];
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! aug.apply(&axes, &row, &mut rng, &mut out);
//! // Each frame is one of the row's frames, in order, at most one step away.
//! assert!(out == row || out == [0.0, 1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
//!     || out == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 6.0, 7.0]);
//! ```

use super::config::InputKind;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The `[augment]` table: largest shift and mask widths, in steps of the time axis and in
/// features (0: none, the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeAugment {
    /// Each row is shifted by a draw from `-time_shift..=time_shift` steps.
    pub time_shift: usize,
    /// Then up to this many consecutive steps (a draw from `0..=time_mask`) are set to the
    /// row's mean.
    pub time_mask: usize,
    /// Then up to this many consecutive features (bands, channels) are set to the row's mean.
    pub feature_mask: usize,
}

/// Where a row's time steps and features are: value `(t, f)` of plane `p` is at `p *
/// plane_stride + t * time_stride + f * feature_stride` (an image's channels are its planes; a
/// series is one plane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axes {
    pub steps: usize,
    pub features: usize,
    pub time_stride: usize,
    pub feature_stride: usize,
    /// Planes shifted and masked alike (an image's channels; 1 for a series).
    pub planes: usize,
    pub plane_stride: usize,
}

impl Axes {
    /// The axes of an image (rows are time) or a channel-major series; None for a vector.
    pub fn of(input: &InputKind) -> Option<Axes> {
        match *input {
            InputKind::Vector {} => None,
            InputKind::Image {
                width,
                height,
                channels,
            } => Some(Axes {
                steps: height,
                features: width,
                time_stride: width,
                feature_stride: 1,
                planes: channels,
                plane_stride: width * height,
            }),
            InputKind::Series { channels, length } => Some(Axes {
                steps: length,
                features: channels,
                time_stride: 1,
                feature_stride: length,
                planes: 1,
                plane_stride: 0,
            }),
        }
    }

    /// The values of a row with these axes.
    pub fn values(&self) -> Option<usize> {
        self.steps
            .checked_mul(self.features)?
            .checked_mul(self.planes)
    }

    /// Every index of value `(t, f)`, one per plane.
    fn at(&self, t: usize, f: usize) -> impl Iterator<Item = usize> + '_ {
        let base = t * self.time_stride + f * self.feature_stride;
        (0..self.planes).map(move |p| base + p * self.plane_stride)
    }
}

impl TimeAugment {
    /// Whether any augmentation is asked for.
    pub fn is_active(&self) -> bool {
        self.time_shift + self.time_mask + self.feature_mask > 0
    }

    /// What is wrong with these widths for rows with `axes` (None: a vector input), if
    /// anything: a shift or mask must leave at least one step (feature) of the row.
    pub fn check(&self, axes: Option<&Axes>) -> Result<(), String> {
        if !self.is_active() {
            return Ok(());
        }
        let Some(a) = axes else {
            return Err("augmentation needs a series or an image input (a time axis)".into());
        };
        if self.time_shift >= a.steps || self.time_mask >= a.steps {
            return Err(format!(
                "time_shift and time_mask must be below the {} steps of the time axis",
                a.steps
            ));
        }
        if self.feature_mask >= a.features {
            return Err(format!(
                "feature_mask must be below the {} features (image columns, series channels)",
                a.features
            ));
        }
        Ok(())
    }

    /// Writes `row` (laid out as `axes`, widths as [`TimeAugment::check`] passes), shifted and
    /// masked by draws from `rng`, to `out` (as long as `row`). Draws only for what is asked
    /// (no draw at all when nothing is).
    pub fn apply(&self, axes: &Axes, row: &[f64], rng: &mut ChaCha8Rng, out: &mut [f64]) {
        out.copy_from_slice(row);
        let steps = axes.steps as i64;
        if self.time_shift > 0 {
            let m = self.time_shift as i64;
            let dt = rng.random_range(-m..=m);
            for t in 0..axes.steps {
                let from = (t as i64 - dt).clamp(0, steps - 1) as usize;
                for f in 0..axes.features {
                    for (to, from) in axes.at(t, f).zip(axes.at(from, f)) {
                        out[to] = row[from];
                    }
                }
            }
        }
        if self.feature_mask + self.time_mask == 0 {
            return;
        }
        let mean = row.iter().sum::<f64>() / row.len().max(1) as f64;
        if self.feature_mask > 0 {
            let (f0, width) = run(rng, self.feature_mask, axes.features);
            for t in 0..axes.steps {
                for f in f0..f0 + width {
                    axes.at(t, f).for_each(|i| out[i] = mean);
                }
            }
        }
        if self.time_mask > 0 {
            let (t0, width) = run(rng, self.time_mask, axes.steps);
            for t in t0..t0 + width {
                for f in 0..axes.features {
                    axes.at(t, f).for_each(|i| out[i] = mean);
                }
            }
        }
    }
}

/// A run of `0..=max` consecutive positions of `len` (`max < len`): its start and width.
fn run(rng: &mut ChaCha8Rng, max: usize, len: usize) -> (usize, usize) {
    let width = rng.random_range(0..=max);
    (rng.random_range(0..=len - width), width)
}
