//! The whole int8 models of the benchmark (features `int8` and `conv`): the `plaid_conv1d` and
//! `digits_conv2d` presets as exported in int8 (`models/*_int8.postcard`: quantise, int8 stem,
//! dequantise, the f32 5-way head) beside their f32 exports, on the same inputs, through
//! [`fewshot_firmware::model_rows`]: each stem layer, then loading, one inference, adapting the
//! head from prototypes on 5-way 2-shot support (10 stem passes, then the head's steps), flash
//! and RAM. A model of yours: the `bench_model` firmware (`cargo xtask bench-firmware --model`).

use core::mem::MaybeUninit;
use fewshot_firmware::fixtures::conv::{
    DIGITS_CONV2D, DIGITS_CONV2D_INT8, PLAID_CONV1D, PLAID_CONV1D_INT8,
};
use fewshot_firmware::model_rows::{self, Row};
use fewshot_runtime::{AdaptState, Support};

/// Support samples of the adaptation rows: 2 shots of each of 5 classes for the presets
/// (labels `i % classes`).
const SHOTS: usize = 10;
/// The adapted head's parameters (32 or 128 features x 5 classes + 5 biases).
const PARAMS: usize = 645;

/// Outputs of every head the inference rows take.
const OUTPUTS: usize = 8;

/// Floats of each of the two buffers the stem rows run between (the largest int8 map, plaid's
/// 8 x 128 values, is 256 words; its input 256 floats).
const MAP: usize = 1024;

/// Logs each model's stem layers, then the whole-model rows, of the f32 and int8 exports; `x`
/// (pseudo-random values in [0, 1), at least [`SHOTS`] x 256) is every model's input,
/// `scratch` their scratch.
#[inline(never)]
pub fn rows(x: &[f32], scratch: &mut [f32]) {
    let models = [
        ("plaid_conv1d f32", PLAID_CONV1D),
        ("plaid_conv1d int8", PLAID_CONV1D_INT8),
        ("digits_conv2d f32", DIGITS_CONV2D),
        ("digits_conv2d int8", DIGITS_CONV2D_INT8),
    ];
    let models = models.map(|(name, blob)| (name, model_rows::load(name, blob)));
    model_rows::stem_header();
    let mut stem_macs = [0u32; 4];
    let mut buffers = [0.0f32; 2 * MAP];
    for ((name, model), macs) in models.iter().zip(stem_macs.iter_mut()) {
        *macs = model_rows::stem_rows(name, model, x, &mut buffers);
    }
    model_rows::model_header();
    let mut labels = [0u16; SHOTS];
    let mut out = [0.0f32; OUTPUTS];
    let mut state = MaybeUninit::<AdaptState<PARAMS>>::uninit();
    for ((name, model), stem_macs) in models.iter().zip(stem_macs) {
        let (d, ways) = (model.input_len(), model_rows::classes(model, 0).max(1));
        for (i, l) in labels.iter_mut().enumerate() {
            *l = (i % ways) as u16;
        }
        let row = Row {
            name,
            model,
            stem_macs,
            x,
            head: 0,
            support: Support::classes(&x[..SHOTS * d], &labels),
            samples: SHOTS,
            ways,
        };
        model_rows::model_row(&row, &mut state, scratch, &mut out);
    }
}
