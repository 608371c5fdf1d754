//! Support sets: the K labelled samples an adaptation learns from.

use crate::Error;
use heapless::Vec;

/// The targets of a support set: class labels or regression values.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'s> {
    /// One class label per sample.
    Classes(&'s [u16]),
    /// `outputs` values per sample, one sample after the other.
    Values(&'s [f32]),
}

/// A borrowed support set: `inputs` holds the samples one after the other. Samples may live in
/// flash; see [`SupportSet`] for an owned, fixed-capacity one.
#[derive(Debug, Clone, Copy)]
pub struct Support<'s> {
    /// Inputs, `k * input_len` values.
    pub inputs: &'s [f32],
    /// Targets.
    pub targets: Targets<'s>,
}

impl<'s> Support<'s> {
    /// A classification support set.
    pub fn classes(inputs: &'s [f32], labels: &'s [u16]) -> Self {
        Support {
            inputs,
            targets: Targets::Classes(labels),
        }
    }
    /// A regression support set.
    pub fn values(inputs: &'s [f32], values: &'s [f32]) -> Self {
        Support {
            inputs,
            targets: Targets::Values(values),
        }
    }
}

/// An owned support set of up to `K` samples of `D` inputs, with class labels or `T` regression
/// values each. Pushing into a full set is an error.
///
/// ```
/// use fewshot_runtime::SupportSet;
/// let mut set: SupportSet<2, 3> = SupportSet::new();
/// set.push_labelled(&[0.0, 1.0, 2.0], 1).unwrap();
/// set.push_labelled(&[1.0, 1.0, 2.0], 0).unwrap();
/// assert!(set.push_labelled(&[1.0, 1.0, 2.0], 0).is_err()); // full
/// assert!(set.push_valued(&[1.0, 1.0, 2.0], &[0.5]).is_err()); // kinds do not mix
/// assert_eq!(set.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct SupportSet<const K: usize, const D: usize, const T: usize = 1> {
    inputs: Vec<[f32; D], K>,
    labels: Vec<u16, K>,
    values: Vec<[f32; T], K>,
}

impl<const K: usize, const D: usize, const T: usize> Default for SupportSet<K, D, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize, const D: usize, const T: usize> SupportSet<K, D, T> {
    /// An empty set.
    pub const fn new() -> Self {
        const {
            assert!(
                K > 0 && D > 0 && T > 0,
                "SupportSet capacities must be non-zero"
            )
        };
        SupportSet {
            inputs: Vec::new(),
            labels: Vec::new(),
            values: Vec::new(),
        }
    }
    /// Samples held.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }
    /// Removes every sample.
    pub fn clear(&mut self) {
        self.inputs.clear();
        self.labels.clear();
        self.values.clear();
    }

    fn input_row(input: &[f32], sample: usize) -> Result<[f32; D], Error> {
        let row: [f32; D] = input.try_into().map_err(|_| Error::LengthMismatch {
            what: "support input",
            expected: D,
            found: input.len(),
        })?;
        if row.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "support input",
                sample,
            });
        }
        Ok(row)
    }

    /// Adds a sample with a class label.
    pub fn push_labelled(&mut self, input: &[f32], label: u16) -> Result<(), Error> {
        if !self.values.is_empty() {
            return Err(Error::TargetKindMismatch);
        }
        if self.inputs.is_full() {
            return Err(Error::SupportSetFull { capacity: K });
        }
        let row = Self::input_row(input, self.len())?;
        self.inputs
            .push(row)
            .and_then(|_| self.labels.push(label).map_err(|_| row))
            .map_err(|_| Error::SupportSetFull { capacity: K })
    }

    /// Adds a sample with regression values.
    pub fn push_valued(&mut self, input: &[f32], values: &[f32]) -> Result<(), Error> {
        if !self.labels.is_empty() {
            return Err(Error::TargetKindMismatch);
        }
        if self.inputs.is_full() {
            return Err(Error::SupportSetFull { capacity: K });
        }
        let row = Self::input_row(input, self.len())?;
        let target: [f32; T] = values.try_into().map_err(|_| Error::LengthMismatch {
            what: "support values",
            expected: T,
            found: values.len(),
        })?;
        if target.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "support target",
                sample: self.len(),
            });
        }
        self.inputs
            .push(row)
            .and_then(|_| self.values.push(target).map_err(|_| row))
            .map_err(|_| Error::SupportSetFull { capacity: K })
    }

    /// The set as a borrowed [`Support`].
    pub fn as_support(&self) -> Support<'_> {
        let inputs = self.inputs.as_slice().as_flattened();
        if self.values.is_empty() {
            Support::classes(inputs, &self.labels)
        } else {
            Support::values(inputs, self.values.as_slice().as_flattened())
        }
    }
}
