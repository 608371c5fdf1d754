//! Access to one layer's parameters during adaptation: adapted ones from the state (RAM),
//! frozen ones from the model (flash).

use crate::format::layout::AdaptedRange;
use crate::format::{LayerSpec, Model};
use crate::infer::state_offsets;
use crate::Error;

/// One adapted layer's parameters, mutable where they adapt.
pub(crate) struct LayerMut<'a> {
    pub spec: LayerSpec,
    /// `W`: mutable when weights adapt, else a flash view.
    pub weights: Weights<'a>,
    pub bias: &'a mut [f32],
    /// Offset of `W` (or, biases only, of `b`) in the state: where its per-parameter rates lie.
    pub w_at: Option<usize>,
    pub b_at: usize,
}

pub(crate) enum Weights<'a> {
    Adapted(&'a mut [f32]),
    Frozen(&'a [f32]),
}

/// `W` and `b` of adapted layer `index`, read-only.
pub(crate) fn layer<'a>(
    model: &'a Model<'a>,
    head: usize,
    range: &AdaptedRange,
    params: &'a [f32],
    index: usize,
) -> Result<(&'a [f32], &'a [f32], LayerSpec), Error> {
    let spec = *model.chain_layer(head, index)?;
    let (fw, _) = model.layer_params(&spec)?;
    let (w_at, b_at) = state_offsets(model, head, range, index)?;
    let nb = usize::from(spec.outputs);
    let b = params
        .get(b_at..b_at + nb)
        .ok_or(Error::internal("adapt::params::layer"))?;
    let w = match w_at {
        Some(at) => params
            .get(at..at + fw.len())
            .ok_or(Error::internal("adapt::params::layer"))?,
        None => fw,
    };
    Ok((w, b, spec))
}

/// `W` and `b` of adapted layer `index`, mutable where they adapt.
pub(crate) fn layer_mut<'a>(
    model: &'a Model<'a>,
    head: usize,
    range: &AdaptedRange,
    params: &'a mut [f32],
    index: usize,
) -> Result<LayerMut<'a>, Error> {
    let spec = *model.chain_layer(head, index)?;
    let (fw, _) = model.layer_params(&spec)?;
    let (w_at, b_at) = state_offsets(model, head, range, index)?;
    let nb = usize::from(spec.outputs);
    let (weights, bias) = match w_at {
        Some(at) => {
            let both = params
                .get_mut(at..b_at + nb)
                .ok_or(Error::internal("adapt::params::layer_mut"))?;
            let (w, b) = both
                .split_at_mut_checked(fw.len())
                .ok_or(Error::internal("adapt::params::layer_mut"))?;
            (Weights::Adapted(w), b)
        }
        None => (
            Weights::Frozen(fw),
            params
                .get_mut(b_at..b_at + nb)
                .ok_or(Error::internal("adapt::params::layer_mut"))?,
        ),
    };
    Ok(LayerMut {
        spec,
        weights,
        bias,
        w_at,
        b_at,
    })
}
