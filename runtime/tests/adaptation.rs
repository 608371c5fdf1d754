//! Adaptation behaviour: loss goes down on sinusoid-like tasks, errors leave the state exactly
//! as it was, reset, prototypes, multi-head equals single-head, determinism, and the RAM bound.

mod common;
use common::*;
use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use fewshot_runtime::{
    Activation, AdaptScope, AdaptState, Capacities, Error, Heads, Model, Support, SupportSet,
};

/// The reference sinusoid network 1 -> 40 -> 40 -> 1, randomly initialised, with inputs
/// scaled to [-1, 1].
fn sinusoid_with(scope: AdaptScope, lr: f32, act: Activation) -> ModelDef {
    let mut rng = Rng(7);
    let mut def = random_model(
        &mut rng,
        1,
        &[(40, act), (40, act)],
        &[(1, Activation::Identity)],
        false,
        Some(AdaptDef::new(scope, 10, RateDef::Scalar(lr), 10.0)),
    );
    def.normalisation = Some((vec![0.0], vec![0.2]));
    // A rich first layer (as meta-training would make it): steep units spread over the input.
    for w in def.trunk[0].weights.iter_mut() {
        *w = rng.range(-6.0, 6.0);
    }
    for b in def.trunk[0].bias.iter_mut() {
        *b = rng.range(-5.0, 5.0);
    }
    def
}

fn sinusoid(scope: AdaptScope, lr: f32) -> ModelDef {
    sinusoid_with(scope, lr, Activation::Relu)
}

/// The reference digits network: 64 -> 64 -> 64 ReLU trunk, a fixed 10-way head and a 5-way head
/// adapted from prototypes.
fn digits() -> ModelDef {
    let mut rng = Rng(11);
    let mut def = random_model(
        &mut rng,
        64,
        &[(64, Activation::Relu), (64, Activation::Relu)],
        &[(10, Activation::Identity)],
        true,
        None,
    );
    let novel =
        HeadDef::classification(1, "novel", vec![Dense::zeros(64, 5, Activation::Identity)])
            .with_adapt(
                AdaptDef::new(AdaptScope::HeadOnly, 5, RateDef::Scalar(0.05), 10.0)
                    .with_prototypes(0.1),
            );
    def = def.head(novel);
    def
}

fn task(rng: &mut Rng, n: usize, amp: f32, phase: f32) -> (Vec<f32>, Vec<f32>) {
    let x: Vec<f32> = (0..n).map(|_| rng.range(-5.0, 5.0)).collect();
    let y = x.iter().map(|x| amp * (x - phase).sin()).collect();
    (x, y)
}

fn mse(model: &Model<'_>, state: &AdaptState<2000>, x: &[f32], y: &[f32]) -> f32 {
    let net = state.network(model).expect("same model");
    let mut scratch = vec![0.0; model.infer_scratch_len()];
    let mut out = vec![0.0; x.len()];
    net.infer_batch(x, Heads::ALL, &mut scratch, &mut out)
        .expect("infers");
    out.iter()
        .zip(y)
        .map(|(o, t)| (o - t) * (o - t))
        .sum::<f32>()
        / x.len() as f32
}

#[test]
fn steps_lower_support_and_query_loss_on_sinusoids() {
    for (scope, lr, query_must_fall) in [
        (AdaptScope::Everything, 0.02, false),
        (AdaptScope::HeadOnly, 0.02, true),
        (AdaptScope::HeadAndLastTrunk(1), 0.02, true),
    ] {
        // Smooth random features (tanh): what a meta-trained trunk looks like to a new task.
        let def = sinusoid_with(scope, lr, Activation::Tanh);
        let blob = def.to_aligned_bytes().expect("valid");
        let model = Model::from_bytes(&blob).expect("loads");
        let mut rng = Rng(3);
        let (mut sum_before, mut sum_after) = (0.0, 0.0);
        for _ in 0..10 {
            let amp = rng.range(0.1, 5.0);
            let phase = rng.range(0.0, std::f32::consts::PI);
            let (sx, sy) = task(&mut rng, 10, amp, phase);
            let (qx, qy) = task(&mut rng, 100, amp, phase);
            let mut state: AdaptState<2000> = AdaptState::new(&model, 0).expect("fits");
            let before = mse(&model, &state, &qx, &qy);
            let needs = model.ram_needs(0, 10).expect("needs");
            let mut scratch = vec![0.0; needs.adapt_scratch];
            let mut losses = [0.0; 11];
            let report = state
                .adapt(
                    &model,
                    Support::values(&sx, &sy),
                    None,
                    &mut scratch,
                    &mut losses,
                )
                .expect("adapts");
            assert!(
                report.final_loss < report.initial_loss,
                "{scope:?}: {losses:?}"
            );
            assert_eq!(losses[0], report.initial_loss);
            assert_eq!(losses[10], report.final_loss);
            let after = mse(&model, &state, &qx, &qy);
            sum_before += before;
            sum_after += after;
        }
        // Mean query MSE over the tasks. The network is not meta-trained: fitting its last layers
        // to 10 points generalises; moving all 1761 random parameters overfits (the reason
        // meta-learning exists: tests/ checks the full-network case on a meta-trained model).
        assert!(
            !query_must_fall || sum_after < sum_before,
            "{scope:?}: query MSE {sum_before} -> {sum_after}"
        );
    }
}

