//! Configuration of few-shot classification training on a labelled CSV: the input kind, the
//! normalisation, the class split, the trunk, the episodes and the device head. The defaults
//! are the general ones (a vector input standardised on the meta-training rows, a ProtoNet trunk
//! validated on held-out classes); image-only machinery (rotations, shifts, warps, the covariance
//! metric) needs `input.kind = "image"`. `configs/digits.toml` and `configs/plaid.toml` are
//! complete examples.

use super::augment::{Axes, TimeAugment};
use super::class_names::NamedClasses;
use super::proto::ProtoSpec;
use crate::config::{ConfigError, MAX_CLIP};
use crate::engine::optim::Optimiser;
use crate::net::trunk::{build, TrunkLayer};
use crate::net::{LayerSpec, Shape};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod checks;

/// What a row's features are. The kind decides which options apply: rotations, shifts, warps
/// and the covariance metric need an image; the width of the data must match the declared shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputKind {
    /// Any number of features, no structure (a struct variant: serde's `deny_unknown_fields`
    /// does not reach a unit variant of an internally tagged enum, so a mistyped key beside
    /// `kind = "vector"` would pass unseen).
    Vector {},
    /// `channels x length` samples of a time series, channel-major.
    Series { channels: usize, length: usize },
    /// A `channels x height x width` image, channel-major, each plane row-major (`channels`
    /// defaults to 1: a grey image).
    Image {
        width: usize,
        height: usize,
        #[serde(default = "one_channel")]
        channels: usize,
    },
}

/// An image's default channel count.
fn one_channel() -> usize {
    1
}

impl InputKind {
    /// A grey (one-channel) `height x width` image.
    pub fn grey(width: usize, height: usize) -> Self {
        InputKind::Image {
            width,
            height,
            channels: 1,
        }
    }
    /// The number of features the kind declares (`None`: any).
    pub fn width(&self) -> Option<usize> {
        match *self {
            InputKind::Vector {} => None,
            InputKind::Series { channels, length } => channels.checked_mul(length),
            InputKind::Image {
                width,
                height,
                channels,
            } => width.checked_mul(height)?.checked_mul(channels),
        }
    }
    /// What to tell a user whose rows have `d` features where the kind declares another count:
    /// a whole number of the declared channel's values is most likely a channel count left
    /// out; else, with the declared channels (2 or more), a series' length or a square image's
    /// side; empty when neither fits, and for a vector.
    pub fn shape_hint(&self, d: usize) -> String {
        let Some(w) = self.width() else {
            return String::new();
        };
        let channels = self.channels();
        let per_channel = w / channels;
        if d == w || per_channel == 0 {
            return String::new();
        }
        if d.is_multiple_of(per_channel) {
            let c = d / per_channel;
            return format!("; {d} is {c} channels of {per_channel} values: `channels = {c}`?");
        }
        // The channels right, each channel's size wrong (with one channel any count divides:
        // an extra column is likelier, which the caller's hint names).
        if channels < 2 || !d.is_multiple_of(channels) {
            return String::new();
        }
        let each = d / channels;
        let side = (1..=each).find(|s| s * s >= each).filter(|s| s * s == each);
        match (self, side) {
            (InputKind::Series { .. }, _) => {
                format!("; {d} is {channels} channels of {each} values: `length = {each}`?")
            }
            (InputKind::Image { .. }, Some(side)) => format!(
                "; {d} is {channels} channels of {side} x {side}: `width = {side}`, `height = {side}`?"
            ),
            _ => String::new(),
        }
    }
    /// Channels of the input (a series' or an image's channels, else 1).
    pub fn channels(&self) -> usize {
        match *self {
            InputKind::Series { channels, .. } | InputKind::Image { channels, .. } => {
                channels.max(1)
            }
            _ => 1,
        }
    }
    /// The side of a square grey image input (what rotations, shifts, warps and the blur
    /// work on).
    pub fn square_side(&self) -> Option<usize> {
        match *self {
            InputKind::Image {
                width,
                height,
                channels: 1,
            } if width == height => Some(width),
            _ => None,
        }
    }
    /// The shape a trunk sees (`width` features for a vector) and whether it is a map (a series
    /// or an image: what convolutions and pooling need).
    pub fn shape(&self, width: usize) -> (Shape, crate::net::trunk::Layout) {
        match *self {
            InputKind::Vector {} => (Shape::flat(width), crate::net::trunk::Layout::Vector),
            InputKind::Series { channels, length } => (
                Shape {
                    channels,
                    height: 1,
                    width: length,
                },
                crate::net::trunk::Layout::Series,
            ),
            InputKind::Image {
                width,
                height,
                channels,
            } => (
                Shape {
                    channels,
                    height,
                    width,
                },
                crate::net::trunk::Layout::Image,
            ),
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            InputKind::Vector {} => "vector",
            InputKind::Series { .. } => "series",
            InputKind::Image { .. } => "image",
        }
    }
}

