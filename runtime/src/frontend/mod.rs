//! The audio front-end (cargo feature `audio-frontend`): 16-bit PCM as it arrives ->
//! periodic Hann window -> real FFT -> power spectrum -> mel filter bank -> log (-> DCT to
//! MFCCs), frame by frame, into a ring of the last second of feature frames: the input of a
//! keyword model. No allocation; the host (the trainer's features) and the device compute the
//! same bits (IEEE f32 arithmetic, no fused multiply-add; the tables in f64 with `libm`).
//!
//! A model carries the front-end it was trained with (format v6,
//! [`crate::format::Extension::front_end`]); [`FrontEnd::for_model`] builds it and refuses
//! audio of other settings.
//!
//! | file | what |
//! |---|---|
//! | [`spec`] | [`FrontEndSpec`] (always compiled: the format decodes it) and its validation |
//! | [`window`] | the Hann window |
//! | [`fft`] | `microfft`'s real FFT and the power spectrum |
//! | [`mel`] | the mel filter bank |
//! | [`log_dct`] | the log and the DCT |
//! | [`ring`] | [`FeatureRing`]: the last second of frames |
//! | `stream` | [`FrontEnd`]: PCM in, frames out |
//! | [`synth`] | synthetic test clips (chirps and seeded noise) |
//!
//! ```
//! # #[cfg(feature = "audio-frontend")] {
//! use fewshot_runtime::frontend::{FrontEnd, FrontEndSpec};
//! // 16 kHz, 30 ms frames every 20 ms, FFT 512, 40 log-mel bands: 49 frames a second.
//! let spec = FrontEndSpec::KEYWORD;
//! let mut fe = Box::new(FrontEnd::<512, 40, { 49 * 40 }>::new(&spec).unwrap());
//! let tone: Vec<i16> = (0..16_000)
//!     .map(|n| (8000.0 * (2.0 * std::f32::consts::PI * 1000.0 * n as f32 / 16_000.0).sin()) as i16)
//!     .collect();
//! // Audio arrives in chunks of any size.
//! let mut frames = 0;
//! for chunk in tone.chunks(100) {
//!     frames += fe.push(chunk).unwrap();
//! }
//! assert_eq!(frames, 49);
//! let mut input = vec![0.0; spec.input_len()];
//! assert_eq!(fe.features(&mut input), Ok(49));
//! // The 1 kHz band is the loudest of the first frame.
//! let first = &input[..40];
//! let loudest = (0..40).max_by(|&a, &b| first[a].total_cmp(&first[b])).unwrap();
//! assert!((12..16).contains(&loudest), "{loudest}");
//! # }
//! ```

pub mod spec;
pub use spec::{AudioConfig, FrontEndSpec};

#[cfg(feature = "audio-frontend")]
pub mod fft;
#[cfg(feature = "audio-frontend")]
pub mod log_dct;
#[cfg(feature = "audio-frontend")]
pub mod mel;
#[cfg(feature = "audio-frontend")]
pub mod ring;
#[cfg(feature = "audio-frontend")]
mod stream;
#[cfg(feature = "audio-frontend")]
pub mod synth;
#[cfg(feature = "audio-frontend")]
pub mod window;

#[cfg(feature = "audio-frontend")]
pub use ring::FeatureRing;
#[cfg(feature = "audio-frontend")]
pub use stream::FrontEnd;
