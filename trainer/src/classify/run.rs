//! The classification commands: `trainer train` of a classification configuration (resumable,
//! like every training run; writes the model, its run record and the evaluation) and `trainer
//! eval` of a classification model (the run's own classes, split and normalisation, from its
//! record or its configuration).

use super::config::ClsConfig;
use super::data::Dataset;
use super::deploy::{evaluate, model_def, table, AccRow, Baselines};
use super::episodes::{parse_file, Episode, Pool};
use super::record::RunRecord;
use super::select::finish;
pub use super::setup::Setup;
use super::train::{train_from, ClsState, Trained};
use super::unknown::{self, Drawn, UnknownRow, UnknownSpec};
use crate::engine::{train_checkpointed, RunFlags};
use crate::eval::count;
use crate::export;
use crate::net::Arch;
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::atomic::AtomicBool;

mod export_run;
pub use export_run::train_and_export;

/// Fixed-seed episodes of the meta-test classes for one shot count.
pub fn test_episodes(
    setup: &Setup,
    ways: usize,
    shots: usize,
    query: usize,
    n: usize,
    seed: u64,
) -> Result<Vec<Episode>> {
    pool_episodes(&setup.test, &setup.ds, ways, shots, query, n, seed)
}

/// `n` fixed-seed episodes of `pool` for one shot count.
pub fn pool_episodes(
    pool: &Pool,
    ds: &Dataset,
    ways: usize,
    shots: usize,
    query: usize,
    n: usize,
    seed: u64,
) -> Result<Vec<Episode>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(shots as u64);
    (0..n)
        .map(|_| pool.sample(ds, ways, shots, query, &mut rng))
        .collect()
}

/// Where the episodes of an evaluation come from.
pub enum EpisodeSpec<'a> {
    /// `n` seeded episodes per shot count, `query` per class; with unknown queries (open-set
    /// rejection, [`unknown`]) when given.
    Sampled {
        n: usize,
        query: usize,
        seed: u64,
        unknown: Option<UnknownSpec>,
    },
    /// Exactly the episodes listed in a file (one shot count).
    File(&'a Path),
}

/// What an evaluation measured: the rows, and for each shot count the episodes' count, their
/// distinct draws and the real query size.
pub struct EvalReport {
    pub rows: Vec<AccRow>,
    pub units: Vec<EpisodeUnits>,
    /// With unknown queries: the threshold and its rates, per (shots, steps).
    pub unknown: Vec<UnknownRow>,
}

/// The independent units behind one shot count's rows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EpisodeUnits {
    pub shots: usize,
    pub ways: usize,
    pub episodes: usize,
    /// Episodes that differ from every other: another class, or other support or query rows of
    /// a class (the order of the ways and of the rows does not make an episode another).
    pub distinct: usize,
    pub query_per_class: usize,
    /// Classes and data rows the episodes drew from: what the interval does not cover is
    /// another choice of these.
    pub classes: usize,
    pub rows: usize,
    /// The classes whose (support, query) rows took the fewest distinct forms over the
    /// episodes, among those drawn ten times as often as that, and how many: a class of few
    /// rows repeats however many episodes are drawn.
    pub fewest_splits: Option<(Vec<usize>, usize)>,
    /// The same among the classes drawn at least ten times as often as they took distinct
    /// splits: those whose episodes repeat (a class drawn rarely, one of many, takes few
    /// splits because it was drawn few times, and is not one of these).
    pub repeating: Option<(Vec<usize>, usize)>,
    /// The novel classes with fewer rows than a way takes (shots and queries), each with its
    /// rows: in no episode, so in no accuracy.
    pub left_out: Vec<(usize, usize)>,
}

/// The data class of each way of `ep` and its support and query rows, sorted.
fn way_splits(ep: &Episode, labels: &[usize]) -> Vec<(usize, Vec<usize>, Vec<usize>)> {
    let (k, q) = (ep.shots, ep.query);
    (0..ep.ways)
        .filter_map(|w| {
            let mut support = ep.rows.get(w * k..(w + 1) * k)?.to_vec();
            let at = ep.ways * k + w * q;
            let mut query = ep.rows.get(at..at + q)?.to_vec();
            support.sort_unstable();
            query.sort_unstable();
            Some((*labels.get(*support.first()?)?, support, query))
        })
        .collect()
}

/// Classes and the fewest distinct (support, query) splits they took.
type FewestSplits = (Vec<usize>, usize);

