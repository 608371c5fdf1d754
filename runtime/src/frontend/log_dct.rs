//! The log of each band's energy, `ln(e + log_offset)` with `libm`'s `logf` (musl's: the
//! exponent, then a polynomial in `s = (m - 1) / (m + 1)` of the mantissa, IEEE operations only,
//! within 1 ulp; micromath's `ln` is within 1e-3), and optionally the first `dct_coeffs`
//! coefficients of their orthonormal DCT-II (MFCCs):
//! `c_i = s_i sum_m log_m cos(pi i (2m + 1) / (2M))`, `s_0 = sqrt(1 / M)`, `s_i = sqrt(2 / M)`.
//!
//! The cosines are one quarter wave, `cos(pi j / (2M))` for `j < M`, computed once in f64 with
//! `libm` and rounded to f32: every `cos(pi k / (2M))` is one of them, negated or not, or 0.
//!
//! ```
//! use fewshot_runtime::frontend::{log_dct::LogDct, FrontEndSpec};
//! let spec = FrontEndSpec { mel_bins: 4, dct_coeffs: 2, log_offset: 1.0, ..FrontEndSpec::KEYWORD };
//! let dct = LogDct::<4>::new(&spec).unwrap();
//! let mut energies = [0.0f32; 4]; // ln(0 + 1) = 0 in every band
//! let mut out = [1.0f32; 2];
//! dct.apply(&mut energies, &mut out).unwrap();
//! assert_eq!(out, [0.0, 0.0]);
//! ```

use super::spec::FrontEndSpec;
use crate::Error;

/// The log and the DCT of a spec with at most `MELS` bands.
#[derive(Debug, Clone)]
pub struct LogDct<const MELS: usize> {
    /// `cos(pi j / (2 mels))` for `j < mels`.
    quarter: [f32; MELS],
    mels: usize,
    coeffs: usize,
    offset: f32,
    /// `s_0` and `s_i` (i > 0).
    scale: [f32; 2],
}

impl<const MELS: usize> LogDct<MELS> {
    /// The log and DCT of `spec` (validated by the caller; capacity checked here).
    pub fn new(spec: &FrontEndSpec) -> Result<Self, Error> {
        let mels = usize::from(spec.mel_bins);
        Error::check_capacity("mel bands (MELS)", mels, MELS)?;
        let mut quarter = [0.0; MELS];
        let m = mels as f64;
        for (j, c) in quarter.iter_mut().take(mels).enumerate() {
            *c = libm::cos(core::f64::consts::PI * j as f64 / (2.0 * m)) as f32;
        }
        Ok(LogDct {
            quarter,
            mels,
            coeffs: usize::from(spec.dct_coeffs),
            offset: spec.log_offset,
            scale: [libm::sqrt(1.0 / m) as f32, libm::sqrt(2.0 / m) as f32],
        })
    }

    /// Values written per frame: the DCT's coefficients, or one per band without a DCT.
    pub fn width(&self) -> usize {
        if self.coeffs > 0 {
            self.coeffs
        } else {
            self.mels
        }
    }

    /// `cos(pi k / (2 mels))` from the quarter wave.
    fn cos(&self, k: usize) -> f32 {
        let m = self.mels;
        let k = k % (4 * m);
        let (quadrant, r) = (k / m, k % m);
        let t = |j: usize| self.quarter.get(j).copied().unwrap_or(0.0);
        match (quadrant, r) {
            (0, _) => t(r),
            (1, 0) | (3, 0) => 0.0,
            (1, _) => -t(m - r),
            (2, _) => -t(r),
            _ => t(m - r),
        }
    }

    /// Takes the log of `energies` in place, then writes the frame's values to `out` (its
    /// [`LogDct::width`]): the DCT's coefficients, or the log energies.
    pub fn apply(&self, energies: &mut [f32], out: &mut [f32]) -> Result<(), Error> {
        if energies.len() != self.mels {
            return Err(Error::LengthMismatch {
                what: "mel energies",
                expected: self.mels,
                found: energies.len(),
            });
        }
        if out.len() != self.width() {
            return Err(Error::LengthMismatch {
                what: "feature frame",
                expected: self.width(),
                found: out.len(),
            });
        }
        for e in energies.iter_mut() {
            *e = libm::logf(*e + self.offset);
        }
        if self.coeffs == 0 {
            out.copy_from_slice(energies);
            return Ok(());
        }
        for (i, c) in out.iter_mut().enumerate() {
            let sum = energies
                .iter()
                .enumerate()
                .fold(0.0, |acc, (m, e)| acc + e * self.cos(i * (2 * m + 1)));
            *c = sum * if i == 0 { self.scale[0] } else { self.scale[1] };
        }
        Ok(())
    }
}
