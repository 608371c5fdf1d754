//! The int8 kernels against references written another way: the fixed-point requantisation
//! against exact i64/i128 rational arithmetic, the layers against naive i32 loops over the
//! unpadded geometry.
#![cfg(feature = "int8")]

use fewshot_runtime::math::int8::*;
use fewshot_runtime::Error;
use proptest::prelude::*;

/// `floor((a b + 2^30) / 2^31)` saturated: round half up of `a b / 2^31`.
fn srdhm_ref(a: i32, b: i32) -> i32 {
    let ab = i64::from(a) * i64::from(b);
    ((ab + (1 << 30)).div_euclid(1 << 31)).clamp(i32::MIN.into(), i32::MAX.into()) as i32
}

/// `x / 2^e` rounded half away from zero.
fn rdbpot_ref(x: i32, e: u32) -> i32 {
    let (x, d) = (i64::from(x), 1i64 << e);
    let m = (x.abs() + d / 2) >> e;
    (if x < 0 { -m } else { m }) as i32
}

fn edge() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(i32::MIN),
        Just(i32::MIN + 1),
        Just(i32::MAX),
        Just(0),
        Just(1),
        Just(-1),
        Just(1 << 30),
        Just(-(1 << 30)),
        -70_000i32..70_000,
        any::<i32>(),
    ]
}

proptest! {
    #[test]
    fn doubling_high_mul_is_exact_rounding(a in edge(), b in edge()) {
        prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), srdhm_ref(a, b));
    }

    #[test]
    fn divide_by_pot_rounds_half_away(x in edge(), e in 0u32..=31) {
        prop_assert_eq!(rounding_divide_by_pot(x, e), rdbpot_ref(x, e));
    }

    #[test]
    fn multiplier_matches_two_roundings(x in edge(), m in edge(), s in -31i32..=30) {
        let m = m.max(0);
        let left = x.saturating_mul(1 << s.max(0));
        let want = rdbpot_ref(srdhm_ref(left, m), (-s).max(0) as u32);
        prop_assert_eq!(multiply_by_quantized_multiplier(x, m, s), want);
    }

    #[test]
    fn a_channel_requantises_like_tflm_alone_and_in_runs(
        x in edge(),
        xs in proptest::collection::vec(edge(), 1..40),
        near in proptest::collection::vec(-(1i32 << 30)..(1i32 << 30), 1..40),
        m in edge(),
        s in -31i32..=30,
        zp in -128i32..=127,
        relu in any::<bool>(),
    ) {
        let m = m.max(0);
        let act_min = if relu { zp as i8 } else { -128 };
        let r = Requant { multiplier: &[m], shift: &[s], out_zp: zp, act_min, act_max: 127 };
        let ch = r.channel(0);
        let v = multiply_by_quantized_multiplier(x, m, s).saturating_add(zp);
        prop_assert_eq!(ch.apply(x), v.clamp(act_min.into(), 127) as i8);
        // Runs of any accumulators (the general path) and of accumulators below 2^30 in
        // magnitude, the edges included (the short path): each output as `apply` gives it.
        let edges = [-(1 << 30), (1 << 30) - 1, -1, 0, 1];
        for acc in [xs, near.iter().chain(&edges).copied().collect()] {
            let mut out = vec![0i8; acc.len()];
            ch.apply_all(&acc, &mut out);
            let want: Vec<i8> = acc.iter().map(|&a| ch.apply(a)).collect();
            prop_assert_eq!(out, want);
        }
    }

    #[test]
    fn quantized_multiplier_represents_the_factor(real in 1e-9f64..1e3) {
        let (m, s) = quantize_multiplier(real).unwrap();
        prop_assert!((1 << 30..=i32::MAX).contains(&m));
        let back = f64::from(m) / 2f64.powi(31) * 2f64.powi(s);
        prop_assert!((back - real).abs() <= real * 2f64.powi(-30));
    }
}

#[test]
fn quantized_multiplier_edges() {
    assert_eq!(quantize_multiplier(0.0), Some((0, 0)));
    assert_eq!(quantize_multiplier(-1.0), None);
    assert_eq!(quantize_multiplier(f64::NAN), None);
    assert_eq!(quantize_multiplier(1.0), Some((1 << 30, 1)));
    assert_eq!(quantize_multiplier(1e-20), Some((0, 0)));
    assert_eq!(quantize_multiplier(1e12), Some((i32::MAX, MAX_SHIFT)));
    // 1 - 2^-40 rounds up to 2^31: the multiplier halves, the shift grows.
    assert_eq!(
        quantize_multiplier(1.0 - 2f64.powi(-40)),
        Some((1 << 30, 1))
    );
}

