//! Adapted state that survives a power cut: each head's [`AdaptState`] saved to and restored
//! from NOR flash through the ecosystem's [`NorFlash`] trait (`embedded-storage` 0.3).
//!
//! A [`Slots`] is a flash region of two equal slots (each a whole number of erase blocks),
//! written alternately. A save erases the slot that does **not** hold the newest valid record,
//! writes the new record into it, the record's CRC last, then reads it back. The old record
//! stays untouched until the new one is complete, so a power cut at any instant leaves at least
//! one of them whole; on restore the valid record with the highest sequence number wins, and a
//! torn one fails its CRC and is ignored.
//!
//! A record (all little-endian):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | [`RECORD_MAGIC`] |
//! | 4 | 2 | record version ([`RECORD_VERSION`]) |
//! | 6 | 2 | head index |
//! | 8 | 4 | sequence number (1 for the first save; serial-number order, so it may wrap) |
//! | 12 | 4 | model id ([`Model::model_id`]) |
//! | 16 | 4 | model CRC ([`Model::crc`]) |
//! | 20 | 4 | parameter count `n` |
//! | 24 | 4n | the adapted parameters, f32 ([`AdaptState::params`] order) |
//! | `c` | 4 | CRC-32 (ISO-HDLC) of bytes `0..24 + 4n`, at `c` = `24 + 4n` rounded up to `WRITE_SIZE` |
//!
//! The newest whole record decides: when it was saved for another model (id or CRC), another
//! head or another parameter count, restore refuses it ([`Error::SavedStateMismatch`]) and
//! leaves the state as it was (an older record for this model, if any, is not used: it is
//! stale). Writes go out in chunks
//! from a 256-byte stack buffer, aligned to the flash's `WRITE_SIZE`; nothing is allocated.
//! A false CRC match on a torn record has probability 2^-32 per restore.
//!
//! The flash side of this scheme (slot layout, chunked reads and writes, the CRC written last)
//! also keeps the version floor of signed model updates ([`crate::update`]).
//!
//! For several heads, give each its own [`Slots`] ([`Slots::for_head`] lays them out one after
//! the other).
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
//! use fewshot_runtime::persist::Slots;
//! use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
//! use fewshot_runtime::{Activation, AdaptScope, AdaptState, Model};
//!
//! /// 8 KiB of RAM standing in for NOR flash (4 KiB erase blocks, 4-byte writes).
//! struct Ram([u8; 8192]);
//! impl ErrorType for Ram { type Error = NorFlashErrorKind; }
//! impl ReadNorFlash for Ram {
//!     const READ_SIZE: usize = 1;
//!     fn read(&mut self, at: u32, out: &mut [u8]) -> Result<(), Self::Error> {
//!         let at = at as usize;
//!         out.copy_from_slice(self.0.get(at..at + out.len()).ok_or(NorFlashErrorKind::OutOfBounds)?);
//!         Ok(())
//!     }
//!     fn capacity(&self) -> usize { self.0.len() }
//! }
//! impl NorFlash for Ram {
//!     const WRITE_SIZE: usize = 4;
//!     const ERASE_SIZE: usize = 4096;
//!     fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
//!         self.0[from as usize..to as usize].fill(0xff);
//!         Ok(())
//!     }
//!     fn write(&mut self, at: u32, data: &[u8]) -> Result<(), Self::Error> {
//!         for (f, d) in self.0[at as usize..].iter_mut().zip(data) { *f &= *d; }
//!         Ok(())
//!     }
//! }
//!
//! let head = HeadDef::regression(0, "y", vec![Dense::new(1, 1, Activation::Identity, vec![0.5], vec![0.0])])
//!     .with_adapt(AdaptDef::new(AdaptScope::HeadOnly, 5, RateDef::Scalar(0.1), 10.0));
//! let blob = ModelDef::new("tiny", 1).head(head).to_aligned_bytes().unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//!
//! let mut flash = Ram([0xff; 8192]);
//! let slots = Slots::new(&flash, 0, 4096).unwrap();
//! let mut state: AdaptState<4> = AdaptState::new(&model, 0).unwrap();
//! state.set_params(&model, &[2.0, 1.0]).unwrap(); // as if adapted
//! slots.save(&mut flash, &model, &state).unwrap();
//!
//! // After a reset: a fresh state, restored from flash.
//! let mut restored: AdaptState<4> = AdaptState::new(&model, 0).unwrap();
//! slots.restore(&mut flash, &model, &mut restored).unwrap();
//! assert_eq!(restored.params(), &[2.0, 1.0]);
//! # }
//! ```

/// The flash traits (re-exported from `embedded-storage` 0.3, the version this runtime uses).
pub use embedded_storage::nor_flash;

