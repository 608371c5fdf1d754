//! A classification run's set-up: its data, class split, input normalisation and episode
//! pools, every size checked before any work; the trunk's architecture and initial weights.

use super::augment::Axes;
use super::config::{ClsConfig, InputKind, Normalise, ValidateOn};
use super::data::{ClassSplit, Dataset};
use super::episodes::{Augment, Pool};
use crate::input_columns::{match_by_name, Matched};
use crate::net::{Activation, Arch, HeadKind, LayerSpec, WindowStandardise};
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Data, split, normalisation and episode pools of a run, every size checked before any work.
pub struct Setup {
    pub ds: Dataset,
    pub split: ClassSplit,
    /// Side of a square image input (rotations, shifts and warps need it).
    pub side: Option<usize>,
    /// Episodes the trunk trains on.
    pub train: Pool,
    /// Validation episodes: the held-out classes' rows, or held-out rows of the training classes.
    pub val: Pool,
    /// Held-out rows of the trunk's training classes, when validation is on held-out classes: the
    /// seen-class check that tells overfitting of the training classes from learning.
    pub seen: Option<Pool>,
    pub test: Pool,
    /// The meta-training classes held out of trunk training (empty: validation on rows).
    pub val_classes: Vec<usize>,
    /// Ways of the training and validation episodes (the configured ways, or fewer when fewer
    /// classes are available).
    pub train_ways: usize,
    pub val_ways: usize,
    /// Queries per class of validation episodes ([`VAL_QUERY`], or fewer for small classes).
    pub val_query: usize,
    /// Queries per class of the seen-class check's episodes (the same rule on its pool).
    pub seen_query: usize,
    /// The model's input normalisation (`x' = (x - shift) * scale`), from `normalise`.
    pub norm: Normalisation,
    /// Per-feature standardisation fitted on the meta-training classes (the standardised
    /// nearest-centroid baseline uses it whatever the model's normalisation).
    pub standardise: Normalisation,
    /// How `normalise = "auto"` chose, when it did.
    pub normalise_choice: Option<NormaliseChoice>,
}

/// The validation of `normalise = "auto"`: nearest centroid on the validation episodes under
/// per-feature standardisation and under the common scale.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NormaliseChoice {
    /// The common scale won.
    pub common: bool,
    pub standardise_score: f64,
    pub common_score: f64,
}

/// A per-feature affine normalisation `x' = (x - shift) * scale`, after an optional per-sample
/// standardisation of each channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    pub shift: Vec<f64>,
    pub scale: Vec<f64>,
    #[serde(default)]
    pub window: Option<WindowStandardise>,
}

impl Normalisation {
    /// Each row's channels standardised (`eps`: 1e-12 of the rows' mean within-channel
    /// variance, so that it does not depend on the units), then the per-feature fit of the
    /// result (`per_feature`) or none.
    pub fn fit_windowed(ds: &Dataset, rows: &[usize], channels: usize, per_feature: bool) -> Self {
        let len = (ds.d / channels.max(1)).max(1);
        let mut var = 0.0;
        for &r in rows {
            for block in ds.row(r).chunks(len) {
                let n = block.len() as f64;
                let m = block.iter().sum::<f64>() / n;
                var += block.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
            }
        }
        let blocks = (rows.len() * channels).max(1) as f64;
        let eps = (1e-12 * var / blocks).max(1e-30);
        let window = WindowStandardise { channels, eps };
        let windowed = Dataset {
            x: window.apply(&ds.x, ds.d),
            ..ds.clone()
        };
        let mut n = if per_feature {
            Self::fit(&windowed, rows)
        } else {
            Normalisation {
                shift: vec![0.0; ds.d],
                scale: vec![1.0; ds.d],
                window: None,
            }
        };
        n.window = Some(window);
        n
    }

    /// One shift and scale for every feature: the mean and 1 / standard deviation of all the
    /// values of `rows` (scale 1 when they are all equal).
    pub fn fit_common(ds: &Dataset, rows: &[usize]) -> Self {
        let n = (rows.len() * ds.d).max(1) as f64;
        let mean = rows.iter().flat_map(|&r| ds.row(r)).sum::<f64>() / n;
        let var = rows
            .iter()
            .flat_map(|&r| ds.row(r))
            .map(|x| (x - mean) * (x - mean))
            .sum::<f64>()
            / n;
        let sd = var.sqrt();
        let scale = if sd > 1e-6 * (1.0 + mean.abs()) {
            1.0 / sd
        } else {
            1.0
        };
        Normalisation {
            shift: vec![mean; ds.d],
            scale: vec![scale; ds.d],
            window: None,
        }
    }