/// [`EpisodeUnits::fewest_splits`] and [`EpisodeUnits::repeating`] of `eps` (`labels`: each
/// data row's class).
fn split_counts(eps: &[Episode], labels: &[usize]) -> (Option<FewestSplits>, Option<FewestSplits>) {
    let mut draws: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut splits: Vec<(usize, Vec<usize>, Vec<usize>)> = Vec::new();
    for split in eps.iter().flat_map(|ep| way_splits(ep, labels)) {
        *draws.entry(split.0).or_default() += 1;
        splits.push(split);
    }
    splits.sort_unstable();
    splits.dedup();
    let mut per_class: std::collections::BTreeMap<usize, usize> = Default::default();
    for (c, _, _) in &splits {
        *per_class.entry(*c).or_default() += 1;
    }
    let fewest = |per_class: &std::collections::BTreeMap<usize, usize>| {
        let fewest = *per_class.values().min()?;
        let classes = (per_class.iter())
            .filter(|&(_, &n)| n == fewest)
            .map(|(&c, _)| c)
            .collect();
        Some((classes, fewest))
    };
    let all = fewest(&per_class);
    per_class.retain(|c, n| 10 * *n < draws.get(c).copied().unwrap_or(0));
    (all, fewest(&per_class))
}

pub(super) fn units(eps: &[Episode], labels: &[usize]) -> Option<EpisodeUnits> {
    let first = eps.first()?;
    let mut rows: Vec<usize> = eps.iter().flat_map(|e| e.rows.clone()).collect();
    rows.sort_unstable();
    rows.dedup();
    let mut classes: Vec<usize> = eps.iter().flat_map(|e| e.pool_class.clone()).collect();
    classes.sort_unstable();
    classes.dedup();
    // Each episode as its ways, each a class with its sorted support and query rows, sorted.
    let mut draws: Vec<_> = eps
        .iter()
        .map(|e| {
            let mut ways = way_splits(e, labels);
            ways.sort_unstable();
            ways
        })
        .collect();
    draws.sort_unstable();
    draws.dedup();
    let (fewest_splits, repeating) = split_counts(eps, labels);
    Some(EpisodeUnits {
        shots: first.shots,
        ways: first.ways,
        episodes: eps.len(),
        distinct: draws.len(),
        query_per_class: first.query,
        classes: classes.len(),
        rows: rows.len(),
        fewest_splits,
        repeating,
        left_out: Vec::new(),
    })
}

pub fn eval_rows(
    bytes: &[u8],
    setup: &Setup,
    ways: usize,
    shots: &[usize],
    steps: &[usize],
    spec: &EpisodeSpec<'_>,
    baselines: &Baselines<'_>,
) -> Result<EvalReport> {
    let mut rows = Vec::new();
    let mut all_units = Vec::new();
    let mut unknown_rows = Vec::new();
    match spec {
        EpisodeSpec::Sampled {
            n,
            query,
            seed,
            unknown,
        } => {
            for &k in shots {
                let need = k + query;
                let enough = setup
                    .test
                    .classes
                    .iter()
                    .filter(|c| c.rows.len() >= need)
                    .count();
                if enough < ways {
                    bail!(
                        "{}-way {k}-shot episodes with {query} queries per class need {ways} novel classes with {need} rows; {enough} of {} have them ({:?} rows)",
                        ways,
                        setup.ds.describe_classes(&setup.test.classes.iter().map(|c| c.class).collect::<Vec<_>>()),
                        setup.test.classes.iter().map(|c| c.rows.len()).collect::<Vec<_>>()
                    );
                }
            }
            for &k in shots {
                let eps = test_episodes(setup, ways, k, *query, *n, *seed)?;
                all_units.extend(units(&eps, &setup.ds.labels).map(|mut u| {
                    u.left_out = (setup.test.classes.iter())
                        .filter(|c| c.rows.len() < k + query)
                        .map(|c| (c.class, c.rows.len()))
                        .collect();
                    u
                }));
                rows.extend(evaluate(bytes, &eps, steps, baselines)?);
                if let Some(u) = unknown {
                    let spec = (k, *query, *n, *seed);
                    unknown_rows.extend(unknown_rows_of(bytes, setup, ways, spec, &eps, steps, u)?);
                }
            }
        }
        EpisodeSpec::File(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let [k] = shots else {
                bail!("--episodes FILE takes one --shots value");
            };
            let fields = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .map_or(0, |l| l.split(',').count());
            if fields % ways != 0 || fields / ways <= *k {
                bail!(
                    "{}: first episode has {fields} rows: not {ways} x ({k} + queries) (an episode is one line of comma-separated 0-based data rows: the {ways} x {k} support rows, class by class, then the queries, as many per class)",
                    path.display()
                );
            }
            let q = fields / ways - k;
            let eps = parse_file(&text, &path.display().to_string(), &setup.ds, ways, *k, q)?;
            // Only the novel classes: a class the model trained or validated on would score
            // what it learned, not what it adapts to, under the novel classes' name.
            let novel: Vec<usize> = setup.test.classes.iter().map(|c| c.class).collect();
            for (i, ep) in eps.iter().enumerate() {
                if let Some(&c) = ep.pool_class.iter().find(|c| !novel.contains(c)) {
                    bail!(
                        "{}: episode {}: class {} is not one of the model's novel classes {} (its training and validation classes cannot be evaluated as new)",
                        path.display(),
                        i + 1,
                        setup.ds.class_name(c),
                        setup.ds.describe_classes(&novel)
                    );
                }
            }
            all_units.extend(units(&eps, &setup.ds.labels));
            rows.extend(evaluate(bytes, &eps, steps, baselines)?);
        }
    }
    Ok(EvalReport {
        rows,
        units: all_units,
        unknown: unknown_rows,
    })
}

