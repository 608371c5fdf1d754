//! Task relatedness: the cosine of the heads' loss gradients on the shared trunk, each averaged
//! over batches first, measured after a short joint training; and the transfer gain of training
//! a pair of heads together vs. each alone (same seed, same batches, same budget). Everything is
//! repeated over `seeds` seeds (initialisation and batches), so an effect can be told from the
//! noise of one run: cosines and gains give their spread across seeds.

use super::config::MtConfig;
use super::{batch, build_heads, head_grad, train, validate, Head, Params};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// A head's validation (loss, accuracy of classification heads).
pub type Metric = (f64, Option<f64>);

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub names: Vec<String>,
    pub batches: usize,
    pub budget: u64,
    /// Seeds every measurement was repeated with.
    pub seeds: usize,
    /// (mean, standard deviation across seeds) of the cosine between two heads' mean trunk
    /// gradients ([`cosines`]); the diagonal is each head's reliability.
    pub cos: Vec<Vec<(f64, f64)>>,
    /// Validation loss (and accuracy) of each head trained alone, mean over seeds.
    pub alone: Vec<Metric>,
    /// `gain[i][j]`: relative drop of head i's validation loss, in percent, when trained
    /// together with head j instead of alone (diagonal 0), mean over seeds; None when not
    /// measured.
    pub gain: Option<Vec<Vec<f64>>>,
    /// Standard deviation of `gain` across seeds (0 with one seed).
    pub gain_sd: Option<Vec<Vec<f64>>>,
    /// Head i's validation (loss, accuracy) when trained with head j, mean over seeds.
    pub pair: Option<Vec<Vec<Metric>>>,
}

/// (mean, sample standard deviation; 0 for fewer than two values).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
    if v.len() < 2 {
        return (m, 0.0);
    }
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64;
    (m, var.sqrt())
}

/// Mean of (loss, accuracy) pairs.
fn mean_metric(v: &[Metric]) -> Metric {
    let l = mean_sd(&v.iter().map(|m| m.0).collect::<Vec<_>>()).0;
    let a: Option<Vec<f64>> = v.iter().map(|m| m.1).collect();
    (l, a.map(|a| mean_sd(&a).0))
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na > 0.0 && nb > 0.0 {
        dot / (na * nb)
    } else {
        0.0
    }
}

/// Trunk-gradient cosines at parameters `p` (one seed): each head's loss gradient with respect
/// to the trunk, averaged over `batches` batches of its training data (batch `b` drawn as for
/// training), then the cosine of every pair of those means. A single batch's gradient is mostly
/// its rows' noise, so per-batch cosines sit near 0 for any pair, two copies of one task
/// included; the mean keeps what the batches share. The diagonal is the head's reliability at
/// this many batches: the cosine `r` of the mean over its even batches with the mean over its
/// odd ones, stepped up to the whole mean (Spearman-Brown, `2r / (1 + r)`: with gradients
/// `s + noise`, the cosine of two whole means of one signal). Two heads of one task read about
/// the geometric mean of their diagonals; unrelated ones about 0.
pub fn cosines(cfg: &MtConfig, heads: &[Head], p: &Params, batches: usize) -> Vec<Vec<f64>> {
    let nt = p.trunk.len();
    // (sum over all batches, over even batches, over odd batches) per head: means up to a
    // scale, which a cosine does not see.
    let means: Vec<[Vec<f64>; 3]> = heads
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut m = [vec![0.0; nt], vec![0.0; nt], vec![0.0; nt]];
            let theta = p.theta(i);
            for b in 0..batches as u64 {
                let bt = batch(h, cfg, cfg.seed ^ 0xc05, b, false);
                let g = head_grad(h, &theta, &p.u[i], &bt).1;
                let half = 1 + (b % 2) as usize;
                for (k, x) in g[..nt].iter().enumerate() {
                    m[0][k] += x;
                    m[half][k] += x;
                }
            }
            m
        })
        .collect();
    (0..heads.len())
        .map(|i| {
            (0..heads.len())
                .map(|j| match i == j {
                    true if batches >= 2 => spearman_brown(cosine(&means[i][1], &means[i][2])),
                    true => f64::NAN,
                    false => cosine(&means[i][0], &means[j][0]),
                })
                .collect()
        })
        .collect()
}

/// The Spearman-Brown step from a split-half cosine `r` to the whole mean's: `2r / (1 + r)`
/// (NaN for `r <= -1`).
fn spearman_brown(r: f64) -> f64 {
    if r > -1.0 {
        2.0 * r / (1.0 + r)
    } else {
        f64::NAN
    }
}

fn subset(cfg: &MtConfig, keep: &[usize]) -> MtConfig {
    let mut c = cfg.clone();
    c.heads = keep.iter().map(|&i| cfg.heads[i].clone()).collect();
    c.iterations = cfg.relatedness.budget.max(1);
    c.val_every = c.iterations;
    c
}

/// One seed's measurement: the cosines of mean gradients, alone metrics, and (with `transfer`)
/// each pair's metrics `pair[i][j]` (head i trained with head j).
struct Run {
    cos: Vec<Vec<f64>>,
    alone: Vec<Metric>,
    pair: Option<Vec<Vec<Metric>>>,
}