    /// Mean and 1 / standard deviation of every feature over `rows` (a constant feature keeps
    /// scale 1: it then maps to 0; see [`crate::standardise::fit`]).
    pub fn fit(ds: &Dataset, rows: &[usize]) -> Self {
        let (shift, scale) = crate::standardise::fit(ds.d, rows.iter().map(|&r| ds.row(r)));
        Normalisation {
            shift,
            scale,
            window: None,
        }
    }

    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        let d = self.shift.len().max(1);
        let windowed;
        let x = match &self.window {
            Some(w) => {
                windowed = w.apply(x, d);
                &windowed[..]
            }
            None => x,
        };
        x.iter()
            .enumerate()
            .map(|(i, v)| (v - self.shift[i % d]) * self.scale[i % d])
            .collect()
    }
}

/// What a [`Setup`] is for: training checks that every pool can make its episodes; an
/// evaluation trains nothing, so the training and validation pools may be too small to train
/// on (another voice split of a recording, with a few clips a word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Train,
    Evaluate,
}

impl Setup {
    pub fn new(cfg: &ClsConfig) -> Result<Self> {
        Self::for_purpose(cfg, Purpose::Train)
    }

    pub fn for_purpose(cfg: &ClsConfig, purpose: Purpose) -> Result<Self> {
        let ds = Dataset::load_labelled(&cfg.data, cfg.columns())?;
        Self::build(cfg, ds, purpose)
    }

    pub fn with_data(cfg: &ClsConfig, ds: Dataset) -> Result<Self> {
        Self::build(cfg, ds, Purpose::Train)
    }

