//! The header types: what the postcard header says about the model. Their geometry and
//! validation are the ops' ([`crate::ops`]).
//!
//! ```
//! use fewshot_runtime::format::spec::{Activation, LayerSpec};
//! let layer = LayerSpec { inputs: 40, outputs: 40, activation: Activation::Relu, offset: 0 };
//! assert_eq!(layer.param_count(), 40 * 40 + 40);
//! assert_eq!(layer.macs(), 1600);
//! ```
//!
//! The stem's layers (format v4) are [`StemLayer`]s: a 1-d convolution over a series is a
//! convolution over a map of height 1.

use heapless::Vec;
use serde::{Deserialize, Serialize};

/// Most trunk layers a model may have.
pub const MAX_TRUNK_LAYERS: usize = 8;
/// Most heads a model may have.
pub const MAX_HEADS: usize = 6;
/// Most dense layers in one head.
pub const MAX_HEAD_LAYERS: usize = 3;
/// Most layers in one chain (trunk then one head).
pub const MAX_CHAIN: usize = MAX_TRUNK_LAYERS + MAX_HEAD_LAYERS;
/// Widest layer (inputs or outputs).
pub const MAX_WIDTH: usize = 4096;
/// Longest model or head name, in bytes.
pub const MAX_NAME_LEN: usize = 32;
/// Most input views (warps) a model may declare.
pub const MAX_WARPS: usize = 16;
/// Most classes an enrollable head may declare ([`Enrollable::max_classes`], format v4).
pub const MAX_ENROLL_CLASSES: u16 = 1024;
/// Most layers in a model's stem (format v4).
pub const MAX_STEM_LAYERS: usize = 8;
/// Most values in one feature map of the stem (its input, or any layer's output).
pub const MAX_MAP_LEN: usize = 16384;

/// A layer's nonlinearity, applied elementwise to `W x + b`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Activation {
    /// `y = z`.
    Identity,
    /// `y = max(0, z)`; derivative 1 where `y > 0`.
    Relu,
    /// `y = tanh(z)`, computed as `1 - 2 / (exp(2z) + 1)` with micromath's `exp`.
    Tanh,
    /// `y = 1 / (1 + exp(-z))` with micromath's `exp`.
    Sigmoid,
}

/// One dense layer: `y = act(W x + b)`, `W` row-major `[outputs][inputs]` at `offset` in the
/// weights section (in f32), then `b` (`outputs` values) right after it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LayerSpec {
    /// Input width.
    pub inputs: u16,
    /// Output width.
    pub outputs: u16,
    /// Nonlinearity.
    pub activation: Activation,
    /// Offset of `W` in the weights section, in f32.
    pub offset: u32,
}

/// What a head predicts and which loss adapts it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeadKind {
    /// Real-valued outputs, mean squared error.
    Regression {
        /// Output width.
        outputs: u16,
    },
    /// Softmax over classes, cross-entropy.
    Classification {
        /// Number of classes.
        classes: u16,
    },
    /// Softmax over classes, cross-entropy, where each class is a mixture of `per_class`
    /// prototypes: the last layer has `classes * per_class` units (class-major, unit
    /// `c * per_class + i`) and class `c` scores `log sum_i exp(u_{c,i})`.
    ///
    /// With the model's input views ([`Extension::views`]), each unit keeps its best score
    /// over the views: `u_j = max_v (z_j(h_v) - s |h_v|^2)`, where `h_v` is the last layer's
    /// input for view `v`, `z_j` the unit's logit and `s` the head's prototype scale
    /// (required). With prototype weights (`W_j = 2 s mu_j`, `b_j = -s |mu_j|^2`) the unit
    /// score is `-s |h_v - mu_j|^2`: each prototype is matched to the best-aligned copy of the
    /// input. The inner loop adapts on the unwarped support.
    Matching {
        /// Number of classes.
        classes: u16,
        /// Prototypes per class.
        per_class: u16,
        /// Format v1 to v4 only: the input warps, which format v5 declares once for the model
        /// as its input views ([`Extension::views`]). A v5 blob with warps here is refused;
        /// an older blob's warps are read as the model's views.
        warps: Option<WarpSet>,
    },
}

/// The model's input views (format v5, [`Extension::views`]): affine warps of an image input.
/// At inference the trunk runs on each view, and a [`HeadKind::Matching`] head keeps each
/// unit's best score over the views' features; other heads read the input as given.
///
/// The input is a row-major `height x width` image (one value per pixel). Warp `w` is six f32
/// at `offset + 6 w` in the weights section, `[a, b, tx, c, d, ty]`: output pixel (column `u`,
/// row `v`), centred as `x = u - (width - 1) / 2`, `y = v - (height - 1) / 2`, samples the input
/// at `(a x + b y + tx, c x + d y + ty)` (centred too) by bilinear interpolation, with zeros
/// outside the image. `[1, 0, 0, 0, 1, 0]` is the identity; `[1, 0, -1, 0, 1, 0]` moves the
/// content one pixel right.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WarpSet {
    /// Image width in pixels.
    pub width: u8,
    /// Image height in pixels.
    pub height: u8,
    /// Number of warps (1 to [`MAX_WARPS`]).
    pub count: u8,
    /// Offset of the warps in the weights section, in f32.
    pub offset: u32,
}

