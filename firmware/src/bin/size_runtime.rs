//! Size probe: the runtime's code (loader, inference, adaptation for both head kinds) in an
//! otherwise minimal firmware. `cargo xtask size` subtracts `size_baseline` (the same program
//! without the runtime calls) to report the runtime's `.text`.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use fewshot_firmware::fixtures::{BENCH_DIGITS, SINUSOID};
use fewshot_runtime::{AdaptState, Heads, Model, Support};

#[entry]
fn main() -> ! {
    let mut scratch = [0.0f32; 1024];
    let mut out = [0.0f32; 16];
    let mut losses = [0.0f32; 8];
    let x = [black_box(0.5f32); 64];
    let mut failures = 0;
    if let Ok(model) = Model::from_bytes(black_box(SINUSOID)) {
        failures += model
            .network()
            .infer(&x[..1], Heads::ALL, &mut scratch, &mut out)
            .is_err() as i32;
        if let Ok(mut state) = AdaptState::<1761>::new(&model, 0) {
            let y = [black_box(0.25f32); 4];
            let r = state.adapt(
                &model,
                Support::values(&x[..4], &y),
                None,
                &mut scratch,
                &mut losses,
            );
            failures += r.is_err() as i32;
            failures += state.reset(&model).is_err() as i32;
        }
    }
    if let Ok(model) = Model::from_bytes(black_box(BENCH_DIGITS)) {
        if let Ok(mut state) = AdaptState::<325>::new(&model, 1) {
            let inputs = [black_box(0.5f32); 64 * 5];
            let labels = [0, 1, 2, 3, 4];
            let r = state.adapt(
                &model,
                Support::classes(&inputs, &labels),
                None,
                &mut scratch,
                &mut losses,
            );
            failures += r.is_err() as i32;
            if let Ok(net) = state.network(&model) {
                failures += net.infer(&x, Heads::ALL, &mut scratch, &mut out).is_err() as i32;
            }
        }
    }
    black_box(&out);
    fewshot_firmware::exit(failures)
}