fn setup() -> (fewshot_runtime::format::AlignedBytes, Vec<f32>, Vec<f32>) {
    let blob = sinusoid(AdaptScope::Everything, 0.01)
        .to_aligned_bytes()
        .expect("valid");
    let mut rng = Rng(5);
    let (x, y) = task(&mut rng, 5, 2.0, 0.5);
    (blob, x, y)
}

#[test]
fn errors_leave_the_state_exactly_as_before() {
    let (blob, x, y) = setup();
    let model = Model::from_bytes(&blob).expect("loads");
    let mut state: AdaptState<2000> = AdaptState::new(&model, 0).expect("fits");
    let mut scratch = vec![0.0; model.ram_needs(0, 5).expect("needs").adapt_scratch];
    let mut losses = [0.0; 11];
    // Adapt once so the state is not the meta-learned one.
    state
        .adapt(
            &model,
            Support::values(&x, &y),
            Some(3),
            &mut scratch,
            &mut losses,
        )
        .expect("adapts");
    let snapshot = state.params().to_vec();
    let mut nan_x = x.clone();
    nan_x[2] = f32::NAN;
    let mut inf_y = y.clone();
    inf_y[1] = f32::INFINITY;
    let huge_x = vec![1.0e20f32; 5];
    let labels = [0u16; 5];
    type Case<'a> = (Support<'a>, Option<u16>, usize, usize, fn(&Error) -> bool);
    let cases: Vec<Case<'_>> = vec![
        (Support::values(&nan_x, &y), None, scratch.len(), 11, |e| {
            matches!(e, Error::NonFinite { sample: 2, .. })
        }),
        (Support::values(&x, &inf_y), None, scratch.len(), 11, |e| {
            matches!(e, Error::NonFinite { sample: 1, .. })
        }),
        (Support::values(&huge_x, &y), None, scratch.len(), 11, |e| {
            *e == Error::MayOverflow
        }),
        (
            Support::classes(&x, &labels),
            None,
            scratch.len(),
            11,
            |e| *e == Error::TargetKindMismatch,
        ),
        (Support::values(&x[..4], &y), None, scratch.len(), 11, |e| {
            matches!(e, Error::LengthMismatch { .. })
        }),
        (Support::values(&[], &[]), None, scratch.len(), 11, |e| {
            *e == Error::EmptySupport
        }),
        (Support::values(&x, &y), Some(0), scratch.len(), 11, |e| {
            *e == Error::ZeroSteps
        }),
        (
            Support::values(&x, &y),
            Some(5000),
            scratch.len(),
            11,
            |e| matches!(e, Error::TooManySteps { .. }),
        ),
        (Support::values(&x, &y), None, scratch.len() - 1, 11, |e| {
            matches!(e, Error::BufferTooSmall { .. })
        }),
        (Support::values(&x, &y), None, scratch.len(), 10, |e| {
            matches!(
                e,
                Error::BufferTooSmall {
                    what: "loss log",
                    ..
                }
            )
        }),
    ];
    for (support, steps, n_scratch, n_log, expected) in cases {
        let err = state
            .adapt(
                &model,
                support,
                steps,
                &mut scratch[..n_scratch],
                &mut losses[..n_log],
            )
            .unwrap_err();
        assert!(expected(&err), "unexpected {err:?}");
        assert_eq!(
            state.params(),
            &snapshot[..],
            "state changed by failing call ({err})"
        );
    }
}

