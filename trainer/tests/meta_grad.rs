//! Every algorithm's meta-gradient against central finite differences of its objective, in f64,
//! on a tiny network, dense and with a convolution trunk.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trainer::meta::{batch_meta_grad, init_rates, Algorithm, MetaSpec, Scope, TaskData};
use trainer::net::trunk::{build, TrunkLayer};
use trainer::net::{Activation, Arch, HeadKind, LayerSpec, Shape};
use trainer::tasks::{Sinusoid, Split, TaskSource};

fn setup(act: Activation) -> (Arch, Vec<f64>, Vec<TaskData<f64>>) {
    let mut arch = Arch::mlp(1, &[4, 3], 1, act, HeadKind::Regression);
    arch.scale = vec![0.3];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let theta = arch.init_params(&mut rng);
    // Non-zero biases so every path is exercised.
    let theta = theta
        .iter()
        .enumerate()
        .map(|(i, t)| t + 0.05 * ((i % 5) as f64 - 2.0))
        .collect();
    let tasks = (0..2)
        .map(|_| TaskData::new(&arch, &Sinusoid.sample(Split::MetaTrain, 4, 5, &mut rng)))
        .collect();
    (arch, theta, tasks)
}

/// A 3-class classifier on 2 x 7 series: conv1d (stride 2, padding 1), max pool, flatten, a
/// dense head; two tasks of 6 support and 6 query rows.
fn setup_conv() -> (Arch, Vec<f64>, Vec<TaskData<f64>>) {
    let input = Shape {
        channels: 2,
        height: 1,
        width: 7,
    };
    let trunk = [
        TrunkLayer::Conv1d {
            channels: 3,
            kernel: 3,
            stride: 2,
            padding: 1,
            activation: Activation::Tanh,
        },
        TrunkLayer::MaxPool {
            size: 2,
            stride: Some(1),
        },
        TrunkLayer::Flatten,
    ];
    let mut layers =
        build(input, trainer::net::trunk::Layout::of_map(input), &trunk).expect("trunk fits");
    let n_trunk = layers.len();
    let feat = layers[n_trunk - 1].outputs;
    layers.push(LayerSpec::dense(feat, 3, Activation::Identity));
    let mut arch = Arch::mlp(
        input.len(),
        &[],
        3,
        Activation::Identity,
        HeadKind::Classification,
    );
    (arch.layers, arch.n_trunk) = (layers, n_trunk);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let theta = arch.init_params(&mut rng);
    let mut rows =
        |n: usize| -> Vec<f64> { (0..n * 14).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let labels: Vec<usize> = (0..6).map(|i| i % 3).collect();
    let tasks = (0..2)
        .map(|_| TaskData {
            k: 6,
            q: 6,
            sx: rows(6),
            qx: rows(6),
            sy: Vec::new(),
            qy: Vec::new(),
            sl: labels.clone(),
            ql: labels.clone(),
        })
        .collect();
    (arch, theta, tasks)
}

fn spec(algorithm: Algorithm, scope: Scope, steps: usize, clip: f64) -> MetaSpec {
    MetaSpec {
        algorithm,
        scope,
        steps,
        alpha: 0.05,
        alpha_max: 0.2,
        clip,
        step_weights: (1..=steps)
            .map(|s| if s == steps { 1.0 } else { 0.3 })
            .collect(),
        first_order: false,
    }
}

fn loss(arch: &Arch, sp: &MetaSpec, th: &[f64], u: &[f64], t: &[TaskData<f64>]) -> f64 {
    batch_meta_grad(arch, sp, th, u, t, false).loss
}

fn check(a: &[f64], b: &[f64], what: &str) {
    check_tol(a, b, what, 1e-5)
}

fn check_tol(a: &[f64], b: &[f64], what: &str, tol: f64) {
    let scale = a.iter().chain(b).fold(1e-3f64, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale + 1e-7,
            "{what}[{i}]: analytic {x} vs finite difference {y}"
        );
    }
}

