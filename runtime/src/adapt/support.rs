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
///
/// A set sized for the widest of several models takes narrower samples
/// ([`SupportSet::set_widths`]): still `K` of them, packed one after the other.
#[derive(Debug, Clone)]
pub struct SupportSet<const K: usize, const D: usize, const T: usize = 1> {
    /// The samples' inputs, `width` floats each, one after the other in rows of `D`.
    inputs: Vec<[f32; D], K>,
    labels: Vec<u16, K>,
    /// The samples' targets, `targets` floats each, one after the other in rows of `T`.
    values: Vec<[f32; T], K>,
    /// Samples held.
    len: usize,
    /// Floats per sample's input (at most `D`).
    width: usize,
    /// Floats per sample's regression targets (at most `T`).
    targets: usize,
}

impl<const K: usize, const D: usize, const T: usize> Default for SupportSet<K, D, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize, const D: usize, const T: usize> SupportSet<K, D, T> {
    /// An empty set of samples of `D` inputs (and `T` targets).
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
            len: 0,
            width: D,
            targets: T,
        }
    }

    /// Empties the set and makes its samples `width` inputs and `targets` regression targets
    /// each (a model's [`Model::input_len`](crate::Model::input_len) and its head's outputs),
    /// in the room made for `D` and `T`: [`Error::Capacity`] when either is larger, and
    /// nothing changes.
    ///
    /// ```
    /// use fewshot_runtime::SupportSet;
    /// let mut set: SupportSet<4, 8> = SupportSet::new(); // room for the widest model's
    /// set.set_widths(3, 1).unwrap();
    /// set.push_labelled(&[0.0, 1.0, 2.0], 1).unwrap();
    /// assert!(set.push_labelled(&[0.0; 8], 1).is_err()); // not this model's width
    /// assert!(set.set_widths(9, 1).is_err());
    /// ```
    pub fn set_widths(&mut self, width: usize, targets: usize) -> Result<(), Error> {
        Error::check_capacity("support input width (D)", width, D)?;
        Error::check_capacity("support targets (T)", targets, T)?;
        self.clear();
        self.width = width;
        self.targets = targets;
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Removes every sample (the widths stay).
    pub fn clear(&mut self) {
        self.inputs.clear();
        self.labels.clear();
        self.values.clear();
        self.len = 0;
    }

    /// `input` checked: `width` finite floats (`sample` names it in an error).
    fn checked(&self, input: &[f32], sample: usize) -> Result<(), Error> {
        if input.len() != self.width {
            return Err(Error::LengthMismatch {
                what: "support input",
                expected: self.width,
                found: input.len(),
            });
        }
        if input.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "support input",
                sample,
            });
        }
        Ok(())
    }

    /// Pushes a classification sample.
    pub fn push_labelled(&mut self, input: &[f32], label: u16) -> Result<(), Error> {
        if !self.values.is_empty() {
            return Err(Error::TargetKindMismatch);
        }
        if self.labels.is_full() {
            return Err(Error::SupportSetFull { capacity: K });
        }
        self.checked(input, self.len)?;
        append(&mut self.inputs, self.len, input)?;
        self.labels
            .push(label)
            .map_err(|_| Error::internal("support::push_labelled"))?;
        self.len += 1;
        Ok(())
    }

    /// Pushes a regression sample.
    pub fn push_valued(&mut self, input: &[f32], values: &[f32]) -> Result<(), Error> {
        if !self.labels.is_empty() {
            return Err(Error::TargetKindMismatch);
        }
        if self.len >= K {
            return Err(Error::SupportSetFull { capacity: K });
        }
        self.checked(input, self.len)?;
        if values.len() != self.targets {
            return Err(Error::LengthMismatch {
                what: "support values",
                expected: self.targets,
                found: values.len(),
            });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "support target",
                sample: self.len,
            });
        }
        // Both appends have room (`len < K` samples of at most a row each): neither fails
        // after the other succeeded.
        append(&mut self.inputs, self.len, input)?;
        append(&mut self.values, self.len, values)?;
        self.len += 1;
        Ok(())
    }

    /// The set as a borrowed [`Support`].
    pub fn as_support(&self) -> Support<'_> {
        let flat = self.inputs.as_slice().as_flattened();
        let inputs = flat.get(..self.len * self.width).unwrap_or(&[]);
        if self.values.is_empty() {
            Support::classes(inputs, &self.labels)
        } else {
            let values = self.values.as_slice().as_flattened();
            Support::values(inputs, values.get(..self.len * self.targets).unwrap_or(&[]))
        }
    }
}

/// Writes `sample`, the `index`-th of its width, after the ones `rows` holds packed, adding the
/// rows it reaches into (`SupportSetFull` when `rows` has no room).
fn append<const W: usize, const K: usize>(
    rows: &mut Vec<[f32; W], K>,
    index: usize,
    sample: &[f32],
) -> Result<(), Error> {
    let end = (index + 1) * sample.len();
    while rows.len() * W < end {
        rows.push([0.0; W])
            .map_err(|_| Error::SupportSetFull { capacity: K })?;
    }
    let dst = rows.as_mut_slice().as_flattened_mut();
    dst.get_mut(end - sample.len()..end)
        .ok_or(Error::internal("support::append"))?
        .copy_from_slice(sample);
    Ok(())
}
