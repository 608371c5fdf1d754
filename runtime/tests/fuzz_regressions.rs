//! Inputs the fuzzer (`fuzz/`, `cargo xtask fuzz-smoke`) found to break a promise of the
//! runtime, minimised, one test each. Their fuzz inputs are in `fuzz/regressions/`.
//!
//! The root cause of the first four was micromath's `exp` returning NaN for finite x in
//! [88.72, 89.42]; `math::exp` now returns +inf above 88 and 0 below -88 itself. The last three
//! came from a review (non-finite features from finite inputs, RAM queries that overflowed,
//! prototypes on a biases-only head).

use fewshot_runtime::math::{activate, exp};
use fewshot_runtime::{Activation, AdaptState, Heads, Model, Support};

static MULTIHEAD: &[u8] = fewshot_runtime::include_model!("../../firmware/fixtures/multihead.fsm");

/// micromath's `exp` returns NaN for finite x in [88.72, 89.42] (where e^x overflows f32: the
/// answer is +inf) and trips its own `debug_assert!` there and on NaN, so a debug build panics.
#[test]
fn exp_near_overflow_is_inf_not_nan() {
    let mut x = 88.0f32;
    while x < 90.0 {
        let e = exp(x);
        assert!(!e.is_nan(), "exp({x}) is NaN");
        assert!(
            !activate(Activation::Tanh, x / 2.0).is_nan(),
            "tanh({})",
            x / 2.0
        );
        assert!(
            !activate(Activation::Sigmoid, -x).is_nan(),
            "sigmoid({})",
            -x
        );
        x = f32::from_bits(x.to_bits() + 97);
    }
}

/// fuzz/regressions/adapt/exp-overflow-window-tanh-infer: finite inputs of about 100 drive
/// the regression head's tanh layer into the window above; inference panics in a debug build
/// and outputs NaN in a release build.
#[test]
fn finite_inputs_give_finite_outputs_on_a_tanh_head() {
    let model = Model::from_bytes(MULTIHEAD).expect("fixture loads");
    let s = |v: i16| f32::from(v) / 256.0;
    let x = [
        s(0),
        s(24415),
        s(24415),
        s(24415),
        s(24415),
        s(-26463),
        s(24415),
        s(24415),
    ];
    let mut scratch = vec![0.0f32; model.infer_scratch_len()];
    let mut out = vec![0.0f32; model.network().output_len(Heads::ALL)];
    model
        .network()
        .infer(&x, Heads::ALL, &mut scratch, &mut out)
        .expect("infers");
    assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
}

/// fuzz/regressions/adapt/nonfinite-loss-changes-state: a second adaptation of the regression
/// head on one large sample fails with `NonFiniteLoss` at step 3 after changing the state,
/// against "on error the state is exactly as before" (or, with the divergence rollback, an Ok
/// report with the best step's finite parameters).
#[test]
fn a_diverging_adaptation_leaves_the_state_as_before() {
    let model = Model::from_bytes(MULTIHEAD).expect("fixture loads");
    let s = |v: i16| f32::from(v) / 256.0;
    let inputs = [
        s(-17221),
        s(17733),
        s(17733),
        s(17733),
        s(17733),
        s(17733),
        s(19789),
        s(19789),
    ];
    let values = [s(17733), s(69)];
    let mut state: AdaptState<2048> = AdaptState::new(&model, 2).expect("fits");
    let mut scratch = vec![0.0f32; 2048];
    let mut losses = vec![0.0f32; 186];
    let mut adapt = |state: &mut AdaptState<2048>, x: &[f32]| {
        let before: Vec<u32> = state.params().iter().map(|v| v.to_bits()).collect();
        match state.adapt(
            &model,
            Support::values(x, &values),
            Some(7),
            &mut scratch,
            &mut losses,
        ) {
            Ok(_) => assert!(state.params().iter().all(|v| v.is_finite())),
            Err(e) => {
                let after: Vec<u32> = state.params().iter().map(|v| v.to_bits()).collect();
                assert_eq!(before, after, "{e} changed the state");
            }
        }
    };
    adapt(&mut state, &inputs);
    let reversed: Vec<f32> = inputs.iter().rev().copied().collect();
    adapt(&mut state, &reversed);
}

