//! The seeded random numbers of the generator: ChaCha8 streams, an unbiased-enough index draw
//! and a Fisher-Yates shuffle, written here so that the output depends on no `rand` version.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The independent random streams the generator draws from (one ChaCha8 stream each).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    /// The train / novel split of the word list.
    WordSplit = 1,
    /// The seen / unseen split of the voices and variants.
    VoiceSplit = 2,
    /// The renditions: voice and variant cycles, speed, pitch, noise, per-clip seeds.
    Schedule = 3,
}

/// The generator for `stream` of `seed`.
pub(crate) fn stream(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// The generator of one clip (its offset and its noise), from the clip's recorded seed.
pub(crate) fn clip(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A number in `0..n` (`n > 0`; the bias of a 32-bit multiply-shift is below `n / 2^32`).
pub(crate) fn below(rng: &mut impl RngCore, n: usize) -> usize {
    ((u64::from(rng.next_u32()) * n as u64) >> 32) as usize
}

/// A uniform number in `[-1, 1)`.
pub(crate) fn symmetric(rng: &mut impl RngCore) -> f64 {
    f64::from(rng.next_u32()) / f64::from(1u32 << 31) - 1.0
}

/// Shuffles `items` in place (Fisher-Yates).
pub(crate) fn shuffle<T>(rng: &mut impl RngCore, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(rng, i + 1));
    }
}

/// `0..n` in a seeded order.
pub(crate) fn permutation(rng: &mut impl RngCore, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(rng, &mut order);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_reaches_every_value() {
        let mut rng = stream(7, Stream::Schedule);
        let mut seen = [false; 5];
        for _ in 0..200 {
            let i = below(&mut rng, 5);
            assert!(i < 5);
            seen[i] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn streams_differ_and_repeat() {
        let a = permutation(&mut stream(1, Stream::WordSplit), 50);
        let b = permutation(&mut stream(1, Stream::VoiceSplit), 50);
        assert_ne!(a, b);
        assert_eq!(a, permutation(&mut stream(1, Stream::WordSplit), 50));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn symmetric_is_in_half_open_unit_interval() {
        let mut rng = clip(3);
        for _ in 0..1000 {
            let x = symmetric(&mut rng);
            assert!((-1.0..1.0).contains(&x));
        }
    }
}
