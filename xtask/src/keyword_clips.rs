//! `cargo xtask data keyword-clips [--words DIR]`: the spoken-word clips the firmware's keyword
//! demo embeds, cut out of the words set (`cargo xtask data words`, default
//! `data/cache/words`) into `firmware/fixtures/keyword-clips.bin` (raw little-endian 16-bit PCM,
//! 1 s at 16 kHz each, one after the other) and its index `keyword-clips.txt`.
//!
//! A fresh clone has no words set: the committed files are what the tests use, and this
//! command only re-makes them (the same set gives the same bytes).
//!
//! The pick, from the novel words (no training step sees them), in alphabetical order: the
//! first [`TAUGHT`] words are taught from the first [`SHOTS`] clips of a seen voice each, and
//! each has one held-out clip, its first clip of an unseen voice; the next word is never taught
//! and gives one clip of an unseen voice, to be rejected. Clips are in that order (taught words'
//! clips word by word, then the held-out ones, then the untaught one).

use anyhow::{bail, Context, Result};
use fewshot_datasets::words::{Manifest, Record, VoiceSplit, WordSplit};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Words taught on the device.
pub const TAUGHT: usize = 3;
/// Clips each taught word is taught from.
pub const SHOTS: usize = 3;

/// The files written, relative to the repository root.
const PCM: &str = "firmware/fixtures/keyword-clips.bin";
const INDEX: &str = "firmware/fixtures/keyword-clips.txt";

/// `cargo xtask data keyword-clips [--words DIR]`.
pub fn command(root: &Path, args: &[String]) -> Result<()> {
    let words = match args {
        [] => root.join(super::data::DEFAULT_OUT),
        [flag, dir] if flag == "--words" => PathBuf::from(dir),
        _ => bail!("usage: cargo xtask data keyword-clips [--words DIR]"),
    };
    let manifest = Manifest::read(&words).with_context(|| {
        format!(
            "no words set in {} (make it with `cargo xtask data words`)",
            words.display()
        )
    })?;
    let picked = pick(&manifest)?;
    let (mut pcm, mut index) = (Vec::new(), String::new());
    writeln!(
        index,
        "# The keyword demo's clips (firmware/fixtures/keyword-clips.bin: raw little-endian 16-bit\n\
         # PCM, 16 kHz mono, 16 000 samples each, in this order), synthesised by espeak-ng through\n\
         # `cargo xtask data words` (made by this project; data/README.md), cut out by\n\
         # `cargo xtask data keyword-clips`. Label: the class label a taught word is enrolled\n\
         # under, or the true word's label of a held-out clip; `-` for the untaught word.\n\
         # clip role label word file sha256"
    )?;
    for (i, (role, label, r)) in picked.iter().enumerate() {
        let samples = manifest.load(r)?;
        for s in &samples {
            pcm.extend_from_slice(&s.to_le_bytes());
        }
        let label = label.map_or("-".to_string(), |l| l.to_string());
        writeln!(
            index,
            "{i} {role} {label} {} {} {}",
            r.word, r.file, r.sha256
        )?;
    }
    for (file, bytes) in [(PCM, pcm.as_slice()), (INDEX, index.as_bytes())] {
        std::fs::write(root.join(file), bytes).with_context(|| format!("cannot write {file}"))?;
        println!("wrote {file} ({} bytes)", bytes.len());
    }
    Ok(())
}

/// The first clip of an unseen voice among `clips` (novel word number `word`).
fn first_unseen<'m>(clips: &[&'m Record], word: usize) -> Result<&'m Record> {
    clips
        .iter()
        .find(|r| r.voice_split == VoiceSplit::Unseen)
        .copied()
        .with_context(|| format!("novel word {word} has no clip of an unseen voice"))
}

/// The clips in fixture order: (role, label, record).
fn pick(m: &Manifest) -> Result<Vec<(&'static str, Option<usize>, &Record)>> {
    let words = m.by_word(WordSplit::Novel, None);
    let mut words = words.values();
    let mut taught = Vec::new();
    let mut held_out = Vec::new();
    for label in 0..TAUGHT {
        let clips = words.next().context("fewer than 4 novel words")?;
        let seen: Vec<_> = clips
            .iter()
            .filter(|r| r.voice_split == VoiceSplit::Seen)
            .take(SHOTS)
            .collect();
        if seen.len() < SHOTS {
            bail!("novel word {label} has fewer than {SHOTS} clips of seen voices");
        }
        taught.extend(seen.into_iter().map(|r| ("teach", Some(label), *r)));
        held_out.push(("held-out", Some(label), first_unseen(clips, label)?));
    }
    let untaught = words.next().context("fewer than 4 novel words")?;
    taught.extend(held_out);
    taught.push(("untaught", None, first_unseen(untaught, TAUGHT)?));
    Ok(taught)
}
