//! The protocol's [`Port`] over the HALs' UART drivers: [`Blocking`] for a driver with blocking
//! `embedded-io` reads and writes (embassy-stm32's `BufferedUart`), [`Async`] for one with only
//! `embedded-io-async` (embassy-nrf's `BufferedUarte`), polled to completion without an
//! executor (its interrupt fills the receive buffer; the loop has nothing else to do).
//!
//! A read error (overrun, framing, a break) drops the byte: the frame it belonged to is then
//! answered with a frame error, and the next frame is served.

use embassy_futures::block_on;
use fewshot_protocol::device::Port;

/// A UART with blocking `embedded_io::Read + Write`.
pub struct Blocking<U>(pub U);

/// A UART with `embedded_io_async::Read + Write`, each call polled to completion.
pub struct Async<U>(pub U);

impl<U: embedded_io::Read + embedded_io::Write> Port for Blocking<U> {
    fn read_byte(&mut self) -> u8 {
        let mut b = [0u8];
        loop {
            if let Ok(1) = self.0.read(&mut b) {
                let [byte] = b;
                return byte;
            }
        }
    }

    fn write_all(&mut self, bytes: &[u8]) {
        if self.0.write_all(bytes).is_err() {
            defmt::warn!("uart: write failed");
        }
    }

    fn flush(&mut self) {
        if self.0.flush().is_err() {
            defmt::warn!("uart: flush failed");
        }
    }
}

impl<U: embedded_io_async::Read + embedded_io_async::Write> Port for Async<U> {
    fn read_byte(&mut self) -> u8 {
        let mut b = [0u8];
        loop {
            if let Ok(1) = block_on(self.0.read(&mut b)) {
                let [byte] = b;
                return byte;
            }
        }
    }

    fn write_all(&mut self, bytes: &[u8]) {
        if block_on(self.0.write_all(bytes)).is_err() {
            defmt::warn!("uart: write failed");
        }
    }

    fn flush(&mut self) {
        if block_on(self.0.flush()).is_err() {
            defmt::warn!("uart: flush failed");
        }
    }
}
