//! Matching heads: prototypes pooled per class by log-sum-exp, each matched to the best affine
//! warp of an image input. Checked against an f64 reference of the definition (distances, not
//! the runtime's dense-layer form), the pooled cross-entropy's gradient against finite
//! differences, the slot assignment, and the refusals at load.

#![allow(clippy::needless_range_loop)] // index loops mirror the maths
#![cfg_attr(not(feature = "matching-head"), allow(dead_code, unused_imports))]

mod common;
use common::*;
use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use fewshot_runtime::{
    Activation, AdaptReport, AdaptScope, AdaptState, Error, Heads, Model, Support,
};

const SIDE: usize = 4;
const D: usize = SIDE * SIDE;

fn warps() -> Vec<[f32; 6]> {
    vec![
        [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        [1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
        [1.0, 0.0, 0.0, 0.0, 1.0, -1.0],
        [1.0, 0.3, 0.0, 0.0, 1.0, 0.0],
        [0.9, -0.2, 0.25, 0.1, 1.1, 0.5],
    ]
}

/// Identity trunk (ReLU keeps the non-negative pixels), one matching head.
fn model(classes: usize, per_class: usize, warps: Option<Vec<[f32; 6]>>, scale: f32) -> ModelDef {
    let mut eye = vec![0.0; D * D];
    for i in 0..D {
        eye[i * D + i] = 1.0;
    }
    let mut head = HeadDef::matching(
        0,
        "match",
        classes as u16,
        per_class as u16,
        vec![Dense::zeros(D, classes * per_class, Activation::Identity)],
    );
    let adapt =
        AdaptDef::new(AdaptScope::HeadOnly, 3, RateDef::Scalar(0.05), 10.0).with_prototypes(scale);
    head = head.with_adapt(adapt);
    let def = ModelDef::new("matching", D)
        .trunk(Dense::new(D, D, Activation::Relu, eye, vec![0.0; D]))
        .head(head);
    match warps {
        Some(w) => def.views(SIDE as u8, SIDE as u8, w),
        None => def,
    }
}

/// The warp of the definition, in f64: bilinear, zeros outside.
fn warp64(w: &[f32; 6], x: &[f32]) -> Vec<f64> {
    let c = (SIDE as f64 - 1.0) / 2.0;
    let px = |col: f64, row: f64| -> f64 {
        if col < 0.0 || row < 0.0 || col >= SIDE as f64 || row >= SIDE as f64 {
            0.0
        } else {
            x[row as usize * SIDE + col as usize] as f64
        }
    };
    let w: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    (0..D)
        .map(|i| {
            let (u, v) = ((i % SIDE) as f64 - c, (i / SIDE) as f64 - c);
            let sx = w[0] * u + w[1] * v + w[2] + c;
            let sy = w[3] * u + w[4] * v + w[5] + c;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            (px(x0, y0) * (1.0 - fx) + px(x0 + 1.0, y0) * fx) * (1.0 - fy)
                + (px(x0, y0 + 1.0) * (1.0 - fx) + px(x0 + 1.0, y0 + 1.0) * fx) * fy
        })
        .collect()
}

/// Prototype `i` of class `c`: the mean of the class's samples `i, i + p, ...`, else its mean.
fn prototypes(xs: &[f32], labels: &[u16], classes: usize, p: usize) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    for c in 0..classes {
        let own: Vec<&[f32]> = xs
            .chunks(D)
            .zip(labels)
            .filter(|(_, &l)| usize::from(l) == c)
            .map(|(x, _)| x)
            .collect();
        for i in 0..p {
            let pick: Vec<&&[f32]> = if own.len() > i {
                own.iter().skip(i).step_by(p).collect()
            } else {
                own.iter().collect()
            };
            let mut mu = vec![0.0; D];
            for x in &pick {
                for j in 0..D {
                    mu[j] += x[j] as f64 / pick.len() as f64;
                }
            }
            out.push(mu);
        }
    }
    out
}

/// Class probabilities of the definition: `u_j = max_w -s |T_w x - mu_j|^2`, log-sum-exp per
/// class, softmax.
fn reference(mus: &[Vec<f64>], warps: &[[f32; 6]], s: f64, p: usize, x: &[f32]) -> Vec<f64> {
    let u: Vec<f64> = mus
        .iter()
        .map(|mu| {
            warps
                .iter()
                .map(|w| {
                    let h = warp64(w, x);
                    -s * h
                        .iter()
                        .zip(mu)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                })
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    let scores: Vec<f64> = u
        .chunks(p)
        .map(|g| {
            let m = g.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            m + g.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
        })
        .collect();
    let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = scores.iter().map(|v| (v - m).exp()).sum();
    scores.iter().map(|v| (v - m).exp() / z).collect()
}

/// A state adapted by `steps` inner steps from the prototypes of the support set.
fn adapted(
    m: &Model<'_>,
    xs: &[f32],
    labels: &[u16],
    steps: u16,
) -> (AdaptState<512>, AdaptReport) {
    let mut state = AdaptState::<512>::new(m, 0).expect("state");
    let needs = m.ram_needs(0, labels.len()).expect("needs");
    let mut scratch = vec![0.0f32; needs.adapt_scratch];
    let mut losses = vec![0.0f32; usize::from(steps) + 1];
    let report = state
        .adapt(
            m,
            Support::classes(xs, labels),
            Some(steps),
            &mut scratch,
            &mut losses,
        )
        .expect("adapts");
    (state, report)
}

fn image(rng: &mut Rng) -> Vec<f32> {
    (0..D).map(|_| rng.range(0.0, 1.0)).collect()
}

#[test]
#[cfg(feature = "matching-head")]
fn inference_matches_the_definition() {
    let mut rng = Rng(0x5eed_1234);
    for (classes, p, k, with_warps) in [
        (3, 2, 5, true),
        (2, 3, 2, true),
        (4, 1, 3, true),
        (3, 2, 4, false),
    ] {
        let s = 0.7;
        let ws = if with_warps {
            warps()
        } else {
            vec![[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]]
        };
        let def = model(classes, p, with_warps.then(|| ws.clone()), s);
        let blob = def.to_aligned_bytes().expect("encodes");
        let m = Model::from_bytes(blob.as_bytes()).expect("loads");
        let mut xs = Vec::new();
        let mut labels = Vec::new();
        for c in 0..classes {
            for _ in 0..k {
                xs.extend(image(&mut rng));
                labels.push(c as u16);
            }
        }
        let (state, _) = adapted(&m, &xs, &labels, 0);
        let mut scratch = vec![0.0f32; m.infer_scratch_len()];
        let mus = prototypes(&xs, &labels, classes, p);
        let net = state.network(&m).expect("network");
        for _ in 0..10 {
            let q = image(&mut rng);
            let mut out = vec![0.0f32; classes];
            net.infer(&q, Heads::only(0), &mut scratch, &mut out)
                .expect("infers");
            let want = reference(&mus, &ws, s as f64, p, &q);
            for (a, b) in out.iter().zip(&want) {
                // micromath's exp is an approximation: agreement to 1e-3.
                assert!((*a as f64 - b).abs() < 1e-3, "{out:?} vs {want:?}");
            }
        }
    }
}

/// Pooled cross-entropy of the support under parameters `w` (units x D) and `b`.
fn support_loss(w: &[f64], b: &[f64], xs: &[f32], labels: &[u16], p: usize) -> f64 {
    let units = b.len();
    let mut loss = 0.0;
    for (x, &l) in xs.chunks(D).zip(labels) {
        let z: Vec<f64> = (0..units)
            .map(|j| b[j] + (0..D).map(|i| w[j * D + i] * x[i] as f64).sum::<f64>())
            .collect();
        let lse = |g: &[f64]| {
            let m = g.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            m + g.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
        };
        let l = usize::from(l);
        loss += lse(&z) - lse(&z[l * p..(l + 1) * p]);
    }
    loss / labels.len() as f64
}

#[test]
#[cfg(feature = "matching-head")]
fn one_step_follows_the_pooled_cross_entropy_gradient() {
    let mut rng = Rng(0xfeed_0042);
    let (classes, p, alpha) = (3, 2, 0.05);
    let def = model(classes, p, Some(warps()), 0.7);
    let blob = def.to_aligned_bytes().expect("encodes");
    let m = Model::from_bytes(blob.as_bytes()).expect("loads");
    let labels: Vec<u16> = vec![0, 1, 2, 0, 1, 2, 0];
    let xs: Vec<f32> = labels.iter().flat_map(|_| image(&mut rng)).collect();
    let (start, _) = adapted(&m, &xs, &labels, 0);
    let (stepped, report) = adapted(&m, &xs, &labels, 1);
    let units = classes * p;
    let theta: Vec<f64> = start.params().iter().map(|&v| v as f64).collect();
    let (w, b) = theta.split_at(units * D);
    let l0 = support_loss(w, b, &xs, &labels, p);
    assert!(
        (report.initial_loss as f64 - l0).abs() < 1e-4,
        "{} vs {l0}",
        report.initial_loss
    );
    let eps = 1e-5;
    for i in 0..theta.len() {
        let mut plus = theta.clone();
        let mut minus = theta.clone();
        plus[i] += eps;
        minus[i] -= eps;
        let f = |t: &[f64]| {
            let (w, b) = t.split_at(units * D);
            support_loss(w, b, &xs, &labels, p)
        };
        let g = (f(&plus) - f(&minus)) / (2.0 * eps);
        let want = theta[i] - alpha * g.clamp(-10.0, 10.0);
        let got = stepped.params()[i] as f64;
        assert!((got - want).abs() < 1e-4, "param {i}: {got} vs {want}");
    }
}

#[test]
#[cfg(feature = "matching-head")]
fn slots_take_every_pth_sample_or_the_class_mean() {
    let def = model(2, 3, None, 1.0);
    let blob = def.to_aligned_bytes().expect("encodes");
    let m = Model::from_bytes(blob.as_bytes()).expect("loads");
    // Class 0: samples a, b, c, d (slots: mean(a, d), b, c); class 1: one sample e (all slots e).
    let rows: [(u16, f32); 5] = [(0, 1.0), (1, 5.0), (0, 2.0), (0, 3.0), (0, 4.0)];
    let xs: Vec<f32> = rows.iter().flat_map(|&(_, v)| vec![v; D]).collect();
    let labels: Vec<u16> = rows.iter().map(|r| r.0).collect();
    let (state, _) = adapted(&m, &xs, &labels, 0);
    let first = |u: usize| state.params()[u * D] / 2.0;
    assert_eq!([first(0), first(1), first(2)], [2.5, 2.0, 3.0]);
    assert_eq!([first(3), first(4), first(5)], [5.0, 5.0, 5.0]);
}

#[test]
#[cfg(feature = "matching-head")]
fn refused_at_load() {
    let good = model(3, 2, Some(warps()), 0.5);
    assert!(good.to_bytes().is_ok());
    let field = |def: ModelDef| match def.to_bytes() {
        Err(Error::InvalidHeader { field }) => field,
        other => panic!("expected InvalidHeader, got {other:?}"),
    };
    // Units that are not classes x per_class.
    let mut bad = good.clone();
    bad.heads[0].layers[0] = Dense::zeros(D, 5, Activation::Identity);
    assert_eq!(field(bad), "head.kind");
    // An image that is not the input.
    let mut bad = good.clone();
    bad = bad.views(3, 5, warps());
    assert_eq!(field(bad), "views.size");
    // No warps at all.
    let bad = good.clone().views(4, 4, vec![]);
    assert_eq!(field(bad), "views.count");
    // Views without a prototype scale to measure distances with.
    let mut bad = good.clone();
    bad.heads[0].adapt = None;
    assert_eq!(field(bad), "views.prototype_scale");
    // Views no head reads.
    let mut bad = good.clone();
    bad.heads[0] = HeadDef::classification(0, "c", vec![Dense::zeros(D, 3, Activation::Identity)]);
    assert_eq!(field(bad), "views");
    // A non-finite warp.
    let mut bad = good.clone();
    if let Some(v) = bad.views.as_mut() {
        v.warps[1][2] = f32::NAN;
    }
    assert!(matches!(bad.to_bytes(), Err(Error::BadWeight { .. })));
    // The definition round-trips through the bytes.
    let blob = good.to_aligned_bytes().expect("encodes");
    let back =
        ModelDef::from_model(&Model::from_bytes(blob.as_bytes()).expect("loads")).expect("copies");
    assert_eq!(back.views.map(|v| v.warps), Some(warps()));
    assert_eq!(
        back.heads[0].kind,
        good.to_aligned_bytes()
            .map(|b| Model::from_bytes(b.as_bytes()).expect("loads").heads()[0].kind)
            .expect("kind")
    );
}

#[test]
#[cfg(not(feature = "matching-head"))]
fn refused_at_load_when_the_feature_is_left_out() {
    let def = model(3, 2, Some(warps()), 0.5);
    assert_eq!(
        def.to_aligned_bytes().err(),
        Some(Error::FeatureDisabled {
            feature: "matching-head"
        })
    );
}

#[test]
#[cfg(feature = "matching-head")]
fn integer_shifts_move_pixels_exactly_and_fill_with_zeros() {
    use fewshot_runtime::format::WarpSet;
    use fewshot_runtime::ops::views::warp_image;
    let mut rng = Rng(0x0b5e_55ed);
    for (w, h) in [(8usize, 8usize), (5, 3), (1, 4)] {
        let set = WarpSet {
            width: w as u8,
            height: h as u8,
            count: 1,
            offset: 0,
        };
        let x: Vec<f32> = (0..w * h).map(|_| rng.range(-3.0, 3.0)).collect();
        for dx in -2i32..=2 {
            for dy in -2i32..=2 {
                let mut out = vec![f32::NAN; w * h];
                // Content moves by (dx, dy): the output samples the input at (u - dx, v - dy).
                warp_image(
                    &set,
                    &[1.0, 0.0, -dx as f32, 0.0, 1.0, -dy as f32],
                    &x,
                    &mut out,
                );
                for v in 0..h as i32 {
                    for u in 0..w as i32 {
                        let (su, sv) = (u - dx, v - dy);
                        let inside = (0..w as i32).contains(&su) && (0..h as i32).contains(&sv);
                        let want = if inside {
                            x[(sv * w as i32 + su) as usize]
                        } else {
                            0.0
                        };
                        let got = out[(v * w as i32 + u) as usize];
                        assert_eq!(got.to_bits(), want.to_bits(), "{w}x{h} by ({dx}, {dy})");
                    }
                }
            }
        }
    }
}

/// Format v1 to v4 declared the warps inside the matching head: such blobs keep loading, their
/// warps read as the model's views, with outputs bit-identical to the v5 blob's, and re-export
/// as the v5 blob.
#[test]
#[cfg(feature = "matching-head")]
fn older_blobs_with_head_warps_keep_loading() {
    let def = model(3, 2, Some(warps()), 0.5);
    let mut rng = Rng(0x001e_9ac7);
    let x: Vec<f32> = (0..D).map(|_| rng.range(0.0, 2.0)).collect();
    let run = |blob: &[u8]| {
        let m = Model::from_bytes(blob).expect("loads");
        let mut scratch = vec![0.0; m.infer_scratch_len()];
        let mut out = vec![0.0f32; 3];
        m.network()
            .infer(&x, Heads::ALL, &mut scratch, &mut out)
            .expect("infers");
        (out, m.views().map(|(s, t)| (s.count, t.to_vec())))
    };
    let v5 = def.to_aligned_bytes().expect("v5");
    assert_eq!(u16::from_le_bytes([v5.as_bytes()[4], v5.as_bytes()[5]]), 5);
    let (want, views) = run(v5.as_bytes());
    assert_eq!(views.as_ref().map(|v| v.0), Some(5));
    for version in [1u16, 2, 3, 4] {
        let old = def.to_bytes_as(version).expect("older");
        let old = fewshot_runtime::format::AlignedBytes::from_slice(&old);
        let (got, old_views) = run(old.as_bytes());
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "v{version}");
        assert_eq!(old_views, views, "v{version}");
        let m = Model::from_bytes(old.as_bytes()).expect("loads");
        // The same blob but for the model id, which the older blob derived from its bytes.
        let again = ModelDef::from_model(&m).expect("copies").with_id(0);
        assert!(
            again.to_bytes() == def.to_bytes(),
            "v{version} re-exported as v5"
        );
    }
}
