//! Multi-task configuration: a shared trunk and several `[[head]]` tables, each with its own task
//! source, loss, loss weight and whether it is meta-learned (adaptable) or fixed. Errors name the
//! file, line and field.

use crate::classify::class_names::ClassRef;
use crate::classify::config::InputKind;
use crate::config::{ConfigError, MAX_CLIP};
use crate::engine::optim::Optimiser;
use crate::meta::{Algorithm, Scope};
use crate::net::trunk::{build, TrunkLayer};
use crate::net::{Activation, LayerSpec};
use crate::tasks::Columns;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrunkConfig {
    /// Widths of the trunk's dense layers (each with `activation`), when `layers` is empty.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// The shape of a row's features: a `series` or an `image` is what convolution and pooling
    /// layers need (`vector`, the default: no structure).
    pub input: InputKind,
    /// The trunk as a list of layers (`[[trunk.layers]]` tables, `kind = "conv1d"`, ...: as the
    /// classification trainer's `[[trunk]]`), checked against `input`; when given it replaces
    /// `hidden`.
    pub layers: Vec<TrunkLayer>,
    /// Standardise every input feature, `x' = (x - mean) / sd`, with the mean and standard
    /// deviation of the training inputs of every head (training tasks and training rows, never
    /// held-out tasks or validation rows); the model stores it, so the device takes raw units.
    pub standardise_inputs: bool,
    /// With `standardise_inputs = false` only: `x' = x * input_scale` (absent: 1). Refused
    /// beside standardisation, which it would silently rescale.
    pub input_scale: Option<f64>,
}

impl TrunkConfig {
    /// The trunk's network layers on rows of `width` features (a vector's width; a series or
    /// an image declares its own): `layers` when given, else `hidden` as dense layers; or the
    /// index of the first layer that does not fit the input and why.
    pub fn network_layers(&self, width: usize) -> Result<Vec<LayerSpec>, (usize, String)> {
        if self.layers.is_empty() {
            let dense = |&units| TrunkLayer::Dense {
                units,
                activation: self.activation,
            };
            let hidden: Vec<TrunkLayer> = self.hidden.iter().map(dense).collect();
            let flat = crate::net::layer::Shape::flat(width);
            return build(flat, crate::net::trunk::Layout::Vector, &hidden);
        }
        let (shape, layout) = self.input.shape(width);
        build(shape, layout, &self.layers)
    }

    /// The common input scale when inputs are not standardised.
    pub fn raw_input_scale(&self) -> f64 {
        self.input_scale.unwrap_or(1.0)
    }
}

impl Default for TrunkConfig {
    fn default() -> Self {
        TrunkConfig {
            hidden: vec![32, 32],
            activation: Activation::Relu,
            input: InputKind::Vector {},
            layers: Vec::new(),
            standardise_inputs: true,
            input_scale: None,
        }
    }
}

