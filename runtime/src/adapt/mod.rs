//! Few-shot adaptation on the device: a [`SupportSet`] of K labelled samples turns the
//! meta-learned starting point into a model for this user, in a few gradient steps, in RAM the
//! caller sizes in advance ([`Model::ram_needs`]). A linear regression head with
//! [`LearningRate::Proximal`](crate::LearningRate::Proximal) takes implicit steps instead,
//! solved exactly on the support set's features.
//!
//! The adapted parameters live in an [`AdaptState`] (RAM), apart from the model (flash); the
//! state can be reset to the meta-learned values and serves inference through the same
//! [`Network`] API as the model. Head-only adaptation computes the trunk's features of the
//! support set once and reuses them at every step; adapting trunk layers backpropagates
//! through exactly those layers. On any error the state is exactly as before the call.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
//! use fewshot_runtime::{Activation, AdaptScope, AdaptState, Heads, Model, SupportSet};
//!
//! // y = w * x, adapted from w = 0 towards the support set's slope 2.
//! let head = HeadDef::regression(0, "y", vec![Dense::zeros(1, 1, Activation::Identity)])
//!     .with_adapt(AdaptDef::new(AdaptScope::HeadOnly, 20, RateDef::Scalar(0.2), 10.0));
//! let blob = ModelDef::new("line", 1).head(head).to_aligned_bytes().unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//!
//! let mut support: SupportSet<4, 1> = SupportSet::new();
//! for x in [1.0f32, -1.0, 0.5, 2.0] {
//!     support.push_valued(&[x], &[2.0 * x]).unwrap();
//! }
//! let needs = model.ram_needs(0, support.len()).unwrap();
//! let mut state: AdaptState<2> = AdaptState::new(&model, 0).unwrap();
//! let mut scratch = [0.0f32; 64];
//! let mut losses = [0.0f32; 21];
//! assert!(needs.adapt_scratch <= scratch.len());
//! let report = state
//!     .adapt(&model, support.as_support(), None, &mut scratch, &mut losses)
//!     .unwrap();
//! assert!(report.final_loss < 1e-3 * report.initial_loss);
//!
//! let mut y = [0.0f32];
//! state.network(&model).unwrap().infer(&[3.0], Heads::ALL, &mut scratch, &mut y).unwrap();
//! assert!((y[0] - 6.0).abs() < 0.05);
//! state.reset(&model).unwrap(); // back to the meta-learned w = 0
//! # }
//! ```

pub(crate) mod bound;
mod geometry;
pub(crate) mod inner;
pub(crate) mod params;
mod support;

pub use bound::LIMIT as BOUND_LIMIT;
pub use geometry::{Capacities, RamNeeds};
pub use inner::AdaptReport;
pub use support::{Support, SupportSet, Targets};

use crate::format::layout::AdaptedRange;
use crate::format::Model;
use crate::infer::{state_offsets, AdaptedParams, Network};
use crate::math::copy;
use crate::Error;
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;
use inner::InnerLoop;

/// The adapted parameters of one head (capacity `P` floats), in RAM.
///
/// Only the array is generic: every method forwards to non-generic code over the slice of the
/// parameters in use (see `Fingerprint`), so a firmware with states of several capacities
/// holds one copy of that code.
#[derive(Debug, Clone)]
pub struct AdaptState<const P: usize> {
    params: [f32; P],
    of: Fingerprint,
}

/// What ties a state to its model and head, and the number of parameters in use: the
/// non-generic part of an [`AdaptState`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fingerprint {
    used: usize,
    head: usize,
    model_id: u32,
    model_crc: u32,
    range: AdaptedRange,
}

impl<const P: usize> AdaptState<P> {
    /// A state for head `head` of `model`, holding its meta-learned values. Fails with
    /// [`Error::Capacity`] when `P` is smaller than [`Model::adapted_param_count`].
    pub fn new(model: &Model<'_>, head: usize) -> Result<Self, Error> {
        const { assert!(P > 0, "AdaptState capacity must be non-zero") };
        // Not `by_value(init)`: a firmware that keeps its state on the stack links this
        // shorter form (624 bytes less at opt-level "z" in the size probe).
        let mut params = [0.0; P];
        let of = Fingerprint::new(model, head, &mut params)?;
        Ok(AdaptState { params, of })
    }

