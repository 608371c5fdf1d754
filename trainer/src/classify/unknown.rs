//! Unknown inputs (open-set rejection) of a classification model as deployed: the device
//! answers "none of the classes it was taught" when the adapted head's highest class
//! probability (what `runtime::Learner::classify` and `runtime::ClassBank::classify` return) is
//! below a threshold `t`.
//!
//! Each episode also gets `U` unknown queries: distinct rows of the same pool's classes that are
//! not among the episode's classes (seeded, drawn once, so every step count scores the same
//! rows). `t` is chosen per (shots, steps) on episodes of the run's validation classes (with
//! too few of them, also held-out rows of the trunk's training classes; never the novel
//! ones), by a [`Rule`]; it is then reported on the novel classes' episodes: the
//! false-reject rate (known queries below `t`), the false-accept rate (unknown queries at or
//! above `t`) and the accuracy among the accepted known queries, each with a 95% CI over
//! episodes.
//!
//! ```
//! use trainer::classify::unknown::{choose_threshold, rates, Rule};
//!
//! let known = [0.9, 0.8, 0.7, 0.4];
//! let unknown = [0.2, 0.3, 0.5, 0.75];
//! // The equal error rate: one known and one unknown score on the wrong side of 0.6.
//! let t = choose_threshold(&known, &unknown, Rule::Eer).unwrap();
//! assert!((t - 0.6).abs() < 1e-6);
//! assert_eq!(rates(&known, &unknown, t), (0.25, 0.25));
//! // At most 25% of the known queries rejected: the highest such threshold.
//! let t = choose_threshold(&known, &unknown, Rule::FalseReject(0.25)).unwrap();
//! assert_eq!((t, rates(&known, &unknown, t)), (0.7, (0.25, 0.25)));
//! // No unknown query accepted: just above the highest unknown score.
//! let t = choose_threshold(&known, &unknown, Rule::FalseAccept(0.0)).unwrap();
//! assert_eq!(rates(&known, &unknown, t), (0.5, 0.0));
//! assert!(t > 0.75 && t < 0.7500001);
//! ```

use super::data::Dataset;
use super::deploy::{argmax, episode_probs, prototype_head};
use super::episodes::{Episode, Pool};
use crate::eval::mean_ci;
use anyhow::{anyhow, bail, Result};
use rand::seq::index;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use runtime::Model;
use serde::Serialize;

/// Seed salt of the unknown rows' draws (the episodes keep their own seed).
const DRAW_SALT: u64 = 0x756e_6b6e_6f77_6e31;
/// Seed salt of the calibration episodes.
pub const CALIBRATION_SALT: u64 = 0x6361_6c69_6272_6174;

/// How the threshold is chosen on the calibration episodes' pooled scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// Equal error rate: the threshold that minimises the larger of the false-reject and
    /// false-accept rates (ties: the smaller difference, then the lower threshold), midway
    /// between two adjacent observed scores.
    Eer,
    /// The highest threshold that rejects at most this fraction of the known queries (a
    /// quantile of the known scores).
    FalseReject(f64),
    /// The lowest threshold that accepts at most this fraction of the unknown queries (just
    /// above a quantile of the unknown scores): a device that must rarely answer for a class
    /// it was not taught.
    FalseAccept(f64),
}

impl std::str::FromStr for Rule {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        if s == "eer" {
            return Ok(Rule::Eer);
        }
        let target = |prefix: &str| s.strip_prefix(prefix).map(|v| v.parse::<f64>());
        let (rule, f) = match (target("fr="), target("fa=")) {
            (Some(Ok(f)), _) => (Rule::FalseReject(f), f),
            (_, Some(Ok(f))) => (Rule::FalseAccept(f), f),
            _ => bail!("unknown rule {s:?}: `eer`, `fr=F` or `fa=F` (0 <= F < 1)"),
        };
        if !(0.0..1.0).contains(&f) {
            bail!("unknown rule {s:?}: the target rate must be in [0, 1)");
        }
        Ok(rule)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Eer => f.write_str("eer"),
            Rule::FalseReject(v) => write!(f, "fr={v}"),
            Rule::FalseAccept(v) => write!(f, "fa={v}"),
        }
    }
}

