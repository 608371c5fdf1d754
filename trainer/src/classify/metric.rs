//! A fixed input metric fitted on the meta-training classes, and the leave-classes-out
//! cross-validation that chooses it.
//!
//! The covariance power metric: `C` the (centred, trace-normalised) covariance of the normalised
//! images of the meta-training pool (every rotation class included, so `C` is symmetric under the
//! rotations), `A = C^p = V diag(lambda^p) V^T`, features `A x + c`. The prototype head's squared
//! distance is then `(x - mu)^T C^{2p} (x - mu)`: `p = 0` is the input metric; `p > 0` weighs the
//! directions in which images of the base classes vary (strokes, smooth shapes) above the
//! pixel-level noise, a data-fitted smoothing. The trunk represents it exactly: layer 0 is
//! `A x + c` with `c_i = sum_j max(0, -A_ij) x_max + 0.01` so that no ReLU clips for inputs in
//! `[0, x_max]` (prototype distances do not see a constant offset), later layers the identity.
//!
//! The power is chosen by leave-`h`-classes-out cross-validation over the meta-training classes:
//! each fold fits `C` on the other classes (with their rotations) and scores the prototype head on
//! episodes of the `h` held-out classes only: `ways`-way episodes over the held-out classes and their
//! rotations (classes the fit never saw), and `h`-way episodes of the upright held-out classes.
//! Classes outside the meta-training set are never touched.

use super::config::ClsConfig;
use super::data::Dataset;
use super::episodes::{transform, Augment, Episode, Pool};
use super::proto::ProtoSpec;
use super::setup::Setup;
use super::train::episode_accuracies;
use crate::net::Arch;
use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Eigen-decomposition of a symmetric `n x n` matrix (row-major), by nalgebra's symmetric
/// eigensolver: (eigenvalues, eigenvectors as the columns of a row-major `n x n` matrix).
pub fn sym_eig(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let m = nalgebra::DMatrix::from_row_slice(n, n, a);
    let e = nalgebra::SymmetricEigen::new(m);
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            v[i * n + k] = e.eigenvectors[(i, k)];
        }
    }
    (e.eigenvalues.iter().copied().collect(), v)
}

/// Centred covariance of the pool's normalised images (each class seen through its rotation),
/// scaled to trace `d`.
pub fn pool_covariance(ds: &Dataset, pool: &Pool, input_scale: f64) -> Vec<f64> {
    let d = ds.d;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut buf = Vec::new();
    for c in &pool.classes {
        for &r in &c.rows {
            let x: Vec<f64> = match pool.side {
                Some(side) if c.rot != 0 => {
                    transform(ds.row(r), side, c.rot, 0, 0, &mut buf);
                    buf.clone()
                }
                _ => ds.row(r).to_vec(),
            };
            rows.push(x.iter().map(|v| v * input_scale).collect());
        }
    }
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0.0; d];
    for x in &rows {
        for j in 0..d {
            mean[j] += x[j] / n;
        }
    }
    let mut cov = vec![0.0; d * d];
    for x in &rows {
        for i in 0..d {
            let xi = x[i] - mean[i];
            for j in 0..d {
                cov[i * d + j] += xi * (x[j] - mean[j]) / n;
            }
        }
    }
    let tr: f64 = (0..d).map(|i| cov[i * d + i]).sum();
    if tr > 0.0 {
        for v in &mut cov {
            *v *= d as f64 / tr;
        }
    }
    cov
}

/// `C^p` for a symmetric positive semi-definite `C` (eigenvalues floored at 1e-6).
pub fn matrix_power(cov: &[f64], d: usize, p: f64) -> Vec<f64> {
    let (w, v) = sym_eig(cov, d);
    let g: Vec<f64> = w.iter().map(|&l| l.max(1e-6).powf(p)).collect();
    let mut a = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            a[i * d + j] = (0..d).map(|k| v[i * d + k] * g[k] * v[j * d + k]).sum();
        }
    }
    a
}

/// Trunk parameters computing `A x + c` (layer 0; later layers the identity), exactly through
/// the ReLUs for normalised inputs in `[0, x_max]`. `None` if the layers are not all `d x d`.
pub fn metric_trunk(arch: &Arch, a: &[f64], x_max: f64) -> Option<Vec<f64>> {
    let d = arch.inputs;
    if arch.layers.iter().any(|s| s.inputs != d || s.outputs != d) || a.len() != d * d {
        return None;
    }
    let mut p = vec![0.0; arch.n_params()];
    for l in 0..arch.layers.len() {
        let (w, b) = (arch.w_off(l), arch.b_off(l));
        if l == 0 {
            p[w..b].copy_from_slice(a);
            for i in 0..d {
                let neg: f64 = a[i * d..(i + 1) * d].iter().map(|v| (-v).max(0.0)).sum();
                p[b + i] = neg * x_max + 0.01;
            }
        } else {
            for i in 0..d {
                p[w + i * d + i] = 1.0;
            }
        }
    }
    Some(p)
}

