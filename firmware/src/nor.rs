//! A NOR flash simulated in RAM that survives a core reset, for the persistence and model
//! update tests.
//!
//! QEMU's mps2 and virt machines have no flash controller to program, so the test stands a RAM
//! region in for NOR flash: 128 KiB in a `.nor` section of its own RAM region (`memory.x`,
//! `memory-riscv.x`: not the RAM the program's statics and stack must fit), which the startup
//! code neither zeroes nor initialises, so its bytes live through [`crate::reset`] (QEMU keeps
//! RAM across a system reset; so does SRAM on real parts while powered). It behaves as NOR does:
//! erase sets whole 4 KiB blocks to 0xff, a write of 4-byte words can only clear bits, and
//! misaligned or out-of-range operations are errors, and its bytes read in place
//! ([`MappedFlash`], as a part's internal flash is memory-mapped). A real board would
//! implement the same traits over its flash controller instead.

use core::mem::MaybeUninit;
use core::ptr::{addr_of_mut, read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, Ordering};
use fewshot_runtime::persist::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use fewshot_runtime::update::MappedFlash;

/// Bytes of the simulated flash: room for the serial firmware's layout (`Layout::fitting` for
/// the served model's records; its build fails when they need more).
pub const NOR_SIZE: usize = 128 * 1024;

/// The flash's bytes, 4-byte aligned so a model stored in it loads in place.
#[repr(C, align(4))]
struct NorBytes([u8; NOR_SIZE]);

#[link_section = ".nor"]
static mut NOR: MaybeUninit<NorBytes> = MaybeUninit::uninit();
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The simulated flash (one handle per boot).
pub struct NoinitNor {
    base: *mut u8,
}

impl NoinitNor {
    /// The flash, the first time it is asked for in this boot.
    pub fn take() -> Option<Self> {
        if TAKEN.swap(true, Ordering::Relaxed) {
            return None;
        }
        // Taken once per boot (above), so this is the only pointer to the region; all accesses
        // are volatile byte accesses within `NOR_SIZE`. Its bytes may be left over from before
        // a reset (that is the point) or arbitrary after power-up: the persistence layer
        // treats them as untrusted.
        let base = addr_of_mut!(NOR).cast::<u8>();
        Some(NoinitNor { base })
    }

    fn byte(&self, at: usize) -> u8 {
        // SAFETY: callers check `at < NOR_SIZE`.
        unsafe { read_volatile(self.base.add(at)) }
    }

    fn set(&mut self, at: usize, v: u8) {
        // SAFETY: callers check `at < NOR_SIZE`.
        unsafe { write_volatile(self.base.add(at), v) }
    }
}

impl ErrorType for NoinitNor {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for NoinitNor {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let at = offset as usize;
        if at.checked_add(bytes.len()).is_none_or(|end| end > NOR_SIZE) {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = self.byte(at + i);
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        NOR_SIZE
    }
}

impl NorFlash for NoinitNor {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let (from, to) = (from as usize, to as usize);
        if from > to || from % Self::ERASE_SIZE != 0 || to % Self::ERASE_SIZE != 0 {
            return Err(NorFlashErrorKind::NotAligned);
        }
        if to > NOR_SIZE {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        for at in from..to {
            self.set(at, 0xff);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let at = offset as usize;
        if !at.is_multiple_of(Self::WRITE_SIZE) || !bytes.len().is_multiple_of(Self::WRITE_SIZE) {
            return Err(NorFlashErrorKind::NotAligned);
        }
        if at.checked_add(bytes.len()).is_none_or(|end| end > NOR_SIZE) {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        for (i, b) in bytes.iter().enumerate() {
            let old = self.byte(at + i);
            self.set(at + i, old & b); // NOR: programming only clears bits
        }
        Ok(())
    }
}

impl MappedFlash for NoinitNor {
    fn mapped(&self) -> &[u8] {
        // SAFETY: the region is `NOR_SIZE` bytes, 4-byte aligned, and only this handle reaches
        // it; writes need `&mut self`, so none happens while the returned slice lives.
        unsafe { core::slice::from_raw_parts(self.base, NOR_SIZE) }
    }
}

/// A few words in `.uninit` that tell a boot after [`crate::reset`] from a cold boot, and carry
/// what the first boot predicted, for the second to compare with.
#[repr(C)]
pub struct Handover {
    /// [`Handover::MAGIC`] when the rest is valid.
    pub magic: u32,
    /// Which boot comes next.
    pub stage: u32,
    /// Predictions (f32 bits) of the first boot.
    pub predictions: [u32; 16],
    /// How many of them.
    pub count: u32,
}

impl Handover {
    /// Marks a handover written by the first boot.
    pub const MAGIC: u32 = 0xB007_5AFE;
}

#[link_section = ".uninit.FEWSHOT_HANDOVER"]
static mut HANDOVER: MaybeUninit<Handover> = MaybeUninit::uninit();

/// Reads the handover (arbitrary bits after power-up: check `magic`).
pub fn handover() -> Handover {
    // SAFETY: a volatile read of plain integers; any bit pattern is a valid `Handover`.
    unsafe { read_volatile(addr_of_mut!(HANDOVER).cast::<Handover>()) }
}

/// Clears the handover, so the next boot starts cold.
pub fn clear_handover() {
    set_handover(Handover {
        magic: 0,
        stage: 0,
        predictions: [0; 16],
        count: 0,
    });
}

/// Writes the handover for the next boot.
pub fn set_handover(h: Handover) {
    // SAFETY: as in `handover`; single-threaded firmware.
    unsafe { write_volatile(addr_of_mut!(HANDOVER).cast::<Handover>(), h) }
}

/// Ends a first boot: after a failed check the run ends there; otherwise `h` goes to the next
/// boot and the core resets ([`crate::reset`]).
pub fn hand_over_and_reset(c: crate::Checks, h: Handover) -> ! {
    if c.failures() != 0 {
        c.finish()
    }
    set_handover(h);
    defmt::info!("boot 1: resetting the core");
    crate::reset()
}
