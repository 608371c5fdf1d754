//! The stem (format v4): convolution and pooling ops against a naive reference on every small
//! shape, models with a stem through the writer, loader refusals, and head-only adaptation that
//! reads the stem's features.
#![cfg(feature = "conv")]

mod common;

use common::Rng;
use fewshot_runtime::format::spec::{ConvSpec, Map, PoolSpec, StemLayer};
use fewshot_runtime::format::{AlignedBytes, CRC};
use fewshot_runtime::ops::layer::{LayerOp, Stem};
use fewshot_runtime::writer::{AdaptDef, HeadDef, ModelDef, RateDef, StemDef};
use fewshot_runtime::{Activation, AdaptScope, AdaptState, Error, Heads, Model, SupportSet};

/// The naive convolution: every output is its bias plus each tap in (input channel, kernel row,
/// kernel column) order (`w x 0` for a tap in the zero padding), then the activation (ReLU or
/// identity).
fn naive_conv(s: &ConvSpec, depthwise: bool, w: &[f32], b: &[f32], x: &[f32]) -> Vec<f32> {
    let (c, h, wd) = (
        s.input.channels as isize,
        s.input.height as isize,
        s.input.width as isize,
    );
    let (kh, kw, st) = (
        s.kernel[0] as isize,
        s.kernel[1] as isize,
        s.stride as isize,
    );
    let (ph, pw) = (s.padding[0] as isize, s.padding[1] as isize);
    let oh = (h + 2 * ph - kh) / st + 1;
    let ow = (wd + 2 * pw - kw) / st + 1;
    let group = if depthwise { 1 } else { c };
    let mut y = Vec::new();
    for oc in 0..s.channels as isize {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = b[oc as usize];
                for gi in 0..group {
                    let ic = if depthwise { oc } else { gi };
                    for a in 0..kh {
                        for bb in 0..kw {
                            let (iy, ix) = (oy * st + a - ph, ox * st + bb - pw);
                            let wi = ((oc * group + gi) * kh + a) * kw + bb;
                            if iy < 0 || iy >= h || ix < 0 || ix >= wd {
                                // A tap in the zero padding adds w x 0.
                                acc += w[wi as usize] * 0.0;
                                continue;
                            }
                            acc += w[wi as usize] * x[((ic * h + iy) * wd + ix) as usize];
                        }
                    }
                }
                y.push(match s.activation {
                    Activation::Relu => acc.max(0.0),
                    _ => acc,
                });
            }
        }
    }
    y
}

/// The naive pooling: max or mean of each window.
fn naive_pool(s: &PoolSpec, max: bool, x: &[f32]) -> Vec<f32> {
    let (h, wd) = (s.input.height as usize, s.input.width as usize);
    let (kh, kw, st) = (s.size[0] as usize, s.size[1] as usize, s.stride as usize);
    let (oh, ow) = ((h - kh) / st + 1, (wd - kw) / st + 1);
    let mut y = Vec::new();
    for c in 0..s.input.channels as usize {
        for oy in 0..oh {
            for ox in 0..ow {
                let vals: Vec<f32> = (0..kh)
                    .flat_map(|a| (0..kw).map(move |bb| (a, bb)))
                    .map(|(a, bb)| x[(c * h + oy * st + a) * wd + ox * st + bb])
                    .collect();
                y.push(if max {
                    vals.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                } else {
                    vals.iter().sum::<f32>() * (1.0 / (kh * kw) as f32)
                });
            }
        }
    }
    y
}

fn map(channels: u16, height: u16, width: u16) -> Map {
    Map {
        channels,
        height,
        width,
    }
}

fn conv_spec(input: Map, channels: u16, k: [u16; 2], stride: u16, pad: [u16; 2]) -> ConvSpec {
    ConvSpec {
        input,
        channels,
        kernel: k,
        stride,
        padding: pad,
        activation: Activation::Relu,
        offset: 0,
    }
}

