//! The int8 kernels on the target: the layers with the target's kernels (`SMLAD` on the
//! Cortex-M4F) against the portable kernels on the same pseudo-random layers (exactly equal
//! integers), over dense and convolution shapes, zero points and activation clamps; then a
//! golden case whose outputs were computed on the host (`runtime/tests/int8.rs`,
//! `golden_vectors_for_the_firmware`). On the Cortex-M3 both sides are the portable code.
#![no_std]
#![no_main]

use fewshot_firmware::entry;
use fewshot_firmware::int8::conv_geom as geom;
use fewshot_firmware::{self as fw, Checks};
use fewshot_runtime::math::int8::{
    conv, conv_with, dense, dense_with, ConvGeom, Portable, QuantConv, QuantDense, Requant,
    MAX_SHORT_RIGHT,
};

const MAX_W: usize = 4608;
const MAX_X: usize = 512;
const MAX_Y: usize = 1024;
const MAX_C: usize = 64;
const SCRATCH: usize = 1024;

struct Lcg(u32);

impl Lcg {
    fn i8(&mut self) -> i8 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 24) as u8 as i8
    }
}

/// Pseudo-random weights, inputs, biases and requantisation for up to `MAX_C` channels.
struct Data {
    w: [i8; MAX_W],
    x: [i8; MAX_X],
    bias: [i32; MAX_C],
    mult: [i32; MAX_C],
    shift: [i32; MAX_C],
}

impl Data {
    fn new(rng: &mut Lcg) -> Self {
        let mut d = Data {
            w: [0; MAX_W],
            x: [0; MAX_X],
            bias: [0; MAX_C],
            mult: [0; MAX_C],
            shift: [0; MAX_C],
        };
        d.w.iter_mut()
            .chain(d.x.iter_mut())
            .for_each(|v| *v = rng.i8());
        for c in 0..MAX_C {
            d.bias[c] = i32::from(rng.i8()) * 150;
            d.mult[c] = (1 << 30) + i32::from(rng.i8() as u8) * (1 << 22);
            d.shift[c] = -6 - i32::from(rng.i8() as u8 % 6);
        }
        d
    }
    fn requant(&self, n: usize, zp: i32, relu: bool) -> Requant<'_> {
        Requant {
            multiplier: &self.mult[..n],
            shift: &self.shift[..n],
            out_zp: zp,
            act_min: if relu { zp as i8 } else { -128 },
            act_max: 127,
        }
    }
}

fn dense_agrees(d: &Data, inputs: usize, outputs: usize, zp: (i32, i32, bool)) -> bool {
    let l = QuantDense {
        inputs,
        outputs,
        in_zp: zp.0,
        weights: &d.w[..inputs * outputs],
        bias: &d.bias[..outputs],
        requant: d.requant(outputs, zp.1, zp.2),
    };
    let (mut a, mut b, mut s) = ([0i8; MAX_C], [1i8; MAX_C], [0u32; SCRATCH]);
    let x = &d.x[..inputs];
    let ra = dense(&l, x, &mut a[..outputs], &mut s);
    let rb = dense_with::<Portable>(&l, x, &mut b[..outputs], &mut s);
    ra.is_ok() && rb.is_ok() && a[..outputs] == b[..outputs]
}

fn conv_agrees(d: &Data, geom: ConvGeom, zp: (i32, i32, bool)) -> bool {
    let Ok([c, h, w]) = geom.output() else {
        return false;
    };
    let n = c * h * w;
    let fan = geom.fan_in().unwrap_or(0);
    let l = QuantConv {
        geom,
        in_zp: zp.0,
        weights: &d.w[..geom.out_channels * fan],
        bias: &d.bias[..geom.out_channels],
        requant: d.requant(geom.out_channels, zp.1, zp.2),
    };
    let (mut a, mut b, mut s) = ([0i8; MAX_Y], [1i8; MAX_Y], [0u32; SCRATCH]);
    let x = &d.x[..geom.input_len()];
    let ra = conv(&l, x, &mut a[..n], &mut s);
    let rb = conv_with::<Portable>(&l, x, &mut b[..n], &mut s);
    ra.is_ok() && rb.is_ok() && a[..n] == b[..n]
}

/// The shapes of the cases near 2^30: a 1 x 1 convolution to `channels` channels, and a 3 x 3
/// one to 8.
fn large_cases_agree(d: &Data, channels: usize) -> bool {
    let pointwise = geom(8, [2, 6], channels, [1, 1], 1, [0, 0], false);
    let full = geom(16, [4, 4], 8, [3, 3], 1, [1, 1], false);
    conv_agrees(d, pointwise, (0, 3, false)) && conv_agrees(d, full, (-5, 0, false))
}

/// `x[i] = (i k + 11) mod 255` as int8: the host test's formula.
fn golden(out: &mut [i8], k: usize) {
    for (i, v) in out.iter_mut().enumerate() {
        *v = ((i * k + 11) % 255) as u8 as i8;
    }
}

fn fnv(y: &[i8]) -> u32 {
    y.iter().fold(0x811c_9dc5u32, |h, &v| {
        (h ^ u32::from(v as u8)).wrapping_mul(0x0100_0193)
    })
}

