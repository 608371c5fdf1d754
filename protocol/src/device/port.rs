//! [`Port`] and [`Session::serve`]: the serial loop every firmware runs, over its own UART.

use super::{Handler, Session};

/// A serial line, blocking: what a firmware's UART driver gives [`Session::serve`].
pub trait Port {
    /// The next received byte, waiting for it. Line errors (framing, overrun) are the
    /// driver's to skip: a damaged frame is answered with a frame error anyway.
    fn read_byte(&mut self) -> u8;
    /// Sends `bytes`, waiting while the transmitter is busy.
    fn write_all(&mut self, bytes: &[u8]);
    /// Waits until every byte written has left the transmitter.
    fn flush(&mut self);
}

impl Session {
    /// Reads requests from `port` and writes each reply, until the reply to a
    /// [`crate::Request::Reboot`] has been sent and flushed: then it returns, and the caller
    /// resets the core.
    ///
    /// ```
    /// use fewshot_protocol::device::{Handler, Port, Session};
    /// use fewshot_protocol::{frame, Reply, Request, MAX_FRAME};
    ///
    /// /// Answers every request with the same reply.
    /// struct Pong;
    /// impl Handler for Pong {
    ///     fn handle(&mut self, _: &Request) -> Reply { Reply::Done }
    /// }
    /// /// Bytes in from a buffer, bytes out to a vector.
    /// struct Line { rx: Vec<u8>, at: usize, tx: Vec<u8> }
    /// impl Port for Line {
    ///     fn read_byte(&mut self) -> u8 { self.at += 1; self.rx[self.at - 1] }
    ///     fn write_all(&mut self, bytes: &[u8]) { self.tx.extend_from_slice(bytes) }
    ///     fn flush(&mut self) {}
    /// }
    ///
    /// let mut rx = Vec::new();
    /// for r in [Request::ClearSamples, Request::Reboot] {
    ///     let mut buf = [0u8; MAX_FRAME];
    ///     rx.extend_from_slice(frame::encode(&r, &mut buf).unwrap());
    /// }
    /// let mut line = Line { rx, at: 0, tx: Vec::new() };
    /// Session::new().serve(&mut Pong, &mut line); // returns after the reboot's reply
    /// assert_eq!(line.at, line.rx.len());
    /// assert_eq!(line.tx.iter().filter(|&&b| b == 0).count(), 2); // two reply frames
    /// ```
    pub fn serve<H: Handler, P: Port>(&mut self, handler: &mut H, port: &mut P) {
        loop {
            let byte = port.read_byte();
            if let Some(answer) = self.feed(handler, byte) {
                port.write_all(answer.frame);
                if answer.reboot {
                    port.flush();
                    return;
                }
            }
        }
    }
}
