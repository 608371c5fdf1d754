//! The implicit (proximal) head step: it is the fixed point `theta' = theta - alpha (.)
//! grad L(theta')`, its S steps match an f64 reference solved in parameter space (not the
//! runtime's K x K dual form), it is refused where it has no closed form, and it leaves the state
//! untouched when it cannot stay finite.

#![allow(clippy::needless_range_loop)] // index loops mirror the maths
#![cfg_attr(not(feature = "implicit-step"), allow(dead_code, unused_imports))]

mod common;
use common::*;
use fewshot_runtime::writer::{ModelDef, RateDef};
use fewshot_runtime::{Activation, AdaptScope, AdaptState, Error, Model, Support};

const D: usize = 3;

/// A random model whose head is one identity layer with `m` outputs adapted by implicit steps.
fn model(rng: &mut Rng, m: usize, steps: u16) -> ModelDef {
    // Piecewise-linear trunk: f32 and f64 features agree to rounding (micromath's tanh would not).
    let trunk = [(5, Activation::Relu), (4, Activation::Relu)];
    let mut def = random_model(rng, D, &trunk, &[(m, Activation::Identity)], false, None);
    let rates = (0..5 * m).map(|_| rng.range(0.2, 3.0)).collect();
    let mut spec = adapt_def(AdaptScope::HeadOnly, RateDef::Proximal(rates));
    spec.steps = steps;
    def.heads[0].adapt = Some(spec);
    def
}

fn rates(def: &ModelDef) -> Vec<f64> {
    match &def.heads[0].adapt.as_ref().expect("adaptive").rate {
        RateDef::Proximal(v) => v.iter().map(|&x| x as f64).collect(),
        _ => unreachable!("built as proximal"),
    }
}

/// Trunk features with a trailing 1, per sample (f64).
fn features(def: &ModelDef, inputs: &[f32]) -> Vec<Vec<f64>> {
    let mut trunk = RefNet::new(def, 0);
    trunk.layers.pop();
    inputs
        .chunks(D)
        .map(|x| {
            let mut f = trunk.forward(x);
            f.push(1.0);
            f
        })
        .collect()
}

/// Solves `a x = b` (small, dense) by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .expect("rows");
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        x[r] = (b[r] - (r + 1..n).map(|k| a[r][k] * x[k]).sum::<f64>()) / a[r][r];
    }
    x
}

/// One output row's implicit steps in parameter space:
/// `(I + (2 / (K m)) D F^T F) w' = w + (2 / (K m)) D F^T y`.
fn reference_steps(
    f: &[Vec<f64>],
    y: &[f64],
    alpha: &[f64],
    w: &[f64],
    m: usize,
    steps: usize,
) -> Vec<f64> {
    let (k, p) = (f.len(), w.len());
    let g = 2.0 / (k * m) as f64;
    let mut w = w.to_vec();
    for _ in 0..steps {
        let a = (0..p)
            .map(|i| {
                (0..p)
                    .map(|j| {
                        let ftf: f64 = f.iter().map(|row| row[i] * row[j]).sum();
                        f64::from(u8::from(i == j)) + g * alpha[i] * ftf
                    })
                    .collect()
            })
            .collect();
        let b = (0..p)
            .map(|i| w[i] + g * alpha[i] * f.iter().zip(y).map(|(row, y)| row[i] * y).sum::<f64>())
            .collect();
        w = solve(a, b);
    }
    w
}

fn adapt(def: &ModelDef, inputs: &[f32], values: &[f32], steps: u16) -> (Vec<f32>, Vec<f32>) {
    let blob = def.to_aligned_bytes().expect("valid model");
    let model = Model::from_bytes(&blob).expect("loads");
    let k = inputs.len() / D;
    let needs = model.ram_needs(0, k).expect("fits");
    let mut state: AdaptState<64> = AdaptState::new(&model, 0).expect("state");
    let mut scratch = vec![0.0f32; needs.adapt_scratch];
    let mut losses = vec![0.0f32; usize::from(steps) + 1];
    let support = Support::values(inputs, values);
    state
        .adapt(&model, support, Some(steps), &mut scratch, &mut losses)
        .expect("adapts");
    (state.params().to_vec(), losses)
}

