//! The f32 convolution rows of the benchmark (feature `conv`): single stem layers at batch 1
//! (the runtime's `Conv`, bias and ReLU included) in instructions per MAC, then whole inferences
//! of the convolution models (stem, trunk and every head). MACs are nominal: every tap of every
//! output, the taps in the zero padding included (`LayerOp::macs`). Shapes: the layers of the
//! `plaid_conv1d` and `digits_conv2d` presets, depthwise convolutions of the same sizes, and
//! layers whose rows or planes are not multiples of a block (rows of 5, 7, 10 and 50 outputs,
//! stride 2, pointwise).

use core::hint::black_box;
use fewshot_firmware::fixtures::conv::{DIGITS_CONV2D, PLAID_CONV1D, STEM};
use fewshot_firmware::measure::{self, instructions_x100};
use fewshot_firmware::{self as fw};
use fewshot_runtime::format::spec::{ConvSpec, Map, StemLayer};
use fewshot_runtime::ops::layer::{LayerOp, Stem};
use fewshot_runtime::{Activation, Heads, Model};

/// Weights of the largest layer (32 x 16 x 3 x 3) and its biases, and the largest map (1 024
/// values; padded maps are smaller here).
const MAX_W: usize = 4608 + 32;
const MAX_MAP: usize = 2048;

/// Pseudo-random weights in [-0.5, 0.5), in flash (the stack holds the benchmark's other
/// buffers).
static WEIGHTS: [f32; MAX_W] = weights();

const fn weights() -> [f32; MAX_W] {
    let mut w = [0.0f32; MAX_W];
    let mut seed = 0x2545_f491u32;
    let mut i = 0;
    while i < MAX_W {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        w[i] = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        i += 1;
    }
    w
}

/// A ReLU convolution of `channels` filters of `k` taps over `c x h x w`, stride `stride`,
/// padding `pad`.
fn conv(
    c: u16,
    [h, w]: [u16; 2],
    channels: u16,
    k: [u16; 2],
    stride: u16,
    pad: [u16; 2],
) -> ConvSpec {
    ConvSpec {
        input: Map {
            channels: c,
            height: h,
            width: w,
        },
        channels,
        kernel: k,
        stride,
        padding: pad,
        activation: Activation::Relu,
        offset: 0,
    }
}

fn row(name: &str, insns_x100: u64, macs: u32) {
    defmt::info!(
        "| f32 {=str}, {=u32} MACs | {=u32} | {=f32} per MAC |",
        name,
        macs,
        measure::whole(insns_x100),
        insns_x100 as f32 / 100.0 / macs.max(1) as f32
    );
}

/// One layer's row: `Stem::run`, the stem's path (the padded copy included), between `src`
/// (holding at least its input) and `dst`.
fn layer_row(name: &str, layer: StemLayer, w: &[f32], src: &mut [f32], dst: &mut [f32]) {
    let Ok(op) = Stem::of(&layer) else {
        fw::finish(1)
    };
    let (nw, nb) = (op.weight_count(), op.param_count() - op.weight_count());
    let need = op.inputs().max(op.outputs()).max(op.work_len());
    let (Some(wt), Some(b), true) = (
        w.get(..nw),
        w.get(nw..nw + nb),
        src.len() >= need && dst.len() >= need,
    ) else {
        fw::finish(1)
    };
    if op.validate("bench").is_err() {
        fw::finish(1)
    }
    // Each repetition reads what the last one left in `src` (the counts do not depend on values).
    let n = instructions_x100(3, || {
        black_box(
            op.run(wt, b, black_box(&mut *src), black_box(&mut *dst))
                .is_ok(),
        );
    });
    row(name, n, op.macs() as u32);
}

/// Multiply-accumulates of one inference over every head, the stem included.
fn model_macs(model: &Model<'_>) -> u32 {
    let stem: usize = model
        .stem()
        .iter()
        .filter_map(|l| Stem::of(l).ok())
        .map(|l| l.macs())
        .sum();
    stem as u32 + fewshot_firmware::model_rows::dense_macs(model)
}

