//! Cortex-M: cortex-m-rt's entry, the HardFault and default handlers, halting, a system
//! reset, the instruction counter (SysTick under QEMU `-icount shift=0`) and the stack's
//! bounds.

use crate::{exit, EXIT_HARDFAULT, EXIT_UNEXPECTED_IRQ};
use core::ptr::addr_of;
use cortex_m::peripheral::{syst::SystClkSource, SYST};
pub use cortex_m_rt::entry;
use cortex_m_rt::{exception, ExceptionFrame};

/// Executed instructions per SysTick tick under `-icount shift=0` on mps2 (25 MHz core clock).
const INSTRUCTIONS_PER_TICK: u32 = 40;
/// SysTick's reload value: it counts down through 24 bits.
const RELOAD: u32 = 0x00FF_FFFF;

extern "C" {
    /// Lowest address of the stack (the start of the RAM, `memory.x`).
    static _stack_end: u32;
}

/// Starts SysTick free-running from the core clock, without interrupts.
pub fn start_counter() {
    // SAFETY: SysTick is used by nothing else in these programs; only its own registers are
    // written.
    let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
    syst.disable_interrupt();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_counter();
}

/// The counter's value (SysTick counts down).
#[inline(always)]
pub fn counter() -> u32 {
    SYST::get_current()
}

/// Instructions between two [`counter`] values (at most 2^24 ticks apart).
#[inline(always)]
pub fn instructions_between(start: u32, end: u32) -> u32 {
    (start.wrapping_sub(end) & RELOAD).saturating_mul(INSTRUCTIONS_PER_TICK)
}

/// Exactly `2 * n` instructions (`subs` + `bne` per iteration).
#[inline(always)]
pub fn spin(n: u32) {
    if n == 0 {
        return;
    }
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!("1:", "subs {0}, #1", "bne 1b", inout(reg) n => _, options(nomem, nostack));
    }
}

/// The current stack pointer.
#[inline(always)]
pub fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}

/// The lowest address the stack may use.
pub fn stack_floor() -> usize {
    addr_of!(_stack_end) as usize
}

/// Masks interrupts (the panic handler's first act).
pub fn interrupts_off() {
    cortex_m::interrupt::disable();
}

/// Stops at a breakpoint (a probe reports it), then sleeps.
#[allow(dead_code)] // Only the `rtt` exit halts.
pub fn halt() -> ! {
    loop {
        cortex_m::asm::bkpt();
        cortex_m::asm::wfi();
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!(
        "HardFault at pc={=u32:#010x} lr={=u32:#010x}",
        frame.pc(),
        frame.lr()
    );
    exit(EXIT_HARDFAULT)
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    defmt::error!("unexpected exception or interrupt {=i16}", irqn);
    exit(EXIT_UNEXPECTED_IRQ)
}

/// Resets the whole system (`SCB::sys_reset`: AIRCR.SYSRESETREQ); RAM keeps its contents.
pub fn reset() -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}
