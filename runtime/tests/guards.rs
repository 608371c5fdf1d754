//! Adaptation guards the other suites leave out: each bad sample or call is an error, and the
//! adapted state (and a `SupportSet`) is bit for bit as before. (tests/adaptation.rs covers NaN
//! inputs, infinite targets, huge inputs, kind and length mismatches, empty sets, zero and too
//! many steps, small buffers, and labels out of range on a prototype head.)

mod common;

use common::{dense, random_model, Rng};
use fewshot_runtime::writer::{AdaptDef, HeadDef, ModelDef, RateDef};
use fewshot_runtime::{
    Activation, AdaptScope, AdaptState, Error, Heads, Model, Support, SupportSet, MAX_STEPS,
};

type State = AdaptState<1024>;

fn regression(steps: u16) -> ModelDef {
    let mut rng = Rng(31);
    random_model(
        &mut rng,
        2,
        &[(16, Activation::Tanh)],
        &[(1, Activation::Identity)],
        false,
        Some(AdaptDef::new(
            AdaptScope::Everything,
            steps,
            RateDef::Scalar(0.05),
            5.0,
        )),
    )
}

/// A 3-way classification head without prototypes.
fn classifier() -> ModelDef {
    let mut rng = Rng(32);
    random_model(
        &mut rng,
        2,
        &[(16, Activation::Relu)],
        &[(3, Activation::Identity)],
        true,
        Some(AdaptDef::new(
            AdaptScope::HeadOnly,
            4,
            RateDef::Scalar(0.05),
            5.0,
        )),
    )
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Adapts once (so the state is not the meta-learned one), then runs `call`, which must fail
/// as `expected` says, leaving the state unchanged.
fn refused(
    model: &Model<'_>,
    support: Support<'_>,
    steps: Option<u16>,
    scratch_len: Option<usize>,
    expected: impl Fn(&Error) -> bool,
) {
    let mut state = State::new(model, 0).expect("fits");
    let k = 4;
    let needs = model.ram_needs(0, 16).expect("needs");
    let mut scratch = vec![0.0f32; scratch_len.unwrap_or(needs.adapt_scratch)];
    let mut losses = vec![0.0f32; usize::from(MAX_STEPS) + 1];
    let x: Vec<f32> = (0..k * model.input_len())
        .map(|i| i as f32 * 0.1 - 0.3)
        .collect();
    let warm = match model.heads()[0].kind {
        fewshot_runtime::HeadKind::Classification { .. }
        | fewshot_runtime::HeadKind::Matching { .. } => Support::classes(&x, &[0, 1, 2, 0]),
        fewshot_runtime::HeadKind::Regression { .. } => {
            Support::values(&x, &[0.5, -0.5, 0.25, 0.0])
        }
    };
    let mut warm_scratch = vec![0.0f32; needs.adapt_scratch];
    state
        .adapt(model, warm, Some(2), &mut warm_scratch, &mut losses)
        .expect("a good support set adapts");
    let before = bits(state.params());
    let err = state
        .adapt(model, support, steps, &mut scratch, &mut losses)
        .expect_err("refused");
    assert!(expected(&err), "unexpected error {err:?}");
    assert_eq!(bits(state.params()), before, "{err} changed the state");
}

#[test]
fn non_finite_inputs_and_targets_of_every_kind_are_refused() {
    let blob = regression(3).to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let good_x = [0.1f32, 0.2, 0.3, 0.4];
    let good_y = [0.5f32, -0.5];
    for bad in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for at in 0..4 {
            let mut x = good_x;
            x[at] = bad;
            refused(
                &model,
                Support::values(&x, &good_y),
                None,
                None,
                |e| matches!(e, Error::NonFinite { what: "support input", sample } if *sample == at / 2),
            );
        }
        for at in 0..2 {
            let mut y = good_y;
            y[at] = bad;
            refused(
                &model,
                Support::values(&good_x, &y),
                None,
                None,
                |e| matches!(e, Error::NonFinite { what: "support target", sample } if *sample == at),
            );
        }
    }
}

