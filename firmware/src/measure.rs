//! Measurements for the benchmark firmware, on both cores.
//!
//! **Instructions.** Under QEMU with `-icount shift=0` (the runner's default) every executed
//! instruction advances virtual time by 1 ns. On the Cortex-M, which has no working DWT
//! cycle counter there, SysTick (clocked from the 25 MHz core clock on mps2) then ticks once
//! every 40 instructions: a deterministic count with a resolution of 40 instructions (repeat
//! short operations). On RISC-V the `minstret` counter counts every retired instruction:
//! exact. [`start`] starts the counter, [`instructions`] counts what a closure executes.
//!
//! **Stack.** [`peak_stack`] paints the free stack below the current stack
//! pointer with a pattern, runs the operation, and finds the lowest word that
//! was overwritten; [`StackWatch`] does the same for a `main` that never returns.

use crate::arch;
use core::ptr::{addr_of, read_volatile, write_volatile};

/// Starts the instruction counter (SysTick on the Cortex-M; RISC-V's `minstret` always runs).
pub fn start() {
    arch::start_counter();
}

/// Runs `f` and returns its result with the instructions it executed (the Cortex-M's count
/// in steps of 40; at most about 670 M instructions per call there).
#[inline(always)]
pub fn instructions<R>(f: impl FnOnce() -> R) -> (R, u32) {
    let start = arch::counter();
    let r = core::hint::black_box(f());
    let end = arch::counter();
    (r, arch::instructions_between(start, end))
}

/// Instructions that `f` executes `reps` times in a row take, per repetition,
/// in hundredths of an instruction, minus the measured cost of an empty loop.
pub fn instructions_x100(reps: u32, mut f: impl FnMut()) -> u64 {
    let reps = reps.max(1);
    let ((), empty) = instructions(|| {
        for _ in 0..reps {
            core::hint::black_box(());
        }
    });
    let ((), t) = instructions(|| {
        for _ in 0..reps {
            f();
        }
    });
    u64::from(t.saturating_sub(empty)) * 100 / u64::from(reps)
}

/// Whole instructions of an [`instructions_x100`] figure (at most `u32::MAX`).
pub fn whole(insns_x100: u64) -> u32 {
    u32::try_from(insns_x100 / 100).unwrap_or(u32::MAX)
}

/// Exactly `2 * n` instructions (a decrement and a branch per iteration).
#[inline(never)]
pub fn spin(n: u32) {
    arch::spin(n)
}

extern "C" {
    /// Initial stack pointer (top of the stack), from cortex-m-rt or riscv-rt.
    static _stack_start: u32;
}

const PAINT: u32 = 0xC0DE_5AFE;

/// Fills the free stack, from its bottom up to just below the caller's frame,
/// with [`PAINT`]. Returns the highest painted address (exclusive).
#[inline(never)]
fn paint() -> usize {
    let bottom = arch::stack_floor();
    // Leave a small margin below this function's own stack pointer.
    let top = arch::stack_pointer().saturating_sub(16) & !3;
    let mut p = bottom;
    while p < top {
        // SAFETY: [bottom, top) is free stack below this frame, word aligned.
        unsafe { write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    top
}

/// Lowest address at or above the stack bottom whose word lost the paint.
#[inline(never)]
fn lowest_touched(limit: usize) -> usize {
    let mut p = arch::stack_floor();
    while p < limit {
        // SAFETY: reading the painted region, word aligned, inside RAM.
        if unsafe { read_volatile(p as *const u32) } != PAINT {
            return p;
        }
        p += 4;
    }
    limit
}

/// Runs `f` and returns its result with the peak stack (bytes) it used below
/// the caller's stack pointer (resolution: a few words of this helper's own frame).
#[inline(never)]
pub fn peak_stack<R>(f: impl FnOnce() -> R) -> (R, u32) {
    let base = arch::stack_pointer();
    let top = paint();
    let r = core::hint::black_box(f());
    let low = lowest_touched(top);
    (
        r,
        u32::try_from(base.saturating_sub(low)).unwrap_or(u32::MAX),
    )
}

/// The stack's high-water mark of a program whose `main` never returns (the `serial`
/// firmware): painted once, read whenever it is logged.
pub struct StackWatch {
    top: usize,
}

impl StackWatch {
    /// Paints the free stack below the caller's frame (call it first thing in `main`).
    pub fn paint() -> Self {
        StackWatch { top: paint() }
    }

    /// Bytes of stack used at the deepest so far, from the initial stack pointer (so the frame
    /// of the function that painted counts whole).
    pub fn peak(&self) -> u32 {
        let top = addr_of!(_stack_start) as usize;
        u32::try_from(top.saturating_sub(lowest_touched(self.top))).unwrap_or(u32::MAX)
    }
}

/// Total stack (bytes) between the initial stack pointer and the stack's guard.
pub fn stack_size() -> u32 {
    let top = addr_of!(_stack_start) as usize;
    let bottom = arch::stack_floor();
    u32::try_from(top.saturating_sub(bottom)).unwrap_or(u32::MAX)
}
