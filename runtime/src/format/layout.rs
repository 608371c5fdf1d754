//! The canonical layout of the weights section, defined once for the reader and the writer.
//!
//! Tensors follow each other with no gap, in this order: the normalisation (`shift`, `scale`),
//! each trunk layer (its parameters), then for each head its layers, its head kind's own tensor
//! (a matching head's warps) and its learning-rate tensor, if any. Each op declares the length
//! of its tensors (see [`crate::ops`]).
//!
//! ```
//! use fewshot_runtime::format::layout::adapted_range;
//! use fewshot_runtime::{AdaptScope, AdaptSpec, LearningRate};
//! let spec = AdaptSpec {
//!     scope: AdaptScope::HeadAndLastTrunk(1),
//!     steps: 5,
//!     rate: LearningRate::Scalar(0.01),
//!     clip: 10.0,
//!     prototype_scale: None,
//! };
//! // Two trunk layers and one head layer: the last trunk layer and the head adapt.
//! let range = adapted_range(&spec, 2, 1).unwrap();
//! assert_eq!((range.first, range.layers()), (1, 2));
//! ```

use super::spec::{AdaptScope, AdaptSpec, Header, LayerSpec};
use crate::Error;

/// A tensor of the weights section, in canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tensor {
    /// Input normalisation.
    Normalisation,
    /// Trunk layer `i`.
    Trunk(usize),
    /// Layer `l` of head `h`.
    HeadLayer(usize, usize),
    /// Learning-rate tensor of head `h`.
    Rate(usize),
    /// The own tensor of head `h`'s kind ([`crate::HeadKind::tensor`]: a matching head's
    /// warps).
    HeadTensor(usize),
}

/// The adapted part of one head's chain (trunk layers then head layers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptedRange {
    /// Chain index of the first adapted layer.
    pub first: usize,
    /// Number of layers in the chain.
    pub chain_len: usize,
    /// Only the biases adapt.
    pub biases_only: bool,
}

impl AdaptedRange {
    /// Number of adapted layers.
    pub fn layers(&self) -> usize {
        self.chain_len - self.first
    }
}

/// The adapted range of a head with `trunk` trunk layers and `head` head layers.
pub fn adapted_range(spec: &AdaptSpec, trunk: usize, head: usize) -> Result<AdaptedRange, Error> {
    let chain_len = trunk + head;
    let (first, biases_only) = match spec.scope {
        AdaptScope::HeadOnly => (trunk, false),
        AdaptScope::HeadAndLastTrunk(k) => {
            let k = usize::from(k);
            if k == 0 || k > trunk {
                return Err(Error::InvalidHeader {
                    field: "adapt.scope",
                });
            }
            (trunk - k, false)
        }
        AdaptScope::BiasesOnly => (0, true),
        AdaptScope::Everything => (0, false),
    };
    Ok(AdaptedRange {
        first,
        chain_len,
        biases_only,
    })
}

/// Parameters adapted for the chain `layers[range.first..]`.
pub fn adapted_params<'h>(
    range: &AdaptedRange,
    layers: impl Iterator<Item = &'h LayerSpec>,
) -> usize {
    layers
        .skip(range.first)
        .map(|l| {
            if range.biases_only {
                usize::from(l.outputs)
            } else {
                l.param_count()
            }
        })
        .sum()
}

fn add(a: u32, b: usize) -> Result<u32, Error> {
    u32::try_from(b)
        .ok()
        .and_then(|b| a.checked_add(b))
        .ok_or(Error::InvalidHeader {
            field: "weights_len",
        })
}

/// Walks the tensors of `header` in canonical order, calling `visit(tensor, expected_offset)` for
/// each, and returns the total length in f32.
pub fn walk(
    header: &Header<'_>,
    mut visit: impl FnMut(Tensor, u32) -> Result<(), Error>,
) -> Result<u32, Error> {
    let mut at = 0u32;
    if header.normalisation.is_some() {
        visit(Tensor::Normalisation, at)?;
        at = add(at, usize::from(header.input_len) * 2)?;
    }
    for (i, layer) in header.trunk.iter().enumerate() {
        visit(Tensor::Trunk(i), at)?;
        at = add(at, layer.param_count())?;
    }
    for (h, head) in header.heads.iter().enumerate() {
        for (l, layer) in head.layers.iter().enumerate() {
            visit(Tensor::HeadLayer(h, l), at)?;
            at = add(at, layer.param_count())?;
        }
        if let Some((_, len)) = head.kind.tensor() {
            visit(Tensor::HeadTensor(h), at)?;
            at = add(at, len)?;
        }
        if let Some(spec) = &head.adapt {
            let range = adapted_range(spec, header.trunk.len(), head.layers.len())?;
            let params = adapted_params(&range, header.trunk.iter().chain(head.layers.iter()));
            let len = spec.rate.rate_len(&range, params);
            if len > 0 {
                visit(Tensor::Rate(h), at)?;
                at = add(at, len)?;
            }
        }
    }
    Ok(at)
}