/// The unknown-input rows of one shot count `(k, query, n, seed)`: calibration episodes of the
/// run's meta-training classes ([`unknown::calibration_pool`]) built as the novel episodes
/// `eps` are, each with `u.queries` unknown rows of its pool's other classes.
fn unknown_rows_of(
    bytes: &[u8],
    setup: &Setup,
    ways: usize,
    (k, query, n, seed): (usize, usize, usize, u64),
    eps: &[Episode],
    steps: &[usize],
    u: &UnknownSpec,
) -> Result<Vec<UnknownRow>> {
    if u.score == unknown::Score::Relative && k < 2 {
        eprintln!(
            "note: --unknown-score relative: no unknown-input rows at {k} shot (a within-class variance needs 2 or more shots of a class)"
        );
        return Ok(Vec::new());
    }
    let novel = Drawn {
        unknown: unknown::draws(&setup.test, &setup.ds, eps, u.queries, seed)?,
        eps,
    };
    if u.threshold.is_some() {
        return unknown::evaluate(bytes, None, &novel, steps, u);
    }
    let pool = unknown::calibration_pool(&setup.val, setup.seen.as_ref(), ways, k + query);
    let mut classes: Vec<usize> = pool.classes.iter().map(|c| c.class).collect();
    classes.sort_unstable();
    classes.dedup();
    let usable = pool
        .classes
        .iter()
        .filter(|c| c.rows.len() >= k + query)
        .count();
    if usable < ways || pool.classes.len() <= ways {
        bail!(
            "unknown inputs: the threshold is chosen on {ways}-way episodes of the validation classes {} (and held-out rows of the trunk's classes, if any), with another class's rows as unknown queries: that needs {} classes, {ways} of them with {k} + {query} rows; there are {}, {usable} with those rows (lower --ways or --query, or give --unknown-threshold)",
            setup.ds.describe_classes(&classes),
            ways + 1,
            pool.classes.len()
        );
    }
    let cal_eps = pool_episodes(
        &pool,
        &setup.ds,
        ways,
        k,
        query,
        n,
        seed ^ unknown::CALIBRATION_SALT,
    )?;
    let cal = Drawn {
        unknown: unknown::draws(
            &pool,
            &setup.ds,
            &cal_eps,
            u.queries,
            seed ^ unknown::CALIBRATION_SALT,
        )?,
        eps: &cal_eps,
    };
    unknown::evaluate(bytes, Some((&cal, &classes)), &novel, steps, u)
}

/// The baselines of a run: standardised nearest centroid and the trained trunk, if any.
pub fn baselines<'a>(setup: &'a Setup, record: Option<&'a RunRecord>) -> Baselines<'a> {
    trunk_baselines(
        setup,
        record.and_then(|r| r.trained_trunk.as_ref()),
        record.is_some_and(|r| r.plain_protonet),
    )
}