#[test]
fn labels_out_of_range_are_refused() {
    let blob = digits().to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let mut state: AdaptState<400> = AdaptState::new(&model, 1).expect("fits");
    let before = state.params().to_vec();
    let x = vec![0.5f32; 64 * 5];
    let mut scratch = vec![0.0; model.ram_needs(1, 5).expect("needs").adapt_scratch];
    let mut losses = [0.0; 6];
    let err = state
        .adapt(
            &model,
            Support::classes(&x, &[0, 1, 2, 3, 5]),
            None,
            &mut scratch,
            &mut losses,
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::LabelOutOfRange {
            sample: 4,
            label: 5,
            classes: 5
        }
    );
    let err = state
        .adapt(
            &model,
            Support::classes(&x, &[0, 1, 2, 3, 3]),
            None,
            &mut scratch,
            &mut losses,
        )
        .unwrap_err();
    assert_eq!(err, Error::ClassWithoutSamples { class: 4 });
    assert_eq!(state.params(), &before[..]);
    assert_eq!(
        AdaptState::<400>::new(&model, 0).unwrap_err(),
        Error::HeadNotAdaptable { head: 0 }
    );
}

#[test]
fn reset_and_network_views() {
    let (blob, x, y) = setup();
    let model = Model::from_bytes(&blob).expect("loads");
    let mut state: AdaptState<2000> = AdaptState::new(&model, 0).expect("fits");
    let mut scratch = vec![0.0; 2000];
    let mut out_model = [0.0f32];
    let mut out_state = [0.0f32];
    model
        .network()
        .infer(&[1.0], Heads::ALL, &mut scratch, &mut out_model)
        .expect("infers");
    let mut losses = [0.0; 11];
    state
        .adapt(
            &model,
            Support::values(&x, &y),
            None,
            &mut scratch,
            &mut losses,
        )
        .expect("adapts");
    state
        .network(&model)
        .expect("same")
        .infer(&[1.0], Heads::ALL, &mut scratch, &mut out_state)
        .expect("infers");
    assert_ne!(out_model, out_state);
    state.reset(&model).expect("resets");
    state
        .network(&model)
        .expect("same")
        .infer(&[1.0], Heads::ALL, &mut scratch, &mut out_state)
        .expect("infers");
    assert_eq!(out_model[0].to_bits(), out_state[0].to_bits());
    // A state for another model is refused.
    let other = sinusoid(AdaptScope::HeadOnly, 0.02)
        .to_aligned_bytes()
        .expect("valid");
    let other = Model::from_bytes(&other).expect("loads");
    assert_eq!(state.reset(&other).unwrap_err(), Error::StateMismatch);
    assert!(state.network(&other).is_err());
}

#[test]
fn same_inputs_same_bits() {
    let (blob, x, y) = setup();
    let model = Model::from_bytes(&blob).expect("loads");
    let run = || {
        let mut state: AdaptState<2000> = AdaptState::new(&model, 0).expect("fits");
        let mut scratch = vec![0.0; 2000];
        let mut losses = [0.0; 11];
        state
            .adapt(
                &model,
                Support::values(&x, &y),
                None,
                &mut scratch,
                &mut losses,
            )
            .expect("adapts");
        (
            state
                .params()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            losses.map(f32::to_bits),
        )
    };
    assert_eq!(run(), run());
}

