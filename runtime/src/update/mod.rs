//! Signed model updates into the second of two flash slots, with anti-rollback.
//!
//! [`ModelSlots`] lays out, on NOR flash ([`NorFlash`], readable in place: [`MappedFlash`]):
//! - two **model slots** of equal size (whole erase blocks), each holding a signed envelope
//!   ([`crate::signature`], version 2: the model version is signed);
//! - the **version floor**: the highest model version accepted, in two A/B records with the
//!   CRC written last (the scheme of [`crate::persist`]).
//!
//! **Update.** [`ModelSlots::begin`] erases the slot not in use; [`ModelSlots::write_chunk`]
//! writes the envelope into it in order, in chunks of any size (a multiple of the flash's
//! `WRITE_SIZE` but the last); [`ModelSlots::finish`] then checks the whole envelope in place:
//! the signature against the compiled-in key, the model loads, and its version is **strictly
//! greater** than the floor (re-installing the running version is refused too: the slot in use
//! already holds it). Only then is the floor raised to the new version: that is the accept.
//! A chunk whose first 16 bytes are the envelope's header is checked early: an old version is
//! refused before the rest is sent.
//!
//! **Boot.** [`ModelSlots::active`] picks the slot to run: of the slots whose envelope
//! verifies, loads and is not below the floor, the highest version. When that version is above
//! the floor (power was cut after the last chunk and before the floor was raised) it raises
//! the floor to it, so an older model can never come back. [`ModelSlots::model`] loads it in
//! place, borrowing the flash. A firmware that then hands its flash to a writer (the protocol's
//! `Device`) loads it with [`ModelSlots::model_in_place`] (the mapped bytes stay where they are
//! for the program) and starts every update with [`ModelSlots::begin_keeping`] and the model's
//! [`Model::bytes`]: until the reboot after an accepted update, the slot an update would erase
//! is the one the running model is read from, and that is refused ([`Error::SlotInUse`]).
//!
//! A power cut at any flash operation leaves the old model or the new one to run, never
//! none, and a floor at least the version that ran (`runtime/tests/update.rs` cuts at every
//! operation). Errors: [`Error::Rollback`] (a version not above the floor),
//! [`Error::BadSignature`], [`Error::UnsupportedEnvelope`] (a version 1 envelope: it carries no
//! model version), [`Error::ChunkOutOfOrder`], [`Error::UpdateIncomplete`],
//! [`Error::NoValidModel`] (at boot: nothing installed yet, or both slots bad). If both floor
//! records are destroyed (not by power cuts) the floor reads 0 and the highest slot still wins.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
//! use fewshot_runtime::signature::SigningKey;
//! use fewshot_runtime::update::{MappedFlash, ModelSlots};
//! use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
//! use fewshot_runtime::{Activation, Error};
//!
//! /// 16 KiB of RAM standing in for memory-mapped NOR flash (1 KiB erase blocks, 4-byte writes).
//! struct Ram(Vec<u32>);
//! impl Ram {
//!     fn bytes(&mut self) -> &mut [u8] { bytemuck::cast_slice_mut(&mut self.0) }
//! }
//! impl ErrorType for Ram { type Error = NorFlashErrorKind; }
//! impl ReadNorFlash for Ram {
//!     const READ_SIZE: usize = 1;
//!     fn read(&mut self, at: u32, out: &mut [u8]) -> Result<(), Self::Error> {
//!         let at = at as usize;
//!         out.copy_from_slice(self.bytes().get(at..at + out.len()).ok_or(NorFlashErrorKind::OutOfBounds)?);
//!         Ok(())
//!     }
//!     fn capacity(&self) -> usize { self.0.len() * 4 }
//! }
//! impl NorFlash for Ram {
//!     const WRITE_SIZE: usize = 4;
//!     const ERASE_SIZE: usize = 1024;
//!     fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
//!         self.bytes()[from as usize..to as usize].fill(0xff);
//!         Ok(())
//!     }
//!     fn write(&mut self, at: u32, data: &[u8]) -> Result<(), Self::Error> {
//!         for (f, d) in self.bytes()[at as usize..].iter_mut().zip(data) { *f &= *d; }
//!         Ok(())
//!     }
//! }
//! impl MappedFlash for Ram {
//!     fn mapped(&self) -> &[u8] { bytemuck::cast_slice(&self.0) }
//! }
//!
//! let blob = ModelDef::new("m", 1)
//!     .head(HeadDef::regression(0, "y", vec![Dense::zeros(1, 1, Activation::Identity)]))
//!     .to_bytes()
//!     .unwrap();
//! let key = SigningKey::from_seed([7; 32]); // `trainer keygen`; the firmware holds the public key
//! let v1 = key.sign(&blob, 1).unwrap();     // `trainer sign --version 1`
//! let v2 = key.sign(&blob, 2).unwrap();
//!
//! let mut flash = Ram(vec![u32::MAX; 4096]);
//! // Model slots of 4 KiB at 0 and 4096, the version floor's records from 8192.
//! let slots = ModelSlots::new(&flash, 0, 4096, 8192, key.public_key()).unwrap();
//! assert_eq!(slots.active(&mut flash).unwrap_err(), Error::NoValidModel);
//!
//! for envelope in [&v1, &v2] {
//!     let mut update = slots.begin(&mut flash, envelope.len() as u32).unwrap();
//!     for (i, chunk) in envelope.chunks(64).enumerate() {
//!         slots.write_chunk(&mut flash, &mut update, 64 * i as u32, chunk).unwrap();
//!     }
//!     slots.finish(&mut flash, update).unwrap();
//! }
//! // After a reset: version 2 runs, and version 1 (validly signed) is refused.
//! let active = slots.active(&mut flash).unwrap();
//! assert_eq!((active.model_version, slots.floor(&mut flash).unwrap()), (2, 2));
//! assert_eq!(slots.model(&flash, &active).unwrap().name(), "m");
//! let mut replay = slots.begin(&mut flash, v1.len() as u32).unwrap();
//! assert_eq!(
//!     slots.write_chunk(&mut flash, &mut replay, 0, &v1),
//!     Err(Error::Rollback { offered: 1, floor: 2 })
//! );
//! # }
//! ```

