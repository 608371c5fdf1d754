//! `trainer features`: the log-mel (or MFCC) features of a manifest's WAV clips, computed by the
//! runtime's own front-end (`runtime::frontend::FrontEnd`, the code the device runs, so the
//! features the model is trained on are the device's, bit for bit), written as a classification
//! CSV that `trainer train` reads: a header, `frames x values` feature columns (frame-major) and
//! a `label` column.
//!
//! Beside the CSV, `<stem>.front_end.json` ([`Recorded`]) records the front-end, the manifest
//! and each label's word and split. A classification config's `[front_end]` table must equal the
//! recorded spec; the exported model then carries it (format v6).
//!
//! The manifest is a CSV with a header naming at least `file` (relative to the manifest) and
//! `word`; `word_split` (`train` words get the first labels), `voice_split` (see
//! `--voice-split`) and `sha256` (checked when present) are read when there. Clips are WAV,
//! padded with silence to one second, or, when longer, cut to the second centred on the word
//! ([`Window`]):
//! 16-bit mono at the front-end's sample rate as they are, any other PCM converted to it
//! ([`read_clip`]).
//!
//! ```
//! use trainer::features::{word_second, Window};
//! // A 3-second recording, silent but for a word-like burst from 1.6 s to 1.9 s (16 kHz).
//! let mut pcm = vec![0i16; 48_000];
//! pcm[25_600..30_400].iter_mut().for_each(|v| *v = 1_000);
//! let start = word_second(&pcm, 16_000, 160);
//! // The burst is whole in the kept second, and centred in it.
//! assert!(start <= 25_600 && start + 16_000 >= 30_400);
//! assert_eq!(start, 20_000); // the burst at 5 600..10 400 of the kept 16 000
//! assert_eq!(Window::default(), Window::Centred);
//! ```

use crate::csvio;
use anyhow::{bail, Context, Result};
use runtime::frontend::{AudioConfig, FrontEnd, FrontEndSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The front-end capacities the trainer builds: any valid spec whose second of features fits
/// in 16 384 values.
type HostFrontEnd = FrontEnd<2048, 128, 16384>;

/// What `trainer features` records beside its CSV.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The front-end the features were computed with.
    pub front_end: FrontEndSpec,
    /// The manifest read, and the SHA-256 of its bytes.
    pub manifest: String,
    pub manifest_sha256: String,
    /// Only clips of this voice split, when given.
    pub voice_split: Option<String>,
    /// Label `i`'s word and word split.
    pub labels: Vec<(String, String)>,
    /// Rows written.
    pub rows: usize,
    /// Clips that were not 16-bit mono at the front-end's rate, converted before their
    /// features were computed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub converted: usize,
    /// Which second of a longer clip was kept (records written before this field: the first).
    #[serde(default = "Window::first")]
    pub window: Window,
    /// Clips longer than a second (cut to the `window` second) and shorter (padded with
    /// silence).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cut: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub padded: usize,
}

/// Which second of a clip longer than one second becomes its features.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// The second centred on the word ([`word_second`]): the loudest second above the
    /// recording's noise floor, centred on its energy. What a device that classifies when a
    /// word is in the middle of its last second of audio sees.
    #[default]
    Centred,
    /// The first second (a recording that starts with the word).
    First,
}

impl Window {
    fn first() -> Self {
        Window::First
    }
}

/// Longest recording read (a longer one is refused: cut it first).
pub const MAX_CLIP_SECONDS: usize = 60;

