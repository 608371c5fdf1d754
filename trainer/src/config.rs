//! Run configuration (TOML, unknown keys refused) and the built-in sinusoid preset.

use crate::meta::{Algorithm, MetaSpec, Scope};
use crate::net::{Activation, Arch, HeadKind};
use crate::tasks::{Columns, CsvTasks, Sinusoid, TaskSource};
use crate::train::TrainSettings;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    /// "sinusoid" or "csv".
    pub kind: String,
    pub path: Option<String>,
    pub test_fraction: f64,
    pub split_seed: u64,
    /// CSV: the column naming each task.
    pub task_column: String,
    /// CSV: the target columns by name (every other column an input); empty: `x..` and `y..`.
    pub targets: Vec<String>,
    /// CSV: columns read as neither input nor target (row ids, timestamps).
    pub ignore_columns: Vec<String>,
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            kind: "sinusoid".into(),
            path: None,
            test_fraction: 0.2,
            split_seed: 0,
            task_column: Columns::default().task_column,
            targets: Vec::new(),
            ignore_columns: Vec::new(),
        }
    }
}

impl TaskConfig {
    /// Which CSV columns are the task id, the inputs and the targets.
    pub fn columns(&self) -> Columns {
        Columns {
            task_column: self.task_column.clone(),
            targets: self.targets.clone(),
            ignore: self.ignore_columns.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// Input normalisation x' = (x - shift) * scale; default from the task source.
    pub input_shift: Option<Vec<f64>>,
    pub input_scale: Option<Vec<f64>>,
    /// Train on targets standardised per output on the meta-training tasks (mean, sd), and
    /// export that output normalisation in the regression head so the device takes and returns
    /// raw units (CSV tasks; the sinusoid family has none and keeps raw targets).
    pub standardise_targets: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            hidden: vec![40, 40],
            activation: Activation::Relu,
            input_shift: None,
            // From the task source: 0.2 for the sinusoid, standardisation for CSV tasks.
            input_scale: None,
            standardise_targets: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "MetaFile")]
pub struct MetaConfig {
    pub algorithm: Algorithm,
    pub scope: Scope,
    pub steps: usize,
    pub alpha: f64,
    pub alpha_max: f64,
    pub clip: f64,
    /// Weight of the query loss after steps 1..=steps; empty = the last step only.
    pub step_weights: Vec<f64>,
    pub first_order: bool,
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaFile::default().into()
    }
}

/// The `[meta]` table as written: `step_weights` left out takes the default weights of the
/// file's own `steps` (a file that sets `steps = 5` alone is valid), the last step's alone for
/// the implicit step.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct MetaFile {
    algorithm: Algorithm,
    /// Left out: the head for the head-only algorithms (`anil`, `proximal`), else everything.
    scope: Option<Scope>,
    steps: usize,
    alpha: f64,
    alpha_max: f64,
    clip: f64,
    step_weights: Option<Vec<f64>>,
    first_order: bool,
}

impl Default for MetaFile {
    fn default() -> Self {
        MetaFile {
            algorithm: Algorithm::MetaSgd,
            scope: None,
            steps: 10,
            alpha: 0.02,
            alpha_max: 1.0,
            clip: 10.0,
            step_weights: None,
            first_order: false,
        }
    }
}

impl From<MetaFile> for MetaConfig {
    fn from(f: MetaFile) -> Self {
        let steps = f.steps;
        MetaConfig {
            algorithm: f.algorithm,
            scope: f.scope.unwrap_or(if f.algorithm.head_only() {
                Scope::HeadOnly
            } else {
                Scope::Everything
            }),
            steps,
            alpha: f.alpha,
            alpha_max: f.alpha_max,
            clip: f.clip,
            // The implicit step weighs the query loss after its last step only (its rule has
            // no gradient through the steps before it).
            step_weights: f.step_weights.unwrap_or_else(|| match f.algorithm {
                Algorithm::Proximal => crate::meta::last_step_weights(steps),
                _ => default_step_weights(steps),
            }),
            first_order: f.first_order,
        }
    }
}

