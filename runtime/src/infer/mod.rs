//! Multi-head inference: the trunk runs once per sample, then every selected head reads its
//! features. Outputs go into caller-provided buffers; classification heads output softmax
//! probabilities, regression heads their values.
//!
//! The same [`Network`] API serves the meta-learned model in flash ([`Model::network`]) and an
//! adapted state in RAM ([`AdaptState::network`](crate::AdaptState::network)).
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
//! use fewshot_runtime::{Activation, Heads, Model};
//!
//! let blob = ModelDef::new("two-heads", 2)
//!     .trunk(Dense::new(2, 2, Activation::Identity, vec![1.0, 0.0, 0.0, 1.0], vec![0.0; 2]))
//!     .head(HeadDef::regression(0, "sum", vec![Dense::new(2, 1, Activation::Identity, vec![1.0, 1.0], vec![0.0])]))
//!     .head(HeadDef::classification(1, "which", vec![Dense::new(2, 2, Activation::Identity, vec![1.0, 0.0, 0.0, 1.0], vec![0.0; 2])]))
//!     .to_aligned_bytes().unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//! let net = model.network();
//! let mut scratch = [0.0f32; 16];
//! let mut out = [0.0f32; 3];
//! net.infer(&[3.0, 3.0], Heads::ALL, &mut scratch, &mut out).unwrap();
//! assert_eq!(out, [6.0, 0.5, 0.5]);
//! # }
//! ```

use crate::format::layout::AdaptedRange;
use crate::format::{HeadSpec, InputTransform, LayerSpec, Model};
use crate::math::standardise;
use crate::ops::head::{Features, HeadScratch};
use crate::ops::layer::{Layer, LayerOp, Stem};
use crate::ops::views;
use crate::Error;

/// A set of heads, by index (bit `i` selects head `i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Heads(pub u8);

impl Heads {
    /// Every head of the model.
    pub const ALL: Heads = Heads(u8::MAX);
    /// Only head `index`. At or above 8 (beyond any model's heads) it selects nothing, and
    /// inference refuses it with [`Error::NoHeadSelected`].
    pub fn only(index: usize) -> Heads {
        Heads(if index < 8 { 1 << index } else { 0 })
    }
    /// True when head `index` is selected.
    pub fn contains(&self, index: usize) -> bool {
        index < 8 && self.0 & (1 << index) != 0
    }
}

/// The adapted parameters of one head, as a view (see [`crate::AdaptState`]).
#[derive(Debug, Clone, Copy)]
pub struct AdaptedParams<'s> {
    pub(crate) head: usize,
    pub(crate) range: AdaptedRange,
    pub(crate) params: &'s [f32],
}

/// Where an adapted layer's parameters lie in the state: `(weights offset, bias offset)`;
/// `None` for the weights when only biases adapt.
pub(crate) fn state_offsets(
    model: &Model<'_>,
    head: usize,
    range: &AdaptedRange,
    index: usize,
) -> Result<(Option<usize>, usize), Error> {
    let mut at = 0usize;
    for i in range.first..index {
        let l = model.chain_layer(head, i)?;
        at += if range.biases_only {
            usize::from(l.outputs)
        } else {
            l.param_count()
        };
    }
    let l = model.chain_layer(head, index)?;
    if range.biases_only {
        Ok((None, at))
    } else {
        Ok((Some(at), at + l.weight_count()))
    }
}

/// `s` split at `at`; too short a buffer is a geometry error, never a panic.
pub(crate) fn split(s: &mut [f32], at: usize) -> Result<(&mut [f32], &mut [f32]), Error> {
    s.split_at_mut_checked(at)
        .ok_or(Error::internal("infer::split"))
}

/// A model's parameters as inference sees them: flash, overlaid with an adapted state.
#[derive(Debug, Clone, Copy)]
pub struct Network<'m, 's> {
    pub(crate) model: &'m Model<'m>,
    pub(crate) adapted: Option<AdaptedParams<'s>>,
}

impl<'m> Model<'m> {
    /// The meta-learned network, as stored.
    pub fn network(&'m self) -> Network<'m, 'm> {
        Network {
            model: self,
            adapted: None,
        }
    }

    /// Floats of scratch that [`Network::infer`] needs for this model (derived at load).
    pub fn infer_scratch_len(&self) -> usize {
        self.infer_scratch as usize
    }

