//! The demo's keyword enrollment (features `audio-frontend`, `conv`, `int8`): new spoken words
//! taught on the device from a few clips of raw audio, as a firmware author writes it. The sizes
//! come from the generated module (`fewshot_firmware::sizes::keyword`): the model's front-end
//! (`FrontEnd`), its class bank (`ClassBank`) and the input width; the firmware holds one clip's
//! features at a time.
//!
//! Each clip's 16-bit PCM (`fixtures/keyword-clips.bin`) is pushed into the model's front-end in
//! the golden file's chunks, as audio arrives; its second of log-mel frames is the input of the
//! int8 trunk. Three novel words are enrolled from their three clips each, one clip at a time
//! (`ClassBank::enroll_each`); then three held-out clips of each (unseen voices) and a clip of
//! each of three words never taught are scored (`ClassBank::score`): the bank's word, its
//! probability, the
//! squared distance to its prototype, "unknown" above the threshold distance
//! (`fixtures/keyword.toml`), and the relative distance (over the taught clips' within-class
//! variance). Every clip's features (CRC-32), every answer (label, probability, distance and
//! relative distance bits) and decision are compared with the host's (`keyword-golden.bin`).

use fewshot_firmware::fixtures::keyword::{self as fx, Golden, NONE};
use fewshot_firmware::sizes::keyword as sizes;
use fewshot_runtime::frontend::AudioConfig;
use fewshot_runtime::{Error, Model};

const AUDIO: AudioConfig = AudioConfig {
    sample_rate: 16_000,
    channels: 1,
};

/// Enrolls the taught words and classifies the other clips; returns the values that differ
/// from the host's.
#[inline(never)]
pub fn run() -> u32 {
    let Some(golden) = Golden::load() else {
        defmt::error!("keyword: fixtures malformed");
        fewshot_firmware::exit(2)
    };
    match words(&golden) {
        Ok(mismatches) => mismatches,
        Err(e) => {
            defmt::error!("keyword: {}", e);
            fewshot_firmware::exit(2)
        }
    }
}

/// Clip `c`'s features into `x`, through `fe` (reset first) in the golden file's chunks;
/// returns whether their CRC-32 is the host's.
fn features(
    fe: &mut sizes::FrontEnd,
    golden: &Golden,
    c: usize,
    x: &mut [f32],
) -> Result<bool, Error> {
    fx::clip_features(fe, c, golden.chunk, x)?;
    let mut crc = fewshot_runtime::format::CRC.digest();
    for v in x.iter() {
        crc.update(&v.to_le_bytes());
    }
    Ok(golden.clip(c).map(|g| g.features_crc) == Some(crc.finalize()))
}

fn words(golden: &Golden) -> Result<u32, Error> {
    let model = Model::from_bytes(fx::MODEL)?;
    if model.model_id() != sizes::MODEL_ID {
        defmt::error!("keyword: the sizes are for another model");
        fewshot_firmware::exit(2)
    }
    let mut fe = sizes::FrontEnd::for_model(&model, AUDIO)?;
    let mut bank = sizes::ClassBank::new(&model, sizes::HEAD)?;
    let mut x = [0.0f32; sizes::INPUTS];
    defmt::info!(
        "keyword: model {=str}, {=usize} bytes; RAM: front-end {=usize} + class bank of {=usize} words {=usize} + one clip's features {=usize} = {=usize} bytes",
        model.name(),
        model.blob_len(),
        core::mem::size_of::<sizes::FrontEnd>(),
        sizes::MAX_CLASSES,
        core::mem::size_of::<sizes::ClassBank<'_>>(),
        core::mem::size_of_val(&x),
        core::mem::size_of::<sizes::FrontEnd>()
            + core::mem::size_of::<sizes::ClassBank<'_>>()
            + core::mem::size_of_val(&x)
    );
    let clips = (0..golden.clips).filter_map(|c| Some((c, golden.clip(c)?)));
    let mut differ = 0u32;
    // Enroll each taught word from its clips, one clip's features at a time.
    let mut enrolled = 0u16;
    for (_, first) in clips.clone().filter(|(_, g)| g.teach) {
        let word = first.label;
        if word == NONE || bank.labels().any(|l| l == word) {
            continue;
        }
        let taught: [usize; sizes::K_MAX] = {
            let mut t = [usize::MAX; sizes::K_MAX];
            for (slot, (c, _)) in t
                .iter_mut()
                .zip(clips.clone().filter(|(_, g)| g.teach && g.label == word))
            {
                *slot = c;
            }
            t
        };
        let k = taught.iter().filter(|&&c| c != usize::MAX).count();
        bank.enroll_each(word, k, &mut x, |j, x| {
            let same = features(&mut fe, golden, taught[j], x)?;
            differ += u32::from(!same);
            Ok(())
        })?;
        enrolled += 1;
        defmt::info!("keyword: word {=u16} enrolled from {=usize} clips", word, k);
    }
    // Classify the other clips (word -1: the ones never taught).
    let mut right = 0u32;
    for (n, (c, g)) in clips.filter(|(_, g)| !g.teach).enumerate() {
        differ += u32::from(!features(&mut fe, golden, c, &mut x)?);
        let s = bank.score(&x)?;
        let (label, p, d) = (s.label, s.probability, s.distance);
        let r = s.relative_distance.unwrap_or(f32::NAN);
        let decision = if d > golden.threshold { NONE } else { label };
        right += u32::from(decision == g.label);
        let host = golden.answer(n);
        let same = host.is_some_and(|h| {
            h.label == label
                && h.p_bits == p.to_bits()
                && h.d_bits == d.to_bits()
                && h.r_bits == s.relative_distance.map_or(u32::MAX, f32::to_bits)
                && h.decision == decision
        });
        differ += u32::from(!same);
        // -1: a word never taught.
        let truth = if g.label == NONE {
            -1
        } else {
            i32::from(g.label)
        };
        defmt::info!(
            "keyword clip {=usize} (word {=i32}): best word {=u16}, p {=f32}, distance {=f32} (bits {=u32:#x}), relative distance {=f32}: {=str}; the host's answer: {=bool}",
            c,
            truth,
            label,
            p,
            d,
            d.to_bits(),
            r,
            if decision == NONE { "unknown" } else { "recognised" },
            same
        );
    }
    defmt::info!(
        "keyword: {=u16} words enrolled; {=u32} of the other clips decided right (threshold distance {=f32}); values differing from the host: {=u32}",
        enrolled,
        right,
        golden.threshold,
        differ
    );
    Ok(differ)
}
