//! Host benchmarks (criterion): forward per sample and adaptation per (shot x step) for both
//! reference models, head-only and full network, and the digits matching head.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fewshot_runtime::{AdaptScope, AdaptState, Heads, Model, Support};

#[path = "../examples/reference_models.rs"]
mod reference_models;
use reference_models::{digits, digits_matching, sinusoid, sinusoid_proximal};

fn forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward per sample");
    for (name, def) in [
        ("sinusoid 1-40-40-1", sinusoid(AdaptScope::Everything)),
        ("digits 64-64-64 + 10 + 5", digits()),
        (
            "digits 64-64-64 + 20 + matching 5x5 over 7 warps",
            digits_matching(),
        ),
    ] {
        let blob = def.to_aligned_bytes().expect("valid");
        let model = Model::from_bytes(&blob).expect("loads");
        let net = model.network();
        let mut scratch = vec![0.0; model.infer_scratch_len()];
        let mut out = vec![0.0; net.output_len(Heads::ALL)];
        let x: Vec<f32> = (0..model.input_len())
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        g.bench_function(name, |b| {
            b.iter(|| {
                net.infer(black_box(&x), Heads::ALL, &mut scratch, &mut out)
                    .expect("infers")
            })
        });
    }
    g.finish();
}

fn adapt(c: &mut Criterion) {
    let mut g = c.benchmark_group("adapt, 10 steps (throughput = shots x steps)");
    let configs = [
        ("sinusoid full", sinusoid(AdaptScope::Everything), 0usize),
        ("sinusoid head", sinusoid(AdaptScope::HeadOnly), 0),
        ("sinusoid implicit head step", sinusoid_proximal(), 0),
        ("digits head (5-way)", digits(), 1),
        (
            "digits matching head (5-way, 5 per class)",
            digits_matching(),
            1,
        ),
    ];
    for (name, def, head) in configs {
        let blob = def.to_aligned_bytes().expect("valid");
        let model = Model::from_bytes(&blob).expect("loads");
        for k in [1usize, 5, 10, 20] {
            let shots = if head == 1 { k * 5 } else { k };
            let d = model.input_len();
            let x: Vec<f32> = (0..shots * d).map(|i| (i as f32 * 0.37).sin()).collect();
            let y: Vec<f32> = (0..shots).map(|i| (i as f32).cos()).collect();
            let labels: Vec<u16> = (0..shots).map(|i| (i % 5) as u16).collect();
            let support = if head == 1 {
                Support::classes(&x, &labels)
            } else {
                Support::values(&x, &y)
            };
            let mut scratch = vec![0.0; model.ram_needs(head, shots).expect("needs").adapt_scratch];
            let mut losses = [0.0; 11];
            let fresh: AdaptState<2000> = AdaptState::new(&model, head).expect("fits");
            g.throughput(Throughput::Elements((shots * 10) as u64));
            g.bench_with_input(BenchmarkId::new(name, shots), &shots, |b, _| {
                b.iter_batched_ref(
                    || fresh.clone(),
                    |state| {
                        state
                            .adapt(&model, support, Some(10), &mut scratch, &mut losses)
                            .expect("adapts")
                    },
                    criterion::BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, forward, adapt);
criterion_main!(benches);
