//! [`Layout`]: where a device keeps its records on its flash, made for a model's [`Records`]
//! in whole erase blocks; and the installed model update read in place at boot.

use fewshot_runtime::persist::nor_flash::NorFlash;
use fewshot_runtime::persist::Slots;
use fewshot_runtime::signature::PublicKey;
use fewshot_runtime::update::{MappedFlash, ModelSlots};
use fewshot_runtime::{Error, Model};

/// Where the device keeps what it saves, in bytes of its flash (multiples of its erase size).
/// [`Layout::fitting`] makes one for a model's [`Records`] (`trainer inspect --rust --device`
/// writes them), so no slot size is written by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The adapted state's two slots, from this offset.
    pub state_at: u32,
    /// Bytes of each state slot.
    pub state_slot: u32,
    /// The two model slots, from this offset.
    pub models_at: u32,
    /// Bytes of each model slot.
    pub model_slot: u32,
    /// The version floor's records (two erase blocks, or the fewest that hold a record each),
    /// from this offset.
    pub floor_at: u32,
    /// The class bank's two slots, from this offset: used only when the served head is
    /// enrollable.
    pub bank_at: u32,
    /// Bytes of each class bank slot (0 when the layout keeps no bank).
    pub bank_slot: u32,
}

/// What a device keeps on its flash for the head it serves, in the units the records are
/// counted in: `trainer inspect --rust --device` writes them for a model (`RECORDS`), and
/// [`Layout::fitting`] places them on a flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Records {
    /// Floats of the adapted state (the head's adapted parameters).
    pub state: usize,
    /// Floats of the class bank (`ClassBank::bank_len`); 0 when the head is not enrollable.
    pub bank: usize,
    /// Bytes of the largest signed model update the device takes (a whole envelope).
    pub update: usize,
}

impl Layout {
    /// 40 KiB of 4 KiB blocks: state slots of 4 KiB at 0, model slots of 8 KiB at 8 KiB, the
    /// floor at 24 KiB, the bank's slots of 4 KiB at 32 KiB (what [`Layout::fitting`] gives
    /// on such a flash for a state and a bank of at most 4 KiB and updates of at most 8 KiB).
    pub const SMALL: Layout = Layout {
        state_at: 0,
        state_slot: 4096,
        models_at: 8192,
        model_slot: 8192,
        floor_at: 24576,
        bank_at: 32768,
        bank_slot: 4096,
    };

    /// The layout that holds `records` on a flash `F`, from offset 0: the adapted state's two
    /// slots, the two model slots, the version floor's two records, then the class bank's two
    /// slots (none when `records.bank` is 0), each slot the fewest whole erase blocks
    /// (`F::ERASE_SIZE`) that hold its record. [`Layout::end`] is the flash it spans. None when
    /// a size does not fit a `u32`; in a `const`, `.expect(..)` makes that a compile error:
    ///
    /// ```
    /// use fewshot_protocol::device::{Layout, RamFlash, Records};
    /// type Flash = RamFlash<65536>; // 4 KiB erase blocks
    /// // 165 adapted floats, a bank of 32 classes of 64 features, updates of up to 12 KiB.
    /// const RECORDS: Records = Records { state: 165, bank: 32 * 69, update: 12 * 1024 };
    /// const LAYOUT: Layout = Layout::fitting::<Flash>(&RECORDS).expect("layout overflows");
    /// assert_eq!(LAYOUT.model_slot, 12 * 1024);
    /// assert_eq!(LAYOUT.bank_slot, 12 * 1024); // a record of 8 860 bytes, in whole blocks
    /// assert_eq!(LAYOUT.end::<Flash>(), Some(64 * 1024));
    /// ```
    pub const fn fitting<F: NorFlash>(records: &Records) -> Option<Layout> {
        let erase = if F::ERASE_SIZE > 1 { F::ERASE_SIZE } else { 1 };
        let (Some(state), Some(model), Some(floor)) = (
            whole_blocks(Slots::record_len::<F>(records.state), erase),
            whole_blocks(Some(records.update), erase),
            ModelSlots::floor_slot_len::<F>(),
        ) else {
            return None;
        };
        let bank = match records.bank {
            0 => 0,
            floats => match whole_blocks(Slots::record_len::<F>(floats), erase) {
                Some(n) => n,
                None => return None,
            },
        };
        // The state's slots from 0, each region's two slots after the last.
        let Some(models_at) = two_slots_end(0, state) else {
            return None;
        };
        let Some(floor_at) = two_slots_end(models_at, model) else {
            return None;
        };
        let Some(bank_at) = two_slots_end(floor_at, floor) else {
            return None;
        };
        if two_slots_end(bank_at, bank).is_none() {
            return None;
        }
        Some(Layout {
            state_at: 0,
            state_slot: state,
            models_at,
            model_slot: model,
            floor_at,
            bank_at,
            bank_slot: bank,
        })
    }

