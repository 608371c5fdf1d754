//! Size probe baseline: `size_probe` without the runtime calls (see there).
#![no_std]
#![no_main]

use core::hint::black_box;
use fewshot_firmware::entry;
use fewshot_firmware::fixtures::{BENCH_DIGITS, SINUSOID};

#[entry]
fn main() -> ! {
    let mut out = [0.0f32; 16];
    black_box(SINUSOID);
    black_box(BENCH_DIGITS);
    out[0] = black_box(0.5f32);
    black_box(&out);
    fewshot_firmware::exit(black_box(0))
}
