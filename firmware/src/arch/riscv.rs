//! RISC-V (rv32imac, machine mode, one hart): riscv-rt's entry, the exception and interrupt
//! handlers, halting. A trap ends the run as a HardFault does on the Cortex-M (status 102, the
//! same log line), so a fault never hangs QEMU.

use crate::{exit, EXIT_HARDFAULT, EXIT_UNEXPECTED_IRQ};
pub use riscv_rt::entry;

/// Masks machine interrupts (the panic handler's first act).
pub fn interrupts_off() {
    riscv::interrupt::disable();
}

/// Waits for interrupts forever.
#[allow(dead_code)] // Only the `rtt` exit halts.
pub fn halt() -> ! {
    loop {
        riscv::asm::wfi();
    }
}

/// Every synchronous exception (access faults, illegal instructions, ...).
#[export_name = "ExceptionHandler"]
fn exception_handler(frame: &riscv_rt::TrapFrame) -> ! {
    defmt::error!(
        "HardFault at pc={=u32:#010x} ra={=u32:#010x} (RISC-V exception, mcause {=u32})",
        riscv::register::mepc::read() as u32,
        frame.ra as u32,
        riscv::register::mcause::read().bits() as u32
    );
    exit(EXIT_HARDFAULT)
}

/// Every interrupt (none is enabled).
#[export_name = "DefaultHandler"]
fn default_handler() -> ! {
    defmt::error!(
        "unexpected exception or interrupt (RISC-V mcause {=u32})",
        riscv::register::mcause::read().bits() as u32
    );
    exit(EXIT_UNEXPECTED_IRQ)
}