#[test]
#[cfg(feature = "implicit-step")]
fn steps_match_a_parameter_space_reference() {
    for (seed, m, steps, k) in [
        (1u64, 1usize, 1u16, 6usize),
        (2, 2, 3, 5),
        (3, 1, 10, 12),
        (4, 3, 2, 1),
    ] {
        let mut rng = Rng(seed);
        let def = model(&mut rng, m, steps);
        let inputs = rng.vec(k * D, 1.5);
        let values = rng.vec(k * m, 2.0);
        let (after, losses) = adapt(&def, &inputs, &values, steps);
        let f = features(&def, &inputs);
        let alpha = rates(&def);
        let head = &def.heads[0].layers[0];
        for j in 0..m {
            let mut w: Vec<f64> = head.weights[j * 4..(j + 1) * 4]
                .iter()
                .map(|&v| v as f64)
                .collect();
            w.push(head.bias[j] as f64);
            let mut a: Vec<f64> = alpha[j * 4..(j + 1) * 4].to_vec();
            a.push(alpha[4 * m + j]);
            let y: Vec<f64> = (0..k).map(|i| values[i * m + j] as f64).collect();
            let want = reference_steps(&f, &y, &a, &w, m, usize::from(steps));
            let mut got: Vec<f64> = after[j * 4..(j + 1) * 4]
                .iter()
                .map(|&v| v as f64)
                .collect();
            got.push(after[4 * m + j] as f64);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-4 + 1e-4 * w.abs(),
                    "seed {seed}: {g} vs {w}"
                );
            }
        }
        // The loss log: never rising (the step contracts the residual), and the last entry is
        // the loss of the adapted parameters.
        assert!(
            losses.windows(2).all(|p| p[1] <= p[0] * (1.0 + 1e-6)),
            "{losses:?}"
        );
        let mut adapted = RefNet::new(&def, 0);
        let last = adapted.layers.len() - 1;
        adapted.layers[last].3 = after[..4 * m].iter().map(|&v| v as f64).collect();
        adapted.layers[last].4 = after[4 * m..].iter().map(|&v| v as f64).collect();
        let loss = adapted.loss(&inputs, D, &values, &[]);
        let logged = *losses.last().expect("log") as f64;
        assert!(
            (loss - logged).abs() <= 1e-5 + 1e-4 * loss,
            "{loss} vs {logged}"
        );
    }
}

#[test]
#[cfg(feature = "implicit-step")]
fn one_step_is_the_implicit_gradient_step() {
    let mut rng = Rng(9);
    let (m, k) = (2, 7);
    let def = model(&mut rng, m, 1);
    let inputs = rng.vec(k * D, 1.5);
    let values = rng.vec(k * m, 2.0);
    let (after, _) = adapt(&def, &inputs, &values, 1);
    let before = RefNet::new(&def, 0);
    let mut at = before.clone();
    let last = at.layers.len() - 1;
    at.layers[last].3 = after[..4 * m].iter().map(|&v| v as f64).collect();
    at.layers[last].4 = after[4 * m..].iter().map(|&v| v as f64).collect();
    let alpha = rates(&def);
    for (i, p) in at.adapted(last, false).into_iter().enumerate() {
        // The loss is quadratic in the head: central differences are exact up to rounding.
        let h = 1e-4;
        let mut plus = at.clone();
        *plus.param_mut(p) += h;
        let mut minus = at.clone();
        *minus.param_mut(p) -= h;
        let grad = (plus.loss(&inputs, D, &values, &[]) - minus.loss(&inputs, D, &values, &[]))
            / (2.0 * h);
        let mut b = before.clone();
        let start = *b.param_mut(p);
        let moved = after[i] as f64 - start;
        assert!(
            (moved + alpha[i] * grad).abs() <= 1e-4 + 1e-3 * moved.abs(),
            "parameter {i}: moved {moved}, -alpha grad(theta') {}",
            -alpha[i] * grad
        );
    }
}