    /// [`AdaptState::new`] built in `slot` (a `static`, say), the `P` floats never on the
    /// stack. On error `slot` is left as uninitialised as it came.
    pub fn init<'s>(
        slot: &'s mut MaybeUninit<Self>,
        model: &Model<'_>,
        head: usize,
    ) -> Result<&'s mut Self, Error> {
        const { assert!(P > 0, "AdaptState capacity must be non-zero") };
        let p = slot.as_mut_ptr();
        // SAFETY: `p` is valid for writes of a `Self` (it is `slot`'s); zero bytes are the
        // floats 0.0, so `params` is an initialised array once written, and `params` is the only
        // reference to it until `of` is written; after both writes every field is initialised.
        unsafe {
            let params = addr_of_mut!((*p).params);
            params.write_bytes(0, 1);
            let of = Fingerprint::new(model, head, &mut *params)?;
            addr_of_mut!((*p).of).write(of);
            Ok(slot.assume_init_mut())
        }
    }

    /// Back to the meta-learned values.
    pub fn reset(&mut self, model: &Model<'_>) -> Result<(), Error> {
        self.of.check(model)?;
        self.of.load_meta(model, &mut self.params)
    }

    /// The head this state adapts.
    pub fn head(&self) -> usize {
        self.of.head
    }

    /// The adapted parameters (each adapted layer in chain order: `W` row-major, then `b`).
    pub fn params(&self) -> &[f32] {
        self.params.get(..self.of.used).unwrap_or(&[])
    }

    /// Overwrites the adapted parameters (restoring a saved state); the length must match.
    pub fn set_params(&mut self, model: &Model<'_>, params: &[f32]) -> Result<(), Error> {
        self.of.set_params(model, &mut self.params, params)
    }

    /// The adapted parameters, writable, after checking that `model` is this state's model
    /// (restoring in place: the caller keeps the values finite).
    pub(crate) fn params_mut(&mut self, model: &Model<'_>) -> Result<&mut [f32], Error> {
        self.of.check(model)?;
        self.of.in_use(&mut self.params)
    }

    /// The model with this state's parameters in place of the meta-learned ones. When the
    /// state adapts trunk layers (every scope but head-only), the adapted trunk feeds every head
    /// of a multi-head [`Network::infer`], not only this state's head.
    pub fn network<'m, 's>(&'s self, model: &'m Model<'m>) -> Result<Network<'m, 's>, Error>
    where
        'm: 's,
    {
        self.of.check(model)?;
        Ok(Network {
            model,
            adapted: Some(AdaptedParams {
                head: self.of.head,
                range: self.of.range,
                params: self.params(),
            }),
        })
    }

    /// Adapts on `support` for `steps` inner steps (`None`: the model's default), logging the
    /// support loss before each step and after the last into `losses` (at least `steps + 1`
    /// long). `scratch` needs [`RamNeeds::adapt_scratch`] floats.
    ///
    /// A head that starts from prototypes has its last layer set from the support set's class
    /// means first (then zero steps is allowed). On error the state is exactly as before.
    pub fn adapt(
        &mut self,
        model: &Model<'_>,
        support: Support<'_>,
        steps: Option<u16>,
        scratch: &mut [f32],
        losses: &mut [f32],
    ) -> Result<AdaptReport, Error> {
        let call = AdaptCall {
            support,
            steps,
            scratch,
            losses,
            best: None,
        };
        self.of.adapt(model, &mut self.params, call)
    }

    /// [`AdaptState::adapt`] guarded against divergence, for every step rule (gradient and
    /// implicit steps): the state ends at the parameters of the lowest support loss of the log,
    /// so no rise of the support loss survives the call. When the loss after the last step is
    /// above the lowest one seen, or a step's loss is not finite (the steps stop there), the
    /// state goes back to the best step's parameters; [`AdaptReport::rolled_back`] and
    /// [`AdaptReport::best_step`] say so. A loss that rises and falls again below the lowest
    /// keeps going (the shipped Meta-SGD sinusoid model does so on about one task in twenty).
    ///
    /// Gradient steps copy the state into `best` (as long as [`AdaptState::params`]) at every
    /// new lowest loss: it costs as much RAM as the state, which is why it is the caller's
    /// choice. Implicit steps compute their whole log before the state changes and leave `best`
    /// unused (its length is still checked).
    pub fn adapt_guarded(
        &mut self,
        model: &Model<'_>,
        support: Support<'_>,
        steps: Option<u16>,
        scratch: &mut [f32],
        losses: &mut [f32],
        best: &mut [f32],
    ) -> Result<AdaptReport, Error> {
        let call = AdaptCall {
            support,
            steps,
            scratch,
            losses,
            best: Some(best),
        };
        self.of.adapt(model, &mut self.params, call)
    }
}