/// The host's golden case: a 20 -> 8 dense layer and a 1x8x8 -> 4 channel 3x3 convolution.
fn golden_case(c: &mut Checks) {
    let (mut w, mut x) = ([0i8; 160], [0i8; 64]);
    golden(&mut w, 37);
    golden(&mut x[..20], 53);
    let mut bias = [0i32; 8];
    let mut shift = [0i32; 8];
    for o in 0..8 {
        bias[o] = o as i32 * 1000 - 3500;
        shift[o] = -8 - (o as i32) % 3;
    }
    let mult = [1_518_500_250i32; 8];
    let rq = Requant {
        multiplier: &mult,
        shift: &shift,
        out_zp: -7,
        act_min: -7,
        act_max: 127,
    };
    let l = QuantDense {
        inputs: 20,
        outputs: 8,
        in_zp: 3,
        weights: &w,
        bias: &bias,
        requant: rq,
    };
    let mut y = [0i8; 8];
    let ok = dense(&l, &x[..20], &mut y, &mut [0u32; 10]).is_ok();
    c.check(
        ok && y == [72, -6, -7, -7, -7, -7, -3, -4],
        "int8 dense equals the host's golden vector",
    );
    golden(&mut w[..36], 29);
    golden(&mut x, 71);
    let rq = Requant {
        out_zp: 4,
        act_min: -128,
        shift: &shift[..4],
        multiplier: &mult[..4],
        ..rq
    };
    let g = geom(1, [8, 8], 4, [3, 3], 1, [1, 1], false);
    let l = QuantConv {
        geom: g,
        in_zp: -5,
        weights: &w[..36],
        bias: &bias[..4],
        requant: rq,
    };
    let mut y = [0i8; 256];
    let ok = conv(&l, &x, &mut y, &mut [0u32; 64]).is_ok();
    c.check(
        ok && fnv(&y) == 2_570_940_937,
        "int8 conv equals the host's golden vector",
    );
}

#[entry]
fn main() -> ! {
    fw::init("int8 kernels against the portable code");
    let mut c = Checks::new();
    let d = Data::new(&mut Lcg(0x2545_f491));
    let zps = [
        (0, 0, false),
        (-128, 5, true),
        (127, -128, false),
        (-3, -7, true),
    ];
    let (mut cases, mut same) = (0u32, 0u32);
    for (ni, no) in [
        (1, 1),
        (3, 5),
        (4, 2),
        (7, 3),
        (64, 64),
        (33, 9),
        (128, 32),
        (17, 1),
    ] {
        for zp in zps {
            cases += 1;
            same += u32::from(dense_agrees(&d, ni, no, zp));
        }
    }
    defmt::info!("{=u32} of {=u32} dense cases equal", same, cases);
    c.check(same == cases, "int8 dense equals the portable kernels");
    let geoms = [
        geom(1, [1, 64], 8, [1, 7], 2, [0, 3], false),
        geom(8, [1, 32], 16, [1, 5], 1, [0, 2], false),
        geom(16, [1, 9], 32, [1, 5], 1, [0, 2], false),
        geom(1, [8, 8], 8, [3, 3], 1, [1, 1], false),
        geom(16, [4, 4], 32, [3, 3], 1, [1, 1], false),
        geom(3, [5, 6], 2, [2, 3], 2, [1, 0], false),
        geom(4, [5, 5], 4, [3, 3], 1, [1, 1], true),
        geom(2, [1, 9], 2, [1, 4], 3, [0, 0], true),
        // three-row direct kernels: stride 2 (the keyword trunk's), four columns, stride 3
        geom(1, [9, 7], 5, [3, 3], 2, [1, 1], false),
        geom(3, [9, 8], 3, [3, 3], 2, [1, 1], true),
        geom(2, [6, 9], 2, [3, 4], 1, [1, 2], true),
        geom(1, [7, 10], 3, [3, 2], 3, [1, 0], false),
        // blocks of whole output rows, the last one shorter; rows longer than a block
        geom(1, [13, 20], 3, [3, 3], 1, [1, 1], false),
        geom(1, [3, 150], 2, [3, 3], 1, [1, 1], false),
    ];
    let (mut cases, mut same) = (0u32, 0u32);
    for g in geoms {
        for zp in zps {
            cases += 1;
            same += u32::from(conv_agrees(&d, g, zp));
        }
    }
    defmt::info!("{=u32} of {=u32} convolution cases equal", same, cases);
    c.check(same == cases, "int8 conv equals the portable kernels");
    // Accumulators of 2^30 or more in magnitude (biases near 2^30, scaled by about 2^-25 into
    // range: multipliers near 2^28 and a right shift of 22, the largest the short form takes):
    // the kernel that requantises in the short form hands them back to the general one.
    let mut d = d;
    let channels = d.bias.iter_mut().zip(&mut d.shift).zip(&mut d.mult);
    for (i, ((b, s), m)) in channels.enumerate() {
        let step = i as i32 * (1 << 20);
        *b = if i % 2 == 0 {
            (1 << 30) + step
        } else {
            -(1 << 30) - step
        };
        *s = -(MAX_SHORT_RIGHT as i32);
        *m = (1 << 28) + i as i32 * 12_345;
    }
    c.check(
        large_cases_agree(&d, 4),
        "int8 conv past 2^30 equals the portable kernels",
    );
    // Every third channel within range: a run of channels is handed back in the middle, the
    // rest requantised by the kernel before and after it.
    for (i, b) in d.bias.iter_mut().enumerate() {
        if i % 3 == 1 {
            *b = i as i32 * 97 - 1500;
        }
    }
    let mixed = conv_agrees(
        &d,
        geom(8, [2, 6], 7, [1, 1], 1, [0, 0], false),
        (0, 3, false),
    ) && conv_agrees(
        &d,
        geom(16, [4, 4], 8, [3, 3], 1, [1, 1], false),
        (-5, 0, false),
    );
    c.check(
        mixed,
        "int8 conv partly past 2^30 equals the portable kernels",
    );
    golden_case(&mut c);
    c.finish()
}