mod bank;
pub(crate) mod region;

pub use bank::BANK_MAGIC;
pub use region::CHUNK;

use crate::format::CRC;
use crate::{AdaptState, Error, Model};
use embedded_storage::nor_flash::NorFlash;
use region::{layout, Region};

/// The first four bytes of every saved-state record.
pub const RECORD_MAGIC: [u8; 4] = *b"FSAS";
/// The record layout version this runtime writes and reads.
pub const RECORD_VERSION: u16 = 1;
/// Bytes of a record's fixed header (before the parameters).
pub const HEADER_LEN: usize = 24;

/// What a valid record says about itself (its parameters are not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RecordInfo {
    /// Slot it lies in (0 or 1).
    pub slot: u8,
    /// Sequence number.
    pub sequence: u32,
    /// Head index.
    pub head: u16,
    /// Model id it was saved for.
    pub model_id: u32,
    /// Model CRC it was saved for.
    pub model_crc: u32,
    /// Parameter count.
    pub params: u32,
}

/// Bytes of a record's data (header and parameters) for `params` parameters.
const fn data_len(params: usize) -> Option<usize> {
    match params.checked_mul(4) {
        Some(n) => n.checked_add(HEADER_LEN),
        None => None,
    }
}

/// Two slots of NOR flash holding one head's adapted state; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Slots {
    region: Region,
}

impl Slots {
    /// Two slots of `slot_size` bytes each, from byte `offset` of `flash`. Both must be
    /// multiples of the flash's `ERASE_SIZE`, `slot_size` a multiple of `READ_SIZE` and
    /// `WRITE_SIZE`, those at most [`CHUNK`], and the region inside the flash.
    pub fn new<F: NorFlash>(flash: &F, offset: u32, slot_size: u32) -> Result<Self, Error> {
        Ok(Slots {
            region: Region::new(flash, offset, slot_size)?,
        })
    }

    /// The slots of head number `head` when every head gets two slots of `slot_size`, one head
    /// after the other from `offset`.
    pub fn for_head<F: NorFlash>(
        flash: &F,
        offset: u32,
        slot_size: u32,
        head: usize,
    ) -> Result<Self, Error> {
        let at = u32::try_from(head)
            .ok()
            .and_then(|h| {
                h.checked_mul(slot_size)?
                    .checked_mul(2)?
                    .checked_add(offset)
            })
            .ok_or(layout("region beyond the flash"))?;
        Slots::new(flash, at, slot_size)
    }

    /// Flash bytes the two slots occupy.
    pub fn region_len(&self) -> u32 {
        self.region.slot_size().saturating_mul(2)
    }

    /// Flash bytes a record of `params` parameters takes on a flash of this `WRITE_SIZE`.
    pub const fn record_len<F: NorFlash>(params: usize) -> Option<usize> {
        match data_len(params) {
            Some(n) => region::record_len::<F>(n),
            None => None,
        }
    }

    /// Bytes of each of two slots that hold a record of `floats` values (an adapted state's
    /// parameters, `PARAMS`, or a class bank's floats, `BANK`) on a flash of type `F`: the
    /// record rounded up to whole erase blocks, the `slot_size` [`Slots::new`] takes. `None`
    /// when a size overflows `u32`. `trainer inspect --rust` writes `state_slot` and
    /// `bank_slot` from it, for a model's sizes.
    pub const fn slot_len<F: NorFlash>(floats: usize) -> Option<u32> {
        let erase = if F::ERASE_SIZE > 1 { F::ERASE_SIZE } else { 1 };
        let Some(record) = Self::record_len::<F>(floats) else {
            return None;
        };
        match region::round_up(record, erase) {
            Some(n) if n <= u32::MAX as usize => Some(n as u32),
            _ => None,
        }
    }

    /// The header of slot `slot`'s record that starts with `magic` (an adapted state's or a class
    /// bank's) when the record is whole (magic, version, size and
    /// CRC check out); `None` for an erased, torn or foreign slot.
    fn probe_kind<F: NorFlash>(
        &self,
        flash: &mut F,
        slot: u8,
        magic: [u8; 4],
    ) -> Result<Option<RecordInfo>, Error> {
        let header: [u8; HEADER_LEN] = self.region.read_array(flash, slot, 0)?;
        let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        if header[..4] != magic || u16_at(4) != RECORD_VERSION {
            return Ok(None);
        }
        let info = RecordInfo {
            slot,
            sequence: u32_at(8),
            head: u16_at(6),
            model_id: u32_at(12),
            model_crc: u32_at(16),
            params: u32_at(20),
        };
        let Some(len) = data_len(info.params as usize) else {
            return Ok(None);
        };
        Ok(self.region.record_whole(flash, slot, len)?.then_some(info))
    }

