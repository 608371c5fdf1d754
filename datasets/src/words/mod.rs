//! Spoken words synthesised with espeak-ng: the generator behind `cargo xtask data words`,
//! and the reader of what it writes.
//!
//! A set is a folder (`data/cache/words/` by default) holding `clips/*.wav` (RIFF PCM, 16-bit,
//! mono, 16 kHz, exactly one second each), `manifest.csv` (one [`Record`] per clip: word, its
//! train / novel split, voice, variant, their seen / unseen split, speed, pitch, noise, SNR,
//! seed, SHA-256 of the file) and `manifest.json` ([`Info`]: parameters, espeak-ng version,
//! the splits, counts). Every choice comes from [`Params::seed`] through a [`plan`]; the same
//! seed, word list and espeak-ng version give the same bytes.
//!
//! The plan needs no espeak-ng: the word and voice splits and every rendition are known before
//! any audio is made.
//!
//! ```
//! use fewshot_datasets::words::{parse_word_list, plan, Params, WordSplit};
//!
//! let words = parse_word_list("yes\nno\nstop\ngo\nleft\nright\n")?;
//! let params = Params { words: None, renditions: 2, ..Params::small() };
//! // 8 voices and 102 variants, as espeak-ng 1.51 lists them.
//! let plan = plan(words.len(), 8, 102, &params);
//! assert_eq!(plan.renditions.len(), 12);
//! // One word in five (the first of the seeded order among them) is novel.
//! let novel = plan.words.iter().filter(|(_, s)| *s == WordSplit::Novel).count();
//! assert_eq!(novel, 2);
//! # anyhow::Ok(())
//! ```
//!
//! Making a set and reading it back (needs espeak-ng: [`ensure_installed`]):
//!
//! ```no_run
//! use fewshot_datasets::words::{generate, read_word_list, Manifest, Params, VoiceSplit};
//! use std::path::Path;
//!
//! let words = read_word_list(Path::new("data/words.txt"))?;
//! let out = Path::new("data/cache/words");
//! generate(&words, &Params::default(), out, 2, &|_, _| {})?;
//! let set = Manifest::read(out)?;
//! let unseen = set.records.iter().filter(|r| r.voice_split == VoiceSplit::Unseen);
//! for record in unseen.take(3) {
//!     let samples: Vec<i16> = set.load(record)?; // 16 000 samples, hash checked
//!     println!("{} by {}+{}: {} samples", record.word, record.voice, record.variant, samples.len());
//! }
//! # anyhow::Ok(())
//! ```

mod clip;
mod espeak;
mod generate;
mod manifest;
mod noise;
mod params;
mod resample;
mod rng;
mod schedule;
mod vocab;
mod wav;

pub use espeak::{ensure_installed, version as espeak_version, voices, Voices, NO_VARIANT};
pub use generate::{generate, Summary};
pub use manifest::{
    sha256_hex, Counts, Info, Manifest, Named, Record, VoiceSplit, Word, CLIPS_DIR, MANIFEST_CSV,
    MANIFEST_JSON,
};
pub use noise::Noise;
pub use params::Params;
pub use resample::Resampler;
pub use schedule::{plan, Plan, Rendition};
pub use vocab::{parse_word_list, read_word_list, split_words, WordSplit};
pub use wav::{decode as decode_clip, CLIP_SAMPLES, SAMPLE_RATE};

/// The version of the generator's algorithm, recorded in `manifest.json`: a change of any
/// byte the generator writes for the same parameters must increase it (it invalidates caches).
pub const GENERATOR_VERSION: u32 = 1;