    /// An evaluation of a model on data whose every class is new to it (no training or
    /// validation classes): every class with rows is a test class. The standardised nearest
    /// centroid baseline is fitted on all of the data's rows (labels unused), there being no
    /// training rows to fit it on. `columns`: the data's label and ignored columns;
    /// `model_inputs`: the model's input columns (its run record's), matched by name to the
    /// data's ([`match_by_name`]).
    pub fn new_classes(
        data: &std::path::Path,
        columns: super::data::Columns,
        model_inputs: Option<&[String]>,
    ) -> Result<(ClsConfig, Self)> {
        let mut cfg = ClsConfig {
            data: data.to_path_buf(),
            label_column: columns.label.map(String::from),
            ignore_columns: columns.ignore.to_vec(),
            subject_column: columns.subject.map(String::from),
            validate_on: ValidateOn::HeldOutRows,
            normalise: Normalise::Standardise,
            ..ClsConfig::default()
        };
        if let Some(model) = model_inputs {
            // Columns that are neither the model's inputs nor the label (a subject's name, a
            // time) are left unread, not parsed as numbers.
            let mut extra = unread_columns(data, model, columns.label)?;
            let named = |e: &String| {
                crate::csvio::column(columns.ignore, e).is_some() || columns.subject == Some(e)
            };
            extra.retain(|e| !named(e));
            if !extra.is_empty() {
                eprintln!(
                    "{}: not read (not the model's inputs nor the label): {}",
                    data.display(),
                    crate::input_columns::names(&extra)
                );
            }
            cfg.ignore_columns.extend(extra);
        }
        let mut ds = Dataset::load_labelled(data, cfg.columns())?;
        if let Some(model) = model_inputs {
            let file = data.display().to_string();
            let matched = match_by_name(model, &ds.columns, &file)?;
            if let Some(note) = matched.note(&file, model) {
                eprintln!("{note}");
            }
            if let Matched::Select { order, .. } = &matched {
                ds.select_columns(order);
            }
        }
        cfg.test_classes = ds
            .by_class()
            .iter()
            .enumerate()
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(c, _)| c)
            .collect();
        let setup = Self::build(&cfg, ds, Purpose::Evaluate)?;
        Ok((cfg, setup))
    }

    fn build(cfg: &ClsConfig, ds: Dataset, purpose: Purpose) -> Result<Self> {
        let train_checks = purpose == Purpose::Train;
        check_width(cfg, &ds)?;
        let side = cfg.input.square_side();
        let mut split = ClassSplit::new(
            &ds,
            &cfg.train_classes,
            &cfg.test_classes,
            cfg.val_fraction,
            cfg.split_seed,
        )?;
        if !cfg.test_subjects.is_empty() {
            let held = held_out_subjects(cfg, &ds)?;
            split.hold_out_subjects(&ds, &held)?;
            if train_checks {
                let rows = ds.subjects.iter().filter(|s| held.contains(s)).count();
                eprintln!(
                    "test_subjects {}: their {rows} rows train and validate nothing; the novel classes are evaluated on their rows only",
                    cfg.test_subjects.join(", ")
                );
            }
        }
        let val_classes = validation_classes(cfg)?;
        let all_rows: Vec<usize> = split
            .train
            .iter()
            .zip(&split.val)
            .flat_map(|((_, t), (_, v))| t.iter().chain(v).copied())
            .collect();
        // No training rows (every class new to an evaluated model): the data's own.
        let all_rows = if all_rows.is_empty() && purpose == Purpose::Evaluate {
            (0..ds.rows()).collect()
        } else {
            all_rows
        };
        let standardise = Normalisation::fit(&ds, &all_rows);
        let common = Normalisation::fit_common(&ds, &all_rows);
        let norm = configured_normalisation(cfg, &ds, &all_rows, &standardise, &common);
        let (train, val, seen, test) = pools(cfg, &ds, side, &split, &val_classes)?;
        let need = cfg.max_shots() + cfg.query;
        let usable =
            |p: &Pool, need: usize| p.classes.iter().filter(|c| c.rows.len() >= need).count();
        let train_ways = cfg.ways.min(usable(&train, need));
        if train_checks && train_ways < 2 {
            let classes: Vec<usize> = train.classes.iter().map(|c| c.class).collect();
            bail!(
                "{}: training episodes need 2 classes with shots + query = {} + {} = {need} training rows each; {} of the trunk's training classes have them: {} have {:?} rows (after `val_fraction` = {} of each is held out{}); lower `shots`/`query`, or `val_fraction`{}",
                ds.file,
                cfg.max_shots(),
                cfg.query,
                train_ways,
                ds.describe_classes(&classes),
                train.classes.iter().map(|c| c.rows.len()).collect::<Vec<_>>(),
                cfg.val_fraction,
                match cfg.test_subjects.is_empty() {
                    true => "",
                    false => ", and the rows of `test_subjects`",
                },
                match cfg.test_subjects.is_empty() {
                    true => "",
                    false => ", or hold out subjects with fewer rows of the training classes",
                }
            );
        }
        // 15 queries per class, or what each pool's smallest class allows: the held-out rows
        // of the training classes (the seen-class check) are fewer than the validation
        // classes' rows, and do not limit the validation episodes' queries.
        let val_query = pool_query(&val, cfg.max_shots());
        let seen_query = seen
            .as_ref()
            .map_or(val_query, |p| pool_query(p, cfg.max_shots()));
        let val_ways = cfg.ways.min(val.classes.len());
        let seen_ways = seen.as_ref().map_or(val_ways, |p| p.classes.len());
        let val_usable = val_query > 0 && val_ways >= 2;
        if train_checks && !val_usable {
            bail!(
                "{}: validation episodes need at least 2 classes, every one of them with more than max(shots) = {} rows (the support and a query); the {} {} have {:?} rows (lower `shots`, or leave the classes this small out of the run, or name validation classes with more rows: `val_classes`)",
                ds.file,
                cfg.max_shots(),
                if val_classes.is_empty() { "held-out rows of the training classes" } else { "validation classes" },
                ds.describe_classes(if val_classes.is_empty() { &cfg.train_classes } else { &val_classes }),
                val.classes.iter().map(|c| c.rows.len()).collect::<Vec<_>>(),
            );
        }
        // The seen-class check is a diagnostic: a data set too small for it trains without it.
        let (seen, seen_query) = match seen {
            Some(p) if seen_query == 0 || seen_ways < 2 => {
                if train_checks {
                    eprintln!(
                        "note: no seen-class check (validation on held-out rows of the training classes, which tells learning them from learning what transfers): val_fraction = {} holds out {:?} rows of {}, too few for {}-shot episodes with a query (raise `val_fraction` for it)",
                        cfg.val_fraction,
                        p.classes.iter().map(|c| c.rows.len()).collect::<Vec<_>>(),
                        ds.describe_classes(&p.classes.iter().map(|c| c.class).collect::<Vec<_>>()),
                        cfg.max_shots()
                    );
                }
                (None, val_query)
            }
            s => (s, seen_query),
        };
        let (norm, normalise_choice) = match (&cfg.normalise, cfg.standardise_windows) {
            // Chosen on validation episodes (an evaluation reads the model's own).
            (Normalise::Auto, false) if val_usable => {
                let episodes = (&val, val_ways, val_query);
                let choice = choose_normalisation(cfg, &ds, episodes, &standardise, &common)?;
                (if choice.common { common } else { norm }, Some(choice))
            }
            _ => (norm, None),
        };
        Ok(Setup {
            normalise_choice,
            ds,
            split,
            side,
            train,
            val,
            seen,
            test,
            val_classes,
            train_ways,
            val_ways,
            val_query,
            seen_query,
            norm,
            standardise,
        })
    }
}

