//! The runtime's errors, compactly for the wire.

use crate::{RuntimeError, MAX_MESSAGE, MAX_NAME, MAX_NUMBERS};
use core::fmt::Write;
use fewshot_runtime::Error;
use heapless::{String, Vec};

/// `e` as a [`RuntimeError`]: the variant's name, the numbers it carries in order (read from
/// its `Debug` form, so every variant, present or future, keeps its numbers) and its text.
///
/// ```
/// use fewshot_protocol::device::runtime_error;
/// let e = runtime_error(&fewshot_runtime::Error::Rollback { offered: 1, floor: 2 });
/// assert_eq!(e.kind.as_str(), "Rollback");
/// assert_eq!(e.numbers.as_slice(), &[1, 2]);
/// ```
pub fn runtime_error(e: &Error) -> RuntimeError {
    let mut debug = Cut::<MAX_MESSAGE>(String::new());
    let _ = write!(debug, "{e:?}");
    let mut message = Cut::<MAX_MESSAGE>(String::new());
    let _ = write!(message, "{e}");
    let variant = debug
        .0
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("");
    let mut kind = Cut::<MAX_NAME>(String::new());
    let _ = kind.write_str(variant);
    RuntimeError {
        kind: kind.0,
        numbers: numbers(&debug.0),
        message: message.0,
    }
}

/// The unsigned integers that follow `: ` in a `Debug` form, in order.
fn numbers(debug: &str) -> Vec<u32, MAX_NUMBERS> {
    let mut out = Vec::new();
    for field in debug.split(": ").skip(1) {
        let digits = field
            .find(|c: char| !c.is_ascii_digit())
            .map_or(field, |end| field.get(..end).unwrap_or(""));
        if let Ok(n) = digits.parse::<u64>() {
            if out.push(u32::try_from(n).unwrap_or(u32::MAX)).is_err() {
                break;
            }
        }
    }
    out
}

/// A string that keeps what fits and drops the rest (at a character boundary).
struct Cut<const N: usize>(String<N>);

impl<const N: usize> Write for Cut<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}