/// Which parameters the inner loop adapts.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AdaptScope {
    /// Every layer of the head; the trunk stays frozen (in flash).
    HeadOnly,
    /// The head and the last `k` trunk layers.
    HeadAndLastTrunk(u8),
    /// The biases of every trunk and head layer.
    BiasesOnly,
    /// Every parameter of the trunk and the head.
    Everything,
}

/// The inner loop's step sizes.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LearningRate {
    /// One step size for every parameter and step.
    Scalar(f32),
    /// MAML++: a table `[steps][adapted layer][2]` (0: weights, 1: bias) at `offset`; step `s`
    /// uses row `min(s, steps - 1)`.
    PerLayerPerStep {
        /// Rows in the table.
        steps: u16,
        /// Offset of the table in the weights section, in f32.
        offset: u32,
    },
    /// Meta-SGD: one step size per adapted parameter at `offset`, laid out as the adapted
    /// parameters are (each adapted layer in chain order: `W` row-major, then `b`; biases only
    /// for [`AdaptScope::BiasesOnly`]).
    PerParameter {
        /// Offset of the step sizes in the weights section, in f32.
        offset: u32,
    },
    /// Per-parameter step sizes (laid out as [`LearningRate::PerParameter`]), each step taken
    /// implicitly: `theta' = theta - alpha (.) grad L(theta')`, the proximal step of the support
    /// loss. It is solved exactly, so it needs a head that is one dense layer with the identity
    /// activation, a regression (mean squared error) loss and [`AdaptScope::HeadOnly`]; any other
    /// head is refused at load. In exact arithmetic no step raises the support loss, whatever
    /// the step size; in f32 a support set whose system is too ill-conditioned is refused
    /// (`Error::IllConditioned`). No gradient clip applies.
    Proximal {
        /// Offset of the step sizes in the weights section, in f32.
        offset: u32,
    },
}

/// How a head adapts on the device.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AdaptSpec {
    /// Which parameters adapt.
    pub scope: AdaptScope,
    /// Default number of inner steps.
    pub steps: u16,
    /// Step sizes.
    pub rate: LearningRate,
    /// Elementwise gradient clip: each gradient component is clamped to `[-clip, clip]`.
    pub clip: f32,
    /// For classification heads: start the last layer from class prototypes with this scale
    /// (`W_c = 2 s mu_c`, `b_c = -s |mu_c|^2`).
    pub prototype_scale: Option<f32>,
}

/// One head: its own dense layers on top of the trunk's features.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HeadSpec<'a> {
    /// Application-level identifier.
    pub id: u16,
    /// Human-readable name.
    pub name: &'a str,
    /// What it predicts.
    pub kind: HeadKind,
    /// Its dense layers, reading the trunk's output.
    pub layers: Vec<LayerSpec, MAX_HEAD_LAYERS>,
    /// How it adapts on the device; `None` for a fixed head.
    pub adapt: Option<AdaptSpec>,
}

/// The postcard-encoded header (after the magic and the version).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Header<'a> {
    /// Identifies the model (state saved for another model is refused).
    pub model_id: u32,
    /// Human-readable name.
    pub name: &'a str,
    /// Input width.
    pub input_len: u16,
    /// Offset of the per-feature normalisation (`shift[input_len]` then `scale[input_len]`;
    /// `x' = (x - shift) * scale`), in f32.
    pub normalisation: Option<u32>,
    /// The shared trunk.
    pub trunk: Vec<LayerSpec, MAX_TRUNK_LAYERS>,
    /// The heads.
    pub heads: Vec<HeadSpec<'a>, MAX_HEADS>,
    /// Number of f32 in the weights section.
    pub weights_len: u32,
}

impl Header<'_> {
    /// A header of nothing: what the loader decodes a blob's header into.
    pub(crate) const fn empty() -> Self {
        Header {
            model_id: 0,
            name: "",
            input_len: 0,
            normalisation: None,
            trunk: Vec::new(),
            heads: Vec::new(),
            weights_len: 0,
        }
    }
}

