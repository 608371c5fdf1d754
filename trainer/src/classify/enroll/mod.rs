//! `trainer enroll-eval`: classes added on the device one after another, run by the runtime's
//! own [`ClassBank`] on the host, and what they cost the classes the device started with.
//!
//! Protocol, per episode (independent seeded draws): every class gets `query` query rows and a
//! shuffled pool of support rows, disjoint from its queries. The device starts with the run's
//! meta-training classes ("original"), each enrolled from `shots` samples; then enrollment
//! `j = 1, 2, ...` adds the `j`-th of the held-out classes (in an order drawn per episode). Past
//! the number of held-out classes, enrollment `j` forgets held-out class `(j - 1) mod n` and
//! enrolls it again from `shots` fresh samples of its pool (the churn of a device whose users
//! re-enroll): so "10 enrollments" is 10 enroll calls, whatever the class count. After 0, 1, 5
//! and 10 enrollments it scores the original classes' queries among every active class, the
//! same among the original classes only (how far their rows moved), and the enrolled classes'
//! queries among every active class. Nearest centroid on the raw input and on the trunk's
//! features, with the same samples and the same schedule, are printed beside. Each accuracy
//! comes twice: with a CI over the episodes (which redraw rows and orders of the same few
//! classes), and with the class as the unit (each class's mean over the episodes, then Student's
//! t over the classes), which says how much another class could differ.
//!
//! The device bank runs once per inner step count and per margin ([`runtime::BankState::set_margin`],
//! set after the original classes are enrolled, so only the held-out ones carry it);
//! [`protect::choose_margin`] picks the smallest margin that keeps the original classes' drop
//! within a bound, on episodes of the original classes alone.

pub mod protect;

