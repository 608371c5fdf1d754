//! The input views (format v5, [`Extension::views`]): affine warps of an image input declared
//! once for the model, read by its matching heads.
//!
//! Format v1 to v4 declared the warps inside a [`HeadKind::Matching`] head, their table among
//! that head's tensors. Such blobs keep loading: their warps become the model's views (at most
//! one head may have them). A v5 blob declares them in the extension, their table after the
//! stem's tensors, and a head with warps of its own is refused.
//!
//! ```
//! # #[cfg(all(feature = "std", feature = "matching-head", feature = "input-views"))] {
//! use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
//! use fewshot_runtime::{Activation, AdaptScope, Model};
//! let adapt = AdaptDef::new(AdaptScope::HeadOnly, 3, RateDef::Scalar(0.1), 10.0);
//! let head = HeadDef::matching(0, "m", 2, 1, vec![Dense::zeros(4, 2, Activation::Identity)])
//!     .with_adapt(adapt.with_prototypes(0.5));
//! let blob = ModelDef::new("views", 4)
//!     .views(2, 2, vec![[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], [1.0, 0.0, -1.0, 0.0, 1.0, 0.0]])
//!     .head(head)
//!     .to_aligned_bytes()
//!     .unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//! let (set, table) = model.views().unwrap();
//! assert_eq!((set.count, table.len()), (2, 12));
//! # }
//! ```

use super::spec::{Extension, HeadKind, Header, WarpSet, MAX_WARPS};
use super::{check_finite, invalid};
use crate::Error;

/// The first version whose blobs declare their views in the extension.
pub const VIEWS_SINCE: u16 = 5;

/// Decodes the views of a v5 blob from `bytes` into `views`; returns the bytes after them.
pub(crate) fn take_views<'a>(
    bytes: &'a [u8],
    views: &mut Option<WarpSet>,
) -> Result<&'a [u8], Error> {
    super::decode::take_into(bytes, views)
}

/// The model's views: the extension's (v5), or the one head's warps of an older blob. A v5 head
/// with warps, or two heads with warps, is refused; a build without the `input-views` feature
/// refuses an older blob's warps (a v5 blob's were refused by its capabilities).
pub(crate) fn resolve(
    version: u16,
    header: &Header<'_>,
    ext: &Extension,
) -> Result<Option<WarpSet>, Error> {
    let mut legacy = header.heads.iter().filter_map(|h| match h.kind {
        HeadKind::Matching { warps, .. } => warps,
        _ => None,
    });
    let first = legacy.next();
    if (version >= VIEWS_SINCE && first.is_some()) || legacy.next().is_some() {
        return Err(invalid("head.kind.warps"));
    }
    if first.is_some() && !cfg!(feature = "input-views") {
        return Err(Error::FeatureDisabled {
            feature: "input-views",
        });
    }
    Ok(first.or(ext.views))
}

/// Views need an image that is the whole input, 1 to [`MAX_WARPS`] warps, and a head that reads
/// them, every such head with the prototype scale of its distance.
pub(crate) fn validate(header: &Header<'_>, set: &WarpSet) -> Result<(), Error> {
    let pixels = usize::from(set.width) * usize::from(set.height);
    if pixels != usize::from(header.input_len) {
        return Err(invalid("views.size"));
    }
    if set.count == 0 || usize::from(set.count) > MAX_WARPS {
        return Err(invalid("views.count"));
    }
    let mut readers = header
        .heads
        .iter()
        .filter(|h| h.kind.reads_views())
        .peekable();
    if readers.peek().is_none() {
        return Err(invalid("views"));
    }
    if readers.any(|h| h.adapt.and_then(|a| a.prototype_scale).is_none()) {
        return Err(invalid("views.prototype_scale"));
    }
    Ok(())
}

/// Checks a v5 blob's view table at `at` (where it must be, finite); returns where it ends.
pub(crate) fn check_tensor(ext: &Extension, weights: &[f32], at: usize) -> Result<usize, Error> {
    let Some(set) = ext.views else {
        return Ok(at);
    };
    if set.offset as usize != at {
        return Err(Error::LayoutMismatch {
            expected: u32::try_from(at).map_err(|_| invalid("views.offset"))?,
            found: set.offset,
        });
    }
    let len = usize::from(set.count) * 6;
    check_finite(weights, at, len, false)?;
    at.checked_add(len).ok_or(invalid("views.offset"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{HeadSpec, LayerSpec};
    use crate::Activation;

    fn header(warps: [Option<WarpSet>; 2]) -> Header<'static> {
        let layer = LayerSpec {
            inputs: 4,
            outputs: 2,
            activation: Activation::Identity,
            offset: 0,
        };
        let mut heads = heapless::Vec::new();
        for (id, warps) in warps.into_iter().enumerate() {
            let kind = HeadKind::Matching {
                classes: 2,
                per_class: 1,
                warps,
            };
            let layers = heapless::Vec::from_slice(&[layer]).unwrap_or_default();
            let head = HeadSpec {
                id: id as u16,
                name: "m",
                kind,
                layers,
                adapt: None,
            };
            assert!(heads.push(head).is_ok());
        }
        Header {
            model_id: 1,
            name: "views",
            input_len: 4,
            normalisation: None,
            trunk: heapless::Vec::new(),
            heads,
            weights_len: 0,
        }
    }

    #[test]
    fn head_warps_are_an_older_blobs_views_and_refused_since_v5() {
        let set = WarpSet {
            width: 2,
            height: 2,
            count: 1,
            offset: 0,
        };
        let ext = Extension::default();
        let one = header([Some(set), None]);
        let expected = if cfg!(feature = "input-views") {
            Ok(Some(set))
        } else {
            Err(Error::FeatureDisabled {
                feature: "input-views",
            })
        };
        assert_eq!(resolve(4, &one, &ext), expected);
        assert_eq!(resolve(5, &one, &ext), Err(invalid("head.kind.warps")));
        let two = header([Some(set), Some(set)]);
        assert_eq!(resolve(4, &two, &ext), Err(invalid("head.kind.warps")));
        let none = header([None, None]);
        let v5 = Extension {
            views: Some(set),
            ..Extension::default()
        };
        assert_eq!(resolve(5, &none, &v5), Ok(Some(set)));
    }
}