/// The covariance-power trunk fitted on a pool (`p = 0`: the plain identity start).
pub fn fit_trunk(ds: &Dataset, pool: &Pool, arch: &Arch, p: f64) -> Option<Vec<f64>> {
    let d = ds.d;
    let x_max = ds.x.iter().fold(0.0f64, |m, &v| m.max(v)) * arch.scale[0];
    let a = if p == 0.0 {
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            a[i * d + i] = 1.0;
        }
        a
    } else {
        matrix_power(&pool_covariance(ds, pool, arch.scale[0]), d, p)
    };
    metric_trunk(arch, &a, x_max)
}

/// One cross-validation fold: the meta-training classes it fits on, and its validation episode
/// sets (held-out classes only).
pub struct Fold {
    pub held_out: Vec<usize>,
    pub fit: Pool,
    pub sets: Vec<Vec<Episode>>,
}

/// Names of the validation episode sets of every fold, in order.
pub fn set_names(cfg: &ClsConfig) -> Vec<String> {
    let mut v = Vec::new();
    if cfg.rotations {
        v.extend(
            cfg.shots
                .iter()
                .map(|k| format!("{}-way {k}-shot held-out classes+rotations", cfg.ways)),
        );
    }
    v.extend(
        cfg.shots
            .iter()
            .map(|k| format!("{}-way {k}-shot held-out classes", cfg.cv_holdout)),
    );
    v
}

/// The first line of a cross-validation table on stderr.
pub fn print_header(
    cfg: &ClsConfig,
    what: &str,
    folds: usize,
    episodes: usize,
    t0: std::time::Instant,
) {
    eprintln!(
        "{what}leave-{}-classes-out cross-validation over {:?} ({folds} folds, {episodes} episodes per set; sets: {}), {:.1} s:",
        cfg.cv_holdout,
        cfg.train_classes,
        set_names(cfg).join(", "),
        t0.elapsed().as_secs_f64()
    );
}

