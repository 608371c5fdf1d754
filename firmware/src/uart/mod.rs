//! The serial line of the QEMU machine the firmware runs on, polled (no interrupts): UART0 of
//! the mps2 boards (the CMSDK APB UART, feature `mps2`) or the `virt` machine's NS16550A
//! (RISC-V). Each is a `Uart` with `uart0()` and the protocol's [`Port`]; QEMU connects it to
//! the host with `-serial pty` or `-serial chardev:ID`.
//!
//! [`Port`]: fewshot_protocol::device::Port

#[cfg(feature = "mps2")]
mod cmsdk;
#[cfg(feature = "mps2")]
pub use cmsdk::{Uart, BAUDDIV, UART0};

#[cfg(all(not(feature = "mps2"), target_arch = "riscv32"))]
mod ns16550;
#[cfg(all(not(feature = "mps2"), target_arch = "riscv32"))]
pub use ns16550::{Uart, UART0};
