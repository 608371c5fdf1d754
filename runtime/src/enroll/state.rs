//! [`BankState`]: an enrollable head's classes, their slots and settings, without scratch.

use super::{ClassScore, SAMPLES, SCATTER, SLOT_HEADER};
use crate::format::{HeadKind, Model};
use crate::in_place::by_value;
use crate::math::{dot, exp};
use crate::Error;
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

/// An enrollable head's classes without scratch: `B` floats hold the bank (at least
/// [`BankState::bank_len`]); each call that runs the trunk takes the caller's scratch (at
/// least [`BankState::scratch_len`] floats for that call), as [`crate::AdaptState`] does. A
/// device that already keeps a scratch for its [`crate::Learner`] lends it to the bank
/// ([`crate::Learner::scratch_mut`]) instead of keeping a second one; [`super::ClassBank`] owns
/// its own. See the [module docs](super).
#[derive(Debug, Clone)]
pub struct BankState<'m, const B: usize> {
    pub(super) model: &'m Model<'m>,
    pub(super) head: usize,
    pub(super) classes: usize,
    pub(super) features: usize,
    pub(super) scale: f32,
    pub(super) margin: f32,
    pub(super) bank: [f32; B],
}

impl<'m, const B: usize> BankState<'m, B> {
    /// Floats of bank head `head` of `model` needs: `max_classes x (4 + F + 1)`.
    pub fn bank_len(model: &Model<'_>, head: usize) -> Result<usize, Error> {
        let e = enrollable(model, head)?;
        Ok(usize::from(e.max_classes) * (SLOT_HEADER + model.feature_len() + 1))
    }

    /// Floats of scratch to classify, and to enroll up to `k` samples with `steps` inner steps:
    /// the trunk's ping-pong buffers, a feature vector and a logit per class; with steps also
    /// the K samples' features and a copy of the bank (the steps are undone on error).
    pub fn scratch_len(
        model: &Model<'_>,
        head: usize,
        k: usize,
        steps: u16,
    ) -> Result<usize, Error> {
        let bank = Self::bank_len(model, head)?;
        let classes = usize::from(model.enrollable(head).map_or(0, |e| e.max_classes));
        let f = model.feature_len();
        let base = 2 * model.trunk_width() + f + classes;
        Ok(match steps {
            0 => base,
            // Saturating: any K the caller passes, even one no memory holds, is an answer.
            _ => base
                .saturating_add(k.saturating_mul(f))
                .saturating_add(bank),
        })
    }

    /// What [`BankState::new`] checks, without building the bank.
    pub fn check_sizes(model: &Model<'_>, head: usize) -> Result<(), Error> {
        enrollable(model, head)?;
        Error::check_capacity("class bank (B)", Self::bank_len(model, head)?, B)
    }

    /// An empty bank for enrollable head `head`. [`Error::NoSuchHead`] or
    /// [`Error::NotEnrollable`] for a head that is not one; [`Error::Capacity`] when `B` is
    /// too small.
    pub fn new(model: &'m Model<'m>, head: usize) -> Result<Self, Error> {
        // SAFETY: `init_empty` initialises every field of the slot when it returns Ok.
        unsafe { by_value(|slot| Self::init_empty(slot, model, head)) }
    }

    /// A bank holding the head's exported classes as labels `0..N`, their rows as exported
    /// (a class whose row and bias are all zero, a placeholder, is left out: a head that
    /// starts from prototypes starts an empty bank).
    pub fn from_head(model: &'m Model<'m>, head: usize) -> Result<Self, Error> {
        // SAFETY: `init` initialises every field of the slot when it returns Ok.
        unsafe { by_value(|slot| Self::init(slot, model, head)) }
    }