/// A head's loss weight: a number, or `"uncertainty"` (Kendall et al. 2018: the loss enters as
/// `exp(-s) L + s` with the log-variance `s` trained alongside).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WeightSpec {
    Fixed(f64),
    Named(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadConfig {
    /// Unique; also seeds the head's batches, so a head sees the same batches alone or with others.
    pub name: String,
    /// Where the head's data comes from (required).
    pub source: Option<HeadSource>,
    pub path: Option<String>,
    /// The header column of a rows CSV's labels (absent: the column named `label`, else the
    /// last).
    pub label_column: Option<String>,
    /// Header columns that are neither inputs nor labels or targets (ids, timestamps).
    pub ignore_columns: Vec<String>,
    /// `csv_tasks` heads: the column naming each task (default `task_id`), and the target
    /// columns by name (every other column an input; empty: `x..` then `y..`), as a
    /// regression run's `[task]`.
    pub task_column: Option<String>,
    pub targets: Vec<String>,
    /// `csv_tasks` heads: the share of task ids held out (evaluated as deployed, never
    /// trained on) and the seed that chooses them, as a regression run's `[task]` (absent:
    /// 0.2 and 0).
    pub test_fraction: Option<f64>,
    pub split_seed: Option<u64>,
    /// Labels used from a rows CSV (empty: every label in the file), in head-output order:
    /// class indices or the data's class names.
    pub classes: Vec<ClassRef>,
    /// Rotate square images by `rotate` x 90 degrees (rows sources).
    pub rotate: u8,
    /// The head's objective (required; the one its source takes).
    pub loss: Option<Loss>,
    pub weight: WeightSpec,
    /// Meta-learned with `algorithm` (adapted on the device) or fixed (plain multi-task).
    pub adaptable: bool,
    /// Hidden layers of the head above the trunk.
    pub hidden: Vec<usize>,
    pub algorithm: Algorithm,
    pub scope: Scope,
    pub steps: usize,
    pub alpha: f64,
    pub clip: f64,
    /// Adaptable classification: classes per episode (head outputs).
    pub ways: usize,
    /// Adaptable: support rows per task (per class for episodes): the K of validation and of
    /// the as-deployed evaluation, and of training unless `shots_min` / `shots_max` set a range.
    pub shots: usize,
    /// Adaptable: the range each training task's (or episode's) K is drawn from, uniformly
    /// (absent: `shots`). Training on several K makes the meta-learned start and steps serve a
    /// device whose support sets vary in size.
    pub shots_min: Option<usize>,
    pub shots_max: Option<usize>,
    pub query: usize,
    /// Rows sources: held-out share of rows for validation.
    pub val_fraction: f64,
    /// `csv_tasks` heads: train on standardised targets (fitted on the meta-training tasks) and
    /// export them as the head's output normalisation, so the device takes and returns raw
    /// units (absent: true for `csv_tasks`; other sources keep their targets).
    pub standardise_targets: Option<bool>,
}

/// A head's data source (`source = "..."`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadSource {
    /// The sinusoid task family (regression tasks).
    Sinusoid,
    /// Regression tasks of a CSV (`task_id,x1..xn,y1..ym`).
    CsvTasks,
    /// Labelled rows of a CSV: the label is the target (`classes` selects labels).
    Classes,
    /// Labelled rows of a CSV: the mean feature over the file's largest feature is the target.
    Intensity,
}

impl HeadSource {
    /// Whether the source is labelled rows (rather than tasks).
    pub fn is_rows(self) -> bool {
        matches!(self, HeadSource::Classes | HeadSource::Intensity)
    }

    /// The loss the source's targets take.
    pub fn loss(self) -> Loss {
        match self {
            HeadSource::Classes => Loss::Ce,
            _ => Loss::Mse,
        }
    }

    /// The name in a configuration file.
    pub fn name(self) -> &'static str {
        match self {
            HeadSource::Sinusoid => "sinusoid",
            HeadSource::CsvTasks => "csv_tasks",
            HeadSource::Classes => "classes",
            HeadSource::Intensity => "intensity",
        }
    }
}

/// A head's objective (`loss = "..."`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error (regression heads).
    Mse,
    /// Cross-entropy over the classes (classification heads).
    Ce,
}

impl Loss {
    /// The name in a configuration file.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Ce => "ce",
        }
    }
}

impl HeadConfig {
    /// Which columns of a `csv_tasks` head's CSV are the task id, the inputs and the targets.
    pub fn columns(&self) -> Columns {
        Columns {
            task_column: self
                .task_column
                .clone()
                .unwrap_or_else(|| Columns::default().task_column),
            targets: self.targets.clone(),
            ignore: self.ignore_columns.clone(),
        }
    }

    /// The head's source (validated configurations always have one).
    pub fn source(&self) -> HeadSource {
        self.source.unwrap_or(HeadSource::Sinusoid)
    }

    /// The range a training task's K is drawn from: `shots_min..=shots_max`, each `shots`
    /// when absent.
    pub fn train_shots(&self) -> (usize, usize) {
        (
            self.shots_min.unwrap_or(self.shots),
            self.shots_max.unwrap_or(self.shots),
        )
    }

    /// A `csv_tasks` head's held-out share of task ids and the seed that chooses them.
    pub fn task_split(&self) -> (f64, u64) {
        (
            self.test_fraction.unwrap_or(0.2),
            self.split_seed.unwrap_or(0),
        )
    }

