//! RAM standing in for NOR flash that loses power at a chosen erase or write (the operation
//! not done, done in part, or leaving garbage bits as NOR does), for the power-cut tests of
//! saved state (`powercut.rs`) and model updates (`update.rs`).
#![allow(dead_code)]

use super::Rng;
use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use fewshot_runtime::update::MappedFlash;
use std::ops::{Deref, DerefMut};

/// Flash bytes, 4-byte aligned (a model is read in place from them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mem(Vec<u32>);

impl Mem {
    /// `len` erased bytes (a multiple of 4).
    pub fn erased(len: usize) -> Self {
        assert!(len.is_multiple_of(4), "flash size {len}");
        Mem(vec![u32::MAX; len / 4])
    }

    /// Bytes `range`, borrowed alone: as a flash controller writes, without a reference to
    /// the other bytes (a model read in place from them stays valid: Miri checks it).
    pub fn range_mut(&mut self, range: std::ops::Range<usize>) -> &mut [u8] {
        assert!(range.start <= range.end && range.end <= self.0.len() * 4);
        // SAFETY: in bounds (above); `as_mut_ptr` makes no reference to the whole buffer.
        unsafe {
            let at = self.0.as_mut_ptr().cast::<u8>().add(range.start);
            std::slice::from_raw_parts_mut(at, range.end - range.start)
        }
    }
}

impl Deref for Mem {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

impl DerefMut for Mem {
    fn deref_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.0)
    }
}

/// How the operation at the cut point ends.
#[derive(Debug, Clone, Copy)]
pub enum Tear {
    /// Power is lost before the operation starts.
    Before,
    /// The first `n` bytes are done, the rest untouched.
    Prefix(usize),
    /// The first `n` bytes are done, the rest hold random bits (a write can only clear bits,
    /// an erase only set them).
    Garbage(usize),
    /// The operation completes, then power is lost.
    After,
}

/// RAM standing in for NOR flash: `W`-byte writes, `E`-byte erase blocks, erased = 0xff,
/// programming ANDs. Operation number `cut` (counting erases and writes from 0) is torn with
/// `tear`, and every operation after it fails: the power is gone.
pub struct SimFlash<const W: usize, const E: usize> {
    pub mem: Mem,
    pub ops: usize,
    pub cut: Option<(usize, Tear)>,
    pub dead: bool,
    pub rng: Rng,
    /// Writes to bytes that were not erased (the driver must never do that).
    pub rewrites: usize,
    /// (address, reads of it to serve first): then that byte flips before the read, as if
    /// another writer changed the flash between two reads of the same record.
    pub flip_on_read: Option<(usize, usize)>,
}

impl<const W: usize, const E: usize> SimFlash<W, E> {
    pub fn new(len: usize) -> Self {
        SimFlash {
            mem: Mem::erased(len),
            ops: 0,
            cut: None,
            dead: false,
            rng: Rng(0x5eed),
            rewrites: 0,
            flip_on_read: None,
        }
    }
    /// Power back on: same contents, cut `cut` armed for the next save.
    pub fn reboot(&mut self, cut: Option<(usize, Tear)>, seed: u64) {
        self.ops = 0;
        self.cut = cut;
        self.dead = false;
        self.rng = Rng(seed | 1);
    }
    /// Counts one operation; `Some(tear)` when this is the cut point.
    fn tick(&mut self) -> Result<Option<Tear>, NorFlashErrorKind> {
        if self.dead {
            return Err(NorFlashErrorKind::Other);
        }
        let op = self.ops;
        self.ops += 1;
        match self.cut {
            Some((at, tear)) if at == op => {
                self.dead = true;
                Ok(Some(tear))
            }
            _ => Ok(None),
        }
    }
}

impl<const W: usize, const E: usize> ErrorType for SimFlash<W, E> {
    type Error = NorFlashErrorKind;
}

impl<const W: usize, const E: usize> ReadNorFlash for SimFlash<W, E> {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if self.dead {
            return Err(NorFlashErrorKind::Other);
        }
        let at = offset as usize;
        if let Some((addr, left)) = self.flip_on_read {
            if (at..at + bytes.len()).contains(&addr) {
                if left == 0 {
                    if let Some(b) = self.mem.get_mut(addr) {
                        *b ^= 1;
                    }
                    self.flip_on_read = None;
                } else {
                    self.flip_on_read = Some((addr, left - 1));
                }
            }
        }
        let src = self
            .mem
            .get(at..at + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl<const W: usize, const E: usize> NorFlash for SimFlash<W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let (from, to) = (from as usize, to as usize);
        if from % E != 0 || to % E != 0 || from > to {
            return Err(NorFlashErrorKind::NotAligned);
        }
        if to > self.mem.len() {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        let tear = self.tick()?;
        let n = to - from;
        let done = match tear {
            None | Some(Tear::After) => n,
            Some(Tear::Before) => 0,
            Some(Tear::Prefix(k)) | Some(Tear::Garbage(k)) => k.min(n),
        };
        self.mem.range_mut(from..from + done).fill(0xff);
        if let Some(Tear::Garbage(_)) = tear {
            for b in self.mem.range_mut(from + done..to) {
                *b |= self.rng.next_u64() as u8; // an erase only sets bits
            }
        }
        match tear {
            None => Ok(()),
            Some(_) => Err(NorFlashErrorKind::Other),
        }
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let at = offset as usize;
        if !at.is_multiple_of(W) || !bytes.len().is_multiple_of(W) {
            return Err(NorFlashErrorKind::NotAligned);
        }
        if at + bytes.len() > self.mem.len() {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        let tear = self.tick()?;
        if self.mem[at..at + bytes.len()].iter().any(|&b| b != 0xff) {
            self.rewrites += 1;
        }
        let n = bytes.len();
        let done = match tear {
            None | Some(Tear::After) => n,
            Some(Tear::Before) => 0,
            Some(Tear::Prefix(k)) | Some(Tear::Garbage(k)) => k.min(n),
        };
        for (m, d) in self.mem.range_mut(at..at + done).iter_mut().zip(bytes) {
            *m &= *d;
        }
        if let Some(Tear::Garbage(_)) = tear {
            for m in self.mem.range_mut(at + done..at + n) {
                *m &= self.rng.next_u64() as u8; // a write only clears bits
            }
        }
        match tear {
            None => Ok(()),
            Some(_) => Err(NorFlashErrorKind::Other),
        }
    }
}

/// The tears tried at every operation of a save or an update.
pub fn tears(write: usize) -> Vec<Tear> {
    vec![
        Tear::Before,
        Tear::Prefix(1),
        Tear::Prefix(write),
        Tear::Prefix(97),
        Tear::Garbage(0),
        Tear::Garbage(write + 3),
        Tear::Garbage(130),
        Tear::After,
    ]
}

impl<const W: usize, const E: usize> MappedFlash for SimFlash<W, E> {
    fn mapped(&self) -> &[u8] {
        &self.mem
    }
}