/// The baselines of a run with the trained trunk `trunk` (named `protonet` when it is a plain
/// ProtoNet, else `trained_trunk`).
pub fn trunk_baselines<'a>(
    setup: &'a Setup,
    trunk: Option<&'a (Arch, Vec<f64>)>,
    plain_protonet: bool,
) -> Baselines<'a> {
    let name = if plain_protonet {
        "protonet"
    } else {
        "trained_trunk"
    };
    Baselines {
        standardise: &setup.standardise,
        model_input: setup.norm.window.is_some().then_some(&setup.norm),
        trunk: trunk.map(|(a, p)| (a, p.as_slice(), name)),
    }
}

/// Queries per class when none is asked for: 15, or as many as the novel classes' rows allow
/// (the `ways`-th largest class holds `max_shots` plus the queries); 0 when they allow none.
pub fn default_query(setup: &Setup, ways: usize, max_shots: usize) -> usize {
    let mut rows: Vec<usize> = setup.test.classes.iter().map(|c| c.rows.len()).collect();
    rows.sort_unstable_by(|a, b| b.cmp(a));
    rows.get(ways.saturating_sub(1))
        .map_or(0, |r| r.saturating_sub(max_shots))
        .min(DEFAULT_QUERY)
}

/// 1 and 5 shots and the configuration's `configured` ones, in order: what an evaluation after
/// training (and `cv`) takes, as far as the novel classes' rows allow.
pub fn eval_shot_counts(configured: &[usize]) -> Vec<usize> {
    let mut shots: Vec<usize> = [1, 5].iter().chain(configured).copied().collect();
    shots.sort_unstable();
    shots.dedup();
    shots.retain(|&k| k > 0);
    shots
}

/// The shot counts (1 and 5 and the configuration's `configured` ones, those the novel
/// classes' rows allow) and queries per class of the evaluation after training; None when not
/// even 1-shot episodes fit.
pub fn trained_eval_shots(
    setup: &Setup,
    ways: usize,
    configured: &[usize],
) -> Option<(Vec<usize>, usize)> {
    let mut shots = eval_shot_counts(configured);
    shots.retain(|&k| default_query(setup, ways, k) > 0);
    let query = default_query(setup, ways, *shots.last()?);
    Some((shots, query))
}

/// The shot counts and queries per class of the `ways`-way evaluation after training (and of
/// `quantise`: the model's head is `ways`-way): [`trained_eval_shots`], with a note on stderr
/// when the data allow less than 1 and 5 shots with [`DEFAULT_QUERY`] queries. None (noted,
/// with the fix): not even 1-shot episodes with a query fit.
pub fn noted_eval_shots(
    setup: &Setup,
    ways: usize,
    configured: &[usize],
) -> Option<(Vec<usize>, usize)> {
    let Some((shots, query)) = trained_eval_shots(setup, ways, configured) else {
        let fix = too_few_novel_classes(setup.test.classes.len(), ways);
        eprintln!(
            "note: no evaluation: the model's head is {ways}-way, and {ways}-way 1-shot episodes with a query need {ways} novel classes with 2 rows; {fix}"
        );
        return None;
    };
    if query < DEFAULT_QUERY || !shots.contains(&5) {
        eprintln!(
            "note: the evaluation after training (1 and 5 shots and the configuration's, {DEFAULT_QUERY} queries per class, as the novel classes' rows allow) runs at {shots:?} shots with {query} queries per class; `trainer eval --model OUT --shots K,..` evaluates other shot counts"
        );
    }
    Some((shots, query))
}

/// The end of [`noted_eval_shots`]' note: how many novel classes there are and what to change.
/// Fewer than 2 make no episode whatever `ways` is: only holding out more classes helps.
fn too_few_novel_classes(classes: usize, ways: usize) -> String {
    let more = |n: usize| crate::eval::count(n, "more class");
    if classes < 2 {
        let to_ways = match ways > 2 {
            true => format!(", or {} and set `ways = 2`", more(2 - classes)),
            false => String::new(),
        };
        format!(
            "there {}, and any episode needs 2: hold out at least {} in `test_classes`{to_ways} (a class the device enrolls later cannot be measured here)",
            if classes == 1 { "is 1".to_string() } else { format!("are {classes}") },
            more(ways - classes),
        )
    } else if classes < ways {
        format!(
            "there are {classes}: set `ways = {classes}` (the device's head takes `ways` classes) or hold out {} in `test_classes`",
            more(ways - classes)
        )
    } else {
        "fewer of them have 2 rows".to_string()
    }
}

/// Queries per class of an evaluation, unless the data allow fewer.
pub const DEFAULT_QUERY: usize = 15;