use super::record::RunRecord;
use super::setup::Setup;
use crate::eval::mean_ci;
use anyhow::{anyhow, bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use runtime::{ClassBank, Model};
use serde::Serialize;

/// Floats of the host's bank and scratch (any model up to these; the device's come from
/// `trainer inspect --rust`): 128 KiB each, 124 classes of 256 inputs. A bank is made on the
/// heap, but its clone (at each checkpoint) passes through a worker thread's 2 MiB stack, a
/// few times over in a debug build.
const CAP: usize = 1 << 15;
type Bank<'m> = ClassBank<'m, CAP, CAP>;

/// Enrollments after which the scores are taken.
pub const CHECKPOINTS: [usize; 4] = [0, 1, 5, 10];

/// What `trainer enroll-eval` varies.
#[derive(Clone, Debug)]
pub struct EnrollSpec {
    pub shots: usize,
    /// Samples each original class is enrolled from (a device that ships knowing its classes
    /// has many); the held-out classes get `shots`.
    pub original_shots: usize,
    pub query: usize,
    pub episodes: usize,
    pub seed: u64,
    /// Inner steps of each enrollment (one row of results each; 0: prototype only).
    pub steps: Vec<u16>,
    /// Their rate.
    pub rate: f32,
    /// Margins of the held-out classes' enrollments (one row of results each per step count).
    pub margins: Vec<f32>,
    /// Per original class (in order), the rows its queries are drawn from; empty, or shorter
    /// than the classes: any of its rows ([`original_queries`]).
    pub original_query_rows: Vec<Vec<usize>>,
}

/// Where the original classes' queries come from, and the line that says so.
#[derive(Clone, Debug, Serialize)]
pub struct OriginalQueries {
    /// `held_out_rows`: rows the trunk did not train on (the run's held-out rows of its
    /// training classes, every row of a validation class); `training_rows`: any of the class's
    /// rows, the trunk's training rows among them; `untrained_trunk`: any row, the model's
    /// trunk having trained on none (the identity exported, or `freeze_trunk`).
    pub source: &'static str,
    pub note: String,
    /// Per original class, the rows its queries are drawn from (empty: any row).
    #[serde(skip)]
    pub rows: Vec<Vec<usize>>,
}

/// The rows the `original` classes' queries are drawn from: when the run holds out at least
/// `query` rows of every class the trunk trained on (the record's `trunk_classes`;
/// `val_fraction` of each, [`super::data::ClassSplit`]), those, so that the original classes are
/// scored on rows as new to the trunk as the enrolled classes' are; else any of their rows, said
/// so. An exported identity trunk, or a frozen one, trained on no row.
pub fn original_queries(
    setup: &Setup,
    record: &RunRecord,
    original: &[usize],
    query: usize,
) -> OriginalQueries {
    let trunk_classes = &record.trunk_classes;
    let identity = record
        .candidates
        .first()
        .is_some_and(|c| c.trunk == "identity");
    if identity || record.config.freeze_trunk {
        return OriginalQueries {
            source: "untrained_trunk",
            note: "the model's trunk trained on no row (the identity, or `freeze_trunk`): the original classes' queries are as new to it as the enrolled classes' are".into(),
            rows: Vec::new(),
        };
    }
    let held = |c: usize| {
        setup
            .split
            .val
            .iter()
            .find(|(v, _)| *v == c)
            .map_or(&[][..], |(_, r)| &r[..])
    };
    let trained: Vec<usize> = original
        .iter()
        .copied()
        .filter(|c| trunk_classes.contains(c))
        .collect();
    let fewest = trained.iter().map(|&c| (held(c).len(), c)).min();
    match fewest {
        Some((n, c)) if n < query => OriginalQueries {
            source: "training_rows",
            note: format!(
                "the original classes' queries are drawn from all their rows, the trunk's training rows among them (the run holds out {n} rows of class {}, `val_fraction` = {}, fewer than the {query} queries): the original classes' accuracies overrate them beside the enrolled classes, which the trunk never saw{}",
                setup.ds.class_name(c),
                record.config.val_fraction,
                match n {
                    0 => String::new(),
                    n => format!("; `--query {n}` draws them from held-out rows"),
                }
            ),
            rows: Vec::new(),
        },
        _ => OriginalQueries {
            source: "held_out_rows",
            note: format!(
                "the original classes' queries are rows the trunk did not train on: the run's held-out rows of {}{} (their enrollment samples may be training rows)",
                setup.ds.describe_classes(&trained),
                match original.iter().any(|c| !trained.contains(c)) {
                    true => format!(
                        " and any row of {} (validation classes: never trained on, though the stopping point was chosen on them)",
                        setup.ds.describe_classes(
                            &original
                                .iter()
                                .copied()
                                .filter(|c| !trained.contains(c))
                                .collect::<Vec<_>>()
                        )
                    ),
                    false => String::new(),
                }
            ),
            rows: original
                .iter()
                .map(|&c| match trained.contains(&c) {
                    true => held(c).to_vec(),
                    false => Vec::new(),
                })
                .collect(),
        },
    }
}

/// The classes of one episode, original first, then the held-out ones in enrollment order:
/// their query rows and support pools.
struct Draw {
    classes: Vec<usize>,
    queries: Vec<Vec<usize>>,
    pools: Vec<Vec<usize>>,
}

/// Something that enrolls, forgets and classifies by label: the runtime's bank or a baseline.
trait Classifier: Clone {
    /// Called once the original classes are enrolled, before the first held-out one.
    fn originals_enrolled(&mut self) -> Result<()> {
        Ok(())
    }
    fn enroll(&mut self, label: u16, x: &[f32]) -> Result<()>;
    fn forget(&mut self, label: u16) -> Result<()>;
    fn classify(&mut self, x: &[f32]) -> Result<u16>;
}

/// The runtime's class bank with its inner steps, and the margin it takes once the original
/// classes are in.
#[derive(Clone)]
struct Device<'m> {
    bank: Box<Bank<'m>>,
    steps: u16,
    rate: f32,
    margin: f32,
}

