//! Seeded background noise (white, pink, brown) mixed in at a signal-to-noise ratio.
//!
//! The generators use only additions and multiplications on draws of the clip's own ChaCha8
//! stream, so a clip's noise is a function of its recorded seed alone.

use super::rng;
use rand_chacha::rand_core::RngCore;
use serde::{Deserialize, Serialize};

/// A kind of background noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Noise {
    /// No noise (the manifest's `snr_db` is empty).
    None,
    /// Uniform white noise: a flat spectrum.
    White,
    /// Pink noise: -3 dB per octave (Paul Kellet's filter of white noise).
    Pink,
    /// Brown (red) noise: -6 dB per octave (leaky integral of white noise).
    Brown,
}

impl Noise {
    /// Every kind, in the manifest's spelling order.
    pub const ALL: [Noise; 4] = [Noise::None, Noise::White, Noise::Pink, Noise::Brown];

    /// `n` samples of this noise (zeros for [`Noise::None`]), unscaled.
    pub fn samples(self, rng: &mut impl RngCore, n: usize) -> Vec<f64> {
        let mut white = std::iter::repeat_with(|| rng::symmetric(rng)).take(n);
        match self {
            Noise::None => vec![0.0; n],
            Noise::White => white.collect(),
            Noise::Pink => {
                let mut b = [0.0f64; 7];
                white
                    .by_ref()
                    .map(|w| {
                        b[0] = 0.99886 * b[0] + w * 0.0555179;
                        b[1] = 0.99332 * b[1] + w * 0.0750759;
                        b[2] = 0.96900 * b[2] + w * 0.1538520;
                        b[3] = 0.86650 * b[3] + w * 0.3104856;
                        b[4] = 0.55000 * b[4] + w * 0.5329522;
                        b[5] = -0.7616 * b[5] - w * 0.0168980;
                        let y = b[..6].iter().sum::<f64>() + b[6] + w * 0.5362;
                        b[6] = w * 0.115926;
                        y
                    })
                    .collect()
            }
            Noise::Brown => {
                let mut y = 0.0f64;
                white
                    .by_ref()
                    .map(|w| {
                        y = 0.995 * y + w;
                        y
                    })
                    .collect()
            }
        }
    }
}

/// Mean square of `x` (0 for an empty slice).
pub fn power(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64
}

/// Adds `noise` to `clip`, scaled so that the power of `speech` (the spoken part of the clip)
/// over the noise's power over the whole clip is `snr_db`. Silent noise or speech adds nothing.
pub fn mix(clip: &mut [f64], speech_power: f64, noise: &[f64], snr_db: i32) {
    let noise_power = power(noise);
    if noise_power <= 0.0 || speech_power <= 0.0 {
        return;
    }
    let ratio = 10f64.powf(f64::from(snr_db) / 10.0);
    let gain = (speech_power / (noise_power * ratio)).sqrt();
    for (c, n) in clip.iter_mut().zip(noise) {
        *c += gain * n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Power of `x` in the upper and lower quarters of the spectrum, by first differences
    /// and sums (a high-pass and a low-pass of one tap each).
    fn tilt(x: &[f64]) -> f64 {
        let high: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let low: Vec<f64> = x.windows(2).map(|w| w[1] + w[0]).collect();
        power(&high) / power(&low)
    }

    #[test]
    fn colours_tilt_downwards_in_order() {
        let n = 16_000;
        let white = Noise::White.samples(&mut rng::clip(1), n);
        let pink = Noise::Pink.samples(&mut rng::clip(1), n);
        let brown = Noise::Brown.samples(&mut rng::clip(1), n);
        let (w, p, b) = (tilt(&white), tilt(&pink), tilt(&brown));
        assert!((w - 1.0).abs() < 0.1, "white {w}");
        assert!(p < 0.5 * w && b < 0.5 * p, "white {w}, pink {p}, brown {b}");
        assert_eq!(Noise::None.samples(&mut rng::clip(1), 3), [0.0; 3]);
    }

    #[test]
    fn mixing_reaches_the_ratio() {
        let speech: Vec<f64> = (0..1000)
            .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let noise = Noise::Pink.samples(&mut rng::clip(9), 1000);
        for snr in [0, 10, 20] {
            let mut clip = speech.clone();
            mix(&mut clip, power(&speech), &noise, snr);
            let added: Vec<f64> = clip.iter().zip(&speech).map(|(c, s)| c - s).collect();
            let measured = 10.0 * (power(&speech) / power(&added)).log10();
            assert!((measured - f64::from(snr)).abs() < 1e-9, "{measured} dB");
        }
    }

    #[test]
    fn names_are_the_manifests() {
        let names: Vec<String> = Noise::ALL
            .iter()
            .map(|n| serde_json::to_string(n).unwrap())
            .collect();
        assert_eq!(names, ["\"none\"", "\"white\"", "\"pink\"", "\"brown\""]);
    }
}
