//! The front-end's settings ([`FrontEndSpec`]), as a model's header carries them (format v6,
//! [`crate::format::Extension::front_end`]), and their validation. Always compiled: a runtime
//! without the `audio-frontend` feature still decodes (and refuses) such a model.
//!
//! ```
//! use fewshot_runtime::frontend::FrontEndSpec;
//! use fewshot_runtime::Error;
//! let spec = FrontEndSpec::KEYWORD;
//! assert_eq!(spec.validate(), Ok(()));
//! assert_eq!((spec.frames_per_second(), spec.features_per_frame()), (49, 40));
//! assert_eq!(spec.input_len(), 49 * 40);
//! let odd = FrontEndSpec { fft_size: 500, ..spec };
//! assert!(matches!(odd.validate(), Err(Error::FrontEndSetting { field: "fft_size (a power of two)", value: 500, .. })));
//! ```

use crate::Error;
use serde::{Deserialize, Serialize};

/// Smallest FFT the front-end runs.
pub const MIN_FFT_SIZE: u16 = 64;
/// Largest FFT the front-end runs (the `microfft` tables compiled in: `size-1024`, whose real
/// FFT reaches 2048 points).
pub const MAX_FFT_SIZE: u16 = 2048;
/// Most mel bands.
pub const MAX_MEL_BINS: u16 = 128;
/// Lowest sample rate accepted, in Hz.
pub const MIN_SAMPLE_RATE: u32 = 1000;
/// Highest sample rate accepted, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 96_000;

/// How 16-bit PCM becomes features, frame by frame: every `hop` samples, the last `frame_len`
/// samples (scaled to `[-1, 1)`) times a periodic Hann window, zero-padded to `fft_size`, real
/// FFT, power spectrum `|X_k|^2` over the `fft_size / 2 + 1` bins, `mel_bins` triangular mel
/// filters (HTK mel scale `2595 log10(1 + f / 700)`, centres evenly spaced in mel between
/// `f_min` and `f_max`, peak 1), `ln(energy + log_offset)`, then, when `dct_coeffs > 0`, the
/// first `dct_coeffs` coefficients of the orthonormal DCT-II of the log energies (MFCCs).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrontEndSpec {
    /// Samples per second ([`MIN_SAMPLE_RATE`] to [`MAX_SAMPLE_RATE`]).
    pub sample_rate: u32,
    /// Samples in one frame (1 to `fft_size`, at most one second).
    pub frame_len: u16,
    /// Samples between the starts of two frames (1 to `frame_len`).
    pub hop: u16,
    /// FFT points: a power of two from [`MIN_FFT_SIZE`] to [`MAX_FFT_SIZE`].
    pub fft_size: u16,
    /// Mel bands (1 to [`MAX_MEL_BINS`], at most `fft_size / 2 + 1`).
    pub mel_bins: u16,
    /// Lower edge of the lowest band, in Hz (`0 <= f_min < f_max`).
    pub f_min: f32,
    /// Upper edge of the highest band, in Hz (at most `sample_rate / 2`).
    pub f_max: f32,
    /// Added to each band's energy before the log (finite, > 0).
    pub log_offset: f32,
    /// DCT coefficients kept (MFCCs); 0: the log-mel energies themselves.
    pub dct_coeffs: u16,
}

/// The audio an application feeds a model's front-end ([`FrontEnd::for_model`]
/// checks it against the model's [`FrontEndSpec`]).
///
/// [`FrontEnd::for_model`]: crate::frontend::FrontEnd::for_model
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioConfig {
    /// Samples per second of the microphone stream.
    pub sample_rate: u32,
    /// Interleaved channels (the front-end takes mono: 1).
    pub channels: u16,
}