/// A small deterministic generator (no dependency on proptest's shrinking for big tensors).
struct Lcg(u64);
impl Lcg {
    fn i8(&mut self) -> i8 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 56) as u8 as i8
    }
    fn fill(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.i8()).collect()
    }
    fn i32(&mut self, r: i32) -> i32 {
        (i64::from(self.i8()) * i64::from(r) / 128) as i32
    }
}

struct Params {
    bias: Vec<i32>,
    mult: Vec<i32>,
    shift: Vec<i32>,
}

fn params(rng: &mut Lcg, n: usize) -> Params {
    Params {
        bias: (0..n).map(|_| rng.i32(20_000)).collect(),
        mult: (0..n)
            .map(|_| (1 << 30) + rng.i32(1 << 29).abs().min((1 << 29) - 1) * 2)
            .collect(),
        shift: (0..n).map(|_| -(rng.i32(12).abs()) - 1).collect(),
    }
}

fn requant(p: &Params, zp: i32, relu: bool) -> Requant<'_> {
    requant_of(&p.mult, &p.shift, zp, if relu { zp as i8 } else { -128 })
}

/// Per-channel multipliers and shifts, the output zero point and the clamp's floor (its ceiling
/// 127).
fn requant_of<'a>(
    multiplier: &'a [i32],
    shift: &'a [i32],
    out_zp: i32,
    act_min: i8,
) -> Requant<'a> {
    Requant {
        multiplier,
        shift,
        out_zp,
        act_min,
        act_max: 127,
    }
}

#[test]
fn dense_matches_naive_loops() {
    let mut rng = Lcg(1);
    for (inputs, outputs) in [(1, 1), (3, 5), (4, 2), (7, 3), (64, 64), (33, 9)] {
        let w = rng.fill(inputs * outputs);
        let x = rng.fill(inputs);
        let p = params(&mut rng, outputs);
        for (in_zp, out_zp, relu) in [(0, 0, false), (-128, 5, true), (127, -128, false)] {
            let l = QuantDense {
                inputs,
                outputs,
                in_zp,
                weights: &w,
                bias: &p.bias,
                requant: requant(&p, out_zp, relu),
            };
            let mut y = vec![0i8; outputs];
            let mut s = vec![0u32; l.scratch_words()];
            dense(&l, &x, &mut y, &mut s).unwrap();
            let want: Vec<i8> = (0..outputs)
                .map(|o| {
                    let acc = (0..inputs).fold(p.bias[o], |a, i| {
                        a + i32::from(w[o * inputs + i]) * (i32::from(x[i]) - in_zp)
                    });
                    l.requant.apply(o, acc)
                })
                .collect();
            assert_eq!(y, want, "{inputs}x{outputs} zp {in_zp}");
        }
    }
}

fn conv_ref(l: &QuantConv, x: &[i8]) -> Vec<i8> {
    let g = l.geom;
    let [oc_n, oh, ow] = g.output().unwrap();
    let [kh, kw] = g.kernel;
    let mut y = Vec::new();
    for oc in 0..oc_n {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = l.bias[oc];
                for gi in 0..g.group_in() {
                    let ic = if g.depthwise { oc } else { gi };
                    for a in 0..kh {
                        for b in 0..kw {
                            let iy = (oy * g.stride + a) as i64 - g.padding[0] as i64;
                            let ix = (ox * g.stride + b) as i64 - g.padding[1] as i64;
                            let inside = (0..g.height as i64).contains(&iy)
                                && (0..g.width as i64).contains(&ix);
                            let v = if inside {
                                x[(ic * g.height + iy as usize) * g.width + ix as usize]
                            } else {
                                l.in_zp as i8 // the padding reads the zero point
                            };
                            let wi = ((oc * g.group_in() + gi) * kh + a) * kw + b;
                            acc += i32::from(l.weights[wi]) * (i32::from(v) - l.in_zp);
                        }
                    }
                }
                y.push(l.requant.apply(oc, acc));
            }
        }
    }
    y
}

