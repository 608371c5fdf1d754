//! The A/B scheme's flash side, shared by saved adapted state ([`super::Slots`]) and the
//! model update's version floor and model slots ([`crate::update`]): a [`Region`] of two equal
//! slots (each whole erase blocks), aligned chunked reads and writes through a [`CHUNK`]-byte
//! stack buffer, and records whose CRC is written last so a torn record never checks out.

use crate::format::CRC;
use crate::Error;
use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind};

/// Bytes of the stack buffer reads and writes go through.
pub const CHUNK: usize = 256;

/// An [`Error::Flash`] for operation `op` from the driver's error.
pub(crate) fn flash_error(op: &'static str, e: impl NorFlashError) -> Error {
    let kind = match e.kind() {
        NorFlashErrorKind::NotAligned => "not aligned",
        NorFlashErrorKind::OutOfBounds => "out of bounds",
        _ => "device error",
    };
    Error::Flash { op, kind }
}

/// An [`Error::FlashLayout`].
pub(crate) fn layout(what: &'static str) -> Error {
    Error::FlashLayout { what }
}

/// Largest multiple of `unit` that fits [`CHUNK`] (0 when `unit` is 0 or larger than it).
const fn chunk_for(unit: usize) -> usize {
    if unit == 0 || unit > CHUNK {
        0
    } else {
        CHUNK / unit * unit
    }
}

/// `n` rounded up to a multiple of `unit` (`unit` > 0).
pub(crate) const fn round_up(n: usize, unit: usize) -> Option<usize> {
    match n.checked_add(unit - 1) {
        Some(v) => Some(v / unit * unit),
        None => None,
    }
}

/// `a` is newer than `b` in serial-number order (RFC 1982 style, so sequences may wrap).
fn newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// Of two slots' whole records (`a` in slot 0, `b` in slot 1), the newer by sequence number.
pub(crate) fn newest_of<T>(a: Option<T>, b: Option<T>, sequence: impl Fn(&T) -> u32) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if newer(sequence(&b), sequence(&a)) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// Where the next record goes and its sequence number, given the newest record's slot and
/// sequence: the other slot, so the newest stays whole until the next one is.
pub(crate) fn next_record(newest: Option<(u8, u32)>) -> (u8, u32) {
    match newest {
        Some((slot, sequence)) => (1 - slot.min(1), sequence.wrapping_add(1)),
        None => (0, 1),
    }
}

/// Two equal slots of flash, one after the other, each a whole number of erase blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Region {
    offset: u32,
    slot_size: u32,
}

impl Region {
    /// Two slots of `slot_size` bytes each, from byte `offset` of `flash`. Both must be
    /// multiples of the flash's `ERASE_SIZE`, `slot_size` a multiple of `READ_SIZE` and
    /// `WRITE_SIZE`, those at most [`CHUNK`], and the region inside the flash.
    pub(crate) fn new<F: NorFlash>(flash: &F, offset: u32, slot_size: u32) -> Result<Self, Error> {
        let (read, write, erase) = (F::READ_SIZE, F::WRITE_SIZE, F::ERASE_SIZE);
        if chunk_for(read) == 0 || chunk_for(write) == 0 {
            return Err(layout("READ_SIZE and WRITE_SIZE must be 1..=256 bytes"));
        }
        if erase == 0 || slot_size == 0 {
            return Err(layout("ERASE_SIZE and slot size must be non-zero"));
        }
        let size = slot_size as usize;
        if !(offset as usize).is_multiple_of(erase) || !size.is_multiple_of(erase) {
            return Err(layout(
                "offset and slot size must be multiples of ERASE_SIZE",
            ));
        }
        if !size.is_multiple_of(read)
            || !size.is_multiple_of(write)
            || !(offset as usize).is_multiple_of(read)
        {
            return Err(layout(
                "offset and slot size must be multiples of READ_SIZE and WRITE_SIZE",
            ));
        }
        let end = size
            .checked_mul(2)
            .and_then(|n| n.checked_add(offset as usize))
            .ok_or(layout("region beyond the flash"))?;
        if end > flash.capacity() || u32::try_from(end).is_err() {
            return Err(layout("region beyond the flash"));
        }
        Ok(Region { offset, slot_size })
    }

