//! The header's decoder: postcard's encoding read by hand, without serde's visitors.
//!
//! The writer encodes the header and its extension sections with postcard (serde's derives on
//! the [`spec`](super::spec) types); the loader reads the same bytes here. Each type's
//! [`Decode`] reads its fields in declaration order, as postcard writes them:
//!
//! | value | bytes |
//! |---|---|
//! | `u8`, `i8` | the byte |
//! | `u16`, `u32`, a length, an enum's variant index | LEB128 varint (at most 3 / 5 bytes; the last byte's unused bits zero) |
//! | `f32` | 4 bytes, little-endian |
//! | `bool`, `Option` | one byte, 0 or 1 (then the value) |
//! | `&str`, `heapless::Vec` | the length, then the UTF-8 bytes or the elements |
//! | struct, array | the fields or elements in order, nothing else |
//!
//! It accepts exactly what postcard's deserializer accepts for these types, and decodes the same
//! values (the crate's tests compare the two on every section of the writer's models and on
//! mutations of them). A failure is [`Error::HeaderDecode`]: inside, decoding works on `Option`,
//! so a failure costs one branch and no error value is built or copied until [`take`] returns.
//! The device's build links no serde deserializer and no postcard: the dense-only loader is
//! 1.9 KB smaller at opt-level "z" than with postcard's (`cargo xtask size-table`).
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use fewshot_runtime::{Activation, Model};
//! use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
//!
//! // The loader decodes the header the writer encoded.
//! let blob = ModelDef::new("decoded", 3)
//!     .trunk(Dense::zeros(3, 4, Activation::Tanh))
//!     .head(HeadDef::regression(7, "y", vec![Dense::zeros(4, 2, Activation::Identity)]))
//!     .to_aligned_bytes()
//!     .unwrap();
//! let model = Model::from_bytes(blob.as_bytes()).unwrap();
//! assert_eq!((model.name(), model.trunk()[0].activation), ("decoded", Activation::Tanh));
//! assert_eq!(model.heads()[0].id, 7);
//! # }
//! ```

// Every type's decoder is compiled in every build; one is linked only where a section calls
// it (a build without `conv` takes no stem list, one without `audio-frontend` no front-end).
mod spec;
mod stem;

use crate::Error;
use heapless::Vec;

/// The bytes still to decode.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

/// A value of the header, read as postcard encodes it.
pub(crate) trait Decode<'a>: Sized {
    /// Reads one value from the front of `r`; `None` when the bytes are not one.
    fn decode(r: &mut Reader<'a>) -> Option<Self>;

    /// Reads one value from the front of `r` into `out` (left partly written on `None`).
    /// Structs and vectors write their fields and elements in place, so a large value (the
    /// header, the extension) is not built on the stack and then moved: the loader's stack
    /// stays near one model's size.
    fn decode_into(r: &mut Reader<'a>, out: &mut Self) -> Option<()> {
        *out = Self::decode(r)?;
        Some(())
    }
}

/// Decodes a `T` from the front of `bytes`; returns it and the bytes after it.
pub(crate) fn take<'a, T: Decode<'a>>(bytes: &'a [u8]) -> Result<(T, &'a [u8]), Error> {
    let mut r = Reader { rest: bytes };
    let value = T::decode(&mut r).ok_or(Error::HeaderDecode)?;
    Ok((value, r.rest))
}

/// Decodes a `T` from the front of `bytes` into `out` ([`Decode::decode_into`]); returns the
/// bytes after it.
pub(crate) fn take_into<'a, T: Decode<'a>>(
    bytes: &'a [u8],
    out: &mut T,
) -> Result<&'a [u8], Error> {
    let mut r = Reader { rest: bytes };
    T::decode_into(&mut r, out).ok_or(Error::HeaderDecode)?;
    Ok(r.rest)
}

/// Bytes of the longest varint of a `bits`-bit integer.
const fn varint_max(bits: u32) -> u32 {
    bits.div_ceil(7)
}

