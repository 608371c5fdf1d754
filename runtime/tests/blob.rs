//! Blob robustness: every truncation and every single-bit flip of a valid blob is refused
//! without a panic; forged blobs with a correct CRC are validated field by field; random
//! architectures round-trip through the writer and agree with an f64 reference.

mod common;
use common::*;
use fewshot_runtime::enroll::ClassBank;
use fewshot_runtime::format::InputTransform;
use fewshot_runtime::format::{AlignedBytes, CRC, FORMAT_VERSION};
use fewshot_runtime::writer::{AdaptDef, HeadDef, ModelDef, RateDef};
use fewshot_runtime::{Activation, AdaptScope, AdaptState, Error, Heads, Model, Support};
use proptest::prelude::*;

fn small_model() -> ModelDef {
    let mut rng = Rng(42);
    let adapt = AdaptDef::new(
        AdaptScope::HeadAndLastTrunk(1),
        3,
        RateDef::PerParameter(vec![0.01; (3 * 4 + 4) + (4 * 3 + 3) + (3 * 2 + 2)]),
        5.0,
    );
    random_model(
        &mut rng,
        2,
        &[(3, Activation::Relu), (4, Activation::Tanh)],
        &[(3, Activation::Sigmoid), (2, Activation::Identity)],
        false,
        Some(adapt),
    )
}

/// The small model with what format v2 adds: a per-channel input standardisation and an output
/// normalisation of its regression head.
fn small_model_v2() -> ModelDef {
    let mut def = small_model().transform(InputTransform::StandardiseChannels {
        channels: 1,
        eps: 1e-3,
    });
    def.heads[0] = def.heads[0]
        .clone()
        .with_output_normalisation(vec![1.5, -2.0], vec![0.5, 3.0]);
    def
}

/// Format v4: the small model with a second head, a classification head the device enrolls
/// classes into (up to 5).
fn small_model_v4() -> ModelDef {
    let mut rng = Rng(43);
    let layer = dense(&mut rng, 4, 3, Activation::Identity);
    small_model().head(HeadDef::classification(9, "bank", vec![layer]).with_max_classes(5))
}

/// Blobs of every format version: v1, v2, and v3 (the writer's) of both models, and v4.
fn blobs() -> Vec<fewshot_runtime::format::AlignedBytes> {
    let encode = |d: &ModelDef, v: u16| AlignedBytes::from_slice(&d.to_bytes_as(v).expect("valid"));
    let blobs = vec![
        encode(&small_model(), 1),
        encode(&small_model_v2(), 2),
        small_model().to_aligned_bytes().expect("valid"),
        small_model_v2().to_aligned_bytes().expect("valid"),
        small_model_v4().to_aligned_bytes().expect("valid"),
    ];
    let versions: Vec<u8> = blobs.iter().map(|b| b.as_bytes()[4]).collect();
    assert_eq!(versions, [1, 2, 3, 3, 4]);
    blobs
}

