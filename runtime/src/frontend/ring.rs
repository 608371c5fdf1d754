//! [`FeatureRing`]: the last second of feature frames. A full ring overwrites its oldest frame
//! (that is its purpose: the model always sees the latest second); [`FeatureRing::features`]
//! copies the frames oldest first, frame-major, as the model's input.
//!
//! ```
//! use fewshot_runtime::frontend::FeatureRing;
//! let mut ring = FeatureRing::<6>::new(2, 3).unwrap(); // 3 frames of 2 values
//! for f in 0..4 {
//!     ring.push(&[f as f32, 10.0 + f as f32]).unwrap();
//! }
//! let mut out = [0.0; 6];
//! assert_eq!(ring.features(&mut out), Ok(3));
//! assert_eq!(out, [1.0, 11.0, 2.0, 12.0, 3.0, 13.0]); // frame 0 was overwritten
//! ```

use crate::Error;

/// Up to `frames` frames of `width` values in `CAP` floats.
#[derive(Debug, Clone)]
pub struct FeatureRing<const CAP: usize> {
    data: [f32; CAP],
    width: usize,
    frames: usize,
    /// The slot the next frame goes to.
    next: usize,
    /// Frames held (at most `frames`).
    held: usize,
}

impl<const CAP: usize> FeatureRing<CAP> {
    /// An empty ring of `frames` frames of `width` values (at most `CAP` floats in all, both
    /// at least 1).
    pub fn new(width: usize, frames: usize) -> Result<Self, Error> {
        let needed = width.saturating_mul(frames);
        Error::check_capacity("feature ring (floats)", needed, CAP)?;
        if needed == 0 {
            return Err(Error::LengthMismatch {
                what: "feature ring frames x width",
                expected: 1,
                found: 0,
            });
        }
        Ok(FeatureRing {
            data: [0.0; CAP],
            width,
            frames,
            next: 0,
            held: 0,
        })
    }

    /// The slot the next frame is written to; [`FeatureRing::commit`] keeps it.
    pub(crate) fn slot(&mut self) -> Result<&mut [f32], Error> {
        let at = self.next * self.width;
        self.data
            .get_mut(at..at + self.width)
            .ok_or(Error::internal("frontend::ring::slot"))
    }

    /// Keeps the frame written to [`FeatureRing::slot`], dropping the oldest when full.
    pub(crate) fn commit(&mut self) {
        self.next = (self.next + 1) % self.frames;
        self.held = (self.held + 1).min(self.frames);
    }

    /// Appends one frame of [`FeatureRing::width`] values.
    pub fn push(&mut self, frame: &[f32]) -> Result<(), Error> {
        let width = self.width;
        let slot = self.slot()?;
        if frame.len() != width {
            return Err(Error::LengthMismatch {
                what: "feature frame",
                expected: width,
                found: frame.len(),
            });
        }
        slot.copy_from_slice(frame);
        self.commit();
        Ok(())
    }

    /// Copies the frames held, oldest first, to the front of `out` (at least
    /// [`FeatureRing::len`] x [`FeatureRing::width`] values); returns the frames copied.
    pub fn features(&self, out: &mut [f32]) -> Result<usize, Error> {
        let needed = self.held * self.width;
        let Some(out) = out.get_mut(..needed) else {
            return Err(Error::BufferTooSmall {
                what: "features",
                needed,
                provided: out.len(),
            });
        };
        let oldest = (self.next + self.frames - self.held) % self.frames;
        for (f, dst) in out.chunks_exact_mut(self.width).enumerate() {
            let at = (oldest + f) % self.frames * self.width;
            let src = self
                .data
                .get(at..at + self.width)
                .ok_or(Error::internal("frontend::ring::features"))?;
            dst.copy_from_slice(src);
        }
        Ok(self.held)
    }

    /// Values per frame.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Frames it holds when full.
    pub fn capacity(&self) -> usize {
        self.frames
    }
    /// Frames held.
    pub fn len(&self) -> usize {
        self.held
    }
    /// True before the first frame.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }
    /// True once it holds [`FeatureRing::capacity`] frames (a second of audio).
    pub fn is_full(&self) -> bool {
        self.held == self.frames
    }
    /// Forgets every frame.
    pub fn clear(&mut self) {
        self.next = 0;
        self.held = 0;
    }
}
