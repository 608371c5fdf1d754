//! The convolution fixtures (`firmware/tests/conv.rs` runs them): a model with a stem of every
//! kind of layer on the digits images, and the trainer's two convolution presets (PLAID as a
//! 1-channel series with a conv1d stem, digits as 1 x 8 x 8 images with a conv2d stem), each
//! with held-out episodes and the host's golden outputs on them. The bench firmware times the
//! three models' inference.
//!
//! Two user-shaped trunks are committed trainer exports too, in f32 and int8, on the digits
//! episodes: odd map sizes, a 2 x 2 kernel, depthwise 3 x 3 at stride 2 and a pointwise layer
//! (`firmware/fixtures/strided-conv2d.toml`), and a series of 8 channels with conv1d, depthwise
//! k3 at stride 2 and a pointwise layer (`firmware/fixtures/series-conv1d.toml`).
//!
//! The presets' models are committed exports (`models/plaid_conv1d.postcard`,
//! `models/digits_conv2d.postcard`), made by the commands in [`files`]; this test never
//! retrains them (a new export makes the golden files stale, and this test says so). Their int8
//! exports (`models/*_int8.postcard`, `trainer quantise` of the same trained weights: an int8
//! stem, the same f32 heads) run the f32 models' episodes; only their golden outputs are files
//! of their own.

use super::{data_rows, digits_rows, episodes_and_golden, trained_model, Episodes, Lcg};
use runtime::format::spec::{ConvSpec, Map, PoolSpec};
use runtime::writer::{AdaptDef, HeadDef, ModelDef, RateDef, StemDef};
use runtime::{Activation, AdaptScope};

/// Digits episodes for the stem fixture and the digits conv2d preset: 5-way 5-shot on the
/// novel classes 5-9, 2 queries per class.
const DIGITS: Episodes = Episodes {
    count: 2,
    classes: &[5, 6, 7, 8, 9],
    shots: 5,
    queries: 2,
    seed: 0xc04e_0001,
};

/// PLAID episodes for the conv1d preset: its novel classes (3 fridge, 5 heater, 8 microwave,
/// 9 vacuum, 10 washing machine), 2 shots and 1 query per class (256 floats a row: the file
/// stays small).
const PLAID: Episodes = Episodes {
    count: 2,
    classes: &[3, 5, 8, 9, 10],
    shots: 2,
    queries: 1,
    seed: 0xc04e_0002,
};

fn map(channels: u16, height: u16, width: u16) -> Map {
    Map {
        channels,
        height,
        width,
    }
}

/// A convolution of `k x k` (`k[0] x k[1]`) taps, stride 1, padding `pad`, ReLU, with
/// pseudo-random weights (He-scaled by the fan-in) and biases.
fn conv(
    r: &mut Lcg,
    input: Map,
    channels: u16,
    k: [u16; 2],
    pad: [u16; 2],
    depthwise: bool,
) -> StemDef {
    let spec = ConvSpec {
        input,
        channels,
        kernel: k,
        stride: 1,
        padding: pad,
        activation: Activation::Relu,
        offset: 0,
    };
    let group = if depthwise {
        1
    } else {
        usize::from(input.channels)
    };
    let fan_in = group * usize::from(k[0]) * usize::from(k[1]);
    let s = (6.0 / fan_in as f32).sqrt();
    let w = (0..usize::from(channels) * fan_in)
        .map(|_| r.uniform(-s, s))
        .collect();
    let b = (0..channels).map(|_| r.uniform(-0.1, 0.1)).collect();
    if depthwise {
        StemDef::depthwise(spec, w, b)
    } else {
        StemDef::conv(spec, w, b)
    }
}

/// Every kind of stem layer on a 1 x 8 x 8 image: conv2d 8 x 3x3 -> depthwise 3x3 -> max pool 2
/// -> conv2d 16 x 3x3 -> average pool 2 (64 features) -> a dense 64 -> 32 ReLU trunk layer; a
/// fixed 10-way head and a 5-way head adapted from prototypes (head only, 3 steps). Pixels are
/// scaled by 1/16.
pub fn stem_model() -> Vec<u8> {
    let mut r = Lcg(0xc0_4e_5e);
    let c1 = conv(&mut r, map(1, 8, 8), 8, [3, 3], [1, 1], false);
    let dw = conv(&mut r, map(8, 8, 8), 8, [3, 3], [1, 1], true);
    let c2 = conv(&mut r, map(8, 4, 4), 16, [3, 3], [1, 1], false);
    let trunk = r.dense(64, 32, Activation::Relu);
    let ten = HeadDef::classification(0, "digits10", vec![r.dense(32, 10, Activation::Identity)]);
    let five = HeadDef::classification(1, "novel5", vec![r.dense(32, 5, Activation::Identity)])
        .with_adapt(
            AdaptDef::new(AdaptScope::HeadOnly, 3, RateDef::Scalar(0.05), 10.0)
                .with_prototypes(0.5),
        );
    let pool = |input, size| PoolSpec {
        input,
        size: [size, size],
        stride: size,
    };
    ModelDef::new("conv-stem-fixture", 64)
        .with_id(0xc04e_0001)
        .normalise(vec![0.0; 64], vec![1.0 / 16.0; 64])
        .stem(c1)
        .stem(dw)
        .stem(StemDef::max_pool(pool(map(8, 8, 8), 2)))
        .stem(c2)
        .stem(StemDef::avg_pool(pool(map(16, 4, 4), 2)))
        .trunk(trunk)
        .head(ten)
        .head(five)
        .to_bytes()
        .expect("the writer accepts the stem fixture")
}