/// Central differences of the meta-objective wrt theta and u.
fn fd(
    arch: &Arch,
    sp: &MetaSpec,
    th: &[f64],
    u: &[f64],
    t: &[TaskData<f64>],
) -> (Vec<f64>, Vec<f64>) {
    let h = 1e-6;
    let gt = (0..th.len())
        .map(|i| {
            let (mut p, mut m) = (th.to_vec(), th.to_vec());
            p[i] += h;
            m[i] -= h;
            (loss(arch, sp, &p, u, t) - loss(arch, sp, &m, u, t)) / (2.0 * h)
        })
        .collect();
    let gu = (0..u.len())
        .map(|i| {
            let (mut p, mut m) = (u.to_vec(), u.to_vec());
            p[i] += h;
            m[i] -= h;
            (loss(arch, sp, th, &p, t) - loss(arch, sp, th, &m, t)) / (2.0 * h)
        })
        .collect();
    (gt, gu)
}

fn second_order_case(alg: Algorithm, scope: Scope, act: Activation, steps: usize, clip: f64) {
    let (arch, theta, tasks) = setup(act);
    meta_grad_case(
        alg,
        scope,
        steps,
        clip,
        (arch, theta, tasks),
        &format!("{act:?}"),
    );
}

fn meta_grad_case(
    alg: Algorithm,
    scope: Scope,
    steps: usize,
    clip: f64,
    (arch, theta, tasks): (Arch, Vec<f64>, Vec<TaskData<f64>>),
    act: &str,
) {
    let sp = spec(alg, scope, steps, clip);
    let mut u = init_rates(&arch, &sp);
    for (i, x) in u.iter_mut().enumerate() {
        *x += 0.1 * ((i % 7) as f64 - 3.0);
    }
    let g = batch_meta_grad(&arch, &sp, &theta, &u, &tasks, false);
    let (gt, gu) = fd(&arch, &sp, &theta, &u, &tasks);
    check(
        &g.g_theta,
        &gt,
        &format!("{alg:?} {scope:?} {act} d/dtheta"),
    );
    check(&g.g_u, &gu, &format!("{alg:?} {scope:?} {act} d/du"));
}

/// Second-order MAML, Meta-SGD and ANIL through a convolution and max-pooling trunk are exact.
#[test]
fn second_order_through_conv_matches_fd() {
    for (alg, scope) in [
        (Algorithm::Maml, Scope::Everything),
        (Algorithm::Maml, Scope::BiasesOnly),
        (Algorithm::MetaSgd, Scope::Everything),
        (Algorithm::Anil, Scope::HeadOnly),
    ] {
        meta_grad_case(alg, scope, 2, 100.0, setup_conv(), "conv1d");
    }
}

#[test]
fn maml_second_order_matches_fd() {
    for act in [Activation::Tanh, Activation::Sigmoid, Activation::Relu] {
        second_order_case(Algorithm::Maml, Scope::Everything, act, 2, 100.0);
    }
    second_order_case(
        Algorithm::Maml,
        Scope::HeadAndLastTrunk(1),
        Activation::Tanh,
        3,
        100.0,
    );
    second_order_case(
        Algorithm::Maml,
        Scope::BiasesOnly,
        Activation::Tanh,
        2,
        100.0,
    );
}

#[test]
fn maml_with_active_clip_matches_fd() {
    second_order_case(
        Algorithm::Maml,
        Scope::Everything,
        Activation::Tanh,
        2,
        0.05,
    );
}

#[test]
fn meta_sgd_matches_fd() {
    second_order_case(
        Algorithm::MetaSgd,
        Scope::Everything,
        Activation::Tanh,
        3,
        100.0,
    );
    second_order_case(
        Algorithm::MetaSgd,
        Scope::BiasesOnly,
        Activation::Sigmoid,
        2,
        0.05,
    );
}

#[test]
fn maml_pp_matches_fd() {
    second_order_case(
        Algorithm::MamlPp,
        Scope::Everything,
        Activation::Tanh,
        3,
        100.0,
    );
    second_order_case(
        Algorithm::MamlPp,
        Scope::HeadOnly,
        Activation::Tanh,
        2,
        100.0,
    );
}

#[test]
fn anil_matches_fd() {
    // ANIL adapts the head only but the meta-gradient reaches the trunk through the head's
    // inner gradient (mixed second derivatives).
    second_order_case(
        Algorithm::Anil,
        Scope::Everything,
        Activation::Tanh,
        2,
        100.0,
    );
}