impl<'m> Device<'m> {
    fn new(model: &'m Model<'m>, head: usize, steps: u16, rate: f32, margin: f32) -> Result<Self> {
        let mut slot = Box::<Bank<'m>>::new_uninit();
        let made = Bank::init_empty(&mut slot, model, head).map(|_| ());
        made.map_err(|e| match e {
            runtime::Error::Capacity { needed, .. } => {
                let classes = model.enrollable(head).map_or(1, |b| usize::from(b.max_classes));
                anyhow!(
                    "the host's class bank holds {CAP} floats and this head's {classes} classes need {needed}: enroll-eval measures up to {} classes of this model (a smaller --max-classes); a device's bank is sized by `trainer inspect --rust`",
                    CAP / needed.div_ceil(classes.max(1))
                )
            }
            e => anyhow!("bank: {e}"),
        })?;
        // SAFETY: `init_empty` initialised the slot (it returned Ok).
        let bank = unsafe { slot.assume_init() };
        Ok(Device {
            bank,
            steps,
            rate,
            margin,
        })
    }
}

impl Classifier for Device<'_> {
    fn originals_enrolled(&mut self) -> Result<()> {
        self.bank
            .set_margin(self.margin)
            .map_err(|e| anyhow!("margin {}: {e}", self.margin))
    }
    fn enroll(&mut self, label: u16, x: &[f32]) -> Result<()> {
        self.bank
            .enroll_steps(label, x, self.steps, self.rate)
            .map(|_| ())
            .map_err(|e| anyhow!("enroll {label}: {e}"))
    }
    fn forget(&mut self, label: u16) -> Result<()> {
        self.bank.forget(label).map_err(|e| anyhow!("forget: {e}"))
    }
    fn classify(&mut self, x: &[f32]) -> Result<u16> {
        Ok(self
            .bank
            .classify(x)
            .map_err(|e| anyhow!("classify: {e}"))?
            .0)
    }
}

/// Nearest class mean (squared Euclidean, f64) of the raw input, or of the trunk's features.
#[derive(Clone)]
struct Centroids<'m> {
    model: &'m Model<'m>,
    features: bool,
    means: Vec<(u16, Vec<f64>)>,
}

impl Centroids<'_> {
    fn embed(&self, x: &[f32]) -> Result<Vec<f64>> {
        let m = self.model;
        if !self.features {
            return Ok(x.iter().map(|&v| f64::from(v)).collect());
        }
        let mut scratch = vec![0.0f32; 2 * m.trunk_width()];
        let mut out = vec![0.0f32; m.feature_len()];
        m.network()
            .features(x, &mut scratch, &mut out)
            .map_err(|e| anyhow!("features: {e}"))?;
        Ok(out.iter().map(|&v| f64::from(v)).collect())
    }
}

impl Classifier for Centroids<'_> {
    fn enroll(&mut self, label: u16, x: &[f32]) -> Result<()> {
        let n = self.model.input_len();
        let mut mu: Vec<f64> = Vec::new();
        let rows: Vec<&[f32]> = x.chunks_exact(n.max(1)).collect();
        for r in &rows {
            let e = self.embed(r)?;
            mu.resize(e.len(), 0.0);
            mu.iter_mut()
                .zip(&e)
                .for_each(|(a, v)| *a += v / rows.len() as f64);
        }
        self.means.push((label, mu));
        Ok(())
    }
    fn forget(&mut self, label: u16) -> Result<()> {
        self.means.retain(|(l, _)| *l != label);
        Ok(())
    }
    fn classify(&mut self, x: &[f32]) -> Result<u16> {
        let e = self.embed(x)?;
        let dist = |mu: &[f64]| -> f64 { mu.iter().zip(&e).map(|(a, b)| (a - b).powi(2)).sum() };
        let best = self
            .means
            .iter()
            .fold(None, |best: Option<(u16, f64)>, (l, mu)| {
                let d = dist(mu);
                match best {
                    Some((_, b)) if b <= d => best,
                    _ => Some((*l, d)),
                }
            });
        best.map(|(l, _)| l).ok_or_else(|| anyhow!("no class"))
    }
}