/// The start of the `second` samples of `pcm` (longer than `second`) centred on the word it
/// holds. In frames of `hop` samples: each frame's energy (sum of squared samples) less the
/// recording's noise floor (the 20th percentile of the frames' energies), then the `second`
/// with the most of that energy (among equally loud ones the middle one), then the second
/// centred on that energy's centroid, kept inside the recording. Without the floor a noisy
/// recording's loudest second would be any second that holds the whole word, decided by the
/// noise; with it a word lands in the middle whatever the noise. Energies are exact (sums of
/// squared 16-bit samples in f64, below 2^53 for a minute at 48 kHz).
pub fn word_second(pcm: &[i16], second: usize, hop: usize) -> usize {
    let hop = hop.max(1);
    if pcm.len() <= second || second < hop {
        return 0;
    }
    let energy: Vec<f64> = pcm
        .chunks(hop)
        .map(|f| f.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
        .collect();
    let mut sorted = energy.clone();
    sorted.sort_by(f64::total_cmp);
    let floor = sorted[sorted.len() / 5];
    let above: Vec<f64> = energy.iter().map(|e| (e - floor).max(0.0)).collect();
    let span = second / hop;
    let mut prefix = vec![0.0f64];
    for e in &above {
        prefix.push(prefix[prefix.len() - 1] + e);
    }
    let last = above.len().saturating_sub(span);
    let sum = |s: usize| prefix[(s + span).min(above.len())] - prefix[s];
    let best = (0..=last).map(sum).fold(f64::MIN, f64::max);
    let tied: Vec<usize> = (0..=last).filter(|&s| sum(s) == best).collect();
    let s = tied[tied.len() / 2];
    let window = &above[s..(s + span).min(above.len())];
    let total: f64 = window.iter().sum();
    let centre = match total > 0.0 {
        // The energy's centroid, in samples (a frame's energy at its middle).
        true => {
            let moment: f64 = window
                .iter()
                .enumerate()
                .map(|(k, e)| ((s + k) as f64 + 0.5) * e)
                .sum();
            moment / total * hop as f64
        }
        false => (s * hop + second / 2) as f64,
    };
    let start = (centre - second as f64 / 2.0).round().max(0.0) as usize;
    start.min(pcm.len() - second)
}

/// One clip as the front-end's audio ([`read_clip`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipAudio {
    /// One second of 16-bit samples at the front-end's rate.
    pub pcm: Vec<i16>,
    /// Not 16-bit mono at the front-end's rate: converted.
    pub converted: bool,
    /// Its length before it was cut or padded to a second, in samples at the front-end's
    /// rate.
    pub len: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Where [`Recorded`] lies for the features CSV `csv`: `dir/name.front_end.json`, `name` the
/// file name without `.gz` and `.csv`.
pub fn recorded_path(csv: &Path) -> PathBuf {
    let name = csv.file_name().map_or_else(String::new, |n| {
        let n = n.to_string_lossy();
        let n = n.strip_suffix(".gz").unwrap_or(&n);
        n.strip_suffix(".csv").unwrap_or(n).to_string()
    });
    csv.with_file_name(format!("{name}.front_end.json"))
}

/// The front-end recorded for the features CSV `csv`, if `trainer features` wrote it.
pub fn recorded(csv: &Path) -> Result<Option<Recorded>> {
    let path = recorded_path(csv);
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let r = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(Some(r))
}

/// A front-end spec from TOML: the keys of [`FrontEndSpec`], each defaulting to
/// [`FrontEndSpec::KEYWORD`]'s value; unknown keys are refused.
pub fn spec_from_toml(text: &str, file: &str) -> Result<FrontEndSpec> {
    let given: toml::Table = toml::from_str(text).with_context(|| format!("parsing {file}"))?;
    spec_from_table(given).with_context(|| format!("in {file}"))
}

/// [`spec_from_toml`] of a parsed table (a config's `[front_end]`).
pub fn spec_from_table(given: toml::Table) -> Result<FrontEndSpec> {
    let mut table = toml::Table::try_from(FrontEndSpec::KEYWORD)?;
    for (key, value) in given {
        if !table.contains_key(&key) {
            let known: Vec<&String> = table.keys().collect();
            bail!("unknown front-end key `{key}` (known: {known:?})");
        }
        table.insert(key, value);
    }
    let spec: FrontEndSpec = table.try_into().context("front-end values")?;
    spec.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(spec)
}

/// A config's optional `[front_end]` table, through [`spec_from_table`].
pub fn deserialize_spec<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<FrontEndSpec>, D::Error> {
    let table = Option::<toml::Table>::deserialize(d)?;
    table
        .map(spec_from_table)
        .transpose()
        .map_err(|e| serde::de::Error::custom(format!("[front_end]: {e:#}")))
}

/// A config's `[front_end]` against what `trainer features` recorded for its data `data`
/// (`width` features a row): the same spec, and rows of its second of features.
pub fn check_config(spec: &FrontEndSpec, data: &Path, width: usize) -> Result<()> {
    let Some(rec) = recorded(data)? else {
        bail!(
            "[front_end] is set but {} has no recorded front-end ({}): make the data with `trainer features`",
            data.display(),
            recorded_path(data).display()
        );
    };
    if rec.front_end != *spec {
        bail!(
            "[front_end] differs from the front-end {} was made with (in {}): {}",
            data.display(),
            recorded_path(data).display(),
            differences(spec, &rec.front_end)
        );
    }
    if width != spec.input_len() {
        bail!(
            "{} has {width} features a row; the front-end makes {} ({} frames x {})",
            data.display(),
            spec.input_len(),
            spec.frames_per_second(),
            spec.features_per_frame()
        );
    }
    Ok(())
}

/// The settings in which front-end `a` differs from `b`: `key a (b)`, comma-separated.
pub fn differences(a: &FrontEndSpec, b: &FrontEndSpec) -> String {
    let (a, b) = (serde_json::to_value(a), serde_json::to_value(b));
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (a, b) else {
        return "their settings".into();
    };
    let diff: Vec<String> = (a.iter())
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| {
            format!(
                "{k} {v} ({})",
                b.get(k).map_or("-".into(), |w| w.to_string())
            )
        })
        .collect();
    diff.join(", ")
}