fn setting(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), Error> {
    if value < min || value > max {
        return Err(Error::FrontEndSetting {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

/// Hz as the error reports them: rounded down, `u32::MAX` when not finite or negative.
fn hz(f: f32) -> u32 {
    if f.is_finite() && f >= 0.0 {
        f as u32
    } else {
        u32::MAX
    }
}

impl FrontEndSpec {
    /// A typical keyword-spotting front-end: 16 kHz, 30 ms frames (480 samples) every 20 ms
    /// (320), FFT 512, 40 log-mel bands from 20 Hz to 8 kHz, `log_offset` 1e-6.
    pub const KEYWORD: FrontEndSpec = FrontEndSpec {
        sample_rate: 16_000,
        frame_len: 480,
        hop: 320,
        fft_size: 512,
        mel_bins: 40,
        f_min: 20.0,
        f_max: 8000.0,
        log_offset: 1e-6,
        dct_coeffs: 0,
    };

    /// Checks every setting against its range ([`Error::FrontEndSetting`] names the field,
    /// the value and the range).
    pub fn validate(&self) -> Result<(), Error> {
        setting(
            "sample_rate",
            self.sample_rate,
            MIN_SAMPLE_RATE,
            MAX_SAMPLE_RATE,
        )?;
        let fft = u32::from(self.fft_size);
        let (min_fft, max_fft) = (u32::from(MIN_FFT_SIZE), u32::from(MAX_FFT_SIZE));
        setting("fft_size", fft, min_fft, max_fft)?;
        if !self.fft_size.is_power_of_two() {
            return Err(Error::FrontEndSetting {
                field: "fft_size (a power of two)",
                value: fft,
                min: min_fft,
                max: max_fft,
            });
        }
        let frame = u32::from(self.frame_len);
        setting("frame_len", frame, 1, fft.min(self.sample_rate))?;
        setting("hop", u32::from(self.hop), 1, frame)?;
        let bins = self.bins() as u32;
        let mels = u32::from(self.mel_bins);
        setting("mel_bins", mels, 1, bins.min(u32::from(MAX_MEL_BINS)))?;
        setting("dct_coeffs", u32::from(self.dct_coeffs), 0, mels)?;
        let nyquist = self.sample_rate / 2;
        setting("f_max", hz(self.f_max), 1, nyquist)?;
        if self.f_max > nyquist as f32 {
            return Err(Error::FrontEndSetting {
                field: "f_max",
                value: hz(self.f_max),
                min: 1,
                max: nyquist,
            });
        }
        let below_max = self.f_min < self.f_max;
        if hz(self.f_min) == u32::MAX || !below_max {
            return Err(Error::FrontEndSetting {
                field: "f_min (below f_max)",
                value: hz(self.f_min),
                min: 0,
                max: hz(self.f_max),
            });
        }
        if !(self.log_offset.is_finite() && self.log_offset > 0.0) {
            return Err(Error::FrontEndSetting {
                field: "log_offset (finite, > 0; value: its f32 bits)",
                value: self.log_offset.to_bits(),
                min: 1,
                max: f32::MAX.to_bits(),
            });
        }
        Ok(())
    }

    /// Bins of the power spectrum: `fft_size / 2 + 1`.
    pub fn bins(&self) -> usize {
        usize::from(self.fft_size) / 2 + 1
    }

    /// Values per feature frame: `dct_coeffs`, or `mel_bins` without a DCT.
    pub fn features_per_frame(&self) -> usize {
        if self.dct_coeffs > 0 {
            usize::from(self.dct_coeffs)
        } else {
            usize::from(self.mel_bins)
        }
    }

    /// Whole frames in one second of audio: `1 + (sample_rate - frame_len) / hop` (a valid
    /// spec has `1 <= hop <= frame_len <= sample_rate`; 0 for an invalid one).
    pub fn frames_per_second(&self) -> usize {
        let rate = self.sample_rate as usize;
        let frame = usize::from(self.frame_len);
        match (rate.checked_sub(frame), usize::from(self.hop)) {
            (Some(rest), hop) if hop > 0 => 1 + rest / hop,
            _ => 0,
        }
    }

    /// The model input the front-end makes of one second: `frames_per_second` frames of
    /// `features_per_frame` values, frame-major (the oldest frame first).
    pub fn input_len(&self) -> usize {
        self.frames_per_second() * self.features_per_frame()
    }

    /// Refuses audio that does not match: [`Error::AudioMismatch`] names the setting, the
    /// model's value and the one given.
    pub fn check_audio(&self, audio: AudioConfig) -> Result<(), Error> {
        if audio.sample_rate != self.sample_rate {
            return Err(Error::AudioMismatch {
                what: "sample_rate",
                model: self.sample_rate,
                given: audio.sample_rate,
            });
        }
        if audio.channels != 1 {
            return Err(Error::AudioMismatch {
                what: "channels",
                model: 1,
                given: u32::from(audio.channels),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(spec: FrontEndSpec) -> Option<&'static str> {
        match spec.validate() {
            Err(Error::FrontEndSetting { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn each_setting_out_of_range_is_named() {
        let k = FrontEndSpec::KEYWORD;
        assert_eq!(
            field(FrontEndSpec {
                sample_rate: 500,
                ..k
            }),
            Some("sample_rate")
        );
        assert_eq!(
            field(FrontEndSpec {
                fft_size: 4096,
                ..k
            }),
            Some("fft_size")
        );
        assert_eq!(
            field(FrontEndSpec {
                frame_len: 600,
                ..k
            }),
            Some("frame_len")
        );
        assert_eq!(field(FrontEndSpec { hop: 0, ..k }), Some("hop"));
        assert_eq!(field(FrontEndSpec { hop: 481, ..k }), Some("hop"));
        assert_eq!(field(FrontEndSpec { mel_bins: 0, ..k }), Some("mel_bins"));
        assert_eq!(field(FrontEndSpec { mel_bins: 129, ..k }), Some("mel_bins"));
        let small = FrontEndSpec {
            fft_size: 64,
            frame_len: 64,
            hop: 32,
            mel_bins: 34,
            ..k
        };
        assert_eq!(
            small.validate(),
            Err(Error::FrontEndSetting {
                field: "mel_bins",
                value: 34,
                min: 1,
                max: 33
            })
        );
        assert_eq!(
            field(FrontEndSpec {
                dct_coeffs: 41,
                ..k
            }),
            Some("dct_coeffs")
        );
        assert_eq!(
            FrontEndSpec { f_max: 8001.0, ..k }.validate(),
            Err(Error::FrontEndSetting {
                field: "f_max",
                value: 8001,
                min: 1,
                max: 8000
            })
        );
        assert_eq!(field(FrontEndSpec { f_max: 8000.5, ..k }), Some("f_max"));
        assert_eq!(
            field(FrontEndSpec {
                f_max: f32::NAN,
                ..k
            }),
            Some("f_max")
        );
        assert_eq!(
            field(FrontEndSpec { f_min: 8000.0, ..k }),
            Some("f_min (below f_max)")
        );
        assert_eq!(
            field(FrontEndSpec { f_min: -1.0, ..k }),
            Some("f_min (below f_max)")
        );
        assert!(field(FrontEndSpec {
            log_offset: 0.0,
            ..k
        })
        .is_some_and(|f| f.starts_with("log_offset")));
        assert!(field(FrontEndSpec {
            log_offset: f32::INFINITY,
            ..k
        })
        .is_some_and(|f| f.starts_with("log_offset")));
        let mfcc = FrontEndSpec {
            dct_coeffs: 10,
            ..k
        };
        assert_eq!(mfcc.validate(), Ok(()));
        assert_eq!(mfcc.input_len(), 490);
    }

    #[test]
    fn audio_settings_that_differ_are_refused_with_both_values() {
        let k = FrontEndSpec::KEYWORD;
        let ok = AudioConfig {
            sample_rate: 16_000,
            channels: 1,
        };
        assert_eq!(k.check_audio(ok), Ok(()));
        assert_eq!(
            k.check_audio(AudioConfig {
                sample_rate: 8000,
                ..ok
            }),
            Err(Error::AudioMismatch {
                what: "sample_rate",
                model: 16_000,
                given: 8000
            })
        );
        assert_eq!(
            k.check_audio(AudioConfig { channels: 2, ..ok }),
            Err(Error::AudioMismatch {
                what: "channels",
                model: 1,
                given: 2
            })
        );
    }
}
