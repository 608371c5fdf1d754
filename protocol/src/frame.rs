//! Frames: a message is postcard-encoded, followed by its check (CRC-32 of those bytes,
//! little-endian), COBS-encoded (no zero byte inside) and ended by one zero byte, so a receiver
//! finds the frames in any byte stream, a damaged frame is told from a message of another
//! version, and a damaged frame costs only itself.

use crate::Error;
use postcard::ser_flavors::{crc::CrcModifier, Cobs, Slice};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The longest frame either side sends or accepts, delimiter included.
pub const MAX_FRAME: usize = 512;

/// The frame check: CRC-32/ISO-HDLC (zlib's `crc32`, Ethernet's) of the message's postcard
/// bytes, sent after them as 4 little-endian bytes, inside the COBS encoding.
pub const CHECK: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Bytes of the check.
const CHECK_LEN: usize = 4;

/// `message` as one frame (ending in its zero byte) in `buf`; the frame's bytes.
pub fn encode<'b, T: Serialize>(message: &T, buf: &'b mut [u8]) -> Result<&'b [u8], Error> {
    let buffer = buf_len(buf.len());
    let fail = |_| Error::Encode { buffer };
    let cobs = Cobs::try_new(Slice::new(buf)).map_err(fail)?;
    let frame = postcard::serialize_with_flavor(message, CrcModifier::new(cobs, CHECK.digest()))
        .map_err(fail)?;
    Ok(frame)
}

/// Decodes one frame's bytes (COBS-encoded, with or without the delimiter) in place. A frame
/// that is not COBS, is too short for its check, or whose check fails is [`Error::Decode`];
/// one that arrived whole but is not a `T` (another version's message, or bytes after it) is
/// [`Error::Unknown`].
pub fn decode<T: DeserializeOwned>(frame: &mut [u8]) -> Result<T, Error> {
    let len = buf_len(frame.len());
    let bad = Error::Decode { len };
    let n = cobs::decode_in_place(frame).map_err(|_| bad)?;
    let bytes = frame.get(..n).ok_or(bad)?;
    let (body, check) = bytes
        .split_at_checked(n.checked_sub(CHECK_LEN).ok_or(bad)?)
        .ok_or(bad)?;
    if CHECK.checksum(body).to_le_bytes() != check {
        return Err(bad);
    }
    match postcard::take_from_bytes(body) {
        Ok((message, [])) => Ok(message),
        _ => Err(Error::Unknown {
            len,
            tag: postcard::take_from_bytes::<u32>(body).map_or(u32::MAX, |(t, _)| t),
        }),
    }
}

/// The one frame of a protocol before 7 that this version answers, with an unchecked
/// [`crate::Reply::Info`] ([`encode_unchecked`]): that protocol's `Info` request (COBS of its one
/// byte, variant 0), which a host of protocol 6 or older sends first, so that it names this
/// device's version instead of failing to decode.
pub const LEGACY_INFO: [u8; 2] = [0x01, 0x01];

/// `message` as a frame of a protocol before 7, without the check: the `Info` a device answers
/// to [`LEGACY_INFO`].
pub fn encode_unchecked<'b, T: Serialize>(
    message: &T,
    buf: &'b mut [u8],
) -> Result<&'b [u8], Error> {
    let buffer = buf_len(buf.len());
    let frame = postcard::to_slice_cobs(message, buf).map_err(|_| Error::Encode { buffer })?;
    Ok(frame)
}

/// Decodes a frame of a protocol before 7 (no check) in place, for a host that meets an older
/// device: its `BadFrame` reply to a checked request comes this way.
pub fn decode_unchecked<T: DeserializeOwned>(frame: &mut [u8]) -> Result<T, Error> {
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
/// moves) and without its check (which versions before 7 did not send), so a host can name the
/// version of a device whose `Info` it cannot decode. `None` for any other frame. Decodes in
/// place, as [`decode`].
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
