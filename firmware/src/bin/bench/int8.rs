//! The int8 rows of the benchmark: dense and convolution layers at batch 1 with the target's
//! kernels (`SMLAD` on the Cortex-M4F) and with the portable kernels, in instructions per MAC.
//! Shapes: dense 64 x 64, the first two layers of `plaid_conv1d` (conv1d 1 x 256 -> 8, kernel
//! 7, stride 2; 8 x 64 -> 16, kernel 5) and of `digits_conv2d` (1 x 8 x 8 -> 16, 3 x 3; 16 x 4
//! x 4 -> 32, 3 x 3), and a mid-network layer with more channels (16 x 8 x 8 -> 32, 3 x 3), all
//! with zero padding.

use core::hint::black_box;
use fewshot_firmware::int8::conv_geom as geom;
use fewshot_firmware::measure::{self, instructions_x100};
use fewshot_firmware::{self as fw};
use fewshot_runtime::math::int8::{
    conv_with, dense_with, ConvGeom, Kernels, Native, Portable, QuantConv, QuantDense, Requant,
};
use fewshot_runtime::Error;

const MAX_W: usize = 4608;
const MAX_C: usize = 64;

/// Weights, inputs and requantisation shared by every shape (pseudo-random).
struct Data {
    w: [i8; MAX_W],
    x: [i8; 1024],
    y: [i8; 1024],
    bias: [i32; MAX_C],
    mult: [i32; MAX_C],
    shift: [i32; MAX_C],
    scratch: [u32; 512],
}

/// One table row: `| int8 NAME (KERNELS) | instructions | per MAC |`.
fn row(name: &str, kernels: &str, insns_x100: u64, macs: u32) {
    let per = insns_x100 as f32 / 100.0 / macs.max(1) as f32;
    defmt::info!(
        "| int8 {=str} ({=str}), {=u32} MACs | {=u32} | {=f32} per MAC |",
        name,
        kernels,
        macs,
        measure::whole(insns_x100),
        per
    );
}

/// Ends the benchmark when a layer refuses its buffers: a row must time the layer, not the
/// refusal.
fn check(name: &str, kernels: &str, r: Result<(), Error>) {
    if let Err(e) = r {
        defmt::error!("int8 {=str} ({=str}): {}", name, kernels, e);
        fw::finish(1)
    }
}

/// One dense layer, not inlined: every row's timed call and its check reach the kernels
/// through one call site, as the runtime's stem does (the compiler inlines them alike).
#[inline(never)]
fn run_dense<K: Kernels>(
    l: &QuantDense,
    x: &[i8],
    y: &mut [i8],
    s: &mut [u32],
) -> Result<(), Error> {
    dense_with::<K>(l, x, y, s)
}

/// One convolution, not inlined (as [`run_dense`]).
#[inline(never)]
fn run_conv<K: Kernels>(l: &QuantConv, x: &[i8], y: &mut [i8], s: &mut [u32]) -> Result<(), Error> {
    conv_with::<K>(l, x, y, s)
}

fn requant(d: &Data, n: usize) -> Requant<'_> {
    Requant {
        multiplier: &d.mult[..n],
        shift: &d.shift[..n],
        out_zp: -128,
        act_min: -128,
        act_max: 127,
    }
}

fn dense_row<K: Kernels>(d: &mut Data, kernels: &str) {
    let Data {
        w,
        x,
        y,
        bias,
        mult,
        shift,
        scratch,
    } = d;
    let requant = Requant {
        multiplier: &mult[..64],
        shift: &shift[..64],
        out_zp: -128,
        act_min: -128,
        act_max: 127,
    };
    let l = QuantDense {
        inputs: 64,
        outputs: 64,
        in_zp: -3,
        weights: &w[..4096],
        bias: &bias[..64],
        requant,
    };
    let name = "dense 64x64, batch 1";
    check(
        name,
        kernels,
        run_dense::<K>(&l, &x[..64], &mut y[..64], scratch),
    );
    let n = instructions_x100(10, || {
        // The layer through `black_box`, as a model's layer read from flash: its dimensions
        // are not constants the compiler could fold into the kernels.
        black_box(
            run_dense::<K>(black_box(&l), black_box(&x[..64]), &mut y[..64], scratch).is_ok(),
        );
        // The outputs are read: otherwise the compiler may leave out what computes them.
        black_box(&mut y[..64]);
    });
    row(name, kernels, n, 4096);
}

fn conv_row<K: Kernels>(d: &mut Data, name: &str, g: ConvGeom, kernels: &str) {
    let Ok([c, h, w]) = g.output() else { return };
    let fan = g.fan_in().unwrap_or(0);
    let macs = (c * h * w * fan) as u32;
    let rq = requant(d, g.out_channels);
    let l = QuantConv {
        geom: g,
        in_zp: -3,
        weights: &d.w[..g.out_channels * fan],
        bias: &d.bias[..g.out_channels],
        requant: rq,
    };
    let (mut y, mut s) = ([0i8; 2048], [0u32; 1024]);
    let x = &d.x[..g.input_len()];
    check(
        name,
        kernels,
        run_conv::<K>(&l, x, &mut y[..c * h * w], &mut s),
    );
    let n = instructions_x100(3, || {
        black_box(
            run_conv::<K>(
                black_box(&l),
                black_box(&d.x[..g.input_len()]),
                &mut y[..c * h * w],
                &mut s,
            )
            .is_ok(),
        );
        black_box(&mut y);
    });
    row(name, kernels, n, macs);
}

/// Logs the int8 rows (target kernels, then portable) of the instruction table.
pub fn rows() {
    let mut d = Data {
        w: [0; MAX_W],
        x: [0; 1024],
        y: [0; 1024],
        bias: [0; MAX_C],
        mult: [0; MAX_C],
        shift: [0; MAX_C],
        scratch: [0; 512],
    };
    let mut seed = 0x9e37_79b9u32;
    for v in d.w.iter_mut().chain(d.x.iter_mut()) {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *v = (seed >> 24) as u8 as i8;
    }
    for c in 0..MAX_C {
        d.bias[c] = c as i32 * 97 - 1500;
        d.mult[c] = 1_300_000_000 + c as i32 * 1_000_000;
        d.shift[c] = -9;
    }
    let shapes = [
        (
            "conv1d 1x256 -> 8, k7 s2 (plaid_conv1d layer 1)",
            geom(1, [1, 256], 8, [1, 7], 2, [0, 3], false),
        ),
        (
            "conv1d 8x64 -> 16, k5 (plaid_conv1d layer 2)",
            geom(8, [1, 64], 16, [1, 5], 1, [0, 2], false),
        ),
        (
            "conv2d 1x8x8 -> 16, 3x3 (digits_conv2d layer 1)",
            geom(1, [8, 8], 16, [3, 3], 1, [1, 1], false),
        ),
        (
            "conv2d 16x4x4 -> 32, 3x3 (digits_conv2d layer 2)",
            geom(16, [4, 4], 32, [3, 3], 1, [1, 1], false),
        ),
        (
            "conv2d 16x8x8 -> 32, 3x3 (a mid-network layer)",
            geom(16, [8, 8], 32, [3, 3], 1, [1, 1], false),
        ),
    ];
    dense_row::<Native>(&mut d, "target kernels");
    dense_row::<Portable>(&mut d, "portable");
    for (name, g) in shapes {
        conv_row::<Native>(&mut d, name, g, "target kernels");
        conv_row::<Portable>(&mut d, name, g, "portable");
    }
}
