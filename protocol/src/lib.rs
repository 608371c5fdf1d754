//! The serial protocol between a host and a fewshot device.
//!
//! The host sends a [`Request`], the device answers one [`Reply`]; each message is encoded with
//! postcard, followed by its CRC-32 ([`frame::CHECK`]) and framed with COBS ([`frame`]: a zero
//! byte ends each frame), at most [`MAX_FRAME`] bytes. The wire format, byte by byte, for a
//! client in another language: `protocol/README.md`. No allocation: every variable part
//! is a `heapless` container of fixed capacity ([`MAX_INPUT`], [`MAX_CHUNK`], ...), so both
//! sides bound what they accept. The device side (`device::Device`, feature `device`) maps
//! requests to the runtime's `Learner`, support set, class bank (an enrollable head's classes
//! under the caller's labels), persisted state and signed model updates;
//! `device::Session` turns a byte stream into replies, so a firmware only moves bytes.
//!
//! ```
//! use fewshot_protocol::{frame, Input, Reply, Request, Target, MAX_FRAME};
//!
//! // The host: a sample of class 2, as one frame.
//! let x = Input::from_slice(&[0.5, -1.0, 2.0]).unwrap();
//! let request = Request::PushSample { target: Target::Class(2), x };
//! let mut buf = [0u8; MAX_FRAME];
//! let bytes = frame::encode(&request, &mut buf).unwrap();
//! assert_eq!(bytes.last(), Some(&0)); // the delimiter
//! assert!(!bytes[..bytes.len() - 1].contains(&0));
//!
//! // The device: bytes in, frames out, decoded.
//! let mut reader = frame::FrameReader::<MAX_FRAME>::new();
//! let mut got = None;
//! for &b in bytes.iter() {
//!     if let Some(frame::Frame::Whole(f)) = reader.push(b) {
//!         got = Some(frame::decode::<Request>(f).unwrap());
//!     }
//! }
//! assert_eq!(got, Some(request));
//!
//! // A corrupted frame is an error, not a panic.
//! let mut bad = [0x05, 0x01, 0xff, 0xff];
//! assert!(frame::decode::<Reply>(&mut bad).is_err());
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

#[cfg(feature = "device")]
pub mod device;
pub mod frame;
mod message;
mod pairing;

pub use frame::MAX_FRAME;
pub use message::*;

/// The protocol's version, in [`Info::protocol_version`]: raised when a message or the framing
/// changes incompatibly. Version 7 added the frame check ([`frame::CHECK`]) and let a runtime
/// error's text grow from 96 to [`MAX_MESSAGE`] bytes.
pub const PROTOCOL_VERSION: u16 = 7;

/// What encoding or decoding a frame can fail with.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The message does not fit the buffer.
    Encode {
        /// Bytes of the buffer.
        buffer: u16,
    },
    /// The frame is damaged: not COBS-encoded, shorter than its check, or its check
    /// ([`frame::CHECK`]) does not hold.
    Decode {
        /// Bytes of the frame.
        len: u16,
    },
    /// The frame arrived whole (its check holds) but is not a message of the expected type of
    /// this protocol version: an unknown variant, or fields of another version.
    Unknown {
        /// Bytes of the frame.
        len: u16,
        /// The message's variant index (its first varint), `u32::MAX` when unreadable.
        tag: u32,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Encode { buffer } => write!(f, "the message does not fit {buffer} bytes"),
            Error::Decode { len } => {
                write!(f, "a {len}-byte frame is damaged (COBS or its check)")
            }
            Error::Unknown { len, tag } => write!(
                f,
                "a {len}-byte frame arrived whole but is not a message of this version (variant {tag})"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
