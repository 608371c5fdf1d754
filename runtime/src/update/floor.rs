//! The version floor: the highest model version the device accepted, kept in two A/B records
//! (the scheme of [`crate::persist`]) so a power cut while it is raised leaves the old or the
//! new value, never none.
//!
//! A record (all little-endian):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | [`FLOOR_MAGIC`] |
//! | 4 | 2 | record version ([`FLOOR_RECORD_VERSION`]) |
//! | 6 | 2 | zero |
//! | 8 | 4 | sequence number (serial-number order) |
//! | 12 | 4 | the floor: highest model version accepted |
//! | `c` | 4 | CRC-32 (ISO-HDLC) of bytes `0..16`, at `c` = 16 rounded up to `WRITE_SIZE` |

use crate::persist::region::{self, layout, round_up, Region};
use crate::Error;
use embedded_storage::nor_flash::NorFlash;

/// The first four bytes of a version-floor record.
pub const FLOOR_MAGIC: [u8; 4] = *b"FSVF";
/// The version-floor record layout this runtime writes and reads.
pub const FLOOR_RECORD_VERSION: u16 = 1;
/// Bytes of a version-floor record's data (before its CRC).
const FLOOR_LEN: usize = 16;

/// A whole version-floor record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FloorRecord {
    slot: u8,
    sequence: u32,
    floor: u32,
}

/// Bytes of each of the floor's two slots on a flash `F`: the fewest whole erase blocks that
/// hold a record.
pub(crate) const fn slot_len<F: NorFlash>() -> Option<u32> {
    let erase = if F::ERASE_SIZE > 1 { F::ERASE_SIZE } else { 1 };
    let Some(record) = region::record_len::<F>(FLOOR_LEN) else {
        return None;
    };
    match round_up(record, erase) {
        Some(n) if n <= u32::MAX as usize => Some(n as u32),
        _ => None,
    }
}

/// Two records of the version floor; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct VersionFloor {
    region: Region,
}

impl VersionFloor {
    /// The two records from byte `offset`, each in the fewest whole erase blocks that hold it.
    pub(crate) fn new<F: NorFlash>(flash: &F, offset: u32) -> Result<Self, Error> {
        let slot = slot_len::<F>().ok_or(layout("version floor record"))?;
        Ok(VersionFloor {
            region: Region::new(flash, offset, slot)?,
        })
    }

    /// The region the records occupy.
    pub(crate) fn region(&self) -> &Region {
        &self.region
    }

    /// Slot `slot`'s record when it is whole.
    fn probe<F: NorFlash>(&self, flash: &mut F, slot: u8) -> Result<Option<FloorRecord>, Error> {
        let data: [u8; FLOOR_LEN] = self.region.read_array(flash, slot, 0)?;
        let u32_at =
            |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        if data[..4] != FLOOR_MAGIC
            || data[4..6] != FLOOR_RECORD_VERSION.to_le_bytes()
            || data[6..8] != [0, 0]
        {
            return Ok(None);
        }
        let record = FloorRecord {
            slot,
            sequence: u32_at(8),
            floor: u32_at(12),
        };
        Ok(self
            .region
            .record_whole(flash, slot, FLOOR_LEN)?
            .then_some(record))
    }

    /// Both slots' whole records.
    fn records<F: NorFlash>(
        &self,
        flash: &mut F,
    ) -> Result<(Option<FloorRecord>, Option<FloorRecord>), Error> {
        Ok((self.probe(flash, 0)?, self.probe(flash, 1)?))
    }

    /// The floor: the larger of the two whole records' (0 when neither is whole: nothing was
    /// accepted yet).
    pub(crate) fn read<F: NorFlash>(&self, flash: &mut F) -> Result<u32, Error> {
        let (a, b) = self.records(flash)?;
        Ok(a.map_or(0, |r| r.floor).max(b.map_or(0, |r| r.floor)))
    }

    /// Persists `floor` in the slot that does not hold the newest record, then reads it back.
    /// Never lowers the floor: a `floor` below the stored one is an [`Error::Rollback`].
    pub(crate) fn raise<F: NorFlash>(&self, flash: &mut F, floor: u32) -> Result<(), Error> {
        let (a, b) = self.records(flash)?;
        let stored = a.map_or(0, |r| r.floor).max(b.map_or(0, |r| r.floor));
        if floor < stored {
            return Err(Error::Rollback {
                offered: floor,
                floor: stored,
            });
        }
        let newest = region::newest_of(a, b, |r| r.sequence).map(|r| (r.slot, r.sequence));
        let (slot, sequence) = region::next_record(newest);
        let mut data = [0u8; FLOOR_LEN];
        data[..4].copy_from_slice(&FLOOR_MAGIC);
        data[4..6].copy_from_slice(&FLOOR_RECORD_VERSION.to_le_bytes());
        data[8..12].copy_from_slice(&sequence.to_le_bytes());
        data[12..16].copy_from_slice(&floor.to_le_bytes());
        self.region.write_record(flash, slot, FLOOR_LEN, |i| {
            data.get(i).copied().unwrap_or(0xff)
        })?;
        let written = FloorRecord {
            slot,
            sequence,
            floor,
        };
        match self.probe(flash, slot)? {
            Some(read) if read == written => Ok(()),
            _ => Err(Error::Flash {
                op: "verify",
                kind: "version floor reads back wrong",
            }),
        }
    }
}
