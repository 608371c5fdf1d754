//! Convolution stems on the target (feature `conv`), bit for bit against the host: the stem
//! fixture (conv2d, depthwise, max and average pooling, a dense trunk layer), the trainer's
//! `digits_conv2d` preset on digits 5-9 and its `plaid_conv1d` preset on PLAID's novel appliance
//! classes, and two user-shaped trunks the trainer exported (odd map sizes, a 2 x 2 kernel,
//! depthwise 3 x 3 at stride 2, a pointwise layer: `fixtures/strided-conv2d.toml`; a series of 8
//! channels, conv1d, depthwise k3 at stride 2, pointwise: `fixtures/series-conv1d.toml`) on
//! digits 5-9. Per episode the head starts from the prototypes of the support set and adapts, then
//! every query runs the stem, the trunk and every head; every output, support loss and adapted
//! parameter must equal the host's golden vectors (`tests/tests/firmware_fixtures/conv.rs`).
//! Then the int8 exports of the user-shaped trunk and of the two presets (feature `int8`: the stem in int8, `SMLAD` kernels on the
//! Cortex-M4F, portable ones on the M3) on the same episodes, against their own golden vectors.
//!
//! Before them, the stem's convolution path (`Stem::run`: the padded copy, the Cortex-M4F's block
//! kernels, the row loop elsewhere) against a naive convolution written here,
//! bit for bit, on small shapes that reach every kernel and every remainder.
#![no_std]
#![no_main]

use fewshot_firmware::entry;
use fewshot_firmware::fixtures::conv::{
    digits_conv2d_episodes, digits_conv2d_int8_episodes, plaid_conv1d_episodes,
    plaid_conv1d_int8_episodes, series_conv1d_episodes, series_conv1d_int8_episodes, stem_episodes,
    strided_conv2d_episodes, strided_conv2d_int8_episodes, DIGITS_CONV2D, DIGITS_CONV2D_INT8,
    PLAID_CONV1D, PLAID_CONV1D_INT8, SERIES_CONV1D, SERIES_CONV1D_INT8, STEM, STRIDED_CONV2D,
    STRIDED_CONV2D_INT8,
};
use fewshot_firmware::{self as fw, episodes};
use fewshot_runtime::format::spec::{ConvSpec, Map, StemLayer};
use fewshot_runtime::ops::layer::{LayerOp, Stem};
use fewshot_runtime::Activation;

const MAX: usize = 1024;

struct Lcg(u32);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

/// Each output: its bias, then every tap in (input channel, kernel row, kernel column) order,
/// `w x 0` for a tap in the padding; then ReLU when the layer has it.
fn naive(s: &ConvSpec, depthwise: bool, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
    let (h, wd) = (s.input.height as isize, s.input.width as isize);
    let (kh, kw, st) = (
        s.kernel[0] as isize,
        s.kernel[1] as isize,
        s.stride as isize,
    );
    let (ph, pw) = (s.padding[0] as isize, s.padding[1] as isize);
    let (oh, ow) = ((h + 2 * ph - kh) / st + 1, (wd + 2 * pw - kw) / st + 1);
    let group = if depthwise {
        1
    } else {
        s.input.channels as isize
    };
    let mut i = 0;
    for oc in 0..s.channels as isize {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = b[oc as usize];
                for gi in 0..group {
                    let ic = if depthwise { oc } else { gi };
                    for a in 0..kh {
                        for bb in 0..kw {
                            let (iy, ix) = (oy * st + a - ph, ox * st + bb - pw);
                            let t = w[(((oc * group + gi) * kh + a) * kw + bb) as usize];
                            let v = if iy < 0 || iy >= h || ix < 0 || ix >= wd {
                                0.0
                            } else {
                                x[((ic * h + iy) * wd + ix) as usize]
                            };
                            acc += t * v;
                        }
                    }
                }
                let relu = s.activation == Activation::Relu;
                y[i] = if relu && acc.is_sign_negative() {
                    0.0
                } else {
                    acc
                };
                i += 1;
            }
        }
    }
}