mod floor;

pub use floor::{FLOOR_MAGIC, FLOOR_RECORD_VERSION};

use crate::persist::region::{layout, round_up, Region};
use crate::signature::{self, PublicKey, ENVELOPE_HEADER_LEN, SIGNED_FIELDS_LEN};
use crate::{Error, Model};
use embedded_storage::nor_flash::NorFlash;
use floor::VersionFloor;

/// NOR flash whose bytes can also be read in place, as a microcontroller's internal flash is
/// (memory-mapped): a model in a slot is verified and loaded without a copy in RAM.
pub trait MappedFlash: NorFlash {
    /// The flash's `capacity()` bytes from offset 0, 4-byte aligned.
    fn mapped(&self) -> &[u8];
}

impl<T: MappedFlash> MappedFlash for &mut T {
    fn mapped(&self) -> &[u8] {
        T::mapped(self)
    }
}

/// The model the device runs: which slot, which version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Active {
    /// Model slot (0 or 1).
    pub slot: u8,
    /// The model version its signed envelope carries.
    pub model_version: u32,
    /// Bytes of its envelope.
    pub envelope_len: u32,
}

/// An update in progress (from [`ModelSlots::begin`]).
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "an update is written with write_chunk and accepted with finish"]
pub struct Update {
    slot: u8,
    len: u32,
    written: u32,
    floor: u32,
}

impl Update {
    /// The model slot being written (the one not in use).
    pub fn slot(&self) -> u8 {
        self.slot
    }
    /// Bytes written so far: the offset the next chunk starts at.
    pub fn written(&self) -> u32 {
        self.written
    }
    /// Bytes of the whole envelope, as announced to [`ModelSlots::begin`].
    pub fn len(&self) -> u32 {
        self.len
    }
    /// Whether the announced envelope is empty (never: `begin` refuses that).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Two model slots and the version floor on one flash; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ModelSlots {
    models: Region,
    floor: VersionFloor,
    key: PublicKey,
}

