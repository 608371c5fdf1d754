//! Meta-training of a trunk with a prototype head (ProtoNet / Proto-MAML) and a multi-task head,
//! Adam, validation on held-out rows of the meta-training classes (model selection and the
//! device's prototype scale and rate), a progress bar with per-head metrics, and the resumable
//! loop (checkpoints, Ctrl-C, --stop-after) shared with the other trainers.

use super::augment::Axes;
use super::config::{ClsConfig, InputKind, Normalise, ValidateOn};
use super::data::{ClassSplit, Dataset};
use super::episodes::{Augment, Episode, Pool};
pub use super::job::train_from;
use super::proto::{episode_accuracy, EpisodeData, ProtoSpec};
use crate::engine::optim::Adam;
use crate::engine::{check_sizes, read_json, Checkpoints, RunSettings};
use crate::net::{Activation, Arch, Fwd, HeadKind, LayerSpec, WindowStandardise};
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    /// training rows to fit it on. `columns`: the data's label and ignored columns.
    pub fn new_classes(
        data: &std::path::Path,
        columns: super::data::Columns,
    ) -> Result<(ClsConfig, Self)> {
        let mut cfg = ClsConfig {
            data: data.to_path_buf(),
            label_column: columns.label.map(String::from),
            ignore_columns: columns.ignore.to_vec(),
            validate_on: ValidateOn::HeldOutRows,
            normalise: Normalise::Standardise,
            ..ClsConfig::default()
        };
        let ds = Dataset::load_labelled(data, cfg.columns())?;
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
        if let Some(w) = cfg.input.width() {
            if w != ds.d {
                bail!(
                    "{}: rows have {} features, `input` declares {} x {} = {w}",
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
                        InputKind::Vector => String::new(),
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
        let side = cfg.input.square_side();
        let split = ClassSplit::new(
            &ds,
            &cfg.train_classes,
            &cfg.test_classes,
            cfg.val_fraction,
            cfg.split_seed,
        )?;
        let val_classes = match cfg.validate_on {
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
        };
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
        let norm = match (cfg.normalise.clone(), cfg.standardise_windows) {
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
                Normalisation::fit_windowed(&ds, &all_rows, cfg.input.channels(), per_feature)
            }
        };
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
        let mut train = Pool::new(&ds, side, &trunk_classes(&split.train), cfg.rotations, aug)?;
        let (mut val, seen) = if val_classes.is_empty() {
            (
                Pool::new(&ds, side, &split.val, cfg.rotations, Augment::default())?,
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
                &ds,
                side,
                &trunk_classes(&split.val),
                false,
                Augment::default(),
            )?;
            (
                Pool::new(&ds, side, &held, cfg.rotations, Augment::default())?,
                Some(seen),
            )
        };
        if !cfg.val_rotations.is_empty() {
            train
                .classes
                .retain(|c| !cfg.val_rotations.contains(&c.rot));
            val.classes.retain(|c| cfg.val_rotations.contains(&c.rot));
        }
        let test = Pool::new(&ds, side, &split.test, false, Augment::default())?;
        let need = cfg.max_shots() + cfg.query;
        let usable =
            |p: &Pool, need: usize| p.classes.iter().filter(|c| c.rows.len() >= need).count();
        let train_ways = cfg.ways.min(usable(&train, need));
        if train_checks && train_ways < 2 {
            bail!(
                "{}: training episodes need 2 classes with shots + query = {need} training rows each; {} of the trunk's training classes have them (lower `shots`/`query`, or `val_fraction`)",
                ds.file,
                train_ways
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
                "{}: validation episodes need 2 classes with more than max(shots) = {} rows each; the {} {} have {:?} rows (lower `shots`, or validate on classes with more rows)",
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
                let score = |n: &Normalisation| -> Result<f64> {
                    let mut total = (0.0, 0usize);
                    for &k in &cfg.shots {
                        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x0a07_0a07);
                        rng.set_stream(k as u64);
                        for _ in 0..cfg.val_episodes.min(200) {
                            let ways = val_ways.min(val.classes.len());
                            let ep = val.sample(&ds, ways, k, val_query, &mut rng)?;
                            let c = super::deploy::centroid_correct(&ep, Some(n));
                            total.0 += c as f64 / ep.query_y.len().max(1) as f64;
                            total.1 += 1;
                        }
                    }
                    Ok(total.0 / total.1.max(1) as f64)
                };
                let (s, c) = (score(&standardise)?, score(&common)?);
                let choice = NormaliseChoice {
                    common: c > s,
                    standardise_score: s,
                    common_score: c,
                };
                (if c > s { common } else { norm }, Some(choice))
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

/// One logged point of training.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CurvePoint {
    pub iter: u64,
    pub proto_loss: f64,
    pub aux_loss: f64,
    pub train_acc: f64,
    /// Validation accuracy (1-shot, 5-shot or the configured shots) at 0 device steps.
    pub val_acc: Vec<f64>,
    /// The same on held-out rows of the trunk's training classes (when validation is on
    /// held-out classes).
    #[serde(default)]
    pub seen_acc: Vec<f64>,
}

/// A trained classifier: trunk, multi-task head and the device's prototype head spec.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trained {
    pub trunk: Arch,
    /// Trunk parameters then the multi-task head's W (`aux_classes x features`) and b.
    pub params: Vec<f64>,
    pub aux_classes: usize,
    pub ways: usize,
    pub device: ProtoSpec,
    /// The device head's cross-validated matching settings, when enabled (its scale, rate and
    /// steps are also in `device`).
    #[serde(default)]
    pub matching: Option<super::matching::MatchingChoice>,
    /// Every matching candidate the cross-validation scored.
    #[serde(default)]
    pub matching_cv: Vec<super::matching::MatchingRow>,
    pub best_iter: u64,
    pub best_val: f64,
    /// Shot counts of the validation accuracies in `curve`.
    #[serde(default)]
    pub val_shots: Vec<usize>,
    pub curve: Vec<CurvePoint>,
    /// (scale, alpha, validation accuracy per shot count) of every device setting tried.
    pub device_grid: Vec<(f64, f64, Vec<f64>)>,
    /// Power of the covariance metric in the trunk (0: the input metric).
    #[serde(default)]
    pub metric_power: f64,
    /// Names of the cross-validation's validation sets (the columns of `cv[..].acc`).
    #[serde(default)]
    pub cv_sets: Vec<String>,
    /// Leave-classes-out cross-validation of every (power, device setting) tried.
    #[serde(default)]
    pub cv: Vec<super::metric::CvRow>,
    /// The trunks compared on the validation episodes (the trained one and the identity), with
    /// their best device settings; the first is the exported one.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// The trained trunk (without the multi-task head), kept as the ProtoNet baseline of `eval`
    /// even when the identity trunk is exported.
    #[serde(default)]
    pub trained_trunk: Option<(Arch, Vec<f64>)>,
    /// Where training stopped early (no validation gain for `patience` validations).
    #[serde(default)]
    pub early_stop: Option<u64>,
    /// What went wrong in training, when something did: validation never rose above the
    /// initial trunk's (it did not start learning), or validation on held-out rows of the
    /// training classes rose while the held-out classes fell (it learned the training classes,
    /// not features that transfer).
    #[serde(default, alias = "overfit_warning")]
    pub warning: Option<String>,
    /// The fold validation that chose the trunk, when `trunk_folds` asked for it.
    #[serde(default)]
    pub folds: Option<FoldScores>,
    /// The trained trunk's accuracy minus the identity trunk's on the same validation episodes
    /// (mean and 95% half-width), each at its best device setting.
    #[serde(default)]
    pub trunk_gain: Option<(f64, f64)>,
    /// The test that decided whether the device takes steps (None: the best setting took none).
    #[serde(default)]
    pub steps_test: Option<StepsTest>,
    /// Open-set training's learned distance threshold `tau` (squared distance to the nearest
    /// prototype) at the kept iteration.
    #[serde(default)]
    pub open_set_threshold: Option<f64>,
}

/// A trunk scored on the validation episodes at its best device setting.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    /// `trained` or `identity` (no layer: the normalised input is the feature vector).
    pub trunk: String,
    /// Mean validation accuracy over the shot counts, and per shot count.
    pub score: f64,
    pub per_shots: Vec<f64>,
    pub device: ProtoSpec,
}

/// Fixed validation episodes (the validation pool: held-out classes or rows), per shot count.
pub fn val_episodes(setup: &Setup, cfg: &ClsConfig) -> Result<Vec<Vec<Episode>>> {
    pool_episodes(setup, &setup.val, setup.val_query, cfg)
}

/// Queries per class of validation episodes on `pool`: [`VAL_QUERY`], or what its smallest
/// class leaves beside `max_shots` support rows.
fn pool_query(pool: &Pool, max_shots: usize) -> usize {
    let fewest = pool.classes.iter().map(|c| c.rows.len()).min().unwrap_or(0);
    VAL_QUERY.min(fewest.saturating_sub(max_shots))
}

/// Fixed episodes of `pool` (`setup.val_ways`-way, `query` queries), per shot count.
pub fn pool_episodes(
    setup: &Setup,
    pool: &Pool,
    query: usize,
    cfg: &ClsConfig,
) -> Result<Vec<Vec<Episode>>> {
    cfg.shots
        .iter()
        .map(|&k| {
            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_0a11);
            rng.set_stream(k as u64);
            (0..cfg.val_episodes)
                .map(|_| {
                    let ways = setup.val_ways.min(pool.classes.len());
                    pool.sample(&setup.ds, ways, k, query, &mut rng)
                })
                .collect()
        })
        .collect()
}

