//! Multi-task learning: one trunk, several heads trained jointly. Each iteration draws one batch
//! per head (fixed heads: a batch of rows, plain loss; adaptable heads: a meta-batch of tasks,
//! the meta-loss of their algorithm), sums the weighted head losses (fixed weights or learned
//! uncertainty weighting) and takes one Adam step on trunk + heads (+ learned rates and
//! log-variances). The exported model carries every head.

pub mod config;
pub mod plots;
pub mod relatedness;

use crate::classify::data::Dataset;
use crate::classify::episodes::transform;
use crate::export::{rate_def, scope};
use crate::meta::{batch_meta_grad, init_rates, inner_loop, Ctx, MetaSpec, TaskData};
use crate::net::{backward, forward, Activation, Arch, Bwd, Fwd, HeadKind, LayerSpec, Targets};
use crate::tasks::{CsvTasks, Sinusoid, Split, Task, TaskSource};
use anyhow::{anyhow, bail, Context, Result};
use config::{HeadConfig, MtConfig, WeightSpec};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Labelled rows (transformed), split into training and validation rows.
pub struct Rows {
    pub d: usize,
    pub x: Vec<f64>,
    /// Class index (position in the head's class list) per row.
    pub class: Vec<usize>,
    /// Regression target per row (`intensity`).
    pub value: Vec<f64>,
    pub classes: usize,
    pub train: Vec<Vec<usize>>,
    pub val: Vec<Vec<usize>>,
}

pub enum Source {
    Tasks(Box<dyn TaskSource>),
    Rows(Rows),
}

/// A head ready to train: its config, data, and its view of the network (trunk + head layers).
pub struct Head {
    pub cfg: HeadConfig,
    pub source: Source,
    pub arch: Arch,
    pub spec: MetaSpec,
    /// Seeds the head's batches and initial weights (from its name).
    pub key: u64,
}

fn name_key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

impl Head {
    pub fn is_cls(&self) -> bool {
        self.arch.head == HeadKind::Classification
    }
    pub fn n_in(&self) -> usize {
        match &self.source {
            Source::Tasks(t) => t.n_in(),
            Source::Rows(r) => r.d,
        }
    }
    /// Parameters of the head's own layers (above the trunk).
    pub fn n_own(&self, n_trunk_params: usize) -> usize {
        self.arch.n_params() - n_trunk_params
    }
}

/// Heads of a configuration, data loaded (a file shared by heads is read once).
pub fn build_heads(cfg: &MtConfig, base: &Path) -> Result<Vec<Head>> {
    let mut files: HashMap<String, std::rc::Rc<Dataset>> = HashMap::new();
    let mut heads = Vec::new();
    for (i, h) in cfg.heads.iter().enumerate() {
        let at = || format!("head[{i}] {:?}", h.name);
        let path = h.path.as_deref().map(|p| base.join(p));
        let source = match h.source.as_str() {
            "sinusoid" => Source::Tasks(Box::new(Sinusoid)),
            "csv_tasks" => {
                let p = path.ok_or_else(|| anyhow!("{}: no path", at()))?;
                Source::Tasks(Box::new(CsvTasks::load(&p, 0.2, 0, 2).with_context(at)?))
            }
            _ => {
                let p = path.ok_or_else(|| anyhow!("{}: no path", at()))?;
                let key = p.display().to_string();
                let ds = match files.get(&key) {
                    Some(d) => d.clone(),
                    None => {
                        let d = std::rc::Rc::new(Dataset::load(&p).with_context(at)?);
                        files.insert(key, d.clone());
                        d
                    }
                };
                Source::Rows(rows(&ds, h).with_context(at)?)
            }
        };
        let (outputs, kind) = match (&source, h.adaptable) {
            (Source::Tasks(t), _) => (t.n_out(), HeadKind::Regression),
            (Source::Rows(_), _) if h.source == "intensity" => (1, HeadKind::Regression),
            (Source::Rows(_), true) => (h.ways, HeadKind::Classification),
            (Source::Rows(r), false) => (r.classes, HeadKind::Classification),
        };
        if let Source::Rows(r) = &source {
            if h.adaptable && h.source == "classes" && r.classes < h.ways {
                bail!(
                    "{}: {} classes for {}-way episodes",
                    at(),
                    r.classes,
                    h.ways
                );
            }
        }
        let n_in = match &source {
            Source::Tasks(t) => t.n_in(),
            Source::Rows(r) => r.d,
        };
        let mut hidden = cfg.trunk.hidden.clone();
        hidden.extend(&h.hidden);
        let mut arch = Arch::mlp(n_in, &hidden, outputs, cfg.trunk.activation, kind);
        arch.n_trunk = cfg.trunk.hidden.len();
        arch.scale = vec![cfg.trunk.input_scale; n_in];
        let spec = MetaSpec {
            algorithm: h.algorithm,
            scope: h.scope,
            steps: if h.adaptable { h.steps } else { 0 },
            alpha: h.alpha,
            alpha_max: (h.alpha * 10.0).max(1.0),
            clip: h.clip,
            step_weights: Vec::new(),
            first_order: false,
        };
        heads.push(Head {
            cfg: h.clone(),
            source,
            arch,
            spec,
            key: name_key(&h.name),
        });
    }
    if let Some((i, h)) = heads
        .iter()
        .enumerate()
        .find(|(_, h)| h.n_in() != heads[0].n_in())
    {
        bail!(
            "head[{i}] {:?} takes {} inputs, head[0] {}: heads share one trunk",
            h.cfg.name,
            h.n_in(),
            heads[0].n_in()
        );
    }
    Ok(heads)
}