/// The per-feature input normalisation `x' = (x - shift) * scale`, fitted on the meta-training
/// classes' training rows only and stored in the model (the device applies it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Normalise {
    /// Shift by the mean and scale by 1 / standard deviation of each feature (a constant
    /// feature keeps scale 1).
    Standardise,
    /// No shift, every feature times `factor` (e.g. 1/16 for 0..=16 pixel counts).
    Scale { factor: f64 },
    /// Raw values.
    None,
    /// One shift and one scale for every feature (the mean and standard deviation of all the
    /// values): keeps the features' relative magnitudes (pixels, spectra), in units the device
    /// and the prototype scales handle.
    Common,
    /// Per-feature standardisation or the common scale, whichever nearest centroid scores
    /// better on the validation episodes (the default; with `standardise_windows`, per-feature).
    Auto,
}

/// How the multi-task head's loss is weighted against the prototype head's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossWeight {
    /// A fixed weight.
    Fixed(f64),
    /// Learned homoscedastic-uncertainty weighting (Kendall et al. 2018): each loss `L_i` enters
    /// as `exp(-s_i) L_i + s_i` with `s_i` trained alongside.
    Uncertainty,
}

/// The device's head as a matching head (the runtime's `HeadKind::Matching`): prototypes per
/// class pooled by log-sum-exp, each matched to the best of a set of affine warps of the (square)
/// input image. Every combination of these candidates is scored by leave-`cv_holdout`-classes-out
/// cross-validation on the meta-training classes, as deployed (see `matching.rs`), and the best
/// replaces the device settings below; the plain prototype head (1 per class, no shift, no
/// shear) is among the candidates when the lists hold 1 and 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchingSpec {
    /// Off: the device head is a plain prototype head with the device settings below.
    pub enabled: bool,
    /// Candidate prototypes per class (support samples `i, i + P, ...` average into prototype `i`).
    pub per_class: Vec<usize>,
    /// Candidate shifts in pixels (0: none): the warps then include the 4 shifted copies.
    pub shifts: Vec<usize>,
    /// Candidate horizontal shears `h` (0: none): the warps then include `x + h y` and `x - h y`.
    pub shears: Vec<f64>,
    /// Candidate prototype scales.
    pub scales: Vec<f64>,
    /// Candidate inner-loop rates of the chosen head, at `device_steps` steps (0: prototypes only).
    pub alphas: Vec<f64>,
    /// Validation episodes per fold and set (each candidate runs every query through the
    /// runtime once per warp, so fewer than `cv_episodes`).
    pub episodes: usize,
}

