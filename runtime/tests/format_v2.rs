//! Format v2: a per-channel input standardisation and the output normalisation of regression
//! heads, against their definitions; v1 stays what the writer emits when neither is used.

mod common;
use common::*;
use fewshot_runtime::format::InputTransform;
use fewshot_runtime::math::{inv_sqrt, standardise};
use fewshot_runtime::writer::{ModelDef, RateDef};
use fewshot_runtime::{Activation, AdaptScope, AdaptState, Error, Heads, Model, Support};

fn regression_model(input: usize) -> ModelDef {
    let mut rng = Rng(7);
    random_model(
        &mut rng,
        input,
        &[(8, Activation::Relu)],
        &[(2, Activation::Identity)],
        false,
        Some(adapt_def(AdaptScope::HeadOnly, RateDef::Scalar(0.05))),
    )
}

fn infer(def: &ModelDef, x: &[f32]) -> Vec<f32> {
    let blob = def.to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut scratch = vec![0.0; model.infer_scratch_len()];
    let mut out = vec![0.0; 2];
    model
        .network()
        .infer(x, Heads::ALL, &mut scratch, &mut out)
        .unwrap();
    out
}

#[test]
fn inv_sqrt_is_accurate_over_the_float_range() {
    let mut x = 1e-30f32;
    while x < 1e30 {
        let want = 1.0 / (x as f64).sqrt();
        let got = inv_sqrt(x) as f64;
        assert!(((got - want) / want).abs() < 1e-6, "{x}: {got} vs {want}");
        x *= 1.37;
    }
    assert_eq!(inv_sqrt(0.0), f32::INFINITY);
    assert!(inv_sqrt(-1.0).is_nan() && inv_sqrt(f32::NAN).is_nan());
}

#[test]
fn channels_are_standardised_each_by_its_own_mean_and_variance() {
    let (channels, len) = (3, 5);
    let mut rng = Rng(3);
    // Raw units: each channel at its own level and amplitude.
    let x: Vec<f32> = (0..channels * len)
        .map(|i| 1000.0 * (i / len) as f32 + 40.0 * rng.range(-1.0, 1.0))
        .collect();
    let eps = 1e-6;
    let base = regression_model(channels * len);
    let def = base.clone().transform(InputTransform::StandardiseChannels {
        channels: channels as u16,
        eps,
    });
    // The reference: each block standardised in f64, then the model without the transform.
    let mut z = vec![0.0f32; x.len()];
    for (b, o) in x.chunks(len).zip(z.chunks_mut(len)) {
        let m = b.iter().map(|&v| v as f64).sum::<f64>() / len as f64;
        let v = b.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / len as f64;
        for (o, &xi) in o.iter_mut().zip(b) {
            *o = ((xi as f64 - m) / (v + eps as f64).sqrt()) as f32;
        }
    }
    let (got, want) = (infer(&def, &x), infer(&base, &z));
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() < 1e-4 * (1.0 + w.abs()),
            "{got:?} vs {want:?}"
        );
    }
    // The runtime's own standardisation gives the transform's bits exactly.
    let mut exact = vec![0.0f32; x.len()];
    for (b, o) in x.chunks(len).zip(exact.chunks_mut(len)) {
        standardise(b, o, eps);
    }
    assert_eq!(got, infer(&base, &exact));
    // Level and amplitude of a channel do not matter, only its shape.
    let moved: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, v)| v * (1.0 + (i / len) as f32) - 77.0)
        .collect();
    for (g, w) in infer(&def, &moved).iter().zip(&got) {
        assert!((g - w).abs() < 1e-3 * (1.0 + w.abs()));
    }
}