/// The largest last byte of a longest varint of a `bits`-bit integer.
const fn last_byte_max(bits: u32) -> u8 {
    (1 << (bits % 7)) - 1
}

impl<'a> Reader<'a> {
    /// The next byte.
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(b)
    }

    /// The next `n` bytes.
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(taken)
    }

    /// A varint of a `bits`-bit integer (postcard's rules: at most [`varint_max`] bytes, the
    /// last of the longest form at most [`last_byte_max`]). Not inlined: at opt-level 3 its
    /// copies at every field made the loader 4.8 KB larger.
    #[inline(never)]
    fn varint(&mut self, bits: u32) -> Option<u64> {
        let max = varint_max(bits);
        let mut value = 0u64;
        for i in 0..max {
            let b = self.byte()?;
            value |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return (i + 1 < max || b <= last_byte_max(bits)).then_some(value);
            }
        }
        None
    }

    /// A sequence's or a string's length.
    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.varint(usize::BITS)?).ok()
    }

    /// An enum's variant index.
    pub(crate) fn variant(&mut self) -> Option<u32> {
        u32::decode(self)
    }
}

impl Decode<'_> for u8 {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        r.byte()
    }
}

impl Decode<'_> for i8 {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        r.byte().map(|b| b as i8)
    }
}

impl Decode<'_> for u16 {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        r.varint(u16::BITS).map(|v| v as u16)
    }
}

impl Decode<'_> for u32 {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        r.varint(u32::BITS).map(|v| v as u32)
    }
}

impl Decode<'_> for f32 {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        let (bytes, rest) = r.rest.split_first_chunk::<4>()?;
        r.rest = rest;
        Some(f32::from_le_bytes(*bytes))
    }
}

impl Decode<'_> for bool {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        match r.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

impl<'a> Decode<'a> for &'a str {
    fn decode(r: &mut Reader<'a>) -> Option<Self> {
        let n = r.len()?;
        core::str::from_utf8(r.bytes(n)?).ok()
    }
}

impl<'a, T: Decode<'a>> Decode<'a> for Option<T> {
    fn decode(r: &mut Reader<'a>) -> Option<Self> {
        match r.byte()? {
            0 => Some(None),
            1 => T::decode(r).map(Some),
            _ => None,
        }
    }
}

impl<'a, T: Decode<'a>, const N: usize> Decode<'a> for Vec<T, N> {
    fn decode(r: &mut Reader<'a>) -> Option<Self> {
        let mut items = Vec::new();
        Self::decode_into(r, &mut items)?;
        Some(items)
    }

    fn decode_into(r: &mut Reader<'a>, out: &mut Self) -> Option<()> {
        let n = r.len()?;
        if n > N {
            return None;
        }
        out.clear();
        for _ in 0..n {
            out.push(T::decode(r)?).ok()?;
        }
        Some(())
    }
}

impl<'a, T: Decode<'a>> Decode<'a> for [T; 2] {
    fn decode(r: &mut Reader<'a>) -> Option<Self> {
        Some([T::decode(r)?, T::decode(r)?])
    }
}

/// Implements [`Decode`] for a struct: its fields listed in declaration order (the order
/// postcard encodes them; the tests compare with postcard's own decoding).
macro_rules! decode_struct {
    ($ty:ident $(<$lt:lifetime>)? { $($field:ident),+ $(,)? }) => {
        impl<'a> $crate::format::decode::Decode<'a> for $ty $(<$lt>)? {
            fn decode(r: &mut $crate::format::decode::Reader<'a>) -> Option<Self> {
                Some($ty { $($field: $crate::format::decode::Decode::decode(r)?),+ })
            }

            fn decode_into(
                r: &mut $crate::format::decode::Reader<'a>,
                out: &mut Self,
            ) -> Option<()> {
                $($crate::format::decode::Decode::decode_into(r, &mut out.$field)?;)+
                Some(())
            }
        }
    };
}
pub(crate) use decode_struct;

// The crate denies unwrap and panic in its code; a test's failures are its panics.
#[cfg(all(test, feature = "std"))]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests;