/// The score a query is accepted on (higher: more like a taught class).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    /// The adapted head's highest class probability (what `Learner::classify` and
    /// `ClassBank::classify` return).
    Probability,
    /// Minus the squared Euclidean distance from the query's trunk features to the nearest
    /// class prototype (the mean features of its support samples); the class is that
    /// prototype's (the prototype head before any step).
    Distance,
    /// The cosine of the angle between the query's trunk features and the nearest prototype.
    Cosine,
    /// Minus the squared distance to the nearest prototype over the support's pooled
    /// within-class variance: the squared distances of the support samples to their own
    /// prototype, summed, over `N - C` (`N` samples of `C` classes); what
    /// `runtime::ClassBank::score` gives as `relative_distance`. A scale the enrolled samples
    /// set, so the threshold follows the conditions they were recorded in. Needs 2 or more
    /// shots.
    Relative,
}

impl std::str::FromStr for Score {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "probability" => Ok(Score::Probability),
            "distance" => Ok(Score::Distance),
            "cosine" => Ok(Score::Cosine),
            "relative" => Ok(Score::Relative),
            _ => bail!("unknown score {s:?}: `probability`, `distance`, `relative` or `cosine`"),
        }
    }
}

impl std::fmt::Display for Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Score::Probability => "probability",
            Score::Distance => "distance",
            Score::Cosine => "cosine",
            Score::Relative => "relative",
        })
    }
}

/// What `trainer eval --unknown-queries U` adds.
#[derive(Clone, Copy, Debug)]
pub struct UnknownSpec {
    /// Unknown queries per episode.
    pub queries: usize,
    pub rule: Rule,
    pub score: Score,
    /// A threshold given (`--unknown-threshold`, e.g. the one a device uses): no calibration
    /// episodes; `rule` is not used.
    pub threshold: Option<f32>,
}

/// The fractions of `known` scores rejected (below `t`) and of `unknown` scores accepted (at
/// or above `t`); 0 for an empty set.
pub fn rates(known: &[f32], unknown: &[f32], t: f32) -> (f64, f64) {
    let frac = |n: usize, of: usize| n as f64 / of.max(1) as f64;
    (
        frac(known.iter().filter(|&&p| p < t).count(), known.len()),
        frac(unknown.iter().filter(|&&p| p >= t).count(), unknown.len()),
    )
}

/// The threshold `rule` picks from the known and unknown queries' scores.
pub fn choose_threshold(known: &[f32], unknown: &[f32], rule: Rule) -> Result<f32> {
    if known.is_empty() || unknown.is_empty() || known.iter().chain(unknown).any(|p| p.is_nan()) {
        bail!("a threshold needs known and unknown scores, none NaN");
    }
    let mut k = known.to_vec();
    k.sort_unstable_by(f32::total_cmp);
    if let Rule::FalseReject(f) = rule {
        // #{known < t} <= floor(f n) exactly when t <= k[floor(f n)].
        let m = ((f * k.len() as f64).floor() as usize).min(k.len() - 1);
        return Ok(k[m]);
    }
    if let Rule::FalseAccept(f) = rule {
        // #{unknown >= t} <= m = floor(f n) exactly when t > u[n - m - 1] (ascending).
        let mut u = unknown.to_vec();
        u.sort_unstable_by(f32::total_cmp);
        let m = ((f * u.len() as f64).floor() as usize).min(u.len() - 1);
        return Ok(u[u.len() - m - 1].next_up());
    }
    let mut all: Vec<f32> = known.iter().chain(unknown).copied().collect();
    all.sort_unstable_by(f32::total_cmp);
    all.dedup();
    // Below every score, between adjacent scores, above every score.
    let mut candidates = vec![all[0] - 1.0];
    candidates.extend(
        all.windows(2)
            .map(|w| ((f64::from(w[0]) + f64::from(w[1])) / 2.0) as f32),
    );
    candidates.push(all[all.len() - 1] + 1.0);
    let key = |t: f32| {
        let (fr, fa) = rates(known, unknown, t);
        (fr.max(fa), (fr - fa).abs())
    };
    candidates
        .into_iter()
        .map(|t| (key(t), t))
        .min_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(_, t)| t)
        .ok_or_else(|| anyhow!("no threshold candidates"))
}