#[test]
fn conv_matches_naive_loops() {
    let mut rng = Lcg(2);
    #[rustfmt::skip]
    let geoms = [
        // plaid_conv1d's first layer, shortened; conv1d 8 -> 16 k5; digits conv2d; depthwise
        ConvGeom { in_channels: 1, height: 1, width: 40, out_channels: 8, kernel: [1, 7], stride: 2, padding: [0, 3], depthwise: false },
        // Direct layers in blocks of whole output rows (the last block shorter), and rows
        // longer than a block, run in pieces.
        ConvGeom { in_channels: 2, height: 13, width: 20, out_channels: 2, kernel: [3, 3], stride: 1, padding: [1, 1], depthwise: true },
        ConvGeom { in_channels: 1, height: 11, width: 9, out_channels: 3, kernel: [3, 3], stride: 2, padding: [1, 1], depthwise: false },
        ConvGeom { in_channels: 1, height: 3, width: 150, out_channels: 2, kernel: [3, 3], stride: 1, padding: [1, 1], depthwise: false },
        ConvGeom { in_channels: 2, height: 1, width: 200, out_channels: 2, kernel: [1, 5], stride: 1, padding: [0, 2], depthwise: true },
        ConvGeom { in_channels: 8, height: 1, width: 13, out_channels: 16, kernel: [1, 5], stride: 1, padding: [0, 2], depthwise: false },
        ConvGeom { in_channels: 1, height: 8, width: 8, out_channels: 8, kernel: [3, 3], stride: 1, padding: [1, 1], depthwise: false },
        ConvGeom { in_channels: 3, height: 5, width: 6, out_channels: 2, kernel: [2, 3], stride: 2, padding: [1, 0], depthwise: false },
        ConvGeom { in_channels: 4, height: 5, width: 5, out_channels: 4, kernel: [3, 3], stride: 1, padding: [1, 1], depthwise: true },
        ConvGeom { in_channels: 2, height: 1, width: 9, out_channels: 2, kernel: [1, 4], stride: 3, padding: [0, 0], depthwise: true },
        // the keyword trunk's depthwise 3 x 3 / 2, first (one channel) and pointwise layers; a
        // depthwise 2 x 3; a one-channel conv1d k3 / 2; a padded 1 x 1 with a stride
        ConvGeom { in_channels: 3, height: 9, width: 7, out_channels: 3, kernel: [3, 3], stride: 2, padding: [1, 1], depthwise: true },
        ConvGeom { in_channels: 2, height: 4, width: 5, out_channels: 2, kernel: [2, 3], stride: 1, padding: [1, 0], depthwise: true },
        ConvGeom { in_channels: 1, height: 7, width: 6, out_channels: 5, kernel: [3, 3], stride: 2, padding: [1, 1], depthwise: false },
        ConvGeom { in_channels: 1, height: 1, width: 11, out_channels: 3, kernel: [1, 3], stride: 2, padding: [0, 1], depthwise: false },
        // direct kernels of 1 to 8 columns, one or three rows
        ConvGeom { in_channels: 1, height: 1, width: 20, out_channels: 4, kernel: [1, 5], stride: 1, padding: [0, 2], depthwise: false },
        ConvGeom { in_channels: 3, height: 5, width: 12, out_channels: 3, kernel: [3, 8], stride: 2, padding: [1, 3], depthwise: true },
        ConvGeom { in_channels: 2, height: 3, width: 6, out_channels: 2, kernel: [1, 1], stride: 1, padding: [0, 0], depthwise: true },
        ConvGeom { in_channels: 1, height: 4, width: 9, out_channels: 2, kernel: [3, 6], stride: 3, padding: [1, 2], depthwise: false },
        ConvGeom { in_channels: 6, height: 3, width: 5, out_channels: 7, kernel: [1, 1], stride: 1, padding: [0, 0], depthwise: false },
        ConvGeom { in_channels: 5, height: 4, width: 3, out_channels: 3, kernel: [1, 1], stride: 2, padding: [1, 1], depthwise: false },
        // pointwise read from the planes: whole blocks of channels and positions; the keyword
        // trunk's 16 -> 32 over 13 x 10 (its last block two positions)
        ConvGeom { in_channels: 8, height: 2, width: 6, out_channels: 3, kernel: [1, 1], stride: 1, padding: [0, 0], depthwise: false },
        ConvGeom { in_channels: 16, height: 13, width: 10, out_channels: 32, kernel: [1, 1], stride: 1, padding: [0, 0], depthwise: false },
        // no padding, several channels: the im2col gather reads the input in place, its last
        // windows ending at the input's last byte (kernel widths 3, 5 and 2)
        ConvGeom { in_channels: 3, height: 4, width: 7, out_channels: 4, kernel: [2, 3], stride: 1, padding: [0, 0], depthwise: false },
        ConvGeom { in_channels: 4, height: 1, width: 11, out_channels: 5, kernel: [1, 5], stride: 2, padding: [0, 0], depthwise: false },
        ConvGeom { in_channels: 2, height: 3, width: 3, out_channels: 3, kernel: [3, 2], stride: 1, padding: [0, 0], depthwise: false },
    ];
    for g in geoms {
        let fan = g.fan_in().unwrap();
        let w = rng.fill(g.out_channels * fan);
        let x = rng.fill(g.input_len());
        let p = params(&mut rng, g.out_channels);
        // Biases near 2^30: accumulators past the short requantisation's bound, the long form.
        let big = Params {
            bias: p.bias.iter().map(|b| b + (1 << 30) * b.signum()).collect(),
            mult: p.mult.clone(),
            shift: p.shift.iter().map(|s| s - 18).collect(),
        };
        // A layer whose first channel shifts left: every channel takes the general form.
        let left = Params {
            bias: p.bias.clone(),
            mult: p.mult.iter().map(|m| m / 64).collect(),
            shift: p
                .shift
                .iter()
                .enumerate()
                .map(|(c, s)| if c == 0 { 2 } else { *s })
                .collect(),
        };
        for (in_zp, relu, p) in [
            (0, false, &p),
            (-20, true, &p),
            (127, false, &p),
            (5, false, &big),
            (-7, false, &left),
        ] {
            let l = QuantConv {
                geom: g,
                in_zp,
                weights: &w,
                bias: &p.bias,
                requant: requant(p, -3, relu),
            };
            let want = conv_ref(&l, &x);
            let mut y = vec![0i8; want.len()];
            let mut s = vec![0u32; l.scratch_words()];
            conv(&l, &x, &mut y, &mut s).unwrap();
            assert_eq!(y, want, "{g:?} zp {in_zp}");
        }
    }
}