/// First-order MAML: the gradient of sum_s w_s L_query(theta_s + delta) at delta = 0 with the
/// inner trajectory held fixed.
#[test]
fn fomaml_matches_fd_of_its_objective() {
    for (arch, theta, tasks) in [setup(Activation::Tanh), setup_conv()] {
        fomaml_case(arch, theta, tasks);
    }
}

fn fomaml_case(arch: Arch, theta: Vec<f64>, tasks: Vec<TaskData<f64>>) {
    let sp = spec(Algorithm::Fomaml, Scope::Everything, 2, 100.0);
    let g = batch_meta_grad(&arch, &sp, &theta, &[], &tasks, false);
    // trajectory per task, then FD over delta with steps = 0 query losses.
    let ctx = trainer::meta::Ctx::<f64>::new(&arch, &sp, &theta, &[]);
    let trajs: Vec<Vec<Vec<f64>>> = tasks
        .iter()
        .map(|d| trainer::meta::inner_loop(&ctx, d))
        .collect();
    let objective = |delta: &[f64]| -> f64 {
        let mut total = 0.0;
        for (d, tr) in tasks.iter().zip(&trajs) {
            for (s, w) in sp.step_weights.iter().enumerate() {
                let p: Vec<f64> = tr[s + 1].iter().zip(delta).map(|(a, b)| a + b).collect();
                total += w * trainer::meta::query_loss(&arch, &p, d);
            }
        }
        total / tasks.len() as f64
    };
    let h = 1e-6;
    let n = theta.len();
    let fdg: Vec<f64> = (0..n)
        .map(|i| {
            let mut e = vec![0.0; n];
            e[i] = h;
            let p = objective(&e);
            e[i] = -h;
            (p - objective(&e)) / (2.0 * h)
        })
        .collect();
    check(&g.g_theta, &fdg, "fomaml");
}

/// Reptile with one step and no clipping: theta_0 - theta_1 = alpha * grad L_support(theta_0).
#[test]
fn reptile_matches_fd_of_support_loss() {
    for (arch, theta, tasks) in [setup(Activation::Tanh), setup_conv()] {
        reptile_case(arch, theta, tasks);
    }
}

fn reptile_case(arch: Arch, theta: Vec<f64>, tasks: Vec<TaskData<f64>>) {
    let sp = spec(Algorithm::Reptile, Scope::Everything, 1, 100.0);
    let g = batch_meta_grad(&arch, &sp, &theta, &[], &tasks, false);
    let objective = |p: &[f64]| -> f64 {
        tasks
            .iter()
            .map(|d| sp.alpha * trainer::meta::support_loss(&arch, p, d))
            .sum::<f64>()
            / tasks.len() as f64
    };
    let h = 1e-6;
    let fdg: Vec<f64> = (0..theta.len())
        .map(|i| {
            let (mut p, mut m) = (theta.clone(), theta.clone());
            p[i] += h;
            m[i] -= h;
            (objective(&p) - objective(&m)) / (2.0 * h)
        })
        .collect();
    check(&g.g_theta, &fdg, "reptile");
}

/// f32 and f64 agree (the f32 path is what training uses).
#[test]
fn f32_close_to_f64() {
    let (arch, theta, tasks) = setup(Activation::Relu);
    let sp = spec(Algorithm::MetaSgd, Scope::Everything, 3, 100.0);
    let u = init_rates(&arch, &sp);
    let g64 = batch_meta_grad(&arch, &sp, &theta, &u, &tasks, false);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let _ = arch.init_params(&mut rng);
    let t32: Vec<TaskData<f32>> = (0..2)
        .map(|_| TaskData::new(&arch, &Sinusoid.sample(Split::MetaTrain, 4, 5, &mut rng)))
        .collect();
    let g32 = batch_meta_grad(&arch, &sp, &theta, &u, &t32, true);
    check_tol(&g32.g_theta, &g64.g_theta, "f32 vs f64", 1e-3);
}