/// One episode's scores: each known query's highest probability and whether its class was
/// right, each unknown query's highest probability.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scored {
    pub known: Vec<(f32, bool)>,
    pub unknown: Vec<f32>,
}

impl Scored {
    /// From the head's probabilities (`ways` a row): the episode's queries, then the unknown rows.
    pub fn from_probs(probs: &[f32], ep: &Episode) -> Scored {
        let best = |z: &[f32]| z.get(argmax(z)).copied().unwrap_or(0.0);
        let rows: Vec<&[f32]> = probs.chunks_exact(ep.ways.max(1)).collect();
        let (known, unknown) = rows.split_at(ep.query_y.len().min(rows.len()));
        Scored {
            known: known
                .iter()
                .zip(&ep.query_y)
                .map(|(z, &y)| (best(z), argmax(z) == y))
                .collect(),
            unknown: unknown.iter().map(|z| best(z)).collect(),
        }
    }

    /// The area under this episode's ROC curve: the chance that a known query scores above an
    /// unknown one (ties count half), whatever the threshold; None without both kinds.
    pub fn auroc(&self) -> Option<f64> {
        if self.known.is_empty() || self.unknown.is_empty() {
            return None;
        }
        let wins: f64 = self
            .known
            .iter()
            .flat_map(|k| self.unknown.iter().map(move |&u| (k.0, u)))
            .map(|(k, u)| match k.partial_cmp(&u) {
                Some(std::cmp::Ordering::Greater) => 1.0,
                Some(std::cmp::Ordering::Equal) => 0.5,
                _ => 0.0,
            })
            .sum();
        Some(wins / (self.known.len() * self.unknown.len()) as f64)
    }

    /// This episode at threshold `t`: the false-reject and false-accept rates, and the
    /// accuracy among the accepted known queries (None when none is accepted).
    pub fn at(&self, t: f32) -> (f64, f64, Option<f64>) {
        let known: Vec<f32> = self.known.iter().map(|k| k.0).collect();
        let (fr, fa) = rates(&known, &self.unknown, t);
        let accepted: Vec<bool> = self
            .known
            .iter()
            .filter(|k| k.0 >= t)
            .map(|k| k.1)
            .collect();
        let acc = (!accepted.is_empty())
            .then(|| accepted.iter().filter(|&&c| c).count() as f64 / accepted.len() as f64);
        (fr, fa, acc)
    }
}

/// `n` distinct rows of `pool`'s classes other than the episode's, as the pool shows them
/// (appended class after class, `ds.d` features each). An error when the other classes have
/// fewer rows.
pub fn draw_outside(
    pool: &Pool,
    ds: &Dataset,
    ep: &Episode,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f64>> {
    let outside: Vec<(usize, usize)> = pool
        .classes
        .iter()
        .enumerate()
        .filter(|(pc, _)| !ep.pool_class.contains(pc))
        .flat_map(|(pc, c)| c.rows.iter().map(move |&r| (pc, r)))
        .collect();
    if outside.len() < n {
        let classes = pool.classes.len();
        let fix = match (classes > ep.ways, ep.ways > 2) {
            (false, true) => format!("an episode takes every one of the {classes} classes: lower --ways, so that some are left outside"),
            (false, false) => format!("an episode takes both of the {classes} classes and --ways cannot be below 2: unknown queries need a third class (hold out more classes as novel)"),
            (true, _) => "lower --unknown-queries or --ways".to_string(),
        };
        bail!(
            "{}: {n} unknown queries per episode, but the classes outside a {}-way episode have {} rows ({fix})",
            ds.file,
            ep.ways,
            outside.len()
        );
    }
    let mut x = Vec::with_capacity(n * ds.d);
    let mut buf = Vec::new();
    for i in index::sample(rng, outside.len(), n) {
        let (pc, row) = outside[i];
        pool.push_input(ds, pc, row, rng, &mut buf, &mut x);
    }
    Ok(x)
}

/// The unknown rows of each episode of `eps` (drawn from `pool`, which the episodes come from),
/// seeded by `seed` and the shot count, in episode order.
pub fn draws(
    pool: &Pool,
    ds: &Dataset,
    eps: &[Episode],
    n: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ DRAW_SALT);
    rng.set_stream(eps.first().map_or(0, |e| e.shots) as u64);
    eps.iter()
        .map(|ep| draw_outside(pool, ds, ep, n, &mut rng))
        .collect()
}

