//! Building model blobs on a host (feature `std`): the trainer's export and the tests' fixtures.
//!
//! The writer lays tensors out with the same [`layout::walk`](super::layout::walk) the reader
//! validates against, and checks its own output with [`Model::from_bytes`], so it never emits a
//! blob the runtime would refuse.
//!
//! ```
//! use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
//! use fewshot_runtime::{Activation, AdaptScope, Model};
//!
//! let head = HeadDef::regression(0, "y", vec![Dense::zeros(8, 1, Activation::Identity)])
//!     .with_adapt(AdaptDef::new(AdaptScope::HeadOnly, 5, RateDef::Scalar(0.01), 10.0));
//! let blob = ModelDef::new("tiny", 3)
//!     .trunk(Dense::zeros(3, 8, Activation::Tanh))
//!     .head(head)
//!     .to_aligned_bytes()
//!     .unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//! assert_eq!(model.adapted_param_count(0).unwrap(), 9);
//! ```

use std::string::String;
use std::vec::Vec;

mod encode;

use super::front_end::FRONT_END_SINCE;
use super::spec::*;
pub use super::stem_def::{Int8Values, StemDef};
use super::views::VIEWS_SINCE;
use super::{AlignedBytes, Model, CRC, STEM_SINCE};
use crate::Error;

/// A dense layer with its values: `W` row-major `[outputs][inputs]`, then `b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Nonlinearity.
    pub activation: Activation,
    /// `W`, row-major `[outputs][inputs]`.
    pub weights: Vec<f32>,
    /// `b`.
    pub bias: Vec<f32>,
}

impl Dense {
    /// A layer with the given values.
    pub fn new(
        inputs: usize,
        outputs: usize,
        activation: Activation,
        weights: Vec<f32>,
        bias: Vec<f32>,
    ) -> Self {
        Dense {
            inputs,
            outputs,
            activation,
            weights,
            bias,
        }
    }
    /// A layer of zeros.
    pub fn zeros(inputs: usize, outputs: usize, activation: Activation) -> Self {
        Dense::new(
            inputs,
            outputs,
            activation,
            std::vec![0.0; inputs * outputs],
            std::vec![0.0; outputs],
        )
    }
}

/// A head's learning rates with their values.
#[derive(Debug, Clone, PartialEq)]
pub enum RateDef {
    /// One step size.
    Scalar(f32),
    /// MAML++ table `[steps][adapted layer][2]`.
    PerLayerPerStep {
        /// Rows.
        steps: u16,
        /// Values.
        table: Vec<f32>,
    },
    /// Meta-SGD: one step size per adapted parameter.
    PerParameter(Vec<f32>),
    /// One step size per adapted parameter, each step implicit (see
    /// [`LearningRate::Proximal`]).
    Proximal(Vec<f32>),
}

/// A head's adaptation spec with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptDef {
    /// Which parameters adapt.
    pub scope: AdaptScope,
    /// Default inner steps.
    pub steps: u16,
    /// Step sizes.
    pub rate: RateDef,
    /// Elementwise gradient clip.
    pub clip: f32,
    /// Prototype initialisation scale (classification heads).
    pub prototype_scale: Option<f32>,
}

impl AdaptDef {
    /// A spec with no prototype initialisation.
    pub fn new(scope: AdaptScope, steps: u16, rate: RateDef, clip: f32) -> Self {
        AdaptDef {
            scope,
            steps,
            rate,
            clip,
            prototype_scale: None,
        }
    }
    /// Starts the head's last layer from class prototypes with this scale.
    pub fn with_prototypes(mut self, scale: f32) -> Self {
        self.prototype_scale = Some(scale);
        self
    }
}

/// A head with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadDef {
    /// Identifier.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: HeadKind,
    /// Layers.
    pub layers: Vec<Dense>,
    /// Adaptation spec.
    pub adapt: Option<AdaptDef>,
    /// A regression head's output normalisation `(shift, scale)` (format v2, see
    /// [`OutputNormalisation`]).
    pub output_normalisation: Option<(Vec<f32>, Vec<f32>)>,
    /// A classification head's most classes on the device (format v4, see
    /// [`Enrollable`]).
    pub max_classes: Option<u16>,
}