/// A tiny network with `m` outputs and tasks of random targets (the sinusoid has one output).
fn setup_outputs(m: usize) -> (Arch, Vec<f64>, Vec<TaskData<f64>>) {
    let (mut arch, _, tasks) = setup(Activation::Tanh);
    arch = Arch {
        layers: Arch::mlp(1, &[4, 3], m, Activation::Tanh, HeadKind::Regression).layers,
        ..arch
    };
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let theta = arch
        .init_params(&mut rng)
        .iter()
        .enumerate()
        .map(|(i, t)| t + 0.05 * ((i % 5) as f64 - 2.0))
        .collect();
    let tasks = tasks
        .into_iter()
        .map(|mut d| {
            let y = |x: &f64, j: usize| (x * (j + 2) as f64).sin() + 0.3 * j as f64;
            d.sy =
                d.sx.iter()
                    .flat_map(|x| (0..m).map(move |j| y(x, j)))
                    .collect();
            d.qy =
                d.qx.iter()
                    .flat_map(|x| (0..m).map(move |j| y(x, j)))
                    .collect();
            d
        })
        .collect();
    (arch, theta, tasks)
}

fn proximal_spec(steps: usize) -> MetaSpec {
    MetaSpec {
        algorithm: Algorithm::Proximal,
        scope: Scope::Everything,
        steps,
        alpha: 0.5,
        alpha_max: 2.0,
        clip: 10.0,
        // The rule weighs the last step only; 0.7 checks the weight reaches the gradient.
        step_weights: (1..=steps)
            .map(|s| if s == steps { 0.7 } else { 0.0 })
            .collect(),
        first_order: false,
    }
}

fn perturbed_rates(arch: &Arch, sp: &MetaSpec) -> Vec<f64> {
    let mut u = init_rates(arch, sp);
    for (i, x) in u.iter_mut().enumerate() {
        *x += 0.3 * ((i % 7) as f64 - 3.0);
    }
    u
}

#[test]
fn proximal_matches_fd() {
    for m in [1, 2] {
        for steps in [1, 3] {
            let (arch, theta, tasks) = setup_outputs(m);
            let sp = proximal_spec(steps);
            let u = perturbed_rates(&arch, &sp);
            let g = batch_meta_grad(&arch, &sp, &theta, &u, &tasks, false);
            let (gt, gu) = fd(&arch, &sp, &theta, &u, &tasks);
            check(
                &g.g_theta,
                &gt,
                &format!("proximal m={m} S={steps} d/dtheta"),
            );
            check(&g.g_u, &gu, &format!("proximal m={m} S={steps} d/du"));
        }
    }
}

/// Each implicit step is the backward-Euler fixed point theta_{s+1} = theta_s - alpha (.)
/// grad L_support(theta_{s+1}) on the head, and leaves the trunk alone.
#[test]
fn proximal_step_is_the_implicit_fixed_point() {
    for m in [1, 2] {
        let (arch, theta, tasks) = setup_outputs(m);
        let sp = proximal_spec(3);
        let u = perturbed_rates(&arch, &sp);
        let ctx = trainer::meta::Ctx::<f64>::new(&arch, &sp, &theta, &u);
        let head = arch.w_off(arch.n_trunk);
        for d in &tasks {
            let traj = trainer::meta::inner_loop(&ctx, d);
            assert_eq!(traj.len(), 4);
            for s in 0..3 {
                let next = &traj[s + 1];
                let mut fwd = trainer::net::Fwd::default();
                let mut bwd = trainer::net::Bwd::default();
                let mut g = vec![0.0; theta.len()];
                trainer::net::forward(&arch, next, &d.sx, d.k, &mut fwd, 0);
                trainer::net::backward(&arch, next, &fwd, d.st(), &mut g, 0, &mut bwd);
                for i in 0..theta.len() {
                    let want = if i < head {
                        traj[s][i]
                    } else {
                        traj[s][i] - ctx.alphas[0][i] * g[i]
                    };
                    assert!(
                        (next[i] - want).abs() < 1e-10,
                        "m={m} step {s} param {i}: {} vs {want}",
                        next[i]
                    );
                }
                assert!(next[head..] != traj[s][head..], "the head must move");
            }
        }
    }
}
