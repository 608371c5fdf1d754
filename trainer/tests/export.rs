//! The exported model, adapted by the runtime's inner loop, matches the trainer's own inner loop
//! (the meta-objective's) for every adaptation scope and rate kind, and for the proximal step.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runtime::{AdaptState, Heads, Model, Support};
use trainer::meta::{init_rates, inner_loop, Algorithm, Ctx, MetaSpec, Scope, TaskData};
use trainer::net::{forward, Activation, Arch, Fwd, HeadKind};
use trainer::tasks::{Sinusoid, Split, TaskSource};

const STEPS: usize = 3;
const CLIP: f64 = 2.0;

fn case(alg: Algorithm, scope: Scope, act: Activation) {
    let mut arch = Arch::mlp(1, &[8, 6], 1, act, HeadKind::Regression);
    arch.scale = vec![0.2];
    arch.shift = vec![0.1];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let theta = arch.init_params(&mut rng);
    let spec = MetaSpec {
        algorithm: alg,
        scope,
        steps: STEPS,
        alpha: 0.05,
        alpha_max: 0.2,
        clip: CLIP,
        step_weights: vec![1.0; STEPS],
        first_order: false,
    };
    let mut u = init_rates(&arch, &spec);
    for (i, x) in u.iter_mut().enumerate() {
        *x += 0.3 * ((i % 5) as f64 - 2.0);
    }
    let def = trainer::export::model_def("t", &arch, &spec, &theta, &u).unwrap();
    let blob = def.to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let task = Sinusoid.sample(Split::MetaTest, 5, 7, &mut rng);

    // Runtime.
    let mut st = Box::new(AdaptState::<4096>::new(&model, 0).unwrap());
    let needs = model.ram_needs(0, 5).unwrap();
    let mut scratch = vec![0.0f32; needs.adapt_scratch.max(needs.infer_scratch)];
    let mut losses = [0.0f32; 8];
    let sx: Vec<f32> = task.support_x.iter().map(|&v| v as f32).collect();
    let sy: Vec<f32> = task.support_y.iter().map(|&v| v as f32).collect();
    st.adapt(
        &model,
        Support::values(&sx, &sy),
        Some(STEPS as u16),
        &mut scratch,
        &mut losses,
    )
    .unwrap();
    let qx: Vec<f32> = task.query_x.iter().map(|&v| v as f32).collect();
    let mut got = vec![0.0f32; 7];
    st.network(&model)
        .unwrap()
        .infer_batch(&qx, Heads::ALL, &mut scratch, &mut got)
        .unwrap();

    // Trainer (f64).
    let ctx = Ctx::<f64>::new(&arch, &spec, &theta, &u);
    let d = TaskData::<f64>::new(&arch, &task);
    let traj = inner_loop(&ctx, &d);
    let mut f = Fwd::default();
    forward(&arch, &traj[STEPS], &d.qx, d.q, &mut f, 0);
    let want = &f.ys[arch.layers.len()];
    // The runtime computes tanh and sigmoid through micromath's exp (host and device agree bit for
    // bit, at ~1e-4 relative accuracy); ReLU networks must agree to f32 rounding.
    let tol = if act == Activation::Relu { 2e-5 } else { 3e-3 };
    for (g, w) in got.iter().zip(want) {
        assert!(
            (*g as f64 - w).abs() < tol * (1.0 + w.abs()),
            "{alg:?} {scope:?} {act:?}: runtime {g} vs trainer {w}"
        );
    }
}

#[test]
fn runtime_adaptation_matches_trainer_inner_loop() {
    for alg in [Algorithm::Maml, Algorithm::MetaSgd, Algorithm::MamlPp] {
        for scope in [
            Scope::Everything,
            Scope::HeadOnly,
            Scope::HeadAndLastTrunk(1),
            Scope::BiasesOnly,
        ] {
            case(alg, scope, Activation::Tanh);
        }
    }
    for scope in [Scope::Everything, Scope::HeadOnly, Scope::BiasesOnly] {
        case(Algorithm::MetaSgd, scope, Activation::Relu);
        case(Algorithm::MamlPp, scope, Activation::Relu);
    }
    case(Algorithm::MamlPp, Scope::Everything, Activation::Sigmoid);
    // The implicit head step: the runtime's f32 solve against the trainer's f64 one.
    for act in [Activation::Tanh, Activation::Relu] {
        case(Algorithm::Proximal, Scope::HeadOnly, act);
    }
}
