//! The capabilities a model needs (format v3): one bit per kind of op or format feature, written
//! by the writer from what the model contains and checked on load, before the header is
//! decoded, against what this build of the runtime can run.
//!
//! ```
//! use fewshot_runtime::format::Capabilities;
//! let needs = Capabilities::DENSE.with(Capabilities::MATCHING_HEAD);
//! assert_eq!(needs.names().collect::<Vec<_>>(), ["dense", "matching-head"]);
//! // A runtime built without `matching-head` refuses such a model, naming the feature.
//! # #[cfg(not(feature = "matching-head"))]
//! assert_eq!(
//!     needs.check_enabled(),
//!     Err(fewshot_runtime::Error::FeatureDisabled { feature: "matching-head" })
//! );
//! ```

use crate::format::{Extension, Header};
use crate::ops::layer::{Layer, LayerOp};
use crate::Error;

/// A set of capabilities (a bit set, stored little-endian as a u32 in a v3 blob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Capabilities(pub u32);

/// Each named bit, in bit order: the name is the runtime's cargo feature that runs it, or the
/// op's name when no build has it yet.
const NAMES: [(Capabilities, &str); 9] = [
    (Capabilities::DENSE, "dense"),
    (Capabilities::MATCHING_HEAD, "matching-head"),
    (Capabilities::IMPLICIT_STEP, "implicit-step"),
    (Capabilities::INPUT_TRANSFORM, "input-transform"),
    (Capabilities::OUTPUT_NORMALISATION, "output-normalisation"),
    (Capabilities::CONV, "conv"),
    (Capabilities::INT8, "int8"),
    (Capabilities::INPUT_VIEWS, "input-views"),
    (Capabilities::AUDIO_FRONTEND, "audio-frontend"),
];

impl Capabilities {
    /// Nothing.
    pub const NONE: Capabilities = Capabilities(0);
    /// Dense f32 layers.
    pub const DENSE: Capabilities = Capabilities(1 << 0);
    /// Matching heads (cargo feature `matching-head`).
    pub const MATCHING_HEAD: Capabilities = Capabilities(1 << 1);
    /// The implicit (proximal) step (cargo feature `implicit-step`).
    pub const IMPLICIT_STEP: Capabilities = Capabilities(1 << 2);
    /// A per-sample input transform.
    pub const INPUT_TRANSFORM: Capabilities = Capabilities(1 << 3);
    /// The output normalisation of regression heads.
    pub const OUTPUT_NORMALISATION: Capabilities = Capabilities(1 << 4);
    /// Convolution and pooling layers in a stem (cargo feature `conv`).
    pub const CONV: Capabilities = Capabilities(1 << 5);
    /// int8 layers in the stem (cargo feature `int8`).
    pub const INT8: Capabilities = Capabilities(1 << 6);
    /// Input views declared by the model (format v5, cargo feature `input-views`).
    pub const INPUT_VIEWS: Capabilities = Capabilities(1 << 7);
    /// An audio front-end carried by the model (format v6, cargo feature `audio-frontend`).
    pub const AUDIO_FRONTEND: Capabilities = Capabilities(1 << 8);

    /// What every build of the runtime can run (no cargo feature turns it off).
    pub const ALWAYS: Capabilities =
        Capabilities(Self::DENSE.0 | Self::INPUT_TRANSFORM.0 | Self::OUTPUT_NORMALISATION.0);

    /// What this build runs.
    pub const ENABLED: Capabilities = Capabilities(
        Self::ALWAYS.0
            | if cfg!(feature = "matching-head") {
                Self::MATCHING_HEAD.0
            } else {
                0
            }
            | if cfg!(feature = "implicit-step") {
                Self::IMPLICIT_STEP.0
            } else {
                0
            }
            | if cfg!(feature = "conv") {
                Self::CONV.0
            } else {
                0
            }
            | if cfg!(feature = "input-views") {
                Self::INPUT_VIEWS.0
            } else {
                0
            }
            | if cfg!(feature = "int8") {
                Self::INT8.0
            } else {
                0
            }
            | if cfg!(feature = "audio-frontend") {
                Self::AUDIO_FRONTEND.0
            } else {
                0
            },
    );

    /// Both sets.
    pub const fn with(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }

    /// True when every bit of `other` is in `self`.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// The names of the named bits set, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .filter(move |(c, _)| self.contains(*c))
            .map(|(_, n)| *n)
    }

    /// Refuses a set this build cannot run: the first missing capability is
    /// [`Error::FeatureDisabled`] naming it, an unnamed bit [`Error::UnknownCapability`].
    pub fn check_enabled(self) -> Result<(), Error> {
        let missing = self.0 & !Self::ENABLED.0;
        if missing == 0 {
            return Ok(());
        }
        let bit = missing.trailing_zeros();
        match NAMES.iter().find(|(c, _)| c.0 == 1 << bit) {
            Some((_, feature)) => Err(Error::FeatureDisabled { feature }),
            None => Err(Error::UnknownCapability { bit: bit as u8 }),
        }
    }

    /// What a decoded model contains: each op's capability (through the dispatch), and the
    /// format features of its extension.
    pub fn of(header: &Header<'_>, ext: &Extension) -> Capabilities {
        let layers = header
            .trunk
            .iter()
            .chain(header.heads.iter().flat_map(|h| h.layers.iter()))
            .fold(Self::NONE, |c, l| c.with(Layer::of(l).capability()));
        let heads = header.heads.iter().fold(Self::NONE, |c, h| {
            let rate = h.adapt.map_or(Self::NONE, |a| a.rate.capability());
            c.with(h.kind.capability()).with(rate)
        });
        let mut found = layers.with(heads);
        if ext.input_transform.is_some() {
            found = found.with(Self::INPUT_TRANSFORM);
        }
        if !ext.outputs.is_empty() {
            found = found.with(Self::OUTPUT_NORMALISATION);
        }
        if ext.views.is_some() {
            found = found.with(Self::INPUT_VIEWS);
        }
        if ext.front_end.is_some() {
            found = found.with(Self::AUDIO_FRONTEND);
        }
        ext.stem.iter().fold(found, |c, l| c.with(l.capability()))
    }
}