/// What format v2 adds after the v1 [`Header`] (a v1 blob has none of it: the default). Its
/// tensors follow the v1 tensors in the weights section, in the order listed here.
///
/// Fields added by later versions are encoded after the v2 fields, each only in blobs of that
/// version or newer (the v2 encoding skips them): the stem (v4).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Extension {
    /// A per-sample transform of the input, applied before the per-feature normalisation.
    pub input_transform: Option<InputTransform>,
    /// The output normalisation of regression heads, in increasing head order.
    pub outputs: Vec<OutputNormalisation, MAX_HEADS>,
    /// Format v4: the classification heads that take classes added on the device, in
    /// increasing head order (decoded only from a v4 blob; empty for older ones).
    pub enrollable: Vec<Enrollable, MAX_HEADS>,
    /// Format v4: frozen convolution and pooling layers run on the normalised input before the
    /// dense trunk (see [`StemLayer`]); empty for older blobs. Encoded after the v2 fields.
    #[serde(skip)]
    pub stem: Vec<StemLayer, MAX_STEM_LAYERS>,
    /// Format v5: the input views ([`WarpSet`]), their table after the stem's tensors; `None`
    /// for older blobs (whose warps, if any, are a matching head's). Encoded after the stem.
    #[serde(skip)]
    pub views: Option<WarpSet>,
    /// Format v6: the audio front-end the model was trained with
    /// ([`FrontEndSpec`](crate::frontend::FrontEndSpec)); its input is the front-end's second
    /// of frames. `None` for older blobs. Encoded after the views.
    #[serde(skip)]
    pub front_end: Option<crate::frontend::FrontEndSpec>,
}

impl Extension {
    /// True when the model needs nothing of format v2.
    pub fn is_empty(&self) -> bool {
        self.input_transform.is_none()
            && self.outputs.is_empty()
            && self.enrollable.is_empty()
            && self.stem.is_empty()
            && self.views.is_none()
            && self.front_end.is_none()
    }

    /// The format version this extension needs at least (2 for anything of v2, 4 for
    /// enrollable heads or a stem, 5 for input views, 6 for an audio front-end), or 1.
    pub fn min_version(&self) -> u16 {
        if self.front_end.is_some() {
            6
        } else if self.views.is_some() {
            5
        } else if !self.enrollable.is_empty() || !self.stem.is_empty() {
            4
        } else if !self.is_empty() {
            2
        } else {
            1
        }
    }
}

/// A classification head whose classes the device adds, forgets and relabels (format v4; the
/// runtime's [`ClassBank`](crate::enroll::ClassBank)). The head must be one dense layer on the
/// trunk's features; `max_classes` is at least its exported class count.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Enrollable {
    /// Index of the head.
    pub head: u8,
    /// Most classes the device may hold at once (1 to [`MAX_ENROLL_CLASSES`]).
    pub max_classes: u16,
}

/// The shape of a feature map of the stem: `channels x height x width` values, channel-major
/// then row-major. A series of `channels x length` is a map of height 1; a flat vector of `n`
/// values is `n x 1 x 1`. Flattening a map is the identity on this layout, so it is no layer.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Map {
    /// Channels.
    pub channels: u16,
    /// Rows (1 for a series).
    pub height: u16,
    /// Columns (the length of a series).
    pub width: u16,
}

/// A convolution of the stem (format v4): `channels` filters of `kernel` (rows, columns) over
/// `input` zero-padded by `padding` (rows above and below, columns left and right), every
/// `stride` positions in both directions, then `activation`. Weights row-major `[output
/// channel][input channel][kernel row][kernel column]` (one input channel per filter for
/// [`StemLayer::Depthwise`]) at `offset` in the weights section (in f32), then one bias per
/// output channel.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvSpec {
    /// The input map.
    pub input: Map,
    /// Output channels (the input's channels for a depthwise convolution).
    pub channels: u16,
    /// Kernel rows and columns (1 row for a series).
    pub kernel: [u16; 2],
    /// Step between outputs, in both directions (at least 1).
    pub stride: u16,
    /// Zero padding: rows above and below, columns left and right.
    pub padding: [u16; 2],
    /// Nonlinearity.
    pub activation: Activation,
    /// Offset of the weights in the weights section, in f32.
    pub offset: u32,
}

/// A pooling window of the stem (format v4): `size` (rows, columns) of each channel of `input`,
/// every `stride` positions in both directions, without padding.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PoolSpec {
    /// The input map.
    pub input: Map,
    /// Window rows and columns (1 row for a series).
    pub size: [u16; 2],
    /// Step between windows, in both directions (at least 1).
    pub stride: u16,
}

