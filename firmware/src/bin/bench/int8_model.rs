//! The whole int8 models of the benchmark (features `int8` and `conv`): the `plaid_conv1d` and
//! `digits_conv2d` presets as exported in int8 (`models/*_int8.postcard`: quantise, int8 stem,
//! dequantise, the f32 5-way head) beside their f32 exports, on the same inputs. Per model:
//! loading (CRC and validation), one inference (stem and head) in instructions and per MAC,
//! adapting the head from prototypes on 5-way 2-shot support (10 stem passes, then the head's
//! steps), and the model's flash and RAM (its bytes; inference scratch; adapted state and
//! adaptation scratch; the peak stack of each call). MACs: every tap of every output of the
//! stem (the padding's included), one per value a pooling reads or a boundary converts, and the
//! head's.

use core::hint::black_box;
use fewshot_firmware::fixtures::conv::{
    DIGITS_CONV2D, DIGITS_CONV2D_INT8, PLAID_CONV1D, PLAID_CONV1D_INT8,
};
use fewshot_firmware::fixtures::BENCH_USER_MODEL;
use fewshot_firmware::measure::{instructions_x100, peak_stack};
use fewshot_firmware::{self as fw};
use fewshot_runtime::ops::layer::{LayerOp, Stem};
use fewshot_runtime::{AdaptState, Heads, Model, Support};

/// Support samples of the adaptation rows: 2 shots of each of 5 classes for the presets
/// (labels `i % classes`).
const SHOTS: usize = 10;
/// The adapted head's parameters (32 or 128 features x 5 classes + 5 biases).
const PARAMS: usize = 645;

/// Outputs of every head the inference rows take.
const OUTPUTS: usize = 8;

/// Floats of each of the two buffers the stem rows run between (the largest int8 map, plaid's
/// 8 x 128 values, is 256 words; its input 256 floats).
const MAP: usize = 1024;

/// One row per stem layer of `model` as the network runs it (`Stem::run` between the two
/// halves of `buffers`, the first holding `x`: its quantise step reads f32); returns the stem's
/// MACs.
pub fn stem_rows(name: &str, model: &Model<'_>, x: &[f32], buffers: &mut [f32]) -> u32 {
    let half = buffers.len() / 2;
    let (a, b) = buffers.split_at_mut(half);
    let (mut src, mut dst) = (a, &mut b[..half]);
    let d = model.input_len().min(half).min(x.len());
    src[..d].copy_from_slice(&x[..d]);
    let mut macs = 0;
    for (i, layer) in model.stem().iter().enumerate() {
        let (Ok(op), Ok((w, bias))) = (Stem::of(layer), model.stem_params(layer)) else {
            fw::finish(1)
        };
        // (An int8 map's values take a quarter of its count in floats: a layer checks its
        // input's length itself.)
        if op.buffer_len().max(op.work_len()) > half {
            fw::finish(1)
        }
        // A padded f32 convolution overwrites its input: the repetitions read what the last one
        // left (the counts do not depend on the values).
        let mut in_dst = Ok(true);
        let n = instructions_x100(1, || {
            in_dst = op.run(w, bias, black_box(&mut src[..]), &mut dst[..]);
        });
        defmt::info!(
            "| {=str} stem[{=usize}], {=u32} MACs | {=u32} | {=f32} per MAC |",
            name,
            i,
            op.macs() as u32,
            n / 100,
            n as f32 / 100.0 / op.macs().max(1) as f32
        );
        macs += op.macs() as u32;
        match in_dst {
            Ok(true) => core::mem::swap(&mut src, &mut dst),
            Ok(false) => {}
            Err(_) => fw::finish(1),
        }
    }
    macs
}

/// `model` loaded from `blob`, or the benchmark ends with status 1.
fn load<'a>(name: &str, blob: &'a [u8]) -> Model<'a> {
    match Model::from_bytes(blob) {
        Ok(m) => m,
        Err(e) => {
            defmt::error!("{=str}: {}", name, e);
            fw::finish(1)
        }
    }
}