/// One manifest row.
struct Clip {
    path: PathBuf,
    word: String,
    word_split: String,
    voice_split: String,
    sha256: String,
    line: usize,
}

fn read_manifest(manifest: &Path) -> Result<(Vec<Clip>, String)> {
    let (text, sha) = csvio::read_text(manifest)?;
    let file = manifest.display().to_string();
    let recs = csvio::records(&text, &file)?.rows;
    let Some(((_, header), rows)) = recs.split_first() else {
        bail!("{file}: empty manifest");
    };
    let col = |name: &str| csvio::column(header, name);
    let (Some(f), Some(w)) = (col("file"), col("word")) else {
        bail!("{file}: the header must name `file` and `word` (found {header:?})");
    };
    let (ws, vs, sha_col) = (col("word_split"), col("voice_split"), col("sha256"));
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let cell = |cells: &[String], c: Option<usize>| {
        c.and_then(|c| cells.get(c)).cloned().unwrap_or_default()
    };
    if let Some((line, _)) = rows
        .iter()
        .find(|(_, c)| cell(c, Some(w)).trim().is_empty())
    {
        bail!("{file}:{line}: an empty `word`: every clip needs its word");
    }
    let clips = rows
        .iter()
        .map(|(line, cells)| Clip {
            path: dir.join(cell(cells, Some(f))),
            word: cell(cells, Some(w)),
            word_split: cell(cells, ws),
            voice_split: cell(cells, vs),
            sha256: cell(cells, sha_col),
            line: *line,
        })
        .collect();
    Ok((clips, sha))
}