    /// Bytes of flash from offset 0 to the end of this layout's last region on a flash `F` (the
    /// bank's slots only when it has them): what a firmware sets aside for the device.
    pub const fn end<F: NorFlash>(&self) -> Option<u32> {
        let Some(floor) = ModelSlots::floor_slot_len::<F>() else {
            return None;
        };
        let ends = [
            two_slots_end(self.state_at, self.state_slot),
            two_slots_end(self.models_at, self.model_slot),
            two_slots_end(self.floor_at, floor),
            if self.bank_slot == 0 {
                Some(0)
            } else {
                two_slots_end(self.bank_at, self.bank_slot)
            },
        ];
        let mut last = 0;
        let mut i = 0;
        while i < ends.len() {
            match ends[i] {
                Some(e) if e > last => last = e,
                Some(_) => {}
                None => return None,
            }
            i += 1;
        }
        Some(last)
    }

    /// The model slots of this layout on `flash`, updates signed with the key of `key`.
    pub fn model_slots<F: NorFlash>(&self, flash: &F, key: PublicKey) -> Result<ModelSlots, Error> {
        ModelSlots::new(flash, self.models_at, self.model_slot, self.floor_at, key)
    }

    /// At boot: the signed model installed in this layout's model slots (the highest valid
    /// version, see [`ModelSlots::active`]), read in place from the memory-mapped flash
    /// ([`ModelSlots::model_in_place`]): no RAM holds a copy, and the flash can then be handed
    /// to the [`Device`](super::Device), which refuses an update into the slot it serves from until the next
    /// reboot ([`Error::SlotInUse`]). Err([`Error::NoValidModel`]) when no update was
    /// installed: run the built-in model.
    ///
    /// # Safety
    /// `flash.mapped()` stays readable at the same address for the rest of the program (a
    /// part's memory-mapped flash, or a `static`), and nothing but a [`Device`](super::Device) serving the
    /// returned model writes the model slots while it is in use.
    pub unsafe fn installed_model<F: MappedFlash>(
        &self,
        flash: &mut F,
        key: PublicKey,
    ) -> Result<Model<'static>, Error> {
        let slots = self.model_slots(flash, key)?;
        let active = slots.active(flash)?;
        // SAFETY: the caller's contract; the device refuses updates into the served slot.
        unsafe { slots.model_in_place(flash, &active) }
    }
}

/// `bytes` rounded up to whole erase blocks of `erase` bytes, None when that does not fit a
/// `u32`.
const fn whole_blocks(bytes: Option<usize>, erase: usize) -> Option<u32> {
    let Some(n) = bytes else {
        return None;
    };
    match n.checked_add(erase - 1) {
        Some(up) if up / erase * erase <= u32::MAX as usize => Some((up / erase * erase) as u32),
        _ => None,
    }
}

/// The end of two slots of `slot` bytes from `at`.
const fn two_slots_end(at: u32, slot: u32) -> Option<u32> {
    match (slot as u64) * 2 + at as u64 {
        n if n <= u32::MAX as u64 => Some(n as u32),
        _ => None,
    }
}
