//! Model format (v1 to v6): bytes in flash -> a validated [`Model`] view.
//!
//! A blob is, in order:
//!
//! | bytes | content |
//! |---|---|
//! | 4 | [`MAGIC`] |
//! | 2 | format version, little-endian u16 ([`FORMAT_VERSION`]) |
//! | 4 | v3: the [`Capabilities`] the model needs, little-endian u32 (bits below) |
//! | n | the postcard-encoded [`Header`] |
//! | m | v2 to v4: the postcard-encoded [`Extension`] (input transform, output normalisation; v4: enrollable heads) |
//! | s | v4: the postcard-encoded stem ([`Extension::stem`], a list of [`StemLayer`]) |
//! | v | v5: the postcard-encoded input views ([`Extension::views`], an optional [`WarpSet`]) |
//! | f | v6: the postcard-encoded audio front-end ([`Extension::front_end`], an optional [`FrontEndSpec`](crate::frontend::FrontEndSpec)) |
//! | 0..3 | zero padding to a 4-byte boundary |
//! | 4 × w | weights section: little-endian f32, read in place: the header's `weights_len`, then the extension's tensors (an int8 stem layer's int32 and int8 values are stored in these words, see [`Int8ConvSpec`]) |
//! | 4 | CRC-32 (ISO-HDLC) of every byte before it, little-endian |
//!
//! The capability bits (v3): the writer sets one per kind of op and format feature the model
//! contains; the loader checks them against this build before decoding the header (a missing
//! one is [`Error::FeatureDisabled`] naming it, an unnamed bit [`Error::UnknownCapability`]),
//! then against what the decoded model contains ([`Error::InvalidModel`] when they differ).
//! A v1 or v2 blob has none: its capabilities are derived from its contents, and checked alike.
//!
//! | bit | capability | needed by |
//! |---|---|---|
//! | 0 | `dense` | dense layers (every model) |
//! | 1 | `matching-head` | a [`HeadKind::Matching`] head (cargo feature `matching-head`) |
//! | 2 | `implicit-step` | [`LearningRate::Proximal`] (cargo feature `implicit-step`) |
//! | 3 | `input-transform` | an [`InputTransform`] |
//! | 4 | `output-normalisation` | an [`OutputNormalisation`] |
//! | 5 | `conv` | a stem of convolution and pooling layers ([`StemLayer`], cargo feature `conv`) |
//! | 6 | `int8` | int8 layers in the stem ([`StemLayer::Quantise`] and the others of [`int8`], cargo feature `int8`; they also need `conv`) |
//! | 7 | `input-views` | input views ([`Extension::views`], cargo feature `input-views`) |
//! | 8 | `audio-frontend` | an audio front-end ([`Extension::front_end`], cargo feature `audio-frontend`) |
//!
//! The int8 stem's layers are new [`StemLayer`] variants after the f32 ones: a v4 (or newer)
//! blob holds them, and a runtime that cannot run them refuses the blob by its `int8`
//! capability bit before decoding the header, so they need no new version.
//!
//! The version changes whenever what a model may contain changes. The writer emits the oldest
//! version that holds the model: v6 for a model that carries its audio front-end
//! ([`front_end`]), v5 for a model with input views, v4 for a model with a stem or
//! an [`Enrollable`] head (v4 appends that list to the extension), else v3; the runtime reads
//! v1 to v6. The stem (v4) runs frozen between the normalisation and the dense trunk (see
//! [`stem`]). The input views (v5) are declared once for the model instead of inside a
//! matching head, as v1 to v4 did; such older blobs keep loading (see [`views`]).
//!
//! [`Model::from_bytes`] checks the length cap, alignment, magic, version, CRC and
//! capabilities, decodes the header, then validates every dimension, every tensor offset (against the one canonical layout
//! in [`layout`]), and every weight (finite; learning rates also non-negative), before anything
//! is used. Weights are never copied: they are `&[f32]` views into the blob.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use fewshot_runtime::{Activation, Model};
//! use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
//!
//! let def = ModelDef::new("demo", 2)
//!     .trunk(Dense::zeros(2, 4, Activation::Relu))
//!     .head(HeadDef::regression(1, "y", vec![Dense::zeros(4, 1, Activation::Identity)]));
//! let blob = def.to_aligned_bytes().unwrap();
//! let model = Model::from_bytes(blob.as_bytes()).unwrap();
//! assert_eq!(model.input_len(), 2);
//! assert_eq!(model.heads().len(), 1);
//! # }
//! ```

