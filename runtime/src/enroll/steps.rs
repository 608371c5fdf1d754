//! Enrollment: the prototype start of a new class, then optional inner steps with replay.

use super::{BankState, SAMPLES, SCATTER, SLOT_HEADER};
use crate::math::{dot, exp, max};
use crate::Error;

/// One cross-entropy SGD step on sample `x` (features) of target slot `target`, over the active
/// slots of `bank` (`stride` floats each, `f` features): `W_c -= lr (p_c - [c = target]) x`,
/// `b_c -= lr (p_c - [c = target])`. `logits` holds a float per slot.
fn sgd_sample(
    bank: &mut [f32],
    stride: usize,
    x: &[f32],
    target: usize,
    logits: &mut [f32],
    lr: f32,
) {
    let f = x.len();
    let mut m = f32::NEG_INFINITY;
    for (slot, z) in bank.chunks_exact(stride).zip(logits.iter_mut()) {
        if slot[1] == 1.0 {
            *z = dot(&slot[SLOT_HEADER..SLOT_HEADER + f], x) + slot[SLOT_HEADER + f];
            m = max(m, *z);
        }
    }
    let mut sum = 0.0;
    for (slot, z) in bank.chunks_exact(stride).zip(logits.iter_mut()) {
        if slot[1] == 1.0 {
            *z = exp(*z - m);
            sum += *z;
        }
    }
    for (c, (slot, z)) in bank.chunks_exact_mut(stride).zip(logits.iter()).enumerate() {
        if slot[1] != 1.0 {
            continue;
        }
        let g = z / sum - if c == target { 1.0 } else { 0.0 };
        for (w, v) in slot[SLOT_HEADER..SLOT_HEADER + f].iter_mut().zip(x) {
            *w -= lr * g * v;
        }
        slot[SLOT_HEADER + f] -= lr * g;
    }
}

