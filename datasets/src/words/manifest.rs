//! The set's index: `manifest.csv` (one row per clip) and `manifest.json` (how the set was
//! made, and its counts), written by the generator and read by the trainer and the tests.

use super::noise::Noise;
use super::params::Params;
use super::vocab::WordSplit;
use super::wav;
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The clip table's file name in the set's folder.
pub const MANIFEST_CSV: &str = "manifest.csv";
/// The description's file name in the set's folder.
pub const MANIFEST_JSON: &str = "manifest.json";
/// The folder of the WAV files, inside the set's folder.
pub const CLIPS_DIR: &str = "clips";

/// Whether a voice (or variant) is one training may use (`seen`) or is held out (`unseen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoiceSplit {
    /// Training may use it.
    Seen,
    /// Held out for evaluation on unseen voices.
    Unseen,
}

impl VoiceSplit {
    /// `Unseen` when `unseen`.
    pub fn from_unseen(unseen: bool) -> Self {
        if unseen {
            Self::Unseen
        } else {
            Self::Seen
        }
    }
}

/// One row of `manifest.csv`, its columns in this order:
/// `file,word,word_split,voice,variant,voice_split,speed_wpm,pitch,noise,snr_db,seed,sha256`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The WAV file, relative to the manifest (`clips/yes-003.wav`).
    pub file: String,
    /// The word spoken.
    pub word: String,
    /// The word's split.
    pub word_split: WordSplit,
    /// The espeak-ng voice (`en-US`).
    pub voice: String,
    /// The espeak-ng variant (`f3`; `none` for the plain voice).
    pub variant: String,
    /// `unseen` when the voice or the variant is held out.
    pub voice_split: VoiceSplit,
    /// Speaking rate, words per minute.
    pub speed_wpm: u32,
    /// espeak-ng pitch, 0 to 99.
    pub pitch: u32,
    /// Background noise kind.
    pub noise: Noise,
    /// Signal-to-noise ratio in dB (empty without noise).
    pub snr_db: Option<i32>,
    /// The clip's own seed (its offset and its noise).
    pub seed: u64,
    /// SHA-256 of the WAV file's bytes, lowercase hex.
    pub sha256: String,
}

/// A named voice or variant and its split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    /// The espeak-ng name.
    pub name: String,
    /// Held out or not.
    pub split: VoiceSplit,
}

/// A word of the set and its split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Word {
    /// The word.
    pub word: String,
    /// Its split.
    pub split: WordSplit,
}

/// What `manifest.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// [`GENERATOR_VERSION`](super::GENERATOR_VERSION) of the code that made the set.
    pub generator: u32,
    /// espeak-ng's version.
    pub espeak_ng: String,
    /// SHA-256 of the word list (its words, one per line, each ending in a newline).
    pub word_list_sha256: String,
    /// The parameters.
    pub params: Params,
    /// Every English voice espeak-ng listed.
    pub voices: Vec<Named>,
    /// Every variant espeak-ng listed (`none` first).
    pub variants: Vec<Named>,
    /// The words of the set in the seeded order.
    pub words: Vec<Word>,
    /// Counts of the set.
    pub counts: Counts,
    /// Clips whose spoken part was longer than a second and was cut to its first second.
    pub trimmed: Vec<String>,
}

impl Info {
    /// Whether `other` was made from the same recipe (generator, espeak-ng, word list,
    /// parameters, voices): then its clips are these clips.
    pub fn same_recipe(&self, other: &Info) -> bool {
        self.generator == other.generator
            && self.espeak_ng == other.espeak_ng
            && self.word_list_sha256 == other.word_list_sha256
            && self.params == other.params
            && self.voices == other.voices
            && self.variants == other.variants
    }
}

/// The counts `manifest.json` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Clips.
    pub clips: usize,
    /// Words (train and novel).
    pub words: usize,
    /// Meta-training words.
    pub train_words: usize,
    /// Novel words.
    pub novel_words: usize,
    /// English voices.
    pub voices: usize,
    /// Variants, `none` included.
    pub variants: usize,
    /// Clips by a seen voice and variant.
    pub seen_clips: usize,
    /// Clips by an unseen voice or variant.
    pub unseen_clips: usize,
    /// Clips cut to one second.
    pub trimmed_clips: usize,
    /// Clips per noise kind.
    pub clips_per_noise: BTreeMap<String, usize>,
}

/// A set on disk: its folder, description and clips.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The set's folder (where `manifest.csv` is).
    pub dir: PathBuf,
    /// `manifest.json`.
    pub info: Info,
    /// `manifest.csv`, in file order.
    pub records: Vec<Record>,
}

