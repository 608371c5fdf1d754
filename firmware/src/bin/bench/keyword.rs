//! The keyword enrollment's rows of the benchmark (issue 14; the demo's `demo/keyword.rs`):
//! the spoken-word clips of `fixtures/keyword-clips.bin` through the keyword model's front-end
//! (pushed in 512-sample chunks, as audio arrives), one int8 trunk inference (of the f32
//! keyword model only its needs: its scratch is more than the RAM), the
//! whole pipeline for one clip (front-end, int8 trunk, the class bank's classification over 3
//! enrolled words), and enrolling one word from 5 clips (5 x front-end and trunk, then the
//! bank's row); then RAM (front-end, trunk scratch, bank) and the models' flash.
//! Sizes come from the generated modules (`sizes::keyword`, `sizes::keyword_f32`).

use core::hint::black_box;
use fewshot_firmware::fixtures::keyword::{self as fx, clip_features};
use fewshot_firmware::measure::instructions_x100;
use fewshot_firmware::sizes::{keyword as sizes, keyword_f32 as f32_sizes};
use fewshot_firmware::{self as fw};
use fewshot_runtime::frontend::AudioConfig;
use fewshot_runtime::ops::layer::{LayerOp, Stem};
use fewshot_runtime::{Error, Model};

use super::row;

/// Samples per push into the front-end (as the demo's golden file has it).
const CHUNK: usize = 512;
/// Clips a word is enrolled from in the enrollment row.
const SHOTS: usize = 5;
const AUDIO: AudioConfig = AudioConfig {
    sample_rate: 16_000,
    channels: 1,
};

/// One trunk inference of `blob` on `x` (its features), with `S` floats of scratch; its flash
/// and trunk scratch. Its own frame: the f32 model's scratch takes most of the RAM.
#[inline(never)]
fn trunk_row<const S: usize>(what: &str, blob: &'static [u8], x: &[f32]) -> Result<(), Error> {
    let model = Model::from_bytes(blob)?;
    let mut scratch = [0.0f32; S];
    let mut out = [0.0f32; 64];
    let f = model.feature_len().min(out.len());
    let mut ran = Ok(());
    let n = instructions_x100(1, || {
        ran = model
            .network()
            .features(black_box(x), &mut scratch, &mut out[..f]);
    });
    ran?;
    fewshot_firmware::model_rows::stem_rows(what, &model, x, &mut scratch);
    let macs: usize = model
        .stem()
        .iter()
        .filter_map(|l| Stem::of(l).ok())
        .map(|op| op.macs())
        .sum();
    row(what, n, "MAC", macs as u32);
    defmt::info!(
        "{=str}: flash {=usize} bytes, trunk scratch {=usize} bytes (2 x {=usize} floats)",
        what,
        model.blob_len(),
        4 * 2 * model.trunk_width(),
        model.trunk_width()
    );
    Ok(())
}

/// The f32 keyword model's flash and inference scratch: not run, its scratch (two buffers of
/// its widest map, the padded input of its depthwise layers) is more than the part's 64 KiB
/// of RAM (the generated learner's, `sizes::keyword_f32::SCRATCH`, likewise).
fn f32_needs() -> Result<(), Error> {
    let model = Model::from_bytes(fx::F32)?;
    defmt::info!(
        "keyword f32 trunk: not run, it needs {=usize} bytes of inference scratch (2 x {=usize} floats; its learner {=usize}); flash {=usize} bytes",
        4 * model.infer_scratch_len(),
        model.trunk_width(),
        4 * f32_sizes::SCRATCH,
        model.blob_len()
    );
    Ok(())
}

/// The keyword model (the generated sizes').
fn keyword_model() -> Result<Model<'static>, Error> {
    let model = Model::from_bytes(fx::MODEL)?;
    if model.model_id() != sizes::MODEL_ID {
        defmt::error!("keyword: the sizes are for another model");
        fw::finish(1)
    }
    Ok(model)
}

/// The front-end on one clip, its features left in `x`.
#[inline(never)]
fn front_end_row(x: &mut [f32]) -> Result<(), Error> {
    let model = keyword_model()?;
    let mut fe = sizes::FrontEnd::for_model(&model, AUDIO)?;
    let mut ran = Ok(());
    let clip = instructions_x100(1, || {
        ran = clip_features(&mut fe, 0, CHUNK, black_box(&mut *x));
    });
    ran?;
    row(
        "keyword front-end, one 1 s clip (512-sample chunks)",
        clip,
        "frame",
        49,
    );
    Ok(())
}

/// Enrollment, the whole pipeline and classification through the class bank; RAM and flash.
#[inline(never)]
fn bank_rows(x: &mut [f32]) -> Result<(), Error> {
    let model = keyword_model()?;
    let mut fe = sizes::FrontEnd::for_model(&model, AUDIO)?;
    let mut bank = sizes::ClassBank::new(&model, sizes::HEAD)?;
    let mut enrolled = Ok(0);
    let enroll = instructions_x100(1, || {
        enrolled = bank.enroll_each(0, SHOTS, x, |j, x| clip_features(&mut fe, j, CHUNK, x));
    });
    enrolled?;
    row(
        "enroll one word from 5 clips (front-end + int8 trunk each, the bank's row)",
        enroll,
        "clip",
        SHOTS as u32,
    );
    for word in 1..3u16 {
        let first = 3 * usize::from(word);
        bank.enroll_each(word, 3, x, |j, x| {
            clip_features(&mut fe, first + j, CHUNK, x)
        })?;
    }
    let mut answer = Ok((0, 0.0));
    let whole = instructions_x100(1, || {
        answer =
            clip_features(&mut fe, 9, CHUNK, black_box(&mut *x)).and_then(|()| bank.classify(x));
    });
    answer?;
    row(
        "whole pipeline, one 1 s clip (front-end, int8 trunk, classify over 3 words)",
        whole,
        "clip",
        1,
    );
    let classify = instructions_x100(1, || {
        answer = bank.classify(black_box(&*x));
    });
    answer?;
    row(
        "... of which the int8 trunk and the bank's classification",
        classify,
        "clip",
        1,
    );
    let (fe_ram, bank_ram) = (
        core::mem::size_of::<sizes::FrontEnd>(),
        core::mem::size_of::<sizes::ClassBank<'_>>(),
    );
    defmt::info!(
        "keyword RAM: front-end {=usize} B (its ring {=usize} B) + class bank {=usize} B (rows of {=usize} words {=usize} B, scratch {=usize} B, of which the int8 trunk's {=usize} B) + one clip's features {=usize} B = {=usize} B; flash: the model {=usize} B",
        fe_ram,
        4 * sizes::INPUTS,
        bank_ram,
        sizes::MAX_CLASSES,
        4 * sizes::BANK,
        4 * sizes::BANK_SCRATCH,
        4 * 2 * model.trunk_width(),
        4 * x.len(),
        fe_ram + bank_ram + 4 * x.len(),
        model.blob_len()
    );
    Ok(())
}

/// The rows, each part in its own frame.
fn rows_or_error() -> Result<(), Error> {
    let mut x = [0.0f32; sizes::INPUTS];
    front_end_row(&mut x)?;
    trunk_row::<{ sizes::BANK_SCRATCH }>("keyword int8 trunk", fx::INT8, &x)?;
    f32_needs()?;
    bank_rows(&mut x)
}

pub fn rows() {
    defmt::info!("| keyword operation | instructions | per unit |");
    defmt::info!("|---|---:|---:|");
    if let Err(e) = rows_or_error() {
        defmt::error!("keyword: {}", e);
        fw::finish(1)
    }
}