    /// [`BankState::from_head`] built in `slot` (a `static`, say): its `B` floats are never on
    /// the stack. On error `slot` is to be taken as uninitialised.
    pub fn init<'s>(
        slot: &'s mut MaybeUninit<Self>,
        model: &'m Model<'m>,
        head: usize,
    ) -> Result<&'s mut Self, Error> {
        let bank = Self::init_empty(slot, model, head)?;
        bank.load_head()?;
        Ok(bank)
    }

    /// [`BankState::new`] built in `slot` (a `static`, say): an empty bank whose `B` floats
    /// are never on the stack (a head trained by gradient steps starts with no placeholder
    /// class to forget). On error `slot` is to be taken as uninitialised.
    pub fn init_empty<'s>(
        slot: &'s mut MaybeUninit<Self>,
        model: &'m Model<'m>,
        head: usize,
    ) -> Result<&'s mut Self, Error> {
        Self::check_sizes(model, head)?;
        let e = enrollable(model, head)?;
        let scale = model
            .head(head)?
            .adapt
            .and_then(|a| a.prototype_scale)
            .unwrap_or(1.0);
        let p = slot.as_mut_ptr();
        // SAFETY: `p` is valid for writes of a `Self` (it is `slot`'s); zero bytes are the
        // floats 0.0; each field is written once, and after the last write every field is
        // initialised.
        unsafe {
            addr_of_mut!((*p).model).write(model);
            addr_of_mut!((*p).head).write(head);
            addr_of_mut!((*p).classes).write(usize::from(e.max_classes));
            addr_of_mut!((*p).features).write(model.feature_len());
            addr_of_mut!((*p).scale).write(scale);
            addr_of_mut!((*p).margin).write(0.0);
            addr_of_mut!((*p).bank).write_bytes(0, 1);
            Ok(slot.assume_init_mut())
        }
    }

    /// Writes the head's exported classes into the (empty) bank as labels `0..N`, but for
    /// rows of zeros (placeholders).
    pub(super) fn load_head(&mut self) -> Result<(), Error> {
        let spec = self.model.head(self.head)?;
        let (HeadKind::Classification { classes }, Some(layer)) = (spec.kind, spec.layers.first())
        else {
            return Err(Error::TargetKindMismatch);
        };
        let (w, b) = self.model.layer_params(layer)?;
        let f = self.features;
        for c in 0..classes {
            let i = usize::from(c);
            let row = w
                .get(i * f..(i + 1) * f)
                .ok_or(Error::internal("enroll::from_head"))?;
            let bias = *b.get(i).ok_or(Error::internal("enroll::from_head"))?;
            // A zero row and bias answer every input alike: a placeholder (a head that starts
            // from prototypes is exported so), not a class. Its slot stays free.
            if bias == 0.0 && row.iter().all(|&v| v == 0.0) {
                continue;
            }
            let slot = self.slot_mut(i)?;
            slot[0] = f32::from(c);
            slot[1] = 1.0;
            slot[SLOT_HEADER..SLOT_HEADER + f].copy_from_slice(row);
            slot[SLOT_HEADER + f] = bias;
        }
        Ok(())
    }

    /// The model's head this bank belongs to.
    pub fn head(&self) -> usize {
        self.head
    }

    /// The model this bank belongs to.
    pub fn model(&self) -> &'m Model<'m> {
        self.model
    }

    /// Most classes the bank holds (the head's `max_classes`).
    pub fn capacity(&self) -> usize {
        self.classes
    }

    /// Sets the margin of the classes enrolled from now on (0 when the bank is made): each
    /// scores as if every input were `margin` farther from its prototype, in squared feature
    /// distance (the units of [`ClassScore::distance`]); classes already in the bank keep
    /// theirs. A device setting, not saved with the bank: set it again after a restore.
    /// [`Error::NonFinite`] when `margin` is not finite (the margin is then unchanged).
    ///
    /// ```
    /// # #[cfg(feature = "std")] {
    /// use fewshot_runtime::enroll::ClassBank;
    /// use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
    /// use fewshot_runtime::{Activation, Model};
    ///
    /// let head = HeadDef::classification(0, "who", vec![Dense::zeros(1, 2, Activation::Identity)])
    ///     .with_max_classes(2);
    /// let blob = ModelDef::new("bank", 1).head(head).to_aligned_bytes().unwrap();
    /// let model = Model::from_bytes(&blob).unwrap();
    /// let mut bank: ClassBank<'_, 12, 8> = ClassBank::new(&model, 0).unwrap();
    /// bank.enroll(1, &[0.0]).unwrap(); // shipped class at 0
    /// bank.set_margin(0.5).unwrap();
    /// bank.enroll(2, &[1.0]).unwrap(); // a user's class at 1
    /// assert_eq!(bank.classify(&[0.6]).unwrap().0, 1); // 0.36 < 0.16 + 0.5
    /// assert_eq!(bank.classify(&[0.8]).unwrap().0, 2); // 0.64 > 0.04 + 0.5
    /// assert_eq!(bank.score(&[1.0]).unwrap().distance, 0.5);
    /// # }
    /// ```
    pub fn set_margin(&mut self, margin: f32) -> Result<(), Error> {
        if !(margin * self.scale).is_finite() {
            return Err(Error::NonFiniteSetting {
                what: "enrollment margin",
            });
        }
        self.margin = margin;
        Ok(())
    }

    /// The margin of the classes enrolled from now on ([`BankState::set_margin`]).
    pub fn margin(&self) -> f32 {
        self.margin
    }

    /// How far the margin lowers a new row's bias: `s m`.
    pub(super) fn lowering(&self) -> f32 {
        self.scale * self.margin
    }

    /// Makes slot `slot` class `label`, its bias lowered by `lower` ([`BankState::lowering`],
    /// or 0 when the inner steps have lowered it); when that is not finite the slot is freed.
    pub(super) fn activate(&mut self, slot: usize, label: u16, lower: f32) -> Result<usize, Error> {
        let f = self.features;
        let s = self.slot_mut(slot)?;
        s[0] = f32::from(label);
        s[1] = 1.0;
        s[SLOT_HEADER + f] -= lower;
        if !s[SLOT_HEADER + f].is_finite() {
            s.fill(0.0);
            return Err(Error::NonFinite {
                what: "class prototype",
                sample: 0,
            });
        }
        Ok(slot)
    }

    /// Floats per class slot: `4 + F + 1`.
    pub(super) fn stride(&self) -> usize {
        SLOT_HEADER + self.features + 1
    }

    pub(super) fn slot(&self, i: usize) -> Result<&[f32], Error> {
        let s = self.stride();
        self.bank
            .get(i * s..(i + 1) * s)
            .ok_or(Error::internal("enroll::slot"))
    }

    pub(super) fn slot_mut(&mut self, i: usize) -> Result<&mut [f32], Error> {
        let s = self.stride();
        self.bank
            .get_mut(i * s..(i + 1) * s)
            .ok_or(Error::internal("enroll::slot"))
    }

    /// The active slots' `(slot index, label)`.
    pub(super) fn active(&self) -> impl Iterator<Item = (usize, u16)> + '_ {
        let s = self.stride();
        self.bank
            .get(..self.classes * s)
            .unwrap_or(&[])
            .chunks_exact(s)
            .enumerate()
            .filter(|(_, slot)| slot[1] == 1.0)
            .map(|(i, slot)| (i, slot[0] as u16))
    }

    /// Labels of the active classes, in slot order.
    pub fn labels(&self) -> impl Iterator<Item = u16> + '_ {
        self.active().map(|(_, l)| l)
    }

    /// Active classes.
    pub fn len(&self) -> usize {
        self.active().count()
    }

    /// True when no class is active.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot of the active class `label`.
    pub(super) fn find(&self, label: u16) -> Option<usize> {
        self.active().find(|&(_, l)| l == label).map(|(i, _)| i)
    }

    /// The bank's floats, as [`crate::persist::Slots::save_bank`] stores them.
    pub fn as_slice(&self) -> &[f32] {
        self.bank.get(..self.classes * self.stride()).unwrap_or(&[])
    }

    /// The bank's floats to restore into; [`BankState::check`] must pass after writing them.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        let n = self.classes * self.stride();
        self.bank.get_mut(..n).unwrap_or(&mut [])
    }

    /// Checks floats restored into the bank: finite, labels whole numbers of `u16`, sample
    /// counts whole numbers (of at most 2^24, where `f32` counts exactly), flags 0 or 1,
    /// scatters not negative, no label active twice.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let s = self.stride();
        let whole = |v: f32, max: f32| v >= 0.0 && v <= max && v == (v as u32) as f32;
        for (i, slot) in self.as_slice().chunks_exact(s).enumerate() {
            let (label, flag) = (slot[0], slot[1]);
            let counts = whole(label, f32::from(u16::MAX))
                && whole(slot[SAMPLES], 16_777_216.0)
                && slot[SCATTER] >= 0.0;
            if !counts || !(flag == 0.0 || flag == 1.0) || slot.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: "saved class slot",
                    sample: i,
                });
            }
            if flag == 1.0
                && self
                    .active()
                    .take_while(|&(j, _)| j < i)
                    .any(|(_, l)| f32::from(l) == label)
            {
                return Err(Error::DuplicateLabel {
                    label: label as u16,
                });
            }
        }
        Ok(())
    }

    /// Forgets class `label`: its slot is free for the next enrollment.
    pub fn forget(&mut self, label: u16) -> Result<(), Error> {
        let i = self.find(label).ok_or(Error::UnknownLabel { label })?;
        self.slot_mut(i)?.fill(0.0);
        Ok(())
    }

    /// Gives class `old` the label `new` (its row unchanged). [`Error::DuplicateLabel`] when
    /// another active class has `new`.
    pub fn relabel(&mut self, old: u16, new: u16) -> Result<(), Error> {
        let i = self.find(old).ok_or(Error::UnknownLabel { label: old })?;
        if old != new && self.find(new).is_some() {
            return Err(Error::DuplicateLabel { label: new });
        }
        self.slot_mut(i)?[0] = f32::from(new);
        Ok(())
    }

    /// The feature vector of `x` (the frozen trunk's output) into `scratch[2T..2T + F]`.
    pub(super) fn features_of(&self, x: &[f32], scratch: &mut [f32]) -> Result<(), Error> {
        let t = 2 * self.model.trunk_width();
        let f = self.features;
        let (trunk, rest) = scratch.split_at_mut(t.min(scratch.len()));
        let out = rest
            .get_mut(..f)
            .ok_or(Error::internal("enroll::features_of"))?;
        self.model.network().features(x, trunk, out)?;
        if out.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "features",
                sample: 0,
            });
        }
        Ok(())
    }

    /// The label of `x`'s most likely active class and its probability (softmax over the
    /// active classes only), in `scratch` (at least [`BankState::scratch_len`] for K = 0).
    /// [`Error::NonFinite`] when a class's score overflows, [`Error::NoClassEnrolled`] when no
    /// class is active.
    pub fn classify(&self, x: &[f32], scratch: &mut [f32]) -> Result<(u16, f32), Error> {
        self.score(x, scratch).map(|s| (s.label, s.probability))
    }

    /// [`Error::BufferTooSmall`] when `scratch` is shorter than [`BankState::scratch_len`] for
    /// `k` samples and `steps`.
    pub(super) fn check_scratch(&self, k: usize, steps: u16, scratch: &[f32]) -> Result<(), Error> {
        let needed = Self::scratch_len(self.model, self.head, k, steps)?;
        if scratch.len() < needed {
            return Err(Error::BufferTooSmall {
                what: "class bank scratch",
                needed,
                provided: scratch.len(),
            });
        }
        Ok(())
    }

    /// The enrolled samples' pooled within-class variance: the active classes' scatters
    /// summed, over their sample counts less one each, summed (classes enrolled from one
    /// sample, and the exported head's classes, add nothing to either sum). `None` while no
    /// active class was enrolled from two samples or more, or all of them were alike.
    ///
    /// ```
    /// # #[cfg(feature = "std")] {
    /// use fewshot_runtime::enroll::ClassBank;
    /// use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
    /// use fewshot_runtime::{Activation, Model};
    ///
    /// let head = HeadDef::classification(0, "who", vec![Dense::zeros(1, 2, Activation::Identity)])
    ///     .with_max_classes(3);
    /// let blob = ModelDef::new("bank", 1).head(head).to_aligned_bytes().unwrap();
    /// let model = Model::from_bytes(&blob).unwrap();
    /// let mut bank: ClassBank<'_, 18, 8> = ClassBank::new(&model, 0).unwrap();
    /// bank.enroll(1, &[0.0]).unwrap(); // one sample: no spread to measure
    /// assert_eq!(bank.within_class_variance(), None);
    /// bank.enroll(2, &[1.0, 3.0]).unwrap(); // mean 2, scatter 1 + 1
    /// bank.enroll(3, &[6.0, 7.0, 8.0]).unwrap(); // mean 7, scatter 1 + 0 + 1
    /// assert_eq!(bank.within_class_variance(), Some(4.0 / 3.0)); // (2 + 2) / (1 + 2)
    /// let s = bank.score(&[4.0]).unwrap(); // class 2's prototype at 2: 4 away
    /// assert_eq!((s.label, s.distance, s.relative_distance), (2, 4.0, Some(3.0)));
    /// # }
    /// ```
    pub fn within_class_variance(&self) -> Option<f32> {
        let s = self.stride();
        let (mut scatter, mut degrees) = (0.0f32, 0.0f32);
        for slot in self
            .as_slice()
            .chunks_exact(s)
            .filter(|slot| slot[1] == 1.0)
        {
            if slot[SAMPLES] >= 2.0 {
                scatter += slot[SCATTER];
                degrees += slot[SAMPLES] - 1.0;
            }
        }
        let variance = scatter / degrees;
        (degrees > 0.0 && variance > 0.0 && variance.is_finite()).then_some(variance)
    }

    /// [`BankState::classify`] with the squared distance from `x`'s features to the chosen
    /// class's prototype, the better score to tell an input of no taught class by (a
    /// threshold on it: `trainer eval --unknown-score distance`): from the row,
    /// `|f|^2 - z / s` (`z = W_c . f + b_c`, `s` the prototype scale), which is
    /// `|f - mu|^2` while the row is the prototype's (`W_c = 2 s mu`, `b_c = -s |mu|^2`);
    /// after inner steps it is the distance the adapted row implies. At least 0. And that
    /// distance over [`BankState::within_class_variance`] (`trainer eval --unknown-score
    /// relative`).
    pub fn score(&self, x: &[f32], scratch: &mut [f32]) -> Result<ClassScore, Error> {
        self.check_scratch(0, 0, scratch)?;
        self.features_of(x, scratch)?;
        let (label, probability, z) = self.softmax(scratch)?;
        let t = 2 * self.model.trunk_width();
        let feat = scratch
            .get(t..t + self.features)
            .ok_or(Error::internal("enroll::score"))?;
        let distance = (dot(feat, feat) - z / self.scale).max(0.0);
        if !distance.is_finite() {
            // Features so large that their square overflows: no distance to tell by.
            return Err(Error::NonFinite {
                what: "class distance",
                sample: 0,
            });
        }
        Ok(ClassScore {
            label,
            probability,
            distance,
            relative_distance: self.within_class_variance().map(|v| distance / v),
        })
    }

    /// The most likely active class of the features in the scratch: its label, probability and
    /// logit.
    fn softmax(&self, scratch: &mut [f32]) -> Result<(u16, f32, f32), Error> {
        let t = 2 * self.model.trunk_width();
        let f = self.features;
        let (head, rest) = scratch.split_at_mut((t + f).min(scratch.len()));
        let feat = head.get(t..).ok_or(Error::internal("enroll::classify"))?;
        let logits = rest
            .get_mut(..self.classes)
            .ok_or(Error::internal("enroll::classify"))?;
        let s = SLOT_HEADER + f + 1;
        let mut best: Option<(usize, f32)> = None;
        for ((i, slot), z) in self
            .bank
            .chunks_exact(s)
            .take(self.classes)
            .enumerate()
            .zip(logits.iter_mut())
        {
            if slot[1] != 1.0 {
                continue;
            }
            *z = dot(&slot[SLOT_HEADER..SLOT_HEADER + f], feat) + slot[SLOT_HEADER + f];
            if !z.is_finite() {
                // Features far outside what the rows were made from.
                return Err(Error::NonFinite {
                    what: "class score",
                    sample: i,
                });
            }
            if best.is_none_or(|(_, m)| *z > m) {
                best = Some((i, *z));
            }
        }
        let (i, m) = best.ok_or(Error::NoClassEnrolled)?;
        let mut sum = 0.0;
        for (slot, z) in self
            .bank
            .chunks_exact(s)
            .take(self.classes)
            .zip(logits.iter())
        {
            if slot[1] == 1.0 {
                sum += exp(z - m);
            }
        }
        let label = self.slot(i)?[0] as u16;
        Ok((label, 1.0 / sum, m))
    }
}

/// Head `head`'s enrollable section: [`Error::NoSuchHead`] when the model has no such head,
/// [`Error::NotEnrollable`] when it was exported without `--max-classes`.
fn enrollable(model: &Model<'_>, head: usize) -> Result<crate::format::Enrollable, Error> {
    model.head(head)?;
    model.enrollable(head).ok_or(Error::NotEnrollable { head })
}
