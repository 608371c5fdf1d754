//! Benchmark firmware, run by `cargo xtask bench-firmware` under QEMU `-icount shift=0`, where
//! SysTick counts executed instructions (see `measure`). Logs a Markdown table: instructions to
//! load a model, forward per sample and per MAC, the fixed cost of an adaptation call and the
//! cost of one inner step per (adapted parameter x shot), for the sinusoid network (full,
//! head-only, and the implicit head step), the digits network (5-way head from prototypes) and
//! the digits preset (5-way matching head: 5 prototypes per class, 7 warps), K = 1, 5, 10, 20;
//! then RAM: adapted state, scratch and peak stack of the call. `bench/int8.rs` adds the int8
//! layers, `bench/conv.rs` the f32 convolutions, `bench/int8_model.rs` the convolution presets
//! whole in f32 and int8, `bench/frontend.rs` the audio front-end, `bench/keyword.rs` keyword
//! enrollment from raw audio.
#![no_std]
#![no_main]

use core::hint::black_box;
use fewshot_firmware::entry;
use fewshot_firmware::fixtures::{
    BENCH_DIGITS, BENCH_ENROLL, BENCH_SINUSOID_HEAD, DIGITS, SINUSOID, SINUSOID_PROXIMAL,
};
use fewshot_firmware::measure::{self, instructions_x100, peak_stack, spin};
use fewshot_firmware::model_rows;
use fewshot_firmware::{self as fw};
use fewshot_runtime::{AdaptState, ClassBank, Heads, Model, Support};

#[path = "bench/conv.rs"]
mod conv;
#[path = "bench/frontend.rs"]
mod frontend;
#[path = "bench/int8.rs"]
mod int8;
#[path = "bench/int8_model.rs"]
mod int8_model;
#[path = "bench/keyword.rs"]
mod keyword;

/// Adapted-state capacity: the largest configuration (sinusoid, full network).
const P: usize = 1761;
/// Scratch capacity: the digits preset's matching head, 5-way 10-shot (50 samples x 89 floats).
const SCRATCH: usize = 4600;
/// Samples in the largest support set (digits, 10 per class; 64 KiB of RAM in all).
const MAX_SAMPLES: usize = 50;

fn row(what: &str, insns_x100: u64, unit: &str, units: u32) {
    let per = insns_x100 as f32 / 100.0 / units.max(1) as f32;
    defmt::info!(
        "| {=str} | {=u32} | {=f32} per {=str} |",
        what,
        measure::whole(insns_x100),
        per,
        unit
    );
}

struct Data {
    x: [f32; MAX_SAMPLES * 64],
    y: [f32; MAX_SAMPLES],
    labels: [u16; MAX_SAMPLES],
}

fn support<'a>(data: &'a Data, model: &Model<'_>, classes: bool, n: usize) -> Support<'a> {
    let d = model.input_len();
    if classes {
        Support::classes(&data.x[..n * d], &data.labels[..n])
    } else {
        Support::values(&data.x[..n * d], &data.y[..n])
    }
}

/// Fixed cost of one `adapt` call and cost of one inner step, for K = 1, 5, 10, 20 (per class
/// for classification heads).
fn adaptation(
    name: &str,
    blob: &'static [u8],
    head: usize,
    per_class: usize,
    data: &Data,
    scratch: &mut [f32],
) {
    let Ok(model) = Model::from_bytes(blob) else {
        fw::finish(1)
    };
    let params = model.adapted_param_count(head).unwrap_or(0) as u32;
    let classes = per_class > 1;
    for k in [1usize, 5, 10, 20] {
        let n = k * per_class;
        if n > MAX_SAMPLES {
            continue;
        }
        let Ok(mut state) = AdaptState::<P>::new(&model, head) else {
            fw::finish(1)
        };
        let s = support(data, &model, classes, n);
        let mut losses = [0.0f32; 12];
        let mut run = |steps: u16| {
            instructions_x100(1, || {
                let r = state.adapt(&model, s, Some(steps), scratch, &mut losses);
                if r.is_err() {
                    fw::finish(1)
                }
            })
        };
        let one = run(1);
        let eleven = run(11);
        let step = (eleven.saturating_sub(one)) / 10;
        defmt::info!(
            "| {=str}, K={=usize}{=str}: one step | {=u32} | {=f32} per param x shot ({=u32} params, {=usize} shots) |",
            name,
            k,
            if classes { " per class" } else { "" },
            measure::whole(step),
            step as f32 / 100.0 / (params * n as u32) as f32,
            params,
            n
        );
        defmt::info!(
            "| {=str}, K={=usize}{=str}: adapt call minus its steps | {=u32} | |",
            name,
            k,
            if classes { " per class" } else { "" },
            measure::whole(one.saturating_sub(step))
        );
    }
}

