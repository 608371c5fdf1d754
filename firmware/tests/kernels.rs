//! The inner loop's kernels on the target against the portable code, bit for bit:
//! `columns_step` (the Cortex-M4F kernel where it applies) and `columns_step_portable` on the
//! same pseudo-random layers, over shapes, sample counts, rates, clips (hit and not) and the
//! previous layer's activation; `dense_batch`, `dense` per sample (the forward kernels apply
//! the ReLU as they store, `dense_batch` after; rows four, two and one at a time) and each
//! row's bias plus its terms in order; a one-input ReLU layer (the Cortex-M4F kernel
//! for its rows in fours) against `activate(Relu, b + w x)`. On the Cortex-M3 both sides are the
//! portable code. The same equality lets the `portable-kernels` feature build the portable code
//! on the Cortex-M4F too (smaller, slower): it changes no result.
#![no_std]
#![no_main]

use fewshot_firmware::entry;
use fewshot_firmware::{self as fw, Checks};
use fewshot_runtime::math::block::{
    bias_step, bias_step_portable, columns_step, columns_step_portable, Backprop, Columns,
};
use fewshot_runtime::math::{activate, dense, dense_batch, Rate};
use fewshot_runtime::Activation;

const MAX_NI: usize = 24;
const MAX_NO: usize = 9;
const MAX_K: usize = 7;

/// One layer's data: weights, rates, deltas, inputs and the backpropagation block.
#[derive(Clone)]
struct Layer {
    w: [f32; MAX_NO * MAX_NI],
    rates: [f32; MAX_NO * MAX_NI],
    deltas: [f32; MAX_K * MAX_NO],
    inputs: [f32; MAX_K * MAX_NI],
    block: [f32; 8 * MAX_K],
}

struct Lcg(u32);

impl Lcg {
    /// Uniform in [-1, 1), with exact zeros (both signs) now and then.
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        match self.0 >> 28 {
            0 => 0.0,
            1 => -0.0,
            _ => (self.0 >> 8) as f32 / (1u32 << 23) as f32 - 1.0,
        }
    }
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

struct Case {
    ni: usize,
    no: usize,
    k: usize,
    j0: usize,
    each: bool,
    clip: f32,
    back: Option<Activation>,
}

fn run(case: &Case, layer: &mut Layer, portable: bool) -> bool {
    let Case {
        ni,
        no,
        k,
        j0,
        each,
        clip,
        back,
    } = *case;
    let width = ni - j0;
    let rate = if each {
        Rate::Each(&layer.rates[..ni * no])
    } else {
        Rate::Same(0.37)
    };
    let cols = Columns {
        w: &mut layer.w[..ni * no],
        rate,
        clip,
        deltas: &layer.deltas[..k * no],
        inputs: &mut layer.inputs[..k * ni],
        ni,
        no,
        k,
        j0,
        width,
    };
    let back = back.map(|act| Backprop {
        block: &mut layer.block[..8 * k],
        act,
    });
    let r = if portable {
        columns_step_portable(cols, back)
    } else {
        columns_step(cols, back)
    };
    r.is_ok()
}

fn agree(case: &Case, rng: &mut Lcg) -> bool {
    let mut a = Layer {
        w: [0.0; MAX_NO * MAX_NI],
        rates: [0.0; MAX_NO * MAX_NI],
        deltas: [0.0; MAX_K * MAX_NO],
        inputs: [0.0; MAX_K * MAX_NI],
        block: [0.0; 8 * MAX_K],
    };
    for v in
        a.w.iter_mut()
            .chain(a.rates.iter_mut())
            .chain(a.deltas.iter_mut())
            .chain(a.inputs.iter_mut())
    {
        *v = rng.next();
    }
    let mut b = a.clone();
    let ok = run(case, &mut a, false) && run(case, &mut b, true);
    // The portable code fills only the last block's width in each block row.
    let width = match (case.ni - case.j0) % 8 {
        0 => 8,
        w => w,
    };
    let blocks = a
        .block
        .chunks_exact(8)
        .zip(b.block.chunks_exact(8))
        .all(|(x, y)| same_bits(&x[..width], &y[..width]));
    ok && blocks
        && same_bits(&a.w, &b.w)
        && same_bits(&a.inputs, &b.inputs)
        && same_bits(&a.deltas, &b.deltas)
}

/// `bias_step` against `bias_step_portable`.
fn bias_agrees(no: usize, k: usize, each: bool, clip: f32, rng: &mut Lcg) -> bool {
    let mut bias = [0.0f32; 24];
    let mut rates = [0.0f32; 24];
    let mut deltas = [0.0f32; MAX_K * 24];
    for v in bias
        .iter_mut()
        .chain(rates.iter_mut())
        .chain(deltas.iter_mut())
    {
        *v = rng.next();
    }
    let mut other = bias;
    let rate = if each {
        Rate::Each(&rates[..no])
    } else {
        Rate::Same(0.37)
    };
    let d = &deltas[..k * no];
    let ok = bias_step(&mut bias[..no], rate, clip, d, no).is_ok()
        && bias_step_portable(&mut other[..no], rate, clip, d, no, 0).is_ok();
    ok && same_bits(&bias, &other)
}