    /// Bytes of one slot.
    pub(crate) fn slot_size(&self) -> u32 {
        self.slot_size
    }

    /// Flash bytes `offset..end` the two slots occupy.
    pub(crate) fn span(&self) -> (u32, u32) {
        (
            self.offset,
            self.offset.saturating_add(self.slot_size.saturating_mul(2)),
        )
    }

    /// Flash address of slot `slot`'s first byte.
    pub(crate) fn slot_start(&self, slot: u8) -> u32 {
        self.offset + u32::from(slot.min(1)) * self.slot_size
    }

    /// Reads `len` bytes from `at` (relative to slot `slot`) in aligned chunks, passing each
    /// piece to `f` in order.
    pub(crate) fn read_range<F: NorFlash>(
        &self,
        flash: &mut F,
        slot: u8,
        at: usize,
        len: usize,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), Error> {
        let chunk = chunk_for(F::READ_SIZE);
        let end = at.checked_add(len).ok_or(layout("record"))?;
        if chunk == 0 || end > self.slot_size as usize {
            return Err(layout("record beyond its slot"));
        }
        let base = self.slot_start(slot) as usize;
        let mut buf = [0u8; CHUNK];
        let mut pos = at / chunk * chunk;
        while pos < end {
            // Whole READ_SIZE units, never past the slot's end (a multiple of READ_SIZE).
            let n = chunk.min(self.slot_size as usize - pos);
            let piece = buf.get_mut(..n).ok_or(layout("chunk"))?;
            let addr = u32::try_from(base + pos).map_err(|_| layout("region beyond the flash"))?;
            flash
                .read(addr, piece)
                .map_err(|e| flash_error("read", e))?;
            let from = at.max(pos) - pos;
            let to = end.min(pos + n) - pos;
            f(piece.get(from..to).ok_or(layout("chunk"))?);
            pos += n;
        }
        Ok(())
    }