impl HeadDef {
    /// A regression head; its output width is the last layer's.
    pub fn regression(id: u16, name: &str, layers: Vec<Dense>) -> Self {
        let outputs = layers.last().map_or(0, |l| l.outputs) as u16;
        HeadDef {
            id,
            name: name.into(),
            kind: HeadKind::Regression { outputs },
            layers,
            adapt: None,
            output_normalisation: None,
            max_classes: None,
        }
    }
    /// A classification head; its classes are the last layer's outputs.
    pub fn classification(id: u16, name: &str, layers: Vec<Dense>) -> Self {
        let classes = layers.last().map_or(0, |l| l.outputs) as u16;
        HeadDef {
            id,
            name: name.into(),
            kind: HeadKind::Classification { classes },
            layers,
            adapt: None,
            output_normalisation: None,
            max_classes: None,
        }
    }
    /// A matching head of `classes` classes with `per_class` prototypes each; the last layer must
    /// have `classes * per_class` outputs.
    pub fn matching(id: u16, name: &str, classes: u16, per_class: u16, layers: Vec<Dense>) -> Self {
        HeadDef {
            id,
            name: name.into(),
            kind: HeadKind::Matching {
                classes,
                per_class,
                warps: None,
            },
            layers,
            adapt: None,
            output_normalisation: None,
            max_classes: None,
        }
    }
    /// Makes a classification head enrollable: the device may hold up to `max_classes` classes
    /// ([`crate::enroll::ClassBank`]; format v4).
    pub fn with_max_classes(mut self, max_classes: u16) -> Self {
        self.max_classes = Some(max_classes);
        self
    }
    /// Makes the head adaptable.
    pub fn with_adapt(mut self, adapt: AdaptDef) -> Self {
        self.adapt = Some(adapt);
        self
    }
    /// Gives a regression head an output normalisation: it returns `z * scale + shift`, and
    /// support targets enter its loss as `(y - shift) / scale` (format v2).
    pub fn with_output_normalisation(mut self, shift: Vec<f32>, scale: Vec<f32>) -> Self {
        self.output_normalisation = Some((shift, scale));
        self
    }
}

/// The input views with their values (see [`WarpSet`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewsDef {
    /// Image width in pixels.
    pub width: u8,
    /// Image height in pixels.
    pub height: u8,
    /// The warps, `[a, b, tx, c, d, ty]` each (1 to [`MAX_WARPS`]).
    pub warps: Vec<[f32; 6]>,
}

impl ViewsDef {
    /// The declaration of these views with their table at `offset`.
    fn set(&self, offset: u32) -> Result<WarpSet, Error> {
        let n = self.warps.len();
        Ok(WarpSet {
            width: self.width,
            height: self.height,
            count: u8::try_from(n).map_err(|_| capacity("warps", n, MAX_WARPS))?,
            offset,
        })
    }
}

/// A whole model with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDef {
    /// Name.
    pub name: String,
    /// Identifier; 0 means "derive it from the contents".
    pub model_id: u32,
    /// Input width.
    pub input_len: usize,
    /// `(shift, scale)`.
    pub normalisation: Option<(Vec<f32>, Vec<f32>)>,
    /// A per-sample input transform (format v2).
    pub input_transform: Option<InputTransform>,
    /// Frozen convolution and pooling layers before the trunk (format v4).
    pub stem: Vec<StemDef>,
    /// Trunk layers.
    pub trunk: Vec<Dense>,
    /// Heads.
    pub heads: Vec<HeadDef>,
    /// Input views read by its matching heads (format v5).
    pub views: Option<ViewsDef>,
    /// The audio front-end the model was trained with (format v6).
    pub front_end: Option<crate::frontend::FrontEndSpec>,
}

