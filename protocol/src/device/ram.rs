//! [`RamFlash`]: `N` bytes of RAM behaving as memory-mapped NOR flash, for host tests, the fuzz
//! target and examples.

use fewshot_runtime::persist::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use fewshot_runtime::update::MappedFlash;

/// NOR flash in RAM: 4 KiB erase blocks set to `0xff`, 4-byte writes that only clear bits,
/// misaligned or out-of-range operations refused, bytes readable in place.
#[derive(Clone)]
pub struct RamFlash<const N: usize>(Aligned<N>);

#[derive(Clone)]
#[repr(C, align(4))]
struct Aligned<const N: usize>([u8; N]);

impl<const N: usize> Default for RamFlash<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RamFlash<N> {
    /// Erased flash.
    pub const fn new() -> Self {
        RamFlash(Aligned([0xff; N]))
    }

    fn range(&self, at: u32, len: usize) -> Result<core::ops::Range<usize>, NorFlashErrorKind> {
        let at = at as usize;
        match at.checked_add(len) {
            Some(end) if end <= N => Ok(at..end),
            _ => Err(NorFlashErrorKind::OutOfBounds),
        }
    }
}

impl<const N: usize> ErrorType for RamFlash<N> {
    type Error = NorFlashErrorKind;
}

impl<const N: usize> ReadNorFlash for RamFlash<N> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, at: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let r = self.range(at, bytes.len())?;
        let src = self.0 .0.get(r).ok_or(NorFlashErrorKind::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        N
    }
}

impl<const N: usize> NorFlash for RamFlash<N> {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let aligned = |a: u32| (a as usize).is_multiple_of(Self::ERASE_SIZE);
        if from > to || !aligned(from) || !aligned(to) {
            return Err(NorFlashErrorKind::NotAligned);
        }
        let r = self.range(from, (to - from) as usize)?;
        self.0
             .0
            .get_mut(r)
            .ok_or(NorFlashErrorKind::OutOfBounds)?
            .fill(0xff);
        Ok(())
    }

    fn write(&mut self, at: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let aligned = |a: usize| a.is_multiple_of(Self::WRITE_SIZE);
        if !aligned(at as usize) || !aligned(bytes.len()) {
            return Err(NorFlashErrorKind::NotAligned);
        }
        let r = self.range(at, bytes.len())?;
        let dst = self.0 .0.get_mut(r).ok_or(NorFlashErrorKind::OutOfBounds)?;
        for (d, b) in dst.iter_mut().zip(bytes) {
            *d &= b; // NOR: programming only clears bits
        }
        Ok(())
    }
}

impl<const N: usize> MappedFlash for RamFlash<N> {
    fn mapped(&self) -> &[u8] {
        &self.0 .0
    }
}