fn rows(ds: &Dataset, h: &HeadConfig) -> Result<Rows> {
    let by = ds.by_class();
    let classes: Vec<usize> = if h.classes.is_empty() {
        (0..by.len()).filter(|&c| !by[c].is_empty()).collect()
    } else {
        h.classes.clone()
    };
    let side = ds.square_side();
    if h.rotate > 0 && side.is_none() {
        bail!(
            "{}: rotate needs square images, rows have {} features",
            ds.file,
            ds.d
        );
    }
    let big = ds.x.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-12);
    let mut r = Rows {
        d: ds.d,
        x: Vec::new(),
        class: Vec::new(),
        value: Vec::new(),
        classes: classes.len(),
        train: Vec::new(),
        val: Vec::new(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut buf = Vec::new();
    for (ci, &c) in classes.iter().enumerate() {
        let mut idx = by
            .get(c)
            .filter(|v| v.len() >= 2)
            .cloned()
            .ok_or_else(|| anyhow!("{}: class {c} has fewer than 2 rows", ds.file))?;
        idx.shuffle(&mut rng);
        let nv = ((idx.len() as f64 * h.val_fraction).round() as usize).clamp(1, idx.len() - 1);
        let (mut tr, mut va) = (Vec::new(), Vec::new());
        for (j, &row) in idx.iter().enumerate() {
            let img = ds.row(row);
            let x: &[f64] = match side {
                Some(s) if h.rotate > 0 => {
                    transform(img, s, h.rotate, 0, 0, &mut buf);
                    &buf
                }
                _ => img,
            };
            let at = r.class.len();
            r.value
                .push(x.iter().sum::<f64>() / (x.len().max(1) as f64 * big));
            r.x.extend_from_slice(x);
            r.class.push(ci);
            if j < nv {
                va.push(at)
            } else {
                tr.push(at)
            }
        }
        r.train.push(tr);
        r.val.push(va);
    }
    Ok(r)
}

/// One batch of a head: a fixed head's rows (as one task's support set) or an adaptable head's
/// tasks.
pub enum Batch {
    Fixed(TaskData<f64>),
    Tasks(Vec<TaskData<f64>>),
}

fn rows_task(
    h: &Head,
    r: &Rows,
    pick: &[Vec<usize>],
    k: usize,
    q: usize,
    rng: &mut ChaCha8Rng,
) -> TaskData<f64> {
    let d = r.d;
    let reg = h.arch.head == HeadKind::Regression;
    let all: Vec<usize> = pick.iter().flatten().copied().collect();
    if reg || !h.cfg.adaptable {
        // Rows drawn with replacement across the classes.
        let mut draw = |n: usize| -> Vec<usize> {
            (0..n)
                .map(|_| all[rng.random_range(0..all.len().max(1))])
                .collect()
        };
        let (s, qq) = (draw(k), draw(q));
        let xs = |v: &[usize]| -> Vec<f64> {
            v.iter()
                .flat_map(|&i| r.x[i * d..(i + 1) * d].iter().copied())
                .collect()
        };
        if reg {
            let t = Task {
                n_in: d,
                n_out: 1,
                support_x: xs(&s),
                support_y: s.iter().map(|&i| r.value[i]).collect(),
                query_x: xs(&qq),
                query_y: qq.iter().map(|&i| r.value[i]).collect(),
                truth: None,
            };
            return TaskData::new(&h.arch, &t);
        }
        let lab = |v: &[usize]| v.iter().map(|&i| r.class[i]).collect();
        return TaskData::classes(&h.arch, &xs(&s), lab(&s), &xs(&qq), lab(&qq));
    }
    // An N-way episode: `k` support and `q` query rows per class (drawn with replacement).
    let ways = h.cfg.ways;
    let mut cls: Vec<usize> = (0..pick.len()).collect();
    cls.shuffle(rng);
    let (mut sx, mut sl, mut qx, mut ql) = (vec![], vec![], vec![], vec![]);
    for (w, &c) in cls.iter().take(ways).enumerate() {
        let rows = &pick[c];
        for j in 0..k + q {
            let i = rows[rng.random_range(0..rows.len().max(1))];
            let (x, l) = if j < k {
                (&mut sx, &mut sl)
            } else {
                (&mut qx, &mut ql)
            };
            x.extend_from_slice(&r.x[i * d..(i + 1) * d]);
            l.push(w);
        }
    }
    TaskData::classes(&h.arch, &sx, sl, &qx, ql)
}

/// The batch of head `h` for (seed, stream): a pure function of them and the head's name.
pub fn batch(h: &Head, cfg: &MtConfig, seed: u64, stream: u64, val: bool) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ h.key);
    rng.set_stream(stream);
    let split = if val {
        Split::MetaTest
    } else {
        Split::MetaTrain
    };
    let (k, q) = if h.cfg.adaptable {
        (h.cfg.shots, h.cfg.query)
    } else {
        (cfg.batch, 1)
    };
    let one = |rng: &mut ChaCha8Rng| match &h.source {
        Source::Tasks(t) => TaskData::new(&h.arch, &t.sample(split, k, q, rng)),
        Source::Rows(r) => rows_task(h, r, if val { &r.val } else { &r.train }, k, q, rng),
    };
    if h.cfg.adaptable {
        Batch::Tasks((0..cfg.meta_batch).map(|_| one(&mut rng)).collect())
    } else {
        Batch::Fixed(one(&mut rng))
    }
}

