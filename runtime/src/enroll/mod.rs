//! [`ClassBank`]: classes added on the device to an enrollable classification head (format v4,
//! [`Enrollable`](crate::format::Enrollable)), kept, forgotten and relabelled, each under the
//! caller's own `u16` label.
//!
//! The bank holds up to the head's declared `max_classes` classes. Each is a slot of
//! `4 + F + 1` floats (`F` the trunk's feature width): its label, an active flag (0 or 1), the
//! count of samples it was enrolled from and their scatter (the sum of their squared feature
//! distances to their mean), and its row of the head's last layer (`W_c`, then `b_c`).
//! [`ClassBank::enroll`] runs the K samples
//! through the frozen trunk and starts the row from their mean feature `mu` with the head's
//! prototype scale `s` (1 without one): `W_c = 2 s mu`, `b_c = -s |mu|^2`, so that the logit
//! is `-s |x - mu|^2` up to a term shared by every class. The other classes' rows are not
//! touched unless [`ClassBank::enroll_steps`] asks for inner steps (cross-entropy over the
//! new samples and one replay sample per other class, its stored prototype).
//! [`ClassBank::classify`] scores the active classes only and returns the caller's label.
//!
//! An input of no taught class is told by its distance to the nearest prototype
//! ([`ClassBank::score`]). A threshold on the squared distance itself holds only for inputs
//! recorded as the threshold's calibration data was; [`ClassScore::relative_distance`] divides
//! it by the enrolled samples' pooled within-class variance
//! ([`BankState::within_class_variance`]), so a threshold on it follows the conditions the
//! device's own samples were recorded in (one user's voice, one sensor's mounting):
//! `trainer eval --unknown-score relative` chooses and measures it.
//!
//! A device that ships knowing some classes can protect them from the ones its users add:
//! [`BankState::set_margin`] makes every class enrolled from then on score as if each input
//! were `m` farther from it (squared feature distance: `b_c` lowered by `s m`), so it takes a
//! query only when it is nearer by more than `m`. The shipped classes lose fewer queries to
//! the new ones, the new ones win fewer of their own: `trainer enroll-eval --margin` measures
//! both, `--protect P` chooses `m` on the training classes.
//!
//! The bank is plain floats ([`BankState::as_slice`]); [`crate::persist::Slots::save_bank`]
//! keeps it power-cut safe. Sizes are const generics, `B` floats of bank and `S` of scratch
//! (`trainer inspect MODEL --rust` prints both); nothing is allocated and nothing panics.
//! [`ClassBank`] owns its scratch; [`BankState`] is the same bank without one, each call
//! taking the caller's (a device whose [`crate::Learner`] already keeps a scratch as large
//! lends it: [`crate::Learner::scratch_mut`]). A `ClassBank` dereferences to its
//! `BankState`, so the calls that need no scratch (`forget`, `relabel`, `labels`,
//! `set_margin`, ...) are the same on both.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use fewshot_runtime::enroll::ClassBank;
//! use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
//! use fewshot_runtime::{Activation, Error, Model};
//!
//! // Two input features, an identity trunk, a 2-class head that holds up to 3 classes.
//! let head = HeadDef::classification(0, "who", vec![Dense::zeros(2, 2, Activation::Identity)])
//!     .with_max_classes(3);
//! let blob = ModelDef::new("bank", 2).head(head).to_aligned_bytes().unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//! // 3 classes x (4 + 2 + 1) floats of bank; scratch for the classifier.
//! let mut bank: ClassBank<'_, 21, 16> = ClassBank::new(&model, 0).unwrap();
//! bank.enroll(700, &[1.0, 0.0, 0.9, 0.1]).unwrap(); // two samples of class 700
//! bank.enroll(42, &[0.0, 1.0, 0.1, 0.9]).unwrap();
//! assert_eq!(bank.classify(&[0.8, 0.1]).unwrap().0, 700);
//! bank.relabel(700, 7).unwrap();
//! bank.forget(42).unwrap();
//! assert_eq!(bank.classify(&[0.1, 0.8]).unwrap(), (7, 1.0)); // the only class left
//! assert_eq!(bank.forget(42), Err(Error::UnknownLabel { label: 42 }));
//! # }
//! ```

