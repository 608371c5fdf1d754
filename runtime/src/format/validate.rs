//! [`validate`]: every dimension of a decoded header and its extension, and every tensor's
//! place in the canonical layout, before anything of the model is used.

use super::layout::{adapted_params, adapted_range, walk, Tensor};
use super::{enrollable, front_end, invalid, stem, views};
use super::{AdaptScope, AdaptSpec, Extension, HeadSpec, Header, InputTransform, LayerSpec};
use super::{WarpSet, MAX_NAME_LEN, MAX_STEPS, MAX_WIDTH};
use crate::ops::layer::{Layer, LayerOp};
use crate::Error;

/// A layer or input width within `1..=MAX_WIDTH`.
pub(crate) fn check_width(w: u16, field: &'static str) -> Result<(), Error> {
    if w == 0 {
        return Err(invalid(field));
    }
    if usize::from(w) > MAX_WIDTH {
        return Err(Error::Capacity {
            what: "layer width (MAX_WIDTH)",
            needed: usize::from(w),
            available: MAX_WIDTH,
        });
    }
    Ok(())
}

/// Checks that `layers` form a chain starting at width `inputs`, each layer valid by its own
/// rules; returns the output width.
fn check_chain(layers: &[LayerSpec], mut inputs: u16, field: &'static str) -> Result<u16, Error> {
    for layer in layers {
        if layer.inputs != inputs {
            return Err(invalid(field));
        }
        Layer::of(layer).validate(field)?;
        inputs = layer.outputs;
    }
    Ok(inputs)
}

pub(crate) fn check_finite(
    weights: &[f32],
    start: usize,
    len: usize,
    non_negative: bool,
) -> Result<(), Error> {
    let end = start.checked_add(len).ok_or(invalid("weights_len"))?;
    let slice = weights.get(start..end).ok_or(invalid("weights_len"))?;
    for (i, w) in slice.iter().enumerate() {
        if !w.is_finite() || (non_negative && *w < 0.0) {
            return Err(Error::BadWeight { index: start + i });
        }
    }
    Ok(())
}