/// Loss and gradient (w.r.t. the head's view parameters, and its learned rates) of one batch.
pub fn head_grad(h: &Head, theta: &[f64], u: &[f64], b: &Batch) -> (f64, Vec<f64>, Vec<f64>) {
    match b {
        Batch::Fixed(d) => {
            let mut fwd = Fwd::default();
            let mut bwd = Bwd::default();
            let mut g = vec![0.0; theta.len()];
            forward(&h.arch, theta, &d.sx, d.k, &mut fwd, 0);
            let l = backward(&h.arch, theta, &fwd, d.st(), &mut g, 0, &mut bwd);
            (l, g, vec![0.0; u.len()])
        }
        Batch::Tasks(ts) => {
            let g = batch_meta_grad(&h.arch, &h.spec, theta, u, ts, true);
            (g.loss, g.g_theta, g.g_u)
        }
    }
}

/// Validation loss and accuracy (classification) of one batch: adaptable heads after their inner
/// steps on the support set, on the query set; fixed heads on the rows.
pub fn head_eval(h: &Head, theta: &[f64], u: &[f64], b: &Batch) -> (f64, Option<f64>) {
    let m = h.arch.outputs();
    let score = |p: &[f64], x: &[f64], k: usize, t: Targets<f64>| {
        let mut fwd = Fwd::default();
        forward(&h.arch, p, x, k, &mut fwd, 0);
        let y = &fwd.ys[h.arch.layers.len()];
        let mut gy = Vec::new();
        let l = crate::net::loss_and_dy(h.arch.head, y, m, t, &mut gy);
        let acc = match t {
            Targets::Cls(lab) => {
                let ok = y
                    .chunks_exact(m)
                    .zip(lab)
                    .filter(|(z, &c)| (0..m).fold(0, |a, j| if z[j] > z[a] { j } else { a }) == c)
                    .count();
                Some(ok as f64 / k.max(1) as f64)
            }
            Targets::Reg(_) => None,
        };
        (l, acc)
    };
    match b {
        Batch::Fixed(d) => score(theta, &d.sx, d.k, d.st()),
        Batch::Tasks(ts) => {
            let ctx = Ctx::<f64>::new(&h.arch, &h.spec, theta, u);
            let (mut l, mut a) = (0.0, 0.0);
            for d in ts {
                let traj = inner_loop(&ctx, d);
                let p = traj.last().map_or(theta, |v| v.as_slice());
                let (li, ai) = score(p, &d.qx, d.q, d.qt());
                l += li;
                a += ai.unwrap_or(0.0);
            }
            let n = ts.len().max(1) as f64;
            (l / n, h.is_cls().then_some(a / n))
        }
    }
}

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
    fn flat(&self) -> Vec<f64> {
        let mut v = self.trunk.clone();
        for x in self.heads.iter().chain(&self.u) {
            v.extend_from_slice(x);
        }
        v.extend_from_slice(&self.s);
        v
    }
    fn unflat(&mut self, v: &[f64]) {
        let mut at = 0;
        let mut take = |dst: &mut Vec<f64>| {
            let n = dst.len();
            dst.copy_from_slice(&v[at..at + n]);
            at += n;
        };
        take(&mut self.trunk);
        for x in self.heads.iter_mut().chain(self.u.iter_mut()) {
            take(x);
        }
        take(&mut self.s);
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
    pub m: Vec<f64>,
    pub v: Vec<f64>,
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
        let n = params.flat().len();
        MtState {
            config: cfg.clone(),
            params,
            m: vec![0.0; n],
            v: vec![0.0; n],
            iter: 0,
            curve: Vec::new(),
            sums: vec![0.0; heads.len()],
            cnt: 0,
        }
    }

    /// Load a checkpoint for `cfg`: refused when it was made with another configuration
    /// (the iteration count and checkpoint period aside) or does not fit these heads.
    pub fn resume(path: &Path, cfg: &MtConfig, heads: &[Head]) -> Result<Self> {
        let mut st: MtState = crate::train::read_json(path)?;
        let same = |c: &MtConfig| MtConfig {
            iterations: 0,
            checkpoint_every: 0,
            ..c.clone()
        };
        let fresh = Params::init(cfg, heads);
        let fits = st.params.flat().len() == fresh.flat().len()
            && st.m.len() == st.params.flat().len()
            && st.v.len() == st.m.len()
            && st.sums.len() == heads.len();
        if same(&st.config) != same(cfg) || !fits {
            bail!(
                "{}: checkpoint was made with a different configuration",
                path.display()
            );
        }
        st.config.iterations = cfg.iterations;
        st.config.checkpoint_every = cfg.checkpoint_every;
        Ok(st)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        crate::train::write_json_atomic(self, path)
    }

    pub fn trained(&self, heads: &[Head]) -> MtTrained {
        MtTrained {
            names: heads.iter().map(|h| h.cfg.name.clone()).collect(),
            params: self.params.clone(),
            curve: self.curve.clone(),
        }
    }
}