/// The lines above an evaluation table: which classes, how many independent episodes.
pub fn describe(cfg: &ClsConfig, ds: &Dataset, report: &EvalReport) -> String {
    let mut s = if cfg.train_classes.is_empty() {
        format!(
            "classes {} of {}, each taken as new to the model (a class it trained or validated on is overrated; a run record beside the model names those above), as deployed (the runtime's inner loop on the host):\n",
            ds.describe_classes(&cfg.test_classes),
            cfg.data.display()
        )
    } else {
        format!(
            "novel classes {} (never seen in training or validation), as deployed (the runtime's inner loop on the host):\n",
            ds.describe_classes(&cfg.test_classes)
        )
    };
    for u in &report.units {
        s += &format!(
            "  {}-way {}-shot: {} ({} distinct, drawing on {} of {}), {} per class; chance {:.2}%\n",
            u.ways,
            u.shots,
            count(u.episodes, "episode"),
            u.distinct,
            count(u.rows, "row"),
            count(u.classes, "class"),
            count(u.query_per_class, "query"),
            100.0 / u.ways.max(1) as f64,
        );
        // A class of few rows repeats its few splits in every draw: say so when they are far
        // fewer than the draws.
        if !u.left_out.is_empty() {
            let named: Vec<String> = (u.left_out.iter())
                .map(|&(c, n)| format!("{} ({})", ds.class_name(c), count(n, "row")))
                .collect();
            let fewest = u.left_out.iter().map(|&(_, n)| n).min().unwrap_or(0);
            let fix = match fewest.checked_sub(u.shots) {
                Some(q) if q > 0 => format!("`trainer eval --query {q}` takes them in"),
                _ => "too few rows for this shot count".to_string(),
            };
            s += &format!(
                "    left out: {}: fewer rows than {} + {} ({fix})\n",
                named.join(", "),
                count(u.shots, "shot"),
                count(u.query_per_class, "query"),
            );
        }
        if let Some((c, n)) = &u.repeating {
            let class = if c.len() == 1 { "class" } else { "classes" };
            s += &format!(
                "    {class} {}: a class's rows split into support and queries in as few as {n} distinct ways (its rows are few): the episodes repeat them\n",
                ds.describe_classes(c)
            );
        }
    }
    s += "95% CI over episodes (how well these classes were measured), then with the class as the unit: each class's accuracy over its queries, their mean and 95% CI (how much another class might differ)\n";
    if let Some(hint) = cv_hint(cfg) {
        s += &format!("{hint}\n");
    }
    s
}

