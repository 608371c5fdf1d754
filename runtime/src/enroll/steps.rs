//! Enrollment: the prototype start of a new class, then optional inner steps with replay.

use super::{ClassBank, SLOT_HEADER};
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

impl<'m, const B: usize, const S: usize> ClassBank<'m, B, S> {
    /// Enrolls class `label` from `samples` (K inputs one after the other): its row starts at
    /// the prototype of their mean feature; the other classes are not touched. Returns its slot.
    /// [`Error::DuplicateLabel`] when `label` is active (forget it first to enroll it anew),
    /// [`Error::Capacity`] when the bank is full. On error the bank is as before.
    pub fn enroll(&mut self, label: u16, samples: &[f32]) -> Result<usize, Error> {
        self.enroll_steps(label, samples, 0, 0.0)
    }

    /// [`ClassBank::enroll`], then `steps` epochs of cross-entropy SGD at `rate` (divided by
    /// the epoch's sample count) over every active class, on the K samples and one replay
    /// sample per other class (its prototype as stored before this call, `W_c / 2s`), which
    /// keeps the other classes from drifting. Needs [`ClassBank::scratch_len`] for K and
    /// `steps`. When a value would stop being finite, the bank goes back to how it was.
    pub fn enroll_steps(
        &mut self,
        label: u16,
        samples: &[f32],
        steps: u16,
        rate: f32,
    ) -> Result<usize, Error> {
        if self.find(label).is_some() {
            return Err(Error::DuplicateLabel { label });
        }
        let free = (0..self.classes).find(|&i| self.slot(i).is_ok_and(|s| s[1] != 1.0));
        let slot = free.ok_or(Error::Capacity {
            what: "class bank (classes)",
            needed: self.classes + 1,
            available: self.classes,
        })?;
        let n = self.model.input_len();
        if samples.is_empty() || !samples.len().is_multiple_of(n.max(1)) {
            return Err(Error::LengthMismatch {
                what: "enrollment samples",
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
        Error::check_capacity(
            "class bank scratch (S)",
            Self::scratch_len(self.model, self.head, k, steps)?,
            S,
        )?;
        let started = self.start_row(slot, samples, k, steps > 0);
        if let Err(e) = started {
            self.slot_mut(slot)?.fill(0.0);
            return Err(e);
        }
        if steps > 0 {
            self.replay_steps(slot, k, steps, rate)?;
        }
        let s = self.slot_mut(slot)?;
        s[0] = f32::from(label);
        s[1] = 1.0;
        Ok(slot)
    }

    /// Writes the prototype row of the `k` samples into (inactive) slot `slot`; with `keep`,
    /// also their features into the scratch after the logits.
    fn start_row(
        &mut self,
        slot: usize,
        samples: &[f32],
        k: usize,
        keep: bool,
    ) -> Result<(), Error> {
        let f = self.features;
        let t = 2 * self.model.trunk_width();
        let kept_at = t + f + self.classes;
        let stride = self.stride();
        self.slot_mut(slot)?.fill(0.0);
        for (j, x) in samples
            .chunks_exact(self.model.input_len().max(1))
            .enumerate()
        {
            self.features_of(x)?;
            let (feat, rest) = self.scratch.split_at_mut((t + f).min(S));
            let feat = feat.get(t..).ok_or(Error::internal("enroll::start_row"))?;
            if keep {
                let at = kept_at - t - f + j * f;
                rest.get_mut(at..at + f)
                    .ok_or(Error::internal("enroll::start_row"))?
                    .copy_from_slice(feat);
            }
            let row = self
                .bank
                .get_mut(slot * stride + SLOT_HEADER..slot * stride + SLOT_HEADER + f);
            for (a, v) in row
                .ok_or(Error::internal("enroll::start_row"))?
                .iter_mut()
                .zip(feat)
            {
                *a += v;
            }
        }
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

    /// The inner steps of [`ClassBank::enroll_steps`], the new class at slot `slot` (made
    /// active here) with its `k` features kept in the scratch. On a non-finite value the bank
    /// goes back to its copy and slot `slot` is freed.
    fn replay_steps(&mut self, slot: usize, k: usize, steps: u16, rate: f32) -> Result<(), Error> {
        let f = self.features;
        let t = 2 * self.model.trunk_width();
        let len = self.classes * self.stride();
        let stride = self.stride();
        let (front, copy) = self
            .scratch
            .split_at_mut((t + f + self.classes + k * f).min(S));
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
