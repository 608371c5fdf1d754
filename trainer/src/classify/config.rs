//! Configuration of few-shot classification training (the `digits` preset is its default).

use super::proto::ProtoSpec;
use crate::config::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
/// input image. Every combination of these candidates is scored by leave-`cv_holdout`-digits-out
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
    pub data: PathBuf,
    pub train_classes: Vec<usize>,
    pub test_classes: Vec<usize>,
    /// Held-out share of each meta-training class's rows (validation episodes).
    pub val_fraction: f64,
    pub split_seed: u64,
    /// 90/180/270-degree rotations of the meta-training classes as extra classes.
    pub rotations: bool,
    /// Rotations (1, 2, 3 = 90/180/270 degrees) kept out of meta-training: validation episodes
    /// then come from these rotated classes only (held-out rows), measuring transfer to classes
    /// the trunk never saw while staying inside the meta-training digits.
    pub val_rotations: Vec<u8>,
    /// Meta-training digits kept out of training: validation episodes then come from all their
    /// rows (with their rotations): transfer to digits the trunk never saw, inside 0-4.
    pub val_digits: Vec<usize>,
    /// Random shifts of up to this many pixels (meta-training only).
    pub shift: usize,
    pub hidden: Vec<usize>,
    /// Input normalisation x' = x * input_scale (no shift: pixels stay >= 0 through ReLU).
    pub input_scale: f64,
    /// Start the trunk at the identity (features = normalised pixels: the raw-pixel metric).
    pub identity_init: bool,
    /// With `identity_init` on square images: the first layer also adds `blur` times each of the
    /// 4-neighbouring pixels (half that for the diagonal ones): a fixed smoothing of the input
    /// metric that tolerates small shifts and stroke-width changes.
    pub blur: f64,
    /// Candidate powers `p` of the covariance metric (`A = C^p`, `C` the covariance of the
    /// meta-training images with their rotations; 0 = the input metric), chosen with the device's
    /// prototype scale and rate by leave-`cv_holdout`-digits-out cross-validation on the
    /// meta-training classes (see `metric.rs`). The preset: `[0]`, the input metric, with the
    /// device settings chosen by that cross-validation (`configs/digits_cv.toml` adds p > 0).
    /// Empty: no cross-validation, the identity (or `blur`) trunk and device settings chosen on
    /// held-out rows. Needs `identity_init` and square layers; `blur` applies only when 0 is
    /// chosen (the cross-validation scores p = 0 without it).
    pub metric_powers: Vec<f64>,
    /// Meta-training digits held out per cross-validation fold (every subset of this size).
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
    pub meta_batch: usize,
    pub iterations: u64,
    pub lr: f64,
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
}

impl Default for ClsConfig {
    fn default() -> Self {
        ClsConfig {
            data: PathBuf::from("../shared/data/digits.csv.gz"),
            train_classes: (0..5).collect(),
            test_classes: (5..10).collect(),
            val_fraction: 0.25,
            split_seed: 0,
            rotations: true,
            shift: 1,
            val_rotations: vec![],
            val_digits: vec![],
            hidden: vec![64, 64],
            input_scale: 1.0 / 16.0,
            identity_init: true,
            blur: 0.0,
            metric_powers: vec![0.0],
            cv_holdout: 2,
            cv_episodes: 200,
            freeze_trunk: true,
            anchor: 1e-3,
            ways: 5,
            shots: vec![1, 5],
            query: 10,
            meta_batch: 8,
            iterations: 1000,
            lr: 2e-3,
            proto: ProtoSpec {
                scale: 0.5,
                steps: 0,
                alpha: 0.1,
                clip: 10.0,
            },
            aux: true,
            aux_weight: LossWeight::Fixed(0.1),
            val_episodes: 300,
            val_every: 100,
            device_steps: 5,
            device_scales: vec![0.1, 0.2, 0.5, 1.0, 2.0],
            device_alphas: vec![0.0, 0.1, 0.3, 1.0, 3.0],
            device_clip: 10.0,
            matching: MatchingSpec::default(),
            seed: 0,
            checkpoint_every: 100,
        }
    }
}

impl ClsConfig {
    pub fn preset(name: &str) -> Option<Self> {
        (name == "digits").then(Self::default)
    }
}