#[test]
fn pools_match_naive_loops() {
    let mut rng = Lcg(3);
    // Windows that tile one or two rows (read as chunks of them) and windows that do not, on
    // maps of even and odd heights and widths, and one-row series.
    for [channels, height, width] in [
        [3, 4, 7],
        [2, 1, 8],
        [2, 1, 7],
        [2, 3, 6],
        [3, 4, 6],
        [2, 5, 4],
    ] {
        for (kernel, stride) in [
            ([2, 3], 2),
            ([1, 2], 2),
            ([2, 2], 2),
            ([1, 3], 3),
            ([2, 3], 3),
            ([2, 2], 1),
            ([3, 2], 2),
        ] {
            let g = PoolGeom {
                channels,
                height,
                width,
                kernel,
                stride,
            };
            let Ok([c, oh, ow]) = g.output() else {
                assert!(kernel[0] > height, "{g:?}");
                continue;
            };
            let x = rng.fill(c * height * width);
            let (mut mx, mut av) = (vec![0i8; c * oh * ow], vec![0i8; c * oh * ow]);
            max_pool(&g, &x, &mut mx).unwrap();
            avg_pool(&g, &x, &mut av).unwrap();
            let [kh, kw] = kernel;
            let mut j = 0;
            for ch in 0..c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let at = |a: usize, b: usize| {
                            (ch * height + oy * stride + a) * width + ox * stride + b
                        };
                        let win: Vec<i32> = (0..kh)
                            .flat_map(|a| (0..kw).map(move |b| (a, b)))
                            .map(|(a, b)| i32::from(x[at(a, b)]))
                            .collect();
                        assert_eq!(i32::from(mx[j]), *win.iter().max().unwrap(), "{g:?}");
                        let mean = f64::from(win.iter().sum::<i32>()) / win.len() as f64;
                        assert_eq!(f64::from(av[j]), mean.round(), "{g:?} {win:?}"); // half away
                        j += 1;
                    }
                }
            }
            assert_eq!(j, mx.len());
        }
    }
}

