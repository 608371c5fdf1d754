//! The inner loop: S steps of clipped gradient descent on the support loss, over the adapted
//! parameters only, with each layer's update applied as soon as backpropagation has used its
//! old weights (no gradient buffer).

use super::bound::check_bounds;
use super::geometry::Geometry;
use super::params::{layer, layer_mut, Weights};
use super::support::{Support, Targets};
use crate::format::layout::AdaptedRange;
use crate::format::{AdaptSpec, HeadKind, Model, MAX_STEPS};
use crate::math::copy;
use crate::ops::head::LossInput;
use crate::ops::layer::{Backward, Layer, LayerOp, LayerTrain};
use crate::ops::step::{Run, Slot};
use crate::Error;

/// What an adaptation did.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AdaptReport {
    /// Inner steps run (with the guard, up to a step whose loss was not finite).
    pub steps: u16,
    /// Support loss before the first step (after prototype initialisation, if any).
    pub initial_loss: f32,
    /// Support loss after the last step (with the guard: of the parameters the state keeps).
    pub final_loss: f32,
    /// The head's last layer was initialised from class prototypes.
    pub from_prototypes: bool,
    /// The step whose parameters had the lowest support loss (0: the starting point).
    pub best_step: u16,
    /// With the guard ([`AdaptState::adapt_guarded`](crate::AdaptState::adapt_guarded)): the
    /// state went back to `best_step`'s parameters, because the loss after the last step was
    /// above that lowest one, or was not finite (the steps stopped there).
    pub rolled_back: bool,
}

/// Splits the activations into the region before adapted position `p` (the layer's input) and
/// its own output region.
fn regions<'a>(
    acts: &'a mut [f32],
    geo: &Geometry,
    p: usize,
) -> Result<(&'a mut [f32], &'a mut [f32]), Error> {
    let bug = Error::internal("adapt::inner::regions");
    let s0 = *geo.starts.get(p).ok_or(bug)?;
    let s1 = *geo.starts.get(p + 1).ok_or(bug)?;
    let s2 = *geo.starts.get(p + 2).ok_or(bug)?;
    let (lo, hi) = acts.split_at_mut_checked(s1).ok_or(bug)?;
    let prev = lo.get_mut(s0..).ok_or(bug)?;
    let cur = hi.get_mut(..s2 - s1).ok_or(bug)?;
    Ok((prev, cur))
}

/// Everything one adaptation call works with.
pub(crate) struct InnerLoop<'a> {
    pub model: &'a Model<'a>,
    pub head: usize,
    pub range: AdaptedRange,
    pub spec: AdaptSpec,
    pub kind: HeadKind,
    pub geo: Geometry,
    pub support: Support<'a>,
    pub rates: &'a [f32],
}

/// The `what` of the inner loop's [`Error::BufferTooSmall`] for its scratch: [`crate::Learner`]
/// tells it as its own scratch's capacity.
pub(crate) const ADAPTATION_SCRATCH: &str = "adaptation scratch";

