//! [`RamFlash`]: `N` bytes of RAM behaving as memory-mapped NOR flash, for host tests, the fuzz
//! target and examples.

use core::cell::UnsafeCell;
use fewshot_runtime::persist::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use fewshot_runtime::update::MappedFlash;

/// NOR flash in RAM: 4 KiB erase blocks set to `0xff`, 4-byte writes that only clear bits,
/// misaligned or out-of-range operations refused, bytes readable in place.
///
/// The bytes sit in an `UnsafeCell`, so the address [`RamFlash::as_ptr`] gives stays valid
/// across writes through `&mut self`, as a part's memory-mapped flash stays readable while its
/// controller programs it: a [`super::Window`] over a `RamFlash` reads through that address
/// what the window writes (Miri checks it).
pub struct RamFlash<const N: usize>(UnsafeCell<Aligned<N>>);

// SAFETY: the bytes change only through `&mut self` (`erase`, `write`); `&self` only reads.
unsafe impl<const N: usize> Sync for RamFlash<N> {}

impl<const N: usize> Clone for RamFlash<N> {
    fn clone(&self) -> Self {
        RamFlash(UnsafeCell::new(Aligned(*self.bytes())))
    }
}

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
        RamFlash(UnsafeCell::new(Aligned([0xff; N])))
    }

    /// Erased flash on the heap, never on the stack (a flash of megabytes for a host
    /// program: `Box::new(RamFlash::new())` may build it on the stack first).
    #[cfg(feature = "std")]
    pub fn boxed() -> std::boxed::Box<Self> {
        let mut b = std::boxed::Box::<Self>::new_uninit();
        // SAFETY: a `RamFlash` is its `N` bytes (an `UnsafeCell` of an aligned byte array,
        // `repr(C)`); every byte written `0xff` makes it an initialised, erased flash.
        unsafe {
            b.as_mut_ptr().cast::<u8>().write_bytes(0xff, N);
            b.assume_init()
        }
    }

    /// Where the bytes are: the address a [`super::Window`] over this flash reads (valid for as
    /// long as the flash is not moved or dropped, across its writes).
    pub fn as_ptr(&self) -> *const u8 {
        self.0.get().cast::<u8>()
    }

    fn bytes(&self) -> &[u8; N] {
        // SAFETY: writes need `&mut self`, so none happens while this borrow of `self` lives.
        unsafe { &(*self.0.get()).0 }
    }

    fn bytes_mut(&mut self) -> &mut [u8; N] {
        &mut self.0.get_mut().0
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
        let src = self.bytes().get(r).ok_or(NorFlashErrorKind::OutOfBounds)?;
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
        self.bytes_mut()
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
        let dst = self
            .bytes_mut()
            .get_mut(r)
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        for (d, b) in dst.iter_mut().zip(bytes) {
            *d &= b; // NOR: programming only clears bits
        }
        Ok(())
    }
}

impl<const N: usize> MappedFlash for RamFlash<N> {
    fn mapped(&self) -> &[u8] {
        self.bytes()
    }
}