#[test]
fn bad_descriptions_are_errors_not_panics() {
    let (w, b, m, s) = ([1i8; 6], [0i32; 2], [1 << 30; 2], [0i32; 2]);
    let rq = requant_of(&m, &s, 0, -128);
    let l = QuantDense {
        inputs: 3,
        outputs: 2,
        in_zp: 0,
        weights: &w,
        bias: &b,
        requant: rq,
    };
    let (mut y, mut sc) = ([0i8; 2], [0u32; 3]);
    assert!(dense(&l, &[1, 2, 3], &mut y, &mut sc).is_ok());
    let short = QuantDense {
        weights: &w[..5],
        ..l
    };
    assert!(matches!(
        dense(&short, &[1, 2, 3], &mut y, &mut sc),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        dense(&l, &[1, 2], &mut y, &mut sc),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        dense(&l, &[1, 2, 3], &mut y, &mut sc[..1]),
        Err(Error::BufferTooSmall { .. })
    ));
    let bad_shift = [31i32, 0];
    let l2 = QuantDense {
        requant: Requant {
            shift: &bad_shift,
            ..rq
        },
        ..l
    };
    assert!(matches!(
        dense(&l2, &[1, 2, 3], &mut y, &mut sc),
        Err(Error::InvalidHeader { .. })
    ));
    let l3 = QuantDense { in_zp: 128, ..l };
    assert!(matches!(
        dense(&l3, &[1, 2, 3], &mut y, &mut sc),
        Err(Error::InvalidHeader { .. })
    ));
    let l4 = QuantDense {
        requant: Requant {
            act_min: 5,
            act_max: 4,
            ..rq
        },
        ..l
    };
    assert!(dense(&l4, &[1, 2, 3], &mut y, &mut sc).is_err());
    let huge = QuantDense {
        inputs: usize::MAX,
        ..l
    };
    assert!(dense(&huge, &[1, 2, 3], &mut y, &mut sc).is_err());
    let g = ConvGeom {
        in_channels: 1,
        height: 1,
        width: 2,
        out_channels: 2,
        kernel: [1, 3],
        stride: 1,
        padding: [0, 0],
        depthwise: false,
    };
    let c = QuantConv {
        geom: g,
        in_zp: 0,
        weights: &w,
        bias: &b,
        requant: rq,
    };
    assert!(matches!(
        conv(&c, &[1, 2], &mut y, &mut sc),
        Err(Error::InvalidHeader { .. })
    ));
    let g0 = ConvGeom { stride: 0, ..g };
    assert!(conv(&QuantConv { geom: g0, ..c }, &[1, 2], &mut y, &mut sc).is_err());
    let gd = ConvGeom {
        depthwise: true,
        ..g
    };
    assert!(conv(&QuantConv { geom: gd, ..c }, &[1, 2], &mut y, &mut sc).is_err());
    let p = QuantParams {
        scale: 0.0,
        zero_point: 0,
    };
    assert!(quantize(&[1.0], p, &mut [0]).is_err());
    let p = QuantParams {
        scale: f32::NAN,
        zero_point: 0,
    };
    assert!(dequantize(&[1], p, &mut [0.0]).is_err());
}