mod capabilities;
mod decode;
mod enrollable;
pub mod front_end;
pub mod int8;
pub mod layout;
pub mod spec;
pub mod stem;
pub mod views;

#[doc(hidden)]
pub mod align_as {
    pub use super::align::AlignedAs;
}
mod align;
#[cfg(feature = "std")]
mod stem_def;
mod validate;
#[cfg(feature = "std")]
pub mod writer;
#[cfg(feature = "std")]
pub use align::AlignedBytes;

use crate::ops::layer::LayerOp;
use crate::Error;
pub use capabilities::Capabilities;
use layout::{adapted_params, adapted_range, AdaptedRange};
pub use spec::*;
use validate::validate;
pub(crate) use validate::{check_finite, check_width};

/// The first four bytes of every model blob.
pub const MAGIC: [u8; 4] = *b"FSML";
/// The newest format version this runtime reads, and the one the writer emits. It reads every
/// older one (v1: no extension, v2: no capabilities).
pub const FORMAT_VERSION: u16 = 6;
/// The first version whose blobs carry their [`Capabilities`].
const CAPABILITIES_SINCE: u16 = 3;
/// The first version whose blobs may have a stem ([`Extension::stem`]).
pub const STEM_SINCE: u16 = 4;
/// Largest blob accepted (bytes).
pub const MAX_BLOB_LEN: usize = 4 << 20;
/// Most inner steps in one adaptation call.
pub const MAX_STEPS: u16 = 1000;
/// Bytes before the postcard header (magic and version).
pub(crate) const PREAMBLE: usize = 6;
/// Bytes of the CRC trailer.
pub(crate) const TRAILER: usize = 4;

/// The CRC used for blob integrity (CRC-32/ISO-HDLC, as zlib).
pub const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

#[cfg(target_endian = "big")]
compile_error!(
    "the model format stores little-endian f32 read in place: big-endian targets are not supported"
);

/// A validated model: the decoded header and views into the blob's weights.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    header: Header<'a>,
    /// What format v2 adds (empty for a v1 blob).
    ext: Extension,
    weights: &'a [f32],
    /// What the model needs (declared by a v3 blob, derived for older ones).
    capabilities: Capabilities,
    crc: u32,
    /// The whole blob (where it is: flash or RAM).
    bytes: &'a [u8],
    /// Widest of the input, the stem's maps and the trunk's layers (derived at load).
    trunk_width: u16,
    /// The dense trunk's input width: the stem's output, or the input (derived at load).
    trunk_input: u16,
    /// Widest of the input and the stem's maps (derived at load).
    stem_width: u16,
    /// Widest hidden (non-final) head layer, 0 if none (derived at load).
    head_hidden_width: u16,
    /// The input views: the extension's (v5), or an older blob's matching head's warps.
    views: Option<WarpSet>,
    /// Bit `h` set when head `h` reads the input views (derived at load; 0 without views).
    view_readers: u8,
    /// [`Model::infer_scratch_len`] (derived at load).
    pub(crate) infer_scratch: u32,
}