    /// Whether the head trains on standardised targets.
    pub fn standardises_targets(&self) -> bool {
        self.source == Some(HeadSource::CsvTasks) && self.standardise_targets != Some(false)
    }
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig {
            name: String::new(),
            source: None,
            path: None,
            label_column: None,
            ignore_columns: Vec::new(),
            task_column: None,
            targets: Vec::new(),
            test_fraction: None,
            split_seed: None,
            classes: Vec::new(),
            rotate: 0,
            loss: None,
            weight: WeightSpec::Fixed(1.0),
            adaptable: false,
            hidden: Vec::new(),
            algorithm: Algorithm::Fomaml,
            scope: Scope::HeadOnly,
            steps: 1,
            alpha: 0.1,
            clip: 10.0,
            ways: 5,
            shots: 5,
            shots_min: None,
            shots_max: None,
            query: 10,
            val_fraction: 0.25,
            standardise_targets: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelatednessConfig {
    /// Batches the gradient cosines are averaged over.
    pub batches: usize,
    /// Iterations of joint training before measuring, and of each alone / pair run of the
    /// transfer gain.
    pub budget: u64,
    /// Repeat every measurement with this many seeds (the configuration's seed, +1, ..).
    pub seeds: usize,
}

impl Default for RelatednessConfig {
    fn default() -> Self {
        RelatednessConfig {
            batches: 20,
            budget: 200,
            seeds: 3,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MtConfig {
    pub seed: u64,
    pub iterations: u64,
    pub lr: f64,
    /// Rate at the last iteration, by a cosine decay (absent: `lr` throughout).
    pub lr_final: Option<f64>,
    /// Clip of the gradient's global norm (0: off).
    pub grad_norm_clip: f64,
    /// Iterations over which the rate rises linearly to its schedule's (0: none).
    pub warmup: u64,
    /// Rows per batch of a fixed head.
    pub batch: usize,
    /// Tasks per batch of an adaptable head.
    pub meta_batch: usize,
    pub val_every: u64,
    /// Fixed validation batches (tasks) per head.
    pub val_batches: usize,
    /// Write `<out>.ckpt` every this many iterations (0: only when stopped or interrupted).
    pub checkpoint_every: u64,
    pub trunk: TrunkConfig,
    #[serde(rename = "head")]
    pub heads: Vec<HeadConfig>,
    pub relatedness: RelatednessConfig,
}

impl MtConfig {
    /// The engine's optimiser for this configuration.
    pub fn optimiser(&self) -> Optimiser {
        let (lr, clip) = (self.lr, self.grad_norm_clip);
        Optimiser::new(lr, self.lr_final, clip, self.iterations).with_warmup(self.warmup)
    }
}

impl Default for MtConfig {
    fn default() -> Self {
        MtConfig {
            seed: 0,
            iterations: 500,
            lr: 2e-3,
            lr_final: None,
            grad_norm_clip: 0.0,
            warmup: 0,
            batch: 32,
            meta_batch: 4,
            val_every: 50,
            val_batches: 20,
            checkpoint_every: 100,
            trunk: TrunkConfig::default(),
            heads: Vec::new(),
            relatedness: RelatednessConfig::default(),
        }
    }
}

/// True when a TOML text declares `[[head]]` tables (a multi-task configuration).
pub fn is_multitask(text: &str) -> bool {
    // Any spelling TOML accepts (`[[ head ]]`, a trailing comment); unparsable text is left to
    // the regression parser, which reports where it fails.
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("head"))
}

/// Line of `key` in the `index`-th `[[head]]` table, or in `[section]` / the top level when
/// `index` is None (the table's own line, or 1, when the key is not written: a default).
fn line_of(text: &str, index: Option<usize>, section: &str, key: &str) -> usize {
    let mut heads = 0usize;
    let mut cur = String::new();
    let mut table_line = 1;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t == "[[head]]" {
            cur = format!("head#{heads}");
            heads += 1;
            if index.map(|h| format!("head#{h}")) == Some(cur.clone()) {
                table_line = i + 1;
            }
        } else if t.starts_with('[') {
            cur = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        } else if t.split('=').next().map(str::trim) == Some(key) {
            let want = match index {
                Some(h) => format!("head#{h}"),
                None => section.to_string(),
            };
            if cur == want {
                return i + 1;
            }
        }
    }
    table_line
}

impl MtConfig {
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let cfg: MtConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| {
                text.get(..s.start)
                    .map_or(1, |t| t.matches('\n').count() + 1)
            });
            let msg = e.message().to_string();
            let field = msg
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .map(str::to_string)
                .or_else(|| {
                    let l = text.lines().nth(line.saturating_sub(1))?;
                    Some(l.split_once('=')?.0.trim().to_string())
                })
                .unwrap_or_else(|| "-".into());
            let line = if msg.starts_with("unknown field") {
                text.lines()
                    .position(|l| l.split('=').next().map(str::trim) == Some(field.as_str()))
                    .map_or(line, |i| i + 1)
            } else {
                line
            };
            ConfigError {
                file: file.into(),
                line,
                field,
                msg,
            }
        })?;
        cfg.validate()
            .map_err(|(head, section, key, msg)| ConfigError {
                file: file.into(),
                line: line_of(text, head, section, key),
                field: match head {
                    Some(h) => format!("head[{h}].{key}"),
                    None if section.is_empty() => key.to_string(),
                    None => format!("{section}.{key}"),
                },
                msg,
            })?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(&ConfigError::read(path)?, &path.display().to_string())
    }

    /// (head index, section, key, message) of the first bad value: the run's settings, the
    /// trunk, the relatedness measurement, then each head.
    pub fn validate(&self) -> Result<(), Invalid> {
        let top = |ok: bool, key: &'static str, msg: &str| {
            if ok {
                Ok(())
            } else {
                Err((None, "", key, msg.to_string()))
            }
        };
        top(self.iterations >= 1, "iterations", "must be >= 1")?;
        if let Err((key, msg)) = self.optimiser().check(MAX_CLIP) {
            return Err((None, "", key, msg));
        }
        top(self.batch >= 1, "batch", "must be >= 1")?;
        top(self.meta_batch >= 1, "meta_batch", "must be >= 1")?;
        top(self.val_batches >= 1, "val_batches", "must be >= 1")?;
        self.validate_trunk()?;
        if self.relatedness.batches == 0 {
            return Err((None, "relatedness", "batches", "must be >= 1".into()));
        }
        if !(1..=100).contains(&self.relatedness.seeds) {
            return Err((None, "relatedness", "seeds", "must be in 1..=100".into()));
        }
        top(
            !self.heads.is_empty(),
            "head",
            "declare at least one [[head]]",
        )?;
        top(
            self.heads.len() <= 8,
            "head",
            "at most 8 heads (the runtime's head mask)",
        )?;
        for (i, h) in self.heads.iter().enumerate() {
            h.validate(&self.heads[..i])
                .map_err(|(key, msg)| (Some(i), "head", key, msg))?;
        }
        Ok(())
    }

    /// The trunk's dense widths or its layers, and its input scale.
    fn validate_trunk(&self) -> Result<(), Invalid> {
        if self.trunk.layers.is_empty()
            && (self.trunk.hidden.is_empty()
                || self.trunk.hidden.iter().any(|&h| !(1..=4096).contains(&h)))
        {
            return Err((
                None,
                "trunk",
                "hidden",
                "needs >= 1 layer, each 1..=4096 wide (or `[[trunk.layers]]`)".into(),
            ));
        }
        if !self.trunk.layers.is_empty() {
            // A series or an image declares its width; a vector's is the data's (1 here: only
            // layers that need a map can fail, and they fail on any vector).
            let width = self.trunk.input.width().unwrap_or(1);
            if let Err((i, msg)) = self.trunk.network_layers(width) {
                let kind = self.trunk.layers.get(i).map_or("?", TrunkLayer::kind);
                let msg = format!("layer {i} (`{kind}`): {msg}");
                return Err((None, "trunk.layers", "kind", msg));
            }
        }
        match self.trunk.input_scale {
            Some(s) if !(s.is_finite() && s > 0.0) => {
                return Err((
                    None,
                    "trunk",
                    "input_scale",
                    "must be a positive number".into(),
                ));
            }
            Some(_) if self.trunk.standardise_inputs => {
                return Err((
                    None,
                    "trunk",
                    "input_scale",
                    "applies only with `standardise_inputs = false` (by default every input \
                     feature is standardised on the training data): remove it, or set \
                     standardise_inputs = false to scale raw inputs by it"
                        .into(),
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// A configuration's first bad value: (head index, section, key, message).
pub type Invalid = (Option<usize>, &'static str, &'static str, String);

impl HeadConfig {
    /// (key, message) of this head's first bad value; `earlier` are the heads before it.
    fn validate(&self, earlier: &[HeadConfig]) -> Result<(), (&'static str, String)> {
        let h = self;
        let bad = |key: &'static str, msg: String| Err((key, msg));
        if h.name.is_empty() {
            return bad("name", "every head needs a name".into());
        }
        if earlier.iter().any(|o| o.name == h.name) {
            return bad("name", format!("duplicate head name {:?}", h.name));
        }
        let Some(source) = h.source else {
            return bad(
                "source",
                "every head needs a source (sinusoid, csv_tasks, classes, intensity)".into(),
            );
        };
        let rows = source.is_rows();
        if source != HeadSource::Sinusoid && h.path.is_none() {
            return bad("path", format!("source {:?} needs `path`", source.name()));
        }
        let want = source.loss();
        if h.loss != Some(want) {
            return bad(
                "loss",
                format!(
                    "source {:?} takes loss {:?} (a classes source is scored by cross-entropy \"ce\", the others by \"mse\")",
                    source.name(),
                    want.name()
                ),
            );
        }
        match &h.weight {
            WeightSpec::Fixed(w) if !(w.is_finite() && *w >= 0.0) => {
                return bad("weight", format!("{w}: must be >= 0"));
            }
            WeightSpec::Named(s) if s != "uncertainty" => {
                return bad("weight", format!("{s:?}: a number or \"uncertainty\""));
            }
            _ => {}
        }
        if h.standardise_targets == Some(true) && source != HeadSource::CsvTasks {
            return bad(
                "standardise_targets",
                format!(
                    "csv_tasks heads only (this head's source is {:?})",
                    source.name()
                ),
            );
        }
        if source != HeadSource::CsvTasks && (h.test_fraction.is_some() || h.split_seed.is_some()) {
            let key = if h.test_fraction.is_some() {
                "test_fraction"
            } else {
                "split_seed"
            };
            let msg = format!("csv_tasks heads only (this head's source is {:?}; rows sources hold out `val_fraction` of their rows)", source.name());
            return bad(key, msg);
        }
        if h.test_fraction.is_some_and(|f| !(f > 0.0 && f < 1.0)) {
            return bad("test_fraction", "must be in (0, 1)".into());
        }
        if h.rotate > 3 || (h.rotate > 0 && !rows) {
            return bad("rotate", "0..=3, rows sources only".into());
        }
        if h.hidden.iter().any(|&w| !(1..=4096).contains(&w)) {
            return bad("hidden", "layers must be 1..=4096 wide".into());
        }
        if h.algorithm.head_only() && h.scope != Scope::HeadOnly {
            let msg = format!(
                "{} adapts the head only: leave scope out or set \"head_only\"",
                h.algorithm.name()
            );
            return bad("scope", msg);
        }
        if !(h.val_fraction > 0.0 && h.val_fraction < 1.0) {
            return bad("val_fraction", "must be in (0, 1)".into());
        }
        if h.adaptable {
            let max = usize::from(runtime::MAX_STEPS);
            if h.steps == 0 || h.steps > max {
                return bad(
                    "steps",
                    format!("an adaptable head needs 1..={max} inner steps"),
                );
            }
            if !(h.clip.is_finite() && h.clip > 0.0) {
                return bad("clip", "must be a positive number".into());
            }
            if !(h.alpha.is_finite() && h.alpha > 0.0) {
                return bad("alpha", "must be a positive number".into());
            }
            if h.shots == 0 || h.query == 0 {
                return bad("shots", "shots and query must be >= 1".into());
            }
            let (lo, hi) = h.train_shots();
            if lo == 0 || lo > hi {
                let key = if h.shots_min.is_some() {
                    "shots_min"
                } else {
                    "shots_max"
                };
                let msg = format!("the training K range {lo}..={hi} must be >= 1 and not empty");
                return bad(key, msg);
            }
            if source == HeadSource::Classes && h.ways < 2 {
                return bad("ways", "must be >= 2".into());
            }
            if matches!(h.algorithm, Algorithm::Reptile) {
                return bad(
                    "algorithm",
                    "reptile is not a multi-task head's algorithm: a multi-task run sums every head's query loss into one gradient of the shared trunk, and Reptile's update is a move towards adapted weights, not a loss; use fomaml (first-order, as cheap) or maml, anil, meta_sgd (a single-head regression run's [meta] takes reptile)".into(),
                );
            }
            if matches!(h.algorithm, Algorithm::Proximal)
                && (h.loss != Some(Loss::Mse) || !h.hidden.is_empty())
            {
                return bad(
                    "algorithm",
                    "proximal needs an mse head of one linear layer (no hidden layers)".into(),
                );
            }
        }
        Ok(())
    }
}
