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
    /// episodes, and how many: a class of few rows repeats however many episodes are drawn.
    pub fewest_splits: Option<(Vec<usize>, usize)>,
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

/// [`EpisodeUnits::fewest_splits`] of `eps` (`labels`: each data row's class).
fn fewest_splits(eps: &[Episode], labels: &[usize]) -> Option<(Vec<usize>, usize)> {
    let mut splits: Vec<(usize, Vec<usize>, Vec<usize>)> =
        eps.iter().flat_map(|ep| way_splits(ep, labels)).collect();
    splits.sort_unstable();
    splits.dedup();
    let mut per_class: std::collections::BTreeMap<usize, usize> = Default::default();
    for (c, _, _) in &splits {
        *per_class.entry(*c).or_default() += 1;
    }
    let fewest = *per_class.values().min()?;
    let classes = per_class
        .into_iter()
        .filter(|&(_, n)| n == fewest)
        .map(|(c, _)| c)
        .collect();
    Some((classes, fewest))
}

fn units(eps: &[Episode], labels: &[usize]) -> Option<EpisodeUnits> {
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
    Some(EpisodeUnits {
        shots: first.shots,
        ways: first.ways,
        episodes: eps.len(),
        distinct: draws.len(),
        query_per_class: first.query,
        classes: classes.len(),
        rows: rows.len(),
        fewest_splits: fewest_splits(eps, labels),
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
                all_units.extend(units(&eps, &setup.ds.labels));
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
            "classes {} of {}, each new to the model as far as this evaluation knows (no run record or config: if the model trained on some of them, this overrates it), as deployed (the runtime's inner loop on the host):\n",
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
            "  {}-way {}-shot: {} ({} from {} of {}), {} per class; chance {:.2}%\n",
            u.ways,
            u.shots,
            count(u.episodes, "episode"),
            count(u.distinct, "distinct draw"),
            count(u.rows, "row"),
            count(u.classes, "class"),
            count(u.query_per_class, "query"),
            100.0 / u.ways.max(1) as f64,
        );
        // A class of few rows repeats its few splits in every draw: say so when they are far
        // fewer than the draws.
        if let Some((c, n)) = u
            .fewest_splits
            .as_ref()
            .filter(|(_, n)| 10 * n < u.distinct)
        {
            let (class, has) = if c.len() == 1 {
                ("class", "has")
            } else {
                ("classes", "have")
            };
            s += &format!(
                "    {class} {} {has} {n} distinct support and query splits only (their rows are few): the episodes repeat them\n",
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

/// Train (or resume), export `out`, write `<out>.trained.json`, evaluate as deployed
/// (`<out>.eval.json`) and plot unless `flags.no_eval`. `flags`' configuration overrides must
/// already be in `cfg` (checked with the file's values, see [`crate::engine::RunFlags::apply`]).
/// Returns None when the run was interrupted (its checkpoint written).
pub fn train_and_export(
    cfg: &ClsConfig,
    name: &str,
    out: &Path,
    flags: &RunFlags,
    stop: &AtomicBool,
) -> Result<Option<Trained>> {
    let setup = Setup::new(cfg)?;
    let ds = &setup.ds;
    eprintln!("{}", crate::csvio::describe_inputs(&ds.file, &ds.columns));
    if let Some(w) = crate::csvio::rising_warning(&ds.columns, &[&ds.x]) {
        eprintln!("{w}");
    }
    if let Some(w) = crate::csvio::imprecise_warning(&ds.columns, &[&ds.x]) {
        eprintln!("{w}");
    }
    if let Some(spec) = &cfg.front_end {
        crate::features::check_config(spec, &cfg.data, setup.ds.d)?;
    }
    if cfg.validate_on == super::config::ValidateOn::HeldOutRows
        && !cfg.freeze_trunk
        && cfg.has_trunk_layers()
    {
        eprintln!("warning: validate_on = \"held_out_rows\" with a trained trunk: the stopping point and the device settings are chosen on the classes the trunk learns, which overrates it; held-out classes measure what the device does");
    }
    if let Some(note) = setup.ways_note(cfg) {
        eprintln!("note: {note}");
    }
    if let Some(note) = setup.unused_classes_note(cfg) {
        eprintln!("note: {note}");
    }
    let t0 = std::time::Instant::now();
    let Some(st) = train_checkpointed(
        out,
        flags,
        stop,
        |ckpt| ClsState::resume(ckpt, cfg, &setup),
        || ClsState::new(cfg, &setup, true),
        |st, ckpts| train_from(st, &setup, ckpts, true),
    )?
    else {
        return Ok(None);
    };
    let trained = finish(&st, &setup)?;
    let secs = t0.elapsed().as_secs_f64();
    let mut def = model_def(name, &trained)?;
    def.front_end = cfg.front_end;
    let bytes = export::write(out, &def)?;
    let record = RunRecord::new(out, cfg, &setup, &trained)?;
    record.write(out)?;
    report_run(
        cfg,
        &setup,
        &record,
        &trained,
        (st.iter, secs),
        (out, bytes),
    );
    std::fs::write(
        out.with_extension("trained.json"),
        serde_json::to_string(&trained)?,
    )?;
    if flags.no_eval {
        return Ok(Some(trained));
    }
    let Some((shots, query)) = noted_eval_shots(&setup, cfg.ways, &cfg.shots) else {
        return Ok(Some(trained));
    };
    evaluate_export(cfg, &setup, &record, &trained, out, &shots, query)?;
    Ok(Some(trained))
}

/// What a finished run prints: iterations, best validation, the device setting and the file;
/// the open-set threshold, the normalisation chosen, the validation classes, the trunks that
/// competed and a note when their difference was inconclusive.
fn report_run(
    cfg: &ClsConfig,
    setup: &Setup,
    record: &RunRecord,
    trained: &Trained,
    (iters, secs): (u64, f64),
    (out, bytes): (&Path, usize),
) {
    eprintln!(
        "trained {} iterations in {secs:.1} s (best validation {:.2}% at iteration {}{}, with the training's head setting); device: scale {}, rate {}, {} steps, chosen after it on the validation episodes (each trunk below with its own); wrote {} ({bytes} bytes) and its run record",
        iters,
        100.0 * trained.best_val,
        trained.best_iter,
        trained
            .early_stop
            .map_or(String::new(), |i| format!(", stopped early at {i}")),
        trained.device.scale,
        trained.device.alpha,
        trained.device.steps,
        out.display()
    );
    if let Some(tau) = trained.open_set_threshold {
        eprintln!(
            "open-set training ({} rows of other classes an episode): the trained trunk's learned threshold is {tau:.4} (squared distance to the nearest prototype); a device's threshold: `trainer eval --unknown-queries U --unknown-score distance`",
            cfg.unknown_queries
        );
    }
    if let Some(c) = &setup.normalise_choice {
        eprintln!(
            "input normalisation (auto): {} (nearest centroid in the device's f32 arithmetic, on up to 200 validation episodes a shot count drawn for this choice, not the trunks' below: per-feature standardisation {:.2}%, common scale {:.2}%)",
            if c.common { "a common scale for every feature" } else { "per-feature standardisation" },
            100.0 * c.standardise_score,
            100.0 * c.common_score
        );
    }
    if !setup.val_classes.is_empty() {
        eprintln!(
            "validation on held-out classes {} ({}-way); the trunk trained on {}",
            setup.ds.describe_classes(&setup.val_classes),
            setup.val_ways,
            setup.ds.describe_classes(&record.trunk_classes)
        );
    }
    print_candidates(trained, &setup.ds, "exported");
    let exported = trained
        .candidates
        .first()
        .is_some_and(|c| c.trunk == "trained");
    let note = inconclusive_trunk_note(cfg, trained.trunk_gain, trained.folds.is_some(), exported);
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
}

/// The exported model evaluated as deployed (2000 episodes of `shots`, baselines on the same
/// draws), printed and written to `<out>.eval.json`, and the run's plots.
fn evaluate_export(
    cfg: &ClsConfig,
    setup: &Setup,
    record: &RunRecord,
    trained: &Trained,
    out: &Path,
    shots: &[usize],
    query: usize,
) -> Result<()> {
    let ways = cfg.ways;
    let blob = export::read(out)?;
    let report = eval_rows(
        &blob,
        setup,
        ways,
        shots,
        &trained.device.step_counts(),
        &EpisodeSpec::Sampled {
            n: 2000,
            query,
            seed: crate::classify::EVAL_SEED,
            unknown: None,
        },
        &baselines(setup, Some(record)),
    )?;
    print!("{}", describe(cfg, &setup.ds, &report));
    print!("{}", table(&report.rows));
    print!("{}", record.untrained_trunk_note().unwrap_or_default());
    let within = super::subjects::report(
        &blob,
        setup,
        (ways, shots, query),
        &trained.device.step_counts(),
        (2000, crate::classify::EVAL_SEED, false),
        &baselines(setup, Some(record)),
    )?;
    if let Some(within) = &within {
        print!("{}", super::subjects::table(&setup.ds, ways, within));
        std::fs::write(
            out.with_extension("eval_subjects.json"),
            serde_json::to_string_pretty(within)?,
        )?;
    }
    let mut report = report;
    for r in &mut report.rows {
        r.per_episode.clear();
    }
    std::fs::write(
        out.with_extension("eval.json"),
        serde_json::to_string_pretty(&report.rows)?,
    )?;
    for p in super::plots::write_all(out, trained, &blob, setup)? {
        eprintln!("plot: {}", p.display());
    }
    Ok(())
}

/// The note of a run without folds whose validation episodes could not tell the trained trunk
/// from the identity (the paired difference's 95% interval contains zero), or whose trained
/// trunk won on them (`trained_exported`: a few classes' episodes cannot show it wins on
/// others), naming the fold comparison when the training classes allow one.
fn inconclusive_trunk_note(
    cfg: &ClsConfig,
    trunk_gain: Option<(f64, f64)>,
    had_folds: bool,
    trained_exported: bool,
) -> Option<String> {
    let (gain, ci) = trunk_gain?;
    let folds = (cfg.train_classes.len() / 2).min(4);
    if had_folds || folds < 2 || cfg.validate_on != super::config::ValidateOn::HeldOutClasses {
        return None;
    }
    if trained_exported && gain > ci {
        return Some(format!(
            "the trained trunk won on the validation classes' episodes; a few classes cannot show it wins on others (a large gain on one class passes that interval): `trunk_folds = {folds}` asks the gain to hold with the class as the unit over every training class (one more training each), and `trainer cv` measures it on every class"
        ));
    }
    if gain.abs() > ci {
        return None;
    }
    Some(format!(
        "the validation episodes do not tell the trained trunk from the identity (the difference's interval contains 0), as is usual with few validation classes or a validation near 100 %: `trunk_folds = {folds}` compares them over {folds} folds of the training classes instead (one more training each)"
    ))
}

/// The trunks compared on the validation episodes (the chosen one marked `chosen`: exported), the trained trunk's gain over the
/// identity, the fold validation and the overfitting warning.
fn print_candidates(trained: &Trained, ds: &Dataset, chosen: &str) {
    for c in &trained.candidates {
        eprintln!(
            "  trunk {:<9} validation {:.2}% (per shots {}) with scale {}, rate {}, {} steps{}",
            c.trunk,
            100.0 * c.score,
            c.per_shots
                .iter()
                .map(|a| format!("{:.2}", 100.0 * a))
                .collect::<Vec<_>>()
                .join("/"),
            c.device.scale,
            c.device.alpha,
            c.device.steps,
            if std::ptr::eq(c, &trained.candidates[0]) {
                format!("  <- {chosen}")
            } else {
                String::new()
            }
        );
    }
    if let (Some((gain, ci)), None) = (trained.trunk_gain, &trained.folds) {
        eprintln!(
            "  trained minus identity on the same validation episodes: {:+.2} +- {:.2} points (the trained trunk is chosen only when this interval lies above zero and its best validation came after iteration 0)",
            100.0 * gain,
            100.0 * ci
        );
    }
    if let Some(f) = &trained.folds {
        eprintln!(
            "  the trunk was chosen over {} folds of the training classes {}: trained {:.2}%, identity {:.2}% (mean validation)",
            f.folds.len(),
            f.folds
                .iter()
                .map(|fold| ds.describe_classes(fold))
                .collect::<Vec<_>>()
                .join(", "),
            100.0 * f.mean(&f.trained),
            100.0 * f.mean(&f.identity)
        );
        let rule = "the trained trunk is chosen only when this interval lies above zero and its best validation came after iteration 0";
        match (f.class_gain(), f.gain()) {
            (Some((gain, ci, n)), episodes) if ci.is_finite() => {
                let over = episodes.map_or(String::new(), |(g, c)| {
                    format!(
                        "; over their episodes {:+.2} +- {:.2}",
                        100.0 * g,
                        100.0 * c
                    )
                });
                eprintln!(
                    "  trained minus identity over the folds' {n} validation classes (the class as the unit): {:+.2} +- {:.2} points ({rule}){over}",
                    100.0 * gain,
                    100.0 * ci
                );
            }
            (_, Some((gain, ci))) => eprintln!(
                "  trained minus identity over the folds' validation episodes: {:+.2} +- {:.2} points ({rule})",
                100.0 * gain,
                100.0 * ci
            ),
            _ => {}
        }
    }
    if let Some(t) = &trained.steps_test {
        eprintln!(
            "  device steps minus the prototype start on the same validation episodes: {:+.2} +- {:.2} points (the step setting was picked on these episodes too: the interval does not count that choice; the novel classes' table is the test): {}",
            100.0 * t.gain,
            100.0 * t.ci,
            if t.passed() {
                "the device takes them"
            } else {
                "not above zero beyond noise, the device takes none"
            }
        );
    }
    if let Some(w) = &trained.warning {
        eprintln!("warning: {w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(fewest_splits(&eps, &labels), Some((vec![0], 3)));
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