/// Correct queries of the prototype head on each episode (f32, as the device computes).
fn episode_correct(trunk: &Arch, params: &[f64], eps: &[Episode], spec: &ProtoSpec) -> Vec<usize> {
    let p: Vec<f32> = params.iter().map(|&v| v as f32).collect();
    eps.par_iter()
        .map_init(Fwd::default, |fwd, ep| {
            let d = EpisodeData::<f32>::new(trunk, ep, None);
            episode_accuracy(trunk, &p, &d, spec, fwd)
        })
        .collect()
}

/// Each episode's share of `correct` queries.
fn shares(correct: &[usize], eps: &[Episode]) -> Vec<f64> {
    let per = correct.iter().zip(eps);
    per.map(|(&c, ep)| c as f64 / ep.query_y.len().max(1) as f64)
        .collect()
}

/// All of `correct` over all of the episodes' queries.
fn overall(correct: &[usize], eps: &[Episode]) -> f64 {
    let total: usize = eps.iter().map(|e| e.query_y.len()).sum();
    correct.iter().sum::<usize>() as f64 / total.max(1) as f64
}

/// Query accuracy of the prototype head on each episode (f32, as the device computes).
pub fn episode_accuracies(
    trunk: &Arch,
    params: &[f64],
    eps: &[Episode],
    spec: &ProtoSpec,
) -> Vec<f64> {
    shares(&episode_correct(trunk, params, eps, spec), eps)
}