#[test]
#[cfg(feature = "implicit-step")]
fn refused_where_it_has_no_closed_form() {
    let mut rng = Rng(5);
    let trunk = [(4, Activation::Relu)];
    let proximal = |n| RateDef::Proximal(vec![1.0; n]);
    let cases: Vec<(ModelDef, usize, AdaptScope)> = vec![
        // Two head layers.
        (
            random_model(
                &mut rng,
                D,
                &trunk,
                &[(3, Activation::Relu), (1, Activation::Identity)],
                false,
                None,
            ),
            3 * 4 + 3 + 3 + 1,
            AdaptScope::HeadOnly,
        ),
        // A nonlinear head.
        (
            random_model(&mut rng, D, &trunk, &[(1, Activation::Tanh)], false, None),
            5,
            AdaptScope::HeadOnly,
        ),
        // Classification (cross-entropy has no closed form).
        (
            random_model(
                &mut rng,
                D,
                &trunk,
                &[(3, Activation::Identity)],
                true,
                None,
            ),
            15,
            AdaptScope::HeadOnly,
        ),
        // Trunk layers adapting too.
        (
            random_model(
                &mut rng,
                D,
                &trunk,
                &[(1, Activation::Identity)],
                false,
                None,
            ),
            4 * 3 + 4 + 5,
            AdaptScope::Everything,
        ),
    ];
    for (i, (mut def, n, scope)) in cases.into_iter().enumerate() {
        def.heads[0].adapt = Some(adapt_def(scope, proximal(n)));
        // The writer validates as the loader does.
        assert_eq!(
            def.to_aligned_bytes().err(),
            Some(Error::InvalidHeader {
                field: "adapt.rate"
            }),
            "case {i}"
        );
    }
}

#[test]
#[cfg(feature = "implicit-step")]
fn state_and_buffers_checked_before_anything_changes() {
    let mut rng = Rng(11);
    let def = model(&mut rng, 1, 4);
    let blob = def.to_aligned_bytes().expect("valid model");
    let model = Model::from_bytes(&blob).expect("loads");
    let k = 4;
    let needs = model.ram_needs(0, k).expect("fits");
    // Activations, two prefix buffers, then K x K + K x m + K for the solver.
    assert_eq!(
        needs.adapt_scratch,
        needs.activations + 2 * 5 + k * k + k + k
    );
    let mut state: AdaptState<8> = AdaptState::new(&model, 0).expect("state");
    let start = state.params().to_vec();
    let mut losses = [0.0f32; 5];
    let inputs = rng.vec(k * D, 1.0);
    let values = rng.vec(k, 1.0);
    let mut short = vec![0.0f32; needs.adapt_scratch - 1];
    let err = state.adapt(
        &model,
        Support::values(&inputs, &values),
        None,
        &mut short,
        &mut losses,
    );
    assert!(matches!(err, Err(Error::BufferTooSmall { .. })), "{err:?}");
    let mut scratch = vec![0.0f32; needs.adapt_scratch];
    let huge = vec![3.0e20f32; k];
    let far = vec![1.0e30f32; k * D];
    // Finite targets whose residuals square to infinity, then finite features whose residuals
    // overflow: refused, state untouched.
    for (x, y) in [(&inputs, &huge), (&far, &values)] {
        let err = state.adapt(
            &model,
            Support::values(x, y),
            None,
            &mut scratch,
            &mut losses,
        );
        assert!(
            matches!(
                err,
                Err(Error::NonFiniteLoss { .. } | Error::NonFinite { .. })
            ),
            "{err:?}"
        );
        assert_eq!(state.params(), &start[..]);
    }
    // Guarded, with a log that falls at every step: the last step is kept, as unguarded.
    let mut best = vec![0.0f32; start.len()];
    let guarded = state
        .adapt_guarded(
            &model,
            Support::values(&inputs, &values),
            None,
            &mut scratch,
            &mut losses,
            &mut best,
        )
        .expect("adapts");
    assert!(!guarded.rolled_back);
    assert_eq!(guarded.steps, 4);
    let guarded_params = state.params().to_vec();
    state.reset(&model).expect("reset");
    state
        .adapt(
            &model,
            Support::values(&inputs, &values),
            None,
            &mut scratch,
            &mut losses,
        )
        .expect("adapts");
    assert_eq!(state.params(), &guarded_params[..]);
}

#[test]
#[cfg(feature = "implicit-step")]
fn writer_round_trip_keeps_the_rule() {
    let mut rng = Rng(3);
    let def = model(&mut rng, 2, 2);
    let bytes = def.to_bytes().expect("writes");
    let blob = def.to_aligned_bytes().expect("writes");
    let model = Model::from_bytes(&blob).expect("loads");
    assert_eq!(
        ModelDef::from_model(&model)
            .expect("reads")
            .to_bytes()
            .expect("writes"),
        bytes
    );
}

#[test]
#[cfg(not(feature = "implicit-step"))]
fn refused_at_load_when_the_feature_is_left_out() {
    let def = model(&mut Rng(1), 1, 1);
    assert_eq!(
        def.to_aligned_bytes().err(),
        Some(Error::FeatureDisabled {
            feature: "implicit-step"
        })
    );
}
