//! Task relatedness: the cosine of the heads' loss gradients on the shared trunk, averaged over
//! batches, measured after a short joint training; and the transfer gain of training a pair of
//! heads together vs. each alone (same seed, same batches, same budget).

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
    /// (mean, standard deviation) of the trunk-gradient cosine over batches, per pair.
    pub cos: Vec<Vec<(f64, f64)>>,
    /// Validation loss (and accuracy) of each head trained alone.
    pub alone: Vec<Metric>,
    /// `gain[i][j]`: relative drop of head i's validation loss, in percent, when trained
    /// together with head j instead of alone (diagonal 0); None when not measured.
    pub gain: Option<Vec<Vec<f64>>>,
    /// Head i's validation (loss, accuracy) when trained with head j.
    pub pair: Option<Vec<Vec<Metric>>>,
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

/// Trunk-gradient cosines at parameters `p`, over `batches` batches (each head's own batch
/// `b`, drawn from its training data).
pub fn cosines(cfg: &MtConfig, heads: &[Head], p: &Params, batches: usize) -> Vec<Vec<(f64, f64)>> {
    let n = heads.len();
    let nt = p.trunk.len();
    let mut per = vec![vec![Vec::new(); n]; n];
    for b in 0..batches as u64 {
        let g: Vec<Vec<f64>> = heads
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let bt = batch(h, cfg, cfg.seed ^ 0xc05, b, false);
                head_grad(h, &p.theta(i), &p.u[i], &bt).1[..nt].to_vec()
            })
            .collect();
        for i in 0..n {
            for j in 0..n {
                per[i][j].push(cosine(&g[i], &g[j]));
            }
        }
    }
    per.iter()
        .map(|row| {
            row.iter()
                .map(|v| {
                    let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
                    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>()
                        / (v.len().max(2) - 1) as f64;
                    (m, var.sqrt())
                })
                .collect()
        })
        .collect()
}

fn subset(cfg: &MtConfig, keep: &[usize]) -> MtConfig {
    let mut c = cfg.clone();
    c.heads = keep.iter().map(|&i| cfg.heads[i].clone()).collect();
    c.iterations = cfg.relatedness.budget.max(1);
    c.val_every = c.iterations;
    c
}

/// Cosines after `budget` iterations of joint training (at the initial weights with budget 0),
/// and, with `transfer`, the pairwise transfer gains.
pub fn measure(cfg: &MtConfig, base: &Path, transfer: bool) -> Result<Report> {
    let heads = build_heads(cfg, base)?;
    let names: Vec<String> = heads.iter().map(|h| h.cfg.name.clone()).collect();
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
    let (gain, pair) = if transfer && budget > 0 {
        let mut gain = vec![vec![0.0; n]; n];
        let mut pair = vec![alone.clone(); n];
        for i in 0..n {
            for j in i + 1..n {
                let r = run(&[i, j])?;
                pair[i][j] = r[0];
                pair[j][i] = r[1];
                gain[i][j] = 100.0 * (alone[i].0 - r[0].0) / alone[i].0.max(1e-12);
                gain[j][i] = 100.0 * (alone[j].0 - r[1].0) / alone[j].0.max(1e-12);
            }
        }
        (Some(gain), Some(pair))
    } else {
        (None, None)
    };
    Ok(Report {
        names,
        batches: cfg.relatedness.batches,
        budget,
        cos,
        alone,
        gain,
        pair,
    })
}

pub fn table(r: &Report) -> String {
    let mut s = format!(
        "trunk-gradient cosine, mean +- sd over {} batches, after {} joint iterations:\n",
        r.batches, r.budget
    );
    s += &format!("{:<16}", "");
    for n in &r.names {
        s += &format!(" {:>16}", n);
    }
    s += "\n";
    for (i, row) in r.cos.iter().enumerate() {
        s += &format!("{:<16}", r.names[i]);
        for (m, sd) in row {
            s += &format!(" {:>16}", format!("{m:+.3} +- {sd:.3}"));
        }
        s += "\n";
    }
    if let (Some(g), Some(p)) = (&r.gain, &r.pair) {
        s += &format!(
            "\ntransfer gain ({} iterations each, same seed): head (row) val loss alone -> with column head (% drop; acc)\n",
            r.budget
        );
        s += &format!("{:<16} {:>18}", "", "alone");
        for n in &r.names {
            s += &format!(" {:>24}", n);
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
                    format!("{:.4} ({:+.1}%){}", p[i][j].0, g[i][j], acc(p[i][j].1))
                };
                s += &format!(" {:>24}", cell);
            }
            s += "\n";
        }
    }
    s
}