#[test]
fn output_normalisation_is_raw_units_in_and_out() {
    let base = regression_model(3);
    let (shift, scale) = (vec![250.0f32, -4.0], vec![40.0f32, 0.25]);
    let mut def = base.clone();
    def.heads[0] = def.heads[0]
        .clone()
        .with_output_normalisation(shift.clone(), scale.clone());
    let x = [0.3f32, -1.2, 0.8];
    let (z, y) = (infer(&base, &x), infer(&def, &x));
    assert_eq!(
        y,
        vec![z[0] * scale[0] + shift[0], z[1] * scale[1] + shift[1]]
    );
    // Adapting on raw targets is adapting the standardised model on standardised targets.
    let k = 4;
    let mut rng = Rng(11);
    let inputs = rng.vec(k * 3, 1.0);
    let raw: Vec<f32> = (0..k * 2)
        .map(|i| shift[i % 2] + scale[i % 2] * rng.range(-2.0, 2.0))
        .collect();
    let std: Vec<f32> = raw
        .iter()
        .enumerate()
        .map(|(i, t)| (t - shift[i % 2]) / scale[i % 2])
        .collect();
    let adapt = |def: &ModelDef, targets: &[f32]| {
        let blob = def.to_aligned_bytes().unwrap();
        let model = Model::from_bytes(&blob).unwrap();
        let mut state = Box::new(AdaptState::<64>::new(&model, 0).unwrap());
        let needs = model.ram_needs(0, k).unwrap();
        let mut scratch = vec![0.0; needs.adapt_scratch.max(needs.infer_scratch)];
        let mut losses = [0.0f32; 6];
        state
            .adapt(
                &model,
                Support::values(&inputs, targets),
                Some(5),
                &mut scratch,
                &mut losses,
            )
            .unwrap();
        (state.params().to_vec(), losses)
    };
    assert_eq!(adapt(&def, &raw), adapt(&base, &std));
    // A target that is finite raw but not once standardised is refused before any change.
    let mut tiny = def.clone();
    tiny.heads[0].output_normalisation = Some((vec![0.0; 2], vec![1e-38; 2]));
    let blob = tiny.to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut state = Box::new(AdaptState::<64>::new(&model, 0).unwrap());
    let before = state.params().to_vec();
    let mut scratch = vec![0.0; 4096];
    let e = state
        .adapt(
            &model,
            Support::values(&inputs, &raw),
            Some(1),
            &mut scratch,
            &mut [0.0; 2],
        )
        .unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e:?}");
    assert_eq!(state.params(), &before[..]);
}

#[test]
fn v2_fields_are_validated_and_v1_still_encodes_when_unused() {
    let base = regression_model(4);
    assert_eq!(base.to_bytes().unwrap()[4..6], [3, 0]);
    assert_eq!(base.to_bytes_as(1).unwrap()[4..6], [1, 0]);
    let refused = |def: ModelDef| def.to_bytes().unwrap_err();
    for (channels, eps) in [(0, 1e-3), (3, 1e-3), (2, 0.0), (2, f32::NAN)] {
        let e = refused(
            base.clone()
                .transform(InputTransform::StandardiseChannels { channels, eps }),
        );
        assert!(matches!(e, Error::InvalidHeader { .. }), "{e:?}");
    }
    let mut def = base.clone();
    def.heads[0].output_normalisation = Some((vec![0.0; 2], vec![1.0, 0.0]));
    assert!(matches!(refused(def), Error::BadWeight { .. }));
    let mut def = base.clone();
    def.heads[0].output_normalisation = Some((vec![0.0; 3], vec![1.0; 3]));
    assert!(matches!(refused(def), Error::LengthMismatch { .. }));
    // Only regression heads take an output normalisation.
    let mut rng = Rng(5);
    let mut cls = random_model(&mut rng, 2, &[], &[(3, Activation::Identity)], true, None);
    cls.heads[0].output_normalisation = Some((vec![0.0; 3], vec![1.0; 3]));
    assert_eq!(
        refused(cls),
        Error::InvalidHeader {
            field: "outputs.head"
        }
    );
    // A v2 model round-trips through the editable definition.
    let mut def = base.transform(InputTransform::StandardiseChannels {
        channels: 2,
        eps: 1e-4,
    });
    def.heads[0].output_normalisation = Some((vec![1.0, 2.0], vec![3.0, 4.0]));
    let blob = def.to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let again = ModelDef::from_model(&model).unwrap();
    assert_eq!(again.to_bytes().unwrap(), blob.as_bytes());
    // Format v1 cannot express it.
    assert_eq!(
        def.to_bytes_as(1).unwrap_err(),
        Error::UnsupportedVersion { found: 1 }
    );
}