/// `Stem::run` against [`naive`] on every small shape; returns the outputs that differ.
fn layers(checks: &mut usize) -> u32 {
    let mut r = Lcg(0xc0_4e);
    let mut bad = 0u32;
    let mut w = [0.0f32; MAX];
    for v in w.iter_mut() {
        *v = r.next();
    }
    for (c, h, wd) in [
        (1, 1, 21),
        (3, 1, 17),
        (2, 4, 9),
        (5, 6, 6),
        (3, 5, 4),
        (2, 3, 12),
        (1, 1, 40),
        (2, 1, 6),
        (2, 5, 17),
        (2, 3, 8),
        (1, 2, 16),
        (1, 5, 10),
        (1, 7, 17),
    ] {
        for k in [[1, 3], [3, 3], [2, 2], [1, 5], [1, 7], [1, 1], [3, 1]] {
            for stride in 1..=2 {
                for pad in [[0, 0], [0, 1], [1, 1], [1, 2]] {
                    for (depthwise, activation) in [
                        (false, Activation::Relu),
                        (true, Activation::Relu),
                        (false, Activation::Identity),
                        (true, Activation::Identity),
                    ] {
                        let spec = ConvSpec {
                            input: Map {
                                channels: c,
                                height: h,
                                width: wd,
                            },
                            // 5 output channels (a block of 2 or 4 overlaps the last) or 4.
                            channels: if depthwise { c } else { 4 + wd % 2 },
                            kernel: k,
                            stride,
                            padding: pad,
                            activation,
                            offset: 0,
                        };
                        let layer = if depthwise {
                            StemLayer::Depthwise(spec)
                        } else {
                            StemLayer::Conv(spec)
                        };
                        let Ok(op) = Stem::of(&layer) else { continue };
                        if op.validate("t").is_err() {
                            continue;
                        }
                        let (n_in, n_out) = (op.inputs(), op.outputs());
                        let nw = op.weight_count();
                        // Stale values in the work buffer: the padded copy must write its zeros.
                        let (mut src, mut dst) = ([0.0f32; MAX], [3.5f32; MAX]);
                        let mut x = [0.0f32; MAX];
                        for v in x.iter_mut().take(n_in) {
                            *v = r.next();
                        }
                        src[..n_in].copy_from_slice(&x[..n_in]);
                        let (wt, b) = (&w[..nw], &w[nw..nw + usize::from(spec.channels)]);
                        let mut want = [0.0f32; MAX];
                        naive(&spec, depthwise, wt, b, &x, &mut want);
                        let out = if op.run(wt, b, &mut src, &mut dst) == Ok(true) {
                            &dst
                        } else {
                            &src
                        };
                        for (g, e) in out[..n_out].iter().zip(&want[..n_out]) {
                            bad += u32::from(g.to_bits() != e.to_bits());
                        }
                        *checks += 1;
                    }
                }
            }
        }
    }
    bad
}

#[entry]
fn main() -> ! {
    fw::init("conv: convolution stems, bit-exact against the host");
    let mut shapes = 0;
    let mut mismatches = layers(&mut shapes);
    defmt::info!(
        "Stem::run against the naive convolution: {=usize} shapes, {=u32} outputs differ",
        shapes,
        mismatches
    );
    let models = [
        ("stem fixture", STEM, stem_episodes()),
        ("digits_conv2d", DIGITS_CONV2D, digits_conv2d_episodes()),
        ("plaid_conv1d", PLAID_CONV1D, plaid_conv1d_episodes()),
        ("strided_conv2d", STRIDED_CONV2D, strided_conv2d_episodes()),
        (
            "strided_conv2d int8",
            STRIDED_CONV2D_INT8,
            strided_conv2d_int8_episodes(),
        ),
        ("series_conv1d", SERIES_CONV1D, series_conv1d_episodes()),
        (
            "series_conv1d int8",
            SERIES_CONV1D_INT8,
            series_conv1d_int8_episodes(),
        ),
        (
            "digits_conv2d int8",
            DIGITS_CONV2D_INT8,
            digits_conv2d_int8_episodes(),
        ),
        (
            "plaid_conv1d int8",
            PLAID_CONV1D_INT8,
            plaid_conv1d_int8_episodes(),
        ),
    ];
    for (title, blob, eps) in models {
        mismatches = mismatches.saturating_add(episodes::run(title, blob, eps));
    }
    fw::finish(mismatches)
}