impl ModelSlots {
    /// Two model slots of `model_slot_size` bytes from byte `models_at`, the version floor's
    /// two records (one erase block each, or the fewest that hold one) from byte `floor_at`,
    /// and the public key updates must be signed with. Offsets and the slot size must be
    /// multiples of the flash's `ERASE_SIZE`, and the regions must not overlap.
    pub fn new<F: NorFlash>(
        flash: &F,
        models_at: u32,
        model_slot_size: u32,
        floor_at: u32,
        key: PublicKey,
    ) -> Result<Self, Error> {
        let models = Region::new(flash, models_at, model_slot_size)?;
        let floor = VersionFloor::new(flash, floor_at)?;
        let ((a0, a1), (b0, b1)) = (models.span(), floor.region().span());
        if a0 < b1 && b0 < a1 {
            return Err(layout("model slots and version floor overlap"));
        }
        Ok(ModelSlots { models, floor, key })
    }

    /// Bytes of each of the version floor's two records' slots on a flash `F` (the fewest whole
    /// erase blocks that hold one): the floor takes twice this at `floor_at`. None when that
    /// does not fit a `u32`.
    pub const fn floor_slot_len<F: NorFlash>() -> Option<u32> {
        floor::slot_len::<F>()
    }

    /// The version floor: the highest model version accepted (0 before the first).
    pub fn floor<F: NorFlash>(&self, flash: &mut F) -> Result<u32, Error> {
        self.floor.read(flash)
    }