impl Setup {
    /// A note naming the data's classes that neither `train_classes` nor `test_classes` lists
    /// (read, but never trained, validated or tested on) and their rows, and a class whose name
    /// differs from a listed one's only in case or spaces (`Walk` beside `walk`: likely one
    /// class written two ways). None when every class with rows is listed.
    pub fn unused_classes_note(&self, cfg: &ClsConfig) -> Option<String> {
        let ds = &self.ds;
        let listed = |c: &usize| cfg.train_classes.contains(c) || cfg.test_classes.contains(c);
        let by_class = ds.by_class();
        let unused: Vec<usize> = (0..by_class.len())
            .filter(|c| !by_class[*c].is_empty() && !listed(c))
            .collect();
        if unused.is_empty() {
            return None;
        }
        let rows: usize = unused.iter().map(|&c| by_class[c].len()).sum();
        let mut note = format!(
            "{} of the data's {} classes are in neither train_classes nor test_classes, so no run uses their {rows} rows: {}",
            unused.len(),
            by_class.iter().filter(|r| !r.is_empty()).count(),
            ds.describe_classes(&unused)
        );
        let key = |c: usize| ds.class_name(c).trim().to_ascii_lowercase();
        let alike: Vec<String> = unused
            .iter()
            .filter_map(|&u| {
                let twin = (0..by_class.len()).find(|c| listed(c) && key(*c) == key(u))?;
                Some(format!(
                    "{:?} and {:?}",
                    ds.class_name(u),
                    ds.class_name(twin)
                ))
            })
            .collect();
        if !alike.is_empty() {
            note += &format!(
                "; {} differ only in case or spaces: if each pair is one class, write its label one way in the file",
                alike.join(", ")
            );
        }
        Some(note)
    }

    /// A note when the episodes are fewer-way than `ways` asks (too few training or validation
    /// classes for it): what was asked, what is used and why. None when both are `ways`-way.
    pub fn ways_note(&self, cfg: &ClsConfig) -> Option<String> {
        let mut used = Vec::new();
        if self.train_ways < cfg.ways {
            let need = cfg.max_shots() + cfg.query;
            let pool = &self.train.classes;
            let usable = pool.iter().filter(|c| c.rows.len() >= need).count();
            used.push(match usable < pool.len() {
                true => format!(
                    "training episodes {}-way ({usable} of the trunk's {} training classes have max(shots) + query = {need} rows)",
                    self.train_ways,
                    pool.len()
                ),
                false => format!(
                    "training episodes {}-way (the trunk trains on {} classes)",
                    self.train_ways,
                    pool.len()
                ),
            });
        }
        if self.val_ways < cfg.ways {
            used.push(format!(
                "validation episodes {}-way ({} validation classes)",
                self.val_ways,
                self.val.classes.len()
            ));
        }
        (!used.is_empty()).then(|| {
            format!(
                "`ways = {}` asks for {}-way episodes; the data allow {}. The exported head still takes {} classes (the device's `ways`)",
                cfg.ways,
                cfg.ways,
                used.join(", "),
                cfg.ways
            )
        })
    }
}

