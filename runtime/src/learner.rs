//! [`Learner`]: one head of a model with its adapted state, scratch and loss log, sized by
//! constants (the ones `trainer inspect MODEL --rust` writes for each exported model), so a
//! firmware author owns only the input and output buffers.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
//! use fewshot_runtime::AdaptScope;
//! use fewshot_runtime::{Activation, Learner, Model, Support};
//!
//! // y = w x + b, adapted by 20 gradient steps of rate 0.2 on its head.
//! let head = HeadDef::regression(0, "y", vec![Dense::new(1, 1, Activation::Identity, vec![0.0], vec![0.0])])
//!     .with_adapt(AdaptDef::new(AdaptScope::HeadOnly, 20, RateDef::Scalar(0.2), 10.0));
//! let blob = ModelDef::new("line", 1).head(head).to_aligned_bytes().unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//! // Sizes: 2 adapted parameters, 64 floats of scratch, a log of 21 losses.
//! let mut learner: Learner<'_, 2, 64, 21> = Learner::new(&model, 0).unwrap();
//! let (x, y) = ([0.0, 1.0, 2.0], [1.0, 3.0, 5.0]);
//! let report = learner.adapt(Support::values(&x, &y)).unwrap();
//! assert!(report.final_loss < report.initial_loss);
//! assert_eq!(learner.losses().len(), 21);
//! let mut out = [0.0];
//! learner.predict(&[3.0], &mut out).unwrap();
//! assert!((out[0] - 7.0).abs() < 1.0);
//! # }
//! ```

use crate::adapt::{AdaptReport, AdaptState, Support};
use crate::format::{HeadKind, Model};
use crate::in_place::by_value;
use crate::infer::Heads;
use crate::persist::nor_flash::NorFlash;
use crate::persist::{RecordInfo, Slots};
use crate::Error;
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

/// Head `head` of a model, ready to adapt and predict: `P` adapted parameters, `S` floats of
/// scratch (adaptation with the largest support set it will see, and inference), a log of
/// `LOG` support losses (at least the model's default steps + 1).
#[derive(Debug, Clone)]
pub struct Learner<'m, const P: usize, const S: usize, const LOG: usize> {
    model: &'m Model<'m>,
    state: AdaptState<P>,
    scratch: [f32; S],
    losses: [f32; LOG],
    logged: usize,
    /// The head's classes are set (by `adapt` or `restore`): false at the start of a head
    /// that starts from prototypes, whose class rows are zeros until the support set's.
    has_classes: bool,
}

impl<'m, const P: usize, const S: usize, const LOG: usize> Learner<'m, P, S, LOG> {
    /// The learner of head `head` at its meta-learned start. Fails with [`Error::Capacity`]
    /// when `P`, `S` (for inference) or `LOG` (for the default steps) is too small for this
    /// model: constants written for another model are refused here, not at the first call.
    pub fn new(model: &'m Model<'m>, head: usize) -> Result<Self, Error> {
        // SAFETY: `init` initialises every field of the slot when it returns Ok.
        unsafe { by_value(|slot| Self::init(slot, model, head)) }
    }

