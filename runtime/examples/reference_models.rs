//! The reference models of the README (random weights; sizes are what matter here), shared
//! by the benches and the RAM report.
#![allow(dead_code)]

use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use fewshot_runtime::{Activation, AdaptScope};

fn layer(seed: &mut u64, inputs: usize, outputs: usize, act: Activation) -> Dense {
    let mut next = || {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * (6.0 / inputs as f32).sqrt()
    };
    let w = (0..inputs * outputs).map(|_| next()).collect();
    let b = (0..outputs).map(|_| next() * 0.1).collect();
    Dense::new(inputs, outputs, act, w, b)
}

/// Sinusoid: 1 -> 40 -> 40 -> 1 ReLU, one regression head adapting `scope`.
pub fn sinusoid(scope: AdaptScope) -> ModelDef {
    let mut s = 1;
    let head = HeadDef::regression(0, "y", vec![layer(&mut s, 40, 1, Activation::Identity)])
        .with_adapt(AdaptDef::new(scope, 10, RateDef::Scalar(0.01), 10.0));
    ModelDef::new("sinusoid", 1)
        .trunk(layer(&mut s, 1, 40, Activation::Relu))
        .trunk(layer(&mut s, 40, 40, Activation::Relu))
        .head(head)
}

/// The sinusoid network whose head takes implicit (proximal) steps.
pub fn sinusoid_proximal() -> ModelDef {
    let mut def = sinusoid(AdaptScope::HeadOnly);
    if let Some(adapt) = def.heads[0].adapt.as_mut() {
        adapt.rate = RateDef::Proximal(vec![0.05; 41]);
        adapt.steps = 1;
    }
    def
}

/// Digits: 64 -> 64 -> 64 ReLU trunk; a fixed 10-way head and a 5-way head adapted from
/// prototypes.
pub fn digits() -> ModelDef {
    let mut s = 2;
    let fixed = HeadDef::classification(
        0,
        "digits",
        vec![layer(&mut s, 64, 10, Activation::Identity)],
    );
    let novel =
        HeadDef::classification(1, "novel", vec![layer(&mut s, 64, 5, Activation::Identity)])
            .with_adapt(
                AdaptDef::new(AdaptScope::HeadOnly, 5, RateDef::Scalar(0.05), 10.0)
                    .with_prototypes(0.1),
            );
    ModelDef::new("digits", 64)
        .trunk(layer(&mut s, 64, 64, Activation::Relu))
        .trunk(layer(&mut s, 64, 64, Activation::Relu))
        .head(fixed)
        .head(novel)
}

/// The digits preset's shape with random weights: trunk 64-64-64, a fixed 20-way head, and a 5-way
/// matching head of 5 prototypes per class over 7 warps of the 8x8 input (identity, 1-pixel
/// shifts, shears +-0.35).
pub fn digits_matching() -> ModelDef {
    let mut s = 3;
    let fixed = HeadDef::classification(
        0,
        "digits",
        vec![layer(&mut s, 64, 20, Activation::Identity)],
    );
    let mut warps = vec![[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]];
    for (dx, dy) in [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)] {
        warps.push([1.0, 0.0, dx, 0.0, 1.0, dy]);
    }
    warps.push([1.0, 0.35, 0.0, 0.0, 1.0, 0.0]);
    warps.push([1.0, -0.35, 0.0, 0.0, 1.0, 0.0]);
    let novel = HeadDef::matching(
        1,
        "novel",
        5,
        5,
        vec![layer(&mut s, 64, 25, Activation::Identity)],
    )
    .with_adapt(
        AdaptDef::new(AdaptScope::HeadOnly, 5, RateDef::Scalar(3.0), 10.0).with_prototypes(0.5),
    );
    ModelDef::new("digits-matching", 64)
        .views(8, 8, warps)
        .trunk(layer(&mut s, 64, 64, Activation::Relu))
        .trunk(layer(&mut s, 64, 64, Activation::Relu))
        .head(fixed)
        .head(novel)
}

/// Prints the RAM each reference configuration needs for K = 1, 5, 10, 20.
fn main() {
    println!("| configuration | K | adapted params | activations | scratch | total (bytes) | over lower bound |");
    println!("|---|---|---|---|---|---|---|");
    let configs = [
        (
            "sinusoid, full network",
            sinusoid(AdaptScope::Everything),
            0usize,
            1usize,
        ),
        ("sinusoid, head only", sinusoid(AdaptScope::HeadOnly), 0, 1),
        ("sinusoid, implicit head step", sinusoid_proximal(), 0, 1),
        ("digits 5-way, head only", digits(), 1, 5),
        (
            "digits 5-way matching head (5 prototypes per class)",
            digits_matching(),
            1,
            5,
        ),
    ];
    for (name, def, head, per_class) in configs {
        let blob = def.to_aligned_bytes().expect("reference models are valid");
        let model = fewshot_runtime::Model::from_bytes(&blob).expect("loads");
        for k in [1usize, 5, 10, 20] {
            let shots = k * per_class;
            let n = model.ram_needs(head, shots).expect("adaptable");
            println!(
                "| {name} | {k}{} | {} | {} | {} | {} | {:.1}% |",
                if per_class > 1 { " per class" } else { "" },
                n.state,
                n.activations,
                n.adapt_scratch,
                4 * n.adapt_total(),
                100.0 * (n.adapt_total() as f64 / n.lower_bound() as f64 - 1.0)
            );
        }
    }
    for (name, def) in [
        ("sinusoid", sinusoid(AdaptScope::Everything)),
        ("digits", digits()),
    ] {
        let blob = def.to_aligned_bytes().expect("valid");
        let model = fewshot_runtime::Model::from_bytes(&blob).expect("loads");
        println!(
            "{name}: flash {} bytes ({} parameters), inference scratch {} bytes",
            model.blob_len(),
            model.param_count(),
            4 * model.infer_scratch_len()
        );
    }
}