    /// The newest whole record in the two slots, if any.
    pub fn newest<F: NorFlash>(&self, flash: &mut F) -> Result<Option<RecordInfo>, Error> {
        self.newest_kind(flash, RECORD_MAGIC)
    }

    /// The newest whole record that starts with `magic`.
    fn newest_kind<F: NorFlash>(
        &self,
        flash: &mut F,
        magic: [u8; 4],
    ) -> Result<Option<RecordInfo>, Error> {
        let a = self.probe_kind(flash, 0, magic)?;
        let b = self.probe_kind(flash, 1, magic)?;
        Ok(region::newest_of(a, b, |r| r.sequence))
    }

    /// Saves `state` (adapted from `model`) into the slot that does not hold the newest record,
    /// then reads it back. Returns what was written. A state with a non-finite parameter is
    /// refused before anything is erased. On any error the newest record from before is still
    /// whole (a power cut included).
    pub fn save<F: NorFlash, const P: usize>(
        &self,
        flash: &mut F,
        model: &Model<'_>,
        state: &AdaptState<P>,
    ) -> Result<RecordInfo, Error> {
        // The state must belong to this model (its id and CRC go into the record), and only
        // finite values are worth keeping: a bad state never replaces the last good record.
        state.network(model)?;
        self.save_values(flash, model, state.head(), RECORD_MAGIC, state.params())
    }