#[test]
fn prototypes_classify_blobs_and_heads_share_one_trunk_pass() {
    let blob = digits().to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let mut rng = Rng(17);
    let centres: Vec<Vec<f32>> = (0..5).map(|_| rng.vec(64, 1.0)).collect();
    let sample = |rng: &mut Rng, c: usize| -> Vec<f32> {
        centres[c]
            .iter()
            .map(|v| v + rng.range(-0.2, 0.2))
            .collect()
    };
    let mut support: SupportSet<25, 64> = SupportSet::new();
    for c in 0..5 {
        for _ in 0..5 {
            support
                .push_labelled(&sample(&mut rng, c), c as u16)
                .expect("room");
        }
    }
    let mut state: AdaptState<400> = AdaptState::new(&model, 1).expect("fits");
    let mut scratch = vec![0.0; model.ram_needs(1, 25).expect("needs").adapt_scratch];
    let mut losses = [0.0; 6];
    let report = state
        .adapt(
            &model,
            support.as_support(),
            Some(0),
            &mut scratch,
            &mut losses,
        )
        .expect("protos");
    assert!(report.from_prototypes);
    let report5 = state
        .adapt(
            &model,
            support.as_support(),
            None,
            &mut scratch,
            &mut losses,
        )
        .expect("adapts");
    assert!(report5.final_loss <= report5.initial_loss);

    let net = state.network(&model).expect("same");
    let mut correct = 0;
    let mut scratch = vec![0.0; model.infer_scratch_len()];
    for i in 0..100 {
        let c = i % 5;
        let x = sample(&mut rng, c);
        let mut both = [0.0f32; 15];
        net.infer(&x, Heads::ALL, &mut scratch, &mut both)
            .expect("infers");
        let mut fixed = [0.0f32; 10];
        net.infer(&x, Heads::only(0), &mut scratch, &mut fixed)
            .expect("infers");
        let mut novel = [0.0f32; 5];
        net.infer(&x, Heads::only(1), &mut scratch, &mut novel)
            .expect("infers");
        // Multi-head outputs equal single-head calls, bit for bit.
        assert_eq!(
            both[..10].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            fixed.map(f32::to_bits).to_vec()
        );
        assert_eq!(
            both[10..].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            novel.map(f32::to_bits).to_vec()
        );
        let best = (0..5)
            .max_by(|&a, &b| novel[a].total_cmp(&novel[b]))
            .expect("5 classes");
        correct += usize::from(best == c);
    }
    assert!(correct >= 95, "prototype head: {correct}/100");
}

#[test]
fn clip_and_per_step_rates_apply() {
    let mut rng = Rng(23);
    // Clip: with lr 1 and clip 1e-3, no parameter moves more than 1e-3.
    let mut def = random_model(
        &mut rng,
        2,
        &[(8, Activation::Tanh)],
        &[(1, Activation::Identity)],
        false,
        None,
    );
    def.heads[0].adapt = Some(AdaptDef::new(
        AdaptScope::Everything,
        1,
        RateDef::Scalar(1.0),
        1e-3,
    ));
    let blob = def.to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let mut state: AdaptState<64> = AdaptState::new(&model, 0).expect("fits");
    let before = state.params().to_vec();
    let (x, y) = ([3.0f32, -2.0, 1.0, 1.0], [50.0f32, -50.0]);
    let mut scratch = vec![0.0; 256];
    let mut losses = [0.0; 2];
    state
        .adapt(
            &model,
            Support::values(&x, &y),
            None,
            &mut scratch,
            &mut losses,
        )
        .expect("adapts");
    let moved = before
        .iter()
        .zip(state.params())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(moved <= 1.0001e-3 && moved > 0.5e-3, "moved {moved}");

    // MAML++ rows: row 1 is all zeros, so steps after the first change nothing.
    let rows = RateDef::PerLayerPerStep {
        steps: 2,
        table: vec![0.05, 0.05, 0.05, 0.05, 0.0, 0.0, 0.0, 0.0],
    };
    def.heads[0].adapt = Some(AdaptDef::new(AdaptScope::Everything, 1, rows, 10.0));
    let blob = def.to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let mut one: AdaptState<64> = AdaptState::new(&model, 0).expect("fits");
    let mut three = one.clone();
    let mut losses = [0.0; 4];
    one.adapt(
        &model,
        Support::values(&x, &y),
        Some(1),
        &mut scratch,
        &mut losses,
    )
    .expect("adapts");
    three
        .adapt(
            &model,
            Support::values(&x, &y),
            Some(3),
            &mut scratch,
            &mut losses,
        )
        .expect("adapts");
    assert_eq!(one.params(), three.params());
    assert_ne!(
        one.params(),
        AdaptState::<64>::new(&model, 0).expect("fits").params()
    );
}

