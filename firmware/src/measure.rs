//! Measurements for the benchmark firmware.
//!
//! **Instructions.** QEMU has no working DWT cycle counter, but with
//! `-icount shift=0` every executed instruction advances virtual time by
//! 1 ns, and SysTick (clocked from the 25 MHz core clock on mps2) then ticks
//! once every [`INSTRUCTIONS_PER_TICK`] instructions: a deterministic count,
//! with a resolution of 40 instructions (repeat short operations).
//!
//! **Stack.** [`peak_stack`] paints the free stack below the current stack
//! pointer with a pattern, runs the operation, and finds the lowest word that
//! was overwritten; [`StackWatch`] does the same for a `main` that never returns.

use core::ptr::{addr_of, read_volatile, write_volatile};
use cortex_m::peripheral::{syst::SystClkSource, SYST};

/// Executed instructions per SysTick tick under `-icount shift=0` on mps2.
pub const INSTRUCTIONS_PER_TICK: u32 = 40;

const RELOAD: u32 = 0x00FF_FFFF;

/// Starts SysTick free-running from the core clock, without interrupts.
pub fn start_systick(syst: &mut SYST) {
    syst.disable_interrupt();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_counter();
}

/// Runs `f` and returns its result with the SysTick ticks it took
/// (SysTick counts down; at most 2^24 ticks, ~670 M instructions, per call).
#[inline(always)]
pub fn ticks<R>(f: impl FnOnce() -> R) -> (R, u32) {
    let start = SYST::get_current();
    let r = core::hint::black_box(f());
    let end = SYST::get_current();
    (r, start.wrapping_sub(end) & RELOAD)
}

/// Instructions that `f` executes `reps` times in a row take, per repetition,
/// in hundredths of an instruction, minus the measured cost of an empty loop.
pub fn instructions_x100(reps: u32, mut f: impl FnMut()) -> u32 {
    let reps = reps.max(1);
    let ((), empty) = ticks(|| {
        for _ in 0..reps {
            core::hint::black_box(());
        }
    });
    let ((), t) = ticks(|| {
        for _ in 0..reps {
            f();
        }
    });
    let insns = u64::from(t.saturating_sub(empty)) * u64::from(INSTRUCTIONS_PER_TICK) * 100;
    u32::try_from(insns / u64::from(reps)).unwrap_or(u32::MAX)
}

/// Exactly `2 * n` instructions (`subs` + `bne` per iteration).
#[inline(never)]
pub fn spin(n: u32) {
    if n == 0 {
        return;
    }
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!("1:", "subs {0}, #1", "bne 1b", inout(reg) n => _, options(nomem, nostack));
    }
}

extern "C" {
    /// Initial stack pointer (top of RAM), from cortex-m-rt.
    static _stack_start: u32;
}

const PAINT: u32 = 0xC0DE_5AFE;

/// Fills the free stack, from its bottom up to just below the caller's frame,
/// with [`PAINT`]. Returns the highest painted address (exclusive).
#[inline(never)]
fn paint() -> usize {
    let bottom = crate::stack_guard::floor();
    // Leave a small margin below this function's own stack pointer.
    let top = (cortex_m::register::msp::read() as usize).saturating_sub(16) & !3;
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
    let mut p = crate::stack_guard::floor();
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
    let base = cortex_m::register::msp::read() as usize;
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
    let bottom = crate::stack_guard::floor();
    u32::try_from(top.saturating_sub(bottom)).unwrap_or(u32::MAX)
}