/// RAM of one configuration: adapted state, scratch (from `ram_needs`), peak stack of the call.
fn ram(name: &str, blob: &'static [u8], head: usize, n: usize, data: &Data, scratch: &mut [f32]) {
    let Ok(model) = Model::from_bytes(blob) else {
        fw::finish(1)
    };
    let Ok(needs) = model.ram_needs(head, n) else {
        fw::finish(1)
    };
    let Ok(mut state) = AdaptState::<P>::new(&model, head) else {
        fw::finish(1)
    };
    let s = support(data, &model, per_class_labels(head), n);
    let mut losses = [0.0f32; 12];
    let (ok, stack) = peak_stack(|| state.adapt(&model, s, None, scratch, &mut losses).is_ok());
    if !ok {
        fw::finish(1)
    }
    let bytes = 4 * (needs.state + needs.adapt_scratch) as u32;
    let lower = 4 * needs.lower_bound() as u32;
    defmt::info!(
        "| {=str} | state {=usize} B + scratch {=usize} B = {=u32} B | lower bound {=u32} B (+{=f32}%) | peak stack of the call {=u32} B |",
        name,
        4 * needs.state,
        4 * needs.adapt_scratch,
        bytes,
        lower,
        100.0 * (bytes as f32 / lower as f32 - 1.0),
        stack
    );
}

/// One query through the digits preset: the trunk and the 20-way head once, then the matching
/// head once per warp, with a trunk pass for each warp but the identity (after a prototype start
/// from 5-way 5-shot support).
fn matching_forward(data: &Data, scratch: &mut [f32]) {
    let Ok(model) = Model::from_bytes(DIGITS) else {
        fw::finish(1)
    };
    let Ok(mut state) = AdaptState::<P>::new(&model, 1) else {
        fw::finish(1)
    };
    let mut losses = [0.0f32; 1];
    if state
        .adapt(
            &model,
            support(data, &model, true, 25),
            Some(0),
            scratch,
            &mut losses,
        )
        .is_err()
    {
        fw::finish(1)
    }
    let Ok(net) = state.network(&model) else {
        fw::finish(1)
    };
    let trunk: usize = model.trunk().iter().map(|l| l.macs()).sum();
    let head = |h: usize| -> usize {
        model
            .head(h)
            .map_or(0, |h| h.layers.iter().map(|l| l.macs()).sum())
    };
    let table = model.views().map_or(&[][..], |(_, t)| t);
    let warps = table.len() / 6;
    // The identity view reuses the input's trunk pass: one more pass per other view.
    let identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    let others = table.chunks_exact(6).filter(|w| *w != identity).count();
    let macs = trunk * (1 + others) + head(0) + warps * head(1);
    let mut out = [0.0f32; 32];
    let fwd = instructions_x100(5, || {
        let r = net.infer(black_box(&data.x[..64]), Heads::ALL, scratch, &mut out);
        black_box(r.is_ok());
    });
    row(
        "forward digits preset: trunk + 20-way head, matching head on 7 warps (6 more trunk passes)",
        fwd,
        "MAC",
        macs as u32,
    );
}

/// The class bank of the enrollable digits fixture: 16 classes x (4 + 64 + 1) floats, and its
/// scratch to classify and enroll without inner steps (the numbers `trainer inspect --rust`
/// prints for it; `ClassBank::new` refuses smaller ones).
const ENROLL_SCRATCH: usize = 208;
type EnrollBank<'m> = ClassBank<'m, 1104, ENROLL_SCRATCH>;

/// Enrolling one class from 5 samples into a bank that holds 4 (trunk passes, prototype row),
/// then classifying one sample over the 5 active classes: instructions, RAM (bank + scratch)
/// and the peak stack of the enroll call.
fn enrollment(data: &Data) {
    let Ok(model) = Model::from_bytes(BENCH_ENROLL) else {
        fw::finish(1)
    };
    let Ok(mut bank) = EnrollBank::new(&model, 0) else {
        fw::finish(1)
    };
    let d = model.input_len();
    for label in 0..4u16 {
        let at = usize::from(label) * 5 * d;
        if bank.enroll(label, &data.x[at..at + 5 * d]).is_err() {
            fw::finish(1)
        }
    }
    let x = &data.x[20 * d..25 * d];
    let enroll = instructions_x100(1, || {
        black_box(bank.enroll(black_box(4), x).is_ok());
    });
    let classify = instructions_x100(5, || {
        black_box(bank.classify(black_box(&data.x[..d])).is_ok());
    });
    let _ = bank.forget(4);
    let (ok, stack) = peak_stack(|| bank.enroll(4, x).is_ok());
    if !ok || bank.len() != 5 {
        fw::finish(1)
    }
    row(
        "enroll one class from 5 samples (digits 64-64-64, bank of 16)",
        enroll,
        "sample",
        5,
    );
    row(
        "classify over 5 enrolled classes (digits 64-64-64)",
        classify,
        "class",
        5,
    );
    defmt::info!(
        "| class bank of 16 classes (64 features) | bank {=usize} B + scratch {=usize} B = {=usize} B | peak stack of enroll {=u32} B |",
        4 * bank.as_slice().len(),
        4 * ENROLL_SCRATCH,
        4 * (bank.as_slice().len() + ENROLL_SCRATCH),
        stack
    );
}