/// Accuracy on the queries of `classes` (indices into the draw) by `c`, and each class's own
/// (its data set class and accuracy).
fn accuracy<C: Classifier>(
    c: &mut C,
    setup: &Setup,
    draw: &Draw,
    classes: &[usize],
) -> Result<(f64, Vec<(usize, f64)>)> {
    let (mut right, mut total) = (0usize, 0usize);
    let mut per_class = Vec::new();
    for &i in classes {
        let before = right;
        for &r in &draw.queries[i] {
            let x: Vec<f32> = setup.ds.row(r).iter().map(|&v| v as f32).collect();
            right += usize::from(c.classify(&x)? == label(draw.classes[i])?);
            total += 1;
        }
        let n = draw.queries[i].len().max(1);
        per_class.push((draw.classes[i], (right - before) as f64 / n as f64));
    }
    Ok((right as f64 / total.max(1) as f64, per_class))
}

fn label(class: usize) -> Result<u16> {
    u16::try_from(class).map_err(|_| anyhow!("class {class} > 65535"))
}

/// Support rows `round` of class `i` (round 0: its first enrollment): the `round`-th group of `shots` rows of its pool
/// (wrapping around a pool that is too short).
fn support(setup: &Setup, draw: &Draw, i: usize, round: usize, shots: usize) -> Vec<f32> {
    let pool = &draw.pools[i];
    (0..shots)
        .flat_map(|s| {
            setup
                .ds
                .row(pool[(round * shots + s) % pool.len()])
                .iter()
                .map(|&v| v as f32)
        })
        .collect()
}

/// Scores of one classifier on one episode at a checkpoint: original among all, original
/// among originals only, enrolled among all; and each original and enrolled class's accuracy
/// among all (its data set class, its accuracy).
struct Scores {
    all: [f64; 3],
    original: Vec<(usize, f64)>,
    enrolled: Vec<(usize, f64)>,
}

/// [`Scores`] of one classifier on one episode, per checkpoint.
fn run<C: Classifier>(
    mut c: C,
    setup: &Setup,
    draw: &Draw,
    originals: usize,
    [shots, original_shots]: [usize; 2],
) -> Result<Vec<Scores>> {
    let orig: Vec<usize> = (0..originals).collect();
    let held = draw.classes.len() - originals;
    for &i in &orig {
        let x = support(setup, draw, i, 0, original_shots);
        c.enroll(label(draw.classes[i])?, &x)?;
    }
    c.originals_enrolled()?;
    let mut scores = Vec::new();
    for j in 0..=*CHECKPOINTS.last().unwrap_or(&0) {
        if j > 0 {
            let i = originals + (j - 1) % held;
            let round = (j - 1) / held;
            if round > 0 {
                c.forget(label(draw.classes[i])?)?;
            }
            c.enroll(
                label(draw.classes[i])?,
                &support(setup, draw, i, round, shots),
            )?;
        }
        if CHECKPOINTS.contains(&j) {
            let enrolled: Vec<usize> = (originals..originals + j.min(held)).collect();
            let mut only = c.clone();
            for &i in &enrolled {
                only.forget(label(draw.classes[i])?)?;
            }
            let (original, per_original) = accuracy(&mut c, setup, draw, &orig)?;
            let (new, per_new) = match enrolled.is_empty() {
                true => (f64::NAN, Vec::new()),
                false => accuracy(&mut c, setup, draw, &enrolled)?,
            };
            scores.push(Scores {
                all: [original, accuracy(&mut only, setup, draw, &orig)?.0, new],
                original: per_original,
                enrolled: per_new,
            });
        }
    }
    Ok(scores)
}

/// Episode `e`'s draw: queries and pools of the original classes, then of the held-out classes
/// in a drawn order. `from[i]`, when not empty, holds the rows original class `i`'s queries are
/// drawn from ([`EnrollSpec::original_query_rows`]); its pool is then every other row.
fn draw(
    setup: &Setup,
    (original, from): (&[usize], &[Vec<usize>]),
    held: &[usize],
    query: usize,
    seed: u64,
    e: usize,
) -> Draw {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(e as u64);
    let by = setup.ds.by_class();
    let mut order = held.to_vec();
    order.shuffle(&mut rng);
    let classes: Vec<usize> = original.iter().copied().chain(order).collect();
    let (mut queries, mut pools) = (Vec::new(), Vec::new());
    for (i, &c) in classes.iter().enumerate() {
        let mut rows = by[c].clone();
        rows.shuffle(&mut rng);
        match from.get(i).filter(|f| !f.is_empty() && i < original.len()) {
            Some(f) => {
                let mut q = f.clone();
                q.shuffle(&mut rng);
                q.truncate(query);
                rows.retain(|r| !q.contains(r));
                queries.push(q);
                pools.push(rows);
            }
            None => {
                let pool = rows.split_off(query.min(rows.len()));
                queries.push(rows);
                pools.push(pool);
            }
        }
    }
    Draw {
        classes,
        queries,
        pools,
    }
}