/// Mean query accuracy of the prototype head over episodes (f32, as the device computes).
pub fn accuracy(trunk: &Arch, params: &[f64], eps: &[Episode], spec: &ProtoSpec) -> f64 {
    overall(&episode_correct(trunk, params, eps, spec), eps)
}

/// The trunk and the number of the multi-task head's classes of a run (from its configuration
/// and data: rebuilt, not saved, when a run resumes).
pub(super) fn shapes(cfg: &ClsConfig, setup: &Setup) -> Result<(Arch, usize)> {
    if cfg.ways < 2 || cfg.shots.is_empty() || cfg.shots.contains(&0) || cfg.query == 0 {
        bail!("ways must be >= 2, shots and query >= 1");
    }
    let trunk = configured_trunk(cfg, &setup.norm)?;
    let aux_classes = if cfg.aux {
        setup.train.classes.len()
    } else {
        0
    };
    Ok((trunk, aux_classes))
}

/// The best validation score so far, where it was reached and the parameters then.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Best {
    pub score: f64,
    pub iter: u64,
    pub params: Vec<f64>,
    /// The open-set threshold `ln tau` then (empty without `unknown_queries`).
    #[serde(default)]
    pub threshold: Vec<f64>,
}

/// Training losses and accuracy summed over the episodes since the last curve point.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Window {
    pub proto_loss: f64,
    pub aux_loss: f64,
    pub train_acc: f64,
    pub episodes: usize,
}