/// Logs the f32 convolution rows; `x` (pseudo-random values, at least [`MAX_MAP`]) is the
/// input of every row, `scratch` the models' inference scratch.
#[inline(never)]
pub fn rows(x: &[f32], scratch: &mut [f32]) {
    let (mut src, mut dst) = ([0.0f32; MAX_MAP], [0.0f32; MAX_MAP]);
    src.copy_from_slice(&x[..MAX_MAP]);
    let layers = [
        (
            "conv1d 1x256 -> 8, k7 s2 (plaid_conv1d layer 1)",
            StemLayer::Conv(conv(1, [1, 256], 8, [1, 7], 2, [0, 3])),
        ),
        (
            "conv1d 8x64 -> 16, k5 (plaid_conv1d layer 2)",
            StemLayer::Conv(conv(8, [1, 64], 16, [1, 5], 1, [0, 2])),
        ),
        (
            "conv1d 16x32 -> 32, k5 (plaid_conv1d layer 3)",
            StemLayer::Conv(conv(16, [1, 32], 32, [1, 5], 1, [0, 2])),
        ),
        (
            "conv2d 1x8x8 -> 16, 3x3 (digits_conv2d layer 1)",
            StemLayer::Conv(conv(1, [8, 8], 16, [3, 3], 1, [1, 1])),
        ),
        (
            "conv2d 16x4x4 -> 32, 3x3 (digits_conv2d layer 2)",
            StemLayer::Conv(conv(16, [4, 4], 32, [3, 3], 1, [1, 1])),
        ),
        (
            "depthwise conv1d 8x64, k5",
            StemLayer::Depthwise(conv(8, [1, 64], 8, [1, 5], 1, [0, 2])),
        ),
        (
            "depthwise conv2d 8x8x8, 3x3",
            StemLayer::Depthwise(conv(8, [8, 8], 8, [3, 3], 1, [1, 1])),
        ),
        (
            "conv2d 4x10x10 -> 8, 3x3 (rows of 10)",
            StemLayer::Conv(conv(4, [10, 10], 8, [3, 3], 1, [1, 1])),
        ),
        (
            "depthwise conv2d 6x16x16, 3x3 s2",
            StemLayer::Depthwise(conv(6, [16, 16], 6, [3, 3], 2, [1, 1])),
        ),
        (
            "depthwise conv2d 4x16x24, 3x3 s2 (rows of 12)",
            StemLayer::Depthwise(conv(4, [16, 24], 4, [3, 3], 2, [1, 1])),
        ),
        (
            "depthwise conv2d 2x12x34, 3x3 s2 (rows of 17)",
            StemLayer::Depthwise(conv(2, [12, 34], 2, [3, 3], 2, [1, 1])),
        ),
        (
            "depthwise conv2d 4x13x10, 3x3 s2 (rows of 5)",
            StemLayer::Depthwise(conv(4, [13, 10], 4, [3, 3], 2, [1, 1])),
        ),
        (
            "depthwise conv2d 2x16x20, 3x3 s2 (rows of 10)",
            StemLayer::Depthwise(conv(2, [16, 20], 2, [3, 3], 2, [1, 1])),
        ),
        (
            "pointwise conv2d 16x5x7 -> 16",
            StemLayer::Conv(conv(16, [5, 7], 16, [1, 1], 1, [0, 0])),
        ),
        (
            "pointwise conv2d 16x6x10 -> 16",
            StemLayer::Conv(conv(16, [6, 10], 16, [1, 1], 1, [0, 0])),
        ),
        (
            "conv1d 4x50 -> 8, k5 (rows of 50)",
            StemLayer::Conv(conv(4, [1, 50], 8, [1, 5], 1, [0, 2])),
        ),
    ];
    for (name, layer) in layers {
        layer_row(name, layer, &WEIGHTS, &mut src, &mut dst);
    }
    for (name, blob) in [
        ("inference plaid_conv1d (stem, head)", PLAID_CONV1D),
        ("inference digits_conv2d (stem, head)", DIGITS_CONV2D),
        ("inference conv stem fixture (stem, dense, 2 heads)", STEM),
    ] {
        let model = match Model::from_bytes(blob) {
            Ok(m) => m,
            Err(e) => {
                defmt::error!("{=str}: {}", name, e);
                fw::finish(1)
            }
        };
        let d = model.input_len();
        let mut out = [0.0f32; 32];
        let no = model.network().output_len(Heads::ALL).min(out.len());
        if let Err(e) = model
            .network()
            .infer(&x[..d], Heads::ALL, scratch, &mut out[..no])
        {
            defmt::error!("{=str}: {}", name, e);
            fw::finish(1)
        }
        let n = instructions_x100(3, || {
            let r = model
                .network()
                .infer(black_box(&x[..d]), Heads::ALL, scratch, &mut out[..no]);
            black_box(r.is_ok());
        });
        row(name, n, model_macs(&model));
    }
}
