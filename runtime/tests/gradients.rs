//! The inner loop's gradients match central finite differences of an f64 reference of the same
//! loss, for every loss, activation, adaptation scope and learning-rate scheme.
//!
//! One inner step with step sizes `alpha_i` and a clip far above every gradient gives
//! `theta_1 = theta_0 - alpha (.) g`, so `g = (theta_0 - theta_1) / alpha`.
//!
//! Tolerance: `|g - g_ref| <= ATOL + RTOL * |g_ref|`; piecewise-linear networks with MSE agree to
//! f32 rounding (1e-5 + 0.01%); tanh, sigmoid and softmax use micromath's `exp` (relative error
//! about 1e-3, chosen for bit-exact host/device agreement), so they get 1e-3 + 1%.

mod common;
use common::*;
use fewshot_runtime::writer::RateDef;
use fewshot_runtime::{Activation, AdaptScope, AdaptState, Model, Support};

const H: f64 = 1e-5;

struct Case {
    act: Activation,
    classification: bool,
    scope: AdaptScope,
    rate: &'static str,
}

fn run(case: &Case, seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let (d, k) = (3usize, 4usize);
    let m = if case.classification { 3 } else { 2 };
    let trunk = [(5, case.act), (4, case.act)];
    let head = [(3, case.act), (m, Activation::Identity)];
    // Rates: shape depends on the scope; build with a placeholder, then fill.
    let mut def = random_model(&mut rng, d, &trunk, &head, case.classification, None);
    let reference = RefNet::new(&def, 0);
    let (first, biases_only) = match case.scope {
        AdaptScope::HeadOnly => (2, false),
        AdaptScope::HeadAndLastTrunk(n) => (2 - n as usize, false),
        AdaptScope::BiasesOnly => (0, true),
        AdaptScope::Everything => (0, false),
    };
    let adapted = reference.adapted(first, biases_only);
    let layers = reference.layers.len() - first;
    let rate = match case.rate {
        "scalar" => RateDef::Scalar(1.0),
        "per-parameter" => {
            RateDef::PerParameter((0..adapted.len()).map(|_| rng.range(0.5, 1.5)).collect())
        }
        _ => RateDef::PerLayerPerStep {
            steps: 1,
            table: (0..layers * 2).map(|_| rng.range(0.5, 1.5)).collect(),
        },
    };
    let mut spec = adapt_def(case.scope, rate.clone());
    spec.clip = 100.0;
    def.heads[0].adapt = Some(spec);
    let blob = def.to_aligned_bytes().expect("valid model");
    let model = Model::from_bytes(&blob).expect("loads");

    let inputs: Vec<f32> = rng.vec(k * d, 1.5);
    let values: Vec<f32> = rng.vec(k * m, 1.0);
    let labels: Vec<u16> = (0..k).map(|_| rng.below(m) as u16).collect();
    let support = if case.classification {
        Support::classes(&inputs, &labels)
    } else {
        Support::values(&inputs, &values)
    };
    let mut state: AdaptState<256> = AdaptState::new(&model, 0).expect("state");
    let before = state.params().to_vec();
    assert_eq!(before.len(), adapted.len());
    let mut scratch = vec![0.0f32; model.ram_needs(0, k).expect("needs").adapt_scratch];
    let mut losses = [0.0f32; 2];
    let report = state
        .adapt(&model, support, Some(1), &mut scratch, &mut losses)
        .expect("adapts");
    let ref_loss = reference.loss(&inputs, d, &values, &labels);
    assert!(
        (report.initial_loss as f64 - ref_loss).abs() <= 1e-3 * (1.0 + ref_loss),
        "loss {} vs reference {ref_loss}",
        report.initial_loss
    );
    let after = state.params();
    let (atol, rtol) = match (case.act, case.classification) {
        (Activation::Relu | Activation::Identity, false) => (1e-5, 1e-4),
        _ => (1e-3, 1e-2),
    };
    let mut worst = 0.0f64;
    for (i, &p) in adapted.iter().enumerate() {
        let alpha = match &rate {
            RateDef::Scalar(a) => *a as f64,
            RateDef::PerParameter(v) => v[i] as f64,
            RateDef::PerLayerPerStep { table, .. } => {
                table[(p.0 - first) * 2 + usize::from(p.1)] as f64
            }
            RateDef::Proximal(_) => unreachable!("explicit steps only (tests/proximal.rs)"),
        };
        let g = (before[i] as f64 - after[i] as f64) / alpha;
        let mut plus = reference.clone();
        *plus.param_mut(p) += H;
        let mut minus = reference.clone();
        *minus.param_mut(p) -= H;
        let g_ref = (plus.loss(&inputs, d, &values, &labels)
            - minus.loss(&inputs, d, &values, &labels))
            / (2.0 * H);
        let err = (g - g_ref).abs();
        assert!(
            err <= atol + rtol * g_ref.abs(),
            "{:?} {} {:?} {}: param {i} {p:?}: runtime {g} vs f64 FD {g_ref}",
            case.act,
            if case.classification { "CE" } else { "MSE" },
            case.scope,
            case.rate
        );
        worst = worst.max(err / (atol + rtol * g_ref.abs()));
    }
    worst
}

#[test]
fn gradients_match_finite_differences() {
    let mut worst = 0.0f64;
    let mut cases = 0;
    for act in [
        Activation::Identity,
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
    ] {
        for classification in [false, true] {
            for scope in [
                AdaptScope::HeadOnly,
                AdaptScope::HeadAndLastTrunk(1),
                AdaptScope::HeadAndLastTrunk(2),
                AdaptScope::BiasesOnly,
                AdaptScope::Everything,
            ] {
                for rate in ["scalar", "per-parameter", "per-layer-per-step"] {
                    for seed in 1..4u64 {
                        let case = Case {
                            act,
                            classification,
                            scope,
                            rate,
                        };
                        worst = worst.max(run(&case, seed * 7919 + cases));
                        cases += 1;
                    }
                }
            }
        }
    }
    println!("{cases} cases; worst error / tolerance = {worst:.3}");
}
