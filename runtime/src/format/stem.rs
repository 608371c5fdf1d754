//! Validation of the stem (format v4): the frozen convolution and pooling layers between the
//! normalised input and the dense trunk.
//!
//! The stem's layers form a chain of maps: the first reads the input (`input_len` values), each
//! next one the previous one's output map, and the last one's output, flat, is the dense
//! trunk's input. Every size is checked with checked arithmetic against
//! [`MAX_MAP_LEN`](super::spec::MAX_MAP_LEN) before anything runs. Their parameters follow the
//! extension's other tensors in the weights section, in stem order.
//!
//! ```
//! # #[cfg(all(feature = "std", feature = "conv"))] {
//! use fewshot_runtime::format::spec::Map;
//! use fewshot_runtime::writer::{Dense, HeadDef, ModelDef, StemDef};
//! use fewshot_runtime::{Activation, Model};
//! let blob = ModelDef::new("stem", 8)
//!     .stem(StemDef::global_avg_pool(Map { channels: 2, height: 1, width: 4 }))
//!     .head(HeadDef::regression(0, "y", vec![Dense::zeros(2, 1, Activation::Identity)]))
//!     .to_aligned_bytes()
//!     .unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//! assert_eq!((model.stem().len(), model.trunk_input_len()), (1, 2));
//! # }
//! ```

use super::invalid;
use super::spec::{AdaptScope, Extension, Header, StemLayer, MAX_STEM_LAYERS};
use crate::ops::layer::{LayerOp, Stem};
use crate::Error;
use heapless::Vec;

/// Decodes the stem list of a v4 blob from `bytes` into `stem`; returns the bytes after it. A build
/// without the `conv` feature decodes none (it would only link the decoder): it takes the empty
/// list (one zero byte) and refuses any other.
pub(crate) fn take_stem<'a>(
    bytes: &'a [u8],
    stem: &mut Vec<StemLayer, MAX_STEM_LAYERS>,
) -> Result<&'a [u8], Error> {
    #[cfg(feature = "conv")]
    return super::decode::take_into(bytes, stem);
    #[cfg(not(feature = "conv"))]
    match bytes.split_first() {
        Some((0, rest)) => {
            stem.clear();
            Ok(rest)
        }
        Some(_) => Err(Error::FeatureDisabled { feature: "conv" }),
        None => Err(Error::HeaderDecode),
    }
}

/// The stem's output width and its widest buffer (input included; see
/// [`LayerOp::buffer_len`]; a padded convolution's zero-padded input too: `Stem::run` writes
/// it), or `(input_len, input_len)` without a stem. The maps must chain, and int8 layers run
/// only between a quantisation and a dequantisation with the parameters each expects
/// ([`StemLayer::next_domain`]).
pub(crate) fn check_stem(input_len: u16, stem: &[StemLayer]) -> Result<(u16, u16), Error> {
    let mut width = usize::from(input_len);
    let mut widest = width;
    let mut previous = None;
    let mut domain = None;
    for spec in stem {
        let layer = Stem::of(spec)?;
        layer.validate("stem")?;
        let input = layer.input_map();
        if (previous.is_some() && input.is_some() && previous != input) || layer.inputs() != width {
            return Err(invalid("stem.input"));
        }
        domain = spec.next_domain(domain).ok_or(invalid("stem.int8"))?;
        previous = layer.output_map();
        width = layer.outputs();
        widest = widest.max(layer.buffer_len()).max(layer.work_len());
    }
    if domain.is_some() {
        return Err(invalid("stem.int8"));
    }
    let narrow = |n: usize| u16::try_from(n).map_err(|_| invalid("stem"));
    Ok((narrow(width)?, narrow(widest)?))
}

/// Checks the stem's tensors from `at` (each where it must be, each valid by its layer's
/// rules); returns where they end.
pub(crate) fn check_stem_tensors(
    stem: &[StemLayer],
    weights: &[f32],
    mut at: usize,
) -> Result<usize, Error> {
    for spec in stem {
        let Some(offset) = spec.offset() else {
            continue;
        };
        if offset as usize != at {
            return Err(Error::LayoutMismatch {
                expected: u32::try_from(at).map_err(|_| invalid("stem.offset"))?,
                found: offset,
            });
        }
        let layer = Stem::of(spec)?;
        layer.check_tensor(weights, at)?;
        at = at
            .checked_add(layer.param_count())
            .ok_or(invalid("stem.offset"))?;
    }
    Ok(at)
}

/// Refuses a head whose scope would adapt the stem: every bias or every parameter.
pub(crate) fn check_scope(ext: &Extension, head: usize, scope: AdaptScope) -> Result<(), Error> {
    match scope {
        AdaptScope::BiasesOnly | AdaptScope::Everything if !ext.stem.is_empty() => {
            Err(Error::ScopeReachesStem { head })
        }
        _ => Ok(()),
    }
}

/// Validates the stem of `header`'s model and returns the dense trunk's input width.
pub(crate) fn trunk_input(header: &Header<'_>, ext: &Extension) -> Result<u16, Error> {
    check_stem(header.input_len, &ext.stem).map(|(w, _)| w)
}