impl Manifest {
    /// Reads `manifest.json` and `manifest.csv` from `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let json_path = dir.join(MANIFEST_JSON);
        let json = std::fs::read_to_string(&json_path)
            .with_context(|| format!("cannot read {}", json_path.display()))?;
        let info: Info =
            serde_json::from_str(&json).with_context(|| format!("in {}", json_path.display()))?;
        let csv_path = dir.join(MANIFEST_CSV);
        let mut reader = csv::Reader::from_path(&csv_path)
            .with_context(|| format!("cannot read {}", csv_path.display()))?;
        let records = reader
            .deserialize()
            .collect::<Result<Vec<Record>, _>>()
            .with_context(|| format!("in {}", csv_path.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            info,
            records,
        })
    }

    /// The records of each word in `word_split` whose voice split is `voice_split` (any when
    /// `None`), by word in alphabetical order, each word's clips in manifest order: the classes
    /// an episode sampler draws from.
    pub fn by_word(
        &self,
        word_split: WordSplit,
        voice_split: Option<VoiceSplit>,
    ) -> BTreeMap<&str, Vec<&Record>> {
        let mut words: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
        for r in &self.records {
            if r.word_split == word_split && voice_split.is_none_or(|v| v == r.voice_split) {
                words.entry(r.word.as_str()).or_default().push(r);
            }
        }
        words
    }

    /// The path of a record's WAV file.
    pub fn path(&self, record: &Record) -> PathBuf {
        self.dir.join(&record.file)
    }

    /// A record's samples ([`wav::CLIP_SAMPLES`] at [`wav::SAMPLE_RATE`]), its file checked
    /// against the manifest's SHA-256.
    pub fn load(&self, record: &Record) -> Result<Vec<i16>> {
        let bytes = self.checked_bytes(record)?;
        wav::decode(&bytes).with_context(|| format!("in {}", record.file))
    }

    /// Checks every clip's file against its SHA-256.
    pub fn verify(&self) -> Result<()> {
        for record in &self.records {
            self.checked_bytes(record)?;
        }
        Ok(())
    }

    fn checked_bytes(&self, record: &Record) -> Result<Vec<u8>> {
        let path = self.path(record);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        ensure!(
            sha256_hex(&bytes) == record.sha256,
            "{} does not match its SHA-256 in the manifest",
            path.display()
        );
        Ok(bytes)
    }
}

/// Writes `manifest.csv` and `manifest.json` into `dir` (each through a temporary file, the
/// JSON last: a set whose JSON is there is complete).
pub fn write(dir: &Path, info: &Info, records: &[Record]) -> Result<()> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    for record in records {
        csv.serialize(record)?;
    }
    let csv = csv.into_inner().context("cannot write the manifest")?;
    replace(&dir.join(MANIFEST_CSV), &csv)?;
    let mut json = serde_json::to_vec_pretty(info)?;
    json.push(b'\n');
    replace(&dir.join(MANIFEST_JSON), &json)
}

fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(word: &str, word_split: WordSplit, voice_split: VoiceSplit) -> Record {
        Record {
            file: format!("clips/{word}-000.wav"),
            word: word.into(),
            word_split,
            voice: "en".into(),
            variant: "none".into(),
            voice_split,
            speed_wpm: 175,
            pitch: 50,
            noise: Noise::None,
            snr_db: None,
            seed: 0,
            sha256: String::new(),
        }
    }

    #[test]
    fn by_word_selects_the_splits() {
        use VoiceSplit::{Seen, Unseen};
        use WordSplit::{Novel, Train};
        let records = vec![
            record("yes", Train, Seen),
            record("no", Novel, Unseen),
            record("yes", Train, Unseen),
            record("go", Train, Seen),
        ];
        let info: Info = serde_json::from_value(serde_json::json!({
            "generator": 1, "espeak_ng": "1.51", "word_list_sha256": "",
            "params": crate::words::Params::small(), "voices": [], "variants": [],
            "words": [], "counts": Counts::default(), "trimmed": []
        }))
        .unwrap();
        let set = Manifest {
            dir: PathBuf::from("."),
            info,
            records,
        };
        let train = set.by_word(Train, None);
        assert_eq!(train.keys().copied().collect::<Vec<_>>(), ["go", "yes"]);
        assert_eq!(train["yes"].len(), 2);
        assert_eq!(set.by_word(Train, Some(Unseen))["yes"].len(), 1);
        assert_eq!(set.by_word(Novel, Some(Seen)).len(), 0);
    }

    #[test]
    fn csv_header_and_empty_snr() {
        let record = Record {
            file: "clips/yes-000.wav".into(),
            word: "yes".into(),
            word_split: WordSplit::Novel,
            voice: "en-US".into(),
            variant: "Mr serious".into(),
            voice_split: VoiceSplit::Unseen,
            speed_wpm: 175,
            pitch: 50,
            noise: Noise::None,
            snr_db: None,
            seed: 42,
            sha256: sha256_hex(b""),
        };
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.serialize(&record).unwrap();
        let text = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(
                "file,word,word_split,voice,variant,voice_split,speed_wpm,pitch,noise,snr_db,seed,sha256"
            )
        );
        assert_eq!(
            lines.next(),
            Some(
                "clips/yes-000.wav,yes,novel,en-US,Mr serious,unseen,175,50,none,,42,\
                 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            )
        );
        let back: Record = csv::Reader::from_reader(text.as_bytes())
            .deserialize()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(back, record);
    }
}