impl Default for MatchingSpec {
    fn default() -> Self {
        MatchingSpec {
            enabled: true,
            per_class: vec![1, 5],
            shifts: vec![0, 1],
            shears: vec![0.0, 0.35],
            scales: vec![0.5, 1.0],
            alphas: vec![0.0, 0.3, 1.0, 3.0],
            episodes: 100,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClsConfig {
    /// `"classification"`: marks a configuration file as this kind of run.
    pub task: String,
    /// The labelled CSV (relative to the configuration file when read from one).
    pub data: PathBuf,
    /// The header column holding the labels (absent: the column named `label`, else the last).
    pub label_column: Option<String>,
    /// Header columns that are neither features nor the label (ids, timestamps, subjects).
    pub ignore_columns: Vec<String>,
    /// The header column naming each row's subject (a user, a device, a session): not a
    /// feature. The evaluation then also draws each episode's support and queries from one
    /// subject's rows, as a device adapts to its own user, with the subject as a unit, and the
    /// validation episodes are drawn so too.
    pub subject_column: Option<String>,
    /// Where the training episodes come from when a `subject_column` is given: every
    /// subject's rows pooled (`pooled`, the default: the trunk also learns to ignore what
    /// differs between subjects), or one subject's rows each (`within_subject`: as one device
    /// sees its classes).
    pub train_episodes: TrainEpisodes,
    /// Subjects held out of the run (names of `subject_column`): none of their rows trains or
    /// validates the trunk, and the novel classes are evaluated on their rows only, so every
    /// accuracy (the within-subject one with the subject as the unit) is of subjects the model
    /// never saw. Empty: every subject's rows (the trunk has then seen the evaluated subjects'
    /// rows of its training classes).
    pub test_subjects: Vec<String>,
    pub input: InputKind,
    pub normalise: Normalise,
    /// Standardise every sample's channels by their own mean and variance first (on the device
    /// too), so that a window's level and amplitude do not matter, only its shape: for signals
    /// whose scale varies between recordings, sensors or subjects.
    pub standardise_windows: bool,
    /// Classes the trunk is meta-trained on (in the file: indices, or the data's class names).
    pub train_classes: Vec<usize>,
    /// Meta-training classes held out of trunk training: the trunk is validated on episodes of
    /// these (early stopping, the trunk and the device head's settings are chosen on them).
    /// Empty: about a third of `train_classes` (at least 2), drawn with `split_seed`.
    pub val_classes: Vec<usize>,
    /// Novel classes: evaluation only, never seen in training or validation.
    pub test_classes: Vec<usize>,
    /// The class lists as written when they name classes: resolved again for another data file.
    #[serde(skip)]
    pub named: Option<NamedClasses>,
    /// Choose between the trained and the identity trunk by this many folds of the training
    /// classes (each fold held out once, a trunk trained on the others; 0: on `val_classes`
    /// alone), the trained trunk's gain taken with the class as the unit. More validation
    /// classes make the choice less noisy, at the cost of one training per fold.
    pub trunk_folds: usize,
    /// Which validation episodes choose the trunk, the stopping point and the device settings.
    pub validate_on: ValidateOn,
    /// Held-out share of each meta-training class's rows: the episodes of `validate_on =
    /// "held_out_rows"`, and the seen-class check beside held-out classes.
    pub val_fraction: f64,
    pub split_seed: u64,
    /// 90/180/270-degree rotations of the meta-training classes as extra classes.
    pub rotations: bool,
    /// Rotations (1, 2, 3 = 90/180/270 degrees) kept out of meta-training: validation episodes
    /// then come from these rotated classes only (held-out rows), measuring transfer to classes
    /// the trunk never saw while staying inside the meta-training classes.
    pub val_rotations: Vec<u8>,
    /// Random shifts of up to this many pixels (meta-training only).
    pub shift: usize,
    /// Time shifts and masks of series and images (meta-training only; `[augment]`, see
    /// `classify::augment`).
    pub augment: TimeAugment,
    /// Trunk widths (ReLU layers); the identity trunk (no layer: the normalised input) is
    /// always a candidate too.
    pub hidden: Vec<usize>,
    /// The trunk as a list of layers (`[[trunk]]` tables, `kind = "conv1d"`, ...: see
    /// `net::trunk`), checked against `input`; when given it replaces `hidden`. Convolution and
    /// pooling layers train on the host; the runtime's format does not hold them yet, so such a
    /// trunk is evaluated with the trainer's own forward pass and not exported.
    pub trunk: Vec<TrunkLayer>,
    /// Stop after this many validations without improvement (0: never stop early).
    pub patience: usize,
    /// Start the trunk at the identity (features = normalised pixels: the raw-pixel metric).
    pub identity_init: bool,
    /// With `identity_init` on square images: the first layer also adds `blur` times each of the
    /// 4-neighbouring pixels (half that for the diagonal ones): a fixed smoothing of the input
    /// metric that tolerates small shifts and stroke-width changes.
    pub blur: f64,
    /// Candidate powers `p` of the covariance metric (`A = C^p`, `C` the covariance of the
    /// meta-training images with their rotations; 0 = the input metric), chosen with the device's
    /// prototype scale and rate by leave-`cv_holdout`-classes-out cross-validation on the
    /// meta-training classes (see `metric.rs`). The preset: `[0]`, the input metric, with the
    /// device settings chosen by that cross-validation (`configs/digits_cv.toml` adds p > 0).
    /// Empty: no cross-validation, the identity (or `blur`) trunk and device settings chosen on
    /// held-out rows. Needs `identity_init` and square layers; `blur` applies only when 0 is
    /// chosen (the cross-validation scores p = 0 without it).
    pub metric_powers: Vec<f64>,
    /// Meta-training classes held out per cross-validation fold (every subset of this size).
    pub cv_holdout: usize,
    /// Validation episodes per fold and validation set.
    pub cv_episodes: usize,
    /// Train only the multi-task head on the fixed (identity) trunk: the deployed metric stays
    /// the input metric. The preset does this: every trunk training tried raised validation
    /// accuracy on classes 0-4 but lowered accuracy on unseen classes (see the README).
    pub freeze_trunk: bool,
    /// L2 pull of the trunk toward its initial (identity) weights: keeps the learned metric close
    /// to the input metric.
    pub anchor: f64,
    pub ways: usize,
    /// Shots of training episodes, cycled.
    pub shots: Vec<usize>,
    pub query: usize,
    /// Open-set training: each training episode also scores this many rows of classes outside
    /// it, which should be rejected: every query's softmax gains a "none of them" logit
    /// `-scale * tau` against the classes' `-scale * |f - mu_c|^2`, with the distance threshold
    /// `tau` learned beside the trunk. What it trains is the device's distance decision (a
    /// query is unknown when its distance to the nearest prototype exceeds the threshold;
    /// `trainer eval --unknown-queries`). 0: closed-set episodes only.
    pub unknown_queries: usize,
    pub meta_batch: usize,
    pub iterations: u64,
    pub lr: f64,
    /// Rate at the last iteration, by a cosine decay (absent: `lr` throughout).
    pub lr_final: Option<f64>,
    /// Clip of the gradient's global norm (0: off).
    pub grad_norm_clip: f64,
    /// Iterations over which the rate rises linearly to its schedule's (0: none).
    pub warmup: u64,
    /// Prototype head while meta-training (steps > 0: Proto-MAML).
    pub proto: ProtoSpec,
    /// Multi-task head over every meta-training class (with rotations); 0 weight = none.
    pub aux: bool,
    pub aux_weight: LossWeight,
    /// Validation: episodes per shot count, every N iterations.
    pub val_episodes: usize,
    pub val_every: u64,
    /// Device adaptation: inner steps; the scale and rate are chosen on validation episodes
    /// from these grids.
    pub device_steps: usize,
    pub device_scales: Vec<f64>,
    pub device_alphas: Vec<f64>,
    pub device_clip: f64,
    /// The device head as a matching head (the preset); replaces the device settings above.
    pub matching: MatchingSpec,
    pub seed: u64,
    /// Write `<out>.ckpt` every this many iterations (0: only when stopped and at the end).
    pub checkpoint_every: u64,
    /// The audio front-end the data's features were made with (`trainer features`; keys of
    /// `runtime::frontend::FrontEndSpec`, each defaulting to the keyword spec's): checked
    /// against the data's recorded front-end and carried by the exported model (format v6).
    #[serde(deserialize_with = "crate::features::deserialize_spec")]
    pub front_end: Option<runtime::frontend::FrontEndSpec>,
}

impl Default for ClsConfig {
    /// The general defaults: what a new data set gets without tuning.
    fn default() -> Self {
        ClsConfig {
            task: "classification".into(),
            data: PathBuf::new(),
            label_column: None,
            ignore_columns: Vec::new(),
            subject_column: None,
            train_episodes: TrainEpisodes::Pooled,
            test_subjects: Vec::new(),
            input: InputKind::Vector {},
            normalise: Normalise::Auto,
            standardise_windows: false,
            train_classes: Vec::new(),
            val_classes: Vec::new(),
            test_classes: Vec::new(),
            named: None,
            trunk_folds: 0,
            validate_on: ValidateOn::HeldOutClasses,
            val_fraction: 0.25,
            split_seed: 0,
            rotations: false,
            shift: 0,
            augment: TimeAugment::default(),
            val_rotations: vec![],
            hidden: vec![64, 64],
            trunk: Vec::new(),
            patience: 10,
            identity_init: false,
            blur: 0.0,
            metric_powers: vec![],
            cv_holdout: 2,
            cv_episodes: 200,
            freeze_trunk: false,
            anchor: 0.0,
            ways: 5,
            shots: vec![1, 5],
            query: 10,
            unknown_queries: 0,
            meta_batch: 8,
            iterations: 2000,
            lr: 1e-3,
            lr_final: None,
            grad_norm_clip: 0.0,
            warmup: 0,
            proto: ProtoSpec {
                scale: 0.5,
                steps: 0,
                alpha: 0.1,
                clip: 10.0,
            },
            aux: false,
            aux_weight: LossWeight::Fixed(0.1),
            val_episodes: 300,
            val_every: 100,
            device_steps: 5,
            device_scales: vec![0.1, 0.2, 0.5, 1.0, 2.0],
            device_alphas: vec![0.0, 0.1, 0.3, 1.0, 3.0],
            device_clip: 10.0,
            matching: MatchingSpec {
                enabled: false,
                ..MatchingSpec::default()
            },
            seed: 0,
            checkpoint_every: 100,
            front_end: None,
        }
    }
}

/// The line of the `i`-th `[[trunk]]` table in `text` (or of an inline `trunk = [...]`).
fn trunk_line(text: &str, i: usize) -> usize {
    let tables = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim().trim_end_matches(|c: char| c != ']') == "[[trunk]]");
    match tables.map(|(n, _)| n + 1).nth(i) {
        Some(line) => line,
        None => crate::config::line_of(text, "", "trunk"),
    }
}

/// Where training episodes are drawn from when the data name each row's subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainEpisodes {
    /// Each episode's classes and rows from one subject (among those with `ways` classes of
    /// `shots + query` rows; the rest of the subjects' rows serve no episode).
    WithinSubject,
    /// Classes and rows from every subject's rows pooled.
    Pooled,
}

/// Which validation episodes choose the trunk, the stopping point and the device settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidateOn {
    /// Episodes of `val_classes`, which the trunk never trains on: transfer to new classes, what
    /// the device does.
    HeldOutClasses,
    /// Episodes of held-out rows (`val_fraction`) of the training classes: meant for a trunk that
    /// does not train (`freeze_trunk`); a trained trunk is then chosen on the classes it learns,
    /// which overrates it (`train` warns).
    HeldOutRows,
}

