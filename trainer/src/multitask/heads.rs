//! The heads of a multi-task run: each head's data (task source or labelled rows), its view of
//! the network (trunk + its own layers), its batches, and its loss, gradient and validation.

use super::config::{HeadConfig, HeadSource, MtConfig};
use crate::classify::data::Dataset;
use crate::classify::episodes::transform;
use crate::meta::{batch_meta_grad, inner_loop, Ctx, MetaSpec, TaskData};
use crate::net::{backward, forward, Arch, Bwd, Fwd, HeadKind, Targets};
use crate::tasks::{CsvTasks, Sinusoid, Split, StandardisedTargets, Task, TaskSource};
use anyhow::{anyhow, bail, Context, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

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
    /// The output normalisation `(shift, scale)` the head trains under and exports (None: raw
    /// targets).
    pub targets: Option<(Vec<f64>, Vec<f64>)>,
    /// Where its data came from (the run record's view of it).
    pub origin: Origin,
}

/// What a head's data file was: its columns, fingerprint, outputs and split, as the run
/// record keeps them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Origin {
    /// The input columns' names, in the order the trunk takes them (empty: the sinusoid).
    pub input_names: Vec<String>,
    /// SHA-256 of the data file (empty: the sinusoid).
    pub sha256: String,
    /// The outputs' names: a rows head's classes in output order (a fixed head's; empty for
    /// an adaptable head, whose outputs are each episode's classes), a `csv_tasks` head's
    /// target columns.
    pub outputs: Vec<String>,
    /// A `csv_tasks` head's meta-training and held-out task ids.
    pub train_ids: Vec<String>,
    pub test_ids: Vec<String>,
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
    /// The raw inputs the head trains on (row-major): its source's meta-training tasks, or its
    /// training rows (as transformed); never held-out tasks or validation rows.
    pub fn train_inputs(&self) -> Vec<f64> {
        match &self.source {
            Source::Tasks(t) => t.train_inputs(),
            Source::Rows(r) => {
                let rows = r.train.iter().flatten();
                rows.flat_map(|&j| &r.x[j * r.d..(j + 1) * r.d])
                    .copied()
                    .collect()
            }
        }
    }
}

/// A normalisation `(shift, scale)`, per value.
type Normalisation = (Vec<f64>, Vec<f64>);

