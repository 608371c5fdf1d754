//! The int8 stem (format v4, capability `int8`): a model whose stem quantises its input, runs
//! int8 convolution, pooling and dense layers and dequantises, against the same kernels called
//! by hand; the writer's round trip; the loader's refusals.

mod common;

use common::Rng;
use fewshot_runtime::format::spec::{
    ConvSpec, Int8ConvSpec, Int8DenseSpec, Int8Params, Map, PoolSpec,
};
use fewshot_runtime::writer::{Dense, HeadDef, Int8Values, ModelDef, StemDef};
use fewshot_runtime::{Activation, Error};
// What only the tests of a build with int8 use.
#[cfg(feature = "int8")]
use fewshot_runtime::{
    format::{spec::StemLayer, Capabilities},
    Model,
};

const INPUT: Map = Map {
    channels: 1,
    height: 1,
    width: 12,
};
const P_IN: Int8Params = Int8Params {
    scale: 0.03,
    zero_point: -5,
};
const P_CONV: Int8Params = Int8Params {
    scale: 0.02,
    zero_point: -128,
};
const P_DENSE: Int8Params = Int8Params {
    scale: 0.05,
    zero_point: 3,
};

fn conv_spec() -> Int8ConvSpec {
    Int8ConvSpec {
        conv: ConvSpec {
            input: INPUT,
            channels: 3,
            kernel: [1, 3],
            stride: 1,
            padding: [0, 1],
            activation: Activation::Relu,
            offset: 0,
        },
        depthwise: false,
        input: P_IN,
        output: P_CONV,
    }
}

fn pool_spec() -> PoolSpec {
    PoolSpec {
        input: Map {
            channels: 3,
            height: 1,
            width: 12,
        },
        size: [1, 2],
        stride: 2,
    }
}

fn dense_spec() -> Int8DenseSpec {
    Int8DenseSpec {
        inputs: 18,
        outputs: 5,
        activation: Activation::Identity,
        input: P_CONV,
        output: P_DENSE,
        offset: 0,
    }
}

/// Random int8 values of `channels` output channels of `fan` weights.
fn values(rng: &mut Rng, channels: usize, fan: usize) -> Int8Values {
    Int8Values {
        weights: (0..channels * fan)
            .map(|_| (rng.below(255) as i32 - 127) as i8)
            .collect(),
        bias: (0..channels)
            .map(|_| rng.below(2001) as i32 - 1000)
            .collect(),
        multiplier: (0..channels)
            .map(|_| (1 << 30) + rng.below(1 << 30) as i32)
            .collect(),
        shift: (0..channels).map(|_| -(rng.below(8) as i32)).collect(),
        scale: (0..channels).map(|_| rng.range(0.001, 0.01)).collect(),
    }
}

/// The stem: quantise, conv, max pool, dense, dequantise; its int8 values.
fn int8_def(seed: u64) -> (ModelDef, Int8Values, Int8Values) {
    let mut rng = Rng(seed);
    let (cv, dv) = (values(&mut rng, 3, 3), values(&mut rng, 5, 18));
    let out = Map {
        channels: 5,
        height: 1,
        width: 1,
    };
    let def = ModelDef::new("int8", 12)
        .stem(StemDef::quantise(INPUT, P_IN))
        .stem(StemDef::int8_conv(conv_spec(), &cv).unwrap())
        .stem(StemDef::int8_max_pool(pool_spec()))
        .stem(StemDef::int8_dense(dense_spec(), &dv).unwrap())
        .stem(StemDef::dequantise(out, P_DENSE))
        .head(HeadDef::classification(
            0,
            "c",
            vec![Dense::new(
                5,
                2,
                Activation::Identity,
                rng.vec(10, 1.0),
                rng.vec(2, 1.0),
            )],
        ));
    (def, cv, dv)
}