    /// [`Model::infer_scratch_len`] from the model's geometry: `Model::from_bytes` keeps it, so
    /// that each inference does not walk the heads again.
    pub(crate) fn derive_infer_scratch_len(&self) -> usize {
        2 * self.trunk_width()
            + 2 * self.head_hidden_width()
            + views::scratch_len(self)
            + self.head_scratch_len()
    }

    /// Scratch the head kinds add (the most any head needs).
    fn head_scratch_len(&self) -> usize {
        self.heads()
            .iter()
            .map(|h| h.kind.infer_scratch(self))
            .max()
            .unwrap_or(0)
    }
}

impl<'m, 's> Network<'m, 's> {
    /// The model behind this network.
    pub fn model(&self) -> &'m Model<'m> {
        self.model
    }

    /// Weights and bias of `spec`, layer `index` of head `head`'s chain.
    #[inline]
    fn params(
        &self,
        head: usize,
        index: usize,
        spec: &LayerSpec,
    ) -> Result<(&'s [f32], &'s [f32]), Error>
    where
        'm: 's,
    {
        let (w, b) = self.model.layer_params(spec)?;
        let Some(a) = &self.adapted else {
            return Ok((w, b));
        };
        let trunk = self.model.trunk().len();
        if index < a.range.first || (index >= trunk && head != a.head) {
            return Ok((w, b));
        }
        let (w_at, b_at) = state_offsets(self.model, a.head, &a.range, index)?;
        let sb = a
            .params
            .get(b_at..b_at + b.len())
            .ok_or(Error::internal("infer::params"))?;
        let sw = match w_at {
            Some(at) => a
                .params
                .get(at..at + w.len())
                .ok_or(Error::internal("infer::params"))?,
            None => w,
        };
        Ok((sw, sb))
    }

    /// Refuses a selection that names none of the model's heads (`Heads::only(9)`): it would
    /// otherwise compute nothing and succeed.
    fn check_selection(&self, heads: Heads) -> Result<(), Error> {
        let model_heads = self.model.heads().len();
        if (0..model_heads).any(|i| heads.contains(i)) {
            Ok(())
        } else {
            Err(Error::NoHeadSelected {
                heads: heads.0,
                model_heads,
            })
        }
    }

    /// Total output width of the selected heads (concatenated in head order).
    pub fn output_len(&self, heads: Heads) -> usize {
        self.model
            .heads()
            .iter()
            .enumerate()
            .filter(|(i, _)| heads.contains(*i))
            .map(|(_, h)| h.kind.outputs())
            .sum()
    }

    /// Normalises `input` into `out` (length `input_len`): the model's per-sample transform,
    /// then its per-feature normalisation.
    pub(crate) fn normalise(&self, input: &[f32], out: &mut [f32]) {
        let source = match self.model.input_transform() {
            Some(InputTransform::StandardiseChannels { channels, eps }) => {
                let len = (input.len() / usize::from(channels).max(1)).max(1);
                for (x, o) in input.chunks(len).zip(out.chunks_mut(len)) {
                    standardise(x, o, eps);
                }
                None
            }
            None => Some(input),
        };
        match (self.model.normalisation(), source) {
            (Some((shift, scale)), Some(x)) => {
                for (((o, x), s), c) in out.iter_mut().zip(x).zip(shift).zip(scale) {
                    *o = (x - s) * c;
                }
            }
            (Some((shift, scale)), None) => {
                for ((o, s), c) in out.iter_mut().zip(shift).zip(scale) {
                    *o = (*o - s) * c;
                }
            }
            (None, Some(x)) => {
                for (o, x) in out.iter_mut().zip(x) {
                    *o = *x;
                }
            }
            (None, None) => {}
        }
    }

