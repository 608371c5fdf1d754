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

/// A network of `trunk` on `input`, then a dense ReLU trunk layer of 6 and a regression head of 2.
fn conv_arch(input: trainer::net::Shape, trunk: &[trainer::net::trunk::TrunkLayer]) -> Arch {
    use trainer::net::LayerSpec;
    let mut layers =
        trainer::net::trunk::build(input, trainer::net::trunk::Layout::of_map(input), trunk)
            .expect("trunk fits");
    let feat = layers.last().map_or(input.len(), |l| l.outputs);
    layers.push(LayerSpec::dense(feat, 6, Activation::Relu));
    let n_trunk = layers.len();
    layers.push(LayerSpec::dense(6, 2, Activation::Identity));
    let mut arch = Arch::mlp(
        input.len(),
        &[],
        2,
        Activation::Identity,
        HeadKind::Regression,
    );
    (arch.layers, arch.n_trunk) = (layers, n_trunk);
    arch
}

fn head_only() -> MetaSpec {
    MetaSpec {
        algorithm: Algorithm::Maml,
        scope: Scope::HeadOnly,
        steps: 1,
        alpha: 0.05,
        alpha_max: 0.2,
        clip: CLIP,
        step_weights: vec![1.0],
        first_order: false,
    }
}

#[test]
fn exported_conv_trunks_compute_the_trainers_forward_pass() {
    use trainer::net::trunk::TrunkLayer as T;
    use trainer::net::Shape;
    let (relu, tanh) = (Activation::Relu, Activation::Tanh);
    let series = Shape {
        channels: 2,
        height: 1,
        width: 16,
    };
    let image = Shape {
        channels: 1,
        height: 7,
        width: 6,
    };
    let cases: [(Shape, Vec<T>); 2] = [
        (
            series,
            vec![
                T::Conv1d {
                    channels: 4,
                    kernel: 5,
                    stride: 2,
                    padding: 2,
                    activation: relu,
                },
                T::MaxPool {
                    size: 2,
                    stride: None,
                },
                T::DepthwiseConv1d {
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    activation: tanh,
                },
                T::AvgPool {
                    size: 2,
                    stride: Some(1),
                },
                T::GlobalAvgPool,
            ],
        ),
        (
            image,
            vec![
                T::Conv2d {
                    channels: 3,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    activation: relu,
                },
                T::DepthwiseConv2d {
                    kernel: 2,
                    stride: 2,
                    padding: 0,
                    activation: relu,
                },
                T::MaxPool {
                    size: 2,
                    stride: Some(1),
                },
                T::Flatten,
            ],
        ),
    ];
    for (input, trunk) in cases {
        let mut arch = conv_arch(input, &trunk);
        arch.shift = vec![0.25; arch.inputs];
        arch.scale = vec![2.0; arch.inputs];
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let theta = arch.init_params(&mut rng);
        let spec = head_only();
        let u = init_rates(&arch, &spec);
        let def = trainer::export::model_def("conv", &arch, &spec, &theta, &u).unwrap();
        assert_eq!(def.stem.len(), trunk.len() - usize::from(input.height > 1));
        let blob = def.to_aligned_bytes().unwrap();
        let model = Model::from_bytes(&blob).unwrap();
        // inspect lists every stem layer with its maps, as the blob holds them.
        let described = trainer::inspect::describe(&blob).unwrap();
        assert_eq!(
            described.matches("\nstem[").count(),
            model.stem().len(),
            "{described}"
        );
        assert!(described.contains("stem[0]    conv"), "{described}");
        // Inputs whose normalisation is exact in f32 and f64 alike (multiples of 1/64).
        let x: Vec<f64> = (0..5 * arch.inputs)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) / 64.0)
            .collect();
        let mut scratch = vec![0.0f32; model.infer_scratch_len()];
        let mut got = vec![0.0f32; 10];
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        model
            .network()
            .infer_batch(&xf, Heads::ALL, &mut scratch, &mut got)
            .unwrap();
        // The trainer's forward pass in f32, as its host evaluation runs it.
        let p: Vec<f32> = theta.iter().map(|&v| v as f32).collect();
        let mut f = Fwd::<f32>::default();
        forward(&arch, &p, &arch.normalise::<f32>(&x), 5, &mut f, 0);
        let want = &f.ys[arch.layers.len()];
        // The runtime's tanh goes through micromath's exp: ~1e-4 relative. Without it, within
        // 1e-5: the stem adds in the trainer's order, but the trainer's dense layers are a
        // blocked matrix product (another order), so the bits differ in the last place.
        let tol = if input.height == 1 { 3e-3 } else { 1e-5 };
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= tol * (1.0 + w.abs()),
                "runtime {g} vs trainer {w}"
            );
        }
    }
}

#[test]
fn scopes_reaching_into_a_conv_stem_are_refused_at_export() {
    use trainer::net::trunk::TrunkLayer as T;
    let input = trainer::net::Shape {
        channels: 1,
        height: 1,
        width: 8,
    };
    let conv = T::Conv1d {
        channels: 2,
        kernel: 3,
        stride: 1,
        padding: 1,
        activation: Activation::Relu,
    };
    let arch = conv_arch(input, &[conv]);
    let theta = arch.init_params(&mut ChaCha8Rng::seed_from_u64(1));
    for scope in [
        Scope::Everything,
        Scope::BiasesOnly,
        Scope::HeadAndLastTrunk(2),
    ] {
        let spec = MetaSpec {
            scope,
            ..head_only()
        };
        let u = init_rates(&arch, &spec);
        let err = trainer::export::model_def("c", &arch, &spec, &theta, &u).unwrap_err();
        assert!(err.to_string().contains("`[meta] scope`"), "{err}");
    }
    let spec = MetaSpec {
        scope: Scope::HeadAndLastTrunk(1),
        ..head_only()
    };
    let u = init_rates(&arch, &spec);
    assert!(trainer::export::model_def("c", &arch, &spec, &theta, &u).is_ok());
}
