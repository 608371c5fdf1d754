//! Net-level maths against finite differences (f64): the loss gradient and the exact
//! Hessian-vector product, for regression and softmax classification heads, every activation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::net::{
    backward, forward, hvp, Activation, Arch, Bwd, Fwd, HeadKind, RScratch, Targets,
};

fn loss_grad(arch: &Arch, p: &[f64], x: &[f64], k: usize, t: Targets<f64>) -> (f64, Vec<f64>) {
    let mut f = Fwd::default();
    let mut b = Bwd::default();
    let mut g = vec![0.0; p.len()];
    forward(arch, p, x, k, &mut f, 0);
    let l = backward(arch, p, &f, t, &mut g, 0, &mut b);
    (l, g)
}

fn case(act: Activation, head: HeadKind, first: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let arch = Arch::mlp(3, &[5, 4], 3, act, head);
    let p: Vec<f64> = arch
        .init_params(&mut rng)
        .iter()
        .map(|v| v + rng.random_range(-0.1..0.1))
        .collect();
    let k = 6;
    let x: Vec<f64> = (0..k * 3).map(|_| rng.random_range(-1.0..1.0)).collect();
    let yv: Vec<f64> = (0..k * 3).map(|_| rng.random_range(-1.0..1.0)).collect();
    let labels: Vec<usize> = (0..k).map(|i| i % 3).collect();
    let t = match head {
        HeadKind::Regression => Targets::Reg(&yv),
        HeadKind::Classification => Targets::Cls(&labels),
    };
    let (_, g) = loss_grad(&arch, &p, &x, k, t);
    let h = 1e-6;
    for i in 0..p.len() {
        let (mut a, mut b) = (p.clone(), p.clone());
        a[i] += h;
        b[i] -= h;
        let fd = (loss_grad(&arch, &a, &x, k, t).0 - loss_grad(&arch, &b, &x, k, t).0) / (2.0 * h);
        assert!(
            (fd - g[i]).abs() < 1e-6 * (1.0 + fd.abs()),
            "{act:?} {head:?} grad[{i}]: {} vs {fd}",
            g[i]
        );
    }
    // Direction zero below layer `first`.
    let lo = arch.w_off(first);
    let u: Vec<f64> = (0..p.len())
        .map(|i| {
            if i < lo {
                0.0
            } else {
                rng.random_range(-1.0..1.0)
            }
        })
        .collect();
    let mut f = Fwd::default();
    let mut b = Bwd::default();
    let mut gg = vec![0.0; p.len()];
    forward(&arch, &p, &x, k, &mut f, 0);
    backward(&arch, &p, &f, t, &mut gg, 0, &mut b);
    let mut hu = vec![0.0; p.len()];
    hvp(
        &arch,
        &p,
        &u,
        first,
        &f,
        &b,
        t,
        &mut hu,
        &mut RScratch::default(),
    );
    let e = 1e-5;
    let pp: Vec<f64> = p.iter().zip(&u).map(|(a, b)| a + e * b).collect();
    let pm: Vec<f64> = p.iter().zip(&u).map(|(a, b)| a - e * b).collect();
    let (gp, gm) = (
        loss_grad(&arch, &pp, &x, k, t).1,
        loss_grad(&arch, &pm, &x, k, t).1,
    );
    for i in 0..p.len() {
        let fd = (gp[i] - gm[i]) / (2.0 * e);
        assert!(
            (fd - hu[i]).abs() < 1e-5 * (1.0 + fd.abs()),
            "{act:?} {head:?} first {first} Hu[{i}]: {} vs {fd}",
            hu[i]
        );
    }
}

#[test]
fn gradient_and_hvp_match_finite_differences() {
    for act in [
        Activation::Identity,
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
    ] {
        for head in [HeadKind::Regression, HeadKind::Classification] {
            for first in [0, 1, 2] {
                case(act, head, first);
            }
        }
    }
}