/// Joint training of trunk and heads from scratch, without checkpoints (relatedness runs,
/// tests); stops early when `stop` is raised.
pub fn train(
    cfg: &MtConfig,
    heads: &[Head],
    stop: &AtomicBool,
    progress: bool,
) -> Result<MtTrained> {
    let mut st = MtState::new(cfg, heads);
    train_from(&mut st, heads, None, stop, None, progress)?;
    Ok(st.trained(heads))
}

/// Train `st` on to `st.config.iterations`. Writes `checkpoint` every `checkpoint_every` steps,
/// and when `stop` is raised or `stop_at` steps are reached (then returns false: interrupted).
/// Batches are a pure function of (seed, iteration), so a resumed run gives the same bytes.
pub fn train_from(
    st: &mut MtState,
    heads: &[Head],
    checkpoint: Option<&Path>,
    stop: &AtomicBool,
    stop_at: Option<u64>,
    progress: bool,
) -> Result<bool> {
    let cfg = st.config.clone();
    let nt = st.params.trunk.len();
    let n = st.m.len();
    let bar = crate::train::progress_bar(progress, cfg.iterations, st.iter);
    loop {
        let it = st.iter;
        if it < cfg.iterations && (stop.load(Ordering::SeqCst) || stop_at.is_some_and(|s| it >= s))
        {
            if let Some(p) = checkpoint {
                st.save(p)?;
            }
            bar.abandon_with_message(format!("interrupted at {it}"));
            return Ok(false);
        }
        if it.is_multiple_of(cfg.val_every.max(1)) || it == cfg.iterations {
            let (val_loss, val_acc) = validate(&cfg, heads, &st.params);
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
        }
        if it >= cfg.iterations {
            break;
        }
        let p = &mut st.params;
        let w = weights(heads, &p.s);
        let mut g_trunk = vec![0.0; nt];
        let mut g_heads = Vec::new();
        let mut g_u = Vec::new();
        let mut g_s = vec![0.0; heads.len()];
        for (i, h) in heads.iter().enumerate() {
            let b = batch(h, &cfg, cfg.seed, it + 1, false);
            let (l, g, gu) = head_grad(h, &p.theta(i), &p.u[i], &b);
            if !l.is_finite() {
                bail!("head {:?}: non-finite loss at iteration {it}", h.cfg.name);
            }
            st.sums[i] += l;
            for (a, b) in g_trunk.iter_mut().zip(&g[..nt]) {
                *a += w[i] * b;
            }
            g_heads.push(g[nt..].iter().map(|x| w[i] * x).collect::<Vec<_>>());
            g_u.push(gu.iter().map(|x| w[i] * x).collect::<Vec<_>>());
            if matches!(h.cfg.weight, WeightSpec::Named(_)) {
                g_s[i] = 1.0 - w[i] * l;
            }
        }
        st.cnt += 1;
        let mut g = g_trunk;
        for x in g_heads.iter().chain(&g_u) {
            g.extend_from_slice(x);
        }
        g.extend_from_slice(&g_s);
        let mut flat = p.flat();
        let t = i32::try_from(it + 1).unwrap_or(i32::MAX);
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let lr = cfg.lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        for i in 0..n {
            st.m[i] = b1 * st.m[i] + (1.0 - b1) * g[i];
            st.v[i] = b2 * st.v[i] + (1.0 - b2) * g[i] * g[i];
            flat[i] -= lr * st.m[i] / (st.v[i].sqrt() + eps);
        }
        p.unflat(&flat);
        st.iter += 1;
        bar.inc(1);
        let every = cfg.checkpoint_every;
        if every > 0 && st.iter.is_multiple_of(every) {
            if let Some(c) = checkpoint {
                st.save(c)?;
            }
        }
    }
    bar.finish();
    Ok(true)
}