/// Episodes with their unknown rows.
pub struct Drawn<'a> {
    pub eps: &'a [Episode],
    pub unknown: Vec<Vec<f64>>,
}

impl Drawn<'_> {
    /// Every episode scored by the model as deployed after `steps` device steps (`score`
    /// `Probability`), or by its trunk features' distances to the support prototypes.
    fn score(
        &self,
        model: &Model<'_>,
        head: usize,
        steps: usize,
        score: Score,
    ) -> Result<Vec<Scored>> {
        self.eps
            .par_iter()
            .zip(&self.unknown)
            .map(|(ep, u)| {
                let scores = match score {
                    Score::Probability => episode_probs(model, head, ep, steps, u)?,
                    _ => prototype_scores(model, ep, u, score)?,
                };
                Ok(Scored::from_probs(&scores, ep))
            })
            .collect()
    }
}

/// The trunk features (as deployed) of each row of `x` (`d` values a row).
fn trunk_features(model: &Model<'_>, x: &[f64], d: usize) -> Result<Vec<Vec<f32>>> {
    let e = |e: runtime::Error| anyhow!("runtime: {e}");
    let net = model.network();
    let mut scratch = vec![0.0f32; model.infer_scratch_len().max(2 * model.trunk_width())];
    let f = model.feature_len();
    x.chunks_exact(d.max(1))
        .map(|row| {
            let xr: Vec<f32> = row.iter().map(|&v| v as f32).collect();
            let mut out = vec![0.0f32; f];
            net.features(&xr, &mut scratch, &mut out).map_err(e)?;
            Ok(out)
        })
        .collect()
}

/// Each query's (then each unknown row's) score against each class prototype (the mean trunk
/// features of the class's support rows): minus the squared distance, or the cosine.
fn prototype_scores(
    model: &Model<'_>,
    ep: &Episode,
    extra: &[f64],
    score: Score,
) -> Result<Vec<f32>> {
    let support = trunk_features(model, &ep.support_x, ep.d)?;
    let f = model.feature_len();
    let mut protos = vec![vec![0.0f32; f]; ep.ways];
    let mut counts = vec![0usize; ep.ways];
    for (feat, &c) in support.iter().zip(&ep.support_y) {
        let (p, n) = (
            protos.get_mut(c).ok_or_else(|| anyhow!("label {c}"))?,
            &mut counts[c],
        );
        p.iter_mut().zip(feat).for_each(|(a, b)| *a += b);
        *n += 1;
    }
    for (p, &n) in protos.iter_mut().zip(&counts) {
        p.iter_mut().for_each(|v| *v /= n.max(1) as f32);
    }
    let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
    let squared = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let variance = match score {
        Score::Relative => within_class_variance(&support, &ep.support_y, &protos, squared)?,
        _ => 1.0,
    };
    let queries: Vec<f64> = ep.query_x.iter().chain(extra).copied().collect();
    let mut out = Vec::new();
    for q in trunk_features(model, &queries, ep.d)? {
        for p in &protos {
            out.push(match score {
                Score::Cosine => {
                    q.iter().zip(p).map(|(a, b)| a * b).sum::<f32>() / (norm(&q) * norm(p))
                }
                _ => -squared(&q, p) / variance,
            });
        }
    }
    Ok(out)
}