/// Refuses rows whose width is not the declared input's, or wider than the runtime takes.
fn check_width(cfg: &ClsConfig, ds: &Dataset) -> Result<()> {
    if let Some(w) = cfg.input.width() {
        if w != ds.d {
            // More features than declared: likely a column that is not an input (a time, an
            // id); name the file's feature columns that are not the shape's.
            let channels = cfg.input.shape_hint(ds.d);
            let hint = match ds.d > w && !ds.columns.is_empty() && channels.is_empty() {
                true => {
                    let names: Vec<&String> = (ds.columns.iter())
                        .filter(|c| !c.chars().any(|x| x.is_ascii_digit()))
                        .take(5)
                        .collect();
                    let listed = match names.is_empty() {
                        true => String::new(),
                        false => {
                            format!(" (feature columns without a number in their name: {names:?})")
                        }
                    };
                    format!(
                        "; a column that is not an input: `ignore_columns = [\"NAME\"]`{listed}"
                    )
                }
                false => channels,
            };
            bail!(
                "{}: rows have {} features, `input` declares {} x {} = {w}{hint}",
                ds.file,
                ds.d,
                cfg.input.name(),
                match cfg.input {
                    InputKind::Series { channels, length } =>
                        format!("{channels} channels x {length}"),
                    InputKind::Image {
                        width,
                        height,
                        channels,
                    } => format!("{channels} channels x {height} x {width}"),
                    InputKind::Vector {} => String::new(),
                }
            );
        }
    }
    if ds.d > runtime::format::MAX_WIDTH {
        bail!(
            "{}: {} features per row, the runtime takes at most {}",
            ds.file,
            ds.d,
            runtime::format::MAX_WIDTH
        );
    }
    Ok(())
}

/// The meta-training classes held out of trunk training to validate on (none: validation on
/// held-out rows): the configured ones, or a seeded third of the training classes.
fn validation_classes(cfg: &ClsConfig) -> Result<Vec<usize>> {
    Ok(match cfg.validate_on {
        ValidateOn::HeldOutRows => Vec::new(),
        ValidateOn::HeldOutClasses if !cfg.val_classes.is_empty() => cfg.val_classes.clone(),
        ValidateOn::HeldOutClasses => {
            let n = cfg.train_classes.len();
            let k = n.div_ceil(3).max(2);
            if n < k + 2 {
                bail!(
                    "train_classes: {n} classes; validation on held-out classes needs at least 4 (2 to validate on, 2 to train on)"
                );
            }
            let mut c = cfg.train_classes.clone();
            c.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.split_seed ^ 0x0c1a_55e5));
            c.truncate(k);
            c.sort_unstable();
            c
        }
    })
}

/// The input normalisation `cfg.normalise` asks for, fitted on `rows` (`standardise` and
/// `common`: the per-feature and common fits on them); `auto` starts from per-feature
/// standardisation and is chosen later on validation episodes.
fn configured_normalisation(
    cfg: &ClsConfig,
    ds: &Dataset,
    rows: &[usize],
    standardise: &Normalisation,
    common: &Normalisation,
) -> Normalisation {
    match (cfg.normalise.clone(), cfg.standardise_windows) {
        (Normalise::Standardise | Normalise::Auto, false) => standardise.clone(),
        (Normalise::Common, false) => common.clone(),
        (Normalise::Scale { factor }, false) => Normalisation {
            shift: vec![0.0; ds.d],
            scale: vec![factor; ds.d],
            window: None,
        },
        (Normalise::None, false) => Normalisation {
            shift: vec![0.0; ds.d],
            scale: vec![1.0; ds.d],
            window: None,
        },
        (kind, true) => {
            let per_feature = matches!(kind, Normalise::Standardise | Normalise::Auto);
            Normalisation::fit_windowed(ds, rows, cfg.input.channels(), per_feature)
        }
    }
}