/// `dense_batch` against `dense` on each sample.
fn dense_agrees(ni: usize, no: usize, k: usize, act: Activation, rng: &mut Lcg) -> bool {
    let mut w = [0.0f32; MAX_NO * MAX_NI];
    let mut b = [0.0f32; MAX_NO];
    let mut xs = [0.0f32; MAX_K * MAX_NI];
    for v in w.iter_mut().chain(b.iter_mut()).chain(xs.iter_mut()) {
        *v = rng.next();
    }
    let (w, b, xs) = (&w[..ni * no], &b[..no], &xs[..k * ni]);
    let mut batch = [0.0f32; MAX_K * MAX_NO];
    let mut each = [0.0f32; MAX_K * MAX_NO];
    let mut reference = [0.0f32; MAX_K * MAX_NO];
    dense_batch(w, b, xs, &mut batch[..k * no], (ni, no), act);
    for ((x, y), r) in xs
        .chunks_exact(ni)
        .zip(each.chunks_exact_mut(no))
        .zip(reference.chunks_exact_mut(no))
    {
        dense(w, b, x, y, act);
        // Each row: its bias, then every term in order (what the kernels do, four rows, two
        // or one at a time).
        for ((ri, row), bi) in r.iter_mut().zip(w.chunks_exact(ni)).zip(b) {
            let z = row.iter().zip(x).fold(*bi, |acc, (wj, xj)| acc + wj * xj);
            *ri = activate(act, z);
        }
    }
    same_bits(&batch, &each) && same_bits(&each, &reference)
}

/// A one-input ReLU layer of `no` rows through `dense` against `activate(Relu, b + w x)`.
fn column_agrees(no: usize, rng: &mut Lcg) -> bool {
    const MAX: usize = 41;
    let mut w = [0.0f32; MAX];
    let mut b = [0.0f32; MAX];
    for v in w.iter_mut().chain(b.iter_mut()) {
        *v = rng.next();
    }
    let x0 = 4.0 * rng.next();
    let mut y = [0.0f32; MAX];
    let mut expected = [0.0f32; MAX];
    dense(&w[..no], &b[..no], &[x0], &mut y[..no], Activation::Relu);
    for ((e, wi), bi) in expected[..no].iter_mut().zip(&w).zip(&b) {
        *e = activate(Activation::Relu, bi + wi * x0);
    }
    same_bits(&y[..no], &expected[..no])
}

#[entry]
fn main() -> ! {
    fw::init("backward kernel against the portable code");
    let mut c = Checks::new();
    let mut rng = Lcg(0x2545_f491);
    let mut cases = 0u32;
    let mut same = 0u32;
    for (ni, j0) in [
        (8, 0),
        (16, 8),
        (24, 0),
        (24, 16),
        (12, 0),
        (9, 8),
        (17, 0),
        (1, 0),
    ] {
        for no in [1, 2, 5] {
            for k in [1, 2, 7] {
                for each in [false, true] {
                    // A clip of 0.05 clamps most gradients; 100 none.
                    for clip in [0.05, 100.0] {
                        for back in [None, Some(Activation::Relu), Some(Activation::Identity)] {
                            let case = Case {
                                ni,
                                no,
                                k,
                                j0,
                                each,
                                clip,
                                back,
                            };
                            cases += 1;
                            same += u32::from(agree(&case, &mut rng));
                        }
                    }
                }
            }
        }
    }
    defmt::info!("{=u32} of {=u32} cases bit-identical", same, cases);
    c.check(same == cases, "columns_step equals the portable code");
    let (mut cases, mut same) = (0u32, 0u32);
    for no in [1, 5, 8, 16, 21, 24] {
        for k in [1, 2, 7] {
            for each in [false, true] {
                for clip in [0.05, 100.0] {
                    cases += 1;
                    same += u32::from(bias_agrees(no, k, each, clip, &mut rng));
                }
            }
        }
    }
    defmt::info!("{=u32} of {=u32} cases bit-identical", same, cases);
    c.check(same == cases, "bias_step equals the portable code");
    let (mut cases, mut same) = (0u32, 0u32);
    for ni in [1, 8, 16, 24, 12] {
        for no in [1, 2, 3, 4, 5, 6, 7, 9] {
            for k in [1, 2, 7] {
                for act in [Activation::Identity, Activation::Relu, Activation::Tanh] {
                    cases += 1;
                    same += u32::from(dense_agrees(ni, no, k, act, &mut rng));
                }
            }
        }
    }
    defmt::info!("{=u32} of {=u32} cases bit-identical", same, cases);
    c.check(
        same == cases,
        "dense_batch equals dense on each sample and the terms in order",
    );
    let (mut cases, mut same) = (0u32, 0u32);
    for no in [1, 3, 4, 5, 8, 40, 41] {
        for _ in 0..4 {
            cases += 1;
            same += u32::from(column_agrees(no, &mut rng));
        }
    }
    defmt::info!("{=u32} of {=u32} cases bit-identical", same, cases);
    c.check(
        same == cases,
        "a one-input ReLU layer equals activate(Relu, b + w x)",
    );
    c.finish()
}