fn measure_one(cfg: &MtConfig, base: &Path, transfer: bool) -> Result<Run> {
    let heads = build_heads(cfg, base)?;
    let stop = AtomicBool::new(false);
    let budget = cfg.relatedness.budget;
    let p = if budget == 0 {
        Params::init(cfg, &heads)
    } else {
        let c = subset(cfg, &(0..heads.len()).collect::<Vec<_>>());
        train(&c, &heads, &stop, false)?.params
    };
    let cos = cosines(cfg, &heads, &p, cfg.relatedness.batches);
    let n = heads.len();
    let run = |keep: &[usize]| -> Result<Vec<Metric>> {
        let c = subset(cfg, keep);
        let hs = build_heads(&c, base)?;
        let t = train(&c, &hs, &stop, false)?;
        let (l, a) = validate(&c, &hs, &t.params);
        Ok(l.into_iter().zip(a).collect())
    };
    let mut alone = Vec::new();
    for i in 0..n {
        alone.push(run(&[i])?[0]);
    }
    let pair = if transfer && budget > 0 {
        let mut pair = vec![alone.clone(); n];
        let pairs = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j)));
        for (i, j) in pairs {
            let r = run(&[i, j])?;
            pair[i][j] = r[0];
            pair[j][i] = r[1];
        }
        Some(pair)
    } else {
        None
    };
    Ok(Run { cos, alone, pair })
}

/// Cosines after `budget` iterations of joint training (at the initial weights with budget 0),
/// and, with `transfer`, the pairwise transfer gains; each repeated for seeds `seed`,
/// `seed + 1`, .. (`[relatedness] seeds`).
pub fn measure(cfg: &MtConfig, base: &Path, transfer: bool) -> Result<Report> {
    let names: Vec<String> = cfg.heads.iter().map(|h| h.name.clone()).collect();
    let n = names.len();
    let seeds = cfg.relatedness.seeds.max(1);
    let runs = (0..seeds as u64)
        .map(|s| {
            let c = MtConfig {
                seed: cfg.seed.wrapping_add(s),
                ..cfg.clone()
            };
            measure_one(&c, base, transfer)
        })
        .collect::<Result<Vec<Run>>>()?;
    let cos = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| mean_sd(&runs.iter().map(|r| r.cos[i][j]).collect::<Vec<_>>()))
                .collect()
        })
        .collect();
    let alone: Vec<Metric> = (0..n)
        .map(|i| mean_metric(&runs.iter().map(|r| r.alone[i]).collect::<Vec<_>>()))
        .collect();
    let pairs: Option<Vec<&Vec<Vec<Metric>>>> = runs.iter().map(|r| r.pair.as_ref()).collect();
    let (gain, gain_sd, pair) = match pairs {
        Some(ps) if transfer => {
            // Per seed: the drop of head i's loss with head j vs. alone, in that seed's run.
            let g = |i: usize, j: usize| -> (f64, f64) {
                if i == j {
                    return (0.0, 0.0);
                }
                let v: Vec<f64> = runs
                    .iter()
                    .zip(&ps)
                    .map(|(r, p)| 100.0 * (r.alone[i].0 - p[i][j].0) / r.alone[i].0.max(1e-12))
                    .collect();
                mean_sd(&v)
            };
            let gm = (0..n)
                .map(|i| (0..n).map(|j| g(i, j).0).collect())
                .collect();
            let gs = (0..n)
                .map(|i| (0..n).map(|j| g(i, j).1).collect())
                .collect();
            let pm = (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| mean_metric(&ps.iter().map(|p| p[i][j]).collect::<Vec<_>>()))
                        .collect()
                })
                .collect();
            (Some(gm), Some(gs), Some(pm))
        }
        _ => (None, None, None),
    };
    Ok(Report {
        names,
        batches: cfg.relatedness.batches,
        budget: cfg.relatedness.budget,
        seeds,
        cos,
        alone,
        gain,
        gain_sd,
        pair,
    })
}

pub fn table(r: &Report) -> String {
    let mut s = format!(
        "trunk-gradient cosine of the heads' mean gradients over {} batches, mean +- sd over {} seed(s), after {} joint iterations\n(diagonal: each head's reliability, its even batches against its odd ones stepped up to all of them: two heads of one task read about the geometric mean of theirs, unrelated ones about 0):\n",
        r.batches, r.seeds, r.budget
    );
    s += &format!("{:<16}", "");
    for n in &r.names {
        s += &format!(" {:>16}", n);
    }
    s += "\n";
    for (i, row) in r.cos.iter().enumerate() {
        s += &format!("{:<16}", r.names[i]);
        for (m, sd) in row {
            let cell = match m.is_nan() {
                true => "n/a".to_string(),
                false => format!("{m:+.3} +- {sd:.3}"),
            };
            s += &format!(" {:>16}", cell);
        }
        s += "\n";
    }
    if let (Some(g), Some(gsd), Some(p)) = (&r.gain, &r.gain_sd, &r.pair) {
        s += &format!(
            "\ntransfer gain ({} iterations each, mean over {} seed(s)): head (row) val loss alone -> with column head (% drop: the mean of each seed's own drop, not the drop between the mean losses shown, +- sd across seeds; acc)\n",
            r.budget, r.seeds
        );
        s += &format!("{:<16} {:>18}", "", "alone");
        for n in &r.names {
            s += &format!(" {:>30}", n);
        }
        s += "\n";
        for i in 0..r.names.len() {
            let (l, a) = r.alone[i];
            let acc = |a: Option<f64>| a.map_or(String::new(), |a| format!(" {:.1}%", 100.0 * a));
            s += &format!("{:<16} {:>18}", r.names[i], format!("{l:.4}{}", acc(a)));
            for j in 0..r.names.len() {
                let cell = if i == j {
                    "-".to_string()
                } else {
                    format!(
                        "{:.4} ({:+.1} +- {:.1}%){}",
                        p[i][j].0,
                        g[i][j],
                        gsd[i][j],
                        acc(p[i][j].1)
                    )
                };
                s += &format!(" {:>30}", cell);
            }
            s += "\n";
        }
    }
    s
}