/// One row of the table: a method, a checkpoint, and its three scores over episodes.
#[derive(Clone, Debug, Serialize)]
pub struct EnrollRow {
    pub method: String,
    /// The device bank's inner steps per enrollment and margin (None: a nearest-centroid
    /// baseline).
    pub bank: Option<(u16, f32)>,
    pub enrollments: usize,
    /// Mean accuracy in percent and 95% CI half-width, over episodes.
    pub original: (f64, f64),
    pub original_only: (f64, f64),
    pub enrolled: Option<(f64, f64)>,
    /// Original-class accuracy at this checkpoint minus at 0 (paired over episodes).
    pub original_change: (f64, f64),
    /// The same accuracies with the class as the unit: each class's mean over the episodes
    /// (among every active class), then the mean and 95% CI (Student's t) over the classes.
    /// The episodes redraw rows and orders of the same few classes, so their CI says how
    /// well these classes were measured, this one how much another class could differ.
    pub original_over_classes: (f64, f64),
    pub enrolled_over_classes: Option<(f64, f64)>,
    /// The units of those intervals: episodes, original classes, enrolled classes (a CI over
    /// fewer than 2 is none: its half-width is `null`).
    pub episodes: usize,
    pub original_classes: usize,
    pub enrolled_classes: usize,
    /// Each class's mean accuracy in percent (original, then enrolled classes; data set
    /// class indices).
    pub per_class: Vec<(usize, f64)>,
}

/// Each class's mean of `scores` over the episodes where it has one, in class order.
fn class_means<'a>(scores: impl Iterator<Item = &'a (usize, f64)>) -> Vec<(usize, f64)> {
    let mut sums = std::collections::BTreeMap::<usize, (f64, usize)>::new();
    for &(class, acc) in scores {
        let e = sums.entry(class).or_default();
        *e = (e.0 + acc, e.1 + 1);
    }
    sums.into_iter()
        .map(|(c, (s, n))| (c, s / n as f64))
        .collect()
}