/// One second of a WAV clip as the front-end's audio: padded with silence, or the `window`
/// second of a longer clip (at most [`MAX_CLIP_SECONDS`]). 16-bit mono at `spec`'s sample rate
/// is read as it is; any other integer or float PCM is scaled to [-1, 1), its channels
/// averaged, resampled to the rate (rubato's FFT resampler) and rounded back to 16 bits.
pub fn read_clip(path: &Path, spec: &FrontEndSpec, window: Window) -> Result<ClipAudio> {
    let reader =
        hound::WavReader::open(path).with_context(|| format!("reading {}", path.display()))?;
    let s = reader.spec();
    let second = spec.sample_rate as usize;
    let channels = usize::from(s.channels.max(1));
    let frames = reader.duration() as usize;
    if frames == 0 {
        bail!("{}: no audio in it (0 samples)", path.display());
    }
    if frames > MAX_CLIP_SECONDS * s.sample_rate as usize {
        bail!(
            "{}: {:.1} s long: clips of at most {MAX_CLIP_SECONDS} s (cut the recording into clips)",
            path.display(),
            frames as f64 / f64::from(s.sample_rate.max(1))
        );
    }
    let audio = AudioConfig {
        sample_rate: s.sample_rate,
        channels: s.channels,
    };
    // 16-bit mono at the front-end's rate: read as it is.
    let as_is = s.bits_per_sample == 16
        && s.sample_format == hound::SampleFormat::Int
        && spec.check_audio(audio).is_ok();
    // The first second needs only its samples (and, resampled, a margin for the filter).
    let keep = match (window, as_is) {
        (Window::First, true) => second,
        (Window::First, false) => (s.sample_rate as usize + RESAMPLE_MARGIN) * channels,
        (Window::Centred, _) => usize::MAX,
    };
    let decoding = || format!("decoding {}", path.display());
    if as_is {
        let pcm = reader
            .into_samples::<i16>()
            .take(keep)
            .collect::<Result<Vec<_>, _>>()
            .with_context(decoding)?;
        return Ok(cut_to_second(pcm, frames, second, window, false));
    }
    let samples: Vec<f32> = match (s.sample_format, s.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .take(keep)
            .collect::<Result<_, _>>()
            .with_context(decoding)?,
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let full = (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .take(keep)
                .map(|v| v.map(|v| v as f32 / full))
                .collect::<Result<_, _>>()
                .with_context(decoding)?
        }
        (f, b) => bail!(
            "{}: {b}-bit {f:?} samples: not a PCM format this reads",
            path.display()
        ),
    };
    let mono: Vec<f32> = samples
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let at_rate = if s.sample_rate == spec.sample_rate {
        mono
    } else {
        resample(&mono, s.sample_rate, spec.sample_rate).with_context(|| {
            format!(
                "{}: resampling {} Hz to {} Hz",
                path.display(),
                s.sample_rate,
                spec.sample_rate
            )
        })?
    };
    // The recording's length at the front-end's rate (the resampler's output may differ from
    // it by a few samples at the end).
    let len =
        (frames as u64 * u64::from(spec.sample_rate) / u64::from(s.sample_rate.max(1))) as usize;
    let pcm = at_rate
        .iter()
        .map(|v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    Ok(cut_to_second(pcm, len, second, window, true))
}

/// One second of `pcm` (at the front-end's rate; a clip `len` samples long, of which `pcm`
/// may hold only the start): the `window` second of a longer clip, or the clip padded with
/// silence.
fn cut_to_second(
    mut pcm: Vec<i16>,
    len: usize,
    second: usize,
    window: Window,
    converted: bool,
) -> ClipAudio {
    let start = match window {
        Window::Centred if len > second => {
            let end = len.min(pcm.len());
            word_second(&pcm[..end], second, (second / 100).max(1))
        }
        _ => 0,
    };
    pcm.drain(..start.min(pcm.len()));
    pcm.resize(second, 0);
    ClipAudio {
        pcm,
        converted,
        len,
    }
}

/// Input frames decoded past the kept second when a clip is resampled: more than the FFT
/// resampler's filter reaches (its chunks are 1 024 frames), so the kept second's last
/// samples are those of the whole clip.
const RESAMPLE_MARGIN: usize = 4096;

/// `x` at `from` Hz resampled to `to` Hz (band-limited: rubato's synchronous FFT resampler,
/// its start-up delay trimmed).
fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{Fft, FixedSync, Resampler};
    let mut r = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Input)?;
    let input = InterleavedSlice::new(x, 1, x.len())?;
    Ok(r.process_all(&input, x.len(), None)?.take_data())
}

/// The front-end's features of one second of PCM: the model's input.
pub fn clip_features(fe: &mut HostFrontEnd, pcm: &[i16]) -> Result<Vec<f32>> {
    fe.reset();
    fe.push(pcm).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = vec![0.0; fe.spec().input_len()];
    let frames = fe.features(&mut out).map_err(|e| anyhow::anyhow!("{e}"))?;
    if frames != fe.spec().frames_per_second() {
        bail!("{frames} frames from one second");
    }
    Ok(out)
}

/// A host front-end of `spec` (on the heap: its buffers are sized for any spec).
pub fn host_front_end(spec: &FrontEndSpec) -> Result<Box<HostFrontEnd>> {
    Ok(Box::new(
        HostFrontEnd::new(spec).map_err(|e| anyhow::anyhow!("front-end: {e}"))?,
    ))
}

/// The class labels of a manifest's clips, `(word, its word split)`: the words of the `train`
/// split first, then the others, each split in word order.
fn word_labels(clips: &[Clip]) -> Vec<(String, String)> {
    let mut words: BTreeMap<(bool, String, String), ()> = BTreeMap::new();
    for c in clips {
        words.insert(
            (
                c.word_split != "train",
                c.word_split.clone(),
                c.word.clone(),
            ),
            (),
        );
    }
    words.into_keys().map(|(_, s, w)| (w, s)).collect()
}

/// Refuses a clip whose bytes are not the ones the manifest's SHA-256 names (none: any bytes).
fn check_sha256(manifest: &Path, c: &Clip) -> Result<()> {
    if c.sha256.is_empty() {
        return Ok(());
    }
    let bytes = std::fs::read(&c.path)
        .with_context(|| format!("line {}: reading {}", c.line, c.path.display()))?;
    let sha = csvio::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if sha != c.sha256 {
        bail!(
            "{}:{}: {} has SHA-256 {sha}, the manifest says {}",
            manifest.display(),
            c.line,
            c.path.display(),
            c.sha256
        );
    }
    Ok(())
}