    /// Reads `N` bytes at `at` of slot `slot`.
    pub(crate) fn read_array<F: NorFlash, const N: usize>(
        &self,
        flash: &mut F,
        slot: u8,
        at: usize,
    ) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        let mut filled = 0;
        self.read_range(flash, slot, at, N, |piece| {
            if let Some(dst) = out.get_mut(filled..filled + piece.len()) {
                dst.copy_from_slice(piece);
            }
            filled += piece.len();
        })?;
        Ok(out)
    }

    /// Where the CRC of a record with `data_len` bytes of data lies, when the whole record fits
    /// a slot.
    pub(crate) fn crc_at<F: NorFlash>(&self, data_len: usize) -> Option<usize> {
        let crc_at = round_up(data_len, F::WRITE_SIZE.max(1))?;
        let end = crc_at.checked_add(round_up(4, F::WRITE_SIZE.max(1))?)?;
        (end <= self.slot_size as usize).then_some(crc_at)
    }

    /// The CRC stored after a record of `data_len` bytes in slot `slot`.
    pub(crate) fn stored_crc<F: NorFlash>(
        &self,
        flash: &mut F,
        slot: u8,
        data_len: usize,
    ) -> Result<u32, Error> {
        let crc_at = self
            .crc_at::<F>(data_len)
            .ok_or(layout("record beyond its slot"))?;
        Ok(u32::from_le_bytes(self.read_array(flash, slot, crc_at)?))
    }

    /// Whether slot `slot` holds a whole record of `data_len` bytes: the CRC of its data
    /// matches the one stored after it. `false` when the record cannot fit the slot.
    pub(crate) fn record_whole<F: NorFlash>(
        &self,
        flash: &mut F,
        slot: u8,
        data_len: usize,
    ) -> Result<bool, Error> {
        if self.crc_at::<F>(data_len).is_none() {
            return Ok(false);
        }
        let mut digest = CRC.digest();
        self.read_range(flash, slot, 0, data_len, |piece| digest.update(piece))?;
        Ok(digest.finalize() == self.stored_crc(flash, slot, data_len)?)
    }

    /// Erases slot `slot`.
    pub(crate) fn erase_slot<F: NorFlash>(&self, flash: &mut F, slot: u8) -> Result<(), Error> {
        let start = self.slot_start(slot);
        let end = start
            .checked_add(self.slot_size)
            .ok_or(layout("region beyond the flash"))?;
        flash.erase(start, end).map_err(|e| flash_error("erase", e))
    }

    /// Writes `len` bytes, `byte(i)` for `i` in `at..at + len`, into erased slot `slot` from
    /// `at`, in chunks of at most [`CHUNK`]; `at` and `len` must be multiples of `WRITE_SIZE`.
    pub(crate) fn program<F: NorFlash>(
        &self,
        flash: &mut F,
        slot: u8,
        at: usize,
        len: usize,
        mut byte: impl FnMut(usize) -> u8,
    ) -> Result<(), Error> {
        let chunk = chunk_for(F::WRITE_SIZE);
        let end = at.checked_add(len).ok_or(layout("record"))?;
        if chunk == 0 || end > self.slot_size as usize {
            return Err(layout("record beyond its slot"));
        }
        let base = self.slot_start(slot) as usize;
        let mut buf = [0xffu8; CHUNK];
        let mut pos = at;
        while pos < end {
            let n = chunk.min(end - pos);
            let piece = buf.get_mut(..n).ok_or(layout("chunk"))?;
            for (k, b) in piece.iter_mut().enumerate() {
                *b = byte(pos + k);
            }
            let addr = u32::try_from(base + pos).map_err(|_| layout("region beyond the flash"))?;
            flash
                .write(addr, piece)
                .map_err(|e| flash_error("write", e))?;
            pos += n;
        }
        Ok(())
    }

    /// Erases slot `slot` and writes a record of `data_len` bytes (`byte(i)`), padded with
    /// 0xff to `WRITE_SIZE`, then its CRC-32: last, so until the CRC is written the record is
    /// not whole. Err([`Error::Capacity`]) when it does not fit the slot.
    pub(crate) fn write_record<F: NorFlash>(
        &self,
        flash: &mut F,
        slot: u8,
        data_len: usize,
        byte: impl Fn(usize) -> u8,
    ) -> Result<(), Error> {
        let crc_at = self.crc_at::<F>(data_len).ok_or(Error::Capacity {
            what: "flash slot",
            needed: record_len::<F>(data_len).unwrap_or(usize::MAX),
            available: self.slot_size as usize,
        })?;
        let mut digest = CRC.digest();
        let mut buf = [0u8; 64];
        let mut pos = 0;
        while pos < data_len {
            let n = buf.len().min(data_len - pos);
            let piece = buf.get_mut(..n).ok_or(layout("chunk"))?;
            for (k, b) in piece.iter_mut().enumerate() {
                *b = byte(pos + k);
            }
            digest.update(piece);
            pos += n;
        }
        let crc = digest.finalize().to_le_bytes();
        self.erase_slot(flash, slot)?;
        let data = |i: usize| if i < data_len { byte(i) } else { 0xff };
        self.program(flash, slot, 0, crc_at, data)?;
        let tail = round_up(4, F::WRITE_SIZE.max(1)).ok_or(layout("record"))?;
        self.program(flash, slot, crc_at, tail, |i| {
            crc.get(i - crc_at).copied().unwrap_or(0xff)
        })
    }
}

/// Flash bytes a record of `data_len` bytes of data takes (data and CRC, each padded to
/// `WRITE_SIZE`).
pub(crate) const fn record_len<F: NorFlash>(data_len: usize) -> Option<usize> {
    let unit = if F::WRITE_SIZE > 1 { F::WRITE_SIZE } else { 1 };
    match (round_up(data_len, unit), round_up(4, unit)) {
        (Some(data), Some(crc)) => data.checked_add(crc),
        _ => None,
    }
}