/// Runs the protocol of the [module docs](self) with the enrollable head `head` of `bytes`.
pub fn evaluate(
    bytes: &[u8],
    head: usize,
    setup: &Setup,
    original: &[usize],
    held: &[usize],
    spec: &EnrollSpec,
) -> Result<Vec<EnrollRow>> {
    let model = Model::from_bytes(bytes).map_err(|e| anyhow!("model: {e}"))?;
    check(&model, head, setup, original, held, spec)?;
    let banks: Vec<(u16, f32)> = spec
        .steps
        .iter()
        .flat_map(|&s| spec.margins.iter().map(move |&m| (s, m)))
        .collect();
    let mut methods: Vec<String> = banks
        .iter()
        .map(|&(s, m)| {
            let steps = match s {
                0 => "0 steps".to_string(),
                _ => format!("{s} steps at rate {}", spec.rate),
            };
            match m {
                0.0 => format!("device bank, {steps}"),
                _ => format!("device bank, {steps}, margin {m}"),
            }
        })
        .collect();
    methods.push("nearest centroid, raw input".into());
    methods.push("nearest centroid, trunk features".into());
    // Per episode: per method, per checkpoint, the scores.
    let per_episode: Vec<Vec<Vec<Scores>>> = (0..spec.episodes)
        .into_par_iter()
        .map(|e| -> Result<_> {
            let from = (original, &spec.original_query_rows[..]);
            let d = draw(setup, from, held, spec.query, spec.seed, e);
            let o = original.len();
            let mut out = Vec::new();
            for &(steps, margin) in &banks {
                out.push(run(
                    Device::new(&model, head, steps, spec.rate, margin)?,
                    setup,
                    &d,
                    o,
                    [spec.shots, spec.original_shots],
                )?);
            }
            for features in [false, true] {
                let c = Centroids {
                    model: &model,
                    features,
                    means: Vec::new(),
                };
                out.push(run(c, setup, &d, o, [spec.shots, spec.original_shots])?);
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    Ok(summarise(&methods, &banks, &per_episode))
}

/// Refuses, before any episode, a head that is not enrollable or holds too few classes for
/// the protocol, and classes with too few rows for their queries and shots.
fn check(
    model: &Model<'_>,
    head: usize,
    setup: &Setup,
    original: &[usize],
    held: &[usize],
    spec: &EnrollSpec,
) -> Result<()> {
    let Some(bank) = model.enrollable(head) else {
        bail!(
            "head {head} is not enrollable (`trainer export MODEL --head {head} --max-classes C`)"
        );
    };
    // The bank holds every original class and, at most, every held-out one at once.
    let peak = original.len() + held.len().min(*CHECKPOINTS.last().unwrap_or(&0));
    if usize::from(bank.max_classes) < peak {
        bail!(
            "head {head} holds {} classes at most (its --max-classes), and this protocol holds the {} original classes and up to {} enrolled ones at once, {peak} in all: `--max-classes {peak}` or more",
            bank.max_classes,
            original.len(),
            peak - original.len()
        );
    }
    let by = setup.ds.by_class();
    let need = |c: usize| {
        let shots = match original.contains(&c) {
            true => spec.original_shots,
            false => spec.shots,
        };
        (spec.query + shots, shots)
    };
    if let Some(&c) = original
        .iter()
        .chain(held)
        .find(|&&c| by.get(c).map_or(0, Vec::len) < need(c).0)
    {
        let (n, shots) = need(c);
        bail!(
            "class {} has fewer than {n} rows ({} queries + {shots} shots)",
            setup.ds.class_name(c),
            spec.query,
        );
    }
    if held.is_empty() || original.is_empty() {
        bail!("needs original (meta-training) and held-out classes");
    }
    Ok(())
}

/// One row per method and checkpoint: mean +- 95 % CI over the episodes (in percent), the
/// change from before any enrollment paired by episode, and the same over classes.
/// `banks` are the first methods' (steps, margin), the nearest-centroid baselines after them.
fn summarise(
    methods: &[String],
    banks: &[(u16, f32)],
    per_episode: &[Vec<Vec<Scores>>],
) -> Vec<EnrollRow> {
    let ci = |v: Vec<f64>| -> (f64, f64) {
        let (m, c) = mean_ci(&v);
        (100.0 * m, 100.0 * c)
    };
    let mut rows = Vec::new();
    for (mi, method) in methods.iter().enumerate() {
        for (ci_at, &enrollments) in CHECKPOINTS.iter().enumerate() {
            fn at(ep: &[Vec<Scores>], mi: usize, ci_at: usize) -> &Scores {
                &ep[mi][ci_at]
            }
            let col = |k: usize| {
                per_episode
                    .iter()
                    .map(|ep| at(ep, mi, ci_at).all[k])
                    .collect()
            };
            let change = per_episode
                .iter()
                .map(|ep| at(ep, mi, ci_at).all[0] - at(ep, mi, 0).all[0])
                .collect();
            let originals = class_means(
                per_episode
                    .iter()
                    .flat_map(|ep| &at(ep, mi, ci_at).original),
            );
            let enrolled = class_means(
                per_episode
                    .iter()
                    .flat_map(|ep| &at(ep, mi, ci_at).enrolled),
            );
            let over = |v: &[(usize, f64)]| ci(v.iter().map(|c| c.1).collect());
            rows.push(EnrollRow {
                method: method.clone(),
                bank: banks.get(mi).copied(),
                enrollments,
                original: ci(col(0)),
                original_only: ci(col(1)),
                enrolled: (enrollments > 0).then(|| ci(col(2))),
                original_change: ci(change),
                original_over_classes: over(&originals),
                enrolled_over_classes: (enrollments > 0).then(|| over(&enrolled)),
                episodes: per_episode.len(),
                original_classes: originals.len(),
                enrolled_classes: enrolled.len(),
                per_class: originals
                    .iter()
                    .chain(&enrolled)
                    .map(|&(c, a)| (c, 100.0 * a))
                    .collect(),
            });
        }
    }
    rows
}

/// The table of [`evaluate`]'s rows.
pub fn table(rows: &[EnrollRow]) -> String {
    use crate::eval::Interval;
    let over = |(mean, half): (f64, f64), n: usize, unit: &'static str| Interval {
        mean,
        half,
        n,
        unit,
    };
    let mut s = String::from("| method | enrollments | original classes | original, among themselves | change of original | enrolled classes | original, CI over classes | enrolled, CI over classes |\n|---|---:|---|---|---|---|---|---|\n");
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.method,
            r.enrollments,
            over(r.original, r.episodes, "episode"),
            over(r.original_only, r.episodes, "episode"),
            if r.enrollments == 0 {
                "".into()
            } else {
                format!("{:+}", over(r.original_change, r.episodes, "episode"))
            },
            r.enrolled
                .map_or(String::new(), |e| over(e, r.episodes, "episode")
                    .to_string()),
            over(r.original_over_classes, r.original_classes, "class"),
            r.enrolled_over_classes.map_or(String::new(), |e| {
                over(e, r.enrolled_classes, "class").to_string()
            })
        );
    }
    s
}