/// Everything a classification run needs to continue exactly where it stopped: the
/// configuration it was started with, what was fixed before the first step (the cross-validated
/// metric, the anchor's reference), the parameters, Adam's moments, the iteration, the best
/// validation so far and the curve. Episodes are a pure function of (seed, iteration), so no
/// random generator state is kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClsState {
    pub config: ClsConfig,
    /// Trunk parameters then the multi-task head's W (`aux_classes x features`) and b.
    pub params: Vec<f64>,
    /// Log-variances of the uncertainty weighting (proto, aux).
    pub logvar: [f64; 2],
    /// Open-set training's distance threshold `ln tau` (one value with `unknown_queries`, else
    /// empty).
    #[serde(default)]
    pub threshold: Vec<f64>,
    /// Adam's moments of (params, logvar, threshold) (`m`, `v` in the checkpoint).
    #[serde(flatten)]
    pub adam: Adam,
    /// Steps taken.
    pub iter: u64,
    /// The trunk before training: the reference of the `anchor` pull.
    pub anchor: Vec<f64>,
    /// None before the first validation.
    pub best: Option<Best>,
    pub curve: Vec<CurvePoint>,
    pub since: Window,
    /// The iteration at which validation stopped improving for `patience` validations.
    #[serde(default)]
    pub early_stop: Option<u64>,
    /// The cross-validation's chosen power and every row it scored (None: it did not run).
    pub cv: Option<(f64, Vec<super::metric::CvRow>)>,
    /// The trained and identity trunks' validation over folds of the training classes (None:
    /// `trunk_folds = 0`).
    #[serde(default)]
    pub folds: Option<FoldScores>,
    /// The cross-validated matching head and every candidate scored (None: not enabled).
    #[serde(default)]
    pub matching: Option<(
        super::matching::MatchingChoice,
        Vec<super::matching::MatchingRow>,
    )>,
}

impl ClsState {
    /// The state before the first step: the initial trunk (with its cross-validated metric when
    /// `metric_powers` asks for one) and a zero multi-task head.
    pub fn new(cfg: &ClsConfig, setup: &Setup, progress: bool) -> Result<Self> {
        let (trunk, aux_classes) = shapes(cfg, setup)?;
        let feat = trunk.outputs();
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut params = init_trunk(&trunk, cfg.identity_init, &mut rng);
        if let (true, Some(side), Some(l0)) = (
            cfg.identity_init,
            setup.ds.square_side(),
            trunk.layers.first(),
        ) {
            if cfg.blur != 0.0 && l0.inputs == l0.outputs {
                let s = side as i64;
                for r in 0..s {
                    for c in 0..s {
                        for (dr, dc) in [
                            (-1i64, -1i64),
                            (-1, 0),
                            (-1, 1),
                            (0, -1),
                            (0, 1),
                            (1, -1),
                            (1, 0),
                            (1, 1),
                        ] {
                            let (rr, cc) = (r + dr, c + dc);
                            if rr >= 0 && cc >= 0 && rr < s && cc < s {
                                let a = if dr != 0 && dc != 0 {
                                    cfg.blur / 2.0
                                } else {
                                    cfg.blur
                                };
                                params[((r * s + c) * s * s + rr * s + cc) as usize] = a;
                            }
                        }
                    }
                }
            }
        }
        // The fixed input metric, chosen with the device settings by leave-classes-out
        // cross-validation on the meta-training classes.
        let mut cv = None;
        if cfg.identity_init && !cfg.metric_powers.is_empty() && !cfg.matching.enabled {
            let t0 = std::time::Instant::now();
            let folds = super::metric::folds(cfg, setup)?;
            let zero = ProtoSpec {
                steps: 0,
                alpha: 0.0,
                clip: cfg.device_clip,
                ..cfg.proto
            };
            let by_power =
                super::metric::cross_validate(setup, &trunk, &folds, &cfg.metric_powers, &[zero])?;
            // The best mean over the validation sets among the powers never below the input metric
            // (power 0, when it is a candidate) on any set, beyond one paired standard error.
            let base = by_power.iter().find(|r| r.power == 0.0);
            let best_p = super::metric::first_best(
                by_power
                    .iter()
                    .filter(|r| base.is_none_or(|b| r.never_below(b))),
                |r| r.score,
            )
            .map_or(0.0, |r| r.power);
            let mut devices = Vec::new();
            for &scale in &cfg.device_scales {
                for &alpha in cfg.device_alphas.iter().filter(|&&a| a > 0.0) {
                    devices.push(ProtoSpec {
                        scale,
                        steps: cfg.device_steps,
                        alpha,
                        clip: cfg.device_clip,
                    });
                }
            }
            let by_device =
                super::metric::cross_validate(setup, &trunk, &folds, &[best_p], &devices)?;
            if progress {
                super::metric::print_header(cfg, "", folds.len(), cfg.cv_episodes, t0);
                for r in by_power.iter().chain(&by_device) {
                    let below = base.is_some_and(|b| r.steps_free() && !r.never_below(b));
                    eprintln!(
                        "  power {:<5} scale {:<5} rate {:<5} steps {}: {} | mean {:.2}{}",
                        r.power,
                        r.device.scale,
                        r.device.alpha,
                        r.device.steps,
                        super::metric::percents(&r.acc),
                        100.0 * r.score,
                        if below {
                            " (below the input metric)"
                        } else {
                            ""
                        }
                    );
                }
            }
            if best_p != 0.0 {
                params = super::metric::fit_trunk(&setup.ds, &setup.train, &trunk, best_p)
                    .ok_or_else(|| anyhow::anyhow!("metric_powers need square trunk layers"))?;
            }
            let mut rows = by_power;
            rows.extend(by_device);
            cv = Some((best_p, rows));
        }
        let matching = if cfg.matching.enabled {
            Some(super::matching::run(cfg, setup, &trunk, &params, progress)?)
        } else {
            None
        };
        let folds = if cfg.trunk_folds >= 2 {
            Some(trunk_folds(cfg, &setup.ds, progress)?)
        } else {
            None
        };
        let threshold = super::open_set::start(cfg, setup, &trunk, &params)?;
        let anchor = params.clone();
        let nt = params.len();
        params.resize(nt + aux_classes * (feat + 1), 0.0);
        let n = params.len();
        Ok(ClsState {
            config: cfg.clone(),
            params,
            logvar: [0.0; 2],
            adam: Adam::new(n + 2 + threshold.len()),
            threshold,
            iter: 0,
            anchor,
            best: None,
            curve: Vec::new(),
            since: Window::default(),
            early_stop: None,
            cv,
            matching,
            folds,
        })
    }