/// The support's pooled within-class variance: `sum |x - mu_c|^2 / (N - C)` over its `N`
/// samples of `C` classes (the classes of one sample add nothing to either sum).
fn within_class_variance(
    support: &[Vec<f32>],
    labels: &[usize],
    protos: &[Vec<f32>],
    squared: impl Fn(&[f32], &[f32]) -> f32,
) -> Result<f32> {
    let scatter: f32 = support
        .iter()
        .zip(labels)
        .map(|(x, &c)| squared(x, &protos[c]))
        .sum();
    let degrees = support.len().saturating_sub(protos.len());
    let variance = scatter / degrees as f32;
    if degrees == 0 || variance.is_nan() || variance <= 0.0 {
        bail!(
            "--unknown-score relative needs 2 or more shots of a class (and samples that differ)"
        );
    }
    Ok(variance)
}

/// The threshold for one (shots, steps) and what it does on the novel classes.
#[derive(Clone, Debug, Serialize)]
pub struct UnknownRow {
    pub method: String,
    pub shots: usize,
    pub steps: usize,
    /// How the threshold was chosen (`given`: `--unknown-threshold`), and on which classes.
    pub rule: String,
    /// The score thresholded: `probability`, `distance` (minus the squared distance, so a
    /// query is accepted when its distance is at most `-threshold`) or `cosine`.
    pub score: String,
    pub calibration_classes: Vec<usize>,
    /// Accept a query when its score is at least this.
    pub threshold: f32,
    /// On the calibration episodes (pooled queries), in percent (NaN for a given threshold).
    pub calibration_false_reject: f64,
    pub calibration_false_accept: f64,
    /// Novel-class episodes, unknown queries in each.
    pub episodes: usize,
    pub unknown_per_episode: usize,
    /// Means over the novel episodes in percent, and their 95% CI half-widths.
    pub false_reject: f64,
    pub false_reject_ci95: f64,
    pub false_accept: f64,
    pub false_accept_ci95: f64,
    /// Over the episodes where at least one known query was accepted (`accepted_episodes`).
    pub accepted_accuracy: f64,
    pub accepted_accuracy_ci95: f64,
    pub accepted_episodes: usize,
    /// The area under the ROC curve of known against unknown queries, per novel episode
    /// (threshold-free: how well the score separates them), mean and 95% CI in percent.
    pub auroc: f64,
    pub auroc_ci95: f64,
}