/// The query loss after step 1 weighs most, after the last step next, the steps in between a
/// little (they keep the learned rates stable over every device step).
pub fn default_step_weights(steps: usize) -> Vec<f64> {
    (1..=steps)
        .map(|s| match s {
            1 => 3.0,
            s if s == steps => 1.0,
            _ => 0.1,
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    pub shots: Vec<usize>,
    pub steps: Vec<usize>,
    pub tasks: usize,
    pub query: usize,
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            shots: vec![5, 10, 20],
            steps: vec![1, 10],
            tasks: 600,
            query: 100,
            seed: 20_260_101,
        }
    }
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            iterations: 40_000,
            meta_batch: 5,
            shots_min: 5,
            shots_max: 20,
            query: 10,
            lr: 2e-3,
            lr_final: 1e-4,
            grad_norm_clip: 10.0,
            warmup: 0,
            seed: 0,
            checkpoint_every: 1000,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub task: TaskConfig,
    pub model: ModelConfig,
    pub meta: MetaConfig,
    pub train: TrainSettings,
    pub eval: EvalConfig,
}

/// Largest inner-loop rate (and rate bound) accepted: the device's f32 steps stay far from
/// overflow (the implicit step's sinusoid model uses bounds up to 1000).
pub const MAX_RATE: f64 = 1e6;
/// Largest elementwise gradient clip, and largest meta-gradient norm clip.
pub const MAX_CLIP: f64 = 1e6;
/// Weights between two consecutive layers: 2^20 (4 MB of f32, a large microcontroller's flash).
pub const MAX_LAYER_WEIGHTS: usize = 1 << 20;

/// A bad configuration value: names the file, line and field.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: field `{field}`: {msg}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub msg: String,
}

impl ConfigError {
    /// A configuration file's text, or the error naming the file.
    pub fn read(path: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            field: "-".into(),
            msg: format!("cannot read: {e}"),
        })
    }
}

/// A TOML parse error as a [`ConfigError`]: the line of the offending key (an unknown key's own
/// line) and its name.
pub fn toml_error(text: &str, file: &str, e: &toml::de::Error) -> ConfigError {
    let by_span = e.span().map_or(1, |s| {
        text.get(..s.start)
            .map_or(1, |t| t.matches('\n').count() + 1)
    });
    // The key written on the error's line, if that line is `key = value`, or the table a
    // `[table]` / `[[table]]` header there names.
    let key_at = |line: usize| {
        let l = text.lines().nth(line.saturating_sub(1))?.trim();
        if l.starts_with('[') {
            return Some(l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        }
        let (k, _) = l.split_once('=')?;
        Some(k.trim().to_string())
    };
    let (line, field) = if e.message().starts_with("unknown field") {
        // Unknown key: its name and its own line.
        let f = field_of(e);
        let at = text
            .lines()
            .position(|l| l.split('=').next().map(str::trim) == Some(f.as_str()));
        (at.map_or(by_span, |i| i + 1), f)
    } else {
        (by_span, key_at(by_span).unwrap_or_else(|| field_of(e)))
    };
    let msg = with_hint(&field, e.message().trim());
    ConfigError {
        file: file.into(),
        line,
        field,
        msg,
    }
}

/// A TOML error's message for `field`, with what was probably meant where a spelling of
/// another kind of configuration is common.
pub fn with_hint(field: &str, msg: &str) -> String {
    let key = field.rsplit('.').next().unwrap_or(field);
    match field {
        "trunk.layers" if msg.contains("expected a sequence") => format!("{msg}: a classification configuration's trunk is a list of `[[trunk]]` tables, one a layer (`[[trunk.layers]]` is a multi-task configuration's)"),
        _ if msg.starts_with("unknown field") => match renamed(key) {
            Some(now) => format!("`{key}` was renamed: {now} ({msg})"),
            None => msg.to_string(),
        },
        _ => msg.to_string(),
    }
}

/// What a key of an earlier version's configuration is written as now.
fn renamed(key: &str) -> Option<&'static str> {
    Some(match key {
        "val_digits" => "write `val_classes = [...]` (the validation classes, by index or name)",
        "train_digits" => "write `train_classes = [...]`",
        "test_digits" => "write `test_classes = [...]`",
        "input_scale" => "in a classification configuration, write `[normalise]` with `kind = \"scale\"` and `factor = ...` (a multi-task one's `[trunk] input_scale` needs `standardise_inputs = false`)",
        _ => return None,
    })
}

