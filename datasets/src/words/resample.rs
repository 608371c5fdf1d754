//! A fixed-ratio polyphase windowed-sinc resampler (espeak-ng's 22 050 Hz to the clips'
//! 16 000 Hz).
//!
//! Written here rather than taken from a resampling crate: the ratio is one fixed rational
//! (320/441), a direct polyphase filter is a few lines, and its output is plain f64
//! multiply-adds over a table computed once, so the clips' bytes depend on no FFT planner or
//! SIMD path. The low-pass is a Blackman-windowed sinc with its cutoff at 0.45 of the lower
//! rate (7.2 kHz for 16 kHz), 48 input samples each side.

use std::f64::consts::PI;

/// Input samples on each side of an output sample.
const HALF_WIDTH: usize = 48;

/// The cutoff as a fraction of the lower of the two rates.
const CUTOFF: f64 = 0.45;

/// Resamples from one rate to another by the reduced ratio `up / down`.
#[derive(Clone, Debug)]
pub struct Resampler {
    up: usize,
    down: usize,
    /// `up` phases of `2 * HALF_WIDTH` taps, phase-major.
    taps: Vec<f64>,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz (both non-zero).
    pub fn new(from: u32, to: u32) -> Self {
        let g = gcd(from, to).max(1);
        let (up, down) = ((to / g).max(1) as usize, (from / g).max(1) as usize);
        // Cutoff in cycles per input sample.
        let fc = CUTOFF * f64::from(from.min(to)) / f64::from(from.max(1));
        let width = 2 * HALF_WIDTH;
        let mut taps = Vec::with_capacity(up * width);
        for phase in 0..up {
            let frac = phase as f64 / up as f64;
            let start = taps.len();
            for i in 0..width {
                // Distance from the output instant to input sample `k - HALF_WIDTH + 1 + i`.
                let x = i as f64 - HALF_WIDTH as f64 + 1.0 - frac;
                taps.push(2.0 * fc * sinc(2.0 * fc * x) * blackman(x / HALF_WIDTH as f64));
            }
            let sum: f64 = taps[start..].iter().sum();
            for t in &mut taps[start..] {
                *t /= sum;
            }
        }
        Self { up, down, taps }
    }

    /// The resampled signal: `ceil(len * up / down)` samples, the input taken as zero outside.
    pub fn process(&self, input: &[f64]) -> Vec<f64> {
        let width = 2 * HALF_WIDTH;
        let n_out = (input.len() * self.up).div_ceil(self.down);
        (0..n_out)
            .map(|n| {
                let position = n * self.down;
                let (k, phase) = (position / self.up, position % self.up);
                let taps = &self.taps[phase * width..(phase + 1) * width];
                // Taps `lo..hi` meet input samples `first + lo..`; the others fall outside.
                let first = k as isize + 1 - HALF_WIDTH as isize;
                let lo = first.min(0).unsigned_abs();
                let hi = (input.len() as isize - first).clamp(0, width as isize) as usize;
                let start = (first + lo as isize).max(0) as usize;
                match (taps.get(lo..hi), input.get(start..)) {
                    (Some(taps), Some(x)) => taps.iter().zip(x).map(|(t, x)| t * x).sum(),
                    _ => 0.0,
                }
            })
            .collect()
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    }
}

/// The Blackman window on `t` in `[-1, 1]`.
fn blackman(t: f64) -> f64 {
    0.42 + 0.5 * (PI * t).cos() + 0.08 * (2.0 * PI * t).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, rate: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| (2.0 * PI * hz * i as f64 / rate).sin())
            .collect()
    }

    fn rms(x: &[f64]) -> f64 {
        (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn length_and_dc() {
        let r = Resampler::new(22_050, 16_000);
        assert_eq!(r.process(&[0.0; 22_050]).len(), 16_000);
        assert_eq!(r.process(&[0.0; 441]).len(), 320);
        assert_eq!(r.process(&[0.0; 442]).len(), 321);
        let out = r.process(&[0.5; 2_000]);
        for y in &out[100..out.len() - 100] {
            assert!((y - 0.5).abs() < 1e-12, "{y}");
        }
    }

    #[test]
    fn a_passband_tone_is_kept() {
        let r = Resampler::new(22_050, 16_000);
        for hz in [440.0, 1_000.0, 5_000.0] {
            let out = r.process(&tone(hz, 22_050.0, 22_050));
            let expected = tone(hz, 16_000.0, 16_000);
            let err: Vec<f64> = out.iter().zip(&expected).map(|(a, b)| a - b).collect();
            assert!(
                rms(&err[200..15_800]) < 1e-3,
                "{hz} Hz: {}",
                rms(&err[200..15_800])
            );
        }
    }

    #[test]
    fn a_tone_above_the_new_nyquist_does_not_alias() {
        let r = Resampler::new(22_050, 16_000);
        for hz in [8_500.0, 10_000.0] {
            let out = r.process(&tone(hz, 22_050.0, 22_050));
            let level = rms(&out[200..15_800]) / (0.5f64).sqrt();
            assert!(level < 1e-3, "{hz} Hz leaks at {level}");
        }
    }

    #[test]
    fn same_rate_keeps_a_passband_tone() {
        let r = Resampler::new(16_000, 16_000);
        let x = tone(3_000.0, 16_000.0, 1_000);
        let y = r.process(&x);
        assert_eq!(y.len(), x.len());
        for (a, b) in x.iter().zip(&y).skip(60).take(880) {
            assert!((a - b).abs() < 1e-3, "{a} {b}");
        }
    }
}