impl<const B: usize> BankState<'_, B> {
    /// Enrolls class `label` from `samples` (K inputs one after the other): its row starts at
    /// the prototype of their mean feature, lowered by the bank's margin
    /// ([`BankState::set_margin`]); the other classes are not touched. Returns its slot.
    /// [`Error::DuplicateLabel`] when `label` is active (forget it first to enroll it anew),
    /// [`Error::Capacity`] when the bank is full, [`Error::BufferTooSmall`] when `scratch` is
    /// shorter than [`BankState::scratch_len`]. On error the bank is as before.
    pub fn enroll(
        &mut self,
        label: u16,
        samples: &[f32],
        scratch: &mut [f32],
    ) -> Result<usize, Error> {
        self.enroll_steps(label, samples, 0, 0.0, scratch)
    }

    /// [`BankState::enroll`], then `steps` epochs of cross-entropy SGD at `rate` (divided by
    /// the epoch's sample count) over every active class, on the K samples and one replay
    /// sample per other class (its prototype as stored before this call, `W_c / 2s`), which
    /// keeps the other classes from drifting; the margin lowers the row after the steps. Needs
    /// [`BankState::scratch_len`] for K and `steps`. When a value would stop being finite, the
    /// bank goes back to how it was.
    pub fn enroll_steps(
        &mut self,
        label: u16,
        samples: &[f32],
        steps: u16,
        rate: f32,
        scratch: &mut [f32],
    ) -> Result<usize, Error> {
        let slot = self.free_slot(label)?;
        let n = self.model.input_len();
        if samples.is_empty() || !samples.len().is_multiple_of(n.max(1)) {
            return Err(Error::LengthMismatch {
                what: "enrollment samples (whole rows of the input width)",
                expected: n,
                found: samples.len(),
            });
        }
        let k = samples.len() / n.max(1);
        if steps > 0 && !(rate.is_finite() && rate >= 0.0) {
            return Err(Error::NonFinite {
                what: "enrollment rate",
                sample: 0,
            });
        }
        self.check_scratch(k, steps, scratch)?;
        let started = self.start_row(slot, samples, k, steps > 0, scratch);
        if let Err(e) = started {
            self.slot_mut(slot)?.fill(0.0);
            return Err(e);
        }
        if steps == 0 {
            return self.activate(slot, label, self.lowering());
        }
        self.replay_steps(slot, k, steps, rate, scratch)?;
        self.activate(slot, label, 0.0)
    }

    /// [`BankState::enroll`] from `k` samples that the caller makes one at a time: `fill(j, x)`
    /// writes sample `j` into `x` (one input, `input_len` floats), which the bank then runs
    /// through the trunk before asking for the next. A device whose samples come from a sensor
    /// or an audio front-end holds one sample instead of K; the row has the bits `enroll` gives
    /// on the same K samples. An error of `fill` is returned, and the bank is as before.
    ///
    /// ```
    /// # #[cfg(feature = "std")] {
    /// use fewshot_runtime::enroll::BankState;
    /// use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
    /// use fewshot_runtime::{Activation, Model};
    ///
    /// let head = HeadDef::classification(0, "who", vec![Dense::zeros(2, 2, Activation::Identity)])
    ///     .with_max_classes(3);
    /// let blob = ModelDef::new("bank", 2).head(head).to_aligned_bytes().unwrap();
    /// let model = Model::from_bytes(&blob).unwrap();
    /// let samples = [[1.0, 0.0], [0.9, 0.1]];
    /// let (mut a, mut b): (BankState<'_, 21>, BankState<'_, 21>) =
    ///     (BankState::new(&model, 0).unwrap(), BankState::new(&model, 0).unwrap());
    /// let mut scratch = [0.0; 16];
    /// a.enroll(7, &[1.0, 0.0, 0.9, 0.1], &mut scratch).unwrap();
    /// let mut x = [0.0; 2];
    /// b.enroll_each(7, 2, &mut x, &mut scratch, |j, x| {
    ///     x.copy_from_slice(&samples[j]);
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert_eq!(a.as_slice(), b.as_slice());
    /// # }
    /// ```
    pub fn enroll_each(
        &mut self,
        label: u16,
        k: usize,
        x: &mut [f32],
        scratch: &mut [f32],
        mut fill: impl FnMut(usize, &mut [f32]) -> Result<(), Error>,
    ) -> Result<usize, Error> {
        let slot = self.free_slot(label)?;
        if k == 0 || x.len() != self.model.input_len() {
            return Err(Error::LengthMismatch {
                what: "enrollment samples",
                expected: self.model.input_len(),
                found: k.min(1) * x.len(),
            });
        }
        self.check_scratch(k, 0, scratch)?;
        self.slot_mut(slot)?.fill(0.0);
        let row = (0..k)
            .try_for_each(|j| {
                fill(j, x)?;
                self.add_sample(slot, j, x, false, scratch)
            })
            .and_then(|()| self.finish_row(slot, k));
        match row {
            Ok(()) => self.activate(slot, label, self.lowering()),
            Err(e) => {
                self.slot_mut(slot)?.fill(0.0);
                Err(e)
            }
        }
    }

    /// Writes the prototype row of the `k` samples into (inactive) slot `slot`; with `keep`,
    /// also their features into the scratch after the logits.
    fn start_row(
        &mut self,
        slot: usize,
        samples: &[f32],
        k: usize,
        keep: bool,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        self.slot_mut(slot)?.fill(0.0);
        for (j, x) in samples
            .chunks_exact(self.model.input_len().max(1))
            .enumerate()
        {
            self.add_sample(slot, j, x, keep, scratch)?;
        }
        self.finish_row(slot, k)
    }

    /// The slot a new class `label` takes: [`Error::DuplicateLabel`] when `label` is active,
    /// [`Error::Capacity`] when every slot is.
    fn free_slot(&self, label: u16) -> Result<usize, Error> {
        if self.find(label).is_some() {
            return Err(Error::DuplicateLabel { label });
        }
        let free = (0..self.classes).find(|&i| self.slot(i).is_ok_and(|s| s[1] != 1.0));
        free.ok_or(Error::Capacity {
            what: "class bank (classes)",
            needed: self.classes + 1,
            available: self.classes,
        })
    }

    /// Adds sample `j`'s features to slot `slot`'s row (zeroed first by the caller); with
    /// `keep`, also keeps them in the scratch after the logits.
    fn add_sample(
        &mut self,
        slot: usize,
        j: usize,
        x: &[f32],
        keep: bool,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let f = self.features;
        let t = 2 * self.model.trunk_width();
        let kept_at = t + f + self.classes;
        let stride = self.stride();
        // A non-finite input or feature names this sample of the class's `j`, not the first.
        self.features_of(x, scratch).map_err(|e| match e {
            Error::NonFinite { what, .. } => Error::NonFinite { what, sample: j },
            e => e,
        })?;
        let (feat, rest) = scratch.split_at_mut((t + f).min(scratch.len()));
        let feat = feat.get(t..).ok_or(Error::internal("enroll::start_row"))?;
        if keep {
            let at = kept_at - t - f + j * f;
            rest.get_mut(at..at + f)
                .ok_or(Error::internal("enroll::start_row"))?
                .copy_from_slice(feat);
        }
        let s = self
            .bank
            .get_mut(slot * stride..slot * stride + SLOT_HEADER + f)
            .ok_or(Error::internal("enroll::start_row"))?;
        // Until `finish_row` the row is the features' sum; the scatter is updated as
        // Welford's: `(x - mean before) . (x - mean after)` (no cancellation of large sums).
        // The first sample adds exactly 0: its sum is `v`, and `v - v * 1` is 0.
        let before = s[SAMPLES];
        let inv_before = if before > 0.0 { 1.0 / before } else { 0.0 };
        let inv_after = 1.0 / (before + 1.0);
        let mut added = 0.0;
        for (a, v) in s[SLOT_HEADER..].iter_mut().zip(feat) {
            let sum = *a + v;
            added += (v - *a * inv_before) * (v - sum * inv_after);
            *a = sum;
        }
        s[SAMPLES] = before + 1.0;
        s[SCATTER] += added;
        Ok(())
    }

    /// Turns slot `slot`'s sum of `k` features into the prototype row.
    fn finish_row(&mut self, slot: usize, k: usize) -> Result<(), Error> {
        let f = self.features;
        let (scale, inv) = (self.scale, 1.0 / k as f32);
        let s = self.slot_mut(slot)?;
        let mut squares = 0.0;
        for w in s[SLOT_HEADER..SLOT_HEADER + f].iter_mut() {
            let mu = *w * inv;
            squares += mu * mu;
            *w = 2.0 * scale * mu;
        }
        s[SLOT_HEADER + f] = -scale * squares;
        if s.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "class prototype",
                sample: 0,
            });
        }
        Ok(())
    }

    /// The inner steps of [`BankState::enroll_steps`], the new class at slot `slot` (made
    /// active here) with its `k` features kept in the scratch, then its bias lowered by the
    /// margin. On a non-finite value the bank goes back to its copy and slot `slot` is freed.
    fn replay_steps(
        &mut self,
        slot: usize,
        k: usize,
        steps: u16,
        rate: f32,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let f = self.features;
        let t = 2 * self.model.trunk_width();
        let len = self.classes * self.stride();
        let stride = self.stride();
        let lower = self.lowering();
        let at = t + f + self.classes + k * f;
        let (front, copy) = scratch.split_at_mut(at.min(scratch.len()));
        let copy = copy
            .get_mut(..len)
            .ok_or(Error::internal("enroll::replay_steps"))?;
        let bank = self
            .bank
            .get_mut(..len)
            .ok_or(Error::internal("enroll::replay_steps"))?;
        copy.copy_from_slice(bank);
        if let Some(flag) = bank.get_mut(slot * stride + 1) {
            *flag = 1.0;
        }
        let (feat, rest) = front.split_at_mut((t + f).min(front.len()));
        let feat = feat
            .get_mut(t..)
            .ok_or(Error::internal("enroll::replay_steps"))?;
        let (logits, kept) = rest.split_at_mut(self.classes.min(rest.len()));
        let others = copy.chunks_exact(stride).filter(|s| s[1] == 1.0).count();
        let lr = rate / (k + others) as f32;
        let half = 1.0 / (2.0 * self.scale);
        for _ in 0..steps {
            for x in kept.chunks_exact(f.max(1)).take(k) {
                sgd_sample(bank, stride, x, slot, logits, lr);
            }
            for (c, old) in copy.chunks_exact(stride).enumerate() {
                if old[1] != 1.0 {
                    continue;
                }
                for (p, w) in feat.iter_mut().zip(&old[SLOT_HEADER..SLOT_HEADER + f]) {
                    *p = w * half;
                }
                sgd_sample(bank, stride, feat, c, logits, lr);
            }
        }
        if let Some(b) = bank.get_mut(slot * stride + SLOT_HEADER + f) {
            *b -= lower;
        }
        if bank.iter().any(|v| !v.is_finite()) {
            bank.copy_from_slice(copy);
            if let Some(s) = bank.get_mut(slot * stride..(slot + 1) * stride) {
                s.fill(0.0);
            }
            return Err(Error::NonFinite {
                what: "class bank after steps",
                sample: 0,
            });
        }
        Ok(())
    }
}