/// The short form (the zero point folded into the rounding offset, the sign taken from the
/// accumulator) against the general form, at every shift, the zero point's extremes, the
/// accumulators' edges below 2^30, ties and the negative accumulators whose product rounds to
/// 0: through a channel's runs and through a `ShortRun`'s channels.
#[test]
fn the_short_form_equals_the_general_one() {
    let mut rng = Lcg(7);
    let mut accs = vec![-(1 << 30) + 1, -(1 << 30), (1 << 30) - 1, -2, -1, 0, 1, 2];
    accs.extend((0..200).map(|_| rng.i32(1 << 30)));
    accs.extend((0..200).map(|_| rng.i32(1 << 12)));
    for k in 1..=30 {
        accs.extend([
            (1 << k) - 1,
            1 << k,
            (1 << k) + 1,
            -(1 << k),
            -(1 << k) - 1,
            3 << (k - 1),
        ]);
        accs.extend([-(1 << k) + 1, -(3 << (k - 1))]);
    }
    let accs: Vec<i32> = accs
        .into_iter()
        .filter(|a| a.unsigned_abs() < 1 << 30)
        .collect();
    for s in MIN_SHIFT..=MAX_SHIFT {
        for zp in [-128, -127, -1, 0, 1, 127] {
            for m in [0, 1, 3, 1 << 30, (1 << 30) + 12345, i32::MAX - 1, i32::MAX] {
                for act_min in [-128i8, zp as i8] {
                    let (mult, shift) = ([m], [s]);
                    let rq = requant_of(&mult, &shift, zp, act_min);
                    let ch = rq.channel(0);
                    let want: Vec<i8> = accs.iter().map(|&a| ch.apply(a)).collect();
                    let mut got = vec![0i8; accs.len()];
                    ch.apply_all(&accs, &mut got);
                    assert_eq!(got, want, "shift {s} zp {zp} m {m} act_min {act_min}");
                    let Some(run) = ShortRun::new(&[0; 4], 4, [&[0], &mult, &shift], &rq) else {
                        continue;
                    };
                    for (a, w) in accs.chunks_exact(4).zip(want.chunks_exact(4)) {
                        let mut o = [0i8; 4];
                        assert!(run.short(0).apply4(a.try_into().unwrap(), &mut o));
                        assert_eq!(&o[..], w, "run: shift {s} zp {zp} m {m} acc {a:?}");
                    }
                }
            }
        }
    }
}

/// `ShortRun::bounded` says no accumulator can reach 2^30: `|bias| + 128 x 255 x fan` below it
/// for every channel, exactly at the edge and with `i32::MIN` biases.
#[test]
fn a_short_run_is_bounded_exactly_below_2_30() {
    let fan = 4;
    let edge = (1i64 << 30) - 128 * 255 * fan as i64; // the first |bias| that reaches 2^30
    let (m, s) = ([1 << 30; 2], [-3; 2]);
    let rq = requant_of(&m, &s, 0, -128);
    let w = [1i8; 8];
    for (bias, bounded) in [
        ([0, (edge - 1) as i32], true),
        ([-(edge - 1) as i32, 5], true),
        ([0, edge as i32], false),
        ([-(edge as i32), 0], false),
        ([i32::MIN, 0], false),
    ] {
        let run = ShortRun::new(&w, fan, [&bias, &m, &s], &rq).unwrap();
        assert_eq!(run.bounded(), bounded, "biases {bias:?}");
        assert_eq!(
            run.from(1).bounded(),
            bounded,
            "a part keeps the layer's bound"
        );
    }
}

#[test]
fn requant_check_takes_exactly_the_ranges() {
    use fewshot_runtime::math::int8::{MAX_SHIFT, MIN_SHIFT};
    let edges = [
        i32::MIN,
        i32::MIN + 30,
        -32,
        MIN_SHIFT,
        0,
        MAX_SHIFT,
        31,
        i32::MAX - 30,
        i32::MAX,
    ];
    for &m in &[i32::MIN, -1, 0, 1 << 30, i32::MAX] {
        for &s in &edges {
            let (mult, shift) = ([1 << 30, m, 0], [0, s, -3]);
            let rq = requant_of(&mult, &shift, 0, -128);
            let ok = m >= 0 && (MIN_SHIFT..=MAX_SHIFT).contains(&s);
            let got = rq.check(3);
            assert_eq!(got.is_ok(), ok, "multiplier {m} shift {s}: {got:?}");
            if !ok {
                let field = if m < 0 {
                    "int8 multiplier"
                } else {
                    "int8 shift"
                };
                assert_eq!(got, Err(Error::InvalidHeader { field }));
            }
        }
    }
}

/// `f32::round` (ties away from zero) saturated to `i32`, NaN to 0: what `round_half_away`
/// must equal for every float.
fn round_ref(v: f32) -> i32 {
    v.round() as i32
}

#[test]
fn round_half_away_at_the_edges() {
    let below_half = f32::from_bits(0.5f32.to_bits() - 1);
    let mut edges = vec![
        0.0,
        -0.0,
        0.5,
        below_half,
        1.5,
        2.5,
        8_388_607.5,
        8_388_608.0,
        16_777_217.0,
        2_147_483_520.0,
        2_147_483_648.0,
        1e10,
        f32::MAX,
        f32::INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
    ];
    edges.extend(edges.clone().iter().map(|v| -v));
    for v in edges {
        assert_eq!(round_half_away(v), round_ref(v), "{v:e}");
    }
}