/// A note when a row of inner steps scores the original classes below the prototype-only row
/// of the same margin before any enrollment, beyond both intervals: the steps at this rate
/// over-fit the samples (None otherwise).
pub fn steps_note(rows: &[EnrollRow], rate: f32) -> Option<String> {
    let start = |r: &&EnrollRow| r.enrollments == 0;
    let plain: Vec<&EnrollRow> = rows.iter().filter(start).collect();
    let base = plain.iter().find(|r| r.bank == Some((0, 0.0)))?;
    let worse: Vec<&str> = plain
        .iter()
        .filter(|r| {
            r.bank
                .is_some_and(|(steps, margin)| steps > 0 && margin == 0.0)
        })
        .filter(|r| r.original.0 + r.original.1 < base.original.0 - base.original.1)
        .map(|r| r.method.as_str())
        .collect();
    (!worse.is_empty()).then(|| {
        format!(
            "{} start(s) the original classes below the bank without steps ({:.2} %): steps at rate {rate} over-fit the enrollment samples on this model; a lower --rate (0.05, 0.005), or none (the device's default is the prototype alone)",
            worse.join("; "),
            base.original.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::{steps_note, EnrollRow};

    fn row(method: &str, steps: u16, enrollments: usize, original: f64) -> EnrollRow {
        EnrollRow {
            method: method.into(),
            bank: Some((steps, 0.0)),
            enrollments,
            original: (original, 0.5),
            original_only: (original, 0.5),
            enrolled: None,
            original_change: (0.0, 0.0),
            original_over_classes: (original, 5.0),
            enrolled_over_classes: None,
            episodes: 100,
            original_classes: 5,
            enrolled_classes: 5,
            per_class: vec![],
        }
    }

    /// Steps that start the original classes far below the prototype alone are said to
    /// over-fit; steps within the intervals, or later checkpoints, are not.
    #[test]
    fn steps_that_over_fit_are_noted() {
        let plain = row("device bank, 0 steps", 0, 0, 78.45);
        let steps = row("device bank, 5 steps at rate 0.5", 5, 0, 21.07);
        let note = steps_note(&[plain.clone(), steps], 0.5).unwrap();
        assert!(
            note.starts_with("device bank, 5 steps at rate 0.5 start(s)"),
            "{note}"
        );
        assert!(
            note.contains("78.45 %") && note.contains("lower --rate"),
            "{note}"
        );
        let close = row("device bank, 5 steps at rate 0.05", 5, 0, 78.2);
        assert_eq!(steps_note(&[plain.clone(), close], 0.05), None);
        let later = row("device bank, 5 steps at rate 0.5", 5, 5, 10.0);
        assert_eq!(steps_note(&[plain, later], 0.5), None);
    }
}