/// The conv fixtures: `(file name, bytes)`.
pub fn files() -> Vec<(&'static str, Vec<u8>)> {
    let digits = digits_rows();
    let stem = stem_model();
    let (stem_episodes, stem_golden) = episodes_and_golden(&stem, &digits, &DIGITS);
    let digits_conv2d = trained_model(
        "digits_conv2d.postcard",
        "trainer train --preset digits_conv2d --iterations 60 --no-eval --out models/digits_conv2d.postcard",
    );
    let (digits_episodes, digits_golden) = episodes_and_golden(&digits_conv2d, &digits, &DIGITS);
    let plaid_conv1d = trained_model(
        "plaid_conv1d.postcard",
        "trainer train --preset plaid_conv1d --iterations 100 --no-eval --out models/plaid_conv1d.postcard",
    );
    let plaid = data_rows("plaid.csv.gz", 256);
    let (plaid_episodes, plaid_golden) = episodes_and_golden(&plaid_conv1d, &plaid, &PLAID);
    let strided = user_shaped("strided-conv2d", &digits);
    let series = user_shaped("series-conv1d", &digits);
    let digits_int8 = int8_golden("digits_conv2d", (&digits, &DIGITS), &digits_episodes);
    let plaid_int8 = int8_golden("plaid_conv1d", (&plaid, &PLAID), &plaid_episodes);
    vec![
        ("conv-stem.fsm", stem),
        ("conv-stem-episodes.bin", stem_episodes),
        ("conv-stem-golden.bin", stem_golden),
        ("digits-conv2d-episodes.bin", digits_episodes),
        ("digits-conv2d-golden.bin", digits_golden),
        ("plaid-conv1d-episodes.bin", plaid_episodes),
        ("plaid-conv1d-golden.bin", plaid_golden),
        ("digits-conv2d-int8-golden.bin", digits_int8),
        ("plaid-conv1d-int8-golden.bin", plaid_int8),
    ]
    .into_iter()
    .chain(strided)
    .chain(series)
    .collect()
}

/// The episodes and golden outputs of a user-shaped trunk the trainer exported for the tests,
/// `firmware/fixtures/<name>.postcard` and its int8 export `<name>-int8.postcard` (committed,
/// never retrained here; `<name>.toml` beside them has the commands that remake them), on the
/// digits episodes: `<name>-episodes.bin`, `<name>-golden.bin`, `<name>-int8-golden.bin`.
fn user_shaped(name: &str, digits: &[(Vec<f32>, usize)]) -> Vec<(&'static str, Vec<u8>)> {
    let read = |file: String| {
        let path = super::fixtures_dir().join(&file);
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (see firmware/fixtures/{name}.toml)",
                path.display()
            )
        })
    };
    let f32_model = read(format!("{name}.postcard"));
    let (episodes, golden) = episodes_and_golden(&f32_model, digits, &DIGITS);
    let int8_model = read(format!("{name}-int8.postcard"));
    let (same, int8_golden) = episodes_and_golden(&int8_model, digits, &DIGITS);
    assert_eq!(
        same, episodes,
        "{name}: the int8 export runs the f32 one's episodes"
    );
    // The file list's names are `&'static str` (the other fixtures' are literals).
    let file = |suffix: &str| -> &'static str { format!("{name}{suffix}").leak() };
    vec![
        (file("-episodes.bin"), episodes),
        (file("-golden.bin"), golden),
        (file("-int8-golden.bin"), int8_golden),
    ]
}

/// The host's golden outputs of the int8 export of `preset` (`models/<preset>_int8.postcard`)
/// on the f32 model's `episodes` (drawn again from `rows` by `spec`: the int8 model has the same
/// input, heads and adaptation, so the same file).
fn int8_golden(
    preset: &str,
    (rows, spec): (&[(Vec<f32>, usize)], &Episodes),
    episodes: &[u8],
) -> Vec<u8> {
    let how = format!(
        "trainer quantise --config trainer/configs/{preset}.toml --trained <the f32 run's out>.trained.json --export models/{preset}_int8.postcard"
    );
    let model = trained_model(&format!("{preset}_int8.postcard"), &how);
    let (same, golden) = episodes_and_golden(&model, rows, spec);
    assert_eq!(
        same, episodes,
        "{preset}: the int8 model runs the f32 model's episodes"
    );
    golden
}
