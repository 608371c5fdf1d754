//! The CMSDK APB UART of the mps2 boards (UART0 at `0x4000_4000` on mps2-an385 and
//! mps2-an386), polled: no interrupts. QEMU emulates it (`hw/char/cmsdk-apb-uart.c`) and
//! connects it to the host with `-serial pty` or `-serial chardev:ID`.
//!
//! Registers: DATA (+0x0), STATE (+0x4: bit 0 TX buffer full, bit 1 RX buffer full), CTRL
//! (+0x8: bit 0 TX enable, bit 1 RX enable), BAUDDIV (+0x10, at least 16). QEMU ignores the
//! baud rate; a real board's divisor is its clock over the baud rate.

use core::ptr::{read_volatile, write_volatile};
use fewshot_protocol::device::Port;

/// UART0's base address on mps2-an385 / mps2-an386.
pub const UART0: usize = 0x4000_4000;
/// The clock divisor `uart0` sets: QEMU ignores it; a 25 MHz board at 115 200 baud uses 217.
pub const BAUDDIV: u32 = 217;

const DATA: usize = 0x0;
const STATE: usize = 0x4;
const CTRL: usize = 0x8;
const BAUDDIV_REG: usize = 0x10;
const TX_FULL: u32 = 1 << 0;
const RX_FULL: u32 = 1 << 1;
const TX_EN: u32 = 1 << 0;
const RX_EN: u32 = 1 << 1;

/// A CMSDK APB UART, polled.
pub struct Uart {
    base: usize,
}

impl Uart {
    /// UART0 with transmitter and receiver enabled, the divisor [`BAUDDIV`].
    ///
    /// # Safety
    /// One handle per UART: the caller owns the peripheral at `UART0`.
    pub unsafe fn uart0() -> Self {
        let u = Uart { base: UART0 };
        u.write(BAUDDIV_REG, BAUDDIV);
        u.write(CTRL, TX_EN | RX_EN);
        u
    }

    fn read(&self, reg: usize) -> u32 {
        // SAFETY: a register of the UART this handle owns (see `uart0`).
        unsafe { read_volatile((self.base + reg) as *const u32) }
    }

    fn write(&self, reg: usize, v: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((self.base + reg) as *mut u32, v) }
    }

    /// A received byte, if one is waiting.
    pub fn try_read(&mut self) -> Option<u8> {
        if self.read(STATE) & RX_FULL == 0 {
            return None;
        }
        Some((self.read(DATA) & 0xff) as u8)
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
            self.write(DATA, u32::from(b));
        }
    }

    /// Waits until the last byte has left the transmit buffer.
    fn flush(&mut self) {
        while self.read(STATE) & TX_FULL != 0 {}
    }
}