/// `p` as written in the configuration file `config`: relative to the file's folder unless
/// absolute.
pub fn relative_to(config: &Path, p: &Path) -> std::path::PathBuf {
    match config.parent() {
        Some(dir) if p.is_relative() && !p.as_os_str().is_empty() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

/// Line of `key` inside `[section]` in the TOML text (1 when not found: a default value).
pub fn line_of(text: &str, section: &str, key: &str) -> usize {
    let mut cur = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            cur = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        } else if cur == section && t.split('=').next().map(str::trim) == Some(key) {
            return i + 1;
        }
    }
    1
}

impl Config {
    pub fn preset(name: &str) -> Option<Config> {
        (name == "sinusoid").then(Config::default)
    }

    /// Parse and validate a TOML file's text.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| toml_error(text, file, &e))?;
        cfg.validate().map_err(|(section, key, msg)| ConfigError {
            file: file.into(),
            line: line_of(text, section, key),
            field: format!("{section}.{key}"),
            msg,
        })?;
        Ok(cfg)
    }

    /// Read a configuration file; a task's data path is relative to the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut cfg = Self::parse(&ConfigError::read(path)?, &path.display().to_string())?;
        if let Some(p) = &cfg.task.path {
            cfg.task.path = Some(relative_to(path, Path::new(p)).display().to_string());
        }
        Ok(cfg)
    }

    /// Range checks: (section, key, message) of the first bad value, section by section.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str, String)> {
        let sections = [
            self.task_checks(),
            self.model_checks(),
            self.meta_checks(),
            self.train_checks(),
            self.eval_checks(),
        ];
        for (ok, s, k, msg) in sections.into_iter().flatten() {
            if !ok {
                return Err((s, k, msg));
            }
        }
        let (m, t) = (&self.meta, &self.train);
        t.optimiser()
            .check(MAX_CLIP)
            .map_err(|(key, msg)| ("train", key, msg))?;
        if m.algorithm == Algorithm::Proximal {
            // The head's shape does not depend on the task source's input and output counts.
            let arch = Arch::mlp(
                1,
                &self.model.hidden,
                1,
                self.model.activation,
                HeadKind::Regression,
            );
            if let Some((key, msg)) = crate::meta::proximal_unsupported(&arch, &self.spec()) {
                return Err(("meta", key, msg));
            }
        }
        Ok(())
    }

    /// `[task]`: the source's kind, its file, the held-out share.
    fn task_checks(&self) -> Vec<SectionCheck> {
        vec![
            (
                matches!(self.task.kind.as_str(), "sinusoid" | "csv"),
                "task",
                "kind",
                format!("unknown task kind {:?} (sinusoid, csv)", self.task.kind),
            ),
            (
                self.task.kind != "csv" || self.task.path.is_some(),
                "task",
                "path",
                "a csv task needs `path`".into(),
            ),
            (
                self.task.test_fraction > 0.0 && self.task.test_fraction < 1.0,
                "task",
                "test_fraction",
                "must be in (0, 1)".into(),
            ),
        ]
    }

    /// `[model]`: the trunk's widths and the input normalisation's values.
    fn model_checks(&self) -> Vec<SectionCheck> {
        let max_w = runtime::format::MAX_WIDTH;
        let max_l = runtime::format::MAX_TRUNK_LAYERS;
        vec![
            (
                (1..=max_l).contains(&self.model.hidden.len())
                    && self.model.hidden.iter().all(|&h| (1..=max_w).contains(&h)),
                "model",
                "hidden",
                format!("need 1..={max_l} hidden layers (the runtime's limit) of 1..={max_w} units"),
            ),
            (
                self.model.hidden.windows(2).all(|w| w[0] * w[1] <= MAX_LAYER_WEIGHTS),
                "model",
                "hidden",
                "two consecutive layers over 2^20 weights: the model would not fit a microcontroller's flash (4 MB)".into(),
            ),
            (
                [&self.model.input_shift, &self.model.input_scale]
                    .iter()
                    .all(|v| v.iter().flatten().all(|x| x.abs() <= f64::from(f32::MAX))),
                "model",
                if self.model.input_shift.iter().flatten().all(|x| x.abs() <= f64::from(f32::MAX)) {
                    "input_scale"
                } else {
                    "input_shift"
                },
                "values must be finite as 32-bit floats (|x| <= 3.4e38)".into(),
            ),
        ]
    }

    /// `[meta]`: the scope, inner steps, rates (values the device stores as f32 and computes
    /// with: positive and far from overflow), clip and step weights.
    fn meta_checks(&self) -> Vec<SectionCheck> {
        let pos = |v: f64| v.is_finite() && v > 0.0;
        let rate = |v: f64| pos(v) && v <= MAX_RATE;
        let m = &self.meta;
        vec![
            (
                !m.algorithm.head_only() || m.scope == Scope::HeadOnly,
                "meta",
                "scope",
                format!(
                    "{} adapts the head only: leave scope out or set \"head_only\" (maml, fomaml, meta_sgd, ... take a wider scope)",
                    m.algorithm.name()
                ),
            ),
            (
                !matches!(m.scope, Scope::HeadAndLastTrunk(k) if k == 0 || k > self.model.hidden.len()),
                "meta",
                "scope",
                format!(
                    "head_and_last_trunk needs 1..={} (the trunk's layers)",
                    self.model.hidden.len()
                ),
            ),
            (
                (1..=100).contains(&m.steps),
                "meta",
                "steps",
                format!("must be in 1..=100, got {}", m.steps),
            ),
            (
                rate(m.alpha),
                "meta",
                "alpha",
                format!("must be in (0, {MAX_RATE:e}], got {:?}", m.alpha),
            ),
            (
                rate(m.alpha_max) && m.alpha_max > m.alpha,
                "meta",
                "alpha_max",
                format!("must be > alpha and <= {MAX_RATE:e}, got {:?}", m.alpha_max),
            ),
            (
                pos(m.clip) && m.clip <= MAX_CLIP,
                "meta",
                "clip",
                format!("must be in (0, {MAX_CLIP:e}], got {:?}", m.clip),
            ),
            (
                m.step_weights.is_empty()
                    || (m.step_weights.len() == m.steps
                        && m.step_weights
                            .iter()
                            .all(|w| w.is_finite() && (0.0..=1e6).contains(w))
                        && m.step_weights.iter().any(|w| *w > 0.0)),
                "meta",
                "step_weights",
                "need `steps` weights in [0, 1e6], not all zero (or none)".into(),
            ),
        ]
    }

    /// `[train]`: iterations, meta-batch, shots and queries.
    fn train_checks(&self) -> Vec<SectionCheck> {
        let t = &self.train;
        vec![
            (
                t.iterations >= 1,
                "train",
                "iterations",
                "must be >= 1".into(),
            ),
            (
                (1..=10_000).contains(&t.meta_batch),
                "train",
                "meta_batch",
                "must be in 1..=10000".into(),
            ),
            (
                t.shots_min >= 1 && t.shots_min <= 1000,
                "train",
                "shots_min",
                "must be in 1..=1000".into(),
            ),
            (
                t.shots_max >= t.shots_min && t.shots_max <= 1000,
                "train",
                "shots_max",
                "must be in shots_min..=1000".into(),
            ),
            (
                (1..=10_000).contains(&t.query),
                "train",
                "query",
                "must be in 1..=10000".into(),
            ),
        ]
    }

    /// `[eval]`: shots, steps, tasks and queries of the evaluation.
    fn eval_checks(&self) -> Vec<SectionCheck> {
        vec![
            (
                !self.eval.shots.is_empty()
                    && self.eval.shots.iter().all(|&k| (1..=1000).contains(&k)),
                "eval",
                "shots",
                "need shot counts in 1..=1000".into(),
            ),
            (
                !self.eval.steps.is_empty() && self.eval.steps.iter().all(|&s| s <= 1000),
                "eval",
                "steps",
                "need step counts in 0..=1000".into(),
            ),
            (
                (1..=1_000_000).contains(&self.eval.tasks),
                "eval",
                "tasks",
                "must be in 1..=1000000".into(),
            ),
            (
                (1..=100_000).contains(&self.eval.query),
                "eval",
                "query",
                "must be in 1..=100000".into(),
            ),
        ]
    }

    pub fn spec(&self) -> MetaSpec {
        let m = &self.meta;
        MetaSpec {
            algorithm: m.algorithm,
            scope: m.scope,
            steps: m.steps,
            alpha: m.alpha,
            alpha_max: m.alpha_max,
            clip: m.clip,
            step_weights: if m.step_weights.is_empty() {
                crate::meta::last_step_weights(m.steps)
            } else {
                m.step_weights.clone()
            },
            first_order: m.first_order,
        }
    }

    pub fn source(&self) -> anyhow::Result<Box<dyn TaskSource>> {
        Ok(match self.csv()? {
            Some(t) => Box::new(t),
            None => Box::new(Sinusoid),
        })
    }

    /// The CSV tasks of a `kind = "csv"` configuration, split as configured (None: sinusoid).
    pub fn csv(&self) -> anyhow::Result<Option<CsvTasks>> {
        if self.task.kind != "csv" {
            return Ok(None);
        }
        let p = self.task.path.clone().unwrap_or_default();
        let min_rows = 2;
        Ok(Some(CsvTasks::load(
            Path::new(&p),
            self.task.test_fraction,
            self.task.split_seed,
            min_rows,
            &self.task.columns(),
        )?))
    }

    /// The output normalisation of the model's regression head: the source's, fitted on its
    /// meta-training targets, unless `standardise_targets = false`.
    pub fn target_normalisation(&self, source: &dyn TaskSource) -> Option<(Vec<f64>, Vec<f64>)> {
        self.model
            .standardise_targets
            .then(|| source.target_normalisation())
            .flatten()
    }

    pub fn arch(&self, source: &dyn TaskSource) -> Result<Arch, ConfigError> {
        let mut a = Arch::mlp(
            source.n_in(),
            &self.model.hidden,
            source.n_out(),
            self.model.activation,
            HeadKind::Regression,
        );
        let (shift, scale) = source.normalisation();
        a.shift = self.model.input_shift.clone().unwrap_or(shift);
        a.scale = self.model.input_scale.clone().unwrap_or(scale);
        let bad = |key: &str, msg: String| ConfigError {
            file: "config".into(),
            line: 0,
            field: format!("model.{key}"),
            msg,
        };
        let f32_ok = |v: &f64| v.is_finite() && v.abs() <= f64::from(f32::MAX);
        if a.layers[0].inputs * a.layers[0].outputs > MAX_LAYER_WEIGHTS {
            return Err(bad(
                "hidden",
                format!(
                    "{} inputs x {} units of the first layer is over 2^20 weights",
                    a.inputs, a.layers[0].outputs
                ),
            ));
        }
        if a.shift.len() != a.inputs || !a.shift.iter().all(f32_ok) {
            return Err(bad(
                "input_shift",
                format!("need {} finite values", a.inputs),
            ));
        }
        if a.scale.len() != a.inputs || !a.scale.iter().all(f32_ok) {
            return Err(bad(
                "input_scale",
                format!("need {} finite values", a.inputs),
            ));
        }
        Ok(a)
    }
}

/// Best-effort field name from a toml error message ("unknown field `x`").
fn field_of(e: &toml::de::Error) -> String {
    let m = e.message();
    m.split('`')
        .nth(1)
        .map_or_else(|| "-".to_string(), str::to_string)
}

/// One range check: whether it holds, its section and key, the message when it does not.
type SectionCheck = (bool, &'static str, &'static str, String);