    /// [`Learner::new`] built in `slot` (a `static`, say): its `P + S + LOG` floats are never
    /// on the stack, so a firmware keeps a learner larger than its stack, and the linker
    /// checks that it fits the RAM. On error `slot` is left as uninitialised as it came.
    pub fn init<'s>(
        slot: &'s mut MaybeUninit<Self>,
        model: &'m Model<'m>,
        head: usize,
    ) -> Result<&'s mut Self, Error> {
        Self::check_sizes(model, head)?;
        let p = slot.as_mut_ptr();
        // SAFETY: `p` is valid for writes of a `Self` (it is `slot`'s); `state` is a
        // `MaybeUninit` view of its own field (same layout); zero bytes are the floats 0.0;
        // each field is written once, and after the last write every field is initialised.
        unsafe {
            let state = &mut *addr_of_mut!((*p).state).cast::<MaybeUninit<AdaptState<P>>>();
            AdaptState::init(state, model, head)?;
            addr_of_mut!((*p).model).write(model);
            addr_of_mut!((*p).scratch).write_bytes(0, 1);
            addr_of_mut!((*p).losses).write_bytes(0, 1);
            addr_of_mut!((*p).logged).write(0);
            addr_of_mut!((*p).has_classes).write(!starts_from_prototypes(model, head)?);
            Ok(slot.assume_init_mut())
        }
    }

    /// What [`Learner::new`] checks, without building the learner (nor its `P + S + LOG`
    /// floats): a firmware choosing between models asks before it commits to one.
    pub fn check_sizes(model: &Model<'_>, head: usize) -> Result<(), Error> {
        Error::check_capacity(
            "adapted state (AdaptState<P>)",
            model.adapted_param_count(head)?,
            P,
        )?;
        // Inference, then room for the head's outputs ([`Learner::classify`]'s probabilities).
        let infer = model.infer_scratch_len() + model.head(head)?.kind.outputs();
        Error::check_capacity("learner scratch (S)", infer, S)?;
        let log = usize::from(model.adapt_spec(head)?.steps) + 1;
        Error::check_capacity("learner loss log (LOG)", log, LOG)
    }

    /// The model's head this learner adapts.
    pub fn head(&self) -> usize {
        self.state.head()
    }

    /// Floats per input sample.
    pub fn input_len(&self) -> usize {
        self.model.input_len()
    }

    /// Outputs of the head: values of a regression head, or one probability per class.
    pub fn output_len(&self) -> Result<usize, Error> {
        self.output_len_of(self.head())
    }

    fn output_len_of(&self, head: usize) -> Result<usize, Error> {
        Ok(self.model.head(head)?.kind.outputs())
    }

    /// Adapts on `support` with the model's default number of steps. On error the learner is
    /// exactly as before.
    pub fn adapt(&mut self, support: Support<'_>) -> Result<AdaptReport, Error> {
        self.adapt_steps(support, None)
    }

    /// The most inner steps [`Learner::adapt_steps`] takes: its loss log's `LOG - 1`, at most
    /// [`crate::MAX_STEPS`] (the generated module's `MAX_STEPS`).
    pub const fn max_steps(&self) -> u16 {
        let log = LOG.saturating_sub(1);
        if log < crate::MAX_STEPS as usize {
            log as u16
        } else {
            crate::MAX_STEPS
        }
    }

    /// Adapts on `support` for `steps` steps (`None`: the model's default); at most
    /// [`Learner::max_steps`], else [`Error::TooManySteps`] with that limit. A support set
    /// larger than the scratch was sized for (`K_MAX` of the generated module) is
    /// [`Error::Capacity`] naming the learner's scratch.
    pub fn adapt_steps(
        &mut self,
        support: Support<'_>,
        steps: Option<u16>,
    ) -> Result<AdaptReport, Error> {
        // The loss log's limit (`trainer inspect --rust --max-steps` sizes it), as the
        // runtime's own: `TooManySteps` with the most this learner takes.
        let max = self.max_steps();
        if let Some(steps) = steps.filter(|&s| s > max) {
            return Err(Error::TooManySteps { steps, max });
        }
        let report = self
            .state
            .adapt(
                self.model,
                support,
                steps,
                &mut self.scratch,
                &mut self.losses,
            )
            .map_err(|e| match e {
                // The learner's own buffers: sized by the generated module, for its K_MAX.
                Error::BufferTooSmall {
                    what,
                    needed,
                    provided,
                } if what == crate::adapt::inner::ADAPTATION_SCRATCH => Error::Capacity {
                    what: "learner scratch S (more samples than K_MAX: `--k`)",
                    needed,
                    available: provided,
                },
                e => e,
            })?;
        self.logged = usize::from(report.steps) + 1;
        self.has_classes = true;
        Ok(report)
    }

    /// The support losses of the last adaptation: before each step and after the last.
    pub fn losses(&self) -> &[f32] {
        self.losses.get(..self.logged).unwrap_or(&[])
    }

    /// Back to the meta-learned start.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.logged = 0;
        self.state.reset(self.model)?;
        self.has_classes = !starts_from_prototypes(self.model, self.head())?;
        Ok(())
    }

    /// The adapted state (to persist it, see [`crate::persist`]).
    pub fn state(&self) -> &AdaptState<P> {
        &self.state
    }

    /// The learner's scratch, lent to other work between its calls (a device's class bank,
    /// [`crate::enroll::BankState`]): nothing in it lasts from one call of the learner to the
    /// next, so a firmware keeps one scratch for both.
    pub fn scratch_mut(&mut self) -> &mut [f32] {
        &mut self.scratch
    }

    /// Restores the newest state saved in `slots` (by [`Slots::save`] of [`Learner::state`])
    /// into this learner, as [`Slots::restore`] does (on error the state is as that leaves it:
    /// unchanged, or at the meta-learned start); the loss log is emptied.
    pub fn restore<F: NorFlash>(
        &mut self,
        slots: &Slots,
        flash: &mut F,
    ) -> Result<RecordInfo, Error> {
        self.logged = 0;
        let info = slots.restore(flash, self.model, &mut self.state)?;
        self.has_classes = true;
        Ok(info)
    }

    /// The adapted head's outputs for one sample `x` into `out` (exactly
    /// [`Learner::output_len`] long): values, or class probabilities.
    pub fn predict(&mut self, x: &[f32], out: &mut [f32]) -> Result<(), Error> {
        self.predict_head(self.head(), x, out)
    }

    /// Another head of the same model, from the same trunk (the adapted head as adapted, the
    /// others as exported): its outputs for `x` into `out` (exactly that head's output count).
    pub fn predict_head(&mut self, head: usize, x: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let n = self.output_len_of(head)?;
        if out.len() != n {
            return Err(Error::LengthMismatch {
                what: "output",
                expected: n,
                found: out.len(),
            });
        }
        self.check_input(head, x)?;
        let net = self.state.network(self.model)?;
        net.infer(x, Heads::only(head), &mut self.scratch, out)?;
        finite(out, "output")
    }

    /// [`Error::NonFinite`] for an input value that is NaN or infinite (a disconnected sensor
    /// would otherwise be answered as a class); [`Error::NoClassEnrolled`] for the adapted head
    /// of a prototype start before any support set.
    fn check_input(&self, head: usize, x: &[f32]) -> Result<(), Error> {
        if head == self.head() && !self.has_classes {
            return Err(Error::NoClassEnrolled);
        }
        finite(x, "input")
    }

    /// The class of `x` and its probability, for a classification or matching head.
    pub fn classify(&mut self, x: &[f32]) -> Result<(u16, f32), Error> {
        let head = self.head();
        let classes = match self.model.head(head)?.kind {
            HeadKind::Regression { .. } => return Err(Error::TargetKindMismatch),
            kind => kind.outputs(),
        };
        self.check_input(head, x)?;
        let infer = self.model.infer_scratch_len();
        let net = self.state.network(self.model)?;
        let (scratch, rest) = self.scratch.split_at_mut(infer.min(S));
        let probs = rest.get_mut(..classes).ok_or(Error::BufferTooSmall {
            what: "learner scratch (S)",
            needed: infer + classes,
            provided: S,
        })?;
        net.infer(x, Heads::only(head), scratch, probs)?;
        finite(probs, "output")?;
        let (best, p) =
            probs.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |a, (i, &p)| if p > a.1 { (i, p) } else { a },
            );
        // Class counts are u16 in the format.
        Ok((u16::try_from(best).unwrap_or(u16::MAX), p))
    }
}

/// Whether `head` starts from prototypes (its class rows set from the support set).
fn starts_from_prototypes(model: &Model<'_>, head: usize) -> Result<bool, Error> {
    Ok(match model.adapt_spec(head) {
        Ok(spec) => spec.prototype_scale.is_some(),
        Err(Error::HeadNotAdaptable { .. }) => false,
        Err(e) => return Err(e),
    })
}

/// [`Error::NonFinite`] naming `what` when a value of `v` is NaN or infinite.
fn finite(v: &[f32], what: &'static str) -> Result<(), Error> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(_) => Err(Error::NonFinite { what, sample: 0 }),
        None => Ok(()),
    }
}
