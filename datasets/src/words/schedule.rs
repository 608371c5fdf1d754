//! The deterministic schedule: which word is said by which voice and variant, at what speed
//! and pitch, with what noise, for every clip.
//!
//! The full cross product is far too large, so each word gets [`Params::renditions`] clips.
//! Voices and variants are dealt from balanced cycles (each cycle a fresh seeded permutation
//! of all of them), so every voice and every variant appears once the set has as many clips
//! as there are variants, and their counts differ by at most one; speed, pitch, noise and SNR
//! are drawn uniformly from their lists.

use super::noise::Noise;
use super::params::Params;
use super::rng::{self, Stream};
use super::vocab::{split_words, WordSplit};
use rand_chacha::rand_core::RngCore;

/// One clip to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendition {
    /// Index of the word in the word list.
    pub word: usize,
    /// The word's split.
    pub word_split: WordSplit,
    /// Which rendition of the word (0-based).
    pub take: usize,
    /// Index of the voice.
    pub voice: usize,
    /// Index of the variant.
    pub variant: usize,
    /// Whether the voice or the variant is held out.
    pub unseen: bool,
    /// Speaking rate, words per minute.
    pub speed_wpm: u32,
    /// Pitch, 0 to 99.
    pub pitch: u32,
    /// Noise kind.
    pub noise: Noise,
    /// Signal-to-noise ratio (dB); `None` without noise.
    pub snr_db: Option<i32>,
    /// The seed of the clip's offset and noise.
    pub seed: u64,
}

/// The schedule of a set, with the splits it was made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The words taken (indices into the list) in the seeded order, with their split.
    pub words: Vec<(usize, WordSplit)>,
    /// Per voice: held out.
    pub unseen_voices: Vec<bool>,
    /// Per variant: held out.
    pub unseen_variants: Vec<bool>,
    /// Every clip, word by word in the seeded order.
    pub renditions: Vec<Rendition>,
}

/// The plan for a list of `n_words` words, `n_voices` voices and `n_variants` variants.
pub fn plan(n_words: usize, n_voices: usize, n_variants: usize, params: &Params) -> Plan {
    let mut words = split_words(n_words, params.seed, params.novel_every);
    words.truncate(params.words.unwrap_or(n_words));
    let mut split_rng = rng::stream(params.seed, Stream::VoiceSplit);
    let unseen_voices = held_out(&mut split_rng, n_voices, params.unseen_voices);
    let n_unseen_variants = (n_variants * params.unseen_variants_percent + 50) / 100;
    let unseen_variants = held_out(&mut split_rng, n_variants, n_unseen_variants);

    let mut rng = rng::stream(params.seed, Stream::Schedule);
    let mut voices = Cycle::new(n_voices);
    let mut variants = Cycle::new(n_variants);
    let mut renditions = Vec::with_capacity(words.len() * params.renditions);
    for &(word, word_split) in &words {
        for take in 0..params.renditions {
            let voice = voices.next(&mut rng);
            let variant = variants.next(&mut rng);
            let speed_wpm = pick(&mut rng, &params.speeds_wpm).unwrap_or(175);
            let pitch = pick(&mut rng, &params.pitches).unwrap_or(50);
            let noise = pick(&mut rng, &params.noises).unwrap_or(Noise::None);
            let snr = pick(&mut rng, &params.snrs_db);
            renditions.push(Rendition {
                word,
                word_split,
                take,
                voice,
                variant,
                unseen: unseen_voices.get(voice) == Some(&true)
                    || unseen_variants.get(variant) == Some(&true),
                speed_wpm,
                pitch,
                noise,
                snr_db: if noise == Noise::None { None } else { snr },
                seed: rng.next_u64(),
            });
        }
    }
    Plan {
        words,
        unseen_voices,
        unseen_variants,
        renditions,
    }
}

/// `n` flags, `k` of them (seeded) set.
fn held_out(rng: &mut impl RngCore, n: usize, k: usize) -> Vec<bool> {
    let mut flags = vec![false; n];
    for i in rng::permutation(rng, n).into_iter().take(k) {
        flags[i] = true;
    }
    flags
}

fn pick<T: Copy>(rng: &mut impl RngCore, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng::below(rng, items.len())])
}

/// Deals `0..n` in seeded permutations, one after another.
struct Cycle {
    order: Vec<usize>,
    next: usize,
}

impl Cycle {
    fn new(n: usize) -> Self {
        Self {
            order: (0..n).collect(),
            next: n,
        }
    }

    fn next(&mut self, rng: &mut impl RngCore) -> usize {
        if self.next >= self.order.len() {
            rng::shuffle(rng, &mut self.order);
            self.next = 0;
        }
        let item = self.order.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(n: usize, of: impl Iterator<Item = usize>) -> Vec<usize> {
        let mut c = vec![0; n];
        of.for_each(|i| c[i] += 1);
        c
    }

    #[test]
    fn every_voice_and_variant_appears_balanced() {
        let plan = plan(384, 8, 102, &Params::default());
        assert_eq!(plan.renditions.len(), 384 * 24);
        for (n, which) in [(8, 0), (102, 1)] {
            let c = counts(
                n,
                plan.renditions
                    .iter()
                    .map(|r| if which == 0 { r.voice } else { r.variant }),
            );
            let (min, max) = (c.iter().min().unwrap(), c.iter().max().unwrap());
            assert!(*min > 0 && max - min <= 1, "{c:?}");
        }
        assert_eq!(plan.unseen_voices.iter().filter(|&&u| u).count(), 1);
        assert_eq!(plan.unseen_variants.iter().filter(|&&u| u).count(), 15);
        let novel = plan.words.iter().filter(|(_, s)| *s == WordSplit::Novel);
        assert_eq!(novel.count(), 77);
    }

    #[test]
    fn draws_cover_their_lists_and_snr_follows_noise() {
        let params = Params::default();
        let plan = plan(50, 8, 102, &params);
        for r in &plan.renditions {
            assert_eq!(r.snr_db.is_some(), r.noise != Noise::None);
        }
        let speeds: std::collections::BTreeSet<u32> =
            plan.renditions.iter().map(|r| r.speed_wpm).collect();
        assert_eq!(speeds.len(), params.speeds_wpm.len());
        let noises = counts(4, plan.renditions.iter().map(|r| r.noise as usize));
        assert!(noises.iter().all(|&c| c > 150), "{noises:?}");
    }

    #[test]
    fn a_small_set_is_a_prefix_of_the_word_order_and_repeats() {
        let small = plan(384, 8, 102, &Params::small());
        let full = plan(384, 8, 102, &Params::default());
        assert_eq!(small.words[..], full.words[..8]);
        assert_eq!(small.renditions.len(), 24);
        assert_eq!(small, plan(384, 8, 102, &Params::small()));
        let other_seed = Params {
            seed: 15,
            ..Params::small()
        };
        assert_ne!(small.renditions, plan(384, 8, 102, &other_seed).renditions);
    }
}
