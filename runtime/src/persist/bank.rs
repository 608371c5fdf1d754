//! A class bank ([`BankState`], or a [`crate::ClassBank`] through its `Deref`) on NOR flash:
//! the same two-slot records as an adapted state, magic [`BANK_MAGIC`], the bank's floats
//! ([`BankState::as_slice`]: per class its label, active flag,
//! sample count, scatter and row) as the record's values. A record of a runtime whose slots
//! held no sample count and scatter (before the relative distance) is refused by its size,
//! `Error::SavedStateMismatch { what: "parameter count" }`: enroll the classes again.

use super::{RecordInfo, Slots};
use crate::enroll::BankState;
use crate::Error;
use embedded_storage::nor_flash::NorFlash;

/// The first four bytes of a class bank's record.
pub const BANK_MAGIC: [u8; 4] = *b"FSEB";

impl Slots {
    /// Saves `bank` like [`Slots::save`] an adapted state: into the slot without the newest
    /// bank record, the CRC last, so a power cut at any instant leaves the old or the new bank
    /// whole. Give the bank its own slots (a state's record is not a bank's).
    pub fn save_bank<F: NorFlash, const B: usize>(
        &self,
        flash: &mut F,
        bank: &BankState<'_, B>,
    ) -> Result<RecordInfo, Error> {
        self.save_values(
            flash,
            bank.model(),
            bank.head(),
            BANK_MAGIC,
            bank.as_slice(),
        )
    }

    /// Restores `bank` from the newest whole bank record saved for its model and head. The
    /// record is checked (model, head, size, every value finite, CRC) streaming from flash
    /// before `bank` is touched, so on those errors it is unchanged. Values that pass the CRC
    /// but not the bank's own checks (a label that is not a whole `u16`, a flag other than 0 or
    /// 1, a label active twice: only a foreign writer makes them) leave the bank empty.
    pub fn restore_bank<F: NorFlash, const B: usize>(
        &self,
        flash: &mut F,
        bank: &mut BankState<'_, B>,
    ) -> Result<RecordInfo, Error> {
        let (model, head) = (bank.model(), bank.head());
        let count = bank.as_slice().len();
        let info = self.checked_newest_kind(flash, model, head, BANK_MAGIC, count)?;
        let copied = self.copy_params(flash, &info, bank.as_mut_slice());
        if let Err(e) = copied.and_then(|()| bank.check()) {
            bank.as_mut_slice().fill(0.0);
            return Err(e);
        }
        Ok(info)
    }
}