#[test]
fn finite_but_out_of_range_values_are_refused_before_any_change() {
    let blob = regression(3).to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let x = [0.1f32, 0.2, 0.3, 0.4];
    for huge in [f32::MAX, -f32::MAX, 3.0e38, 1.0e31] {
        refused(&model, Support::values(&x, &[huge, 0.0]), None, None, |e| {
            *e == Error::MayOverflow
        });
        refused(
            &model,
            Support::values(&[huge, 0.0, 0.3, 0.4], &[0.0, 0.0]),
            None,
            None,
            |e| *e == Error::MayOverflow,
        );
    }
    // Subnormal and tiny values are fine.
    let mut state = State::new(&model, 0).expect("fits");
    let mut scratch = vec![0.0f32; model.ram_needs(0, 2).expect("needs").adapt_scratch];
    let mut losses = [0.0f32; 4];
    let tiny = f32::from_bits(1);
    state
        .adapt(
            &model,
            Support::values(&[tiny, -tiny, 1.0e-30, 0.0], &[tiny, 0.0]),
            None,
            &mut scratch,
            &mut losses,
        )
        .expect("subnormal values adapt");
    assert!(state.params().iter().all(|v| v.is_finite()));
}

#[test]
fn labels_outside_the_heads_classes_are_refused() {
    let blob = classifier().to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let x = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6];
    for label in [3u16, 4, 255, u16::MAX] {
        for at in 0..3 {
            let mut labels = [0u16, 1, 2];
            labels[at] = label;
            refused(&model, Support::classes(&x, &labels), None, None, |e| {
                *e == Error::LabelOutOfRange {
                    sample: at,
                    label,
                    classes: 3,
                }
            });
        }
    }
    // Values for a classification head, labels for a regression head.
    refused(
        &model,
        Support::values(&x, &[0.0, 1.0, 2.0]),
        None,
        None,
        |e| *e == Error::TargetKindMismatch,
    );
    let blob = regression(3).to_aligned_bytes().expect("valid");
    let reg = Model::from_bytes(&blob).expect("loads");
    refused(&reg, Support::classes(&x[..4], &[0, 1]), None, None, |e| {
        *e == Error::TargetKindMismatch
    });
}

