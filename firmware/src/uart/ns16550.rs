//! The NS16550A UART of QEMU's `virt` machine (at `0x1000_0000`, byte registers), polled: no
//! interrupts. QEMU emulates it (`hw/char/serial.c`) and connects it to the host with
//! `-serial pty` or `-serial chardev:ID`; it ignores the divisor, so `uart0` sets none.
//!
//! Registers: RBR / THR (+0: received / transmitted byte), IER (+1: interrupts), FCR (+2,
//! write: FIFO control), LCR (+3: line control), LSR (+5: bit 0 data ready, bit 5 transmit
//! holding register empty).

use core::ptr::{read_volatile, write_volatile};
use fewshot_protocol::device::Port;

/// The UART's base address on QEMU's `virt` machine.
pub const UART0: usize = 0x1000_0000;

const DATA: usize = 0;
const IER: usize = 1;
const FCR: usize = 2;
const LCR: usize = 3;
const LSR: usize = 5;
const DATA_READY: u8 = 1 << 0;
const TX_EMPTY: u8 = 1 << 5;
/// FIFOs on, both cleared.
const FIFO_ON_CLEARED: u8 = 0b111;
/// 8 data bits, no parity, 1 stop bit.
const EIGHT_N_ONE: u8 = 0b11;

/// An NS16550A UART, polled.
pub struct Uart {
    base: usize,
}

impl Uart {
    /// The `virt` machine's UART: 8N1, FIFOs on and cleared, interrupts off.
    ///
    /// # Safety
    /// One handle per UART: the caller owns the peripheral at `UART0`.
    pub unsafe fn uart0() -> Self {
        let u = Uart { base: UART0 };
        u.write(IER, 0);
        u.write(LCR, EIGHT_N_ONE);
        u.write(FCR, FIFO_ON_CLEARED);
        u
    }

    fn read(&self, reg: usize) -> u8 {
        // SAFETY: a register of the UART this handle owns (see `uart0`).
        unsafe { read_volatile((self.base + reg) as *const u8) }
    }

    fn write(&self, reg: usize, v: u8) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((self.base + reg) as *mut u8, v) }
    }

    /// A received byte, if one is waiting.
    pub fn try_read(&mut self) -> Option<u8> {
        if self.read(LSR) & DATA_READY == 0 {
            return None;
        }
        Some(self.read(DATA))
    }
}

/// The serial protocol's line (`Session::serve`): polls for each byte.
impl Port for Uart {
    fn read_byte(&mut self) -> u8 {
        loop {
            if let Some(b) = self.try_read() {
                return b;
            }
        }
    }

    fn write_all(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.flush();
            self.write(DATA, b);
        }
    }

    /// Waits until the transmit holding register is empty.
    fn flush(&mut self) {
        while self.read(LSR) & TX_EMPTY == 0 {}
    }
}