fn check_adapt(
    (header, ext): (&Header<'_>, &Extension),
    (h, head): (usize, &HeadSpec<'_>),
    spec: &AdaptSpec,
) -> Result<(), Error> {
    adapted_range(spec, header.trunk.len(), head.layers.len())?;
    stem::check_scope(ext, h, spec.scope)?;
    if spec.steps > MAX_STEPS {
        return Err(invalid("adapt.steps"));
    }
    if !(spec.clip.is_finite() && spec.clip > 0.0) {
        return Err(invalid("adapt.clip"));
    }
    spec.rate.validate(head, spec)?;
    if let Some(scale) = spec.prototype_scale {
        if head.kind.classes().is_none() {
            return Err(invalid("adapt.prototype_scale"));
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(invalid("adapt.prototype_scale"));
        }
        // Prototypes set the last layer's weights: a scope that does not adapt weights could
        // load but never adapt.
        if matches!(spec.scope, AdaptScope::BiasesOnly) {
            return Err(invalid("adapt.prototype_scale"));
        }
    }
    Ok(())
}

/// Validates every dimension of `header` and `ext` and their layout against `weights`.
pub(super) fn validate(
    header: &Header<'_>,
    ext: &Extension,
    views: Option<&WarpSet>,
    weights: &[f32],
) -> Result<(), Error> {
    if header.name.len() > MAX_NAME_LEN {
        return Err(invalid("name"));
    }
    check_width(header.input_len, "input_len")?;
    let trunk_input = stem::trunk_input(header, ext)?;
    let features = check_chain(&header.trunk, trunk_input, "trunk")?;
    if header.heads.is_empty() {
        return Err(invalid("heads"));
    }
    for (h, head) in header.heads.iter().enumerate() {
        if head.name.len() > MAX_NAME_LEN {
            return Err(invalid("head.name"));
        }
        if header.heads.iter().take(h).any(|o| o.id == head.id) {
            return Err(invalid("head.id"));
        }
        if head.layers.is_empty() {
            return Err(invalid("head.layers"));
        }
        let outputs = check_chain(&head.layers, features, "head.layers")?;
        head.kind.validate(header, head, outputs)?;
        if let Some(spec) = &head.adapt {
            check_adapt((header, ext), (h, head), spec)?;
        }
    }
    // Every tensor where the canonical layout puts it, and nothing else in the section.
    let total = walk(header, |tensor, expected| {
        let found = match tensor {
            Tensor::Normalisation => header.normalisation,
            Tensor::Trunk(i) => header.trunk.get(i).map(|l| l.offset),
            Tensor::HeadLayer(h, l) => header
                .heads
                .get(h)
                .and_then(|hd| hd.layers.get(l))
                .map(|l| l.offset),
            Tensor::Rate(h) => header
                .heads
                .get(h)
                .and_then(|hd| hd.adapt)
                .and_then(|a| a.rate.tensor_offset()),
            Tensor::HeadTensor(h) => header
                .heads
                .get(h)
                .and_then(|hd| hd.kind.tensor())
                .map(|(offset, _)| offset),
        }
        .ok_or(invalid("layout"))?;
        if found != expected {
            return Err(Error::LayoutMismatch { expected, found });
        }
        Ok(())
    })?;
    let ext_len = validate_extension(header, ext, weights)?;
    enrollable::validate(header, ext)?;
    front_end::validate(header, ext)?;
    if let Some(set) = views {
        views::validate(header, set)?;
    }
    if total != header.weights_len || weights.len() != total as usize + ext_len {
        return Err(Error::LayoutMismatch {
            expected: total,
            found: header.weights_len,
        });
    }
    // Every value finite; learning rates also non-negative.
    walk(header, |tensor, at| {
        let at = at as usize;
        match tensor {
            Tensor::Normalisation => {
                check_finite(weights, at, usize::from(header.input_len) * 2, false)
            }
            Tensor::Trunk(i) => {
                let l = header.trunk.get(i).ok_or(invalid("trunk"))?;
                check_finite(weights, at, l.param_count(), false)
            }
            Tensor::HeadLayer(h, l) => {
                let l = header
                    .heads
                    .get(h)
                    .and_then(|hd| hd.layers.get(l))
                    .ok_or(invalid("head.layers"))?;
                check_finite(weights, at, l.param_count(), false)
            }
            Tensor::Rate(h) => {
                let head = header.heads.get(h).ok_or(invalid("heads"))?;
                let spec = head.adapt.as_ref().ok_or(invalid("adapt"))?;
                let range = adapted_range(spec, header.trunk.len(), head.layers.len())?;
                let params = adapted_params(&range, header.trunk.iter().chain(head.layers.iter()));
                let len = spec.rate.rate_len(&range, params);
                check_finite(weights, at, len, true)
            }
            Tensor::HeadTensor(h) => match header.heads.get(h).and_then(|hd| hd.kind.tensor()) {
                Some((_, len)) => check_finite(weights, at, len, false),
                None => Err(invalid("head.kind")),
            },
        }
    })?;
    Ok(())
}

/// Validates the v2 extension: its transform, and each output normalisation (a regression head,
/// in increasing head order, its tensor right after the previous one, finite, scale > 0).
/// Returns the length of its tensors in f32.
fn validate_extension(
    header: &Header<'_>,
    ext: &Extension,
    weights: &[f32],
) -> Result<usize, Error> {
    if let Some(InputTransform::StandardiseChannels { channels, eps }) = ext.input_transform {
        if channels == 0 || !header.input_len.is_multiple_of(channels) {
            return Err(invalid("input_transform.channels"));
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(invalid("input_transform.eps"));
        }
    }
    let mut at = header.weights_len as usize;
    let mut previous = None;
    for o in &ext.outputs {
        let h = usize::from(o.head);
        if previous.is_some_and(|p| p >= h) {
            return Err(invalid("outputs.head"));
        }
        previous = Some(h);
        let outputs = header
            .heads
            .get(h)
            .and_then(|hd| hd.kind.normalised_outputs())
            .ok_or(invalid("outputs.head"))?;
        if o.offset as usize != at {
            return Err(Error::LayoutMismatch {
                expected: u32::try_from(at).map_err(|_| invalid("outputs.offset"))?,
                found: o.offset,
            });
        }
        check_finite(weights, at, 2 * outputs, false)?;
        let scale = weights
            .get(at + outputs..at + 2 * outputs)
            .ok_or(invalid("weights_len"))?;
        if let Some(i) = scale.iter().position(|&s| s <= 0.0) {
            return Err(Error::BadWeight {
                index: at + outputs + i,
            });
        }
        at += 2 * outputs;
    }
    let at = stem::check_stem_tensors(&ext.stem, weights, at)?;
    let at = views::check_tensor(ext, weights, at)?;
    Ok(at - header.weights_len as usize)
}