    /// Load a checkpoint for `cfg`: refused when it was made with another configuration (the
    /// iteration count and checkpoint period aside) or its vectors do not fit this model.
    pub fn resume(path: &Path, cfg: &ClsConfig, setup: &Setup) -> Result<Self> {
        let mut st: ClsState = read_json(path)?;
        if !st.config.resume_as(cfg) {
            bail!(
                "{}: checkpoint was made with a different configuration",
                path.display()
            );
        }
        let (trunk, aux_classes) = shapes(cfg, setup)?;
        let nt = trunk.n_params();
        let n = nt + aux_classes * (trunk.outputs() + 1);
        check_sizes(
            path,
            st.params.len() == n
                && st.threshold.len() == usize::from(cfg.unknown_queries > 0)
                && st.adam.fits(n + 2 + st.threshold.len())
                && st.anchor.len() == nt
                && st.best.as_ref().is_none_or(|b| b.params.len() == n)
                && st.curve.iter().all(|c| c.val_acc.len() == cfg.shots.len()),
        )?;
        Ok(st)
    }
}

crate::engine::resumable!(ClsState, ClsConfig);

/// (scale, rate, validation accuracy per shot count) of device settings.
type Grid = Vec<(f64, f64, Vec<f64>)>;
/// A device setting's mean validation accuracy, accuracy per shot count, and the setting.
type Choice = (f64, Vec<f64>, ProtoSpec);
/// Every device setting (prototype scale, rate, steps) tried for a trunk on the validation
/// episodes; [`DeviceGrid::choice`] is the device's.
struct DeviceGrid {
    /// Every setting tried: (mean validation accuracy, accuracy per shot count, setting), and
    /// each validation episode's accuracy (shot counts in turn), for the paired tests.
    settings: Vec<(Choice, Vec<f64>)>,
}

fn device_grid(cfg: &ClsConfig, trunk: &Arch, params: &[f64], val: &[Vec<Episode>]) -> DeviceGrid {
    let mut g = DeviceGrid {
        settings: Vec::new(),
    };
    for &scale in &cfg.device_scales {
        for &alpha in &cfg.device_alphas {
            let spec = ProtoSpec {
                scale,
                steps: if alpha > 0.0 { cfg.device_steps } else { 0 },
                alpha,
                clip: cfg.device_clip,
            };
            let correct: Vec<Vec<usize>> = val
                .iter()
                .map(|e| episode_correct(trunk, params, e, &spec))
                .collect();
            let accs: Vec<f64> = correct
                .iter()
                .zip(val)
                .map(|(c, e)| overall(c, e))
                .collect();
            let each = correct.iter().zip(val).flat_map(|(c, e)| shares(c, e));
            g.settings.push(((mean(&accs), accs, spec), each.collect()));
        }
    }
    g
}

impl DeviceGrid {
    /// Every setting tried: (scale, rate, validation accuracy per shot count).
    fn grid(&self) -> Grid {
        let each = self.settings.iter();
        each.map(|((_, accs, s), _)| (s.scale, s.alpha, accs.clone()))
            .collect()
    }