/// The stem's features computed with the kernels called one by one.
#[cfg(feature = "int8")]
fn by_hand(x: &[f32], cv: &Int8Values, dv: &Int8Values) -> Vec<f32> {
    use fewshot_runtime::math::int8::*;
    let qp = |p: Int8Params| QuantParams {
        scale: p.scale,
        zero_point: i32::from(p.zero_point),
    };
    let mut q = vec![0i8; 12];
    quantize(x, qp(P_IN), &mut q).unwrap();
    let s = conv_spec().conv;
    let conv_layer = QuantConv {
        geom: ConvGeom {
            in_channels: 1,
            height: 1,
            width: 12,
            out_channels: 3,
            kernel: [1, 3],
            stride: 1,
            padding: [0, 1],
            depthwise: false,
        },
        in_zp: -5,
        weights: &cv.weights,
        bias: &cv.bias,
        requant: Requant {
            multiplier: &cv.multiplier,
            shift: &cv.shift,
            out_zp: -128,
            act_min: -128,
            act_max: 127,
        },
    };
    assert_eq!(s.activation, Activation::Relu);
    let mut c = vec![0i8; 36];
    let mut scratch = vec![0u32; 64];
    conv(&conv_layer, &q, &mut c, &mut scratch).unwrap();
    let g = PoolGeom {
        channels: 3,
        height: 1,
        width: 12,
        kernel: [1, 2],
        stride: 2,
    };
    let mut p = vec![0i8; 18];
    max_pool(&g, &c, &mut p).unwrap();
    let dense_layer = QuantDense {
        inputs: 18,
        outputs: 5,
        in_zp: -128,
        weights: &dv.weights,
        bias: &dv.bias,
        requant: Requant {
            multiplier: &dv.multiplier,
            shift: &dv.shift,
            out_zp: 3,
            act_min: -128,
            act_max: 127,
        },
    };
    let mut d = vec![0i8; 5];
    dense(&dense_layer, &p, &mut d, &mut scratch).unwrap();
    let mut f = vec![0.0f32; 5];
    dequantize(&d, qp(P_DENSE), &mut f).unwrap();
    f
}