    /// Runs the trunk on one sample, writing the features into `features`; `scratch` must hold
    /// `2 * max(input_len, widest trunk layer)` floats.
    pub fn features(
        &self,
        input: &[f32],
        scratch: &mut [f32],
        features: &mut [f32],
    ) -> Result<(), Error>
    where
        'm: 's,
    {
        let width = self.model.trunk_width();
        if scratch.len() < 2 * width {
            return Err(Error::BufferTooSmall {
                what: "feature scratch",
                needed: 2 * width,
                provided: scratch.len(),
            });
        }
        let (a, b) = split(scratch, width)?;
        let out = self.trunk_into(input, a, b)?;
        let f = self.model.feature_len();
        let src = match out {
            0 => &*a,
            _ => &*b,
        };
        let src = src.get(..f).ok_or(Error::internal("infer::features"))?;
        let dst = features;
        if dst.len() != f {
            return Err(Error::LengthMismatch {
                what: "features",
                expected: f,
                found: dst.len(),
            });
        }
        crate::math::copy(dst, src, "infer::features")
    }

    /// The dense trunk's input from one sample's `input` (`input_len` values): normalised
    /// ([`Network::normalise`]), then through the frozen stem, with ping-pong buffers `a` and
    /// `b` (each at least the widest stem map, padded maps included). Returns true when the
    /// result is in `a`.
    pub(crate) fn front(&self, input: &[f32], a: &mut [f32], b: &mut [f32]) -> Result<bool, Error> {
        let bug = Error::internal("infer::front");
        self.normalise(input, a.get_mut(..input.len()).ok_or(bug)?);
        let mut in_a = true;
        for spec in self.model.stem() {
            let (w, bias) = self.model.stem_params(spec)?;
            let layer = Stem::of(spec)?;
            let (src, dst) = if in_a {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            if layer.run(w, bias, src, dst)? {
                in_a = !in_a;
            }
        }
        Ok(in_a)
    }

    /// Runs the trunk on `input` with ping-pong buffers `a`, `b`; returns 0 when the features
    /// are in `a`, 1 when in `b`.
    pub(crate) fn trunk_into(
        &self,
        input: &[f32],
        a: &mut [f32],
        b: &mut [f32],
    ) -> Result<u8, Error>
    where
        'm: 's,
    {
        let n = self.model.input_len();
        if input.len() != n {
            return Err(Error::LengthMismatch {
                what: "input",
                expected: n,
                found: input.len(),
            });
        }
        let mut in_a = self.front(input, a, b)?;
        for (i, spec) in self.model.trunk().iter().enumerate() {
            let (w, bias) = self.params(0, i, spec)?;
            let layer = Layer::of(spec);
            let (ni, no) = (layer.inputs(), layer.outputs());
            let (src, dst) = if in_a { (&*a, &mut *b) } else { (&*b, &mut *a) };
            let bug = Error::internal("infer::trunk_into");
            let src = src.get(..ni).ok_or(bug)?;
            let dst = dst.get_mut(..no).ok_or(bug)?;
            layer.forward(w, bias, src, dst);
            in_a = !in_a;
        }
        Ok(if in_a { 0 } else { 1 })
    }

    /// Runs the trunk once on `input`, then every head in `heads`, writing their outputs one
    /// after the other (in head order) into `out`.
    ///
    /// `scratch` must hold [`Model::infer_scratch_len`] floats; `out` at least
    /// [`Network::output_len`].
    pub fn infer(
        &self,
        input: &[f32],
        heads: Heads,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), Error>
    where
        'm: 's,
    {
        self.check_selection(heads)?;
        let needed = self.model.infer_scratch_len();
        if scratch.len() < needed {
            return Err(Error::BufferTooSmall {
                what: "inference scratch",
                needed,
                provided: scratch.len(),
            });
        }
        let total = self.output_len(heads);
        if out.len() < total {
            return Err(Error::BufferTooSmall {
                what: "outputs",
                needed: total,
                provided: out.len(),
            });
        }
        let trunk_w = self.model.trunk_width();
        let (a, rest) = split(scratch, trunk_w)?;
        let (b, rest) = split(rest, trunk_w)?;
        let hidden = self.model.head_hidden_width();
        let (c, rest) = split(rest, hidden)?;
        let (d, rest) = split(rest, hidden)?;
        let (view_buf, extra) = match self.model.views() {
            Some(_) => split(rest, views::scratch_len(self.model))?,
            None => (&mut [][..], rest),
        };
        // The views first: their trunk passes use `a` and `b`, where the input's features end.
        let read = self.views_read(heads);
        if let Some(v) = read {
            views::run(self, v, input, (&mut *a, &mut *b), view_buf)?;
        }
        let which = self.trunk_into(input, a, b)?;
        let plain: &[f32] = if which == 0 { a } else { b };
        let plain = plain
            .get(..self.model.feature_len())
            .ok_or(Error::internal("infer::infer"))?;
        let views = match read {
            Some((set, table)) => {
                let n = usize::from(set.count) * plain.len();
                let slots = view_buf
                    .get_mut(..n)
                    .ok_or(Error::internal("infer::infer"))?;
                views::fill_identity(table, plain, slots);
                &*slots
            }
            None => &[],
        };
        let features = Features { plain, views };
        let mut at = 0usize;
        for (h, head) in self.model.heads().iter().enumerate() {
            if !heads.contains(h) {
                continue;
            }
            let n_out = head.kind.outputs();
            let dst = out.get_mut(at..at + n_out).ok_or(Error::BufferTooSmall {
                what: "outputs",
                needed: at + n_out,
                provided: total,
            })?;
            let scratch = HeadScratch {
                c: &mut *c,
                d: &mut *d,
                extra: &mut *extra,
            };
            head.kind.infer(self, h, head, &features, scratch, dst)?;
            at += n_out;
        }
        Ok(())
    }

    /// The model's views, when one of the selected heads reads them.
    fn views_read(&self, heads: Heads) -> Option<(crate::format::WarpSet, &'m [f32])> {
        match self.model.views_read_by(heads.0) {
            true => self.model.views(),
            false => None,
        }
    }

    /// Runs head `h`'s layers on `features` into `dst` (the last layer's width), with `c` and
    /// `d` for the hidden layers; returns `|x|^2` of the last layer's input `x` when `norm` asks
    /// for it (a matching head's penalty over views), else 0 (it would cost a pass over `x` on every
    /// regression and classification head).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn head_layers(
        &self,
        h: usize,
        head: &HeadSpec<'_>,
        features: &[f32],
        c: &mut [f32],
        d: &mut [f32],
        dst: &mut [f32],
        norm: bool,
    ) -> Result<f32, Error>
    where
        'm: 's,
    {
        let trunk = self.model.trunk().len();
        let layers = head.layers.len();
        let mut squares = 0.0;
        let mut src_is: u8 = 0; // 0: features, 1: c, 2: d
        for (l, spec) in head.layers.iter().enumerate() {
            let (w, bias) = self.params(h, trunk + l, spec)?;
            let (ni, no) = (usize::from(spec.inputs), usize::from(spec.outputs));
            let last = l + 1 == layers;
            let (src, next): (&[f32], &mut [f32]) = match (src_is, last) {
                (0, true) => (features, &mut *dst),
                (0, false) => (features, &mut *c),
                (1, true) => (&*c, &mut *dst),
                (1, false) => (&*c, &mut *d),
                (_, true) => (&*d, &mut *dst),
                (_, false) => (&*d, &mut *c),
            };
            let src = src.get(..ni).ok_or(Error::internal("infer::head_layers"))?;
            let next = next
                .get_mut(..no)
                .ok_or(Error::internal("infer::head_layers"))?;
            if last && norm {
                squares = src.iter().map(|v| v * v).sum();
            }
            Layer::of(spec).forward(w, bias, src, next);
            src_is = match src_is {
                1 => 2,
                _ => 1,
            };
        }
        Ok(squares)
    }

    /// [`Network::infer`] on `n` samples: `inputs` holds them one after the other, `out` their
    /// outputs one after the other.
    pub fn infer_batch(
        &self,
        inputs: &[f32],
        heads: Heads,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<usize, Error>
    where
        'm: 's,
    {
        self.check_selection(heads)?;
        let n_in = self.model.input_len();
        let n_out = self.output_len(heads);
        if !inputs.len().is_multiple_of(n_in) {
            return Err(Error::LengthMismatch {
                what: "batch inputs",
                expected: (inputs.len() / n_in + 1) * n_in,
                found: inputs.len(),
            });
        }
        let n = inputs.len() / n_in;
        let needed = n.saturating_mul(n_out);
        if out.len() < needed {
            return Err(Error::BufferTooSmall {
                what: "batch outputs",
                needed,
                provided: out.len(),
            });
        }
        for (x, y) in inputs.chunks_exact(n_in).zip(out.chunks_mut(n_out.max(1))) {
            self.infer(x, heads, scratch, y)?;
        }
        Ok(n)
    }
}
