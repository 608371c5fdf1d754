//! Data sets the project makes itself, deterministically from a seed.
//!
//! - [`words`]: short English words spoken by every English voice and voice variant of
//!   espeak-ng, at several speeds and pitches, with seeded background noise: 1 s, 16 kHz,
//!   16-bit mono WAV clips and a manifest (`cargo xtask data words`; `data/README.md`).
//!
//! The generators run on the host; the readers ([`words::Manifest`]) are what the trainer and
//! the tests use to find and load the clips.
#![deny(missing_docs)]

pub mod words;