#[cfg(feature = "int8")]
#[test]
fn int8_stem_runs_the_kernels_bit_for_bit() {
    for seed in 1..=20u64 {
        let (def, cv, dv) = int8_def(seed);
        let blob = def.to_aligned_bytes().unwrap();
        let model = Model::from_bytes(&blob).unwrap();
        assert!(model.capabilities().contains(Capabilities::INT8));
        assert_eq!(model.trunk_input_len(), 5);
        let mut rng = Rng(seed + 100);
        let net = model.network();
        let mut scratch = vec![0.0f32; model.infer_scratch_len()];
        for _ in 0..10 {
            let x = rng.vec(12, 4.0);
            let mut f = vec![0.0f32; 5];
            net.features(&x, &mut scratch, &mut f).unwrap();
            let expected = by_hand(&x, &cv, &dv);
            assert_eq!(
                f.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}

/// The f32 convolution (and max pool) before the quantise step of a mixed stem.
#[cfg(all(feature = "int8", feature = "conv"))]
fn f32_layers(rng: &mut Rng) -> [StemDef; 2] {
    let conv = ConvSpec {
        activation: Activation::Relu,
        ..conv_spec().conv
    };
    [
        StemDef::conv(conv, rng.vec(9, 1.0), rng.vec(3, 0.5)),
        StemDef::max_pool(pool_spec()),
    ]
}

/// A stem may run f32 layers before its quantise step (a thin first layer in f32, the rest in
/// int8): the features are those of the f32 layers' model fed to the int8 layers' model, bit
/// for bit.
#[cfg(all(feature = "int8", feature = "conv"))]
#[test]
fn f32_layers_before_the_quantise_step_compose_bit_for_bit() {
    let pooled = Map {
        channels: 3,
        height: 1,
        width: 6,
    };
    let head = |rng: &mut Rng, inputs| {
        let layer = Dense::new(
            inputs,
            2,
            Activation::Identity,
            rng.vec(2 * inputs, 1.0),
            rng.vec(2, 1.0),
        );
        HeadDef::classification(0, "c", vec![layer])
    };
    for seed in 1..=10u64 {
        let mut rng = Rng(seed);
        let dv = values(&mut rng, 5, 18);
        let [conv, pool] = f32_layers(&mut rng);
        let int8_part = |d: ModelDef| {
            d.stem(StemDef::quantise(pooled, P_CONV))
                .stem(StemDef::int8_dense(dense_spec(), &dv).unwrap())
                .stem(StemDef::dequantise(
                    Map {
                        channels: 5,
                        height: 1,
                        width: 1,
                    },
                    P_DENSE,
                ))
        };
        let mixed = int8_part(
            ModelDef::new("mixed", 12)
                .stem(conv.clone())
                .stem(pool.clone()),
        )
        .head(head(&mut rng, 5));
        let first = ModelDef::new("f32 part", 12)
            .stem(conv)
            .stem(pool)
            .head(head(&mut rng, 18));
        let second = int8_part(ModelDef::new("int8 part", 18)).head(head(&mut rng, 5));
        let blobs = [mixed, first, second].map(|d| d.to_aligned_bytes().unwrap());
        let [mixed, first, second] = [0, 1, 2].map(|i| Model::from_bytes(&blobs[i]).unwrap());
        assert!(mixed.capabilities().contains(Capabilities::INT8));
        let features = |m: &Model<'_>, x: &[f32], n: usize| {
            let mut scratch = vec![0.0f32; m.infer_scratch_len()];
            let mut f = vec![0.0f32; n];
            m.network().features(x, &mut scratch, &mut f).unwrap();
            f.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        for _ in 0..10 {
            let x = rng.vec(12, 4.0);
            let halfway: Vec<f32> = features(&first, &x, 18)
                .into_iter()
                .map(f32::from_bits)
                .collect();
            assert_eq!(features(&mixed, &x, 5), features(&second, &halfway, 5));
        }
    }
}

#[cfg(feature = "int8")]
#[test]
fn int8_stem_round_trips_through_the_writer() {
    let (def, _, _) = int8_def(7);
    let blob = def.to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let again = ModelDef::from_model(&model).unwrap().to_bytes().unwrap();
    assert_eq!(blob.as_bytes(), &again[..]);
    // The int8 tensors are 4 words per channel and the weights four to a word.
    let (w, b) = model.stem_params(&model.stem()[1]).unwrap();
    assert_eq!((w.len(), b.len()), (4 * 3 + 9usize.div_ceil(4), 0));
}

#[cfg(not(feature = "int8"))]
#[test]
fn a_build_without_int8_refuses_the_model() {
    let (def, _, _) = int8_def(1);
    let blob = def.to_aligned_bytes();
    // The writer validates through the loader: it refuses too, naming the first missing
    // feature (the stem's `conv`, then `int8`).
    let feature = if cfg!(feature = "conv") {
        "int8"
    } else {
        "conv"
    };
    assert_eq!(blob.unwrap_err(), Error::FeatureDisabled { feature });
}

/// The blob of `def` as the writer would write it, without the writer's loader check.
#[cfg(feature = "int8")]
fn refusal(def: ModelDef) -> Error {
    def.to_aligned_bytes().unwrap_err()
}

#[cfg(feature = "int8")]
#[test]
fn the_loader_refuses_bad_int8_stems() {
    let (def, _, _) = int8_def(3);
    let field = |field| Error::InvalidHeader { field };
    // An int8 layer on f32 values, or an f32 map left in int8.
    let mut d = def.clone();
    d.stem.remove(0);
    assert_eq!(refusal(d), field("stem.int8"));
    let mut d = def.clone();
    d.stem.pop();
    d.stem.push(StemDef::int8_max_pool(PoolSpec {
        input: Map {
            channels: 5,
            height: 1,
            width: 1,
        },
        size: [1, 1],
        stride: 1,
    }));
    assert_eq!(refusal(d), field("stem.int8"));
    // Parameters that do not chain.
    let mut d = def.clone();
    if let StemLayer::Int8Dense(s) = &mut d.stem[3].layer {
        s.input.zero_point = 0;
    }
    assert_eq!(refusal(d), field("stem.int8"));
    // A scale that is not positive; a tanh.
    let mut d = def.clone();
    if let StemLayer::Int8Conv(s) = &mut d.stem[1].layer {
        s.output.scale = 0.0;
    }
    assert_eq!(refusal(d), field("stem"));
    let mut d = def.clone();
    if let StemLayer::Int8Conv(s) = &mut d.stem[1].layer {
        s.conv.activation = Activation::Tanh;
    }
    assert_eq!(refusal(d), field("stem"));
    // A shift out of range, a negative multiplier, a weight scale of NaN, padding bytes set:
    // the index is in the weights section, after the head's 37 values.
    let base = ModelDef::new("x", 12)
        .stem(def.stem[0].clone())
        .stem(def.stem[1].clone());
    let word = |d: &ModelDef, i: usize| d.stem[1].weights[i];
    for (i, bits, index) in [
        (6usize, 31u32, 6usize),
        (3, u32::MAX, 3),
        (9, f32::NAN.to_bits(), 9),
        (14, word(&base, 14).to_bits() | 0xff00_0000, 14),
    ] {
        let mut d = base.clone().stem(StemDef::dequantise(
            Map {
                channels: 3,
                height: 1,
                width: 12,
            },
            P_CONV,
        ));
        d.stem[1].weights[i] = f32::from_bits(bits);
        let d = d.head(HeadDef::regression(
            0,
            "y",
            vec![Dense::zeros(36, 1, Activation::Identity)],
        ));
        assert_eq!(
            refusal(d),
            Error::BadWeight { index: 37 + index },
            "word {i}"
        );
    }
}

#[cfg(feature = "int8")]
#[test]
fn int8_buffers_hold_the_packed_maps_and_the_scratch() {
    let (def, _, _) = int8_def(5);
    let blob = def.to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    // The conv's output (36 values: 9 words) and its scratch is the widest buffer: 4 positions
    // x 3 taps packed (a zero-padded block of two words each: 8 words), one window (1 word + 1
    // spare) and the padded input (14 bytes: 4 words + 1 spare). The 12 f32 inputs are wider
    // than any int8 map.
    assert_eq!(model.stem_width(), 9 + 8 + 2 + 5);
}