fn narrow(v: usize, what: &'static str) -> Result<u16, Error> {
    u16::try_from(v).map_err(|_| Error::Capacity {
        what,
        needed: v,
        available: usize::from(u16::MAX),
    })
}

fn spec_of(d: &Dense) -> Result<LayerSpec, Error> {
    if d.weights.len() != d.inputs * d.outputs {
        return Err(Error::LengthMismatch {
            what: "layer weights",
            expected: d.inputs * d.outputs,
            found: d.weights.len(),
        });
    }
    if d.bias.len() != d.outputs {
        return Err(Error::LengthMismatch {
            what: "layer bias",
            expected: d.outputs,
            found: d.bias.len(),
        });
    }
    Ok(LayerSpec {
        inputs: narrow(d.inputs, "layer inputs")?,
        outputs: narrow(d.outputs, "layer outputs")?,
        activation: d.activation,
        offset: 0,
    })
}

fn check_len(data: &[f32], expected: usize, what: &'static str) -> Result<(), Error> {
    if data.len() == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            found: data.len(),
        })
    }
}

fn capacity(what: &'static str, needed: usize, available: usize) -> Error {
    Error::Capacity {
        what,
        needed,
        available,
    }
}

impl ModelDef {
    /// An empty model with `input_len` inputs.
    pub fn new(name: &str, input_len: usize) -> Self {
        ModelDef {
            name: name.into(),
            model_id: 0,
            input_len,
            normalisation: None,
            input_transform: None,
            stem: Vec::new(),
            trunk: Vec::new(),
            heads: Vec::new(),
            views: None,
            front_end: None,
        }
    }
    /// Carries the audio front-end the model was trained with (format v6): its input is the
    /// front-end's second of frames ([`crate::frontend::FrontEndSpec::input_len`]).
    pub fn front_end(mut self, spec: crate::frontend::FrontEndSpec) -> Self {
        self.front_end = Some(spec);
        self
    }
    /// Gives the model input views: affine warps of its `width x height` image input, read by
    /// its matching heads (format v5; the writer refuses none, or more than [`MAX_WARPS`]).
    pub fn views(mut self, width: u8, height: u8, warps: Vec<[f32; 6]>) -> Self {
        self.views = Some(ViewsDef {
            width,
            height,
            warps,
        });
        self
    }
    /// Appends a stem layer (format v4).
    pub fn stem(mut self, layer: StemDef) -> Self {
        self.stem.push(layer);
        self
    }
    /// Appends a trunk layer.
    pub fn trunk(mut self, layer: Dense) -> Self {
        self.trunk.push(layer);
        self
    }
    /// Appends a head.
    pub fn head(mut self, head: HeadDef) -> Self {
        self.heads.push(head);
        self
    }
    /// Sets the input normalisation `x' = (x - shift) * scale`.
    pub fn normalise(mut self, shift: Vec<f32>, scale: Vec<f32>) -> Self {
        self.normalisation = Some((shift, scale));
        self
    }
    /// Sets the per-sample input transform (format v2).
    pub fn transform(mut self, t: InputTransform) -> Self {
        self.input_transform = Some(t);
        self
    }
    /// Sets the model identifier.
    pub fn with_id(mut self, model_id: u32) -> Self {
        self.model_id = model_id;
        self
    }

