//! Benchmark firmware: run by `cargo xtask bench-firmware` under QEMU
//! `-icount shift=0`, where SysTick counts executed instructions (see
//! `measure`). Logs a table of instructions per operation and peak stack.
//!
//! Until the runtime's API lands it measures the inline stand-in MLP
//! (1-40-40-1), so the figures describe the measuring chain, not the runtime.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use fewshot_firmware::fixtures::{SINUSOID, SINUSOID_PARAMS};
use fewshot_firmware::measure::{self, instructions_x100, peak_stack, spin};
use fewshot_firmware::standin::{head_step, target, Lcg, Mlp, H};
use fewshot_firmware::{self as fw};
use fewshot_runtime::{AdaptState, Heads, Model, Support};

/// Multiply-accumulates of one forward pass of the 1-40-40-1 MLP.
const MACS: u32 = (H + H * H + H) as u32;
/// Adapted parameters of head-only adaptation (weights and bias).
const HEAD_PARAMS: u32 = H as u32 + 1;

/// Logs one table row; `per` is the cost divided by `unit_count` units.
fn row(what: &str, insns_x100: u32, unit: &str, unit_count: u32) {
    let per = insns_x100 as f32 / 100.0 / unit_count.max(1) as f32;
    defmt::info!(
        "| {=str} | {=u32} | {=f32} per {=str} |",
        what,
        insns_x100 / 100,
        per,
        unit
    );
}

#[entry]
fn main() -> ! {
    fw::init("bench");
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::finish(1)
    };
    measure::start_systick(&mut p.SYST);

    defmt::info!("| operation | instructions | per unit |");
    defmt::info!("|---|---:|---:|");
    // Calibration: 200 000 known instructions.
    let cal = instructions_x100(1, || spin(black_box(100_000)));
    row(
        "calibration: 200000 instructions",
        cal,
        "instruction",
        200_000,
    );

    // The runtime on the sinusoid fixture (1-40-40-1, full-network adaptation).
    let load = instructions_x100(10, || {
        black_box(Model::from_bytes(black_box(SINUSOID)).is_ok());
    });
    row(
        "runtime: Model::from_bytes (7116-byte blob, CRC)",
        load,
        "byte",
        SINUSOID.len() as u32,
    );
    if let Ok(model) = Model::from_bytes(SINUSOID) {
        // Enough for K=20 full-network adaptation.
        let mut scratch = [0.0f32; 2048];
        let mut out = [0.0f32; 1];
        let fwd = instructions_x100(50, || {
            let _ = model
                .network()
                .infer(&[black_box(0.25)], Heads::ALL, &mut scratch, &mut out);
        });
        row("runtime: forward 1-40-40-1, batch 1", fwd, "MAC", MACS);
        let mut xs = [0.0f32; 20];
        let mut ys = [0.0f32; 20];
        for i in 0..20 {
            xs[i] = -4.75 + 0.5 * i as f32;
            ys[i] = target(xs[i] / 5.0);
        }
        for k in [1usize, 5, 10, 20] {
            if let Ok(mut state) = AdaptState::<SINUSOID_PARAMS>::new(&model, 0) {
                let mut losses = [0.0f32; 2];
                let step = instructions_x100(3, || {
                    let _ = state.adapt(
                        &model,
                        Support::values(&xs[..k], &ys[..k]),
                        Some(1),
                        &mut scratch,
                        &mut losses,
                    );
                });
                let what = match k {
                    1 => "runtime: full-network step, K=1",
                    5 => "runtime: full-network step, K=5",
                    10 => "runtime: full-network step, K=10",
                    _ => "runtime: full-network step, K=20",
                };
                row(
                    what,
                    step,
                    "param x shot",
                    SINUSOID_PARAMS as u32 * k as u32,
                );
            }
        }
        if let Ok(mut state) = AdaptState::<SINUSOID_PARAMS>::new(&model, 0) {
            let mut losses = [0.0f32; 6];
            let (_, st) = peak_stack(|| {
                state
                    .adapt(
                        &model,
                        Support::values(&xs[..10], &ys[..10]),
                        None,
                        &mut scratch,
                        &mut losses,
                    )
                    .is_ok()
            });
            defmt::info!(
                "| runtime: peak stack, full-network adapt K=10 (state and scratch are the caller's) | {=u32} bytes | |",
                st
            );
        }
    }

    // The inline stand-in, for comparison.
    let m = Mlp::new(0x5eed);
    let fwd = instructions_x100(50, || {
        let f = m.features(black_box(0.25));
        black_box(m.head(&f));
    });
    row("stand-in: forward 1-40-40-1, batch 1", fwd, "MAC", MACS);

    let mut r = Lcg(7);
    let mut feats = [[0.0f32; H]; 20];
    let mut ys = [0.0f32; 20];
    for i in 0..20 {
        let x = r.uniform();
        feats[i] = m.features(x);
        ys[i] = target(x);
    }
    for k in [1usize, 5, 10, 20] {
        let mut mm = Mlp::new(0x5eed);
        let step = instructions_x100(10, || {
            black_box(head_step(&mut mm, &feats[..k], &ys[..k], 0.01));
        });
        let what = match k {
            1 => "stand-in: head-only step, K=1",
            5 => "stand-in: head-only step, K=5",
            10 => "stand-in: head-only step, K=10",
            _ => "stand-in: head-only step, K=20",
        };
        row(what, step, "param x shot", HEAD_PARAMS * k as u32);
    }

    let (_, fwd_stack) = peak_stack(|| {
        let f = m.features(black_box(0.25));
        m.head(&f)
    });
    let mut mm = Mlp::new(0x5eed);
    let (_, step_stack) = peak_stack(|| head_step(&mut mm, &feats, &ys, 0.01));
    defmt::info!("| peak stack, forward | {=u32} bytes | |", fwd_stack);
    defmt::info!(
        "| peak stack, head-only step K=20 | {=u32} bytes | |",
        step_stack
    );
    defmt::info!(
        "stack available {=u32} bytes (64 KiB RAM minus static data)",
        measure::stack_size()
    );
    fw::finish(0)
}