#[test]
fn capacities_are_checked_at_load_and_ram_stays_near_the_lower_bound() {
    let sin = sinusoid(AdaptScope::Everything, 0.01)
        .to_aligned_bytes()
        .expect("valid");
    let sin = Model::from_bytes(&sin).expect("loads");
    let dig = digits().to_aligned_bytes().expect("valid");
    let dig = Model::from_bytes(&dig).expect("loads");
    for (name, model, head, k) in [
        ("sinusoid full K=10", &sin, 0, 10),
        ("digits head 5-way 5-shot", &dig, 1, 25),
    ] {
        let needs = model.ram_needs(head, k).expect("needs");
        let overhead = needs.adapt_total() as f64 / needs.lower_bound() as f64 - 1.0;
        println!(
            "{name}: state {} + scratch {} floats = {} B; lower bound {} floats; overhead {:.1}%",
            needs.state,
            needs.adapt_scratch,
            4 * needs.adapt_total(),
            needs.lower_bound(),
            100.0 * overhead
        );
        assert!(
            overhead <= 0.15,
            "{name}: {:.1}% over the lower bound",
            100.0 * overhead
        );
    }
    let caps = Capacities {
        state: 1761,
        scratch: 900,
        shots: 10,
    };
    let bytes = sinusoid(AdaptScope::Everything, 0.01)
        .to_aligned_bytes()
        .expect("valid");
    assert!(Model::from_bytes_with(&bytes, &caps).is_ok());
    let small = Capacities {
        state: 1000,
        ..caps
    };
    assert_eq!(
        Model::from_bytes_with(&bytes, &small).unwrap_err(),
        Error::Capacity {
            what: "adapted state",
            needed: 1761,
            available: 1000
        }
    );
    assert_eq!(
        AdaptState::<1000>::new(&sin, 0).unwrap_err(),
        Error::Capacity {
            what: "adapted state (AdaptState<P>)",
            needed: 1761,
            available: 1000
        }
    );
    let mut set: SupportSet<2, 1> = SupportSet::new();
    set.push_valued(&[1.0], &[1.0]).expect("room");
    set.push_valued(&[1.0], &[1.0]).expect("room");
    assert_eq!(
        set.push_valued(&[1.0], &[1.0]).unwrap_err(),
        Error::SupportSetFull { capacity: 2 }
    );
    assert!(matches!(
        set.push_valued(&[f32::NAN], &[1.0]).unwrap_err(),
        Error::SupportSetFull { .. }
    ));
    set.clear();
    assert!(matches!(
        set.push_valued(&[f32::NAN], &[1.0]).unwrap_err(),
        Error::NonFinite { .. }
    ));
}

#[test]
fn divergence_rolls_back_to_the_best_step() {
    // A step size far too large: the support loss rises after the first step.
    let def = sinusoid(AdaptScope::Everything, 0.5);
    let blob = def.to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let (_, x, y) = setup();
    let mut state: AdaptState<2000> = AdaptState::new(&model, 0).expect("fits");
    let start = state.params().to_vec();
    let mut scratch = vec![0.0; 2000];
    let mut losses = [0.0; 11];
    let mut best = vec![0.0; state.params().len()];
    let report = state
        .adapt_guarded(
            &model,
            Support::values(&x, &y),
            Some(10),
            &mut scratch,
            &mut losses,
            &mut best,
        )
        .expect("adapts");
    assert!(report.rolled_back, "{report:?} {losses:?}");
    assert!(report.final_loss <= report.initial_loss);
    // Every step ran (the bound proves them finite); the state is at the lowest loss.
    assert_eq!(report.steps, 10);
    assert!(losses.iter().all(|&l| report.final_loss <= l), "{losses:?}");
    assert_eq!(report.final_loss, losses[usize::from(report.best_step)]);
    if report.best_step == 0 {
        assert_eq!(state.params(), &start[..]);
    }
    // The state predicts with the parameters whose loss the report gives.
    let mut check: AdaptState<2000> = state.clone();
    let mut l2 = [0.0; 2];
    let mut b2 = vec![0.0; check.params().len()];
    let again = check
        .adapt_guarded(
            &model,
            Support::values(&x, &y),
            Some(1),
            &mut scratch,
            &mut l2,
            &mut b2,
        )
        .expect("adapts");
    assert_eq!(again.initial_loss, report.final_loss);

    // Unguarded, the same call runs every step.
    let mut plain: AdaptState<2000> = AdaptState::new(&model, 0).expect("fits");
    let report = plain
        .adapt(
            &model,
            Support::values(&x, &y),
            Some(10),
            &mut scratch,
            &mut losses,
        )
        .expect("adapts");
    assert!(!report.rolled_back);
    assert_eq!(report.steps, 10);
}