/// `round_half_away` as it was first written, with comparisons: the truncation, then one up
/// or down when the exact fraction is at least one half away from zero.
fn round_by_comparisons(v: f32) -> i32 {
    let t = v as i32;
    if v.abs() >= 8_388_608.0 {
        return t;
    }
    let frac = v - t as f32;
    if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// Every one of the 2^32 floats (about 11 s in release, so not in the default run:
/// `cargo test --release -p fewshot-runtime --test int8 -- --ignored`).
#[test]
#[ignore]
fn round_half_away_equals_the_comparison_form_on_every_float() {
    let differ = (0..=u32::MAX)
        .map(f32::from_bits)
        .filter(|&v| round_half_away(v) != round_by_comparisons(v))
        .count();
    assert_eq!(differ, 0);
}

proptest! {
    #[test]
    fn round_half_away_is_f32_round_on_every_float(bits in any::<u32>()) {
        let v = f32::from_bits(bits);
        prop_assert_eq!(round_half_away(v), round_ref(v));
    }

    #[test]
    fn round_half_away_is_f32_round_near_integers(x in -70_000.0f32..70_000.0) {
        for v in [x, x.trunc() + 0.5, x.trunc() - 0.5] {
            prop_assert_eq!(round_half_away(v), round_ref(v));
        }
    }

    #[test]
    fn quantize_rounds_like_f32_round(x in -300.0f32..300.0, zp in -128i32..=127) {
        let p = QuantParams { scale: 0.75, zero_point: zp };
        let mut q = [0i8];
        quantize(&[x], p, &mut q).unwrap();
        let want = ((x / 0.75).round() as i32 + zp).clamp(-128, 127);
        prop_assert_eq!(i32::from(q[0]), want);
    }
}

/// The golden case the firmware's on-target test (`firmware/tests/int8.rs`) checks with the
/// same formulas: a 20 -> 8 dense layer and a 1x8x8 -> 4 channel 3x3 convolution.
fn golden_weights(n: usize, k: usize) -> Vec<i8> {
    (0..n).map(|i| ((i * k + 11) % 255) as u8 as i8).collect()
}

fn fnv(y: &[i8]) -> u32 {
    y.iter().fold(0x811c_9dc5u32, |h, &v| {
        (h ^ u32::from(v as u8)).wrapping_mul(0x0100_0193)
    })
}

#[test]
fn golden_vectors_for_the_firmware() {
    let (w, x) = (golden_weights(160, 37), golden_weights(20, 53));
    let bias: Vec<i32> = (0..8).map(|o| o * 1000 - 3500).collect();
    let mult = [1_518_500_250i32; 8];
    let shift: Vec<i32> = (0..8).map(|o| -8 - o % 3).collect();
    let rq = requant_of(&mult, &shift, -7, -7);
    let l = QuantDense {
        inputs: 20,
        outputs: 8,
        in_zp: 3,
        weights: &w,
        bias: &bias,
        requant: rq,
    };
    let mut y = [0i8; 8];
    dense(&l, &x, &mut y, &mut [0u32; 10]).unwrap();
    assert_eq!(y, [72, -6, -7, -7, -7, -7, -3, -4]);
    let geom = ConvGeom {
        in_channels: 1,
        height: 8,
        width: 8,
        out_channels: 4,
        kernel: [3, 3],
        stride: 1,
        padding: [1, 1],
        depthwise: false,
    };
    let (w, x) = (golden_weights(36, 29), golden_weights(64, 71));
    let rq = Requant {
        out_zp: 4,
        act_min: -128,
        shift: &shift[..4],
        multiplier: &mult[..4],
        ..rq
    };
    let c = QuantConv {
        geom,
        in_zp: -5,
        weights: &w,
        bias: &bias[..4],
        requant: rq,
    };
    let mut y = [0i8; 256];
    conv(&c, &x, &mut y, &mut vec![0u32; c.scratch_words()]).unwrap();
    assert_eq!(fnv(&y), 2_570_940_937);
}