    /// Saves `params` as a record starting with `magic` for head `head` of `model`; see
    /// [`Slots::save`].
    fn save_values<F: NorFlash>(
        &self,
        flash: &mut F,
        model: &Model<'_>,
        head: usize,
        magic: [u8; 4],
        params: &[f32],
    ) -> Result<RecordInfo, Error> {
        if let Some(sample) = params.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "adapted parameter",
                sample,
            });
        }
        let count = u32::try_from(params.len()).map_err(|_| layout("record"))?;
        let head = u16::try_from(head).map_err(|_| layout("record"))?;
        let len = data_len(params.len()).ok_or(layout("record"))?;
        let newest = self
            .newest_kind(flash, magic)?
            .map(|r| (r.slot, r.sequence));
        let (slot, sequence) = region::next_record(newest);
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&magic);
        header[4..6].copy_from_slice(&RECORD_VERSION.to_le_bytes());
        header[6..8].copy_from_slice(&head.to_le_bytes());
        header[8..12].copy_from_slice(&sequence.to_le_bytes());
        header[12..16].copy_from_slice(&model.model_id().to_le_bytes());
        header[16..20].copy_from_slice(&model.crc().to_le_bytes());
        header[20..24].copy_from_slice(&count.to_le_bytes());
        // Byte `i` of the record's data (header, then parameters).
        let byte = |i: usize| -> u8 {
            match header.get(i) {
                Some(b) => *b,
                None => {
                    let p = i - HEADER_LEN;
                    params.get(p / 4).map_or(0xff, |v| v.to_le_bytes()[p % 4])
                }
            }
        };
        self.region.write_record(flash, slot, len, byte)?;

        let info = RecordInfo {
            slot,
            sequence,
            head,
            model_id: model.model_id(),
            model_crc: model.crc(),
            params: count,
        };
        match self.probe_kind(flash, slot, magic)? {
            Some(read) if read == info => Ok(info),
            _ => Err(Error::Flash {
                op: "verify",
                kind: "record reads back wrong",
            }),
        }
    }

    /// The newest record, checked against `model` and `head` (model id and CRC, head, parameter
    /// count), with every parameter finite (streamed from flash, nothing stored).
    fn checked_newest<F: NorFlash>(
        &self,
        flash: &mut F,
        model: &Model<'_>,
        head: usize,
    ) -> Result<RecordInfo, Error> {
        let count = model.adapted_param_count(head)?;
        self.checked_newest_kind(flash, model, head, RECORD_MAGIC, count)
    }

    /// [`Slots::checked_newest`] for records that start with `magic` and hold `count` values.
    fn checked_newest_kind<F: NorFlash>(
        &self,
        flash: &mut F,
        model: &Model<'_>,
        head: usize,
        magic: [u8; 4],
        count: usize,
    ) -> Result<RecordInfo, Error> {
        let info = self.newest_kind(flash, magic)?.ok_or(Error::NoSavedState)?;
        if info.model_id != model.model_id() || info.model_crc != model.crc() {
            return Err(Error::SavedStateMismatch { what: "model" });
        }
        if usize::from(info.head) != head {
            return Err(Error::SavedStateMismatch { what: "head" });
        }
        if info.params as usize != count {
            return Err(Error::SavedStateMismatch {
                what: "parameter count",
            });
        }
        // Finiteness, and the CRC once more over the very bytes looked at (the flash may have
        // changed since `newest` checked it).
        let mut bad = None;
        let mut digest = CRC.digest();
        let header: [u8; HEADER_LEN] = self.region.read_array(flash, info.slot, 0)?;
        digest.update(&header);
        self.read_params(flash, &info, |i, v| {
            digest.update(&v.to_le_bytes());
            if bad.is_none() && !v.is_finite() {
                bad = Some(i);
            }
        })?;
        if digest.finalize() != self.stored_crc(flash, &info)? {
            return Err(Error::NoSavedState);
        }
        match bad {
            Some(sample) => Err(Error::NonFinite {
                what: "saved parameter",
                sample,
            }),
            None => Ok(info),
        }
    }

    /// The CRC stored at the end of record `info`.
    fn stored_crc<F: NorFlash>(&self, flash: &mut F, info: &RecordInfo) -> Result<u32, Error> {
        let len = data_len(info.params as usize).ok_or(layout("record beyond its slot"))?;
        self.region.stored_crc(flash, info.slot, len)
    }

    /// Streams the parameters of record `info` to `f(index, value)`.
    fn read_params<F: NorFlash>(
        &self,
        flash: &mut F,
        info: &RecordInfo,
        mut f: impl FnMut(usize, f32),
    ) -> Result<(), Error> {
        let n = info.params as usize;
        let mut filled = 0usize; // bytes
        let mut word = [0u8; 4];
        let len = n.checked_mul(4).ok_or(layout("record"))?;
        self.region
            .read_range(flash, info.slot, HEADER_LEN, len, |piece| {
                for b in piece {
                    word[filled % 4] = *b;
                    filled += 1;
                    if filled.is_multiple_of(4) {
                        f(filled / 4 - 1, f32::from_le_bytes(word));
                    }
                }
            })
    }

    /// Copies record `info`'s parameters into `out` (its length) and checks what was copied
    /// against the record's CRC once more, so a flash that changed since the record was checked
    /// cannot slip other values in. Err([`Error::NoSavedState`]) on a mismatch.
    fn copy_params<F: NorFlash>(
        &self,
        flash: &mut F,
        info: &RecordInfo,
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.read_params(flash, info, |i, v| {
            if let Some(o) = out.get_mut(i) {
                *o = v;
            }
        })?;
        let mut digest = CRC.digest();
        let header: [u8; HEADER_LEN] = self.region.read_array(flash, info.slot, 0)?;
        digest.update(&header);
        for v in out.iter() {
            digest.update(&v.to_le_bytes());
        }
        if digest.finalize() != self.stored_crc(flash, info)? || out.iter().any(|v| !v.is_finite())
        {
            return Err(Error::NoSavedState);
        }
        Ok(())
    }

    /// Reads the newest record's parameters into `buf` after checking that it was saved for
    /// this `model` and head `head` and that every value is finite; returns the record and the
    /// parameter count. Nothing but `buf` is written. (To put them into an [`AdaptState`],
    /// [`Slots::restore`] needs no buffer.)
    pub fn load<F: NorFlash>(
        &self,
        flash: &mut F,
        model: &Model<'_>,
        head: usize,
        buf: &mut [f32],
    ) -> Result<(RecordInfo, usize), Error> {
        let info = self.checked_newest(flash, model, head)?;
        let n = info.params as usize;
        let provided = buf.len();
        let out = buf.get_mut(..n).ok_or(Error::BufferTooSmall {
            what: "restore buffer",
            needed: n,
            provided,
        })?;
        self.copy_params(flash, &info, out)?;
        Ok((info, n))
    }

    /// Restores `state` from the newest record, reading the parameters straight into it: no
    /// buffer, no RAM beyond the state and a 256-byte stack chunk. The record must have been
    /// saved for this `model` and the state's head, and hold only finite values; all of that is
    /// checked, streaming from flash, before the state is touched, so on those errors `state` is
    /// unchanged. Only if the flash changes between that check and the copy (another writer on
    /// the same region) does the copy fail its second CRC check: then `state` goes back to the
    /// meta-learned values ([`AdaptState::reset`]) and the error is [`Error::NoSavedState`].
    pub fn restore<F: NorFlash, const P: usize>(
        &self,
        flash: &mut F,
        model: &Model<'_>,
        state: &mut AdaptState<P>,
    ) -> Result<RecordInfo, Error> {
        state.network(model)?;
        let info = self.checked_newest(flash, model, state.head())?;
        let copied = self.copy_params(flash, &info, state.params_mut(model)?);
        if let Err(e) = copied {
            state.reset(model)?;
            return Err(e);
        }
        Ok(info)
    }
}