fn act(a: Activation) -> runtime::Activation {
    match a {
        Activation::Identity => runtime::Activation::Identity,
        Activation::Relu => runtime::Activation::Relu,
        Activation::Tanh => runtime::Activation::Tanh,
        Activation::Sigmoid => runtime::Activation::Sigmoid,
    }
}

/// The runtime's model: the trunk once, every head (adaptable ones with their adaptation spec).
pub fn model_def(name: &str, heads: &[Head], p: &Params) -> Result<ModelDef> {
    let Some(h0) = heads.first() else {
        bail!("no heads");
    };
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let dense = |arch: &Arch, theta: &[f64], l: usize| {
        let s: &LayerSpec = &arch.layers[l];
        let (w, b) = (arch.w_off(l), arch.b_off(l));
        Dense::new(
            s.inputs,
            s.outputs,
            act(s.act),
            f32s(&theta[w..b]),
            f32s(&theta[b..b + s.outputs]),
        )
    };
    let a0 = &h0.arch;
    let mut def = ModelDef::new(name, a0.inputs).normalise(f32s(&a0.shift), f32s(&a0.scale));
    let th0 = p.theta(0);
    for l in 0..a0.n_trunk {
        def = def.trunk(dense(a0, &th0, l));
    }
    for (i, h) in heads.iter().enumerate() {
        let th = p.theta(i);
        let layers: Vec<Dense> = (h.arch.n_trunk..h.arch.layers.len())
            .map(|l| dense(&h.arch, &th, l))
            .collect();
        let id = u16::try_from(i).context("too many heads")?;
        let mut hd = match h.arch.head {
            HeadKind::Regression => HeadDef::regression(id, &h.cfg.name, layers),
            HeadKind::Classification => HeadDef::classification(id, &h.cfg.name, layers),
        };
        if h.cfg.adaptable {
            hd = hd.with_adapt(AdaptDef::new(
                scope(h.spec.effective_scope())?,
                u16::try_from(h.spec.steps).context("too many inner steps")?,
                rate_def(&h.arch, &h.spec, &p.u[i])?,
                h.spec.clip as f32,
            ));
        }
        def = def.head(hd);
    }
    Ok(def)
}

