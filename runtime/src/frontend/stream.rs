//! [`FrontEnd`]: PCM in as it arrives, feature frames out into the [`FeatureRing`].
//!
//! It keeps the last `frame_len` samples; each time it has them, it computes a frame (window,
//! power spectrum, mel bands, log, DCT) into the ring and drops the oldest `hop` samples. So
//! feeding a clip in chunks of any size gives the same frames, bit for bit, as feeding it whole.

use super::fft::power_spectrum;
use super::log_dct::LogDct;
use super::mel::MelBank;
use super::ring::FeatureRing;
use super::spec::{AudioConfig, FrontEndSpec};
use super::window::hann;
use crate::{Error, Model};

/// The front-end of a spec with at most `FFT` points and `MELS` mel bands, keeping up to `RING`
/// feature values (a second of frames: [`FrontEndSpec::input_len`]). No allocation: every
/// table and buffer is in the struct (`FFT` x 14 bytes + `MELS` x 18 bytes + `RING` x 4 bytes,
/// about; see [`core::mem::size_of`]).
#[derive(Debug, Clone)]
pub struct FrontEnd<const FFT: usize, const MELS: usize, const RING: usize> {
    spec: FrontEndSpec,
    window: [f32; FFT],
    /// The samples of the frame being filled.
    pcm: [i16; FFT],
    filled: usize,
    /// The windowed frame, then its power spectrum.
    buf: [f32; FFT],
    mel: MelBank<FFT, MELS>,
    log_dct: LogDct<MELS>,
    energies: [f32; MELS],
    ring: FeatureRing<RING>,
}

impl<const FFT: usize, const MELS: usize, const RING: usize> FrontEnd<FFT, MELS, RING> {
    /// The front-end of `spec`: validated ([`Error::FrontEndSetting`]), the capacities checked
    /// ([`Error::Capacity`]), the window, mel weights and DCT cosines computed.
    pub fn new(spec: &FrontEndSpec) -> Result<Self, Error> {
        spec.validate()?;
        let fft = usize::from(spec.fft_size);
        Error::check_capacity("FFT points (FFT)", fft, FFT)?;
        let mut window = [0.0; FFT];
        hann(
            window
                .get_mut(..usize::from(spec.frame_len))
                .ok_or(Error::internal("frontend::new"))?,
        );
        // The PCM's scale folded into the window: `s * (w / 2^15)` has the bits of
        // `(s / 2^15) * w` (a power of two, every product a normal float), one multiply less.
        for w in &mut window {
            *w *= 1.0 / 32768.0;
        }
        let log_dct = LogDct::new(spec)?;
        let ring = FeatureRing::new(log_dct.width(), spec.frames_per_second())?;
        Ok(FrontEnd {
            spec: *spec,
            window,
            pcm: [0; FFT],
            filled: 0,
            buf: [0.0; FFT],
            mel: MelBank::new(spec)?,
            log_dct,
            energies: [0.0; MELS],
            ring,
        })
    }

    /// The front-end a model was trained with ([`Model::front_end`]), for audio of `audio`'s
    /// settings: a model without one is [`Error::NoFrontEnd`], audio of another sample rate
    /// (or not mono) [`Error::AudioMismatch`] naming both values.
    pub fn for_model(model: &Model<'_>, audio: AudioConfig) -> Result<Self, Error> {
        let spec = model.front_end().ok_or(Error::NoFrontEnd)?;
        spec.check_audio(audio)?;
        Self::new(&spec)
    }

    /// Consumes `pcm` (mono, 16-bit) and computes every frame it completes into the ring;
    /// returns how many.
    pub fn push(&mut self, mut pcm: &[i16]) -> Result<usize, Error> {
        let frame = usize::from(self.spec.frame_len);
        let hop = usize::from(self.spec.hop);
        let mut frames = 0;
        while !pcm.is_empty() {
            let take = (frame - self.filled).min(pcm.len());
            let (now, rest) = pcm.split_at(take);
            self.pcm
                .get_mut(self.filled..self.filled + take)
                .ok_or(Error::internal("frontend::push"))?
                .copy_from_slice(now);
            self.filled += take;
            pcm = rest;
            if self.filled == frame {
                self.frame()?;
                frames += 1;
                self.pcm.copy_within(hop..frame, 0);
                self.filled = frame - hop;
            }
        }
        Ok(frames)
    }

    /// One frame from the `frame_len` samples held, into the ring.
    fn frame(&mut self) -> Result<(), Error> {
        let (frame, fft) = (
            usize::from(self.spec.frame_len),
            usize::from(self.spec.fft_size),
        );
        let buf = self
            .buf
            .get_mut(..fft)
            .ok_or(Error::internal("frontend::frame"))?;
        let (head, tail) = buf.split_at_mut(frame);
        for ((b, &s), &w) in head.iter_mut().zip(&self.pcm).zip(&self.window) {
            *b = f32::from(s) * w;
        }
        tail.fill(0.0);
        power_spectrum::<FFT>(buf)?;
        let mels = usize::from(self.spec.mel_bins);
        let energies = self
            .energies
            .get_mut(..mels)
            .ok_or(Error::internal("frontend::frame"))?;
        self.mel.apply(buf, energies)?;
        self.log_dct.apply(energies, self.ring.slot()?)?;
        self.ring.commit();
        Ok(())
    }

    /// The frames of the last second (at most), oldest first.
    pub fn ring(&self) -> &FeatureRing<RING> {
        &self.ring
    }

    /// Copies the frames held, oldest first, frame-major, to the front of `out`: the model's
    /// input once the ring is full ([`FeatureRing::features`]); returns the frames copied.
    pub fn features(&self, out: &mut [f32]) -> Result<usize, Error> {
        self.ring.features(out)
    }

    /// Forgets the samples and frames held (a new clip).
    pub fn reset(&mut self) {
        self.filled = 0;
        self.ring.clear();
    }

    /// Its spec.
    pub fn spec(&self) -> &FrontEndSpec {
        &self.spec
    }
}