    /// The envelope in model slot `slot`, as far as its header says it reaches.
    fn envelope<'f, F: MappedFlash>(&self, flash: &'f F, slot: u8) -> Result<&'f [u8], Error> {
        let in_slot = self.slot_bytes(flash, slot)?;
        let len = signature::read_header(in_slot)?.envelope_len();
        in_slot.get(..len).ok_or(Error::BadEnvelope {
            what: "length (larger than the slot)",
        })
    }

    /// Model slot `slot`'s version when its envelope verifies against the key and its model
    /// loads.
    fn check_slot<F: MappedFlash>(
        &self,
        flash: &F,
        slot: u8,
        model: impl FnOnce(&Model<'_>),
    ) -> Result<Active, Error> {
        let envelope = self.envelope(flash, slot)?;
        let opened = signature::open_versioned(envelope, &self.key)?;
        model(&Model::from_bytes(opened.blob)?);
        Ok(Active {
            slot,
            model_version: opened.model_version,
            envelope_len: u32::try_from(envelope.len()).map_err(|_| layout("slot"))?,
        })
    }

    /// The model to run after a boot: of the slots that verify, load and are not below the
    /// floor, the highest version (slot 0 on a tie). Raises the floor to it when it is above
    /// (a cut between an update's last chunk and its accept). Err([`Error::NoValidModel`]) when
    /// no slot qualifies.
    pub fn active<F: MappedFlash>(&self, flash: &mut F) -> Result<Active, Error> {
        let floor = self.floor.read(flash)?;
        let usable = |slot| {
            self.check_slot(flash, slot, |_| ())
                .ok()
                .filter(|a| a.model_version >= floor)
        };
        let best = match (usable(0), usable(1)) {
            (Some(a), Some(b)) if b.model_version > a.model_version => b,
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => return Err(Error::NoValidModel),
        };
        if best.model_version > floor {
            self.floor.raise(flash, best.model_version)?;
        }
        Ok(best)
    }

    /// Loads the model of `active` (from [`ModelSlots::active`] or [`ModelSlots::finish`]) in
    /// place; its signature was checked when `active` was made.
    pub fn model<'f, F: MappedFlash>(
        &self,
        flash: &'f F,
        active: &Active,
    ) -> Result<Model<'f>, Error> {
        let envelope = self.envelope(flash, active.slot)?;
        Model::from_bytes(envelope.get(ENVELOPE_HEADER_LEN..).unwrap_or(&[]))
    }

    /// Loads the model of `active` in place, for the rest of the program: for a firmware that
    /// then hands its flash to a writer which owns it (the protocol's `Device` does), so the
    /// model cannot borrow the flash. No RAM holds a copy.
    ///
    /// # Safety
    /// `flash.mapped()` stays readable at the same address for the rest of the program (a
    /// microcontroller's memory-mapped flash, or a `static`), and `active`'s slot is neither
    /// erased nor written while the model, or anything borrowed from it, is in use: whoever
    /// writes the flash starts updates with [`ModelSlots::begin_keeping`] and the model's
    /// [`Model::bytes`] (as the protocol's `Device` does), and never erases the model slots
    /// otherwise.
    pub unsafe fn model_in_place<F: MappedFlash>(
        &self,
        flash: &F,
        active: &Active,
    ) -> Result<Model<'static>, Error> {
        let envelope = self.envelope(flash, active.slot)?;
        let blob = envelope.get(ENVELOPE_HEADER_LEN..).unwrap_or(&[]);
        // SAFETY: the caller's contract: these bytes stay where they are, unchanged, for as
        // long as the model is used.
        let blob: &'static [u8] = unsafe { core::slice::from_raw_parts(blob.as_ptr(), blob.len()) };
        Model::from_bytes(blob)
    }

    /// Model slot `slot`'s bytes, read in place.
    fn slot_bytes<'f, F: MappedFlash>(&self, flash: &'f F, slot: u8) -> Result<&'f [u8], Error> {
        let start = self.models.slot_start(slot) as usize;
        let size = self.models.slot_size() as usize;
        flash
            .mapped()
            .get(start..start + size)
            .ok_or(layout("mapped flash shorter than its capacity"))
    }

    /// The model slot `served` (the served model's [`Model::bytes`]) is read from, in place
    /// ([`ModelSlots::model_in_place`]); `None` for bytes elsewhere (a firmware's built-in
    /// model). After an accepted update and before the reboot that serves it, this is not the
    /// [`ModelSlots::active`] slot.
    pub fn served_slot<F: MappedFlash>(
        &self,
        flash: &F,
        served: &[u8],
    ) -> Result<Option<u8>, Error> {
        for slot in [0, 1] {
            if self.slot_holds(flash, slot, served)? {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    /// Whether model slot `slot` of `flash` holds any byte of `bytes` (by address).
    fn slot_holds<F: MappedFlash>(&self, flash: &F, slot: u8, bytes: &[u8]) -> Result<bool, Error> {
        let in_slot = self.slot_bytes(flash, slot)?;
        let (a, b) = (in_slot.as_ptr() as usize, bytes.as_ptr() as usize);
        Ok(!bytes.is_empty() && a < b.saturating_add(bytes.len()) && b < a + in_slot.len())
    }

    /// Starts an update of a `len`-byte signed envelope: erases the model slot not in use (slot
    /// 0 when none is). The model in use stays untouched until the update is accepted.
    pub fn begin<F: MappedFlash>(&self, flash: &mut F, len: u32) -> Result<Update, Error> {
        self.begin_keeping(flash, len, &[])
    }

    /// [`ModelSlots::begin`] for a device that serves a model in place ([`ModelSlots::model_in_place`]):
    /// refuses with [`Error::SlotInUse`], before anything is erased, when the slot it would
    /// write holds any of `served` (the served model's [`Model::bytes`]). That happens after an
    /// update was accepted and before the reboot that serves it: the slot not in use is then
    /// the one the running model is read from.
    pub fn begin_keeping<F: MappedFlash>(
        &self,
        flash: &mut F,
        len: u32,
        served: &[u8],
    ) -> Result<Update, Error> {
        let slot = match self.active(flash) {
            Ok(active) => 1 - active.slot,
            Err(Error::NoValidModel) => 0,
            Err(e) => return Err(e),
        };
        if self.slot_holds(flash, slot, served)? {
            return Err(Error::SlotInUse { slot });
        }
        let available = self.models.slot_size() as usize;
        if len as usize > available {
            return Err(Error::Capacity {
                what: "model slot",
                needed: len as usize,
                available,
            });
        }
        if (len as usize) < ENVELOPE_HEADER_LEN {
            return Err(Error::BadEnvelope {
                what: "length (shorter than the header)",
            });
        }
        let floor = self.floor.read(flash)?;
        self.models.erase_slot(flash, slot)?;
        Ok(Update {
            slot,
            len,
            written: 0,
            floor,
        })
    }

    /// Writes `bytes` at byte `offset` of the envelope: chunks come in order (`offset` is
    /// [`Update::written`]), each a multiple of the flash's `WRITE_SIZE` but the last. A chunk
    /// holding the envelope's header is checked against the announced length and the floor.
    pub fn write_chunk<F: NorFlash>(
        &self,
        flash: &mut F,
        update: &mut Update,
        offset: u32,
        bytes: &[u8],
    ) -> Result<(), Error> {
        if offset != update.written {
            return Err(Error::ChunkOutOfOrder {
                expected: update.written,
                offset,
            });
        }
        let end = u32::try_from(bytes.len())
            .ok()
            .and_then(|n| offset.checked_add(n))
            .filter(|&end| end <= update.len)
            .ok_or(Error::LengthMismatch {
                what: "update chunk (past the announced length)",
                expected: (update.len - update.written) as usize,
                found: bytes.len(),
            })?;
        if end != update.len && !bytes.len().is_multiple_of(F::WRITE_SIZE) {
            return Err(layout(
                "update chunk: a multiple of WRITE_SIZE but the last",
            ));
        }
        if offset == 0 && bytes.len() >= SIGNED_FIELDS_LEN {
            check_header(bytes, update)?;
        }
        let padded = round_up(bytes.len(), F::WRITE_SIZE.max(1)).ok_or(layout("chunk"))?;
        let at = offset as usize;
        self.models.program(flash, update.slot, at, padded, |i| {
            bytes.get(i - at).copied().unwrap_or(0xff)
        })?;
        update.written = end;
        Ok(())
    }

    /// Accepts the update when the whole envelope is written, its signature verifies against
    /// the key, its model loads and its version is above the floor: raises the floor to that
    /// version, and the new model is the active one. On an error the model in use stays active.
    pub fn finish<F: MappedFlash>(&self, flash: &mut F, update: Update) -> Result<Active, Error> {
        self.finish_fitting(flash, update, |_| Ok(()))
    }

    /// [`ModelSlots::finish`] asking `fits` of the update's model first (a device's buffers
    /// and flash slots for it): when `fits` refuses, the update's slot is erased, so that no
    /// boot takes the model either, and its error is returned; the model in use stays active.
    pub fn finish_fitting<F: MappedFlash>(
        &self,
        flash: &mut F,
        update: Update,
        fits: impl FnOnce(&Model<'_>) -> Result<(), Error>,
    ) -> Result<Active, Error> {
        if update.written != update.len {
            return Err(Error::UpdateIncomplete {
                written: update.written,
                len: update.len,
            });
        }
        let mut fit = Ok(());
        let new = self.check_slot(flash, update.slot, |m| fit = fits(m))?;
        if let Err(e) = fit {
            self.models.erase_slot(flash, update.slot)?;
            return Err(e);
        }
        let floor = self.floor.read(flash)?;
        if new.model_version <= floor {
            return Err(Error::Rollback {
                offered: new.model_version,
                floor,
            });
        }
        self.floor.raise(flash, new.model_version)?;
        Ok(new)
    }
}

/// Checks the header at the start of an update against the announced length and the floor
/// (the signature comes at `finish`).
fn check_header(bytes: &[u8], update: &Update) -> Result<(), Error> {
    let header = signature::read_header(bytes)?;
    if header.envelope_len() != update.len as usize {
        return Err(Error::BadEnvelope {
            what: "length (not the announced one)",
        });
    }
    if header.model_version <= update.floor {
        return Err(Error::Rollback {
            offered: header.model_version,
            floor: update.floor,
        });
    }
    Ok(())
}