/// Accuracies as percentages, space-separated.
pub fn percents(acc: &[f64]) -> String {
    acc.iter()
        .map(|a| format!("{:.2}", 100.0 * a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every way of holding out `h` of `n` items (lexicographic).
fn combinations(n: usize, h: usize) -> Vec<Vec<usize>> {
    fn rec(start: usize, n: usize, h: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == h {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            rec(i + 1, n, h, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    rec(0, n, h, &mut Vec::new(), &mut out);
    out
}

/// The leave-`cv_holdout`-classes-out folds over the meta-training classes.
pub fn folds(cfg: &ClsConfig, setup: &Setup) -> Result<Vec<Fold>> {
    let h = cfg.cv_holdout;
    let base = &setup.split.train;
    if h < 2 || h >= base.len() {
        bail!(
            "cv_holdout = {h}: need 2 <= cv_holdout < {} meta-training classes",
            base.len()
        );
    }
    let all_rows = |i: usize| -> (usize, Vec<usize>) {
        let mut r = base[i].1.clone();
        r.extend_from_slice(&setup.split.val[i].1);
        r.sort_unstable();
        (base[i].0, r)
    };
    let mut out = Vec::new();
    for (f, held) in combinations(base.len(), h).into_iter().enumerate() {
        let fit_classes: Vec<(usize, Vec<usize>)> = (0..base.len())
            .filter(|i| !held.contains(i))
            .map(|i| base[i].clone())
            .collect();
        let held_rows: Vec<(usize, Vec<usize>)> = held.iter().map(|&i| all_rows(i)).collect();
        let fit = Pool::new(
            &setup.ds,
            setup.side,
            &fit_classes,
            cfg.rotations,
            Augment::default(),
        )?;
        let mut pools = Vec::new();
        if cfg.rotations {
            let p = Pool::new(&setup.ds, setup.side, &held_rows, true, Augment::default())?;
            if p.classes.len() < cfg.ways {
                bail!(
                    "cv_holdout = {h}: {} held-out classes with rotations, fewer than ways = {}",
                    p.classes.len(),
                    cfg.ways
                );
            }
            pools.extend(cfg.shots.iter().map(|&k| (p.clone(), cfg.ways, k)));
        }
        let up = Pool::new(&setup.ds, setup.side, &held_rows, false, Augment::default())?;
        pools.extend(cfg.shots.iter().map(|&k| (up.clone(), h, k)));
        // 15 queries per class, as the test episodes, or what the smallest held-out class allows.
        let fewest = held_rows.iter().map(|(_, r)| r.len()).min().unwrap_or(0);
        let shots = cfg.shots.iter().copied().max().unwrap_or(1);
        let query = 15.min(fewest.saturating_sub(shots));
        if query == 0 {
            bail!("cv: a held-out class has {fewest} rows, too few for {shots} shots and a query");
        }
        let mut sets = Vec::new();
        for (s, (pool, ways, k)) in pools.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xc0_55_f0_1d);
            rng.set_stream((f * 64 + s) as u64);
            sets.push(
                (0..cfg.cv_episodes)
                    .map(|_| pool.sample(&setup.ds, *ways, *k, query, &mut rng))
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        out.push(Fold {
            held_out: held.iter().map(|&i| base[i].0).collect(),
            fit,
            sets,
        });
    }
    Ok(out)
}

/// Cross-validated accuracy of one candidate, per validation set (mean over folds).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CvRow {
    /// Covariance power (0 = the input metric).
    pub power: f64,
    /// Device prototype scale, rate and steps.
    pub device: ProtoSpec,
    /// Accuracy per validation set (see `set_names`), mean over folds.
    pub acc: Vec<f64>,
    /// Mean of `acc`: the selection score.
    pub score: f64,
    /// Per validation set: accuracy of every episode (all folds), for paired comparisons.
    #[serde(skip)]
    pub episodes: Vec<Vec<f64>>,
}

impl CvRow {
    /// A 0-step row (prototypes only): the rows the power is chosen on.
    pub fn steps_free(&self) -> bool {
        self.device.steps == 0
    }

    /// Whether this row is no worse than `base` on any validation set, within one standard error
    /// of the paired (same episodes) difference.
    pub fn never_below(&self, base: &CvRow) -> bool {
        never_below(&self.episodes, &base.episodes)
    }
}

/// The first of the highest-scoring items (ties keep the earlier one).
pub fn first_best<'a, T>(
    items: impl Iterator<Item = &'a T>,
    score: impl Fn(&T) -> f64,
) -> Option<&'a T> {
    items.fold(None, |b, r| match b {
        Some(b) if score(b) >= score(r) - 1e-12 => Some(b),
        _ => Some(r),
    })
}

/// Per validation set, the mean accuracy over its episodes; and their mean, the selection score.
pub fn set_means(episodes: &[Vec<f64>]) -> (Vec<f64>, f64) {
    let acc: Vec<f64> = episodes
        .iter()
        .map(|e| e.iter().sum::<f64>() / e.len().max(1) as f64)
        .collect();
    let score = acc.iter().sum::<f64>() / acc.len().max(1) as f64;
    (acc, score)
}

/// Whether per-set episode accuracies `a` are no worse than `b` (the same episodes) on any set,
/// within one standard error of the paired difference.
pub fn never_below(a: &[Vec<f64>], b: &[Vec<f64>]) -> bool {
    a.iter().zip(b).all(|(a, b)| {
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        let n = d.len().max(2) as f64;
        let m = d.iter().sum::<f64>() / n;
        let var = d.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        m >= -(var / n).sqrt()
    })
}

/// Cross-validated accuracy of every (power, device setting) pair: trunks fitted per fold once per
/// power, every device setting scored on the same episodes.
pub fn cross_validate(
    setup: &Setup,
    arch: &Arch,
    folds: &[Fold],
    powers: &[f64],
    devices: &[ProtoSpec],
) -> Result<Vec<CvRow>> {
    let mut rows = Vec::new();
    for &p in powers {
        let trunks: Vec<Vec<f64>> = folds
            .iter()
            .map(|f| fit_trunk(&setup.ds, &f.fit, arch, p))
            .collect::<Option<_>>()
            .ok_or_else(|| anyhow::anyhow!("the covariance metric needs square trunk layers"))?;
        for spec in devices {
            let nsets = folds.first().map_or(0, |f| f.sets.len());
            let mut episodes = vec![Vec::new(); nsets];
            for (f, params) in folds.iter().zip(&trunks) {
                for (s, eps) in f.sets.iter().enumerate() {
                    episodes[s].extend(episode_accuracies(arch, params, eps, spec));
                }
            }
            let (acc, score) = set_means(&episodes);
            rows.push(CvRow {
                power: p,
                device: *spec,
                acc,
                score,
                episodes,
            });
        }
    }
    Ok(rows)
}
