//! A NOR flash in RAM behind the `embedded-storage` traits the runtime persists through. On a
//! board, use its HAL's flash driver instead (it implements the same `NorFlash`).

use fewshot_runtime::persist::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};

use core::sync::atomic::{AtomicBool, Ordering};

/// Bytes of the simulated flash.
const SIZE: usize = 32 * 1024;

/// Its bytes: a static, so the linker counts them against the RAM.
static mut MEMORY: [u8; SIZE] = [0; SIZE];
static TAKEN: AtomicBool = AtomicBool::new(false);

/// 32 KiB of RAM standing in for a part's flash: 4 KiB erase blocks, 4-byte writes that only
/// clear bits.
pub struct RamFlash(&'static mut [u8; SIZE]);

impl RamFlash {
    /// The flash, erased; `None` when taken already (there is one).
    pub fn take() -> Option<Self> {
        // A load and a store inside a critical section, not `swap`: a core without atomic
        // read-modify-write (Cortex-M0/M0+, rv32imc) has only loads and stores.
        let taken = critical_section::with(|_| {
            let taken = TAKEN.load(Ordering::Relaxed);
            TAKEN.store(true, Ordering::Relaxed);
            taken
        });
        if taken {
            return None;
        }
        // SAFETY: `TAKEN` hands the one reference out once.
        let memory = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
        memory.fill(0xff);
        Some(RamFlash(memory))
    }
}

impl ErrorType for RamFlash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let at = offset as usize;
        let src = self
            .0
            .get(at..at + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        SIZE
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let block = self.0.get_mut(from as usize..to as usize);
        block.ok_or(NorFlashErrorKind::OutOfBounds)?.fill(0xff);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let at = offset as usize;
        let dst = self
            .0
            .get_mut(at..at + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        for (d, b) in dst.iter_mut().zip(bytes) {
            *d &= *b;
        }
        Ok(())
    }
}
