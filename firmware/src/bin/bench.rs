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
use fewshot_firmware::measure::{self, instructions_x100, peak_stack, spin};
use fewshot_firmware::standin::{head_step, target, Lcg, Mlp, H};
use fewshot_firmware::{self as fw};

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
    fw::init("bench (stand-in MLP 1-40-40-1; runtime pending)");
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

    let m = Mlp::new(0x5eed);
    let fwd = instructions_x100(50, || {
        let f = m.features(black_box(0.25));
        black_box(m.head(&f));
    });
    row("forward 1-40-40-1, batch 1", fwd, "MAC", MACS);

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
            1 => "head-only step, K=1",
            5 => "head-only step, K=5",
            10 => "head-only step, K=10",
            _ => "head-only step, K=20",
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