/// The hint of a run with few novel classes: `trainer cv` makes every class novel once.
fn cv_hint(cfg: &ClsConfig) -> Option<String> {
    let classes = super::cv::class_count(cfg);
    let folds = classes / cfg.ways.max(1);
    let novel = cfg.test_classes.len();
    (!cfg.train_classes.is_empty() && novel <= 5 && folds >= 2).then(|| {
        format!(
            "({}: `trainer cv --config <this configuration> --folds {}` trains a run per fold of all {classes} classes, each novel once, for accuracies over every class)",
            crate::eval::count(novel, "novel class"),
            folds.min(5),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::export_run::inconclusive_trunk_note;
    use super::*;

    #[test]
    fn a_class_drawn_rarely_is_not_one_of_few_rows() {
        // Class 0 has 40 rows but is drawn in 4 of 40 episodes (4 distinct splits); class 1 is
        // in every one. Neither repeats its splits.
        let labels: Vec<usize> = (0..80).map(|r| usize::from(r >= 40)).collect();
        let eps: Vec<Episode> = (0..40)
            .map(|i| Episode {
                ways: 2,
                shots: 1,
                query: 1,
                rows: match i % 10 {
                    0 => vec![i, 40 + i, i + 1, 40 + (i + 1) % 40],
                    _ => vec![
                        40 + i,
                        40 + (i + 3) % 40,
                        40 + (i + 1) % 40,
                        40 + (i + 5) % 40,
                    ],
                },
                pool_class: vec![0, 1],
                ..Default::default()
            })
            .collect();
        assert_eq!(split_counts(&eps, &labels).1, None);
    }

    #[test]
    fn a_class_of_few_rows_has_few_splits_however_many_draws() {
        // Class 0 has rows 0-2 (1 shot, 1 query: at most 6 splits), class 1 rows 10-29.
        let labels: Vec<usize> = (0..30).map(|r| usize::from(r >= 10)).collect();
        let eps: Vec<Episode> = (0..40)
            .map(|i| Episode {
                ways: 2,
                shots: 1,
                query: 1,
                // Support (class 0, class 1) then query (class 0, class 1).
                rows: vec![i % 3, 10 + i % 20, (i + 1) % 3, 10 + (i + 7) % 20],
                pool_class: vec![0, 1],
                ..Default::default()
            })
            .collect();
        assert_eq!(split_counts(&eps, &labels).1, Some((vec![0], 3)));
        let u = units(&eps, &labels).unwrap();
        assert_eq!((u.distinct, u.fewest_splits), (40, Some((vec![0], 3))));
    }

    /// The same classes, support and query rows in another order of the ways or of the rows
    /// are the same episode: these 60 draws of 3 classes in rotated orders take 3 splits, so
    /// they are 3 episodes.
    #[test]
    fn episodes_that_differ_only_in_order_are_one_draw() {
        let labels: Vec<usize> = (0..9).map(|r| r / 3).collect();
        let eps: Vec<Episode> = (0..60)
            .map(|i| {
                // Split s of class c: support row c*3 + s, query row c*3 + (s + 1) % 3.
                let s = (i / 10) % 3;
                let mut order = [0usize, 1, 2];
                order.rotate_left(i % 3);
                let support: Vec<usize> = order.iter().map(|c| c * 3 + s).collect();
                let query: Vec<usize> = order.iter().map(|c| c * 3 + (s + 1) % 3).collect();
                Episode {
                    ways: 3,
                    shots: 1,
                    query: 1,
                    rows: [support, query].concat(),
                    pool_class: order.to_vec(),
                    ..Default::default()
                }
            })
            .collect();
        let u = units(&eps, &labels).unwrap();
        assert_eq!(u.distinct, 3);
        assert_eq!(u.fewest_splits, Some((vec![0, 1, 2], 3)));
    }

    #[test]
    fn an_inconclusive_trunk_comparison_names_the_folds() {
        let cfg = ClsConfig {
            train_classes: (0..8).collect(),
            ..ClsConfig::default()
        };
        let note = |cfg: &ClsConfig, gain, folds, exported| {
            inconclusive_trunk_note(cfg, gain, folds, exported)
        };
        let n = note(&cfg, Some((-0.002, 0.006)), false, false).expect("note");
        assert!(
            n.contains("trunk_folds = 4") && n.contains("do not tell"),
            "{n}"
        );
        // Decided against the trained trunk, already folded, no trained trunk, or too few
        // classes: no note.
        assert!(note(&cfg, Some((-0.02, 0.006)), false, false).is_none());
        assert!(note(&cfg, Some((0.0, 0.006)), true, false).is_none());
        assert!(note(&cfg, None, false, false).is_none());
        // Decided for it on a few classes' episodes: the folds are named too.
        let n = note(&cfg, Some((0.02, 0.006)), false, true).expect("note");
        assert!(
            n.contains("trunk_folds = 4") && n.contains("class as the unit"),
            "{n}"
        );
        assert!(note(&cfg, Some((0.02, 0.006)), true, true).is_none());
        let few = ClsConfig {
            train_classes: vec![0, 1, 2],
            ..ClsConfig::default()
        };
        assert!(note(&few, Some((0.0, 0.006)), false, false).is_none());
        let five = ClsConfig {
            train_classes: (0..5).collect(),
            ..ClsConfig::default()
        };
        let n = note(&five, Some((0.0, 0.006)), false, false).expect("note");
        assert!(n.contains("trunk_folds = 2"), "{n}");
    }

    #[test]
    fn too_few_novel_classes_gives_a_fix_that_makes_an_episode() {
        // One novel class: no `ways` makes an episode; only holding out more does.
        let one = too_few_novel_classes(1, 2);
        assert!(
            one.contains("there is 1") && one.contains("at least 1 more class in"),
            "{one}"
        );
        assert!(!one.contains("set `ways"), "{one}");
        let five = too_few_novel_classes(1, 5);
        assert!(five.contains("at least 4 more classes"), "{five}");
        assert!(
            five.contains("or 1 more class and set `ways = 2`"),
            "{five}"
        );
        // Three novel classes for a 5-way head: 3-way, or two more classes.
        let three = too_few_novel_classes(3, 5);
        assert!(
            three.contains("set `ways = 3`") && three.contains("2 more classes"),
            "{three}"
        );
    }
}
