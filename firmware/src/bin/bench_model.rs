//! A model of yours on the Cortex-M4F, run by `cargo xtask bench-firmware --model PATH` under
//! QEMU `-icount shift=0` (the model file through `FEWSHOT_BENCH_MODEL` and `build.rs`): each
//! stem layer as the model runs it, loading, one inference of every head, adapting its first
//! head that adapts (2 samples of each class of a classification head, or 1 when those do not
//! fit; [`VALUE_SAMPLES`] of a regression head's), flash and RAM, as the benchmark's rows of
//! the presets ([`model_rows`]).
//!
//! Its buffers are carved out of one static arena at run time, as the model needs them (the
//! inputs of the support set and the scratch of the larger of an inference and an adaptation:
//! `Model::ram_needs`), so any model whose needs fit the arena and [`PARAMS`] is measured; a
//! model that does not is refused with what it needs and what the benchmark has.
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use fewshot_firmware::entry;
use fewshot_firmware::fixtures::BENCH_USER_MODEL;
use fewshot_firmware::measure;
use fewshot_firmware::model_rows::{self, Row};
use fewshot_runtime::{AdaptState, Heads, Model, Support};

/// Adapted parameters at most (16 KiB of the part's RAM).
const PARAMS: usize = 4096;
/// Floats of the arena (96 KiB of the part's 128 KiB; the rest: the adapted state, 16 KiB, and
/// the stack).
const ARENA: usize = 24 * 1024;
/// Outputs of every head at most.
const OUTPUTS: usize = 256;
/// Support samples of a regression head.
const VALUE_SAMPLES: usize = 10;

/// The arena: zeroed at boot, taken once by `main`.
static mut ARENA_FLOATS: [f32; ARENA] = [0.0; ARENA];
/// The adapted state, built in place by each adaptation.
static mut STATE: MaybeUninit<AdaptState<PARAMS>> = MaybeUninit::uninit();

#[entry]
fn main() -> ! {
    fewshot_firmware::init("bench_model");
    measure::start();
    if BENCH_USER_MODEL.is_empty() {
        defmt::error!("no model: run it through `cargo xtask bench-firmware --model PATH`");
        fewshot_firmware::finish(1)
    }
    // SAFETY: the only references to the arena and the state, taken once before anything else
    // runs.
    let (arena, state) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(ARENA_FLOATS),
            &mut *core::ptr::addr_of_mut!(STATE),
        )
    };
    let name = "your model (--model)";
    let model = model_rows::load(name, BENCH_USER_MODEL);
    let Some(plan) = plan(&model) else {
        fewshot_firmware::finish(1)
    };
    let (inputs, rest) = arena.split_at_mut(plan.samples * model.input_len());
    let (values, rest) = rest.split_at_mut(plan.values);
    let scratch = &mut rest[..plan.scratch];
    let mut seed = 0x1234_5678u32;
    for v in inputs.iter_mut().chain(values.iter_mut()) {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *v = (seed >> 8) as f32 / (1u32 << 24) as f32;
    }
    model_rows::stem_header();
    let stem_macs = model_rows::stem_rows(name, &model, inputs, scratch);
    model_rows::model_header();
    let mut labels = [0u16; 2 * 256];
    for (i, l) in labels.iter_mut().enumerate() {
        *l = (i % plan.ways.max(1)) as u16;
    }
    let support = if plan.ways > 0 {
        Support::classes(inputs, &labels[..plan.samples])
    } else {
        Support::values(inputs, values)
    };
    let row = Row {
        name,
        model: &model,
        stem_macs,
        x: inputs,
        head: plan.head,
        support,
        samples: plan.samples,
        ways: plan.ways,
    };
    let mut out = [0.0f32; OUTPUTS];
    model_rows::model_row(&row, state, scratch, &mut out);
    fewshot_firmware::finish(0)
}

/// What the arena holds for `model`, in floats, and the head it adapts.
struct Plan {
    /// The first head that adapts.
    head: usize,
    /// Its classes (0: values).
    ways: usize,
    /// Support samples.
    samples: usize,
    /// A regression head's support values.
    values: usize,
    /// Scratch of every call (and the halves the stem rows run between).
    scratch: usize,
}

/// The arena's plan for `model`'s first head that adapts (2 samples a class, else 1 when
/// those do not fit), or `None` (logged with the numbers) when none adapts, it has more than
/// 256 classes, the model more than [`OUTPUTS`] outputs or [`PARAMS`] adapted parameters, or
/// its needs pass the arena.
fn plan(model: &Model<'_>) -> Option<Plan> {
    let Some((head, needs)) =
        (0..model.heads().len()).find_map(|h| model.ram_needs(h, 1).ok().map(|n| (h, n)))
    else {
        defmt::error!("not measured: no head of it adapts");
        return None;
    };
    let ways = model_rows::classes(model, head);
    let outputs = model.network().output_len(Heads::ALL);
    if ways > 256 || outputs > OUTPUTS || needs.state > PARAMS {
        defmt::error!(
            "not measured: {=usize} classes (at most 256), {=usize} outputs of all heads (at most {=usize}), {=usize} adapted parameters (at most {=usize})",
            ways,
            outputs,
            OUTPUTS,
            needs.state,
            PARAMS
        );
        return None;
    }
    let (mut last, d) = (0, model.input_len());
    let per_class: &[usize] = if ways > 0 { &[2, 1] } else { &[1] };
    for &per in per_class {
        let samples = if ways > 0 { per * ways } else { VALUE_SAMPLES };
        let values = if ways > 0 {
            0
        } else {
            samples * model.head(head).map_or(1, |h| h.kind.outputs())
        };
        let Ok(needs) = model.ram_needs(head, samples) else {
            defmt::error!(
                "not measured: head {=usize} does not adapt on {=usize} samples",
                head,
                samples
            );
            return None;
        };
        let scratch = needs
            .infer_scratch
            .max(needs.adapt_scratch)
            .max(model_rows::stem_buffers(model));
        let floats = samples * d + values + scratch;
        if floats <= ARENA {
            return Some(Plan {
                head,
                ways,
                samples,
                values,
                scratch,
            });
        }
        last = floats;
        defmt::warn!(
            "{=usize} support samples of {=usize} inputs ({=usize} B) and a scratch of {=usize} B do not fit the arena",
            samples,
            d,
            4 * samples * d,
            4 * scratch
        );
    }
    defmt::error!(
        "not measured: it needs {=usize} B of RAM besides its adapted state, the benchmark has {=usize} B of the part's 128 KiB",
        4 * last,
        4 * ARENA
    );
    None
}
