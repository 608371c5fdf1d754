//! Net-level maths against finite differences (f64): the loss gradient and the exact
//! Hessian-vector product, for regression and softmax classification heads, every activation,
//! and every layer kind (convolutions 1-d and 2-d, full and depthwise, with stride and padding;
//! max, average and global average pooling; flatten).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::net::trunk::{build, Layout, TrunkLayer};
use trainer::net::{
    backward, forward, hvp, Activation, Arch, Bwd, Fwd, HeadKind, LayerSpec, RScratch, Shape,
    Targets,
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
    check(
        &Arch::mlp(3, &[5, 4], 3, act, head),
        first,
        &format!("{act:?} {head:?}"),
    );
}

/// The gradient and the Hessian-vector product (direction zero below layer `first`) of `arch`
/// (3 outputs) against central finite differences.
fn check(arch: &Arch, first: usize, name: &str) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let head = arch.head;
    let arch = arch.clone();
    let n = arch.inputs;
    let p: Vec<f64> = arch
        .init_params(&mut rng)
        .iter()
        .map(|v| v + rng.random_range(-0.1..0.1))
        .collect();
    let k = 6;
    let x: Vec<f64> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
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
            "{name} grad[{i}]: {} vs {fd}",
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
            "{name} first {first} Hu[{i}]: {} vs {fd}",
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

/// `trunk` on `input` then a dense head of 3 outputs.
fn conv_arch(input: Shape, trunk: &[TrunkLayer], head: HeadKind) -> Arch {
    let mut layers = build(input, Layout::of_map(input), trunk).expect("trunk fits");
    let feat = layers.last().map_or(input.len(), |l| l.outputs);
    let n_trunk = layers.len();
    layers.push(LayerSpec::dense(feat, 3, Activation::Identity));
    let mut arch = Arch::mlp(input.len(), &[], 3, Activation::Identity, head);
    arch.layers = layers;
    arch.n_trunk = n_trunk;
    arch
}

fn series(channels: usize, length: usize) -> Shape {
    Shape {
        channels,
        height: 1,
        width: length,
    }
}

fn image(channels: usize, height: usize, width: usize) -> Shape {
    Shape {
        channels,
        height,
        width,
    }
}

#[test]
fn every_layer_kind_matches_finite_differences() {
    use TrunkLayer::*;
    let tanh = Activation::Tanh;
    let cases: Vec<(&str, Shape, Vec<TrunkLayer>)> = vec![
        (
            "conv1d stride 2 pad 1, max pool, flatten",
            series(2, 9),
            vec![
                Conv1d {
                    channels: 3,
                    kernel: 3,
                    stride: 2,
                    padding: 1,
                    activation: tanh,
                },
                MaxPool {
                    size: 2,
                    stride: Some(1),
                },
                Flatten,
            ],
        ),
        (
            "depthwise conv1d pad 2, avg pool, global avg pool",
            series(2, 8),
            vec![
                Conv1d {
                    channels: 3,
                    kernel: 2,
                    stride: 1,
                    padding: 0,
                    activation: tanh,
                },
                DepthwiseConv1d {
                    kernel: 3,
                    stride: 1,
                    padding: 2,
                    activation: Activation::Sigmoid,
                },
                AvgPool {
                    size: 2,
                    stride: None,
                },
                GlobalAvgPool,
            ],
        ),
        (
            "conv2d pad 1, depthwise conv2d stride 2, dense",
            image(1, 5, 6),
            vec![
                Conv2d {
                    channels: 2,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    activation: tanh,
                },
                DepthwiseConv2d {
                    kernel: 2,
                    stride: 2,
                    padding: 0,
                    activation: tanh,
                },
                Dense {
                    units: 4,
                    activation: tanh,
                },
            ],
        ),
        (
            "conv2d stride 2, relu, max pool 2x2, avg pool",
            image(2, 7, 7),
            vec![
                Conv2d {
                    channels: 3,
                    kernel: 2,
                    stride: 1,
                    padding: 1,
                    activation: Activation::Relu,
                },
                MaxPool {
                    size: 2,
                    stride: None,
                },
                AvgPool {
                    size: 2,
                    stride: Some(1),
                },
                Flatten,
            ],
        ),
    ];
    for (name, input, trunk) in cases {
        for head in [HeadKind::Regression, HeadKind::Classification] {
            let arch = conv_arch(input, &trunk, head);
            for first in 0..arch.layers.len() {
                check(&arch, first, &format!("{name} {head:?}"));
            }
        }
    }
}

#[test]
fn trunk_shapes_are_checked() {
    use TrunkLayer::*;
    let conv2d = Conv2d {
        channels: 2,
        kernel: 3,
        stride: 1,
        padding: 0,
        activation: Activation::Relu,
    };
    let err = build(series(1, 16), Layout::Series, std::slice::from_ref(&conv2d)).unwrap_err();
    assert_eq!(err.0, 0);
    assert!(err.1.contains("`conv2d` needs an image"), "{}", err.1);
    let err = build(image(1, 2, 2), Layout::Image, std::slice::from_ref(&conv2d)).unwrap_err();
    assert!(err.1.contains("does not fit"), "{}", err.1);
    let err = build(image(1, 8, 8), Layout::Image, &[Flatten, conv2d]).unwrap_err();
    assert_eq!(err.0, 1);
    assert!(err.1.contains("a vector of 64"), "{}", err.1);
    let l = build(
        series(1, 16),
        Layout::Series,
        &[
            MaxPool {
                size: 4,
                stride: None,
            },
            GlobalAvgPool,
        ],
    )
    .unwrap();
    assert_eq!((l[0].outputs, l[1].outputs), (4, 1));
    // An image pooled to one pixel is still an image: a 1 x 1 convolution takes it.
    let pointwise = Conv2d {
        channels: 2,
        kernel: 1,
        stride: 1,
        padding: 0,
        activation: Activation::Relu,
    };
    let pool = MaxPool {
        size: 6,
        stride: None,
    };
    let l = build(image(4, 6, 6), Layout::Image, &[pool, pointwise.clone()]).unwrap();
    assert_eq!((l[0].outputs, l[1].outputs), (4, 2));
    // A vector input names what declares a shape.
    let err = build(Shape::flat(1), Layout::Vector, &[pointwise]).unwrap_err();
    assert!(err.1.contains("without an `[input]` table"), "{}", err.1);
}
