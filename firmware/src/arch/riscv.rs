//! RISC-V (rv32imac, machine mode, one hart): riscv-rt's entry, the exception and interrupt
//! handlers, halting, a system reset (QEMU virt's), the instruction counter (`minstret`) and
//! the stack's bounds. A trap ends
//! the run as a HardFault does on the Cortex-M (status 102, the same log line), so a fault
//! never hangs QEMU.

use crate::{exit, EXIT_HARDFAULT, EXIT_UNEXPECTED_IRQ};
use core::ptr::addr_of;
pub use riscv_rt::entry;

extern "C" {
    /// The end of riscv-rt's heap (empty here): the stack's lowest address.
    static __eheap: u32;
}

/// `minstret` counts in machine mode from reset: nothing to start.
pub fn start_counter() {}

/// Instructions retired so far (the low 32 bits of `minstret`).
#[inline(always)]
pub fn counter() -> u32 {
    riscv::register::minstret::read() as u32
}

/// Instructions between two [`counter`] values.
#[inline(always)]
pub fn instructions_between(start: u32, end: u32) -> u32 {
    end.wrapping_sub(start)
}

/// Exactly `2 * n` instructions (`addi` + `bnez` per iteration).
#[inline(always)]
pub fn spin(n: u32) {
    if n == 0 {
        return;
    }
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!("1:", "addi {0}, {0}, -1", "bnez {0}, 1b", inout(reg) n => _, options(nomem, nostack));
    }
}

/// The current stack pointer.
#[inline(always)]
pub fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mv {0}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}

/// The lowest address the stack may use.
pub fn stack_floor() -> usize {
    addr_of!(__eheap) as usize
}

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

/// QEMU virt's test device (`hw/misc/sifive_test.c`): a write of [`TEST_RESET`] resets the
/// machine, as a write of 0x5555 / 0x3333 ends the run.
const VIRT_TEST: usize = 0x0010_0000;
/// The test device's reset command (`FINISHER_RESET`).
const TEST_RESET: u32 = 0x7777;

/// Resets the whole machine through QEMU virt's test device: the hart starts again from the
/// reset vector and QEMU loads the program's segments again; RAM outside them (`.uninit`, the
/// simulated NOR) keeps its contents. A real board resets through its own peripheral.
pub fn reset() -> ! {
    // SAFETY: a write to the test device's one register, which nothing else uses.
    unsafe { core::ptr::write_volatile(VIRT_TEST as *mut u32, TEST_RESET) };
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
