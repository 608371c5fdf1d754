//! Joint training of trunk and heads: parameters, loss weights, validation points, and the
//! resumable training loop (checkpoints, Ctrl-C, --stop-after).

use super::config::{MtConfig, WeightSpec};
use super::heads::{batch, head_eval, head_grad, Head};
use crate::engine::optim::{Adam, Optimiser};
use crate::engine::{self, Checkpoints, Flow, Job, RunSettings, Trainable};
use crate::meta::init_rates;
use anyhow::{bail, Result};
use indicatif::ProgressBar;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Parameters of a multi-task model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Params {
    /// Trunk parameters.
    pub trunk: Vec<f64>,
    /// Each head's own layers.
    pub heads: Vec<Vec<f64>>,
    /// Learned-rate parameters of each head (empty for fixed heads).
    pub u: Vec<Vec<f64>>,
    /// Log-variances of the uncertainty weighting (0 for fixed weights).
    pub s: Vec<f64>,
}

impl Params {
    pub fn init(cfg: &MtConfig, heads: &[Head]) -> Self {
        let Some(h0) = heads.first() else {
            return Params {
                trunk: vec![],
                heads: vec![],
                u: vec![],
                s: vec![],
            };
        };
        let mut trunk_arch = h0.arch.clone();
        trunk_arch.layers.truncate(trunk_arch.n_trunk);
        let nt = trunk_arch.n_params();
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let full = h0.arch.init_params(&mut rng);
        let trunk = full[..nt].to_vec();
        let hp = heads
            .iter()
            .map(|h| {
                let mut r = ChaCha8Rng::seed_from_u64(cfg.seed ^ h.key);
                h.arch.init_params(&mut r)[nt..].to_vec()
            })
            .collect();
        let u = heads
            .iter()
            .map(|h| {
                if h.cfg.adaptable {
                    init_rates(&h.arch, &h.spec)
                } else {
                    vec![]
                }
            })
            .collect();
        Params {
            trunk,
            heads: hp,
            u,
            s: vec![0.0; heads.len()],
        }
    }
    pub fn theta(&self, h: usize) -> Vec<f64> {
        let mut t = self.trunk.clone();
        t.extend_from_slice(&self.heads[h]);
        t
    }
    /// Parameters the optimiser moves, in [`Trainable::parts`]'s order.
    fn count(&self) -> usize {
        let parts = self
            .heads
            .iter()
            .chain(&self.u)
            .map(Vec::len)
            .sum::<usize>();
        self.trunk.len() + parts + self.s.len()
    }
}

/// Per-head metrics at one validation point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Point {
    pub iter: u64,
    /// Mean unweighted training loss since the previous point (NaN at iteration 0; JSON null).
    #[serde(deserialize_with = "nan_for_null")]
    pub train_loss: Vec<f64>,
    #[serde(deserialize_with = "nan_for_null")]
    pub val_loss: Vec<f64>,
    /// Validation accuracy of classification heads.
    pub val_acc: Vec<Option<f64>>,
    /// Effective loss weight of each head.
    pub weight: Vec<f64>,
}

/// JSON writes a NaN as null: read it back as NaN.
fn nan_for_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MtTrained {
    pub names: Vec<String>,
    pub params: Params,
    pub curve: Vec<Point>,
}

fn weights(heads: &[Head], s: &[f64]) -> Vec<f64> {
    heads
        .iter()
        .zip(s)
        .map(|(h, &s)| match h.cfg.weight {
            WeightSpec::Fixed(w) => w,
            WeightSpec::Named(_) => (-s).exp(),
        })
        .collect()
}

/// Validation metrics of every head on fixed batches.
pub fn validate(cfg: &MtConfig, heads: &[Head], p: &Params) -> (Vec<f64>, Vec<Option<f64>>) {
    let mut ls = Vec::new();
    let mut accs = Vec::new();
    for (i, h) in heads.iter().enumerate() {
        let th = p.theta(i);
        let (mut l, mut a) = (0.0, 0.0);
        for b in 0..cfg.val_batches as u64 {
            let (li, ai) = head_eval(h, &th, &p.u[i], &batch(h, cfg, cfg.seed ^ 0x5eed, b, true));
            l += li;
            a += ai.unwrap_or(0.0);
        }
        let n = cfg.val_batches.max(1) as f64;
        ls.push(l / n);
        accs.push(h.is_cls().then_some(a / n));
    }
    (ls, accs)
}

/// Everything a multi-task run needs to continue exactly where it stopped: the configuration
/// it was started with, the parameters, Adam's moments, the iteration and the curve so far.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MtState {
    pub config: MtConfig,
    pub params: Params,
    /// The optimiser's moments (`m`, `v` in the checkpoint).
    #[serde(flatten)]
    pub adam: Adam,
    /// Steps taken.
    pub iter: u64,
    pub curve: Vec<Point>,
    /// Training-loss sums and count since the last curve point.
    pub sums: Vec<f64>,
    pub cnt: usize,
}

impl MtState {
    pub fn new(cfg: &MtConfig, heads: &[Head]) -> Self {
        let params = Params::init(cfg, heads);
        let n = params.count();
        MtState {
            config: cfg.clone(),
            params,
            adam: Adam::new(n),
            iter: 0,
            curve: Vec::new(),
            sums: vec![0.0; heads.len()],
            cnt: 0,
        }
    }

