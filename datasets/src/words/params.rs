//! What a words data set is made from: the generator's parameters and their defaults.

use super::noise::Noise;
use serde::{Deserialize, Serialize};

/// The generator's parameters. Together with the word list, espeak-ng's version and
/// [`GENERATOR_VERSION`](super::GENERATOR_VERSION) they determine every byte of the set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The seed of every random choice.
    pub seed: u64,
    /// Only the first `N` words of the seeded word order (`None`: the whole list).
    pub words: Option<usize>,
    /// Clips per word.
    pub renditions: usize,
    /// Speaking rates drawn from (espeak-ng `-s`, words per minute; its default is 175).
    pub speeds_wpm: Vec<u32>,
    /// Pitches drawn from (espeak-ng `-p`, 0 to 99; its default is 50).
    pub pitches: Vec<u32>,
    /// Noise kinds drawn from.
    pub noises: Vec<Noise>,
    /// Signal-to-noise ratios (dB) drawn from for a clip with noise.
    pub snrs_db: Vec<i32>,
    /// One word in this many of the seeded order is novel (5: 20 %).
    pub novel_every: usize,
    /// Voices held out (`unseen`), drawn by the seed.
    pub unseen_voices: usize,
    /// Percentage of the variants held out (`unseen`), drawn by the seed.
    pub unseen_variants_percent: usize,
    /// The spoken part is centred in the second, shifted by a seeded offset of at most this
    /// many milliseconds either way (less when the word leaves less room).
    pub jitter_ms: u32,
}

impl Default for Params {
    /// The full set: every word of the list, 24 renditions each.
    fn default() -> Self {
        Self {
            seed: 14,
            words: None,
            renditions: 24,
            speeds_wpm: vec![120, 150, 175, 200, 230],
            pitches: vec![25, 40, 50, 60, 75],
            noises: Noise::ALL.to_vec(),
            snrs_db: vec![5, 10, 20, 30],
            novel_every: 5,
            unseen_voices: 1,
            unseen_variants_percent: 15,
            jitter_ms: 100,
        }
    }
}

impl Params {
    /// A tiny set for tests: 8 words, 3 renditions each (24 clips, a few seconds).
    pub fn small() -> Self {
        Self {
            words: Some(8),
            renditions: 3,
            ..Self::default()
        }
    }
}
