//! The range checks of a classification configuration: every value against its range, the
//! runtime's capacities and the input kind, in groups (input, metric head, trunk, classes,
//! episodes, selection); the first failing names its key.

use super::*;

impl ClsConfig {
    /// Range checks: (key, message) of the first bad value, in the order of the groups below.
    /// Sizes are checked against the runtime's capacities, image-only options against the
    /// input kind.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let groups = [
            self.input_checks(),
            self.metric_checks(),
            self.trunk_checks(),
            self.class_checks(),
            self.episode_checks(),
            self.selection_checks(),
        ];
        match groups.into_iter().flatten().find(|c| !c.0) {
            Some((_, key, msg)) => Err((key, msg)),
            None => self.optimiser().check(MAX_CLIP),
        }
    }

    /// The message of an option that needs a square one-channel image.
    fn not_image(&self, what: &str) -> String {
        format!(
            "{what} need `input.kind = \"image\"` with width = height and one channel; this run's input is `{}`",
            self.input.name()
        )
    }

    /// The task, the input's sizes, its normalisation, the options only images take, the
    /// augmentation.
    fn input_checks(&self) -> Vec<Check> {
        let max_width = runtime::format::MAX_WIDTH;
        let (m, side) = (&self.matching, self.input.square_side());
        let not_image = |what: &str| self.not_image(what);
        let input_ok = match self.input {
            InputKind::Vector {} => true,
            InputKind::Series { channels, length } => {
                channels >= 1 && length >= 1 && self.input.width().is_some_and(|w| w <= max_width)
            }
            InputKind::Image {
                width,
                height,
                channels,
            } => {
                width >= 1
                    && height >= 1
                    && channels >= 1
                    && self.input.width().is_some_and(|w| w <= max_width)
            }
        };
        let augment = self.augment.check(Axes::of(&self.input).as_ref());
        vec![
            (
                self.task == "classification",
                "task",
                "must be \"classification\" in a classification configuration".into(),
            ),
            (
                input_ok,
                "input.kind",
                format!("series and images need sizes >= 1 whose product is <= {max_width} (the runtime's widest layer)"),
            ),
            (
                match self.normalise {
                    Normalise::Scale { factor } => finite_pos(factor),
                    _ => true,
                },
                "normalise.factor",
                "must be finite and in (0, 1e6]".into(),
            ),
            (!self.rotations || side.is_some(), "rotations", not_image("rotations")),
            (self.shift == 0 || side.is_some(), "shift", not_image("shifts")),
            (
                augment.is_ok(),
                "augment",
                augment.clone().err().unwrap_or_default(),
            ),
            (self.blur == 0.0 || side.is_some(), "blur", not_image("the blur")),
            (!m.enabled || side.is_some(), "matching.enabled", not_image("matching heads with warps")),
            (
                self.metric_powers.is_empty() || side.is_some(),
                "metric_powers",
                not_image("the covariance metric's powers"),
            ),
        ]
    }

    /// The identity trunk's start, the covariance metric and the matching head's candidates.
    fn metric_checks(&self) -> Vec<Check> {
        let m = &self.matching;
        vec![
            (
                !(self.identity_init && self.normalise == Normalise::Standardise),
                "identity_init",
                "an identity ReLU trunk would clip standardised (negative) inputs; the identity trunk without layers is always a candidate".into(),
            ),
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
        ]
    }

    /// The dense trunk's widths and the convolution trunk's layers.
    fn trunk_checks(&self) -> Vec<Check> {
        let max_width = runtime::format::MAX_WIDTH;
        let m = &self.matching;
        vec![
            (
                self.hidden.len() <= runtime::format::MAX_TRUNK_LAYERS
                    && self.hidden.iter().all(|&h| (1..=max_width).contains(&h)),
                "hidden",
                format!(
                    "at most {} layers (the runtime's limit) of 1..={max_width} units",
                    runtime::format::MAX_TRUNK_LAYERS
                ),
            ),
            (
                self.hidden.windows(2).all(|w| w[0] * w[1] <= 1 << 20),
                "hidden",
                "two consecutive layers over 2^20 weights: the model would not fit a microcontroller's flash (4 MB)".into(),
            ),
            (
                !self.conv_trunk()
                    || !(self.identity_init
                        || self.blur != 0.0
                        || m.enabled
                        || !self.metric_powers.is_empty()),
                "trunk",
                "a convolution or pooling trunk takes none of identity_init, blur, metric_powers, matching.enabled (they shape a dense identity trunk or the runtime's head)".into(),
            ),
            (
                self.trunk.len() <= runtime::format::MAX_TRUNK_LAYERS,
                "trunk",
                format!("at most {} layers", runtime::format::MAX_TRUNK_LAYERS),
            ),
        ]
    }

    /// The class split: training, test and validation classes, folds, held-out rows.
    fn class_checks(&self) -> Vec<Check> {
        let (val_ok, val_msg) = self.val_check();
        // Held-out classes chosen for the user (val_classes empty) need 4 training classes.
        let auto_val =
            self.validate_on == ValidateOn::HeldOutClasses && self.val_classes.is_empty();
        vec![
            (
                !self.train_classes.is_empty() && distinct(&self.train_classes),
                "train_classes",
                "required: the classes the trunk learns from, each once".into(),
            ),
            (
                !auto_val || self.train_classes.len() >= 4,
                "train_classes",
                format!(
                    "{} class(es): validation on held-out training classes (`validate_on`'s default) needs at least 4, 2 to validate on and 2 to train on; list more, or set validate_on = \"held_out_rows\" (validation on held-out rows of these classes)",
                    self.train_classes.len()
                ),
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
                self.unknown_queries <= 4096,
                "unknown_queries",
                "at most 4096 rows of other classes per training episode".into(),
            ),
            (val_ok, "val_classes", val_msg),
            (
                self.trunk_folds == 0
                    || (self.trunk_folds >= 2
                        && 2 * self.trunk_folds <= self.train_classes.len()
                        && self.validate_on == ValidateOn::HeldOutClasses
                        && !self.freeze_trunk
                        && self.has_trunk_layers()),
                "trunk_folds",
                format!(
                    "0, or 2..={} folds of at least 2 of the {} training classes, with a trained trunk validated on held-out classes",
                    self.train_classes.len() / 2,
                    self.train_classes.len()
                ),
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
        ]
    }

    /// Whether `val_classes` fits `validate_on` and `train_classes`, and what to fix if not.
    fn val_check(&self) -> (bool, String) {
        let val = &self.val_classes;
        let outside = val
            .iter()
            .filter(|c| !self.train_classes.contains(c))
            .count();
        match self.validate_on {
            ValidateOn::HeldOutRows if !val.is_empty() => (false, "must be empty with validate_on = \"held_out_rows\" (validation on held-out rows of every training class)".into()),
            ValidateOn::HeldOutClasses if !distinct(val) => (false, "each class once".into()),
            ValidateOn::HeldOutClasses if outside > 0 => (false, format!(
                "{outside} of them not in train_classes: val_classes are training classes held out of the trunk's training to validate on (the trunk learns train_classes minus val_classes), so list each in train_classes too"
            )),
            ValidateOn::HeldOutClasses if self.train_classes.len() < val.len() + 2 => (false, format!(
                "{} of the {} training classes held out leave {}: the trunk needs at least 2 to train on",
                val.len(),
                self.train_classes.len(),
                self.train_classes.len() - val.len()
            )),
            ValidateOn::HeldOutClasses if val.len() == 1 => (false, "1 class: validation episodes need at least 2 (name 2 or more of the training classes, or leave val_classes out: a third of them, drawn with split_seed)".into()),
            _ => (true, String::new()),
        }
    }

    /// Episode sizes, iterations, the blur and the prototype head's training settings.
    fn episode_checks(&self) -> Vec<Check> {
        let steps_max = usize::from(runtime::MAX_STEPS);
        vec![
            (
                (2..=256).contains(&self.ways),
                "ways",
                "must be in 2..=256".into(),
            ),
            (
                !self.shots.is_empty() && self.shots.iter().all(|&s| (1..=1000).contains(&s)),
                "shots",
                "need at least one shot count, each in 1..=1000".into(),
            ),
            (
                (1..=1000).contains(&self.query),
                "query",
                "must be in 1..=1000".into(),
            ),
            (
                (1..=4096).contains(&self.meta_batch),
                "meta_batch",
                "must be in 1..=4096".into(),
            ),
            (
                (1..=10_000_000).contains(&self.iterations),
                "iterations",
                "must be in 1..=10 000 000".into(),
            ),
            (
                finite_nonneg(self.blur) && finite_nonneg(self.anchor),
                "blur",
                "blur and anchor must be finite and in [0, 1e6]".into(),
            ),
            (
                finite_pos(self.proto.scale)
                    && finite_nonneg(self.proto.alpha)
                    && finite_pos(self.proto.clip)
                    && self.proto.steps <= steps_max,
                "proto.scale",
                format!("proto: scale and clip finite in (0, 1e6], alpha in [0, 1e6], steps <= {steps_max}"),
            ),
        ]
    }

    /// What chooses the model: the device head's grid, the metric's cross-validation, the
    /// validation episodes.
    fn selection_checks(&self) -> Vec<Check> {
        let steps_max = usize::from(runtime::MAX_STEPS);
        vec![
            (
                self.device_steps <= steps_max,
                "device_steps",
                format!("must be <= {steps_max} (the runtime's limit)"),
            ),
            (
                !self.device_scales.is_empty()
                    && self.device_scales.iter().all(|&v| finite_pos(v))
                    && !self.device_alphas.is_empty()
                    && self.device_alphas.iter().all(|&v| finite_nonneg(v)),
                "device_scales",
                "device_scales and device_alphas: at least one each, finite, scales in (0, 1e6], rates in [0, 1e6]".into(),
            ),
            (
                finite_pos(self.device_clip),
                "device_clip",
                "must be finite and in (0, 1e6]".into(),
            ),
            (
                self.metric_powers.iter().all(|p| p.is_finite() && p.abs() <= 16.0)
                    && (self.metric_powers.is_empty()
                        || (self.cv_holdout >= 2 && self.cv_holdout < self.train_classes.len())),
                "metric_powers",
                format!(
                    "finite, |p| <= 16; with metric_powers, cv_holdout in 2..{} (held-out classes per fold)",
                    self.train_classes.len()
                ),
            ),
            (
                (1..=1_000_000).contains(&self.val_episodes)
                    && (self.metric_powers.is_empty() || self.cv_episodes >= 1)
                    && self.val_every >= 1,
                "val_episodes",
                "val_episodes in 1..=1e6, cv_episodes >= 1, val_every >= 1".into(),
            ),
        ]
    }
}

/// One range check: whether it holds, the key it names, the message when it does not.
type Check = (bool, &'static str, String);

/// Finite and in (0, 1e6].
fn finite_pos(v: f64) -> bool {
    v.is_finite() && v > 0.0 && v <= 1e6
}

/// Finite and in [0, 1e6].
fn finite_nonneg(v: f64) -> bool {
    v.is_finite() && (0.0..=1e6).contains(&v)
}

/// Each value once.
fn distinct(v: &[usize]) -> bool {
    v.iter().enumerate().all(|(i, a)| !v[..i].contains(a))
}