    /// Each validation episode's accuracy at setting `s` (by scale and rate).
    fn episodes(&self, s: &ProtoSpec) -> Option<&[f64]> {
        let mut each = self.settings.iter();
        each.find(|((_, _, t), _)| t.scale == s.scale && t.alpha == s.alpha)
            .map(|(_, e)| e.as_slice())
    }

    /// The best setting without steps (the prototype start alone), or with steps when it is
    /// `steps`.
    fn best(&self, steps: bool) -> Option<&Choice> {
        let mut best: Option<&Choice> = None;
        let each = self.settings.iter().map(|(c, _)| c);
        for c in each.filter(|c| steps || c.2.steps == 0) {
            if best.is_none_or(|b| c.0 > b.0 + 1e-9) {
                best = Some(c);
            }
        }
        best
    }

    /// The setting the device is given: the best on the validation episodes, unless it takes
    /// steps and its paired gain over the prototype start does not lie above zero beyond the
    /// episodes' noise (its 95% interval), as for the trunk; then the prototype start. Also
    /// that test, when the best setting took steps.
    fn choice(&self) -> Result<(Choice, Option<StepsTest>)> {
        let Some(best) = self.best(true) else {
            bail!("internal: no device setting was tried");
        };
        let Some(start) = self.best(false).filter(|_| best.2.steps > 0) else {
            return Ok((best.clone(), None));
        };
        let (gain, ci) = match (self.episodes(&best.2), self.episodes(&start.2)) {
            (Some(a), Some(b)) => paired(a, b),
            _ => bail!("internal: a device setting is missing from its grid"),
        };
        let test = StepsTest { gain, ci };
        let chosen = if test.passed() { best } else { start };
        Ok((chosen.clone(), Some(test)))
    }
}

/// The device steps' paired gain over the prototype start on the validation episodes
/// (accuracy, mean and 95% half-width) that decided whether the device takes them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepsTest {
    pub gain: f64,
    pub ci: f64,
}

impl StepsTest {
    /// Whether the gain lies above zero beyond noise.
    pub fn passed(&self) -> bool {
        self.gain > self.ci
    }
}

/// The mean of `a - b`, paired per episode, and its 95% interval's half-width.
fn paired(a: &[f64], b: &[f64]) -> (f64, f64) {
    let diff: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    crate::eval::mean_ci(&diff)
}

/// The warning of a run whose validation never rose above its first point (iteration 0, the
/// random initial trunk): the trunk did not start learning, usually because the first steps
/// at the full rate pushed its ReLUs where no gradient reaches them.
fn stuck_warning(cfg: &ClsConfig, curve: &[CurvePoint], best_iter: u64) -> Option<String> {
    let last = curve.last()?;
    if best_iter != 0 || last.iter == 0 || cfg.freeze_trunk || !cfg.has_trunk_layers() {
        return None;
    }
    let first = curve.iter().find(|c| c.iter == best_iter)?;
    Some(format!(
        "validation never rose above the random initial trunk's ({:.1}% at iteration 0, {:.1}% at {}): the trunk did not start learning. A linear warm-up of the rate (`warmup = {}`), `grad_norm_clip = 1` or a lower `lr` usually lets it",
        100.0 * mean(&first.val_acc),
        100.0 * mean(&last.val_acc),
        last.iter,
        cfg.iterations.min(200)
    ))
}

/// The mean of `v` (0 when empty).
fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The warning of a run whose seen-class validation rose after the best held-out-class point
/// while the held-out classes fell.
fn overfit_warning(curve: &[CurvePoint], best_iter: u64) -> Option<String> {
    let best = curve.iter().find(|c| c.iter == best_iter)?;
    let last = curve.last()?;
    if best.seen_acc.is_empty() || last.iter == best.iter {
        return None;
    }
    let (seen0, seen1) = (mean(&best.seen_acc), mean(&last.seen_acc));
    let (val0, val1) = (mean(&best.val_acc), mean(&last.val_acc));
    (seen1 > seen0 + 0.01 && val1 < val0 - 0.01).then(|| {
        format!(
            "after iteration {best_iter} the trunk kept improving on held-out rows of its training classes ({:.1}% -> {:.1}%) while the held-out classes fell ({:.1}% -> {:.1}%): it learns the training classes, not features that transfer; the model keeps iteration {best_iter} (more classes, `anchor`, or fewer `hidden` units may help)",
            100.0 * seen0,
            100.0 * seen1,
            100.0 * val0,
            100.0 * val1
        )
    })
}