fn per_class_labels(head: usize) -> bool {
    head == 1
}

#[entry]
fn main() -> ! {
    fw::init("bench");
    measure::start();
    // 2 x 100 000 instructions, plus the call (counted exactly on RISC-V; SysTick's steps of
    // 40 hide it on the Cortex-M).
    let cal = instructions_x100(1, || spin(black_box(100_000)));
    if !(200_000..=200_040).contains(&(cal / 100)) {
        defmt::error!(
            "calibration: {=u32} instructions counted for 200000",
            measure::whole(cal)
        );
        fw::finish(1)
    }

    // First, in frames of their own: the keyword model's front-end and bank need most of the RAM.
    keyword::rows();
    rows()
}

/// The other rows, on pseudo-random data.
#[inline(never)]
fn rows() -> ! {
    let mut data = Data {
        x: [0.0; MAX_SAMPLES * 64],
        y: [0.0; MAX_SAMPLES],
        labels: [0; MAX_SAMPLES],
    };
    let mut seed = 0x1234_5678u32;
    for v in data.x.iter_mut() {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *v = (seed >> 8) as f32 / (1u32 << 24) as f32;
    }
    for (i, (y, l)) in data.y.iter_mut().zip(data.labels.iter_mut()).enumerate() {
        *y = data.x[i] * 2.0 - 1.0;
        *l = (i % 5) as u16;
    }
    let mut scratch = [0.0f32; SCRATCH];

    defmt::info!("| operation | instructions | per unit |");
    defmt::info!("|---|---:|---:|");
    for (name, blob) in [("sinusoid", SINUSOID), ("digits", BENCH_DIGITS)] {
        let load = instructions_x100(3, || {
            black_box(Model::from_bytes(black_box(blob)).is_ok());
        });
        let what = if name == "digits" {
            "load digits model (Model::from_bytes: CRC + validation)"
        } else {
            "load sinusoid model (Model::from_bytes: CRC + validation)"
        };
        row(what, load, "byte", blob.len() as u32);
        let (_, stack) = peak_stack(|| black_box(Model::from_bytes(black_box(blob)).is_ok()));
        defmt::info!(
            "load {=str} model: peak stack of Model::from_bytes {=u32} B (the Model it returns: {=usize} B)",
            name,
            stack,
            core::mem::size_of::<Model>()
        );
        let Ok(model) = Model::from_bytes(blob) else {
            fw::finish(1)
        };
        let net = model.network();
        let mut out = [0.0f32; 16];
        let d = model.input_len();
        let fwd = instructions_x100(20, || {
            let r = net.infer(black_box(&data.x[..d]), Heads::ALL, &mut scratch, &mut out);
            black_box(r.is_ok());
        });
        let what = if name == "digits" {
            "forward digits 64-64-64 + heads 10, 5 (batch 1)"
        } else {
            "forward sinusoid 1-40-40-1 (batch 1)"
        };
        row(what, fwd, "MAC", model_rows::dense_macs(&model));
    }
    matching_forward(&data, &mut scratch);
    enrollment(&data);
    int8::rows();
    conv::rows(&data.x, &mut scratch);
    int8_model::rows(&data.x, &mut scratch);
    frontend::rows();
    adaptation("sinusoid full network", SINUSOID, 0, 1, &data, &mut scratch);
    adaptation(
        "sinusoid head only",
        BENCH_SINUSOID_HEAD,
        0,
        1,
        &data,
        &mut scratch,
    );
    adaptation(
        "sinusoid implicit head step",
        SINUSOID_PROXIMAL,
        0,
        1,
        &data,
        &mut scratch,
    );
    adaptation("digits 5-way head", BENCH_DIGITS, 1, 5, &data, &mut scratch);
    adaptation(
        "digits preset matching head (5 prototypes per class)",
        DIGITS,
        1,
        5,
        &data,
        &mut scratch,
    );

    defmt::info!("| configuration | adaptation RAM | lower bound | stack |");
    defmt::info!("|---|---|---|---|");
    ram(
        "sinusoid full network, K=10",
        SINUSOID,
        0,
        10,
        &data,
        &mut scratch,
    );
    ram(
        "sinusoid implicit head step, K=10",
        SINUSOID_PROXIMAL,
        0,
        10,
        &data,
        &mut scratch,
    );
    ram(
        "digits 5-way 5-shot head",
        BENCH_DIGITS,
        1,
        25,
        &data,
        &mut scratch,
    );
    ram(
        "digits preset matching head, 5-way 5-shot",
        DIGITS,
        1,
        25,
        &data,
        &mut scratch,
    );
    fw::finish(0)
}