/// The heads that read the input views, as a bit set.
fn view_readers(header: &Header<'_>) -> u8 {
    header
        .heads
        .iter()
        .take(8)
        .enumerate()
        .filter(|(_, h)| h.kind.reads_views())
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

/// The CRC-32 a model blob ends with (its trailer), read without validating anything else:
/// what a `const` compares with the CRC a generated sizes module records, so that sizes made
/// for another model fail the build (`trainer inspect --rust` writes `check_model`). `None`
/// for fewer than 4 bytes. [`Model::crc`] is the same value once the blob is validated.
///
/// ```
/// use fewshot_runtime::format::trailer_crc;
/// assert_eq!(trailer_crc(&[1, 2, 0x78, 0x56, 0x34, 0x12]), Some(0x1234_5678));
/// assert_eq!(trailer_crc(&[1, 2, 3]), None);
/// ```
pub const fn trailer_crc(bytes: &[u8]) -> Option<u32> {
    match bytes.last_chunk::<TRAILER>() {
        Some(t) => Some(u32::from_le_bytes(*t)),
        None => None,
    }
}

/// Rounds `n` up to a multiple of 4.
pub(crate) fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

pub(crate) fn invalid(field: &'static str) -> Error {
    Error::InvalidHeader { field }
}

impl<'a> Model<'a> {
    /// Validates `bytes` as a model (format v1 to v6) and returns a view into it.
    ///
    /// `bytes` must be 4-byte aligned (embed it with [`crate::include_model!`] or, on a host
    /// with the feature `std`, hold it in an `AlignedBytes`). Nothing is copied; nothing is used before every check has passed.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        // Built once, in place: the header and the extension are decoded into it, not built
        // on the stack and moved (which took about 6 KB of stack on a Cortex-M).
        let mut model = Model {
            header: Header::empty(),
            ext: Extension::default(),
            weights: &[],
            capabilities: Capabilities(0),
            crc: 0,
            bytes,
            trunk_width: 0,
            trunk_input: 0,
            stem_width: 0,
            head_hidden_width: 0,
            views: None,
            view_readers: 0,
            infer_scratch: 0,
        };
        model.load()?;
        Ok(model)
    }

    /// Validates `self.bytes` and fills every other field from them.
    #[inline(never)]
    fn load(&mut self) -> Result<(), Error> {
        let bytes = self.bytes;
        let len = bytes.len();
        if len > MAX_BLOB_LEN {
            return Err(Error::TooLong { len });
        }
        if len < PREAMBLE + TRAILER + 4 {
            return Err(Error::TooShort { len });
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(4) {
            return Err(Error::Misaligned);
        }
        let (body, trailer) = bytes.split_at(len - TRAILER);
        let (magic, rest) = body.split_at(4);
        if magic != MAGIC {
            return Err(Error::BadMagic);
        }
        let (version, postcard_bytes) = rest.split_at(2);
        let found = u16::from_le_bytes(version.try_into().map_err(|_| Error::TooShort { len })?);
        if found == 0 || found > FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { found });
        }
        let stored = u32::from_le_bytes(trailer.try_into().map_err(|_| Error::TooShort { len })?);
        let computed = CRC.checksum(body);
        if stored != computed {
            return Err(Error::CrcMismatch { stored, computed });
        }
        let (declared, postcard_bytes) = if found >= CAPABILITIES_SINCE {
            let (bits, rest) = postcard_bytes
                .split_first_chunk::<4>()
                .ok_or(Error::TooShort { len })?;
            let declared = Capabilities(u32::from_le_bytes(*bits));
            // Before anything the missing op would have to decode.
            declared.check_enabled()?;
            (Some(declared), rest)
        } else {
            (None, postcard_bytes)
        };
        let after = decode::take_into(postcard_bytes, &mut self.header)?;
        let after = match found >= 2 {
            true => enrollable::decode(found, after, &mut self.ext)?,
            false => after,
        };
        let after = match found >= STEM_SINCE {
            true => stem::take_stem(after, &mut self.ext.stem)?,
            false => after,
        };
        let after = match found >= views::VIEWS_SINCE {
            true => views::take_views(after, &mut self.ext.views)?,
            false => after,
        };
        let after = match found >= front_end::FRONT_END_SINCE {
            true => front_end::take(after, &mut self.ext.front_end)?,
            false => after,
        };
        let header_end = body.len() - after.len();
        let weights_at = align4(header_end).ok_or(Error::TooShort { len })?;
        let padding = body
            .get(header_end..weights_at)
            .ok_or(Error::TooShort { len })?;
        if padding.iter().any(|&b| b != 0) {
            return Err(invalid("padding"));
        }
        let weight_bytes = body.get(weights_at..).ok_or(Error::TooShort { len })?;
        let weights: &'a [f32] =
            bytemuck::try_cast_slice(weight_bytes).map_err(|_| Error::Misaligned)?;
        let (header, ext) = (&self.header, &self.ext);
        let capabilities = Capabilities::of(header, ext);
        match declared {
            Some(d) if d != capabilities => {
                return Err(Error::InvalidModel {
                    declared: d.0,
                    contains: capabilities.0,
                })
            }
            Some(_) => {}
            None => capabilities.check_enabled()?,
        }
        let views = views::resolve(found, header, ext)?;
        validate(header, ext, views.as_ref(), weights)?;
        let (trunk_input, widest_map) = stem::check_stem(header.input_len, &ext.stem)?;
        let trunk_width = header
            .trunk
            .iter()
            .map(|l| l.outputs)
            .fold(widest_map, u16::max);
        let head_hidden_width = header
            .heads
            .iter()
            .flat_map(|h| h.layers.iter().rev().skip(1))
            .map(|l| l.outputs)
            .max()
            .unwrap_or(0);
        self.view_readers = views.map_or(0, |_| view_readers(header));
        self.weights = weights;
        // An older blob's matching head with warps reads input views too (`resolve` refused it
        // in a build without them): what the model needs says so, as a v5 blob's declares.
        self.capabilities = match views {
            Some(_) => capabilities.with(Capabilities::INPUT_VIEWS),
            None => capabilities,
        };
        self.crc = stored;
        self.trunk_width = trunk_width;
        self.trunk_input = trunk_input;
        self.stem_width = widest_map;
        self.head_hidden_width = head_hidden_width;
        self.views = views;
        // At most 2 x 2 x 4096 + 16 x 4096 + 4096 + a head's 2 x 4096 (`MAX_WIDTH`).
        self.infer_scratch =
            u32::try_from(self.derive_infer_scratch_len()).map_err(|_| invalid("scratch"))?;
        Ok(())
    }

    /// The decoded header.
    pub fn header(&self) -> &Header<'a> {
        &self.header
    }
    /// The model's name.
    pub fn name(&self) -> &'a str {
        self.header.name
    }
    /// The model's identifier.
    pub fn model_id(&self) -> u32 {
        self.header.model_id
    }
    /// The capabilities the model needs (a v3 blob's header, derived for older ones; an older
    /// blob's matching head with warps needs `input-views` too).
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }
    /// The blob's CRC-32.
    pub fn crc(&self) -> u32 {
        self.crc
    }
    /// The blob's length in bytes (flash it occupies).
    pub fn blob_len(&self) -> usize {
        self.bytes.len()
    }
    /// The blob the model was loaded from (it reads its weights there): where it lives tells
    /// a flash writer which bytes it must not touch while the model is in use.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Input width.
    pub fn input_len(&self) -> usize {
        usize::from(self.header.input_len)
    }
    /// Width of the trunk's output (the features every head reads).
    pub fn feature_len(&self) -> usize {
        self.header
            .trunk
            .last()
            .map_or(self.trunk_input_len(), |l| usize::from(l.outputs))
    }
    /// Width of the dense trunk's input: the stem's output, or the input without a stem.
    pub fn trunk_input_len(&self) -> usize {
        usize::from(self.trunk_input)
    }
    /// Widest of the input and the stem's buffers (each layer's output and the scratch it keeps
    /// after it, an int8 map four values to a float): the ping-pong buffers the stem needs.
    pub fn stem_width(&self) -> usize {
        usize::from(self.stem_width)
    }
    /// The stem's layers (format v4; empty without a stem).
    pub fn stem(&self) -> &[StemLayer] {
        &self.ext.stem
    }
    /// The weights and biases of a stem layer of this model (empty for a pooling); an int8
    /// layer's whole tensor ([`int8::Int8Tensor`]) is its weights, its biases empty.
    pub fn stem_params(&self, layer: &StemLayer) -> Result<(&'a [f32], &'a [f32]), Error> {
        let Some(at) = layer.offset() else {
            return Ok((&[], &[]));
        };
        let l = crate::ops::layer::Stem::of(layer)?;
        let (at, nw) = (at as usize, l.weight_count());
        let w = self.weights.get(at..at + nw).ok_or(invalid("layout"))?;
        let b = self
            .weights
            .get(at + nw..at + l.param_count())
            .ok_or(invalid("layout"))?;
        Ok((w, b))
    }
    /// Widest of the input, the stem's maps and the trunk's layers.
    pub fn trunk_width(&self) -> usize {
        usize::from(self.trunk_width)
    }
    /// Widest hidden (non-final) head layer; 0 when every head is a single layer.
    pub fn head_hidden_width(&self) -> usize {
        usize::from(self.head_hidden_width)
    }
    /// The trunk's layers.
    pub fn trunk(&self) -> &[LayerSpec] {
        &self.header.trunk
    }
    /// The heads.
    pub fn heads(&self) -> &[HeadSpec<'a>] {
        &self.header.heads
    }
    /// Head `index`.
    pub fn head(&self, index: usize) -> Result<&HeadSpec<'a>, Error> {
        self.header
            .heads
            .get(index)
            .ok_or(Error::NoSuchHead { head: index })
    }
    /// Index of the head with this `id`.
    pub fn head_index(&self, id: u16) -> Result<usize, Error> {
        self.header
            .heads
            .iter()
            .position(|h| h.id == id)
            .ok_or(Error::NoSuchHead {
                head: usize::from(id),
            })
    }
    /// Parameters of the whole model (stem, trunk and every head).
    pub fn param_count(&self) -> usize {
        self.ext
            .stem
            .iter()
            .filter_map(|l| crate::ops::layer::Stem::of(l).ok())
            .map(|l| l.param_count())
            .sum::<usize>()
            + self
                .header
                .trunk
                .iter()
                .map(LayerSpec::param_count)
                .sum::<usize>()
            + self
                .header
                .heads
                .iter()
                .flat_map(|h| h.layers.iter())
                .map(LayerSpec::param_count)
                .sum::<usize>()
    }
    /// The normalisation `(shift, scale)`, if the model has one.
    pub fn normalisation(&self) -> Option<(&'a [f32], &'a [f32])> {
        let at = self.header.normalisation? as usize;
        let n = self.input_len();
        let shift = self.weights.get(at..at + n)?;
        let scale = self.weights.get(at + n..at + 2 * n)?;
        Some((shift, scale))
    }
    /// The v2 extension (empty for a v1 model).
    pub fn extension(&self) -> &Extension {
        &self.ext
    }
    /// Head `head`'s declaration as an enrollable head (format v4), if it is one.
    pub fn enrollable(&self, head: usize) -> Option<Enrollable> {
        enrollable::of(&self.ext, head)
    }
    /// The audio front-end the model was trained with (format v6), if it carries one.
    pub fn front_end(&self) -> Option<crate::frontend::FrontEndSpec> {
        self.ext.front_end
    }
    /// The per-sample input transform, if the model has one.
    pub fn input_transform(&self) -> Option<InputTransform> {
        self.ext.input_transform
    }
    /// The output normalisation `(shift, scale)` of head `head`, if it has one.
    pub fn output_normalisation(&self, head: usize) -> Option<(&'a [f32], &'a [f32])> {
        let o = self
            .ext
            .outputs
            .iter()
            .find(|o| usize::from(o.head) == head)?;
        let n = self.header.heads.get(head)?.kind.outputs();
        let at = o.offset as usize;
        Some((
            self.weights.get(at..at + n)?,
            self.weights.get(at + n..at + 2 * n)?,
        ))
    }
    /// True when one of the heads `selection` selects (bit `h`: head `h`) reads the views.
    pub(crate) fn views_read_by(&self, selection: u8) -> bool {
        selection & self.view_readers != 0
    }
    /// The input views and their table (6 f32 per warp, see [`WarpSet`]), if the model has
    /// them: always `None` in a build without the `input-views` feature (such a model is
    /// refused at load).
    pub fn views(&self) -> Option<(WarpSet, &'a [f32])> {
        if !cfg!(feature = "input-views") {
            return None;
        }
        let set = self.views?;
        let at = set.offset as usize;
        Some((set, self.weights.get(at..at + usize::from(set.count) * 6)?))
    }
    /// The weights `W` (row-major `[outputs][inputs]`) and bias `b` of a layer of this model.
    pub fn layer_params(&self, layer: &LayerSpec) -> Result<(&'a [f32], &'a [f32]), Error> {
        let at = layer.offset as usize;
        let nw = layer.weight_count();
        let w = self.weights.get(at..at + nw).ok_or(invalid("layout"))?;
        let b = self
            .weights
            .get(at + nw..at + layer.param_count())
            .ok_or(invalid("layout"))?;
        Ok((w, b))
    }
    /// Number of layers in head `head`'s chain (trunk layers, then head layers).
    pub fn chain_len(&self, head: usize) -> Result<usize, Error> {
        Ok(self.header.trunk.len() + self.head(head)?.layers.len())
    }
    /// Layer `index` of head `head`'s chain.
    pub fn chain_layer(&self, head: usize, index: usize) -> Result<&LayerSpec, Error> {
        let trunk = self.header.trunk.len();
        if index < trunk {
            self.header.trunk.get(index).ok_or(invalid("trunk"))
        } else {
            self.head(head)?
                .layers
                .get(index - trunk)
                .ok_or(invalid("head.layers"))
        }
    }
    /// The adaptation spec of head `head`.
    pub fn adapt_spec(&self, head: usize) -> Result<&AdaptSpec, Error> {
        self.head(head)?
            .adapt
            .as_ref()
            .ok_or(Error::HeadNotAdaptable { head })
    }
    /// Which part of head `head`'s chain adapts.
    pub fn adapted_range(&self, head: usize) -> Result<AdaptedRange, Error> {
        let spec = self.adapt_spec(head)?;
        adapted_range(spec, self.header.trunk.len(), self.head(head)?.layers.len())
    }
    /// Number of parameters head `head`'s adaptation changes (the adapted state's size).
    pub fn adapted_param_count(&self, head: usize) -> Result<usize, Error> {
        let range = self.adapted_range(head)?;
        let h = self.head(head)?;
        Ok(adapted_params(
            &range,
            self.header.trunk.iter().chain(h.layers.iter()),
        ))
    }
    /// The learning-rate tensor of head `head` (empty for a scalar rate).
    pub(crate) fn rate_tensor(&self, head: usize) -> Result<&'a [f32], Error> {
        let spec = self.adapt_spec(head)?;
        let range = self.adapted_range(head)?;
        let params = self.adapted_param_count(head)?;
        let len = spec.rate.rate_len(&range, params);
        let Some(at) = spec.rate.tensor_offset() else {
            return Ok(&[]);
        };
        let at = at as usize;
        self.weights.get(at..at + len).ok_or(invalid("layout"))
    }
}