/// fuzz/regressions/load/adapt-ok-with-nan-params (a mutated multi-head model, its CRC fixed
/// up: the trunk's second layer is tanh): one guarded step on the regression head returns `Ok`
/// with a finite loss but 25 NaN parameters. Same root cause (a tanh unit in the `exp` window
/// gives NaN); the clamp lets NaN through and micromath's tanh(NaN) is 1, so no loss shows it.
#[test]
fn a_successful_adaptation_leaves_finite_parameters() {
    let mut bytes = include_bytes!("../../fuzz/regressions/load/adapt-ok-with-nan-params").to_vec();
    let body = bytes.len() - 4;
    let crc = fewshot_runtime::format::CRC.checksum(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    let blob = fewshot_runtime::format::AlignedBytes::from_slice(&bytes);
    let model = Model::from_bytes(&blob).expect("the mutated model is valid");
    // The fuzz target's support set: one sample from the bytes, target values from the rest.
    let value = |b: u8, i: usize| (f32::from(b) - 128.0) / 16.0 + (i % 7) as f32 * 0.01;
    let raw = include_bytes!("../../fuzz/regressions/load/adapt-ok-with-nan-params");
    let x: Vec<f32> = (0..8).map(|i| value(raw[i], i)).collect();
    let y: Vec<f32> = (0..2).map(|i| value(raw[raw.len() / 2 + i], i)).collect();
    let mut state: AdaptState<4096> = AdaptState::new(&model, 2).expect("fits");
    let mut scratch = vec![0.0f32; model.ram_needs(2, 1).expect("needs").adapt_scratch];
    let mut losses = [0.0f32; 3];
    let mut best = vec![0.0f32; state.params().len()];
    let report = state.adapt_guarded(
        &model,
        Support::values(&x, &y),
        Some(1),
        &mut scratch,
        &mut losses,
        &mut best,
    );
    if report.is_ok() {
        let nan = state.params().iter().filter(|v| !v.is_finite()).count();
        assert_eq!(nan, 0, "Ok with {nan} non-finite parameters");
    }
}

/// A frozen trunk turns finite inputs into `1e30 * 1e10 - 1e30 * 1e10 = inf - inf = NaN`. The
/// overflow bound's max used to drop a NaN in its fold, so the prototype start changed the state
/// before the step-0 loss failed, or a ReLU head swallowed the NaN and "succeeded" with NaN
/// parameters. Non-finite features are now refused before the state changes.
#[test]
fn non_finite_features_from_finite_inputs_are_refused_before_the_state_changes() {
    use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
    use fewshot_runtime::{Activation, AdaptScope, AdaptState, Error, Model, Support};
    let trunk = || {
        Dense::new(
            2,
            2,
            Activation::Identity,
            vec![1e10, -1e10, 0.0, 1e-30],
            vec![0.0; 2],
        )
    };
    let inputs = [1e30f32, 1e30, 1.0, 1.0];
    let mut scratch = [0.0f32; 256];
    let mut losses = [0.0f32; 8];
    // Prototype start on a classification head.
    let head = HeadDef::classification(0, "c", vec![Dense::zeros(2, 2, Activation::Identity)])
        .with_adapt(
            AdaptDef::new(AdaptScope::HeadOnly, 3, RateDef::Scalar(0.1), 1.0).with_prototypes(1.0),
        );
    let blob = ModelDef::new("m", 2)
        .trunk(trunk())
        .head(head)
        .to_aligned_bytes()
        .unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut state: AdaptState<16> = AdaptState::new(&model, 0).unwrap();
    let before: Vec<u32> = state.params().iter().map(|v| v.to_bits()).collect();
    let r = state.adapt(
        &model,
        Support::classes(&inputs, &[0, 1]),
        None,
        &mut scratch,
        &mut losses,
    );
    assert!(
        matches!(r, Err(Error::NonFinite { sample: 0, .. })),
        "{r:?}"
    );
    let after: Vec<u32> = state.params().iter().map(|v| v.to_bits()).collect();
    assert_eq!(before, after);
    // A ReLU regression head after the same trunk.
    let head = HeadDef::regression(
        0,
        "y",
        vec![
            Dense::new(2, 2, Activation::Relu, vec![1.0; 4], vec![0.0; 2]),
            Dense::new(2, 1, Activation::Identity, vec![1.0, 1.0], vec![0.0]),
        ],
    )
    .with_adapt(AdaptDef::new(
        AdaptScope::HeadOnly,
        3,
        RateDef::Scalar(0.1),
        1.0,
    ));
    let blob = ModelDef::new("m", 2)
        .trunk(trunk())
        .head(head)
        .to_aligned_bytes()
        .unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut state: AdaptState<16> = AdaptState::new(&model, 0).unwrap();
    let r = state.adapt(
        &model,
        Support::values(&inputs, &[1.0, 2.0]),
        None,
        &mut scratch,
        &mut losses,
    );
    assert!(
        matches!(r, Err(Error::NonFinite { sample: 0, .. })),
        "{r:?}"
    );
    assert!(state.params().iter().all(|v| v.is_finite()));
}

/// RAM queries with absurd shot counts are errors, not overflow panics.
#[test]
fn ram_needs_of_a_huge_support_set_is_an_error() {
    use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
    use fewshot_runtime::{Activation, AdaptScope, Model};
    let head = HeadDef::regression(
        0,
        "y",
        vec![
            Dense::zeros(1, 1, Activation::Relu),
            Dense::zeros(1, 1, Activation::Identity),
        ],
    )
    .with_adapt(AdaptDef::new(
        AdaptScope::HeadOnly,
        3,
        RateDef::Scalar(0.1),
        1.0,
    ));
    let blob = ModelDef::new("m", 1).head(head).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    for k in [usize::MAX / 8, usize::MAX / 4, usize::MAX] {
        assert!(model.ram_needs(0, k).is_err(), "K = {k}");
    }
}

/// Prototypes set the last layer's weights: a head that adapts only biases cannot use them,
/// and such a model is refused at load instead of failing every adaptation.
#[test]
fn prototypes_with_a_biases_only_scope_are_refused_at_load() {
    use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
    use fewshot_runtime::{Activation, AdaptScope, Model};
    let head = HeadDef::classification(
        0,
        "c",
        vec![Dense::new(
            2,
            2,
            Activation::Identity,
            vec![1.0, 0.0, 0.0, 1.0],
            vec![0.0; 2],
        )],
    )
    .with_adapt(
        AdaptDef::new(AdaptScope::BiasesOnly, 3, RateDef::Scalar(0.1), 1.0).with_prototypes(1.0),
    );
    let refused = match ModelDef::new("m", 2).head(head).to_aligned_bytes() {
        Err(_) => true,
        Ok(blob) => Model::from_bytes(&blob).is_err(),
    };
    assert!(refused);
}