/// The layer's `forward`; checks that the stem's path (`Stem::run`, through the padded copy)
/// gives the same bits.
fn run(layer: &StemLayer, w: &[f32], b: &[f32], x: &[f32]) -> Vec<f32> {
    let op = Stem::of(layer).unwrap();
    op.validate("test").unwrap();
    assert_eq!(op.inputs(), x.len());
    let mut y = vec![f32::NAN; op.outputs()];
    op.forward(w, b, x, &mut y);
    let need = op.inputs().max(op.outputs()).max(op.work_len());
    let (mut src, mut dst) = (vec![f32::NAN; need], vec![f32::NAN; need]);
    src[..x.len()].copy_from_slice(x);
    let out = if op.run(w, b, &mut src, &mut dst).expect("buffers fit") {
        &dst
    } else {
        &src
    };
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&out[..y.len()]),
        bits(&y),
        "{layer:?}: run and forward"
    );
    y
}

#[test]
fn every_small_convolution_matches_the_naive_one() {
    let mut rng = Rng(5);
    let mut checked = 0;
    for (c, h, wd) in [
        (1, 1, 1),
        (1, 1, 6),
        (2, 1, 5),
        (1, 3, 4),
        (2, 4, 3),
        (3, 2, 2),
    ] {
        for (kh, kw) in [(1, 1), (1, 2), (1, 3), (2, 2), (3, 3), (2, 3)] {
            for stride in 1..=3 {
                for (ph, pw) in [(0, 0), (0, 1), (1, 1), (2, 2)] {
                    for depthwise in [false, true] {
                        let co = if depthwise { c } else { 2 };
                        let spec = conv_spec(map(c, h, wd), co, [kh, kw], stride, [ph, pw]);
                        let layer = if depthwise {
                            StemLayer::Depthwise(spec)
                        } else {
                            StemLayer::Conv(spec)
                        };
                        let Ok(op) = Stem::of(&layer) else { continue };
                        if op.validate("t").is_err() {
                            // The naive geometry agrees that the kernel does not fit.
                            assert!(h + 2 * ph < kh || wd + 2 * pw < kw);
                            continue;
                        }
                        let w = rng.vec(op.weight_count(), 1.0);
                        let b = rng.vec(usize::from(co), 1.0);
                        let x = rng.vec(op.inputs(), 2.0);
                        let y = run(&layer, &w, &b, &x);
                        assert_eq!(y, naive_conv(&spec, depthwise, &w, &b, &x), "{layer:?}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 500, "{checked} shapes");
}

#[test]
fn every_small_pooling_matches_the_naive_one() {
    let mut rng = Rng(6);
    // One-row series of even and odd widths, maps of odd and even heights, one or more
    // channels (even heights and widths: the whole map as one run of row pairs; odd heights:
    // plane by plane).
    for (c, h, wd) in [
        (1, 1, 7),
        (2, 1, 4),
        (2, 1, 5),
        (2, 3, 5),
        (1, 4, 4),
        (3, 4, 5),
        (3, 2, 6),
        (3, 4, 6),
        (2, 5, 4),
    ] {
        for (kh, kw) in [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 2)] {
            for stride in 1..=3 {
                let spec = PoolSpec {
                    input: map(c, h, wd),
                    size: [kh, kw],
                    stride,
                };
                if kh > h || kw > wd {
                    let op = Stem::of(&StemLayer::MaxPool(spec)).unwrap();
                    assert!(op.validate("t").is_err());
                    continue;
                }
                let x = rng.vec(usize::from(c * h * wd), 2.0);
                let max = run(&StemLayer::MaxPool(spec), &[], &[], &x);
                assert_eq!(max, naive_pool(&spec, true, &x));
                let mean = run(&StemLayer::AvgPool(spec), &[], &[], &x);
                assert_eq!(mean, naive_pool(&spec, false, &x));
            }
        }
        let x = rng.vec(usize::from(c * h * wd), 2.0);
        let global = run(&StemLayer::GlobalAvgPool(map(c, h, wd)), &[], &[], &x);
        let whole = PoolSpec {
            input: map(c, h, wd),
            size: [h, wd],
            stride: 1,
        };
        assert_eq!(global, naive_pool(&whole, false, &x));
    }
}

/// A series of 2 channels x 12: conv 3 x k3 pad 1, max pool 2, depthwise k3 stride 2, global
/// average pool (3 values), then a dense trunk layer and a classification head of 3 classes.
fn series_model(rng: &mut Rng, scope: AdaptScope) -> ModelDef {
    let conv = conv_spec(map(2, 1, 12), 3, [1, 3], 1, [0, 1]);
    let dw = ConvSpec {
        activation: Activation::Tanh,
        ..conv_spec(map(3, 1, 6), 3, [1, 3], 2, [0, 0])
    };
    let pool = PoolSpec {
        input: map(3, 1, 12),
        size: [1, 2],
        stride: 2,
    };
    let head =
        HeadDef::classification(0, "c", vec![common::dense(rng, 4, 3, Activation::Identity)])
            .with_adapt(AdaptDef::new(scope, 3, RateDef::Scalar(0.1), 10.0).with_prototypes(1.0));
    ModelDef::new("stem", 24)
        .normalise(rng.vec(24, 0.1), vec![1.5; 24])
        .stem(StemDef::conv(conv, rng.vec(18, 0.5), rng.vec(3, 0.1)))
        .stem(StemDef::max_pool(pool))
        .stem(StemDef::depthwise(dw, rng.vec(9, 0.5), rng.vec(3, 0.1)))
        .stem(StemDef::global_avg_pool(map(3, 1, 2)))
        .trunk(common::dense(rng, 3, 4, Activation::Relu))
        .head(head)
}

/// The stem's output for one raw input, computed layer by layer with the naive ops.
fn naive_stem(model: &Model<'_>, x: &[f32]) -> Vec<f32> {
    let (shift, scale) = model.normalisation().unwrap();
    let mut v: Vec<f32> = x
        .iter()
        .zip(shift)
        .zip(scale)
        .map(|((x, s), c)| (x - s) * c)
        .collect();
    for l in model.stem() {
        let (w, b) = model.stem_params(l).unwrap();
        v = match l {
            StemLayer::Conv(s) if s.activation == Activation::Relu => {
                naive_conv(s, false, w, b, &v)
            }
            StemLayer::Conv(s) | StemLayer::Depthwise(s) => {
                // Tanh: the naive sums, then the runtime's activation.
                let id = ConvSpec {
                    activation: Activation::Identity,
                    ..*s
                };
                let z = naive_conv(&id, matches!(l, StemLayer::Depthwise(_)), w, b, &v);
                z.iter()
                    .map(|&z| fewshot_runtime::math::activate(s.activation, z))
                    .collect()
            }
            StemLayer::MaxPool(p) => naive_pool(p, true, &v),
            StemLayer::AvgPool(p) => naive_pool(p, false, &v),
            StemLayer::GlobalAvgPool(m) => naive_pool(
                &PoolSpec {
                    input: *m,
                    size: [m.height, m.width],
                    stride: 1,
                },
                false,
                &v,
            ),
            int8 => panic!("an f32 stem has no {int8:?} (tests/int8_stem.rs)"),
        };
    }
    v
}

#[test]
fn a_model_with_a_stem_infers_as_its_layers_do() {
    let mut rng = Rng(7);
    let def = series_model(&mut rng, AdaptScope::HeadOnly);
    let bytes = def.to_bytes().unwrap();
    assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 4);
    let blob = AlignedBytes::from_slice(&bytes);
    let model = Model::from_bytes(&blob).unwrap();
    assert!(model
        .capabilities()
        .contains(fewshot_runtime::Capabilities::CONV));
    assert_eq!((model.stem().len(), model.trunk_input_len()), (4, 3));
    assert_eq!(model.stem_width(), 36);
    assert_eq!(model.param_count(), 21 + 12 + 16 + 15);
    // The writer reads it back unchanged.
    assert_eq!(
        ModelDef::from_model(&model).unwrap().to_bytes().unwrap(),
        bytes
    );
    let net = model.network();
    let mut scratch = vec![0.0; model.infer_scratch_len()];
    let mut features = vec![0.0; 4];
    for _ in 0..20 {
        let x = rng.vec(24, 3.0);
        let stem = naive_stem(&model, &x);
        let trunk = &model.trunk()[0];
        let (w, b) = model.layer_params(trunk).unwrap();
        let mut expected = vec![0.0; 4];
        fewshot_runtime::math::dense(w, b, &stem, &mut expected, Activation::Relu);
        net.features(&x, &mut scratch, &mut features).unwrap();
        assert_eq!(features, expected);
        let mut out = [0.0; 3];
        net.infer(&x, Heads::ALL, &mut scratch, &mut out).unwrap();
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

/// `def` with its stem replaced by precomputed features: the same head on the same trunk.
fn without_stem(def: &ModelDef) -> ModelDef {
    let mut plain = ModelDef::new("plain", 3);
    plain.trunk = def.trunk.clone();
    plain.heads = def.heads.clone();
    plain
}

#[test]
fn head_only_adaptation_reads_the_stem_features_once() {
    for scope in [AdaptScope::HeadOnly, AdaptScope::HeadAndLastTrunk(1)] {
        let mut rng = Rng(8);
        let def = series_model(&mut rng, scope);
        let blob = def.to_aligned_bytes().unwrap();
        let model = Model::from_bytes(&blob).unwrap();
        let plain_blob = without_stem(&def).to_aligned_bytes().unwrap();
        let plain = Model::from_bytes(&plain_blob).unwrap();
        let (mut support, mut stem_support) =
            (SupportSet::<9, 24>::new(), SupportSet::<9, 3>::new());
        for i in 0..9 {
            let x = rng.vec(24, 3.0);
            support.push_labelled(&x, (i % 3) as u16).unwrap();
            stem_support
                .push_labelled(&naive_stem(&model, &x), (i % 3) as u16)
                .unwrap();
        }
        let needs = model.ram_needs(0, 9).unwrap();
        let mut scratch = vec![0.0; needs.adapt_scratch];
        let mut losses = [0.0; 4];
        let mut state: AdaptState<64> = AdaptState::new(&model, 0).unwrap();
        state
            .adapt(
                &model,
                support.as_support(),
                None,
                &mut scratch,
                &mut losses,
            )
            .unwrap();
        let mut plain_state: AdaptState<64> = AdaptState::new(&plain, 0).unwrap();
        let mut plain_scratch = vec![0.0; plain.ram_needs(0, 9).unwrap().adapt_scratch];
        let mut plain_losses = [0.0; 4];
        plain_state
            .adapt(
                &plain,
                stem_support.as_support(),
                None,
                &mut plain_scratch,
                &mut plain_losses,
            )
            .unwrap();
        assert_eq!(state.params(), plain_state.params(), "{scope:?}");
        assert_eq!(losses, plain_losses);
    }
}

fn refused(def: &ModelDef) -> Error {
    def.to_bytes().unwrap_err()
}

#[test]
fn scopes_that_would_adapt_the_stem_are_refused() {
    for scope in [AdaptScope::BiasesOnly, AdaptScope::Everything] {
        let def = series_model(&mut Rng(9), scope);
        assert_eq!(refused(&def), Error::ScopeReachesStem { head: 0 });
    }
    // k counts the dense trunk layers only: there is one.
    let def = series_model(&mut Rng(9), AdaptScope::HeadAndLastTrunk(2));
    assert!(matches!(refused(&def), Error::InvalidHeader { .. }));
}

#[test]
fn bad_stem_shapes_are_refused() {
    let mut rng = Rng(10);
    let base = series_model(&mut rng, AdaptScope::HeadOnly);
    let edit = |f: &dyn Fn(&mut StemLayer)| {
        let mut def = base.clone();
        f(&mut def.stem[0].layer);
        // As many weights as the edited geometry asks for: the loader judges the geometry.
        let n = Stem::of(&def.stem[0].layer).unwrap().weight_count();
        def.stem[0].weights.resize(n.min(1 << 16), 0.0);
        refused(&def)
    };
    let conv = |f: fn(&mut ConvSpec)| {
        move |l: &mut StemLayer| {
            if let StemLayer::Conv(c) = l {
                f(c)
            }
        }
    };
    // The kernel wider than the padded input, a zero stride, a zero size.
    assert!(matches!(
        edit(&conv(|c| c.kernel = [1, 15])),
        Error::InvalidHeader { field: "stem" }
    ));
    assert!(matches!(
        edit(&conv(|c| c.stride = 0)),
        Error::InvalidHeader { .. }
    ));
    assert!(matches!(
        edit(&conv(|c| c.kernel = [0, 3])),
        Error::InvalidHeader { .. }
    ));
    // An input map that is not the model's input, or not the previous layer's output.
    assert!(matches!(
        edit(&conv(|c| c.input.width = 11)),
        Error::InvalidHeader { .. } | Error::LengthMismatch { .. }
    ));
    let mut def = base.clone();
    def.stem.swap(1, 2);
    assert!(matches!(
        refused(&def),
        Error::InvalidHeader { .. } | Error::LengthMismatch { .. }
    ));
    // A map beyond MAX_MAP_LEN, checked without overflow.
    let mut def = base.clone();
    def.stem[1].layer = StemLayer::MaxPool(PoolSpec {
        input: map(u16::MAX, u16::MAX, u16::MAX),
        size: [1, 2],
        stride: 2,
    });
    assert!(matches!(refused(&def), Error::InvalidHeader { .. }));
    // The stem's output is not the trunk's input.
    let mut def = base.clone();
    def.stem.pop();
    assert!(matches!(
        refused(&def),
        Error::InvalidHeader { field: "trunk" }
    ));
}

/// `blob` with the bytes at `at` replaced and the CRC fixed.
fn patched(blob: &[u8], at: usize, bytes: &[u8]) -> AlignedBytes {
    let mut b = AlignedBytes::from_slice(blob);
    let raw = b.as_bytes_mut();
    raw[at..at + bytes.len()].copy_from_slice(bytes);
    let n = raw.len() - 4;
    let crc = CRC.checksum(&raw[..n]);
    raw[n..].copy_from_slice(&crc.to_le_bytes());
    b
}

#[test]
fn stem_offsets_and_weights_are_checked() {
    let bytes = series_model(&mut Rng(11), AdaptScope::HeadOnly)
        .to_bytes()
        .unwrap();
    let blob = AlignedBytes::from_slice(&bytes);
    let model = Model::from_bytes(&blob).unwrap();
    // A NaN in the first conv's weights.
    let StemLayer::Conv(c) = model.stem()[0] else {
        panic!("a conv first")
    };
    let weights_at = bytes.len() - 4 - 4 * (model.param_count() + 48);
    let at = weights_at + 4 * c.offset as usize;
    let nan = patched(&bytes, at, &f32::NAN.to_le_bytes());
    assert!(matches!(
        Model::from_bytes(&nan),
        Err(Error::BadWeight { .. })
    ));
    // A v4 blob cut short inside its stem list never panics.
    for cut in 10..bytes.len() {
        let _ = Model::from_bytes(&AlignedBytes::from_slice(&bytes[..cut]));
    }
}