/// The episode pools of a run: the trunk's training classes, validation (held-out classes,
/// or held-out rows), the seen-class check (held-out rows of the training classes, when
/// validation is on held-out classes) and the test classes.
fn pools(
    cfg: &ClsConfig,
    ds: &Dataset,
    side: Option<usize>,
    split: &ClassSplit,
    val_classes: &[usize],
) -> Result<(Pool, Pool, Option<Pool>, Pool)> {
    let aug = Augment {
        shift: cfg.shift,
        time: cfg.augment,
        axes: Axes::of(&cfg.input),
    };
    let trunk_classes = |part: &[(usize, Vec<usize>)]| -> Vec<(usize, Vec<usize>)> {
        part.iter()
            .filter(|(c, _)| !val_classes.contains(c))
            .cloned()
            .collect()
    };
    let mut train = Pool::new(ds, side, &trunk_classes(&split.train), cfg.rotations, aug)?;
    let (mut val, seen) = if val_classes.is_empty() {
        (
            Pool::new(ds, side, &split.val, cfg.rotations, Augment::default())?,
            None,
        )
    } else {
        let held: Vec<(usize, Vec<usize>)> = split
            .train
            .iter()
            .zip(&split.val)
            .filter(|((c, _), _)| val_classes.contains(c))
            .map(|((c, t), (_, v))| {
                let mut r = t.clone();
                r.extend_from_slice(v);
                r.sort_unstable();
                (*c, r)
            })
            .collect();
        let seen = Pool::new(
            ds,
            side,
            &trunk_classes(&split.val),
            false,
            Augment::default(),
        )?;
        (
            Pool::new(ds, side, &held, cfg.rotations, Augment::default())?,
            Some(seen),
        )
    };
    if !cfg.val_rotations.is_empty() {
        train
            .classes
            .retain(|c| !cfg.val_rotations.contains(&c.rot));
        val.classes.retain(|c| cfg.val_rotations.contains(&c.rot));
    }
    let test = Pool::new(ds, side, &split.test, false, Augment::default())?;
    Ok((train, val, seen, test))
}

/// `normalise = "auto"`: nearest centroid on validation episodes (`val`, its ways and
/// queries per class) under per-feature standardisation and under the common scale, each in
/// the device's f32 arithmetic (a common shift far from some features' values cancels them
/// there, however well it scores in f64).
fn choose_normalisation(
    cfg: &ClsConfig,
    ds: &Dataset,
    (val, val_ways, val_query): (&Pool, usize, usize),
    standardise: &Normalisation,
    common: &Normalisation,
) -> Result<NormaliseChoice> {
    // Each episode's accuracy; both normalisations see the same episodes (the same seeds).
    let scores = |n: &Normalisation| -> Result<Vec<f64>> {
        let mut v = Vec::new();
        for &k in &cfg.shots {
            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x0a07_0a07);
            rng.set_stream(k as u64);
            for _ in 0..cfg.val_episodes.min(200) {
                let ways = val_ways.min(val.classes.len());
                let ep = val.sample(ds, ways, k, val_query, &mut rng)?;
                let c = super::deploy::centroid_correct_f32(&ep, n);
                v.push(c as f64 / ep.query_y.len().max(1) as f64);
            }
        }
        Ok(v)
    };
    let (s, c) = (scores(standardise)?, scores(common)?);
    let gains: Vec<f64> = c.iter().zip(&s).map(|(c, s)| c - s).collect();
    let (gain, ci) = crate::eval::mean_ci(&gains);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(NormaliseChoice {
        common: common_wins(gain, ci),
        standardise_score: mean(&s),
        common_score: mean(&c),
    })
}

/// `auto` takes the common scale only when its paired gain over per-feature standardisation
/// on the validation episodes lies above zero beyond its 95 % interval: on a tie (validation
/// near 100 % for both, or too few episodes to tell) per-feature standardisation, which
/// suits raw units of different sizes, stays.
fn common_wins(gain: f64, ci: f64) -> bool {
    ci.is_finite() && gain > ci
}

/// Queries per class of validation episodes.
pub const VAL_QUERY: usize = 15;

/// The trunk: `inputs -> hidden...`, every layer ReLU (its output is the feature vector), after
/// the input normalisation.
pub fn trunk_arch(hidden: &[usize], norm: &Normalisation) -> Arch {
    let inputs = norm.shift.len();
    let mut layers = Vec::new();
    let mut prev = inputs;
    for &h in hidden {
        layers.push(LayerSpec::dense(prev, h, Activation::Relu));
        prev = h;
    }
    Arch {
        inputs,
        shift: norm.shift.clone(),
        scale: norm.scale.clone(),
        n_trunk: layers.len(),
        layers,
        head: HeadKind::Regression,
        window: norm.window,
    }
}

/// The configured trunk (`trunk` or `hidden`) after the input normalisation.
/// Refused when the runtime could not hold it (`export::check_holds`): before any training.
pub fn configured_trunk(cfg: &ClsConfig, norm: &Normalisation) -> Result<Arch> {
    let arch = if cfg.trunk.is_empty() {
        trunk_arch(&cfg.hidden, norm)
    } else {
        let layers = cfg
            .trunk_layers(norm.shift.len())
            .map_err(|(i, e)| anyhow::anyhow!("trunk layer {i}: {e}"))?;
        Arch {
            n_trunk: layers.len(),
            layers,
            ..trunk_arch(&[], norm)
        }
    };
    crate::export::check_holds(&arch)?;
    Ok(arch)
}

