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
//! each has [`HELD_OUT`] held-out clips, its first clips of unseen voices; the next
//! [`UNTAUGHT`] words are never taught and give one clip of an unseen voice each, to be
//! rejected. Clips are in that order (taught words' clips word by word, then the held-out ones,
//! then the untaught ones).

use anyhow::{bail, Context, Result};
use fewshot_datasets::words::{Manifest, Record, VoiceSplit, WordSplit};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Words taught on the device.
pub const TAUGHT: usize = 3;
/// Clips each taught word is taught from.
pub const SHOTS: usize = 3;
/// Held-out clips (unseen voices) of each taught word, to be recognised.
pub const HELD_OUT: usize = 3;
/// Words never taught, one clip (an unseen voice) each, to be rejected.
pub const UNTAUGHT: usize = 3;

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
         # under, or the true word's label of a held-out clip; `-` for an untaught word.\n\
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

/// The first `n` clips of unseen voices among `clips` (novel word number `word`).
fn first_unseen<'m>(clips: &[&'m Record], n: usize, word: usize) -> Result<Vec<&'m Record>> {
    let unseen: Vec<&Record> = clips
        .iter()
        .filter(|r| r.voice_split == VoiceSplit::Unseen)
        .take(n)
        .copied()
        .collect();
    if unseen.len() < n {
        bail!("novel word {word} has fewer than {n} clips of unseen voices");
    }
    Ok(unseen)
}

/// The clips in fixture order: (role, label, record).
fn pick(m: &Manifest) -> Result<Vec<(&'static str, Option<usize>, &Record)>> {
    let words = m.by_word(WordSplit::Novel, None);
    let mut words = words.values();
    let mut taught = Vec::new();
    let mut held_out = Vec::new();
    for label in 0..TAUGHT {
        let clips = words.next().context("too few novel words")?;
        let seen: Vec<_> = clips
            .iter()
            .filter(|r| r.voice_split == VoiceSplit::Seen)
            .take(SHOTS)
            .collect();
        if seen.len() < SHOTS {
            bail!("novel word {label} has fewer than {SHOTS} clips of seen voices");
        }
        taught.extend(seen.into_iter().map(|r| ("teach", Some(label), *r)));
        let unseen = first_unseen(clips, HELD_OUT, label)?;
        held_out.extend(unseen.into_iter().map(|r| ("held-out", Some(label), r)));
    }
    taught.extend(held_out);
    for word in TAUGHT..TAUGHT + UNTAUGHT {
        let clips = words.next().context("too few novel words")?;
        taught.extend(
            first_unseen(clips, 1, word)?
                .into_iter()
                .map(|r| ("untaught", None, r)),
        );
    }
    Ok(taught)
}