impl ClsConfig {
    /// Parse a TOML override file of the digits preset and check every value; errors name the
    /// file, line and key.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let cfg: ClsConfig =
            toml::from_str(text).map_err(|e| crate::config::toml_error(text, file, &e))?;
        cfg.checked(text, file)
    }

    /// `self` when [`ClsConfig::validate`] passes, else the error at the key's line in `text`.
    pub fn checked(self, text: &str, file: &str) -> Result<Self, ConfigError> {
        self.validate().map_err(|(key, msg)| {
            let (section, name) = key.split_once('.').unwrap_or(("", key));
            ConfigError {
                file: file.into(),
                line: crate::config::line_of(text, section, name),
                field: key.into(),
                msg,
            }
        })?;
        Ok(self)
    }

    /// Range checks: (key, message) of the first bad value.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let finite_pos = |v: f64| v.is_finite() && v > 0.0;
        let finite_nonneg = |v: f64| v.is_finite() && v >= 0.0;
        let distinct = |v: &[usize]| v.iter().enumerate().all(|(i, a)| !v[..i].contains(a));
        let steps_max = usize::from(runtime::MAX_STEPS);
        let m = &self.matching;
        let checks: [(bool, &'static str, String); 24] = [
            (
                !m.enabled || self.metric_powers.iter().all(|&p| p == 0.0),
                "metric_powers",
                "with [matching] enabled the trunk stays the input metric: use [] or [0], or set matching.enabled = false for p > 0".into(),
            ),
            (
                !m.enabled
                    || (!m.per_class.is_empty()
                        && m.per_class.iter().all(|p| (1..=64).contains(p))
                        && !m.shifts.is_empty()
                        && m.shifts.iter().all(|&s| s <= 2)
                        && !m.shears.is_empty()
                        && m.shears.iter().all(|&h| h.is_finite() && (0.0..=1.0).contains(&h))
                        && !m.scales.is_empty()
                        && m.scales.iter().all(|&v| finite_pos(v))
                        && !m.alphas.is_empty()
                        && m.alphas.iter().all(|&v| finite_nonneg(v))
                        && self.cv_holdout >= 2
                        && self.cv_holdout < self.train_classes.len()
                        && m.episodes >= 1),
                "matching.per_class",
                "matching: non-empty candidate lists; per_class 1..=64, shifts <= 2, shears in [0, 1], scales finite and > 0, alphas finite and >= 0; and 2 <= cv_holdout < training classes, episodes >= 1".into(),
            ),
            (
                !self.hidden.is_empty() && self.hidden.iter().all(|&h| (1..=4096).contains(&h)),
                "hidden",
                "need 1..=4096 units per layer, at least one layer".into(),
            ),
            (
                !self.train_classes.is_empty() && distinct(&self.train_classes),
                "train_classes",
                "must be non-empty, each class once".into(),
            ),
            (
                distinct(&self.test_classes)
                    && self
                        .test_classes
                        .iter()
                        .all(|c| !self.train_classes.contains(c)),
                "test_classes",
                "each class once, none of them a training class".into(),
            ),
            (
                distinct(&self.val_digits)
                    && self
                        .val_digits
                        .iter()
                        .all(|c| self.train_classes.contains(c))
                    && self.val_digits.len() < self.train_classes.len(),
                "val_digits",
                "distinct training classes, leaving at least one to train on".into(),
            ),
            (
                self.val_fraction > 0.0 && self.val_fraction < 1.0,
                "val_fraction",
                "must be in (0, 1)".into(),
            ),
            (
                self.val_rotations.iter().all(|r| (1..=3).contains(r))
                    && (self.val_rotations.is_empty() || self.rotations),
                "val_rotations",
                "quarter turns 1..=3, and they need `rotations = true`".into(),
            ),
            (self.ways >= 2, "ways", "must be >= 2".into()),
            (
                !self.shots.is_empty() && self.shots.iter().all(|&s| s >= 1),
                "shots",
                "need at least one shot count, each >= 1".into(),
            ),
            (self.query >= 1, "query", "must be >= 1".into()),
            (self.meta_batch >= 1, "meta_batch", "must be >= 1".into()),
            (self.iterations >= 1, "iterations", "must be >= 1".into()),
            (finite_pos(self.lr), "lr", "must be finite and > 0".into()),
            (
                finite_pos(self.input_scale),
                "input_scale",
                "must be finite and > 0".into(),
            ),
            (
                finite_nonneg(self.blur) && finite_nonneg(self.anchor),
                "blur",
                "blur and anchor must be finite and >= 0".into(),
            ),
            (
                finite_pos(self.proto.scale)
                    && finite_nonneg(self.proto.alpha)
                    && finite_pos(self.proto.clip)
                    && self.proto.steps <= steps_max,
                "proto.scale",
                format!("proto: scale and clip finite and > 0, alpha >= 0, steps <= {steps_max}"),
            ),
            (
                self.device_steps <= steps_max,
                "device_steps",
                format!("must be <= {steps_max} (the runtime's limit)"),
            ),
            (
                !self.device_scales.is_empty() && self.device_scales.iter().all(|&v| finite_pos(v)),
                "device_scales",
                "need at least one, each finite and > 0".into(),
            ),
            (
                !self.device_alphas.is_empty()
                    && self.device_alphas.iter().all(|&v| finite_nonneg(v)),
                "device_alphas",
                "need at least one, each finite and >= 0".into(),
            ),
            (
                finite_pos(self.device_clip),
                "device_clip",
                "must be finite and > 0".into(),
            ),
            (
                self.metric_powers.iter().all(|p| p.is_finite()),
                "metric_powers",
                "must be finite".into(),
            ),
            (
                self.metric_powers.is_empty()
                    || (self.cv_holdout >= 2 && self.cv_holdout < self.train_classes.len()),
                "cv_holdout",
                format!(
                    "with metric_powers: 2..{} (held-out digits per fold)",
                    self.train_classes.len()
                ),
            ),
            (
                self.val_episodes >= 1 && (self.metric_powers.is_empty() || self.cv_episodes >= 1),
                "val_episodes",
                "val_episodes and cv_episodes must be >= 1".into(),
            ),
        ];
        match checks.into_iter().find(|c| !c.0) {
            Some((_, key, msg)) => Err((key, msg)),
            None => Ok(()),
        }
    }
}
