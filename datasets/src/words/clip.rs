//! One clip from espeak-ng's samples: resampled to 16 kHz, the spoken part found and placed in
//! one second at a seeded offset around the centre (cut to the second when longer), noise mixed
//! in, then 16-bit samples.

use super::noise::{self, Noise};
use super::resample::Resampler;
use super::rng;
use super::wav::{CLIP_SAMPLES, SAMPLE_RATE};
use anyhow::{ensure, Result};
use rand_chacha::rand_core::RngCore;

/// The spoken part: from the first to the last sample above this fraction of the peak.
const SPEECH_THRESHOLD: f64 = 0.02;

/// A finished clip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clip {
    /// [`CLIP_SAMPLES`] samples at [`SAMPLE_RATE`].
    pub samples: Vec<i16>,
    /// The spoken part was longer than a second and was cut to its first second.
    pub trimmed: bool,
}

/// How a clip is placed and noised (a rendition's share of the work).
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    /// The seed of the offset and the noise.
    pub seed: u64,
    /// Largest shift from the centre, in milliseconds.
    pub jitter_ms: u32,
    /// Noise kind.
    pub noise: Noise,
    /// Signal-to-noise ratio (dB) when there is noise.
    pub snr_db: Option<i32>,
}

/// The clip of `raw` (espeak-ng's samples at `rate` Hz; `resampler` from `rate` to 16 kHz).
pub fn render(raw: &[i16], rate: u32, resampler: &Resampler, how: Placement) -> Result<Clip> {
    let audio: Vec<f64> = raw.iter().map(|&s| f64::from(s) / 32_768.0).collect();
    let audio = if rate == SAMPLE_RATE {
        audio
    } else {
        resampler.process(&audio)
    };
    let (start, end) = speech_span(&audio)?;
    let spoken = audio.get(start..end).unwrap_or_default();
    let mut rng = rng::clip(how.seed);
    let trimmed = spoken.len() > CLIP_SAMPLES;
    let offset = if trimmed {
        0
    } else {
        offset(&mut rng, CLIP_SAMPLES - spoken.len(), how.jitter_ms)
    };
    let mut clip = vec![0.0f64; CLIP_SAMPLES];
    for (c, s) in clip.iter_mut().skip(offset).zip(spoken) {
        *c = *s;
    }
    if let (Some(snr_db), true) = (how.snr_db, how.noise != Noise::None) {
        let speech_power = noise::power(&clip[offset..(offset + spoken.len()).min(CLIP_SAMPLES)]);
        let noise = how.noise.samples(&mut rng, CLIP_SAMPLES);
        noise::mix(&mut clip, speech_power, &noise, snr_db);
    }
    Ok(Clip {
        samples: to_i16(&clip),
        trimmed,
    })
}

/// The first and one past the last sample above [`SPEECH_THRESHOLD`] of the peak.
fn speech_span(audio: &[f64]) -> Result<(usize, usize)> {
    let peak = audio.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    ensure!(peak > 0.0, "espeak-ng produced silence");
    let loud = |x: &f64| x.abs() > SPEECH_THRESHOLD * peak;
    let start = audio.iter().position(loud).unwrap_or(0);
    let end = audio.iter().rposition(loud).map_or(audio.len(), |i| i + 1);
    Ok((start, end))
}

/// Where the spoken part starts: centred in `slack` spare samples, moved by a seeded shift of at
/// most `jitter_ms` (and at most the room on either side).
fn offset(rng: &mut impl RngCore, slack: usize, jitter_ms: u32) -> usize {
    let centre = slack / 2;
    let jitter = (jitter_ms as usize * SAMPLE_RATE as usize / 1000).min(centre);
    centre - jitter + rng::below(rng, 2 * jitter + 1)
}

/// 16-bit samples of `x` in [-1, 1): rounded, and the whole clip scaled down when its peak
/// would overflow.
fn to_i16(x: &[f64]) -> Vec<i16> {
    let peak = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if peak * 32_768.0 > 32_767.0 {
        32_767.0 / peak
    } else {
        32_768.0
    };
    x.iter().map(|v| (v * scale).round() as i16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(len: usize) -> Vec<i16> {
        let mut raw = vec![0i16; 500];
        raw.extend((0..len).map(|i| if i % 2 == 0 { 8_000 } else { -8_000 }));
        raw.extend([0; 700]);
        raw
    }

    fn quiet(seed: u64) -> Placement {
        Placement {
            seed,
            jitter_ms: 100,
            noise: Noise::None,
            snr_db: None,
        }
    }

    #[test]
    fn the_spoken_part_is_placed_near_the_centre_and_silence_around_it_is_zero() {
        let r = Resampler::new(SAMPLE_RATE, SAMPLE_RATE);
        let clip = render(&word(4_000), SAMPLE_RATE, &r, quiet(3)).unwrap();
        assert_eq!(clip.samples.len(), CLIP_SAMPLES);
        assert!(!clip.trimmed);
        let first = clip.samples.iter().position(|&s| s.abs() > 1000).unwrap();
        assert!((6_000 - 1_600..=6_000 + 1_600).contains(&first), "{first}");
        assert_eq!(
            clip,
            render(&word(4_000), SAMPLE_RATE, &r, quiet(3)).unwrap()
        );
        let offsets: std::collections::BTreeSet<usize> = (0..20)
            .map(|seed| {
                let c = render(&word(4_000), SAMPLE_RATE, &r, quiet(seed)).unwrap();
                c.samples.iter().position(|&s| s.abs() > 1000).unwrap()
            })
            .collect();
        assert!(offsets.len() > 10, "{offsets:?}");
    }

    #[test]
    fn a_long_word_is_cut_and_flagged() {
        let r = Resampler::new(SAMPLE_RATE, SAMPLE_RATE);
        let clip = render(&word(20_000), SAMPLE_RATE, &r, quiet(1)).unwrap();
        assert!(clip.trimmed);
        assert_eq!(clip.samples.len(), CLIP_SAMPLES);
    }

    #[test]
    fn noise_fills_the_silence_and_silence_is_refused() {
        let r = Resampler::new(SAMPLE_RATE, SAMPLE_RATE);
        let noisy = Placement {
            noise: Noise::White,
            snr_db: Some(10),
            ..quiet(5)
        };
        let clip = render(&word(4_000), SAMPLE_RATE, &r, noisy).unwrap();
        assert_ne!(clip.samples[10], 0);
        assert!(render(&[0; 100], SAMPLE_RATE, &r, quiet(1)).is_err());
    }

    #[test]
    fn overflowing_peaks_scale_the_clip_down() {
        assert_eq!(to_i16(&[0.5, -0.25]), [16_384, -8_192]);
        assert_eq!(to_i16(&[0.5, -1.0]), [16_384, -32_767]);
        assert_eq!(to_i16(&[2.0, -1.0]), [32_767, -16_384]);
    }
}