impl ClsConfig {
    /// Read a configuration file as `train --config` does: every value checked (errors name
    /// the file, line and key), the data path taken relative to the file's folder, class names
    /// resolved against that data.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match crate::presets::load(None, Some(path))?.0 {
            crate::presets::RunConfig::Classification(cfg) => Ok(*cfg),
            _ => anyhow::bail!(
                "{}: not a classification configuration (`task = \"classification\"`)",
                path.display()
            ),
        }
    }

    /// Another data file for this configuration (`--data`): class names resolved again against
    /// its labels.
    pub fn set_data(&mut self, data: &Path) -> anyhow::Result<()> {
        self.data = data.to_path_buf();
        if let Some(named) = &self.named {
            let ds = super::data::Dataset::load_labelled(data, self.columns())?;
            [self.train_classes, self.val_classes, self.test_classes] = named.ids(&ds)?;
        }
        Ok(())
    }

    /// What the data file's columns are: the label column and the ignored ones.
    pub fn columns(&self) -> super::data::Columns<'_> {
        super::data::Columns {
            label: self.label_column.as_deref(),
            ignore: &self.ignore_columns,
            subject: self.subject_column.as_deref(),
        }
    }

    /// Parse a configuration's text and check every value; errors name the file, line and key.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let cfg: ClsConfig =
            toml::from_str(text).map_err(|e| crate::config::toml_error(text, file, &e))?;
        cfg.checked(text, file)
    }

    /// `self` when [`ClsConfig::validate`] passes, else the error at the key's line in `text`.
    pub fn checked(self, text: &str, file: &str) -> Result<Self, ConfigError> {
        if let Some(e) = self.trunk_error(text, file) {
            return Err(e);
        }
        self.validate().map_err(|(key, msg)| {
            let (section, name) = key.split_once('.').unwrap_or(("", key));
            ConfigError {
                file: file.into(),
                line: if key == "trunk" {
                    trunk_line(text, 0)
                } else {
                    crate::config::line_of(text, section, name)
                },
                field: key.into(),
                msg,
            }
        })?;
        Ok(self)
    }

    /// The error at the `[[trunk]]` table of the first layer of `trunk` that does not fit the
    /// declared input (a series' or an image's; a vector input's width comes with the data),
    /// located in `text`, the file `file` that sets `trunk`.
    pub fn trunk_error(&self, text: &str, file: &str) -> Option<ConfigError> {
        if self.trunk.is_empty() {
            return None;
        }
        let (i, msg) = self.trunk_layers(1).err()?;
        Some(ConfigError {
            file: file.into(),
            line: trunk_line(text, i),
            field: format!("trunk[{i}].kind"),
            msg,
        })
    }

    /// The trunk's layers on rows of `width` features (a vector input's width; series and images
    /// declare theirs): `trunk` when given, else `hidden` as dense ReLU layers; or the index of
    /// the first layer that does not fit the input and why.
    pub fn trunk_layers(&self, width: usize) -> Result<Vec<LayerSpec>, (usize, String)> {
        let (shape, layout) = self.input.shape(width);
        if self.trunk.is_empty() {
            let dense = |&units| TrunkLayer::Dense {
                units,
                activation: crate::net::Activation::Relu,
            };
            let hidden: Vec<TrunkLayer> = self.hidden.iter().map(dense).collect();
            return build(shape, layout, &hidden);
        }
        build(shape, layout, &self.trunk)
    }

    /// The trunk has layers to train (else it is the identity: the normalised input).
    pub fn has_trunk_layers(&self) -> bool {
        !self.trunk.is_empty() || !self.hidden.is_empty()
    }

    /// The trunk has a convolution or pooling layer (the runtime's stem).
    pub fn conv_trunk(&self) -> bool {
        !self
            .trunk
            .iter()
            .all(|l| matches!(l, TrunkLayer::Dense { .. }))
    }

    /// The largest shot count of training and validation episodes.
    pub fn max_shots(&self) -> usize {
        self.shots.iter().copied().max().unwrap_or(1)
    }

    /// The engine's optimiser for this configuration.
    pub fn optimiser(&self) -> Optimiser {
        let (lr, clip) = (self.lr, self.grad_norm_clip);
        Optimiser::new(lr, self.lr_final, clip, self.iterations).with_warmup(self.warmup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_number_of_channels_is_suggested() {
        let image = InputKind::Image {
            width: 12,
            height: 12,
            channels: 1,
        };
        assert_eq!(
            image.shape_hint(288),
            "; 288 is 2 channels of 144 values: `channels = 2`?"
        );
        assert_eq!(image.shape_hint(145), "");
        let two = InputKind::Image {
            width: 10,
            height: 10,
            channels: 2,
        };
        assert_eq!(
            two.shape_hint(288),
            "; 288 is 2 channels of 12 x 12: `width = 12`, `height = 12`?"
        );
        assert_eq!(InputKind::Vector {}.shape_hint(288), "");
        // A series with the right channels and the wrong length.
        let series = InputKind::Series {
            channels: 3,
            length: 100,
        };
        assert_eq!(
            series.shape_hint(384),
            "; 384 is 3 channels of 128 values: `length = 128`?"
        );
    }

    fn refused(train: &[usize], val: &[usize], on: ValidateOn) -> Option<(&'static str, String)> {
        ClsConfig {
            train_classes: train.to_vec(),
            val_classes: val.to_vec(),
            test_classes: vec![9],
            validate_on: on,
            ..ClsConfig::default()
        }
        .validate()
        .err()
    }

    /// Each way of getting the validation classes wrong is told at the key to change, with
    /// what to change.
    #[test]
    fn validation_class_mistakes_name_their_fix() {
        let (on_classes, on_rows) = (ValidateOn::HeldOutClasses, ValidateOn::HeldOutRows);
        assert!(refused(&[0, 1, 2, 3], &[], on_classes).is_none());
        assert!(refused(&[0, 1, 2, 3], &[2, 3], on_classes).is_none());
        let (key, msg) = refused(&[0, 1, 2, 3], &[5], on_classes).unwrap();
        assert!(
            key == "val_classes" && msg.contains("list each in train_classes too"),
            "{msg}"
        );
        let (key, msg) = refused(&[0, 1, 2, 3], &[2], on_classes).unwrap();
        assert!(key == "val_classes" && msg.starts_with("1 class"), "{msg}");
        let (key, msg) = refused(&[0, 1, 2], &[0, 1], on_classes).unwrap();
        assert!(key == "val_classes" && msg.contains("leave 1"), "{msg}");
        // Chosen for the user (none listed): train_classes is what is short.
        let (key, msg) = refused(&[0, 1, 2], &[], on_classes).unwrap();
        assert!(
            key == "train_classes" && msg.contains("held_out_rows"),
            "{msg}"
        );
        assert!(refused(&[0, 1], &[], on_rows).is_none());
        let (key, msg) = refused(&[0, 1, 2, 3], &[0], on_rows).unwrap();
        assert!(
            key == "val_classes" && msg.contains("must be empty"),
            "{msg}"
        );
    }
}