/// Heads of a configuration, data loaded (a file shared by heads is read once).
pub fn build_heads(cfg: &MtConfig, base: &Path) -> Result<Vec<Head>> {
    let mut files: HashMap<String, Rc<Dataset>> = HashMap::new();
    let mut heads: Vec<Head> = Vec::new();
    for (i, h) in cfg.heads.iter().enumerate() {
        let at = || format!("head[{i}] {:?}", h.name);
        let path = h.path.as_deref().map(|p| base.join(p));
        // The first named columns are the trunk's: every other head's are read in their order.
        let reference = heads
            .iter()
            .find(|h| !h.origin.input_names.is_empty())
            .map(|h| (h.cfg.name.as_str(), &h.origin.input_names[..]));
        let (source, targets, origin) = head_source(h, path, &mut files, reference, &at)?;
        let mut head = build_head(cfg, h, source, targets, &at)?;
        head.origin = origin;
        heads.push(head);
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
    let (shift, scale) = input_normalisation(cfg, &heads);
    for h in &mut heads {
        h.arch.shift.clone_from(&shift);
        h.arch.scale.clone_from(&scale);
    }
    Ok(heads)
}

/// A head's data (`files`: the labelled files read so far, by path and columns), its input
/// columns read in the order of `reference` (an earlier head's, named: the trunk takes one
/// order), for a `csv_tasks` head that standardises them its targets' normalisation, and where
/// it came from.
fn head_source(
    h: &HeadConfig,
    path: Option<PathBuf>,
    files: &mut HashMap<String, Rc<Dataset>>,
    reference: Option<(&str, &[String])>,
    at: &dyn Fn() -> String,
) -> Result<(Source, Option<Normalisation>, Origin)> {
    let mut targets = None;
    let matched = |names: &[String], file: &Path| -> Result<Option<Vec<usize>>> {
        let Some((first, reference)) = reference else {
            return Ok(None);
        };
        let what = format!("{}: {}", at(), file.display());
        let matched = crate::input_columns::match_by_name(reference, names, &what)
            .with_context(|| format!("heads share one trunk: head {first:?} reads these inputs"))?;
        if let Some(note) = matched.note(&what, reference) {
            eprintln!("{note} (head {first:?}'s)");
        }
        Ok(match matched {
            crate::input_columns::Matched::Select { order, .. } => Some(order),
            _ => None,
        })
    };
    let (source, origin) = match h.source() {
        HeadSource::Sinusoid => (Source::Tasks(Box::new(Sinusoid)), Origin::default()),
        HeadSource::CsvTasks => {
            let p = path.ok_or_else(|| anyhow!("{}: no path", at()))?;
            let (test_fraction, split_seed) = h.task_split();
            let mut tasks =
                CsvTasks::load(&p, test_fraction, split_seed, 2, &h.columns()).with_context(at)?;
            if let Some(order) = matched(&tasks.input_names, &p)? {
                tasks.select_inputs(&order);
            }
            targets = h
                .standardises_targets()
                .then(|| tasks.target_normalisation())
                .flatten();
            let origin = Origin {
                input_names: tasks.input_names.clone(),
                sha256: tasks.sha256.clone(),
                outputs: tasks.target_names.clone(),
                train_ids: tasks.train_ids.clone(),
                test_ids: tasks.test_ids.clone(),
            };
            let source = Source::Tasks(match &targets {
                Some((shift, scale)) => Box::new(StandardisedTargets {
                    inner: Box::new(tasks) as Box<dyn TaskSource>,
                    shift: shift.clone(),
                    scale: scale.clone(),
                }),
                None => Box::new(tasks),
            });
            (source, origin)
        }
        HeadSource::Classes | HeadSource::Intensity => {
            let p = path.ok_or_else(|| anyhow!("{}: no path", at()))?;
            let cols = crate::classify::data::Columns {
                label: h.label_column.as_deref(),
                ignore: &h.ignore_columns,
                subject: None,
            };
            let key = format!("{}\n{cols:?}", p.display());
            let ds = match files.get(&key) {
                Some(d) => d.clone(),
                None => {
                    let d = Dataset::load_labelled(&p, cols).with_context(at)?;
                    let d = Rc::new(d);
                    files.insert(key, d.clone());
                    d
                }
            };
            let ds = match matched(&ds.columns, &p)? {
                Some(order) => {
                    let mut d = (*ds).clone();
                    d.select_columns(&order);
                    Rc::new(d)
                }
                None => ds,
            };
            let (rows, outputs) = rows(&ds, h).with_context(at)?;
            let origin = Origin {
                input_names: ds.columns.clone(),
                sha256: ds.sha256.clone(),
                outputs,
                ..Origin::default()
            };
            (Source::Rows(rows), origin)
        }
    };
    Ok((source, targets, origin))
}

/// The head of `source`: its kind and width, its network on the shared trunk, its inner loop.
fn build_head(
    cfg: &MtConfig,
    h: &HeadConfig,
    source: Source,
    targets: Option<Normalisation>,
    at: &dyn Fn() -> String,
) -> Result<Head> {
    let (outputs, kind) = match (&source, h.adaptable) {
        (Source::Tasks(t), _) => (t.n_out(), HeadKind::Regression),
        (Source::Rows(_), _) if h.source() == HeadSource::Intensity => (1, HeadKind::Regression),
        (Source::Rows(_), true) => (h.ways, HeadKind::Classification),
        (Source::Rows(r), false) => (r.classes, HeadKind::Classification),
    };
    if let Source::Rows(r) = &source {
        if h.adaptable && h.source() == HeadSource::Classes && r.classes < h.ways {
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
    if let Some(w) = cfg.trunk.input.width().filter(|&w| w != n_in) {
        bail!(
            "{}: {n_in} features per row, but `trunk.input` declares {} of {w}{}",
            at(),
            cfg.trunk.input.name(),
            cfg.trunk.input.shape_hint(n_in)
        );
    }
    let trunk = cfg
        .trunk
        .network_layers(n_in)
        .map_err(|(i, msg)| anyhow!("trunk layer {i}: {msg}"))?;
    let arch = Arch::with_trunk(n_in, trunk, &h.hidden, outputs, cfg.trunk.activation, kind);
    let steps = if h.adaptable { h.steps } else { 0 };
    let spec = MetaSpec {
        algorithm: h.algorithm,
        scope: h.scope,
        steps,
        alpha: h.alpha,
        alpha_max: (h.alpha * 10.0).max(1.0),
        clip: h.clip,
        // The query loss after the last step: with no weights an adaptable head's
        // meta-objective was identically zero (no gradient reached its head or the trunk).
        step_weights: crate::meta::last_step_weights(steps),
        first_order: false,
    };
    if h.adaptable {
        // Before any training: the export would refuse it after the run.
        crate::export::check_scope(&arch, spec.effective_scope(), "scope").with_context(at)?;
    }
    Ok(Head {
        cfg: h.clone(),
        source,
        arch,
        spec,
        key: name_key(&h.name),
        targets,
        origin: Origin::default(),
    })
}

/// The trunk's input normalisation `(shift, scale)`: with `standardise_inputs`, every feature's
/// mean and 1 / standard deviation over the training inputs of all heads pooled (training tasks
/// and training rows only, never held-out tasks or validation rows); otherwise shift 0 and the
/// configured `input_scale`. Heads must share one input width.
pub fn input_normalisation(cfg: &MtConfig, heads: &[Head]) -> (Vec<f64>, Vec<f64>) {
    let n_in = heads.first().map_or(0, Head::n_in);
    if !cfg.trunk.standardise_inputs {
        return (vec![0.0; n_in], vec![cfg.trunk.raw_input_scale(); n_in]);
    }
    let x: Vec<f64> = heads.iter().flat_map(Head::train_inputs).collect();
    crate::standardise::fit(n_in, x.chunks_exact(n_in.max(1)))
}

/// A rows head's rows of `ds`, each class's split into training and validation rows by
/// `val_fraction`, and its outputs' names (a fixed head's classes in output order).
fn rows(ds: &Dataset, h: &HeadConfig) -> Result<(Rows, Vec<String>)> {
    let by = ds.by_class();
    let classes: Vec<usize> = if h.classes.is_empty() {
        (0..by.len()).filter(|&c| !by[c].is_empty()).collect()
    } else {
        h.classes.iter().map(|c| c.id(ds)).collect::<Result<_>>()?
    };
    let mut r = Rows::empty(ds, h, classes.len())?;
    let big = ds.x.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-12);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for (ci, &c) in classes.iter().enumerate() {
        let mut idx = by.get(c).filter(|v| v.len() >= 2).cloned().ok_or_else(|| {
            let name = ds.class_name(c);
            anyhow!("{}: class {name} has fewer than 2 rows", ds.file)
        })?;
        idx.shuffle(&mut rng);
        let nv = ((idx.len() as f64 * h.val_fraction).round() as usize).clamp(1, idx.len() - 1);
        let rows: Vec<usize> = idx
            .iter()
            .map(|&row| r.push(ds, h, (row, ci), big))
            .collect();
        r.val.push(rows[..nv].to_vec());
        r.train.push(rows[nv..].to_vec());
    }
    let outputs = match h.adaptable {
        false if h.source() == HeadSource::Classes => {
            classes.iter().map(|&c| ds.class_name(c)).collect()
        }
        _ => Vec::new(),
    };
    Ok((r, outputs))
}

/// Every row of `ds`, a file the model never saw, as validation rows of head `h`: a fixed
/// head's rows by their labels' names among its classes `outputs` (classes the file lacks
/// are left empty); an adaptable head's classes are the file's own, each new to it.
pub fn new_rows(ds: &Dataset, h: &HeadConfig, outputs: &[String]) -> Result<Rows> {
    if h.source() == HeadSource::Intensity {
        bail!("an `intensity` head's target is scaled by its file's largest value: another file's targets are not the model's");
    }
    let by = ds.by_class();
    let present: Vec<usize> = (0..by.len()).filter(|&c| !by[c].is_empty()).collect();
    let head_class = |c: usize| -> Result<usize> {
        if h.adaptable {
            return Ok(present.iter().position(|&p| p == c).unwrap_or(0));
        }
        let name = ds.class_name(c);
        outputs.iter().position(|o| o == &name).ok_or_else(|| {
            anyhow!(
                "{}: class {name:?} is not one of the head's classes ({})",
                ds.file,
                crate::input_columns::names(outputs)
            )
        })
    };
    let classes = if h.adaptable {
        present.len()
    } else {
        outputs.len()
    };
    let mut r = Rows::empty(ds, h, classes)?;
    r.train = vec![Vec::new(); classes];
    r.val = vec![Vec::new(); classes];
    for &c in &present {
        let to = head_class(c)?;
        for &row in &by[c] {
            let at = r.push(ds, h, (row, to), 1.0);
            r.val[to].push(at);
        }
    }
    Ok(r)
}

impl Rows {
    /// No rows yet, of `ds`'s width and `classes` classes (square images when `h` rotates).
    fn empty(ds: &Dataset, h: &HeadConfig, classes: usize) -> Result<Self> {
        if h.rotate > 0 && ds.square_side().is_none() {
            bail!(
                "{}: rotate needs square images, rows have {} features",
                ds.file,
                ds.d
            );
        }
        Ok(Rows {
            d: ds.d,
            x: Vec::new(),
            class: Vec::new(),
            value: Vec::new(),
            classes,
            train: Vec::new(),
            val: Vec::new(),
        })
    }

    /// Appends row `row` of `ds` (rotated as `h` asks) of head class `class`, its intensity
    /// target its mean feature over `big` (the file's largest magnitude); returns its index.
    fn push(
        &mut self,
        ds: &Dataset,
        h: &HeadConfig,
        (row, class): (usize, usize),
        big: f64,
    ) -> usize {
        let img = ds.row(row);
        let mut buf = Vec::new();
        let x: &[f64] = match ds.square_side() {
            Some(s) if h.rotate > 0 => {
                transform(img, s, h.rotate, 0, 0, &mut buf);
                &buf
            }
            _ => img,
        };
        let at = self.class.len();
        self.value
            .push(x.iter().sum::<f64>() / (x.len().max(1) as f64 * big));
        self.x.extend_from_slice(x);
        self.class.push(class);
        at
    }
}

/// One batch of a head: a fixed head's rows (as one task's support set) or an adaptable head's
/// tasks.
pub enum Batch {
    Fixed(TaskData<f64>),
    Tasks(Vec<TaskData<f64>>),
}

/// One draw of a head's data in the data's units: regression rows or tasks (targets as the
/// head trains on them), or labelled rows: labels index `classes`, the head's class (its
/// position in the head's class list) of each label.
pub enum Draw {
    Values(Task),
    Labels {
        d: usize,
        sx: Vec<f64>,
        sl: Vec<usize>,
        qx: Vec<f64>,
        ql: Vec<usize>,
        classes: Vec<usize>,
    },
}

impl Draw {
    /// The trainer's view: normalised inputs.
    pub fn data(&self, arch: &Arch) -> TaskData<f64> {
        match self {
            Draw::Values(t) => TaskData::new(arch, t),
            Draw::Labels { sx, sl, qx, ql, .. } => {
                TaskData::classes(arch, sx, sl.clone(), qx, ql.clone())
            }
        }
    }
}

/// `k` support and `q` query rows of `rows`: training draws with replacement; validation
/// draws (`disjoint`) without, no query row a support row (fewer queries when `rows` has fewer
/// than `k + q`; with `k` or fewer rows, drawn with replacement as training draws are).
fn support_query(
    rows: &[usize],
    (k, q): (usize, usize),
    disjoint: bool,
    rng: &mut ChaCha8Rng,
) -> (Vec<usize>, Vec<usize>) {
    if disjoint && rows.len() > k {
        let mut v = rows.to_vec();
        v.shuffle(rng);
        let query = v[k..].iter().take(q).copied().collect();
        v.truncate(k);
        return (v, query);
    }
    let mut draw = |n: usize| -> Vec<usize> {
        (0..n)
            .map(|_| rows[rng.random_range(0..rows.len().max(1))])
            .collect()
    };
    (draw(k), draw(q))
}

fn rows_draw(
    h: &Head,
    r: &Rows,
    (pick, disjoint): (&[Vec<usize>], bool),
    k: usize,
    q: usize,
    rng: &mut ChaCha8Rng,
) -> Draw {
    let d = r.d;
    let reg = h.arch.head == HeadKind::Regression;
    let all: Vec<usize> = pick.iter().flatten().copied().collect();
    if reg || !h.cfg.adaptable {
        // Rows across the classes.
        let (s, qq) = support_query(&all, (k, q), disjoint, rng);
        let xs = |v: &[usize]| -> Vec<f64> {
            v.iter()
                .flat_map(|&i| r.x[i * d..(i + 1) * d].iter().copied())
                .collect()
        };
        if reg {
            return Draw::Values(Task {
                n_in: d,
                n_out: 1,
                support_x: xs(&s),
                support_y: s.iter().map(|&i| r.value[i]).collect(),
                query_x: xs(&qq),
                query_y: qq.iter().map(|&i| r.value[i]).collect(),
                truth: None,
            });
        }
        let lab = |v: &[usize]| v.iter().map(|&i| r.class[i]).collect();
        return Draw::Labels {
            d,
            sx: xs(&s),
            sl: lab(&s),
            qx: xs(&qq),
            ql: lab(&qq),
            classes: (0..r.classes).collect(),
        };
    }
    // An N-way episode: `k` support and `q` query rows per class, of the classes that have
    // rows.
    let ways = h.cfg.ways;
    let mut cls: Vec<usize> = (0..pick.len()).filter(|&c| !pick[c].is_empty()).collect();
    cls.shuffle(rng);
    cls.truncate(ways);
    let (mut sx, mut sl, mut qx, mut ql) = (vec![], vec![], vec![], vec![]);
    for (w, &c) in cls.iter().enumerate() {
        let (s, qq) = support_query(&pick[c], (k, q), disjoint, rng);
        for &i in &s {
            sx.extend_from_slice(&r.x[i * d..(i + 1) * d]);
            sl.push(w);
        }
        for &i in &qq {
            qx.extend_from_slice(&r.x[i * d..(i + 1) * d]);
            ql.push(w);
        }
    }
    Draw::Labels {
        d,
        sx,
        sl,
        qx,
        ql,
        classes: cls,
    }
}

/// The draws of head `h`'s batch for (seed, stream): a pure function of them and the head's
/// name; one draw for a fixed head, `meta_batch` tasks or episodes for an adaptable one.
pub fn draws(h: &Head, cfg: &MtConfig, seed: u64, stream: u64, val: bool) -> Vec<Draw> {
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
    let n = if h.cfg.adaptable { cfg.meta_batch } else { 1 };
    let (lo, hi) = h.cfg.train_shots();
    (0..n)
        .map(|_| {
            // Training draws of a K range: each its own K (a fixed K draws nothing, so a
            // configuration without a range keeps its batches).
            let k = if h.cfg.adaptable && !val && lo < hi {
                rng.random_range(lo..=hi)
            } else {
                k
            };
            match &h.source {
                Source::Tasks(t) => Draw::Values(t.sample(split, k, q, &mut rng)),
                Source::Rows(r) => {
                    let pick = if val { &r.val } else { &r.train };
                    rows_draw(h, r, (pick, val), k, q, &mut rng)
                }
            }
        })
        .collect()
}

/// The batch of head `h` for (seed, stream): [`draws`] in the trainer's view.
pub fn batch(h: &Head, cfg: &MtConfig, seed: u64, stream: u64, val: bool) -> Batch {
    let mut data: Vec<TaskData<f64>> = draws(h, cfg, seed, stream, val)
        .iter()
        .map(|d| d.data(&h.arch))
        .collect();
    match (h.cfg.adaptable, data.pop()) {
        (false, Some(d)) => Batch::Fixed(d),
        (_, last) => {
            data.extend(last);
            Batch::Tasks(data)
        }
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
