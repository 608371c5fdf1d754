//! The board support itself: logging, SysTick, stack painting, exit status.
#![no_std]
#![no_main]

use fewshot_firmware::entry;
use fewshot_firmware::{self as fw, measure, Checks};

#[inline(never)]
fn uses_stack(n: usize) -> u32 {
    let mut buf = [0u32; 64];
    for (i, b) in buf.iter_mut().enumerate().take(n) {
        *b = core::hint::black_box(i as u32);
    }
    core::hint::black_box(&buf).iter().sum()
}

#[entry]
fn main() -> ! {
    fw::init("smoke");
    let mut checks = Checks::new();
    measure::start();
    // The runner runs QEMU with `-icount shift=0`: the counter counts executed instructions
    // (SysTick one tick per 40, `minstret` each), which the benchmark relies on.
    let ((), n) = measure::instructions(|| measure::spin(100_000));
    checks.check(
        (200_000..=200_040).contains(&n),
        "200000 instructions are counted as 200000",
    );
    let (sum, stack) = measure::peak_stack(|| uses_stack(64));
    checks.check(
        sum == (0..64).sum::<u32>(),
        "computation under stack painting",
    );
    checks.check(stack >= 256, "a 256-byte buffer shows in the peak stack");
    checks.check(stack < 1024, "peak stack is bounded");
    checks.check(
        measure::stack_size() > 60 * 1024,
        "the stack has the rest of 64 KiB RAM",
    );
    checks.finish()
}