mod state;
mod steps;

pub use state::BankState;

use crate::format::Model;
use crate::in_place::by_value;
use crate::Error;
use core::mem::MaybeUninit;
use core::ops::{Deref, DerefMut};
use core::ptr::addr_of_mut;

/// Floats of a slot before its row: the label, the active flag, the sample count and the
/// samples' scatter.
pub const SLOT_HEADER: usize = 4;
/// Where a slot keeps the count of samples its class was enrolled from (0 for a class of the
/// exported head, [`ClassBank::from_head`]).
const SAMPLES: usize = 2;
/// Where a slot keeps its samples' scatter, `sum |x_i - mu|^2` over their features.
const SCATTER: usize = 3;

/// An enrollable head's classes on the device with their own scratch; see the
/// [module docs](self). `B` floats hold the bank (at least [`BankState::bank_len`]), `S` the
/// scratch (at least [`BankState::scratch_len`] for the largest enrollment and steps it will
/// see). Dereferences to its [`BankState`] for the calls that need no scratch.
#[derive(Debug, Clone)]
pub struct ClassBank<'m, const B: usize, const S: usize> {
    state: BankState<'m, B>,
    scratch: [f32; S],
}

impl<'m, const B: usize, const S: usize> ClassBank<'m, B, S> {
    /// Floats of bank head `head` of `model` needs: `max_classes x (4 + F + 1)`.
    pub fn bank_len(model: &Model<'_>, head: usize) -> Result<usize, Error> {
        BankState::<B>::bank_len(model, head)
    }

    /// Floats of scratch to classify, and to enroll up to `k` samples with `steps` inner steps
    /// ([`BankState::scratch_len`]).
    pub fn scratch_len(
        model: &Model<'_>,
        head: usize,
        k: usize,
        steps: u16,
    ) -> Result<usize, Error> {
        BankState::<B>::scratch_len(model, head, k, steps)
    }

    /// What [`ClassBank::new`] checks, without building the bank.
    pub fn check_sizes(model: &Model<'_>, head: usize) -> Result<(), Error> {
        BankState::<B>::check_sizes(model, head)?;
        Self::check_scratch(model, head, 0, 0)
    }

    /// [`Error::Capacity`] when `S` is too small for `k` samples and `steps`.
    fn check_scratch(model: &Model<'_>, head: usize, k: usize, steps: u16) -> Result<(), Error> {
        let needed = Self::scratch_len(model, head, k, steps)?;
        Error::check_capacity("class bank scratch (S)", needed, S)
    }

    /// An empty bank for enrollable head `head`. [`Error::NoSuchHead`] or
    /// [`Error::NotEnrollable`] for a head that is not one; [`Error::Capacity`] when `B` or
    /// `S` (to classify) is too small.
    pub fn new(model: &'m Model<'m>, head: usize) -> Result<Self, Error> {
        // SAFETY: `init_with` initialises every field of the slot when it returns Ok.
        unsafe { by_value(|slot| Self::init_with(slot, model, head, false)) }
    }

    /// A bank holding the head's exported classes as labels `0..N`, their rows as exported
    /// (rows of zeros, placeholders of a head that starts from prototypes, left out).
    pub fn from_head(model: &'m Model<'m>, head: usize) -> Result<Self, Error> {
        // SAFETY: `init` initialises every field of the slot when it returns Ok.
        unsafe { by_value(|slot| Self::init(slot, model, head)) }
    }