/// The arguments of [`AdaptState::adapt`] and [`AdaptState::adapt_guarded`] besides the model.
struct AdaptCall<'a> {
    support: Support<'a>,
    steps: Option<u16>,
    scratch: &'a mut [f32],
    losses: &'a mut [f32],
    /// The rollback buffer of a guarded call.
    best: Option<&'a mut [f32]>,
}

impl Fingerprint {
    /// The fingerprint of a new state of head `head` of `model`, after loading its meta-learned
    /// values into `params` (the state's whole capacity).
    #[inline(never)]
    fn new(model: &Model<'_>, head: usize, params: &mut [f32]) -> Result<Fingerprint, Error> {
        let range = model.adapted_range(head)?;
        let used = model.adapted_param_count(head)?;
        Error::check_capacity("adapted state (AdaptState<P>)", used, params.len())?;
        let of = Fingerprint {
            used,
            head,
            model_id: model.model_id(),
            model_crc: model.crc(),
            range,
        };
        of.load_meta(model, params)?;
        Ok(of)
    }

    /// The one place a caller's mistake about the state shows: `model` must be the state's
    /// model (see [`same_model`]).
    fn check(&self, model: &Model<'_>) -> Result<(), Error> {
        same_model(
            model,
            (
                self.model_id,
                self.model_crc,
                self.head,
                self.range,
                self.used,
            ),
        )
    }

    /// The parameters in use of a state's whole array.
    fn in_use<'p>(&self, params: &'p mut [f32]) -> Result<&'p mut [f32], Error> {
        params
            .get_mut(..self.used)
            .ok_or(Error::internal("adapt::in_use"))
    }

    /// Writes the meta-learned values of the adapted layers into `params`.
    #[inline(never)]
    fn load_meta(&self, model: &Model<'_>, params: &mut [f32]) -> Result<(), Error> {
        for index in self.range.first..self.range.chain_len {
            let spec = model.chain_layer(self.head, index)?;
            let (w, b) = model.layer_params(spec)?;
            let (w_at, b_at) = state_offsets(model, self.head, &self.range, index)?;
            if let Some(at) = w_at {
                let dst = params.get_mut(at..at + w.len());
                copy(
                    dst.ok_or(Error::internal("adapt::load_meta"))?,
                    w,
                    "adapt::load_meta",
                )?;
            }
            let dst = params.get_mut(b_at..b_at + b.len());
            copy(
                dst.ok_or(Error::internal("adapt::load_meta"))?,
                b,
                "adapt::load_meta",
            )?;
        }
        Ok(())
    }

    /// [`AdaptState::set_params`] on the state's array `state`.
    #[inline(never)]
    fn set_params(
        &self,
        model: &Model<'_>,
        state: &mut [f32],
        params: &[f32],
    ) -> Result<(), Error> {
        self.check(model)?;
        if params.len() != self.used {
            return Err(Error::LengthMismatch {
                what: "adapted parameters",
                expected: self.used,
                found: params.len(),
            });
        }
        if params.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "adapted parameter",
                sample: 0,
            });
        }
        copy(self.in_use(state)?, params, "adapt::set_params")
    }

    /// Both entry points of an adaptation: validate, then the inner loop (with a rollback
    /// buffer or none) on the state's array `params`.
    #[inline(never)]
    fn adapt(
        &self,
        model: &Model<'_>,
        params: &mut [f32],
        call: AdaptCall<'_>,
    ) -> Result<AdaptReport, Error> {
        let AdaptCall {
            support,
            steps,
            scratch,
            losses,
            best,
        } = call;
        self.check(model)?;
        let steps = match steps {
            Some(s) => s,
            None => model.adapt_spec(self.head)?.steps,
        };
        let lp = InnerLoop::new(model, self.head, self.range, support, steps)?;
        lp.run(self.in_use(params)?, steps, scratch, losses, best)
    }
}

/// Err([`Error::StateMismatch`]) unless `model` is the one a state's fingerprint (model id,
/// CRC, head, adapted range, parameter count) was made from. The id and CRC say so; the adapted
/// layers and parameter count are compared as well, so that even a CRC collision cannot bring a
/// state of another shape into the inner loop or inference (which then treat any mismatch as
/// [`Error::Internal`]). Not generic and out of line: one copy guards every entry point of
/// every `AdaptState<P>`.
#[inline(never)]
fn same_model(
    model: &Model<'_>,
    (id, crc, head, range, used): (u32, u32, usize, AdaptedRange, usize),
) -> Result<(), Error> {
    let same = model.model_id() == id
        && model.crc() == crc
        && model.adapted_range(head).ok() == Some(range)
        && model.adapted_param_count(head).ok() == Some(used);
    if !same {
        return Err(Error::StateMismatch);
    }
    Ok(())
}