    /// Load a checkpoint for `cfg`: refused when it was made with another configuration
    /// (the iteration count and checkpoint period aside) or does not fit these heads.
    pub fn resume(path: &Path, cfg: &MtConfig, heads: &[Head]) -> Result<Self> {
        let mut st: MtState = engine::read_json(path)?;
        // Every part the training loop indexes must have this configuration's shape (a
        // hand-edited or foreign checkpoint is refused, not indexed out of bounds).
        let fresh = Params::init(cfg, heads);
        let lens = |p: &Params| {
            let mut v = vec![p.trunk.len(), p.s.len(), p.heads.len(), p.u.len()];
            v.extend(p.heads.iter().chain(&p.u).map(Vec::len));
            v
        };
        let fits = lens(&st.params) == lens(&fresh)
            && st.adam.fits(fresh.count())
            && st.sums.len() == heads.len();
        let settings = st.config.resume_as(cfg);
        if !fits || settings.is_err() {
            bail!(
                "{}: checkpoint was made with a different configuration{}{}",
                path.display(),
                settings.err().map_or(String::new(), |d| format!(": {d}")),
                crate::engine::checkpoint::OTHER_VERSION
            );
        }
        Ok(st)
    }

    pub fn trained(&self, heads: &[Head]) -> MtTrained {
        MtTrained {
            names: heads.iter().map(|h| h.cfg.name.clone()).collect(),
            params: self.params.clone(),
            curve: self.curve.clone(),
        }
    }
}

engine::resumable!(MtState, MtConfig);

/// Joint training of trunk and heads from scratch, without checkpoints (relatedness runs,
/// tests); stops early when `stop` is raised.
pub fn train(
    cfg: &MtConfig,
    heads: &[Head],
    stop: &AtomicBool,
    progress: bool,
) -> Result<MtTrained> {
    let mut st = MtState::new(cfg, heads);
    let ckpts = Checkpoints {
        path: None,
        stop,
        stop_at: None,
    };
    train_from(&mut st, heads, &ckpts, progress)?;
    Ok(st.trained(heads))
}

/// Train `st` on to `st.config.iterations`. Writes the checkpoint every `checkpoint_every` steps,
/// and when `ckpts` stops the run (then returns false: interrupted). Batches are a pure function
/// of (seed, iteration), so a resumed run gives the same bytes.
pub fn train_from(
    st: &mut MtState,
    heads: &[Head],
    ckpts: &Checkpoints,
    progress: bool,
) -> Result<bool> {
    engine::run(&mut JointTraining { heads }, st, ckpts, progress)
}

impl Trainable for MtState {
    fn optimiser(&self) -> Optimiser {
        self.config.optimiser()
    }

    fn checkpoint_every(&self) -> u64 {
        self.config.checkpoint_every
    }

    fn parts(&mut self) -> (&mut Adam, Vec<&mut [f64]>) {
        let p = &mut self.params;
        let mut v: Vec<&mut [f64]> = vec![&mut p.trunk];
        v.extend(p.heads.iter_mut().chain(p.u.iter_mut()).map(|x| &mut x[..]));
        v.push(&mut p.s);
        (&mut self.adam, v)
    }
}

/// Joint training of the trunk and every head: a weighted sum of the heads' losses (fixed
/// weights, or learned by uncertainty weighting), validated on fixed batches.
struct JointTraining<'a> {
    heads: &'a [Head],
}

impl Job for JointTraining<'_> {
    type State = MtState;

    fn observe(&mut self, st: &mut MtState, it: u64, bar: &ProgressBar) -> Result<Flow> {
        let cfg = &st.config;
        if !(it.is_multiple_of(cfg.val_every.max(1)) || it == cfg.iterations) {
            return Ok(Flow::Continue);
        }
        let heads = self.heads;
        let (val_loss, val_acc) = validate(cfg, heads, &st.params);
        let c = st.cnt as f64;
        let train_loss: Vec<f64> = st
            .sums
            .iter()
            .map(|s| if st.cnt > 0 { s / c } else { f64::NAN })
            .collect();
        bar.set_message(
            heads
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let metric = match val_acc[i] {
                        Some(a) => format!("acc {:.3}", a),
                        None => format!("val {:.4}", val_loss[i]),
                    };
                    format!("{}: loss {:.4} {metric}", h.cfg.name, train_loss[i])
                })
                .collect::<Vec<_>>()
                .join(" | "),
        );
        st.curve.push(Point {
            iter: it,
            train_loss,
            val_loss,
            val_acc,
            weight: weights(heads, &st.params.s),
        });
        st.sums.fill(0.0);
        st.cnt = 0;
        Ok(Flow::Continue)
    }

    fn gradient(&mut self, st: &mut MtState, it: u64) -> Result<(f64, Vec<f64>)> {
        let (cfg, p) = (&st.config, &st.params);
        let w = weights(self.heads, &p.s);
        let mut g_trunk = vec![0.0; p.trunk.len()];
        let (mut g_heads, mut g_u) = (Vec::new(), Vec::new());
        let mut g_s = vec![0.0; self.heads.len()];
        let mut total = 0.0;
        for (i, h) in self.heads.iter().enumerate() {
            let b = batch(h, cfg, cfg.seed, it + 1, false);
            let (l, g, gu) = head_grad(h, &p.theta(i), &p.u[i], &b);
            if !l.is_finite() {
                bail!("head {:?}: non-finite loss at iteration {it}", h.cfg.name);
            }
            st.sums[i] += l;
            total += w[i] * l;
            let (gt, gh) = g.split_at(g_trunk.len());
            for (a, b) in g_trunk.iter_mut().zip(gt) {
                *a += w[i] * b;
            }
            g_heads.extend(gh.iter().map(|x| w[i] * x));
            g_u.extend(gu.iter().map(|x| w[i] * x));
            if matches!(h.cfg.weight, WeightSpec::Named(_)) {
                g_s[i] = 1.0 - w[i] * l;
            }
        }
        st.cnt += 1;
        let mut g = g_trunk;
        g.extend(g_heads.into_iter().chain(g_u).chain(g_s));
        Ok((total, g))
    }
}