/// Initial trunk: the identity where a layer is square (a small positive bias keeps ReLUs of
/// zero pixels trainable without changing distances), He-style otherwise.
pub fn init_trunk(arch: &Arch, identity: bool, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut p = arch.init_params(rng);
    if identity {
        for (l, s) in arch.layers.iter().enumerate() {
            if s.inputs == s.outputs {
                let (w, b) = (arch.w_off(l), arch.b_off(l));
                p[w..b].fill(0.0);
                for i in 0..s.outputs {
                    p[w + i * s.inputs + i] = 1.0;
                }
                p[b..b + s.outputs].fill(if l == 0 { 0.01 } else { 0.0 });
            }
        }
    }
    p
}

/// Queries per class of validation episodes on `pool`: [`VAL_QUERY`], or what its smallest
/// class leaves beside `max_shots` support rows.
pub(super) fn pool_query(pool: &Pool, max_shots: usize) -> usize {
    let fewest = pool.classes.iter().map(|c| c.rows.len()).min().unwrap_or(0);
    VAL_QUERY.min(fewest.saturating_sub(max_shots))
}

/// The header columns of `data` that are neither one of the model's inputs `model` nor the
/// label (`label`, else as a run finds it: [`super::data::default_label`]) when every input is
/// named in the header; none otherwise (a file without those names is read by position).
fn unread_columns(
    data: &std::path::Path,
    model: &[String],
    label: Option<&str>,
) -> Result<Vec<String>> {
    use crate::csvio::column;
    let Some(header) = crate::csvio::file_header(data)? else {
        return Ok(Vec::new());
    };
    let label = match label {
        Some(l) => column(&header, l),
        None => Some(super::data::default_label(Some(&header), header.len())),
    };
    let inputs: Option<Vec<usize>> = model.iter().map(|n| column(&header, n)).collect();
    let Some(inputs) = inputs else {
        // Some of the model's inputs missing: said now, naming them, before a column that
        // is no input (a comment, a time) is refused as not a number.
        let columns: Vec<String> = (0..header.len())
            .filter(|i| Some(*i) != label)
            .map(|i| header[i].clone())
            .collect();
        crate::input_columns::match_by_name(model, &columns, &data.display().to_string())?;
        return Ok(Vec::new());
    };
    Ok((0..header.len())
        .filter(|i| !inputs.contains(i) && Some(*i) != label)
        .map(|i| header[i].clone())
        .collect())
}

/// The `test_subjects` of `cfg` as indices into the data's subjects: refused without a
/// `subject_column`, for a name the column does not hold, or when no subject is left to train.
fn held_out_subjects(cfg: &ClsConfig, ds: &Dataset) -> Result<Vec<usize>> {
    if cfg.subject_column.is_none() {
        bail!("`test_subjects` names subjects of `subject_column`, which the configuration does not give");
    }
    let held = cfg
        .test_subjects
        .iter()
        .map(|name| {
            ds.subject_names.iter().position(|s| s == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no subject {name:?} in its subject column (`test_subjects`); its subjects: {}",
                    ds.file,
                    crate::input_columns::names(&ds.subject_names)
                )
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    if (0..ds.subject_names.len()).all(|s| held.contains(&s)) {
        bail!(
            "{}: `test_subjects` holds out every subject: none is left to train the trunk",
            ds.file
        );
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The common scale wins on a gain beyond the noise, not on a tie or a noisy lead.
    #[test]
    fn auto_takes_the_common_scale_only_beyond_the_noise() {
        let wins = |gains: &[f64]| {
            let (g, ci) = crate::eval::mean_ci(gains);
            common_wins(g, ci)
        };
        assert!(wins(&[0.05, 0.04, 0.06, 0.05, 0.05]));
        // 100 % against 99.6 %: a lead of one query in one episode of five.
        assert!(!wins(&[0.0, 0.0, 0.02, 0.0, 0.0]));
        assert!(!wins(&[0.0; 5]));
        assert!(!wins(&[0.1, -0.1, 0.12, -0.08]));
        // One episode tells nothing.
        assert!(!wins(&[0.3]));
    }
}