/// The trained classifier of a finished run: its best parameters, and the device's prototype
/// scale and rate chosen for them.
pub fn finish(st: &ClsState, setup: &Setup) -> Result<Trained> {
    let cfg = &st.config;
    let (trunk, aux_classes) = shapes(cfg, setup)?;
    let Some(Best {
        score: best_val,
        iter: best_iter,
        params,
        threshold,
    }) = &st.best
    else {
        bail!("the run has not been validated yet");
    };
    let (best_val, best_iter) = (*best_val, *best_iter);
    let val = val_episodes(setup, cfg)?;
    let cv = &st.cv;
    let curve = st.curve.clone();
    // The device's prototype scale and rate, chosen on validation episodes: the
    // cross-validation's when it ran (0-step rows: the prototype start, scale-free), else on
    // the validation episodes with the final trunk.
    let mut chosen = (f64::NEG_INFINITY, cfg.proto);
    if let Some((p, rows)) = &cv {
        for r in rows.iter().filter(|r| r.power == *p) {
            if r.score > chosen.0 + 1e-9 {
                chosen = (r.score, r.device);
            }
        }
    }
    let matching = st.matching.as_ref().map(|(choice, _)| *choice);
    let mut grid = Vec::new();
    let mut candidates = Vec::new();
    let mut trunk_gain = None;
    let mut steps_test = None;
    let (mut trunk, mut params, mut aux_classes) = (trunk, params.clone(), aux_classes);
    let trunk_trains = !cfg.freeze_trunk && cfg.has_trunk_layers();
    if cv.is_none() && matching.is_none() {
        // The device settings are chosen on the final trunk; a trained trunk competes with the
        // identity trunk (the normalised input), so the export is never below nearest centroid
        // on the validation classes.
        let g = device_grid(cfg, &trunk, &params, &val);
        let ((score, per_shots, device), test) = g.choice()?;
        steps_test = test;
        grid = g.grid();
        chosen = (score, device);
        candidates.push(Candidate {
            trunk: if trunk_trains { "trained" } else { "fixed" }.into(),
            score,
            per_shots,
            device,
        });
        if trunk_trains {
            let identity = trunk_arch(&[], &setup.norm);
            let ig = device_grid(cfg, &identity, &[], &val);
            let ((score, per_shots, device), identity_test) = ig.choice()?;
            candidates.push(Candidate {
                trunk: "identity".into(),
                score,
                per_shots,
                device,
            });
            // The trained trunk must beat the identity beyond the noise of the validation
            // episodes: its paired gain's 95% interval above zero (or, with folds, a higher
            // mean over the folds); else the simpler identity trunk is exported.
            let (gain, ci) = match (g.episodes(&chosen.1), ig.episodes(&device)) {
                (Some(a), Some(b)) => paired(a, b),
                _ => bail!("internal: a chosen device setting is missing from its grid"),
            };
            trunk_gain = Some((gain, ci));
            // A best validation at iteration 0 is the random initial trunk, not a learned one.
            let identity_wins = best_iter == 0
                || match &st.folds {
                    Some(f) => f.mean(&f.identity) >= f.mean(&f.trained),
                    None => gain <= ci,
                };
            if identity_wins {
                candidates.swap(0, 1);
                steps_test = identity_test;
                chosen = (score, device);
                (trunk, params, aux_classes) = (identity, Vec::new(), 0);
            }
        }
    }
    let configured = configured_trunk(cfg, &setup.norm)?;
    let trained_trunk = trunk_trains.then(|| {
        let nt = configured.n_params();
        let p = st
            .best
            .as_ref()
            .map_or_else(Vec::new, |b| b.params[..nt].to_vec());
        (configured, p)
    });
    Ok(Trained {
        trunk,
        params: params.clone(),
        aux_classes,
        ways: cfg.ways,
        device: match &matching {
            Some(m) => m.device(cfg.device_clip),
            // Steps at rate 0 change nothing: the device is told to take none.
            None => ProtoSpec {
                steps: if chosen.1.alpha > 0.0 {
                    cfg.device_steps
                } else {
                    0
                },
                ..chosen.1
            },
        },
        matching,
        matching_cv: st.matching.as_ref().map_or_else(Vec::new, |m| m.1.clone()),
        best_iter,
        best_val,
        val_shots: cfg.shots.clone(),
        curve,
        device_grid: grid,
        metric_power: cv.as_ref().map_or(0.0, |c| c.0),
        cv_sets: if cv.is_some() {
            super::metric::set_names(cfg)
        } else {
            Vec::new()
        },
        cv: cv.as_ref().map_or_else(Vec::new, |c| c.1.clone()),
        candidates,
        trained_trunk,
        early_stop: st.early_stop,
        warning: stuck_warning(cfg, &st.curve, best_iter)
            .or_else(|| overfit_warning(&st.curve, best_iter)),
        folds: st.folds.clone(),
        trunk_gain,
        steps_test,
        open_set_threshold: threshold.first().map(|t| t.exp()),
    })
}

