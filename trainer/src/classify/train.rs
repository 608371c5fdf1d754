//! Meta-training of a trunk with a prototype head (ProtoNet / Proto-MAML) and a multi-task head,
//! Adam, validation on held-out rows of the meta-training classes (model selection and the
//! device's prototype scale and rate), a progress bar with per-head metrics, and the resumable
//! loop (checkpoints, Ctrl-C, --stop-after) shared with the other trainers.

use super::config::ClsConfig;
use super::episodes::{Episode, Pool};
use super::folds::{trunk_folds, FoldScores};
pub use super::job::train_from;
use super::proto::{episode_accuracy, EpisodeData, ProtoSpec};
use super::select::StepsTest;
use super::setup::{configured_trunk, init_trunk, Setup};
use crate::engine::optim::Adam;
use crate::engine::{check_sizes, read_json, RunSettings};
use crate::net::{Arch, Fwd};
use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    #[serde(default, deserialize_with = "crate::eval::pair_nan_if_null")]
    pub trunk_gain: Option<(f64, f64)>,
    /// The trained trunk's validation accuracy minus the identity's, class by class (empty
    /// when they did not compete, or in a record written before they were kept).
    #[serde(default)]
    pub trunk_class_gains: Vec<f64>,
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

/// Fixed validation episodes (the validation pool: held-out classes or rows), per shot count;
/// `note`: say when they mix subjects (once a run: training draws them, then the selection
/// draws the same again).
pub fn val_episodes(setup: &Setup, cfg: &ClsConfig, note: bool) -> Result<Vec<Vec<Episode>>> {
    let pooled = pool_episodes(setup, &setup.val, setup.val_query, cfg)?;
    if setup.ds.subjects.is_empty() {
        return Ok(pooled);
    }
    // With a subject column the device's case is one subject's rows: validate on it, so the
    // trunk, the stopping point and the device settings are chosen for it.
    let ways = setup.val_ways.min(setup.val.classes.len());
    let mut out = Vec::with_capacity(cfg.shots.len());
    for (&k, pooled) in cfg.shots.iter().zip(pooled) {
        let spec = (k, setup.val_query);
        let seed = (cfg.val_episodes, cfg.seed ^ 0x5eed_0a11);
        match super::subjects::episodes_of(&setup.val, &setup.ds, ways, spec, seed)? {
            Some(within) => out.push(within.eps),
            None => {
                if note {
                    eprintln!("note: no subject has {ways} validation classes of {} rows: the {k}-shot validation episodes mix subjects", k + 1);
                }
                out.push(pooled);
            }
        }
    }
    Ok(out)
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
pub(super) fn episode_correct(
    trunk: &Arch,
    params: &[f64],
    eps: &[Episode],
    spec: &ProtoSpec,
) -> Vec<usize> {
    let p: Vec<f32> = params.iter().map(|&v| v as f32).collect();
    eps.par_iter()
        .map_init(Fwd::default, |fwd, ep| {
            let d = EpisodeData::<f32>::new(trunk, ep, None);
            episode_accuracy(trunk, &p, &d, spec, fwd)
        })
        .collect()
}

/// Which queries of each episode the prototype head classifies right (f32, as the device
/// computes), in query order.
pub fn trunk_hits(
    trunk: &Arch,
    params: &[f64],
    eps: &[Episode],
    spec: &ProtoSpec,
) -> Vec<Vec<bool>> {
    let p: Vec<f32> = params.iter().map(|&v| v as f32).collect();
    eps.par_iter()
        .map_init(Fwd::default, |fwd, ep| {
            let d = EpisodeData::<f32>::new(trunk, ep, None);
            super::proto::episode_hits(trunk, &p, &d, spec, fwd)
        })
        .collect()
}

/// Each episode's share of `correct` queries.
pub(super) fn shares(correct: &[usize], eps: &[Episode]) -> Vec<f64> {
    let per = correct.iter().zip(eps);
    per.map(|(&c, ep)| c as f64 / ep.query_y.len().max(1) as f64)
        .collect()
}

/// All of `correct` over all of the episodes' queries.
pub(super) fn overall(correct: &[usize], eps: &[Episode]) -> f64 {
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
                blur_identity(&mut params, side, cfg.blur);
            }
        }
        // The fixed input metric, chosen with the device settings by leave-classes-out
        // cross-validation on the meta-training classes.
        let mut cv = None;
        if cfg.identity_init && !cfg.metric_powers.is_empty() && !cfg.matching.enabled {
            let (best_p, rows) = metric_cv(cfg, setup, &trunk, progress)?;
            if best_p != 0.0 {
                params = super::metric::fit_trunk(&setup.ds, &setup.train, &trunk, best_p)
                    .ok_or_else(|| anyhow::anyhow!("metric_powers need square trunk layers"))?;
            }
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
        if let Err(differ) = st.config.resume_as(cfg) {
            bail!(
                "{}: checkpoint was made with a different configuration: {differ}{}",
                path.display(),
                crate::engine::checkpoint::OTHER_VERSION
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

/// An identity trunk layer over a square image of `side` pixels blurred: each pixel also takes
/// `blur` of its 4 edge neighbours and `blur / 2` of its 4 corner neighbours (`params`: the
/// layer's weights first, row-major).
fn blur_identity(params: &mut [f64], side: usize, blur: f64) {
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
                    let a = if dr != 0 && dc != 0 { blur / 2.0 } else { blur };
                    params[((r * s + c) * s * s + rr * s + cc) as usize] = a;
                }
            }
        }
    }
}

/// The fixed input metric's power, chosen with the device settings by leave-classes-out
/// cross-validation on the meta-training classes, and every row scored (the powers at the
/// prototype start, then the device settings at the power chosen).
fn metric_cv(
    cfg: &ClsConfig,
    setup: &Setup,
    trunk: &Arch,
    progress: bool,
) -> Result<(f64, Vec<super::metric::CvRow>)> {
    let t0 = std::time::Instant::now();
    let folds = super::metric::folds(cfg, setup)?;
    let zero = ProtoSpec {
        steps: 0,
        alpha: 0.0,
        clip: cfg.device_clip,
        ..cfg.proto
    };
    let by_power =
        super::metric::cross_validate(setup, trunk, &folds, &cfg.metric_powers, &[zero])?;
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
    let by_device = super::metric::cross_validate(setup, trunk, &folds, &[best_p], &devices)?;
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
    let mut rows = by_power;
    rows.extend(by_device);
    Ok((best_p, rows))
}