impl<'a> InnerLoop<'a> {
    /// Validates the call; nothing is changed on error.
    pub fn new(
        model: &'a Model<'a>,
        head: usize,
        range: AdaptedRange,
        support: Support<'a>,
        steps: u16,
    ) -> Result<Self, Error> {
        let spec = *model.adapt_spec(head)?;
        let kind = model.head(head)?.kind;
        if steps == 0 && spec.prototype_scale.is_none() {
            return Err(Error::ZeroSteps);
        }
        if steps > MAX_STEPS {
            return Err(Error::TooManySteps {
                steps,
                max: MAX_STEPS,
            });
        }
        let d = model.input_len();
        // Before the targets' kind: an empty set has none (a `SupportSet` says classes).
        if support.inputs.is_empty() {
            return Err(Error::EmptySupport);
        }
        let k = kind.support_len(model, head, support.targets)?;
        if k == 0 {
            return Err(Error::EmptySupport);
        }
        let expected = k.checked_mul(d).ok_or(Error::Capacity {
            what: "support set",
            needed: k,
            available: usize::MAX / d.max(1),
        })?;
        if support.inputs.len() != expected {
            return Err(Error::LengthMismatch {
                what: "support inputs",
                expected,
                found: support.inputs.len(),
            });
        }
        for (i, v) in support.inputs.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::NonFinite {
                    what: "support input",
                    sample: i / d,
                });
            }
        }
        if let (Some(_), Targets::Classes(labels), Some(classes)) =
            (spec.prototype_scale, support.targets, kind.classes())
        {
            for class in 0..classes {
                if !labels.contains(&class) {
                    return Err(Error::ClassWithoutSamples { class });
                }
            }
        }
        let geo = Geometry::new(model, head, &range, k)?;
        let rates = model.rate_tensor(head)?;
        Ok(InnerLoop {
            model,
            head,
            range,
            spec,
            kind,
            geo,
            support,
            rates,
        })
    }

    /// Runs the whole adaptation on `params` (the state), using `scratch`, logging the support
    /// loss before each step and after the last into `losses`.
    pub fn run(
        &self,
        params: &mut [f32],
        steps: u16,
        scratch: &mut [f32],
        losses: &mut [f32],
        mut best: Option<&mut [f32]>,
    ) -> Result<AdaptReport, Error> {
        if let Some(b) = &best {
            if b.len() != params.len() {
                return Err(Error::BufferTooSmall {
                    what: "rollback",
                    needed: params.len(),
                    provided: b.len(),
                });
            }
        }
        let needed = self.geo.total();
        if scratch.len() < needed {
            return Err(Error::BufferTooSmall {
                what: ADAPTATION_SCRATCH,
                needed,
                provided: scratch.len(),
            });
        }
        let n_log = usize::from(steps) + 1;
        if losses.len() < n_log {
            return Err(Error::BufferTooSmall {
                what: "loss log",
                needed: n_log,
                provided: losses.len(),
            });
        }
        let geo = &self.geo;
        let (acts, rest) = scratch.split_at_mut(geo.activations());
        let (block, rest) = rest.split_at_mut(geo.block);
        let (pa, rest) = rest.split_at_mut(geo.prefix_width);
        let (pb, rest) = rest.split_at_mut(geo.prefix_width);
        let solve = rest
            .get_mut(..geo.solve)
            .ok_or(Error::internal("adapt::inner::run"))?;

        self.fill_inputs(acts, pa, pb)?;
        let run = Run {
            params: &mut *params,
            acts: &mut *acts,
            solve,
            steps,
            losses: &mut *losses,
            guard: best.is_some(),
        };
        if let Some(report) = self.spec.rate.run(self, run) {
            // A rule that is not a gradient step (the implicit step) ran whole.
            return report;
        }
        check_bounds(self, params, acts, steps)?;
        // From here on the state changes; the bounds above prove every value stays finite.
        let from_prototypes = match self.spec.prototype_scale {
            Some(scale) => {
                self.forward(params, acts, self.geo.chain_len - 1)?;
                self.init_prototypes(params, acts, scale)?;
                true
            }
            None => false,
        };
        let mut initial_loss = 0.0;
        let mut final_loss = 0.0;
        let mut best_loss = f32::INFINITY;
        let mut best_step = 0;
        let mut rolled_back = false;
        let mut ran = steps;
        for step in 0..=steps {
            self.forward(params, acts, self.geo.chain_len)?;
            let last = step == steps;
            let loss = self.loss_and_delta(acts, !last)?;
            if step == 0 {
                if !loss.is_finite() {
                    return Err(Error::NonFiniteLoss { step });
                }
                initial_loss = loss;
            }
            if let Some(slot) = losses.get_mut(usize::from(step)) {
                *slot = loss;
            }
            if let Some(b) = best.as_deref_mut() {
                if !loss.is_finite() {
                    // Back to the best parameters seen; the log ends at this step.
                    copy(params, b, "adapt::inner::run")?;
                    rolled_back = true;
                    ran = step;
                    final_loss = best_loss;
                    break;
                }
                if loss < best_loss {
                    copy(b, params, "adapt::inner::run")?;
                }
            } else if !loss.is_finite() {
                return Err(Error::NonFiniteLoss { step });
            }
            if loss < best_loss {
                best_loss = loss;
                best_step = step;
            }
            final_loss = loss;
            if last {
                if let Some(b) = best.as_deref_mut() {
                    if best_step != step {
                        // The last loss is above the lowest: back to the best parameters seen.
                        copy(params, b, "adapt::inner::run")?;
                        rolled_back = true;
                        final_loss = best_loss;
                    }
                }
                break;
            }
            for index in (self.range.first..self.geo.chain_len).rev() {
                self.backward(params, acts, block, index, step)?;
            }
        }
        Ok(AdaptReport {
            steps: ran,
            initial_loss,
            final_loss,
            from_prototypes,
            best_step,
            rolled_back,
        })
    }

    /// Writes the input of the first adapted layer, for every support sample, into the first
    /// activation region: the normalised input, or the frozen prefix's output. Finite inputs can
    /// still give non-finite features (`inf - inf` in a frozen layer, `inf * 0` in the
    /// normalisation): such a sample is refused here, before the state changes.
    fn fill_inputs(&self, acts: &mut [f32], pa: &mut [f32], pb: &mut [f32]) -> Result<(), Error> {
        self.fill_features(acts, pa, pb)?;
        let width = *self
            .geo
            .starts
            .get(1)
            .ok_or(Error::internal("adapt::inner::fill_inputs"))?
            / self.geo.k;
        let region = acts
            .get(..width * self.geo.k)
            .ok_or(Error::internal("adapt::inner::fill_inputs"))?;
        match region.iter().position(|v| !v.is_finite()) {
            Some(i) => Err(Error::NonFinite {
                what: "support features",
                sample: i / width.max(1),
            }),
            None => Ok(()),
        }
    }

    fn fill_features(&self, acts: &mut [f32], pa: &mut [f32], pb: &mut [f32]) -> Result<(), Error> {
        let bug = Error::internal("adapt::inner::fill_features");
        let net = self.model.network();
        let d = self.model.input_len();
        let width = *self.geo.starts.get(1).ok_or(bug)? / self.geo.k;
        let region = acts.get_mut(..width * self.geo.k).ok_or(bug)?;
        for (x, row) in self
            .support
            .inputs
            .chunks_exact(d.max(1))
            .zip(region.chunks_exact_mut(width.max(1)))
        {
            if self.range.first == 0 && self.model.stem().is_empty() {
                net.normalise(x, row);
                continue;
            }
            let mut in_a = net.front(x, pa, pb)?;
            for i in 0..self.range.first {
                let spec = self.model.chain_layer(self.head, i)?;
                let (w, b) = self.model.layer_params(spec)?;
                let layer = Layer::of(spec);
                let (src, dst) = if in_a {
                    (&*pa, &mut *pb)
                } else {
                    (&*pb, &mut *pa)
                };
                let src = src.get(..layer.inputs()).ok_or(bug)?;
                let dst = dst.get_mut(..layer.outputs()).ok_or(bug)?;
                layer.forward(w, b, src, dst);
                in_a = !in_a;
            }
            let src = if in_a { &*pa } else { &*pb };
            copy(
                row,
                src.get(..width).ok_or(bug)?,
                "adapt::inner::fill_features",
            )?;
        }
        Ok(())
    }

    /// Runs the adapted layers `first..upto` on every sample.
    pub(crate) fn forward(
        &self,
        params: &[f32],
        acts: &mut [f32],
        upto: usize,
    ) -> Result<(), Error> {
        for index in self.range.first..upto {
            let (w, b, spec) = layer(self.model, self.head, &self.range, params, index)?;
            let (prev, cur) = regions(acts, &self.geo, index - self.range.first)?;
            Layer::of(&spec).forward_batch(w, b, prev, cur);
        }
        Ok(())
    }

    /// The support loss of the outputs in the last region; with `delta`, replaces them with the
    /// loss's gradient with respect to the last layer's pre-activation.
    fn loss_and_delta(&self, acts: &mut [f32], delta: bool) -> Result<f32, Error> {
        let geo = &self.geo;
        let last = geo.starts.len().saturating_sub(2);
        let at = *geo
            .starts
            .get(last)
            .ok_or(Error::internal("adapt::inner::loss_and_delta"))?;
        let out = acts
            .get_mut(at..geo.activations())
            .ok_or(Error::internal("adapt::inner::loss_and_delta"))?;
        let spec = self.model.chain_layer(self.head, geo.chain_len - 1)?;
        self.kind.loss(LossInput {
            out,
            targets: self.support.targets,
            activation: spec.activation,
            norm: self.model.output_normalisation(self.head),
            k: geo.k,
            delta,
        })
    }

    /// Backpropagates through adapted layer `index` and applies its update; on entry its output
    /// region holds the gradient w.r.t. its pre-activation; on exit (unless it is the first
    /// adapted layer) its input region holds the same for the layer before.
    ///
    /// The layer's own backward pass does the work (see [`LayerOp::backward`]).
    fn backward(
        &self,
        params: &mut [f32],
        acts: &mut [f32],
        block: &mut [f32],
        index: usize,
        step: u16,
    ) -> Result<(), Error> {
        let position = index - self.range.first;
        let backprop_on = index > self.range.first;
        let prev_act = match backprop_on {
            true => Layer::of(self.model.chain_layer(self.head, index - 1)?).activation(),
            false => crate::Activation::Identity,
        };
        let l = layer_mut(self.model, self.head, &self.range, params, index)?;
        let layer = Layer::of(&l.spec);
        let slot = Slot {
            position,
            w_at: l.w_at,
            b_at: l.b_at,
            nw: layer.weight_count(),
            nb: layer.outputs(),
        };
        let rates = self
            .spec
            .rate
            .layer_rates(self.rates, self.range.layers(), slot, step);
        let (prev, cur) = regions(acts, &self.geo, position)?;
        layer.backward(Backward {
            weights: l.weights,
            bias: l.bias,
            rates,
            clip: self.spec.clip,
            k: self.geo.k,
            inputs: prev,
            deltas: cur,
            block,
            back: backprop_on.then_some(prev_act),
        })
    }

    /// Sets the last layer from class prototypes of its inputs (already in their region).
    fn init_prototypes(
        &self,
        params: &mut [f32],
        acts: &mut [f32],
        scale: f32,
    ) -> Result<(), Error> {
        let Targets::Classes(labels) = self.support.targets else {
            return Err(Error::TargetKindMismatch);
        };
        let index = self.geo.chain_len - 1;
        let (prev, _) = regions(acts, &self.geo, index - self.range.first)?;
        let l = layer_mut(self.model, self.head, &self.range, params, index)?;
        let ni = usize::from(l.spec.inputs);
        let Weights::Adapted(w) = l.weights else {
            return Err(Error::InvalidHeader {
                field: "adapt.prototype_scale",
            });
        };
        let per_class = self.kind.per_class();
        for (unit, (row, b)) in w
            .chunks_exact_mut(ni.max(1))
            .zip(l.bias.iter_mut())
            .enumerate()
        {
            let (class, slot) = (unit / per_class, unit % per_class);
            // Slot `i` of a class: the mean of its samples `i, i + per_class, ...` (in support
            // order); a slot with none (fewer samples than slots) takes the class mean.
            let has_own = labels.iter().filter(|&&l| usize::from(l) == class).count() > slot;
            row.iter_mut().for_each(|v| *v = 0.0);
            let mut n = 0u32;
            let mut rank = 0usize;
            for (x, &label) in prev.chunks_exact(ni.max(1)).zip(labels) {
                if usize::from(label) != class {
                    continue;
                }
                if !has_own || rank % per_class == slot {
                    n += 1;
                    for (r, v) in row.iter_mut().zip(x) {
                        *r += v;
                    }
                }
                rank += 1;
            }
            let inv = 1.0 / n.max(1) as f32;
            let mut norm = 0.0;
            for r in row.iter_mut() {
                let mu = *r * inv;
                norm += mu * mu;
                *r = 2.0 * scale * mu;
            }
            *b = -scale * norm;
        }
        Ok(())
    }
}
