//! Format v6's audio front-end ([`Extension::front_end`]): decoding and validation.
//!
//! The blob carries the [`FrontEndSpec`] after the input views; the model's input is then the
//! front-end's second of frames (`input_len` = frames x values per frame), so a device computes
//! exactly the features the model was trained on. Capability bit 8, `audio-frontend`: a runtime
//! without that cargo feature refuses the model before decoding its header.
//!
//! ```
//! # #[cfg(all(feature = "std", feature = "audio-frontend"))] {
//! use fewshot_runtime::frontend::FrontEndSpec;
//! use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
//! use fewshot_runtime::{Activation, Model};
//! let spec = FrontEndSpec { dct_coeffs: 10, ..FrontEndSpec::KEYWORD }; // 49 frames of 10 MFCCs
//! let blob = ModelDef::new("kws", spec.input_len())
//!     .front_end(spec)
//!     .head(HeadDef::classification(0, "word", vec![Dense::zeros(490, 3, Activation::Identity)]))
//!     .to_aligned_bytes()
//!     .unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//! assert_eq!(model.front_end(), Some(spec));
//! assert_eq!(blob.as_bytes()[4], 6); // format v6
//! # }
//! ```

use super::{invalid, Extension, Header};
use crate::frontend::FrontEndSpec;
use crate::Error;

/// The first version whose blobs may carry a front-end.
pub const FRONT_END_SINCE: u16 = 6;

/// Decodes the front-end of a v6 blob from `bytes` into `spec`; returns the bytes after it.
#[cfg(feature = "audio-frontend")]
pub(crate) fn take<'a>(
    bytes: &'a [u8],
    spec: &mut Option<FrontEndSpec>,
) -> Result<&'a [u8], Error> {
    super::decode::take_into(bytes, spec)
}

/// Without the `audio-frontend` feature only a v6 blob without a front-end gets here (the
/// capability check refused the others): its `None` byte, and no decoder linked.
#[cfg(not(feature = "audio-frontend"))]
pub(crate) fn take<'a>(
    bytes: &'a [u8],
    spec: &mut Option<FrontEndSpec>,
) -> Result<&'a [u8], Error> {
    match bytes.split_first() {
        Some((0, rest)) => {
            *spec = None;
            Ok(rest)
        }
        _ => Err(Error::FeatureDisabled {
            feature: "audio-frontend",
        }),
    }
}

/// A front-end is valid by its own rules, and the model's input is its second of frames.
pub(crate) fn validate(header: &Header<'_>, ext: &Extension) -> Result<(), Error> {
    // (Always `None` without the feature: nothing of this is linked then.)
    let Some(spec) = ext.front_end.filter(|_| cfg!(feature = "audio-frontend")) else {
        return Ok(());
    };
    spec.validate()?;
    if spec.input_len() != usize::from(header.input_len) {
        return Err(invalid("front_end (input_len is not frames x features)"));
    }
    Ok(())
}