fn fix_crc(bytes: &mut [u8]) {
    let n = bytes.len() - 4;
    let crc = CRC.checksum(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
}

/// A refusal, and not [`Error::Internal`]: bytes, however bad, are the caller's, never a runtime
/// bug.
fn refused<T>(result: Result<T, Error>) -> bool {
    matches!(result, Err(e) if !matches!(e, Error::Internal { .. }))
}

/// Panics when `result` is [`Error::Internal`] (any other outcome is fine).
fn not_internal<T>(result: Result<T, Error>, what: &str) {
    if let Err(e @ Error::Internal { .. }) = result {
        panic!("{what}: {e}");
    }
}

/// Uses a loaded model every way the device would, to show nothing panics on it and no call
/// reports a runtime bug ([`Error::Internal`]).
fn exercise(model: &Model<'_>) {
    let mut scratch = vec![0.0f32; 4096];
    let mut out = vec![0.0f32; 4096];
    let input = vec![0.5f32; model.input_len()];
    not_internal(
        model
            .network()
            .infer(&input, Heads::ALL, &mut scratch, &mut out),
        "infer",
    );
    for h in 0..model.heads().len() {
        exercise_bank(model, h, &input);
        let state = AdaptState::<4096>::new(model, h);
        if let Err(e) = state {
            not_internal::<()>(Err(e), "AdaptState::new");
        }
        if let Ok(mut state) = state {
            let k = 3;
            let inputs = vec![0.25f32; k * model.input_len()];
            let values = vec![0.1f32; k * model.heads()[h].kind.outputs()];
            let labels = vec![0u16, 1, 0];
            let support = match model.heads()[h].kind {
                fewshot_runtime::HeadKind::Regression { .. } => Support::values(&inputs, &values),
                _ => Support::classes(&inputs, &labels),
            };
            let mut losses = [0.0f32; 8];
            not_internal(
                state.adapt(model, support, Some(3), &mut scratch, &mut losses),
                "adapt",
            );
            let mut best = vec![0.0f32; state.params().len()];
            not_internal(
                state.adapt_guarded(
                    model,
                    support,
                    Some(3),
                    &mut scratch,
                    &mut losses,
                    &mut best,
                ),
                "adapt_guarded",
            );
            if let Ok(net) = state.network(model) {
                not_internal(
                    net.infer(&input, Heads::ALL, &mut scratch, &mut out),
                    "adapted infer",
                );
            }
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    for blob in blobs() {
        let blob = blob.as_bytes();
        for len in 0..blob.len() {
            let cut = fewshot_runtime::format::AlignedBytes::from_slice(&blob[..len]);
            assert!(
                refused(Model::from_bytes(&cut)),
                "truncation to {len} accepted"
            );
        }
    }
}

#[test]
fn every_single_bit_flip_is_refused() {
    for blob in blobs() {
        every_single_bit_flip_of(blob);
    }
}

fn every_single_bit_flip_of(blob: fewshot_runtime::format::AlignedBytes) {
    let mut flipped = blob.clone();
    let mut count = 0;
    for byte in 0..blob.len() {
        for bit in 0..8 {
            flipped.as_bytes_mut()[byte] ^= 1 << bit;
            assert!(
                refused(Model::from_bytes(&flipped)),
                "flip {byte}:{bit} accepted"
            );
            flipped.as_bytes_mut()[byte] ^= 1 << bit;
            count += 1;
        }
    }
    assert_eq!(count, blob.len() * 8);
}

/// Enrolls, classifies, relabels and forgets on head `h` when it is enrollable.
fn exercise_bank(model: &Model<'_>, h: usize, input: &[f32]) {
    let Some(e) = model.enrollable(h) else {
        return;
    };
    let bank = ClassBank::<'_, 8192, 8192>::from_head(model, h);
    let mut bank = match bank {
        Ok(b) => b,
        Err(e) => return not_internal::<()>(Err(e), "ClassBank::from_head"),
    };
    let samples: Vec<f32> = input.iter().chain(input).map(|v| v * 0.5).collect();
    for label in 100..100 + e.max_classes {
        not_internal(bank.enroll_steps(label, &samples, 2, 0.1), "enroll");
    }
    not_internal(bank.classify(input), "classify");
    not_internal(bank.relabel(100, 7), "relabel");
    not_internal(bank.forget(7), "forget");
}

#[test]
fn bit_flips_with_a_forged_crc_never_panic() {
    for blob in blobs() {
        forged_flips_of(blob);
    }
}

fn forged_flips_of(blob: fewshot_runtime::format::AlignedBytes) {
    let original = Model::from_bytes(&blob).expect("loads");
    let mut state = AdaptState::<4096>::new(&original, 0).expect("fits");
    let mut scratch = vec![0.0f32; 4096];
    let mut losses = [0.0f32; 8];
    let mut accepted = 0;
    for byte in 0..blob.len() - 4 {
        for bit in 0..8 {
            let mut forged = blob.clone();
            forged.as_bytes_mut()[byte] ^= 1 << bit;
            fix_crc(forged.as_bytes_mut());
            match Model::from_bytes(&forged) {
                Ok(model) => {
                    accepted += 1;
                    exercise(&model);
                    // The original's state is not this model's (most flips keep the model id).
                    let support = Support::values(&[0.25; 2], &[0.1; 2]);
                    assert_eq!(
                        state
                            .adapt(&model, support, None, &mut scratch, &mut losses)
                            .unwrap_err(),
                        Error::StateMismatch
                    );
                    assert_eq!(state.reset(&model).unwrap_err(), Error::StateMismatch);
                    assert!(matches!(state.network(&model), Err(Error::StateMismatch)));
                }
                Err(e) => not_internal::<()>(Err(e), "from_bytes"),
            };
        }
    }
    // Flips inside weights (finite values stay finite) are legitimately accepted.
    assert!(accepted > 0);
}

#[test]
fn forged_fields_are_named() {
    let blob = AlignedBytes::from_slice(&small_model().to_bytes_as(1).expect("valid"));
    // A version this runtime does not know; a v1 header read as v2 lacks its extension.
    for (version, e) in [
        (
            FORMAT_VERSION as u8 + 1,
            Error::UnsupportedVersion {
                found: FORMAT_VERSION + 1,
            },
        ),
        (0, Error::UnsupportedVersion { found: 0 }),
        (2, Error::HeaderDecode),
    ] {
        let mut b = blob.clone();
        b.as_bytes_mut()[4] = version;
        fix_crc(b.as_bytes_mut());
        assert_eq!(Model::from_bytes(&b).unwrap_err(), e, "version {version}");
    }

    let mut b = blob.clone();
    b.as_bytes_mut()[0] = b'X';
    assert_eq!(Model::from_bytes(&b).unwrap_err(), Error::BadMagic);

    // A NaN in the last weight tensor (the learning rates), CRC fixed.
    let mut b = blob.clone();
    let n = b.len();
    b.as_bytes_mut()[n - 8..n - 4].copy_from_slice(&f32::NAN.to_le_bytes());
    fix_crc(b.as_bytes_mut());
    assert!(matches!(
        Model::from_bytes(&b).unwrap_err(),
        Error::BadWeight { .. }
    ));

    // A negative learning rate.
    let mut b = blob.clone();
    b.as_bytes_mut()[n - 8..n - 4].copy_from_slice(&(-0.5f32).to_le_bytes());
    fix_crc(b.as_bytes_mut());
    assert!(matches!(
        Model::from_bytes(&b).unwrap_err(),
        Error::BadWeight { .. }
    ));

    // Misaligned view of valid bytes.
    let mut raw = vec![0u8; blob.len() + 1];
    let off = if (raw.as_ptr() as usize).is_multiple_of(4) {
        1
    } else {
        0
    };
    raw[off..off + blob.len()].copy_from_slice(&blob);
    assert_eq!(
        Model::from_bytes(&raw[off..off + blob.len()]).unwrap_err(),
        Error::Misaligned
    );

    // Too long.
    let big = vec![0u8; fewshot_runtime::MAX_BLOB_LEN + 4];
    let big = fewshot_runtime::format::AlignedBytes::from_slice(&big);
    assert!(matches!(
        Model::from_bytes(&big).unwrap_err(),
        Error::TooLong { .. }
    ));
}

#[test]
fn writer_refuses_inconsistent_definitions() {
    let mut def = small_model();
    def.trunk[0].weights.pop();
    assert!(matches!(def.to_bytes(), Err(Error::LengthMismatch { .. })));
    let mut def = small_model();
    def.heads[0].adapt.as_mut().expect("adapt").rate = RateDef::PerParameter(vec![0.1; 3]);
    assert!(def.to_bytes().is_err());
    let mut def = small_model();
    def.trunk[1].inputs = 5;
    assert!(def.to_bytes().is_err());
}

fn activation() -> impl Strategy<Value = Activation> {
    prop_oneof![
        Just(Activation::Identity),
        Just(Activation::Relu),
        Just(Activation::Tanh),
        Just(Activation::Sigmoid)
    ]
}

prop_compose! {
    fn architecture()(
        input in 1usize..10,
        trunk in prop::collection::vec((1usize..12, activation()), 0..4),
        heads in prop::collection::vec(
            (prop::collection::vec((1usize..8, activation()), 0..2), 1usize..5, any::<bool>()),
            1..4,
        ),
        seed in any::<u64>(),
        scope_pick in any::<prop::sample::Index>(),
        rate_kind in 0usize..3,
        proto in any::<bool>(),
    ) -> ModelDef {
        let mut rng = Rng(seed | 1);
        let mut def = random_model(&mut rng, input, &trunk, &[], false, None);
        def.heads.clear();
        let features = trunk.last().map_or(input, |t| t.0);
        for (h, (hidden, outputs, classification)) in heads.iter().enumerate() {
            let mut width = features;
            let mut layers = Vec::new();
            for &(w, act) in hidden {
                layers.push(dense(&mut rng, width, w, act));
                width = w;
            }
            let outputs = if *classification { outputs + 1 } else { *outputs };
            layers.push(dense(&mut rng, width, outputs, Activation::Identity));
            let mut head = if *classification {
                fewshot_runtime::writer::HeadDef::classification(h as u16, "c", layers)
            } else {
                fewshot_runtime::writer::HeadDef::regression(h as u16, "r", layers)
            };
            let scopes = [
                AdaptScope::HeadOnly,
                AdaptScope::BiasesOnly,
                AdaptScope::Everything,
                AdaptScope::HeadAndLastTrunk(trunk.len().max(1) as u8),
            ];
            let mut s = scopes[scope_pick.index(scopes.len())];
            if trunk.is_empty() && matches!(s, AdaptScope::HeadAndLastTrunk(_)) {
                s = AdaptScope::HeadOnly;
            }
            let reference = RefNet::new(&def.clone().head(head.clone()), h);
            let first = match s {
                AdaptScope::HeadOnly => trunk.len(),
                AdaptScope::HeadAndLastTrunk(k) => trunk.len() - k as usize,
                _ => 0,
            };
            let n = reference.adapted(first, s == AdaptScope::BiasesOnly).len();
            let layers = reference.layers.len() - first;
            let rate = match rate_kind {
                0 => RateDef::Scalar(0.01),
                1 => RateDef::PerParameter((0..n).map(|_| rng.range(0.0, 0.05)).collect()),
                _ => RateDef::PerLayerPerStep { steps: 2, table: (0..4 * layers).map(|_| rng.range(0.0, 0.05)).collect() },
            };
            let mut a = AdaptDef::new(s, 2, rate, 1.0);
            if proto && *classification && s != AdaptScope::BiasesOnly {
                a = a.with_prototypes(0.5);
            }
            head.adapt = Some(a);
            if *classification && hidden.is_empty() && seed % 3 == 0 {
                // Format v4: an enrollable head.
                head = head.with_max_classes(outputs as u16 + (seed % 7) as u16);
            }
            def = def.head(head);
        }
        def
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn write_read_round_trips(def in architecture()) {
        let blob = def.to_aligned_bytes().expect("valid definition");
        let model = Model::from_bytes(&blob).expect("reads back");
        let mut back = ModelDef::from_model(&model).expect("copies");
        back.model_id = def.model_id;
        prop_assert_eq!(&back, &def);
        prop_assert_eq!(back.with_id(model.model_id()).to_bytes().expect("re-encodes"), blob.to_vec());
    }

    #[test]
    fn forward_agrees_with_f64_reference(def in architecture(), seed in any::<u64>()) {
        let blob = def.to_aligned_bytes().expect("valid definition");
        let model = Model::from_bytes(&blob).expect("reads back");
        let mut rng = Rng(seed | 1);
        let x = rng.vec(def.input_len, 2.0);
        let mut scratch = vec![0.0f32; model.infer_scratch_len()];
        let net = model.network();
        let mut out = vec![0.0f32; net.output_len(Heads::ALL)];
        net.infer(&x, Heads::ALL, &mut scratch, &mut out).expect("infers");
        let mut at = 0;
        for h in 0..def.heads.len() {
            let expected = RefNet::new(&def, h).predict(&x);
            for (i, e) in expected.iter().enumerate() {
                let got = out[at + i] as f64;
                // micromath exp (tanh, sigmoid, softmax): ~1e-3 relative per use.
                prop_assert!((got - e).abs() <= 1e-2 * (1.0 + e.abs()), "head {} out {}: {} vs {}", h, i, got, e);
            }
            at += expected.len();
        }
        exercise(&model);
    }
}

#[test]
fn derived_model_ids_differ_between_models() {
    let a = small_model().to_aligned_bytes().expect("valid");
    let mut other = small_model();
    other.trunk[0].bias[0] += 1.0;
    let b = other.to_aligned_bytes().expect("valid");
    let (a, b) = (
        Model::from_bytes(&a).expect("loads"),
        Model::from_bytes(&b).expect("loads"),
    );
    assert_ne!(a.model_id(), b.model_id());
    assert_ne!(a.model_id(), 0x2144_df1c, "the CRC-32 residue is not an id");
}