/// The row of one model of `stem_macs` stem MACs; `x` holds at least [`SHOTS`] inputs,
/// `scratch` the calls' scratch.
fn model_row(name: &str, blob: &'static [u8], stem_macs: u32, x: &[f32], scratch: &mut [f32]) {
    let loads = instructions_x100(3, || {
        black_box(Model::from_bytes(black_box(blob)).is_ok());
    });
    let model = load(name, blob);
    let (d, head) = (model.input_len(), 0);
    let Ok(needs) = model.ram_needs(head, SHOTS) else {
        fw::finish(1)
    };
    let mut out = [0.0f32; OUTPUTS];
    let no = model.network().output_len(Heads::ALL).min(out.len());
    let (ok, infer_stack) = peak_stack(|| {
        model
            .network()
            .infer(&x[..d], Heads::ALL, scratch, &mut out[..no])
            .is_ok()
    });
    if !ok {
        fw::finish(1)
    }
    let infer = instructions_x100(3, || {
        let r = model
            .network()
            .infer(black_box(&x[..d]), Heads::ALL, scratch, &mut out[..no]);
        black_box(r.is_ok());
    });
    let mut labels = [0u16; SHOTS];
    let ways = classes(&model).max(1);
    for (i, l) in labels.iter_mut().enumerate() {
        *l = (i % ways) as u16;
    }
    let support = Support::classes(&x[..SHOTS * d], &labels);
    let mut losses = [0.0f32; 8];
    let mut adapt = || {
        let Ok(mut state) = AdaptState::<PARAMS>::new(&model, head) else {
            fw::finish(1)
        };
        state
            .adapt(&model, support, None, scratch, &mut losses)
            .is_ok()
    };
    let (ok, adapt_stack) = peak_stack(&mut adapt);
    if !ok {
        fw::finish(1)
    }
    let adapt_x100 = instructions_x100(1, || {
        black_box(adapt());
    });
    let macs = stem_macs + crate::macs(&model);
    defmt::info!(
        "| {=str} | {=usize} B | load {=u32} | inference {=u32} ({=u32} MACs, {=f32} per MAC) | adapt {=usize}-way, {=usize} samples {=u32} | inference scratch {=usize} B, stack {=u32} B | adaptation state {=usize} B + scratch {=usize} B, stack {=u32} B |",
        name,
        blob.len(),
        loads / 100,
        infer / 100,
        macs,
        infer as f32 / 100.0 / macs.max(1) as f32,
        ways,
        SHOTS,
        adapt_x100 / 100,
        4 * needs.infer_scratch,
        infer_stack,
        4 * needs.state,
        4 * needs.adapt_scratch,
        adapt_stack
    );
}

/// The classes of `model`'s first head (0 when it is not a classification head): the support
/// of the adaptation rows is [`SHOTS`] samples of them in turn.
fn classes(model: &Model<'_>) -> usize {
    match model.head(0).map(|h| h.kind) {
        Ok(fewshot_runtime::HeadKind::Classification { classes }) => usize::from(classes),
        _ => 0,
    }
}

/// Why the benchmark's buffers cannot measure `model` (a user's, `--model`), if they cannot:
/// its input wider than `x` holds for [`SHOTS`] samples, a first head that is not a
/// classification head of 2 to 5 classes (each given 2 of the [`SHOTS`] support samples or
/// more), more than [`OUTPUTS`] outputs of all heads, more adapted parameters than [`PARAMS`],
/// a stem map over [`MAP`] floats, or scratch over `scratch`.
fn unfit(model: &Model<'_>, x: &[f32], scratch: usize) -> Option<&'static str> {
    let classes = classes(model);
    let stem_fits = model
        .stem()
        .iter()
        .all(|l| Stem::of(l).is_ok_and(|op| op.buffer_len().max(op.work_len()) <= MAP));
    let Ok(needs) = model.ram_needs(0, SHOTS) else {
        return Some("its first head does not adapt");
    };
    if model.input_len() > MAP.min(x.len() / SHOTS) {
        Some("its input is wider than the benchmark's 256 values")
    } else if !(2..=SHOTS / 2).contains(&classes) {
        Some("its first head is not a classification head of 2 to 5 classes")
    } else if model.network().output_len(Heads::ALL) > OUTPUTS {
        Some("its heads have more than the benchmark's 8 outputs")
    } else if needs.state > PARAMS {
        Some("it adapts more parameters than the benchmark's 645")
    } else if !stem_fits {
        Some("a stem map is larger than the benchmark's 1 024 floats")
    } else if needs.infer_scratch.max(needs.adapt_scratch) > scratch {
        Some("it needs more scratch than the benchmark's")
    } else {
        None
    }
}

/// Logs each model's stem layers, then the whole-model rows, of the f32 and int8 exports and
/// of the user's model if one was given (`--model`); `x` (pseudo-random values in [0, 1), at
/// least [`SHOTS`] x 256) is every model's input, `scratch` their scratch.
#[inline(never)]
pub fn rows(x: &[f32], scratch: &mut [f32]) {
    let models = [
        ("plaid_conv1d f32", PLAID_CONV1D),
        ("plaid_conv1d int8", PLAID_CONV1D_INT8),
        ("digits_conv2d f32", DIGITS_CONV2D),
        ("digits_conv2d int8", DIGITS_CONV2D_INT8),
        ("your model (--model)", BENCH_USER_MODEL),
    ];
    let mut count = models.len() - 1;
    if !BENCH_USER_MODEL.is_empty() {
        let user = load("your model", BENCH_USER_MODEL);
        match unfit(&user, x, scratch.len()) {
            Some(why) => defmt::warn!("your model (--model) is not measured: {=str}", why),
            None => count += 1,
        }
    }
    let models = &models[..count];
    defmt::info!("| stem layer, as the model runs it | instructions | per MAC |");
    defmt::info!("|---|---:|---:|");
    let mut stem_macs = [0u32; 5];
    let mut buffers = [0.0f32; 2 * MAP];
    for ((name, blob), macs) in models.iter().zip(stem_macs.iter_mut()) {
        *macs = stem_rows(name, &load(name, blob), x, &mut buffers);
    }
    defmt::info!("| model | flash | load | inference (stem, head) | adaptation from prototypes (10 stem passes, 5 steps) | inference RAM | adaptation RAM |");
    defmt::info!("|---|---:|---:|---|---:|---|---|");
    for ((name, blob), macs) in models.iter().zip(stem_macs) {
        model_row(name, blob, macs, x, scratch);
    }
}
