//! Board support shared by the demo, the benchmark and the on-target tests.
//!
//! - the defmt global logger: semihosting under QEMU (default), or defmt-rtt
//!   on a real board (`--features rtt`);
//! - [`exit`]: ends the run with a status (QEMU returns it to the host);
//! - [`entry`]: the program's entry attribute (cortex-m-rt's, or riscv-rt's);
//! - a panic handler and a fault handler (HardFault; on RISC-V, any exception) that exit
//!   with a non-zero status instead of hanging, so CI fails instead of timing out;
//! - [`measure`]: instruction counting (SysTick on the Cortex-M, `minstret` on RISC-V, both
//!   exact under QEMU `-icount shift=0`) and stack painting for peak stack use;
//! - [`reset`] and a NOR flash simulated in RAM that survives it ([`nor`]);
//! - the machine's UART (`uart`: the mps2 boards' CMSDK UART, feature `mps2`, or the `virt`
//!   machine's NS16550A on RISC-V) for the serial protocol's firmware;
//! - with the `mps2` feature (Cortex-M): a guard below the stack (`stack_guard`) so an
//!   overflow faults instead of overwriting statics.
//!
//! The same programs build for RISC-V (`riscv32imac-unknown-none-elf`, QEMU's `virt` machine,
//! without `mps2`): the demo, the benchmark, the `serial` firmware and every test, bit-exact
//! with the host as on the Cortex-M.
#![no_std]

#[cfg(all(feature = "mps2", not(target_arch = "arm")))]
compile_error!("the `mps2` feature is the Cortex-M machines' peripherals: build RISC-V with `--no-default-features`");

// The core's own part: its entry attribute, fault handlers and halt.
#[cfg_attr(target_arch = "arm", path = "arch/arm.rs")]
#[cfg_attr(target_arch = "riscv32", path = "arch/riscv.rs")]
mod arch;
pub use arch::entry;

pub mod episodes;
pub mod fixtures;
#[cfg(feature = "int8")]
pub mod int8;
pub mod measure;
#[cfg(feature = "conv")]
pub mod model_rows;
pub mod nor;
pub mod serial_device;
/// The sizes of the model the `serial` firmware serves ([`fixtures::SERIAL_MODEL`]): what
/// `trainer inspect MODEL --rust --head H --k K --device` printed for it (`build.rs`:
/// `FEWSHOT_SERIAL_MODEL` and `FEWSHOT_SERIAL_SIZES`, else the multi-head fixture's,
/// `src/serial_sizes.rs`).
pub mod serial_sizes {
    include!(concat!(env!("OUT_DIR"), "/serial_sizes.rs"));
}
pub mod sizes;
#[cfg(feature = "mps2")]
pub mod stack_guard;
#[cfg(any(feature = "mps2", target_arch = "riscv32"))]
pub mod uart;

#[cfg(feature = "rtt")]
use defmt_rtt as _;
#[cfg(not(feature = "rtt"))]
use defmt_semihosting as _;

use core::sync::atomic::{AtomicBool, Ordering};

/// Exit status of a panic.
pub const EXIT_PANIC: i32 = 101;
/// Exit status of a HardFault.
pub const EXIT_HARDFAULT: i32 = 102;
/// Exit status of any other unexpected exception or interrupt.
pub const EXIT_UNEXPECTED_IRQ: i32 = 103;

/// Ends the run with `code` (0 is success).
///
/// Under QEMU this is semihosting `SYS_EXIT_EXTENDED`, so the host sees the
/// exact code. On a real board (`rtt`) it stops at a breakpoint instead, which
/// the probe reports, and then sleeps.
pub fn exit(code: i32) -> ! {
    #[cfg(not(feature = "rtt"))]
    {
        semihosting::process::exit(code)
    }
    #[cfg(feature = "rtt")]
    {
        if code == 0 {
            defmt::info!("exit 0");
        } else {
            defmt::error!("exit {}", code);
        }
        arch::halt()
    }
}

/// Set on the first panic, so a panic while logging the panic cannot recurse.
static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    arch::interrupts_off();
    if !PANICKING.swap(true, Ordering::Relaxed) {
        // Location only: formatting the message would pull `core::fmt` into
        // every firmware and blur the `.text` budget.
        match info.location() {
            Some(l) => defmt::error!("panicked at {=str}:{=u32}", l.file(), l.line()),
            None => defmt::error!("panicked"),
        }
    }
    exit(EXIT_PANIC)
}

/// Resets the core and its system (Cortex-M: `SCB::sys_reset`; RISC-V: QEMU virt's test
/// device); RAM keeps its contents, so the simulated NOR ([`nor`]) and `.uninit` statics
/// survive it.
pub fn reset() -> ! {
    arch::reset()
}

/// Call first in `main`: logs the banner (the same on every core, so that
/// decoded logs of M4F and M3 runs can be compared line for line).
pub fn init(name: &str) {
    #[cfg(feature = "mps2")]
    stack_guard::install();
    defmt::info!("{=str}", name);
    defmt::debug!("core: {=str}", core_name());
}

/// The core this firmware was built for.
pub const fn core_name() -> &'static str {
    if cfg!(target_arch = "riscv32") {
        "RISC-V rv32imac (riscv32imac-unknown-none-elf)"
    } else if cfg!(target_feature = "vfp2") || cfg!(target_abi = "eabihf") {
        "Cortex-M4F (thumbv7em-none-eabihf)"
    } else if cfg!(target_feature = "v7") {
        "Cortex-M3 (thumbv7m-none-eabi)"
    } else {
        "Cortex-M (thumbv6m)"
    }
}

/// Logs `PASS`/`FAIL` and exits accordingly: 0 when `failures == 0`, 1 otherwise.
pub fn finish(failures: u32) -> ! {
    if failures == 0 {
        defmt::info!("PASS");
        exit(0)
    } else {
        defmt::error!("FAIL: {=u32} check(s) failed", failures);
        exit(1)
    }
}

/// Counts failed checks in an on-target test, logging each failure.
#[derive(Default)]
pub struct Checks {
    failures: u32,
}

impl Checks {
    pub const fn new() -> Self {
        Self { failures: 0 }
    }

    /// Records a check; logs its name when it fails.
    pub fn check(&mut self, ok: bool, what: &str) {
        if ok {
            defmt::info!("ok   {=str}", what);
        } else {
            defmt::error!("FAIL {=str}", what);
            self.failures = self.failures.saturating_add(1);
        }
    }

    /// Number of failed checks so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Ends the test: exit 0 when every check passed.
    pub fn finish(self) -> ! {
        finish(self.failures)
    }
}
