//! The word list (`data/words.txt`) and its seeded split into meta-training and novel words.

use super::rng::{self, Stream};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// Whether a word may be seen by training (`train`) or is kept for evaluation (`novel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordSplit {
    /// A meta-training word.
    Train,
    /// A novel word: no training step sees it.
    Novel,
}

/// Reads a word list: one lowercase ASCII word per line, no duplicates.
pub fn read_word_list(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the word list {}", path.display()))?;
    parse_word_list(&text).with_context(|| format!("in {}", path.display()))
}

/// Parses a word list (see [`read_word_list`]); blank lines are skipped.
pub fn parse_word_list(text: &str) -> Result<Vec<String>> {
    let mut seen = HashSet::new();
    let mut words = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let word = line.trim();
        if word.is_empty() {
            continue;
        }
        if !word.bytes().all(|b| b.is_ascii_lowercase()) {
            bail!("line {}: {word:?} is not a lowercase ASCII word", i + 1);
        }
        if !seen.insert(word) {
            bail!("line {}: {word:?} is listed twice", i + 1);
        }
        words.push(word.to_string());
    }
    if words.is_empty() {
        bail!("the word list is empty");
    }
    Ok(words)
}

/// The words in a seeded order with their split: every `novel_every`-th word of the order
/// (the first, the `novel_every + 1`-th, ...) is novel. A prefix of the order is therefore a
/// smaller set with both splits, and a word keeps its split whatever prefix is taken.
pub fn split_words(n_words: usize, seed: u64, novel_every: usize) -> Vec<(usize, WordSplit)> {
    let order = rng::permutation(&mut rng::stream(seed, Stream::WordSplit), n_words);
    order
        .into_iter()
        .enumerate()
        .map(|(position, word)| {
            let novel = novel_every > 0 && position % novel_every == 0;
            (
                word,
                if novel {
                    WordSplit::Novel
                } else {
                    WordSplit::Train
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_refuses_duplicates_and_non_words() {
        assert_eq!(parse_word_list("yes\n\nno\n").unwrap(), ["yes", "no"]);
        assert!(parse_word_list("yes\nno\nyes\n").is_err());
        assert!(parse_word_list("Yes\n").is_err());
        assert!(parse_word_list("two words\n").is_err());
        assert!(parse_word_list("\n").is_err());
    }

    #[test]
    fn split_is_seeded_and_one_in_n_is_novel() {
        let split = split_words(100, 5, 5);
        assert_eq!(split, split_words(100, 5, 5));
        assert_ne!(split, split_words(100, 6, 5));
        let novel = split.iter().filter(|(_, s)| *s == WordSplit::Novel).count();
        assert_eq!(novel, 20);
        let prefix = &split[..8];
        assert!(prefix.iter().any(|(_, s)| *s == WordSplit::Novel));
        assert!(prefix.iter().any(|(_, s)| *s == WordSplit::Train));
    }

    #[test]
    fn the_committed_word_list_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/words.txt");
        let words = read_word_list(&path).unwrap();
        assert!((200..=500).contains(&words.len()), "{} words", words.len());
    }
}
