//! Cortex-M: cortex-m-rt's entry, the HardFault and default handlers, halting.

use crate::{exit, EXIT_HARDFAULT, EXIT_UNEXPECTED_IRQ};
pub use cortex_m_rt::entry;
use cortex_m_rt::{exception, ExceptionFrame};

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