/// The rows of one shot count: for each step count, `t` chosen on `calibration` by `spec`'s
/// rule (or `spec`'s given threshold, without calibration), measured on `novel`.
pub fn evaluate(
    bytes: &[u8],
    calibration: Option<(&Drawn<'_>, &[usize])>,
    novel: &Drawn<'_>,
    steps: &[usize],
    spec: &UnknownSpec,
) -> Result<Vec<UnknownRow>> {
    let model = Model::from_bytes(bytes).map_err(|e| anyhow!("model: {e}"))?;
    let head = prototype_head(&model)?;
    let shots = novel.eps.first().map_or(0, |e| e.shots);
    // The distance and cosine read the trunk's features, which no device step changes: scored
    // once for every step count.
    let fixed = spec.score != Score::Probability;
    let once = |d: &Drawn<'_>| -> Result<Option<Vec<Scored>>> {
        Ok(match fixed {
            true => Some(d.score(&model, head, 0, spec.score)?),
            false => None,
        })
    };
    let (novel_fixed, cal_fixed) = (
        once(novel)?,
        match (spec.threshold, calibration) {
            (None, Some((cal, _))) => once(cal)?,
            _ => None,
        },
    );
    let scored = |d: &Drawn<'_>, fixed: &Option<Vec<Scored>>, s: usize| match fixed {
        Some(v) => Ok(v.clone()),
        None => d.score(&model, head, s, spec.score),
    };
    let mut rows = Vec::new();
    for &s in steps {
        let (t, (cfr, cfa), cal_classes) = match (spec.threshold, calibration) {
            (Some(t), _) => (t, (f64::NAN, f64::NAN), &[][..]),
            (None, Some((cal, classes))) => {
                let c = scored(cal, &cal_fixed, s)?;
                let known: Vec<f32> = c.iter().flat_map(|e| e.known.iter().map(|k| k.0)).collect();
                let unknown: Vec<f32> = c.iter().flat_map(|e| e.unknown.iter().copied()).collect();
                let t = choose_threshold(&known, &unknown, spec.rule)?;
                (t, rates(&known, &unknown, t), classes)
            }
            (None, None) => {
                bail!("unknown inputs: a threshold, or calibration episodes to choose it")
            }
        };
        let novel_scores = scored(novel, &novel_fixed, s)?;
        let per: Vec<(f64, f64, Option<f64>)> = novel_scores.iter().map(|e| e.at(t)).collect();
        let ci = |v: Vec<f64>| {
            let (m, h) = mean_ci(&v);
            (100.0 * m, 100.0 * h, v.len())
        };
        let (fr, fr_ci, n) = ci(per.iter().map(|p| p.0).collect());
        let (fa, fa_ci, _) = ci(per.iter().map(|p| p.1).collect());
        let (acc, acc_ci, acc_n) = ci(per.iter().filter_map(|p| p.2).collect());
        let (auroc, auroc_ci, _) = ci(novel_scores.iter().filter_map(Scored::auroc).collect());
        rows.push(UnknownRow {
            method: format!("model ({})", spec.score),
            shots,
            steps: s,
            rule: match spec.threshold {
                Some(_) => "given".to_string(),
                None => spec.rule.to_string(),
            },
            score: spec.score.to_string(),
            calibration_classes: cal_classes.to_vec(),
            threshold: t,
            calibration_false_reject: 100.0 * cfr,
            calibration_false_accept: 100.0 * cfa,
            episodes: n,
            unknown_per_episode: spec.queries,
            false_reject: fr,
            false_reject_ci95: fr_ci,
            false_accept: fa,
            false_accept_ci95: fa_ci,
            accepted_accuracy: acc,
            accepted_accuracy_ci95: acc_ci,
            accepted_episodes: acc_n,
            auroc,
            auroc_ci95: auroc_ci,
        });
    }
    Ok(rows)
}

/// The calibration pool: the validation pool's unrotated classes (all of them when every
/// validation class is rotated), so that its episodes are built as the novel ones are. When
/// they are too few for `ways`-way episodes of `need` rows a class with another class left
/// over as unknown, also `seen`: the held-out rows of the trunk's own training classes.
pub fn calibration_pool(val: &Pool, seen: Option<&Pool>, ways: usize, need: usize) -> Pool {
    let unrotated = |p: &Pool| {
        let mut p = p.clone();
        if p.classes.iter().any(|c| c.rot == 0) {
            p.classes.retain(|c| c.rot == 0);
        }
        p
    };
    let fits = |p: &Pool| {
        p.classes.len() > ways && p.classes.iter().filter(|c| c.rows.len() >= need).count() >= ways
    };
    let mut pool = unrotated(val);
    if let Some(s) = seen.filter(|_| !fits(&pool)) {
        pool.classes.extend(unrotated(s).classes);
    }
    pool
}

/// A rate in percent with two decimals, `-` when there is none (a given threshold).
fn percent(v: f64) -> String {
    if v.is_nan() {
        "-".to_string()
    } else {
        format!("{v:.2}")
    }
}