/// What the command line asks of a multi-task run besides its configuration.
#[derive(Clone, Debug, Default)]
pub struct RunFlags {
    pub iterations: Option<u64>,
    pub seed: Option<u64>,
    /// Continue from `<out>.ckpt`.
    pub resume: bool,
    pub checkpoint_every: Option<u64>,
    /// Stop after this many iterations with a checkpoint, as Ctrl-C would.
    pub stop_after: Option<u64>,
    /// Skip the table and the plots.
    pub no_eval: bool,
}

/// Load, train (or resume), export `out`, write `<out>.trained.json` and the plots. Returns
/// None when the run was interrupted (its checkpoint written).
pub fn train_and_export(
    cfg_path: &Path,
    out: &Path,
    flags: &RunFlags,
    stop: &AtomicBool,
) -> Result<Option<MtTrained>> {
    let mut cfg = MtConfig::load(cfg_path)?;
    if let Some(i) = flags.iterations {
        if i == 0 {
            bail!("--iterations must be >= 1");
        }
        cfg.iterations = i;
    }
    if let Some(s) = flags.seed {
        cfg.seed = s;
    }
    if let Some(c) = flags.checkpoint_every {
        cfg.checkpoint_every = c;
    }
    let base = cfg_path.parent().unwrap_or(Path::new("."));
    let heads = build_heads(&cfg, base)?;
    let ckpt = out.with_extension("ckpt");
    if let Some(d) = ckpt.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut st = if flags.resume {
        let st = MtState::resume(&ckpt, &cfg, &heads)?;
        eprintln!("resuming at iteration {}", st.iter);
        st
    } else {
        MtState::new(&cfg, &heads)
    };
    let t0 = std::time::Instant::now();
    if !train_from(&mut st, &heads, Some(&ckpt), stop, flags.stop_after, true)? {
        eprintln!(
            "interrupted: checkpoint {} (continue with --resume)",
            ckpt.display()
        );
        return Ok(None);
    }
    st.save(&ckpt)?;
    let trained = st.trained(&heads);
    let name = out
        .file_stem()
        .map_or("multitask".into(), |s| s.to_string_lossy().into_owned());
    let bytes = crate::export::write(out, &model_def(&name, &heads, &trained.params)?)?;
    crate::export::read(out)?;
    eprintln!(
        "trained {} heads for {} iterations in {:.1} s; wrote {} ({bytes} bytes)",
        heads.len(),
        trained.curve.last().map_or(0, |p| p.iter),
        t0.elapsed().as_secs_f64(),
        out.display()
    );
    std::fs::write(
        out.with_extension("trained.json"),
        serde_json::to_string(&trained)?,
    )?;
    if flags.no_eval {
        return Ok(Some(trained));
    }
    if let Some(last) = trained.curve.last() {
        println!(
            "{:<16} {:>8} {:>10} {:>12} {:>9} {:>8}",
            "head", "kind", "adaptable", "val loss", "val acc", "weight"
        );
        for (i, h) in heads.iter().enumerate() {
            println!(
                "{:<16} {:>8} {:>10} {:>12.5} {:>9} {:>8.3}",
                h.cfg.name,
                h.cfg.loss,
                h.cfg.adaptable,
                last.val_loss[i],
                last.val_acc[i].map_or("-".into(), |a| format!("{:.2}%", 100.0 * a)),
                last.weight[i]
            );
        }
    }
    let p = out.with_extension("curve.png");
    plots::curve(&p, &trained)?;
    eprintln!("plot: {}", p.display());
    Ok(Some(trained))
}