/// One frozen layer of the stem (format v4), in the order they run. The stem reads the
/// normalised input as its first layer's input map and hands its last layer's output, flat, to
/// the dense trunk. The device never adapts it.
///
/// The stem may run in int8 (capability `int8`, cargo feature `int8`): a
/// [`StemLayer::Quantise`] turns the f32 map into int8, int8 layers follow, and a
/// [`StemLayer::Dequantise`] turns their int8 map back into f32 before any f32 layer, the dense
/// trunk or the heads (which adapt in f32). See [`Int8ConvSpec`] for the int8 tensors.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StemLayer {
    /// Every output channel sees every input channel.
    Conv(ConvSpec),
    /// Output channel `c` sees input channel `c` only.
    Depthwise(ConvSpec),
    /// The largest value of each window.
    MaxPool(PoolSpec),
    /// The mean of each window.
    AvgPool(PoolSpec),
    /// The mean of each channel: one value per channel.
    GlobalAvgPool(Map),
    /// f32 -> int8: `q = clamp(round(x / scale) + zero_point, -128, 127)`, ties away from zero.
    Quantise(Int8Boundary),
    /// int8 -> f32: `x = scale * (q - zero_point)`.
    Dequantise(Int8Boundary),
    /// An int8 (depthwise) convolution.
    Int8Conv(Int8ConvSpec),
    /// An int8 fully connected layer over the flat map.
    Int8Dense(Int8DenseSpec),
    /// The largest int8 value of each window (scale and zero point kept).
    Int8MaxPool(PoolSpec),
    /// The mean of each window of int8 values, rounded half away from zero (scale and zero point
    /// kept); a window the size of the map is a global average.
    Int8AvgPool(PoolSpec),
}

/// The scale and zero point of an int8 map of the stem: its real values are
/// `scale * (q - zero_point)`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Int8Params {
    /// Real value of one step (finite, > 0).
    pub scale: f32,
    /// The int8 value of real zero.
    pub zero_point: i8,
}

/// Where the stem's map changes between f32 and int8: the map and the int8 side's parameters.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Int8Boundary {
    /// The map (the same on both sides).
    pub map: Map,
    /// The int8 side's scale and zero point.
    pub params: Int8Params,
}

/// An int8 convolution of the stem (TFLite Micro semantics): the geometry of `conv` (its
/// activation ReLU, the clamp at the output zero point, or the identity; its offset that of the
/// tensor below), per-output-channel symmetric int8 weights, int32 biases and accumulation,
/// and a Q31 multiplier and shift per output channel (`s_in s_w[c] / s_out`).
///
/// The tensor, in the f32 words of the weights section from `conv.offset`, for `C` output
/// channels and `N` weights (`C x fan-in`, row-major as [`ConvSpec`]'s):
///
/// | words | content |
/// |---|---|
/// | `C` | biases, little-endian i32 (in units of `s_in s_w[c]`) |
/// | `C` | multipliers, i32 in `0..2^31` |
/// | `C` | shifts, i32 in `-31..=30` (positive: left) |
/// | `C` | the weights' scales `s_w[c]`, f32 (finite, > 0; what the int8 weights are worth) |
/// | `ceil(N / 4)` | the int8 weights, four to a word in memory order, the last word's unused bytes 0 |
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Int8ConvSpec {
    /// The geometry, activation and tensor offset.
    pub conv: ConvSpec,
    /// One input channel per filter (`conv.channels` = the input's channels).
    pub depthwise: bool,
    /// The input map's scale and zero point (the padding reads the zero point).
    pub input: Int8Params,
    /// The output map's scale and zero point.
    pub output: Int8Params,
}

/// An int8 fully connected layer of the stem: `outputs x inputs` weights row-major, its tensor
/// laid out as [`Int8ConvSpec`]'s (`C = outputs`).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Int8DenseSpec {
    /// Input width (the flat input map).
    pub inputs: u16,
    /// Output width.
    pub outputs: u16,
    /// ReLU or the identity.
    pub activation: Activation,
    /// The input's scale and zero point.
    pub input: Int8Params,
    /// The output's scale and zero point.
    pub output: Int8Params,
    /// Offset of the tensor in the weights section, in f32.
    pub offset: u32,
}

/// A per-sample transform of the input (format v2).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InputTransform {
    /// The input is `channels` equal blocks (channel-major, e.g. the samples of one sensor
    /// axis); each block is standardised by its own mean and variance:
    /// `x' = (x - mean) / sqrt(var + eps)`, so that a window's level and amplitude do not
    /// matter, only its shape. `1 / sqrt` is three Newton steps from a bit-level estimate
    /// (IEEE arithmetic only: the same bits on every target).
    StandardiseChannels {
        /// Number of blocks (at least 1, dividing the input width).
        channels: u16,
        /// Added to each block's variance (finite, > 0).
        eps: f32,
    },
}

/// The output normalisation of a regression head (format v2): the head computes in
/// standardised units `z`; it returns `y = z * scale + shift`, and support targets enter its loss
/// as `(y - shift) / scale`, so the device takes and returns raw units.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OutputNormalisation {
    /// Index of the head (a regression head).
    pub head: u8,
    /// Offset of `shift[outputs]` then `scale[outputs]` (finite, scale > 0) in the weights
    /// section, in f32.
    pub offset: u32,
}
