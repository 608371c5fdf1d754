//! COBS frames: a message is postcard-encoded, COBS-encoded (no zero byte inside) and ended by
//! one zero byte, so a receiver finds the frames in any byte stream and a corrupted frame costs
//! only itself.

use crate::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The longest frame either side sends or accepts, delimiter included.
pub const MAX_FRAME: usize = 512;

/// `message` as one frame (ending in its zero byte) in `buf`; the frame's bytes.
pub fn encode<'b, T: Serialize>(message: &T, buf: &'b mut [u8]) -> Result<&'b [u8], Error> {
    let buffer = buf_len(buf.len());
    let frame = postcard::to_slice_cobs(message, buf).map_err(|_| Error::Encode { buffer })?;
    Ok(frame)
}

/// Decodes one frame's bytes (COBS-encoded, with or without the delimiter) in place. The
/// message must take the whole frame: bytes after it (a sender's bug, or a corruption that
/// kept the prefix a valid message) make the frame `Decode`, as postcard alone would accept it.
pub fn decode<T: DeserializeOwned>(frame: &mut [u8]) -> Result<T, Error> {
    let bad = Error::Decode {
        len: buf_len(frame.len()),
    };
    let n = cobs::decode_in_place(frame).map_err(|_| bad)?;
    match postcard::take_from_bytes(frame.get(..n).ok_or(bad)?) {
        Ok((message, [])) => Ok(message),
        _ => Err(bad),
    }
}

/// The protocol version an [`crate::Reply::Info`] frame carries, read from its first two
/// fields alone (the reply's variant and [`crate::Info::protocol_version`], which no version
/// moves), so a host can name the version of a device whose `Info` it cannot decode. `None`
/// for any other frame. Decodes in place, as [`decode`].
pub fn info_version(frame: &mut [u8]) -> Option<u16> {
    match postcard::take_from_bytes_cobs::<(u32, u16)>(frame) {
        Ok(((0, version), _)) => Some(version),
        _ => None,
    }
}

fn buf_len(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// What [`FrameReader::push`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole frame (COBS-encoded, delimiter excluded): decode it with [`decode`].
    Whole(&'a mut [u8]),
    /// A frame longer than `N` ended: its bytes were dropped.
    TooLong,
}

/// Collects a byte stream into frames of at most `N` bytes (delimiter excluded). Empty frames
/// (two delimiters in a row) are skipped: a sender may start with a delimiter to end any
/// partial frame left on the line.
#[derive(Debug, Clone)]
pub struct FrameReader<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflow: bool,
}

impl<const N: usize> Default for FrameReader<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FrameReader<N> {
    /// An empty reader.
    pub const fn new() -> Self {
        FrameReader {
            buf: [0; N],
            len: 0,
            overflow: false,
        }
    }

    /// Adds one byte; a frame when it ends one.
    pub fn push(&mut self, byte: u8) -> Option<Frame<'_>> {
        if byte != 0 {
            match self.buf.get_mut(self.len) {
                Some(slot) if !self.overflow => {
                    *slot = byte;
                    self.len += 1;
                }
                _ => self.overflow = true,
            }
            return None;
        }
        let (len, overflow) = (self.len, self.overflow);
        self.len = 0;
        self.overflow = false;
        if overflow {
            return Some(Frame::TooLong);
        }
        match self.buf.get_mut(..len) {
            Some(frame) if !frame.is_empty() => Some(Frame::Whole(frame)),
            _ => None,
        }
    }
}