/// The validation of both trunks on each fold of the training classes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FoldScores {
    /// The held-out classes of each fold.
    pub folds: Vec<Vec<usize>>,
    /// Mean validation accuracy (over the shot counts) of each trunk, per fold.
    pub trained: Vec<f64>,
    pub identity: Vec<f64>,
}

impl FoldScores {
    pub fn mean(&self, v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len().max(1) as f64
    }
}

/// Trains a trunk on the other classes for each of `cfg.trunk_folds` folds of the training
/// classes (drawn with `split_seed`) and scores it and the identity trunk on the fold's classes,
/// each at its best device setting: the same procedure as the run's own validation split.
pub fn trunk_folds(cfg: &ClsConfig, ds: &Dataset, progress: bool) -> Result<FoldScores> {
    let mut classes = cfg.train_classes.clone();
    classes.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.split_seed ^ 0x0f01_d5ee));
    let n = cfg.trunk_folds;
    let folds: Vec<Vec<usize>> = (0..n)
        .map(|f| {
            let mut v: Vec<usize> = classes.iter().skip(f).step_by(n).copied().collect();
            v.sort_unstable();
            v
        })
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let none = Checkpoints {
        path: None,
        stop: &stop,
        stop_at: None,
    };
    let mut scores = FoldScores {
        folds: folds.clone(),
        trained: Vec::new(),
        identity: Vec::new(),
    };
    let t0 = std::time::Instant::now();
    for fold in &folds {
        let fold_cfg = ClsConfig {
            val_classes: fold.clone(),
            trunk_folds: 0,
            ..cfg.clone()
        };
        let setup = Setup::with_data(&fold_cfg, ds.clone())?;
        let mut st = ClsState::new(&fold_cfg, &setup, false)?;
        train_from(&mut st, &setup, &none, false)?;
        let t = finish(&st, &setup)?;
        let score = |name: &str| {
            t.candidates
                .iter()
                .find(|c| c.trunk == name)
                .map_or(0.0, |c| c.score)
        };
        scores.trained.push(score("trained"));
        scores.identity.push(score("identity"));
        if progress {
            eprintln!(
                "trunk fold {fold:?}: trained {:.2}%, identity {:.2}% ({:.0} s)",
                100.0 * score("trained"),
                100.0 * score("identity"),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(iter: u64, val: f64, seen: f64) -> CurvePoint {
        CurvePoint {
            iter,
            proto_loss: 0.0,
            aux_loss: 0.0,
            train_acc: 0.0,
            val_acc: vec![val],
            seen_acc: vec![seen],
        }
    }

    #[test]
    fn a_run_that_never_beats_its_initial_trunk_is_told_so() {
        let cfg = ClsConfig::default();
        let flat = [
            point(0, 0.22, 0.2),
            point(100, 0.21, 0.2),
            point(200, 0.2, 0.2),
        ];
        let w = stuck_warning(&cfg, &flat, 0).expect("stuck");
        assert!(
            w.contains("22.0% at iteration 0") && w.contains("warmup"),
            "{w}"
        );
        // Learning runs, a run of no iterations and a frozen trunk get no warning.
        assert!(stuck_warning(&cfg, &flat, 100).is_none());
        assert!(stuck_warning(&cfg, &flat[..1], 0).is_none());
        let frozen = ClsConfig {
            freeze_trunk: true,
            ..ClsConfig::default()
        };
        assert!(stuck_warning(&frozen, &flat, 0).is_none());
    }

    #[test]
    fn a_trunk_that_learns_its_training_classes_only_is_told_so() {
        let curve = [
            point(0, 0.3, 0.3),
            point(100, 0.5, 0.5),
            point(200, 0.4, 0.7),
        ];
        let w = overfit_warning(&curve, 100).expect("overfits");
        assert!(w.contains("50.0% -> 70.0%"), "{w}");
        assert!(overfit_warning(&curve, 200).is_none());
    }
}