/// Notes on the clips that were cut, padded or converted to the front-end's format.
fn print_notes(r: &Recorded) {
    let (rows, rate) = (r.rows, r.front_end.sample_rate);
    if r.cut > 0 {
        let which = match r.window {
            Window::Centred => "the second centred on the word (--window first: the first)",
            Window::First => "the first second",
        };
        eprintln!(
            "note: {} of {rows} clips longer than a second, cut to {which}",
            r.cut
        );
    }
    if r.padded > 0 {
        eprintln!(
            "note: {} of {rows} clips shorter than a second, padded with silence",
            r.padded
        );
    }
    if r.converted > 0 {
        eprintln!(
            "note: {} of {rows} clips converted to {rate} Hz 16-bit mono (channels averaged, resampled); the device's microphone runs at {rate} Hz",
            r.converted
        );
    }
}

/// `trainer features`: writes the CSV `out` and its [`Recorded`]; returns the record.
pub fn run(
    manifest: &Path,
    spec: &FrontEndSpec,
    voice_split: Option<&str>,
    window: Window,
    out: &Path,
) -> Result<Recorded> {
    let (clips, manifest_sha256) = read_manifest(manifest)?;
    let labels = word_labels(&clips);
    let label_of: BTreeMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, (w, _))| (w.as_str(), i))
        .collect();
    // Words named by numbers keep their own numbers only by chance: the label column holds
    // each word's place in the record's list.
    let renumbered: Vec<String> = (label_of.iter())
        .filter(|(w, &i)| w.parse::<usize>().is_ok_and(|n| n != i))
        .map(|(w, i)| format!("{w:?} -> {i}"))
        .collect();
    if !renumbered.is_empty() {
        eprintln!(
            "warning: words named by numbers are labelled by their order, not by their names: {} (the record beside the CSV lists the words; name them with letters to avoid the mix-up)",
            renumbered.join(", ")
        );
    }
    if !clips
        .iter()
        .any(|c| voice_split.is_none_or(|v| c.voice_split == v))
    {
        match voice_split {
            Some(v) => bail!(
                "{}: no clip has voice_split {v:?} (its `voice_split` column{})",
                manifest.display(),
                if clips.iter().all(|c| c.voice_split.is_empty()) {
                    ", which it has not"
                } else {
                    ""
                }
            ),
            None => bail!("{}: the manifest lists no clip", manifest.display()),
        }
    }
    let mut fe = host_front_end(spec)?;
    let (frames, width) = (spec.frames_per_second(), spec.features_per_frame());
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(file),
        if out.extension().is_some_and(|e| e == "gz") {
            flate2::Compression::default()
        } else {
            flate2::Compression::none()
        },
    );
    let mut header: Vec<String> = (0..frames)
        .flat_map(|t| (0..width).map(move |b| format!("t{t}_b{b}")))
        .collect();
    header.push("label".into());
    writeln!(w, "{}", header.join(","))?;
    let (mut rows, mut converted, mut cut, mut padded) = (0, 0, 0, 0);
    let second = spec.sample_rate as usize;
    for c in clips
        .iter()
        .filter(|c| voice_split.is_none_or(|v| c.voice_split == v))
    {
        check_sha256(manifest, c)?;
        let clip = read_clip(&c.path, spec, window)
            .with_context(|| format!("{}:{}", manifest.display(), c.line))?;
        converted += usize::from(clip.converted);
        cut += usize::from(clip.len > second);
        padded += usize::from(clip.len < second);
        let x = clip_features(&mut fe, &clip.pcm)?;
        let mut line: Vec<String> = x.iter().map(f32::to_string).collect();
        line.push(
            label_of
                .get(c.word.as_str())
                .copied()
                .unwrap_or(0)
                .to_string(),
        );
        writeln!(w, "{}", line.join(","))?;
        rows += 1;
    }
    w.finish()?.flush()?;
    let record = Recorded {
        front_end: *spec,
        manifest: manifest.display().to_string(),
        manifest_sha256,
        voice_split: voice_split.map(str::to_string),
        labels,
        rows,
        converted,
        window,
        cut,
        padded,
    };
    print_notes(&record);
    let path = recorded_path(out);
    std::fs::write(&path, serde_json::to_string_pretty(&record)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(record)
}