    /// Copies a validated model back into an editable definition.
    pub fn from_model(model: &Model<'_>) -> Result<Self, Error> {
        let dense = |l: &LayerSpec| -> Result<Dense, Error> {
            let (w, b) = model.layer_params(l)?;
            Ok(Dense::new(
                usize::from(l.inputs),
                usize::from(l.outputs),
                l.activation,
                w.to_vec(),
                b.to_vec(),
            ))
        };
        let mut def = ModelDef::new(model.name(), model.input_len()).with_id(model.model_id());
        def.normalisation = model.normalisation().map(|(s, c)| (s.to_vec(), c.to_vec()));
        def.input_transform = model.input_transform();
        for l in model.stem() {
            let (w, b) = model.stem_params(l)?;
            def.stem.push(StemDef {
                layer: *l,
                weights: w.to_vec(),
                bias: b.to_vec(),
            });
        }
        for l in model.trunk() {
            def.trunk.push(dense(l)?);
        }
        for (h, head) in model.heads().iter().enumerate() {
            let layers = head
                .layers
                .iter()
                .map(dense)
                .collect::<Result<Vec<_>, _>>()?;
            let adapt = match &head.adapt {
                None => None,
                Some(spec) => {
                    let values = model.rate_tensor(h)?.to_vec();
                    let rate = match spec.rate {
                        LearningRate::Scalar(r) => RateDef::Scalar(r),
                        LearningRate::PerLayerPerStep { steps, .. } => RateDef::PerLayerPerStep {
                            steps,
                            table: values,
                        },
                        LearningRate::PerParameter { .. } => RateDef::PerParameter(values),
                        LearningRate::Proximal { .. } => RateDef::Proximal(values),
                    };
                    Some(AdaptDef {
                        scope: spec.scope,
                        steps: spec.steps,
                        rate,
                        clip: spec.clip,
                        prototype_scale: spec.prototype_scale,
                    })
                }
            };
            // An older blob's warps are the model's views, below.
            let kind = match head.kind {
                HeadKind::Matching {
                    classes, per_class, ..
                } => HeadKind::Matching {
                    classes,
                    per_class,
                    warps: None,
                },
                kind => kind,
            };
            def.heads.push(HeadDef {
                id: head.id,
                name: head.name.into(),
                kind,
                layers,
                adapt,
                output_normalisation: model
                    .output_normalisation(h)
                    .map(|(s, c)| (s.to_vec(), c.to_vec())),
                max_classes: model.enrollable(h).map(|e| e.max_classes),
            });
        }
        def.views = model.views().map(|(set, table)| ViewsDef {
            width: set.width,
            height: set.height,
            warps: table
                .chunks_exact(6)
                .map(|w| [w[0], w[1], w[2], w[3], w[4], w[5]])
                .collect(),
        });
        def.front_end = model.front_end();
        Ok(def)
    }

    /// Encodes the model as a blob of the oldest format that holds it ([`ModelDef::version`]:
    /// v6 with an audio front-end, v5 with input views, v4 with a stem or an enrollable head,
    /// else v3), its capabilities derived from what it contains.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        self.to_bytes_as(self.version())
    }

    /// The oldest format version that holds the model: [`FRONT_END_SINCE`] (6) with an audio
    /// front-end, [`VIEWS_SINCE`] (5) with input views,
    /// [`STEM_SINCE`] (4) with a stem or an enrollable head, else 3.
    pub fn version(&self) -> u16 {
        if self.front_end.is_some() {
            FRONT_END_SINCE
        } else if self.views.is_some() {
            VIEWS_SINCE
        } else if self.stem.is_empty() && self.heads.iter().all(|h| h.max_classes.is_none()) {
            3
        } else {
            STEM_SINCE
        }
    }

    /// [`ModelDef::to_bytes`] in format `version`: an older one (1: no extension, 2: no
    /// capabilities, before 5: input views as the first matching head's warps) only to check
    /// that blobs already deployed keep loading. A version that cannot express the model is
    /// [`Error::UnsupportedVersion`].
    pub fn to_bytes_as(&self, version: u16) -> Result<Vec<u8>, Error> {
        let blob = self.encode(self.model_id, version)?;
        if self.model_id != 0 {
            return Ok(blob);
        }
        // Derive a non-zero id from the contents: the CRC of the blob encoded with id 0 (its
        // trailer; a CRC over the trailer too would be the same residue for every blob).
        let body = blob.get(..blob.len().saturating_sub(4)).unwrap_or(&[]);
        let id = CRC.checksum(body).max(1);
        self.encode(id, version)
    }

    /// Encodes the model into an aligned buffer, ready for [`Model::from_bytes`].
    pub fn to_aligned_bytes(&self) -> Result<AlignedBytes, Error> {
        self.to_bytes().map(|b| AlignedBytes::from_slice(&b))
    }
}
