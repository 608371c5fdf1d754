//! The mel filter bank: triangular filters over the power spectrum's bins, their centres
//! evenly spaced on the HTK mel scale `2595 log10(1 + f / 700)` between `f_min` and `f_max`.
//!
//! Band `b` rises from point `b` to point `b + 1` and falls to point `b + 2` of the
//! `mel_bins + 2` points (peak 1, no area normalisation); bin `k` sits at
//! `k sample_rate / fft_size` Hz. Only the bins strictly inside a band are kept (the weights
//! are positive there), so each bin is in at most two bands and the DC and Nyquist bins in none:
//! the weights fit in `fft_size` floats. They are computed once, in f64 with `libm`'s `log10`
//! and `pow` (IEEE operations only: the same bits on the host and the Cortex-M), then rounded
//! to f32.
//!
//! ```
//! use fewshot_runtime::frontend::{mel::MelBank, FrontEndSpec};
//! let spec = FrontEndSpec::KEYWORD;
//! let bank = MelBank::<512, 40>::new(&spec).unwrap();
//! // White power: each band sums its weights.
//! let power = [1.0f32; 257];
//! let mut energies = [0.0f32; 40];
//! bank.apply(&power, &mut energies).unwrap();
//! assert!(energies.iter().all(|e| *e > 0.0));
//! assert!(energies[39] > energies[0]); // mel bands widen with frequency
//! ```

use super::spec::FrontEndSpec;
use crate::Error;

/// Where one band's weights lie: bins `start..start + len`, weights `at..at + len`.
#[derive(Debug, Clone, Copy, Default)]
struct Band {
    start: u16,
    len: u16,
    at: u16,
}

/// The filters of a spec with at most `FFT` points and `MELS` bands.
#[derive(Debug, Clone)]
pub struct MelBank<const FFT: usize, const MELS: usize> {
    bands: [Band; MELS],
    weights: [f32; FFT],
    mels: usize,
}

fn hz_to_mel(f: f64) -> f64 {
    2595.0 * libm::log10(1.0 + f / 700.0)
}

fn mel_to_hz(m: f64) -> f64 {
    700.0 * (libm::pow(10.0, m / 2595.0) - 1.0)
}

impl<const FFT: usize, const MELS: usize> MelBank<FFT, MELS> {
    /// The filters of `spec` (validated by the caller; capacities checked here).
    pub fn new(spec: &FrontEndSpec) -> Result<Self, Error> {
        let mels = usize::from(spec.mel_bins);
        Error::check_capacity("mel bands (MELS)", mels, MELS)?;
        Error::check_capacity("FFT points (FFT)", usize::from(spec.fft_size), FFT)?;
        let mut bank = MelBank {
            bands: [Band::default(); MELS],
            weights: [0.0; FFT],
            mels,
        };
        let (lo, hi) = (
            hz_to_mel(f64::from(spec.f_min)),
            hz_to_mel(f64::from(spec.f_max)),
        );
        let step = (hi - lo) / (mels + 1) as f64;
        let point = |j: usize| mel_to_hz(lo + j as f64 * step);
        let bin_hz = f64::from(spec.sample_rate) / f64::from(spec.fft_size);
        let mut at = 0usize;
        for (b, band) in bank.bands.iter_mut().take(mels).enumerate() {
            let (left, centre, right) = (point(b), point(b + 1), point(b + 2));
            let start = at;
            let mut first = None;
            for k in 0..spec.bins() {
                let f = k as f64 * bin_hz;
                if f <= left || f >= right {
                    continue;
                }
                let w = if f <= centre {
                    (f - left) / (centre - left)
                } else {
                    (right - f) / (right - centre)
                };
                let slot = bank.weights.get_mut(at).ok_or(Error::Capacity {
                    what: "mel weights (FFT)",
                    needed: at + 1,
                    available: FFT,
                })?;
                *slot = w as f32;
                at += 1;
                first.get_or_insert(k);
            }
            let narrow = |v: usize| u16::try_from(v).map_err(|_| Error::internal("mel::new"));
            *band = Band {
                start: narrow(first.unwrap_or(0))?,
                len: narrow(at - start)?,
                at: narrow(start)?,
            };
        }
        Ok(bank)
    }

    /// `energies[b] = sum_k w_b[k] power[k]` for each band (`energies`: one per band;
    /// `power`: the spectrum's bins).
    pub fn apply(&self, power: &[f32], energies: &mut [f32]) -> Result<(), Error> {
        if energies.len() != self.mels {
            return Err(Error::LengthMismatch {
                what: "mel energies",
                expected: self.mels,
                found: energies.len(),
            });
        }
        for (band, e) in self.bands.iter().zip(energies.iter_mut()) {
            let (start, len, at) = (
                usize::from(band.start),
                usize::from(band.len),
                usize::from(band.at),
            );
            let w = self.weights.get(at..at + len);
            let p = power.get(start..start + len);
            let (Some(w), Some(p)) = (w, p) else {
                return Err(Error::LengthMismatch {
                    what: "power spectrum",
                    expected: start + len,
                    found: power.len(),
                });
            };
            *e = w.iter().zip(p).fold(0.0, |acc, (w, p)| acc + w * p);
        }
        Ok(())
    }
}
