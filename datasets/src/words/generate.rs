//! Making a set: the plan, the cache check, espeak-ng in parallel, the files and the manifest.

use super::clip::{self, Placement};
use super::espeak::{self, Voices};
use super::manifest::{self, Counts, Info, Manifest, Named, Record, VoiceSplit, Word, CLIPS_DIR};
use super::params::Params;
use super::resample::Resampler;
use super::schedule::{self, Plan, Rendition};
use super::vocab::WordSplit;
use super::wav::{self, SAMPLE_RATE};
use super::GENERATOR_VERSION;
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The rate espeak-ng writes (its resampler is built once for it).
const ESPEAK_RATE: u32 = 22_050;

/// What [`generate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The set's description, as written in `manifest.json`.
    pub info: Info,
    /// Clips synthesised by this run: 0 when the cache already held the set.
    pub synthesised: usize,
}

/// Makes the set of `words` with `params` in `out` (`manifest.csv`, `manifest.json`,
/// `clips/*.wav`), running `jobs` espeak-ng processes at a time; `progress(done, total)` is
/// called after each clip. When `out` already holds the set made from the same recipe and every
/// file matches its SHA-256, nothing is synthesised.
pub fn generate(
    words: &[String],
    params: &Params,
    out: &Path,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Summary> {
    let voices = espeak::voices()?;
    let plan = schedule::plan(
        words.len(),
        voices.voices.len(),
        voices.variants.len(),
        params,
    );
    let mut info = recipe(words, params, espeak::version()?, &voices, &plan);
    if let Ok(cached) = Manifest::read(out) {
        if cached.info.same_recipe(&info) && cached.verify().is_ok() {
            return Ok(Summary {
                info: cached.info,
                synthesised: 0,
            });
        }
    }
    let clips_dir = out.join(CLIPS_DIR);
    std::fs::create_dir_all(&clips_dir)
        .with_context(|| format!("cannot create {}", clips_dir.display()))?;
    let resampler = Resampler::new(ESPEAK_RATE, SAMPLE_RATE);
    let done = AtomicUsize::new(0);
    let total = plan.renditions.len();
    let made = parallel_map(total, jobs, |i| {
        let rendition = plan.renditions.get(i).context("no such rendition")?;
        let made = make_clip(words, &voices, rendition, params, &resampler, out);
        progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
        made
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let trimmed: Vec<String> = made
        .iter()
        .filter(|(_, t)| *t)
        .map(|(r, _)| r.file.clone())
        .collect();
    let records: Vec<Record> = made.into_iter().map(|(r, _)| r).collect();
    remove_stale(&clips_dir, &records)?;
    info.counts = counts(&info, &records, trimmed.len());
    info.trimmed = trimmed;
    manifest::write(out, &info, &records)?;
    Ok(Summary {
        info,
        synthesised: total,
    })
}

/// Synthesises, renders and writes one clip: its record, and whether it was cut.
fn make_clip(
    words: &[String],
    voices: &Voices,
    r: &Rendition,
    params: &Params,
    resampler: &Resampler,
    out: &Path,
) -> Result<(Record, bool)> {
    let word = words.get(r.word).context("no such word")?;
    let voice = voices.voices.get(r.voice).context("no such voice")?;
    let variant = voices.variants.get(r.variant).context("no such variant")?;
    let (rate, raw) = espeak::say(word, voice, variant, r.speed_wpm, r.pitch)?;
    let placement = Placement {
        seed: r.seed,
        jitter_ms: params.jitter_ms,
        noise: r.noise,
        snr_db: r.snr_db,
    };
    let clip = if rate == ESPEAK_RATE {
        clip::render(&raw, rate, resampler, placement)
    } else {
        clip::render(&raw, rate, &Resampler::new(rate, SAMPLE_RATE), placement)
    }
    .with_context(|| format!("{word} by {voice}+{variant}"))?;
    let bytes = wav::encode(&clip.samples)?;
    let file = format!("{CLIPS_DIR}/{word}-{:03}.wav", r.take);
    let path = out.join(&file);
    std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    let record = Record {
        file,
        word: word.clone(),
        word_split: r.word_split,
        voice: voice.clone(),
        variant: variant.clone(),
        voice_split: VoiceSplit::from_unseen(r.unseen),
        speed_wpm: r.speed_wpm,
        pitch: r.pitch,
        noise: r.noise,
        snr_db: r.snr_db,
        seed: r.seed,
        sha256: manifest::sha256_hex(&bytes),
    };
    Ok((record, clip.trimmed))
}

/// The description of the set before its clips exist (counts empty).
fn recipe(words: &[String], params: &Params, espeak_ng: String, v: &Voices, plan: &Plan) -> Info {
    let named = |names: &[String], unseen: &[bool]| -> Vec<Named> {
        names
            .iter()
            .zip(unseen)
            .map(|(name, &u)| Named {
                name: name.clone(),
                split: VoiceSplit::from_unseen(u),
            })
            .collect()
    };
    let list: String = words.iter().map(|w| format!("{w}\n")).collect();
    Info {
        generator: GENERATOR_VERSION,
        espeak_ng,
        word_list_sha256: manifest::sha256_hex(list.as_bytes()),
        params: params.clone(),
        voices: named(&v.voices, &plan.unseen_voices),
        variants: named(&v.variants, &plan.unseen_variants),
        words: plan
            .words
            .iter()
            .filter_map(|&(i, split)| {
                words.get(i).map(|w| Word {
                    word: w.clone(),
                    split,
                })
            })
            .collect(),
        counts: Counts::default(),
        trimmed: Vec::new(),
    }
}

fn counts(info: &Info, records: &[Record], trimmed_clips: usize) -> Counts {
    let words_in = |split| info.words.iter().filter(|w| w.split == split).count();
    let unseen_clips = records
        .iter()
        .filter(|r| r.voice_split == VoiceSplit::Unseen)
        .count();
    let mut clips_per_noise = std::collections::BTreeMap::new();
    for r in records {
        let name = serde_json::to_value(r.noise)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *clips_per_noise.entry(name).or_insert(0) += 1;
    }
    Counts {
        clips: records.len(),
        words: info.words.len(),
        train_words: words_in(WordSplit::Train),
        novel_words: words_in(WordSplit::Novel),
        voices: info.voices.len(),
        variants: info.variants.len(),
        seen_clips: records.len() - unseen_clips,
        unseen_clips,
        trimmed_clips,
        clips_per_noise,
    }
}

/// Removes the WAV files of `clips_dir` that no record names (a previous, other set's).
fn remove_stale(clips_dir: &Path, records: &[Record]) -> Result<()> {
    let keep: HashSet<&str> = records
        .iter()
        .filter_map(|r| r.file.strip_prefix(&format!("{CLIPS_DIR}/")))
        .collect();
    for entry in std::fs::read_dir(clips_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".wav") && !keep.contains(name.as_ref()) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// `f(0..n)` on `jobs` threads, results in index order.
fn parallel_map<T: Send>(n: usize, jobs: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let mut indexed: Vec<(usize, T)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return out;
                        }
                        out.push((i, f(i)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_order() {
        for jobs in [1, 2, 5] {
            assert_eq!(
                parallel_map(100, jobs, |i| i * i),
                (0..100).map(|i| i * i).collect::<Vec<_>>()
            );
        }
    }
}