#[test]
fn k_above_capacity_is_refused() {
    let blob = regression(3).to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    // Scratch sized for K = 4, a support set of 5.
    let for_four = model.ram_needs(0, 4).expect("needs").adapt_scratch;
    let x: Vec<f32> = (0..10).map(|i| i as f32 * 0.05).collect();
    let y = [0.1f32, 0.2, 0.3, 0.4, 0.5];
    refused(
        &model,
        Support::values(&x, &y),
        None,
        Some(for_four),
        |e| matches!(e, Error::BufferTooSmall { what: "adaptation scratch", needed, provided } if *needed > *provided),
    );
    // A full SupportSet refuses a sample, and is unchanged.
    let mut set: SupportSet<2, 2> = SupportSet::new();
    set.push_valued(&[0.1, 0.2], &[1.0]).expect("room");
    set.push_valued(&[0.3, 0.4], &[2.0]).expect("room");
    assert_eq!(
        set.push_valued(&[0.5, 0.6], &[3.0]),
        Err(Error::SupportSetFull { capacity: 2 })
    );
    assert_eq!(set.len(), 2);
    let mut labelled: SupportSet<1, 2> = SupportSet::new();
    labelled.push_labelled(&[0.1, 0.2], 0).expect("room");
    assert_eq!(
        labelled.push_labelled(&[0.1, 0.2], 1),
        Err(Error::SupportSetFull { capacity: 1 })
    );
    // A bad sample is refused and leaves the set as it was.
    let mut set: SupportSet<3, 2> = SupportSet::new();
    set.push_valued(&[0.1, 0.2], &[1.0]).expect("room");
    for (x, y) in [
        ([f32::NAN, 0.0], [0.0]),
        ([0.0, f32::INFINITY], [0.0]),
        ([0.0, 0.0], [f32::NAN]),
        ([0.0, 0.0], [f32::NEG_INFINITY]),
    ] {
        assert!(matches!(
            set.push_valued(&x, &y),
            Err(Error::NonFinite { .. })
        ));
        assert_eq!(set.len(), 1);
    }
    assert!(matches!(
        set.push_valued(&[0.0], &[0.0]),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(set.len(), 1);
}

#[test]
fn zero_steps_are_refused_unless_prototypes_initialise_the_head() {
    // A model whose default is zero steps.
    let blob = regression(0).to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let x = [0.1f32, 0.2, 0.3, 0.4];
    refused(&model, Support::values(&x, &[0.5, 0.5]), None, None, |e| {
        *e == Error::ZeroSteps
    });
    refused(
        &model,
        Support::values(&x, &[0.5, 0.5]),
        Some(0),
        None,
        |e| *e == Error::ZeroSteps,
    );
    refused(
        &model,
        Support::values(&x, &[0.5, 0.5]),
        Some(MAX_STEPS + 1),
        None,
        |e| {
            *e == Error::TooManySteps {
                steps: MAX_STEPS + 1,
                max: MAX_STEPS,
            }
        },
    );
    refused(
        &model,
        Support::values(&x, &[0.5, 0.5]),
        Some(u16::MAX),
        None,
        |e| {
            *e == Error::TooManySteps {
                steps: u16::MAX,
                max: MAX_STEPS,
            }
        },
    );
}

#[test]
fn a_state_of_another_model_or_a_missing_head_is_refused() {
    let blob = regression(3).to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let other_blob = regression(4).to_aligned_bytes().expect("valid");
    let other = Model::from_bytes(&other_blob).expect("loads");
    let mut state = State::new(&model, 0).expect("fits");
    let before = bits(state.params());
    let mut scratch = vec![0.0f32; 1024];
    let mut losses = [0.0f32; 8];
    let err = state
        .adapt(
            &other,
            Support::values(&[0.1, 0.2], &[0.3]),
            None,
            &mut scratch,
            &mut losses,
        )
        .unwrap_err();
    assert_eq!(err, Error::StateMismatch);
    assert_eq!(bits(state.params()), before);
    assert_eq!(
        state.set_params(&model, &vec![f32::NAN; before.len()]),
        Err(Error::NonFinite {
            what: "adapted parameter",
            sample: 0
        })
    );
    assert_eq!(bits(state.params()), before);
    assert_eq!(
        State::new(&model, 1).unwrap_err(),
        Error::NoSuchHead { head: 1 }
    );
    assert_eq!(
        State::new(&model, usize::MAX).unwrap_err(),
        Error::NoSuchHead { head: usize::MAX }
    );
}

/// Every entry point that takes a state and a model refuses a state adapted for another model
/// (the same model id: only the CRC and the shapes tell them apart) or for a head the model
/// does not have, with [`Error::StateMismatch`], never [`Error::Internal`] or a panic, and
/// leaves the state as it was.
#[test]
fn a_state_adapted_for_another_model_or_head_is_a_state_mismatch_everywhere() {
    // Model `a`: the regression model with a second adaptable head (1 output of the trunk's
    // 16 features); model `b`: the regression model alone, under the same id.
    let mut rng = Rng(33);
    let second = HeadDef::regression(8, "second", vec![dense(&mut rng, 16, 1, Activation::Relu)])
        .with_adapt(AdaptDef::new(
            AdaptScope::HeadOnly,
            3,
            RateDef::Scalar(0.05),
            5.0,
        ));
    let a_blob = regression(3)
        .head(second)
        .with_id(77)
        .to_aligned_bytes()
        .expect("valid");
    let b_blob = regression(3).with_id(77).to_aligned_bytes().expect("valid");
    let a = Model::from_bytes(&a_blob).expect("loads");
    let b = Model::from_bytes(&b_blob).expect("loads");
    assert_eq!(a.model_id(), b.model_id());
    let x = [0.1f32, 0.2, -0.3, 0.4];
    let y = [0.3f32, -0.1];
    let mut scratch = vec![0.0f32; 1024];
    let mut losses = [0.0f32; 8];
    for head in [0, 1] {
        let mut state = State::new(&a, head).expect("fits");
        state
            .adapt(&a, Support::values(&x, &y), None, &mut scratch, &mut losses)
            .expect("adapts");
        let before = bits(state.params());
        let mut best = vec![0.0f32; before.len()];
        let support = Support::values(&x, &y);
        let results = [
            state
                .adapt(&b, support, None, &mut scratch, &mut losses)
                .map(|_| ()),
            state
                .adapt_guarded(&b, support, None, &mut scratch, &mut losses, &mut best)
                .map(|_| ()),
            state.network(&b).map(|_| ()),
            state.reset(&b),
            state.set_params(&b, &vec![0.0; before.len()]),
        ];
        for (call, result) in results.into_iter().enumerate() {
            assert_eq!(
                result,
                Err(Error::StateMismatch),
                "head {head}, call {call}"
            );
        }
        assert_eq!(bits(state.params()), before, "head {head}");
        // With its own model the state still works.
        let mut out = [0.0f32; 2];
        state
            .network(&a)
            .expect("same model")
            .infer(&x[..2], Heads::ALL, &mut scratch, &mut out)
            .expect("infers");
    }
}

#[test]
fn internal_errors_name_their_place() {
    let e = Error::Internal {
        at: "adapt::inner::run",
    };
    assert!(e.to_string().contains("adapt::inner::run"), "{e}");
    assert_ne!(e, Error::StateMismatch);
}

/// A support set made for wider samples (`set_widths`: one buffer for several models) holds
/// the model's samples packed, and adapts to the same bits as a set of the model's own width.
#[test]
fn a_set_made_for_wider_samples_adapts_as_one_of_the_models_width() {
    let xs: [[f32; 2]; 3] = [[0.1, -0.2], [0.4, 0.3], [-0.5, 0.2]];
    for def in [regression(3), classifier()] {
        let blob = def.to_aligned_bytes().expect("writes");
        let model = Model::from_bytes(&blob).expect("loads");
        let mut exact: SupportSet<3, 2, 1> = SupportSet::new();
        let mut wide: SupportSet<3, 7, 4> = SupportSet::new();
        assert_eq!(
            wide.set_widths(8, 1),
            Err(Error::Capacity {
                what: "support input width (D)",
                needed: 8,
                available: 7
            })
        );
        wide.set_widths(2, 1).expect("fits");
        let regression = matches!(
            model.heads()[0].kind,
            fewshot_runtime::HeadKind::Regression { .. }
        );
        for (i, x) in xs.iter().enumerate() {
            for set in [&mut exact as &mut dyn Push, &mut wide] {
                match regression {
                    true => set.valued(x, &[i as f32 * 0.5 - 0.5]),
                    false => set.labelled(x, i as u16),
                }
                .expect("room");
            }
        }
        assert!(matches!(
            wide.push_labelled(&[0.0; 7], 0),
            Err(Error::SupportSetFull { capacity: 3 }) | Err(Error::TargetKindMismatch)
        ));
        let adapted = |support: Support<'_>| {
            let mut state = State::new(&model, 0).expect("fits");
            let mut scratch = vec![0.0f32; model.ram_needs(0, 3).expect("needs").adapt_scratch];
            let mut losses = [0.0f32; 8];
            state
                .adapt(&model, support, None, &mut scratch, &mut losses)
                .expect("adapts");
            bits(state.params())
        };
        assert_eq!(adapted(wide.as_support()), adapted(exact.as_support()));
        wide.clear();
        assert!(wide.push_labelled(&[0.0; 7], 0).is_err(), "the width stays");
    }
}

/// Both support sets of the test above, behind one interface.
trait Push {
    fn valued(&mut self, x: &[f32], y: &[f32]) -> Result<(), Error>;
    fn labelled(&mut self, x: &[f32], label: u16) -> Result<(), Error>;
}

impl<const K: usize, const D: usize, const T: usize> Push for SupportSet<K, D, T> {
    fn valued(&mut self, x: &[f32], y: &[f32]) -> Result<(), Error> {
        self.push_valued(x, y)
    }
    fn labelled(&mut self, x: &[f32], label: u16) -> Result<(), Error> {
        self.push_labelled(x, label)
    }
}