/// The unknown-input table printed under the accuracy table.
pub fn table(rows: &[UnknownRow], ds: &super::data::Dataset) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let how = if first.rule == "given" {
        "t given (--unknown-threshold)".to_string()
    } else {
        format!(
            "t chosen by rule {} on episodes of classes {} (never the novel ones)",
            first.rule,
            ds.describe_classes(&first.calibration_classes)
        )
    };
    let mut s = format!(
        "unknown inputs: {} unknown queries per episode from the pool's other classes; a query is accepted when its score ({}) >= t, {how}; rates on the novel classes in %, 95% CI over episodes:\n",
        first.unknown_per_episode, first.score
    );
    // The method column as wide as its longest name (`model (distance)`).
    let w = rows
        .iter()
        .map(|r| r.method.len())
        .max()
        .unwrap_or(0)
        .max(8);
    s += &format!(
        "{:<w$} {:>5} {:>6} {:>11} {:>9} {:>9} {:>15} {:>15} {:>17} {:>15}\n",
        "method",
        "shots",
        "steps",
        "t",
        "cal FR",
        "cal FA",
        "false reject",
        "false accept",
        "acc of accepted",
        "AUROC"
    );
    for r in rows {
        s += &format!(
            "{:<w$} {:>5} {:>6} {:>11} {:>9} {:>9} {:>8.2} +- {:>4.2} {:>8.2} +- {:>4.2} {:>10.2} +- {:>4.2} {:>8.2} +- {:>4.2}\n",
            r.method,
            r.shots,
            r.steps,
            r.threshold,
            percent(r.calibration_false_reject),
            percent(r.calibration_false_accept),
            r.false_reject,
            r.false_reject_ci95,
            r.false_accept,
            r.false_accept_ci95,
            r.accepted_accuracy,
            r.accepted_accuracy_ci95,
            r.auroc,
            r.auroc_ci95
        );
    }
    if rows
        .iter()
        .any(|r| r.rule == "eer" && r.calibration_false_reject >= 45.0)
    {
        s += "note: an equal error rate near or above 50% on the calibration classes: there the highest probability barely tells unknown inputs from known ones (a prototype head is confident on inputs far from every prototype)\n";
    }
    for r in rows
        .iter()
        .filter(|r| (r.auroc - 50.0).abs() <= r.auroc_ci95)
    {
        s += &format!(
            "note: {} at {} shots, {} steps: AUROC {:.1} +- {:.1} holds chance (50): on the novel classes its score does not tell unknown inputs from known ones, whatever the threshold\n",
            r.method, r.shots, r.steps, r.auroc, r.auroc_ci95
        );
    }
    // "Accuracy of accepted" over a handful of episodes says little (100.00 +- 0.00 from 5
    // episodes that accepted anything at all): each such row is named with its count.
    for r in rows.iter().filter(|r| r.accepted_episodes < r.episodes / 4) {
        s += &format!(
            "note: {} at {} shots, {} steps: only {} of {} episodes accepted a known query (false reject {:.1}%): its accuracy of accepted rests on those {} episodes\n",
            r.method, r.shots, r.steps, r.accepted_episodes, r.episodes, r.false_reject, r.accepted_episodes
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(auroc: f64, accepted_episodes: usize) -> UnknownRow {
        UnknownRow {
            method: "model (probability)".into(),
            shots: 5,
            steps: 0,
            rule: "given".into(),
            score: "probability".into(),
            calibration_classes: Vec::new(),
            threshold: 0.8,
            calibration_false_reject: f64::NAN,
            calibration_false_accept: f64::NAN,
            episodes: 100,
            unknown_per_episode: 10,
            false_reject: 97.0,
            false_reject_ci95: 1.0,
            false_accept: 2.0,
            false_accept_ci95: 1.0,
            accepted_accuracy: 100.0,
            accepted_accuracy_ci95: 0.0,
            accepted_episodes,
            auroc,
            auroc_ci95: 4.0,
        }
    }

    /// A row whose accuracy of accepted rests on a few episodes, or whose AUROC holds chance,
    /// is said to be so under the table; a separating score on many episodes is not.
    #[test]
    fn thin_or_chance_rows_are_noted() {
        let ds = crate::classify::data::Dataset {
            d: 1,
            x: Vec::new(),
            labels: Vec::new(),
            lines: Vec::new(),
            file: "f.csv".into(),
            sha256: String::new(),
            columns: Vec::new(),
            class_names: Vec::new(),
            subjects: Vec::new(),
            subject_names: Vec::new(),
        };
        let t = table(&[row(52.0, 3)], &ds);
        assert!(
            t.contains("only 3 of 100 episodes accepted a known query"),
            "{t}"
        );
        assert!(t.contains("AUROC 52.0 +- 4.0 holds chance"), "{t}");
        let t = table(&[row(80.0, 90)], &ds);
        assert!(!t.contains("note:"), "{t}");
    }
}
