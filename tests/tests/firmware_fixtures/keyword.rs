//! The keyword demo's fixtures (`firmware/src/bin/demo/keyword.rs` runs them): the int8 keyword
//! model with its head made enrollable (it carries its front-end), and the answers
//! the runtime gives on the host for the spoken-word clips of `keyword-clips.bin` (cut out of
//! the words set by `cargo xtask data keyword-clips`; `keyword-clips.txt` says which clip is
//! which).
//!
//! The pipeline, as the device runs it: each clip's PCM is pushed into the model's front-end in
//! chunks of [`CHUNK`] samples (as audio arrives), its 49 x 40 log-mel frames go through the
//! int8 trunk into a `ClassBank`: the taught words are enrolled from their clips (label = the
//! index's label), then every other clip is scored (`ClassBank::score`: label, probability,
//! squared distance to that word's prototype), "unknown" when the distance is above the
//! threshold of `keyword.toml`.
//!
//! The golden file (`FSKG` v3, little-endian u32 words): `FSKG`, version 3, clips, chunk,
//! threshold bits; per clip its role (0 teach, 1 classify), its label (`NONE` for the untaught
//! word) and the CRC-32 of its features' little-endian bytes; per classified clip, in clip
//! order, the bank's label, the probability bits, the distance bits, the relative distance
//! bits (`ClassScore::relative_distance`, `u32::MAX` without one) and the decision (the label,
//! or `NONE` for unknown).

use super::{fixtures_dir, push_u32s, trained_model};
use runtime::frontend::{AudioConfig, FrontEnd};
use runtime::writer::ModelDef;
use runtime::{ClassBank, Model};

/// Samples per push into the front-end (a 32 ms DMA buffer).
const CHUNK: usize = 512;
/// Samples per clip (1 s at 16 kHz).
const CLIP: usize = 16_000;
/// Classes the enrollable head holds on the device.
const MAX_CLASSES: u16 = 16;
/// The label of no word (the untaught one), and the decision "unknown".
pub const NONE: u32 = 0xffff;
const AUDIO: AudioConfig = AudioConfig {
    sample_rate: 16_000,
    channels: 1,
};

/// The front-end the keyword models use: 512-point FFT, 40 mel bands, a ring of 49 x 40.
type KeywordFrontEnd = FrontEnd<512, 40, { 49 * 40 }>;
type Bank<'m> = ClassBank<'m, 4096, 16384>;

/// `models/keyword_int8.postcard` with head 0 enrollable (up to [`MAX_CLASSES`]), under its own
/// id.
pub fn enroll_model() -> Vec<u8> {
    let blob = trained_model(
        "keyword_int8.postcard",
        "the lead's keyword training (issue 14)",
    );
    let aligned = runtime::format::AlignedBytes::from_slice(&blob);
    let model = Model::from_bytes(aligned.as_bytes()).expect("keyword model loads");
    let mut def = ModelDef::from_model(&model).expect("the keyword model re-exports");
    def.model_id ^= 0x0e00_0000;
    def.heads[0].max_classes = Some(MAX_CLASSES);
    assert!(
        def.front_end.is_some(),
        "the keyword model carries its front-end"
    );
    def.to_bytes()
        .expect("the writer accepts the enrollable keyword model")
}

/// `threshold = X` of `firmware/fixtures/keyword.toml`.
fn threshold() -> f32 {
    let path = fixtures_dir().join("keyword.toml");
    let text = std::fs::read_to_string(&path).expect("keyword.toml");
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == "threshold")
        .and_then(|(_, v)| v.trim().parse().ok())
        .expect("keyword.toml: threshold = a number")
}

/// (role: teach, label) of each clip, from `keyword-clips.txt`.
fn roles() -> Vec<(bool, u32)> {
    let text = std::fs::read_to_string(fixtures_dir().join("keyword-clips.txt"))
        .expect("keyword-clips.txt (`cargo xtask data keyword-clips`)");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let label = cols[2].parse().unwrap_or(NONE);
            (cols[1] == "teach", label)
        })
        .collect()
}

/// The features of one clip, pushed in chunks of [`CHUNK`] into `fe` (reset first).
fn features(fe: &mut KeywordFrontEnd, pcm: &[i16]) -> Vec<f32> {
    fe.reset();
    let frames: usize = pcm.chunks(CHUNK).map(|c| fe.push(c).expect("push")).sum();
    assert_eq!(frames, 49, "a clip is 49 frames");
    let mut out = vec![0.0; 49 * 40];
    assert_eq!(fe.features(&mut out), Ok(49));
    out
}

/// CRC-32 of `v`'s little-endian bytes.
fn crc(v: &[f32]) -> u32 {
    let mut d = runtime::format::CRC.digest();
    for x in v {
        d.update(&x.to_le_bytes());
    }
    d.finalize()
}

/// `keyword-enroll.fsm` and `keyword-golden.bin`.
pub fn files() -> Vec<(&'static str, Vec<u8>)> {
    let blob = enroll_model();
    let aligned = runtime::format::AlignedBytes::from_slice(&blob);
    let model = Model::from_bytes(aligned.as_bytes()).expect("enrollable keyword model loads");
    let pcm: Vec<i16> = std::fs::read(fixtures_dir().join("keyword-clips.bin"))
        .expect("keyword-clips.bin (`cargo xtask data keyword-clips`)")
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let roles = roles();
    assert_eq!(pcm.len(), roles.len() * CLIP, "one index line per clip");
    let threshold = threshold();
    let mut fe = Box::new(KeywordFrontEnd::for_model(&model, AUDIO).expect("front-end"));
    let feats: Vec<Vec<f32>> = pcm
        .chunks_exact(CLIP)
        .map(|c| features(&mut fe, c))
        .collect();
    let mut out = b"FSKG".to_vec();
    push_u32s(
        &mut out,
        &[3, roles.len() as u32, CHUNK as u32, threshold.to_bits()],
    );
    for ((teach, label), f) in roles.iter().zip(&feats) {
        push_u32s(&mut out, &[u32::from(!*teach), *label, crc(f)]);
    }
    let mut bank = Box::new(Bank::new(&model, 0).expect("a bank"));
    let mut labels: Vec<u32> = roles.iter().filter(|r| r.0).map(|r| r.1).collect();
    labels.dedup();
    for &label in &labels {
        let samples: Vec<f32> = roles
            .iter()
            .zip(&feats)
            .filter(|((teach, l), _)| *teach && *l == label)
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        bank.enroll(label as u16, &samples).expect("enrolls");
    }
    for ((teach, label), f) in roles.iter().zip(&feats) {
        if *teach {
            continue;
        }
        let s = bank.score(f).expect("scores");
        let (got, p, d) = (s.label, s.probability, s.distance);
        let r = s.relative_distance.map_or(u32::MAX, f32::to_bits);
        let decision = if d > threshold { NONE } else { u32::from(got) };
        eprintln!(
            "keyword: word {label:#x}: classified {got}, p {p:.3}, distance {d:.2}, relative {:?}, decision {decision:#x}",
            s.relative_distance
        );
        push_u32s(
            &mut out,
            &[u32::from(got), p.to_bits(), d.to_bits(), r, decision],
        );
    }
    vec![("keyword-enroll.fsm", blob), ("keyword-golden.bin", out)]
}