    /// [`ClassBank::from_head`] built in `slot` (a `static`, say): its `B + S` floats are
    /// never on the stack. On error `slot` is to be taken as uninitialised.
    pub fn init<'s>(
        slot: &'s mut MaybeUninit<Self>,
        model: &'m Model<'m>,
        head: usize,
    ) -> Result<&'s mut Self, Error> {
        Self::init_with(slot, model, head, true)
    }

    /// [`ClassBank::new`] built in `slot` (a `static`, say): an empty bank whose `B + S`
    /// floats are never on the stack (a head trained by gradient steps starts with no
    /// placeholder class to forget). On error `slot` is to be taken as uninitialised.
    pub fn init_empty<'s>(
        slot: &'s mut MaybeUninit<Self>,
        model: &'m Model<'m>,
        head: usize,
    ) -> Result<&'s mut Self, Error> {
        Self::init_with(slot, model, head, false)
    }

    /// An empty bank in `slot`, or (`exported`) one holding the head's exported classes.
    fn init_with<'s>(
        slot: &'s mut MaybeUninit<Self>,
        model: &'m Model<'m>,
        head: usize,
        exported: bool,
    ) -> Result<&'s mut Self, Error> {
        Self::check_sizes(model, head)?;
        let p = slot.as_mut_ptr();
        // SAFETY: `p` is valid for writes of a `Self` (it is `slot`'s); `state` is a
        // `MaybeUninit` view of its own field (same layout); zero bytes are the floats 0.0;
        // each field is written once, and after the last write every field is initialised.
        unsafe {
            let state = &mut *addr_of_mut!((*p).state).cast::<MaybeUninit<BankState<'m, B>>>();
            let state = BankState::init_empty(state, model, head)?;
            if exported {
                state.load_head()?;
            }
            addr_of_mut!((*p).scratch).write_bytes(0, 1);
            Ok(slot.assume_init_mut())
        }
    }

    /// [`BankState::enroll`] in the bank's own scratch.
    pub fn enroll(&mut self, label: u16, samples: &[f32]) -> Result<usize, Error> {
        self.enroll_steps(label, samples, 0, 0.0)
    }

    /// [`BankState::enroll_steps`] in the bank's own scratch ([`Error::Capacity`] when `S` is
    /// too small for K and `steps`).
    pub fn enroll_steps(
        &mut self,
        label: u16,
        samples: &[f32],
        steps: u16,
        rate: f32,
    ) -> Result<usize, Error> {
        let k = samples.len() / self.state.model.input_len().max(1);
        Self::check_scratch(self.state.model, self.state.head, k, steps)?;
        let scratch = &mut self.scratch;
        self.state
            .enroll_steps(label, samples, steps, rate, scratch)
    }

    /// [`BankState::enroll_each`] in the bank's own scratch.
    pub fn enroll_each(
        &mut self,
        label: u16,
        k: usize,
        x: &mut [f32],
        fill: impl FnMut(usize, &mut [f32]) -> Result<(), Error>,
    ) -> Result<usize, Error> {
        Self::check_scratch(self.state.model, self.state.head, k, 0)?;
        self.state.enroll_each(label, k, x, &mut self.scratch, fill)
    }

    /// [`BankState::classify`] in the bank's own scratch.
    pub fn classify(&mut self, x: &[f32]) -> Result<(u16, f32), Error> {
        self.state.classify(x, &mut self.scratch)
    }

    /// [`BankState::score`] in the bank's own scratch.
    pub fn score(&mut self, x: &[f32]) -> Result<ClassScore, Error> {
        self.state.score(x, &mut self.scratch)
    }

    /// The bank without its scratch.
    pub fn state(&self) -> &BankState<'m, B> {
        &self.state
    }
}

impl<'m, const B: usize, const S: usize> Deref for ClassBank<'m, B, S> {
    type Target = BankState<'m, B>;

    fn deref(&self) -> &Self::Target {
        &self.state
    }
}

impl<const B: usize, const S: usize> DerefMut for ClassBank<'_, B, S> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.state
    }
}

/// What [`BankState::score`] gives for one input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassScore {
    /// The most likely active class's label.
    pub label: u16,
    /// Its probability (softmax over the active classes).
    pub probability: f32,
    /// The squared distance from the input's features to that class's prototype.
    pub distance: f32,
    /// `distance` over the enrolled samples' pooled within-class variance
    /// ([`BankState::within_class_variance`]; `None` without one).
    pub relative_distance: Option<f32>,
}
