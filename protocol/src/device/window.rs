//! [`Window`]: a range of whole erase blocks of a chip's flash, seen as a flash of its own that
//! starts at offset 0 and reads in place ([`MappedFlash`]), for the device's slots.
//!
//! The HALs' flash drivers (`embassy_nrf::nvmc::Nvmc`, `embassy_stm32::flash::Flash`) address
//! the whole flash and do not say where it is mapped; the device's [`super::Layout`] wants
//! offsets from the start of its own region and a slice it can verify a model update in. On an
//! nRF52840, the last 40 KiB of its flash (`boards/nrf52840-dk`) are
//! `Window::new(Nvmc::new(p.NVMC), 0xF_6000, 40 * 1024, 0xF_6000 as *const u8)`; here, 8 KiB
//! from offset 4 KiB of a flash in RAM:
//!
//! ```
//! use fewshot_protocol::device::{RamFlash, Window};
//! use fewshot_runtime::persist::nor_flash::{NorFlash, ReadNorFlash};
//! use fewshot_runtime::update::MappedFlash;
//!
//! let chip: &'static mut RamFlash<16384> = Box::leak(Box::new(RamFlash::new()));
//! let at = chip.as_ptr().wrapping_add(4096);
//! // SAFETY: `at` is where `chip` maps offset 4096, for good (leaked); only the window writes it.
//! let mut window = unsafe { Window::new(&mut *chip, 4096, 8192, at) }.unwrap();
//! window.erase(0, 4096).unwrap();
//! window.write(8, &[1, 2, 3, 4]).unwrap();
//! assert_eq!(window.mapped()[8..12], [1, 2, 3, 4]);
//! assert!(window.write(8192, &[0; 4]).is_err()); // past its end
//! drop(window);
//! let mut back = [0u8; 4];
//! chip.read(4096 + 8, &mut back).unwrap(); // the chip's offset 4104
//! assert_eq!(back, [1, 2, 3, 4]);
//! ```

use fewshot_runtime::persist::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use fewshot_runtime::update::MappedFlash;

/// Offsets `start..start + len` of the flash `F`, as a flash of `len` bytes.
pub struct Window<F> {
    flash: F,
    start: u32,
    len: u32,
    mapped: *const u8,
}

impl<F: NorFlash> Window<F> {
    /// The window, or `None` when `start` or `len` is not a whole number of `F`'s erase blocks
    /// or the range is not inside `flash`.
    ///
    /// # Safety
    /// `mapped` is the address where the CPU reads offset `start` of `flash` (the next `len`
    /// bytes follow it), readable there for the rest of the program (a part's memory-mapped
    /// flash: a model served in place from the window reads it wherever the window is moved),
    /// and nothing else writes that range while the window lives.
    pub unsafe fn new(flash: F, start: u32, len: u32, mapped: *const u8) -> Option<Self> {
        let block = u32::try_from(F::ERASE_SIZE).ok()?;
        let end = start.checked_add(len)?;
        let whole = block != 0 && start.is_multiple_of(block) && len.is_multiple_of(block);
        (whole && end as usize <= flash.capacity()).then_some(Window {
            flash,
            start,
            len,
            mapped,
        })
    }

    /// The flash offset of `bytes` bytes at `offset` of the window, if they are inside it.
    fn at(&self, offset: u32, bytes: usize) -> Result<u32, NorFlashErrorKind> {
        let end = u32::try_from(bytes)
            .ok()
            .and_then(|n| offset.checked_add(n));
        match end {
            Some(end) if end <= self.len => Ok(self.start + offset),
            _ => Err(NorFlashErrorKind::OutOfBounds),
        }
    }
}

impl<F> ErrorType for Window<F> {
    type Error = NorFlashErrorKind;
}

impl<F: NorFlash> ReadNorFlash for Window<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let at = self.at(offset, bytes.len())?;
        self.flash.read(at, bytes).map_err(|e| e.kind())
    }

    fn capacity(&self) -> usize {
        self.len as usize
    }
}

impl<F: NorFlash> NorFlash for Window<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let len = to.checked_sub(from).ok_or(NorFlashErrorKind::OutOfBounds)?;
        let at = self.at(from, len as usize)?;
        self.flash.erase(at, at + len).map_err(|e| e.kind())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let at = self.at(offset, bytes.len())?;
        self.flash.write(at, bytes).map_err(|e| e.kind())
    }
}

impl<F: NorFlash> MappedFlash for Window<F> {
    fn mapped(&self) -> &[u8] {
        // SAFETY: `new`'s contract: `len` readable bytes at `mapped`, written only through this
        // window, whose writes need `&mut self`, so none happens while the slice lives.
        unsafe { core::slice::from_raw_parts(self.mapped, self.len as usize) }
    }
}
