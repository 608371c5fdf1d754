//! Evaluation within one subject: with a `subject_column`, each episode's support and queries
//! are one subject's rows of the novel classes (a device adapting to its own user, sensor or
//! session), and every accuracy is also given with the subject as the unit.
//!
//! Pooled episodes (rows of any subject) measure a head adapted on several people's samples
//! and asked about others'; a device holds one user's samples and answers that user. On data
//! where subjects differ (a sensor's gain, a person's gait) the two differ, in either
//! direction: the within-subject rows are what the device does. Training episodes are drawn
//! so too with `train_episodes = "within_subject"` ([`training_pools`]).

use super::config::{ClsConfig, TrainEpisodes};
use super::data::Dataset;
use super::deploy::{evaluate, AccRow, Baselines};
use super::episodes::{Episode, Pool, PoolClass};
use super::setup::Setup;
use crate::eval::{ci_cell, mean_ci};
use anyhow::{bail, Result};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// One method's accuracy over the within-subject episodes of one shot count: the episode rows
/// ([`AccRow`]), then with the subject as the unit (each subject's mean episode accuracy, then
/// the mean and Student's t 95 % CI over the subjects).
#[derive(Clone, Debug, Serialize)]
pub struct SubjectRow {
    #[serde(flatten)]
    pub row: AccRow,
    pub subjects: usize,
    pub subject_accuracy: f64,
    pub subject_ci95: f64,
    /// Each subject's mean accuracy over its episodes: the units of the interval above.
    pub per_subject: Vec<SubjectScore>,
}

/// One subject's mean accuracy (percent) over the within-subject episodes drawn from its rows.
#[derive(Clone, Debug, Serialize)]
pub struct SubjectScore {
    pub subject: String,
    pub episodes: usize,
    pub accuracy: f64,
}

/// The within-subject evaluation of one shot count: its rows, the subjects that could host an
/// episode of it, and the queries per class its episodes had.
#[derive(Clone, Debug, Serialize)]
pub struct SubjectReport {
    pub shots: usize,
    pub rows: Vec<SubjectRow>,
    /// Names of the subjects with `ways` novel classes of `shots + 1` rows or more.
    pub eligible: Vec<String>,
    /// Fewest and most queries per class of an episode.
    pub query: (usize, usize),
    /// Episodes drawn, and how many of them differ (a subject's few rows repeat).
    #[serde(default)]
    pub episodes: usize,
    #[serde(default)]
    pub distinct: usize,
    /// The classes whose (support, query) rows took the fewest distinct forms, and how many.
    #[serde(default)]
    pub fewest_splits: Option<(Vec<usize>, usize)>,
    /// The same among the classes whose episodes repeat their splits (drawn ten times as often).
    #[serde(default)]
    pub repeating: Option<(Vec<usize>, usize)>,
}

/// Each subject's classes of `pool` as pools: the pool's classes cut to the subject's rows;
/// `(subject, pool, queries per class)` of the subjects with `ways` classes of `shots + 1`
/// rows or more. Queries: up to `query`, as many as the subject's `ways`-th largest class
/// leaves beside the shots; a class with fewer rows than the shots and those queries keeps
/// none (no episode of the subject takes it). Every class keeps its place, so an episode's
/// `pool_class` names the same class as in `pool`, whichever subject it came from.
pub(super) fn subject_pools(
    pool: &Pool,
    ds: &Dataset,
    ways: usize,
    (shots, query): (usize, usize),
) -> Vec<SubjectPool> {
    let mut out = Vec::new();
    for s in 0..ds.subject_names.len() {
        let mut classes: Vec<PoolClass> = pool
            .classes
            .iter()
            .map(|c| PoolClass {
                rows: c
                    .rows
                    .iter()
                    .copied()
                    .filter(|&r| ds.subjects[r] == s)
                    .collect(),
                ..c.clone()
            })
            .collect();
        let mut sizes: Vec<usize> = classes
            .iter()
            .map(|c| c.rows.len())
            .filter(|&n| n > shots)
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        // The `ways`-th largest class (none: the subject cannot host an episode).
        let Some(&nth) = ways.checked_sub(1).and_then(|i| sizes.get(i)) else {
            continue;
        };
        let q = (nth - shots).min(query);
        for c in &mut classes {
            if c.rows.len() < shots + q {
                c.rows.clear();
            }
        }
        let own = Pool {
            classes,
            side: pool.side,
            augment: pool.augment,
        };
        out.push((s, own, q));
    }
    out
}

/// One subject's share of a pool: `(subject, its classes cut to its rows, queries per class)`.
pub(super) type SubjectPool = (usize, Pool, usize);

/// The training pool cut per subject for each of `cfg.shots` (`setup.train_ways`-way
/// episodes, `cfg.query` queries), as `train_episodes = "within_subject"` draws them; an empty list for a
/// shot count no subject can host (noted: those episodes mix subjects), and for every shot
/// count when the data name no subject or episodes are pooled.
pub fn training_pools(setup: &Setup, cfg: &ClsConfig) -> Vec<Vec<SubjectPool>> {
    let within =
        !setup.ds.subjects.is_empty() && cfg.train_episodes == TrainEpisodes::WithinSubject;
    cfg.shots
        .iter()
        .map(|&k| {
            if !within {
                return Vec::new();
            }
            let pools = subject_pools(&setup.train, &setup.ds, setup.train_ways, (k, cfg.query));
            if pools.is_empty() {
                eprintln!(
                    "note: no subject has {} training classes of {} rows: the {k}-shot training episodes mix subjects",
                    setup.train_ways,
                    k + 1
                );
            }
            pools
        })
        .collect()
}

/// Episodes drawn within one subject each ([`episodes`]).
pub struct WithinEpisodes {
    pub eps: Vec<Episode>,
    /// Each episode's subject.
    pub subjects: Vec<usize>,
    /// Names of the subjects that could host an episode.
    pub eligible: Vec<String>,
}

/// `n` seeded `ways`-way `shots`-shot episodes of the novel classes, each within one subject
/// ([`episodes_of`] the test pool).
pub fn episodes(
    setup: &Setup,
    ways: usize,
    shots: usize,
    query: usize,
    (n, seed): (usize, u64),
) -> Result<Option<WithinEpisodes>> {
    episodes_of(&setup.test, &setup.ds, ways, (shots, query), (n, seed))
}

/// `n` seeded `ways`-way `shots`-shot episodes of `pool`'s classes, each within one subject
/// drawn uniformly among those that can host one (`subject_pools`); None when no subject
/// can.
pub fn episodes_of(
    pool: &Pool,
    ds: &Dataset,
    ways: usize,
    (shots, query): (usize, usize),
    (n, seed): (usize, u64),
) -> Result<Option<WithinEpisodes>> {
    let pools = subject_pools(pool, ds, ways, (shots, query));
    if pools.is_empty() {
        return Ok(None);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005b_1ec7);
    rng.set_stream(shots as u64);
    let (mut eps, mut subjects) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let (s, pool, q) = &pools[rng.random_range(0..pools.len())];
        eps.push(pool.sample(ds, ways, shots, *q, &mut rng)?);
        subjects.push(*s);
    }
    let names = pools
        .iter()
        .map(|(s, _, _)| ds.subject_names[*s].clone())
        .collect();
    Ok(Some(WithinEpisodes {
        eps,
        subjects,
        eligible: names,
    }))
}

/// The within-subject evaluation of `bytes` for each of `shots` (the methods and baselines of
/// [`evaluate`], on the same episodes), `n` episodes each; a shot count no subject can host
/// has no rows (and no eligible subject), which [`table`] says.
pub fn evaluate_within(
    bytes: &[u8],
    setup: &Setup,
    (ways, shots, query): (usize, &[usize], usize),
    steps: &[usize],
    (n, seed): (usize, u64),
    baselines: &Baselines<'_>,
) -> Result<Vec<SubjectReport>> {
    if setup.ds.subjects.is_empty() {
        bail!("no subject column: set `subject_column` in the configuration");
    }
    let mut out = Vec::new();
    for &k in shots {
        let Some(WithinEpisodes {
            eps,
            subjects,
            eligible,
        }) = episodes(setup, ways, k, query, (n, seed))?
        else {
            out.push(SubjectReport {
                shots: k,
                rows: Vec::new(),
                eligible: Vec::new(),
                query: (0, 0),
                episodes: 0,
                distinct: 0,
                fewest_splits: None,
                repeating: None,
            });
            continue;
        };
        let rows = evaluate(bytes, &eps, steps, baselines)?
            .into_iter()
            .map(|row| subject_row(row, &subjects, &setup.ds.subject_names))
            .collect();
        let q = eps.iter().map(|e| e.query);
        let query = (q.clone().min().unwrap_or(0), q.max().unwrap_or(0));
        let units = super::run::units(&eps, &setup.ds.labels);
        out.push(SubjectReport {
            shots: k,
            rows,
            eligible,
            query,
            episodes: eps.len(),
            distinct: units.as_ref().map_or(0, |u| u.distinct),
            fewest_splits: units.as_ref().and_then(|u| u.fewest_splits.clone()),
            repeating: units.and_then(|u| u.repeating),
        });
    }
    Ok(out)
}

/// [`evaluate_within`] when the run names a `subject_column` (None otherwise), `n` seeded
/// episodes per shot count; every episode's accuracy dropped unless `per_episode`.
pub fn report(
    bytes: &[u8],
    setup: &Setup,
    (ways, shots, query): (usize, &[usize], usize),
    steps: &[usize],
    (n, seed, per_episode): (usize, u64, bool),
    baselines: &Baselines<'_>,
) -> Result<Option<Vec<SubjectReport>>> {
    if setup.ds.subjects.is_empty() {
        return Ok(None);
    }
    let mut reports = evaluate_within(
        bytes,
        setup,
        (ways, shots, query),
        steps,
        (n, seed),
        baselines,
    )?;
    if !per_episode {
        for r in reports.iter_mut().flat_map(|r| &mut r.rows) {
            r.row.per_episode.clear();
        }
    }
    Ok(Some(reports))
}

/// `row` with the subject as the unit: each subject's mean over its episodes (`subjects`:
/// each episode's, indices into `names`), then their mean and interval (percent, as the
/// episodes').
fn subject_row(row: AccRow, subjects: &[usize], names: &[String]) -> SubjectRow {
    let mut by: std::collections::BTreeMap<usize, (f64, usize)> = Default::default();
    for (acc, s) in row.per_episode.iter().zip(subjects) {
        let e = by.entry(*s).or_default();
        *e = (e.0 + acc, e.1 + 1);
    }
    let per_subject: Vec<SubjectScore> = by
        .iter()
        .map(|(s, (sum, n))| SubjectScore {
            subject: names.get(*s).cloned().unwrap_or_else(|| s.to_string()),
            episodes: *n,
            accuracy: sum / *n as f64,
        })
        .collect();
    let means: Vec<f64> = per_subject.iter().map(|p| p.accuracy).collect();
    let (m, ci) = mean_ci(&means);
    SubjectRow {
        row,
        subjects: means.len(),
        subject_accuracy: m,
        subject_ci95: ci,
        per_subject,
    }
}

/// What the within-subject episodes of each shot count were drawn from, then the rows as a
/// table: accuracy over the episodes, then with the subject as the unit.
pub fn table(ds: &Dataset, ways: usize, held_out: &[String], reports: &[SubjectReport]) -> String {
    let mut s = String::new();
    // The subjects the novel classes' rows are of: the held-out ones (`test_subjects`), else
    // every subject.
    let of = match held_out.len() {
        0 => format!("{} subjects", ds.subject_names.len()),
        n => format!("{n} held-out subjects (`test_subjects`)"),
    };
    for r in reports {
        if r.eligible.is_empty() {
            s += &format!(
                "within one subject, {ways}-way {}-shot: no episode: none of the {of} has {ways} novel classes of {} rows or more\n",
                r.shots,
                r.shots + 1
            );
            continue;
        }
        s += &format!(
            "within one subject, {ways}-way {}-shot: episodes drawn from {} of {of} (those with {ways} novel classes of {} rows or more: {}), {} per class\n",
            r.shots,
            r.eligible.len(),
            r.shots + 1,
            preview(&r.eligible),
            match r.query {
                (a, b) if a == b => crate::eval::count(a, "query"),
                (a, b) => format!("{a}-{b} queries"),
            }
        );
        // Few rows repeat their few splits in every draw: say so when they are far fewer
        // than the episodes, as the pooled table does.
        if let Some((c, n)) = &r.repeating {
            s += &format!(
                "    within these subjects, {} {}: a class's rows split into support and queries in as few as {n} distinct ways (its rows are few): the episodes repeat them, and the interval over episodes overstates how well they were measured; the one over subjects is the unit to read\n",
                if c.len() == 1 { "class" } else { "classes" },
                ds.describe_classes(c),
            );
        }
    }
    // No subject hosts an episode at any K: the lines above say why, and there is no row.
    if reports.iter().all(|r| r.rows.is_empty()) {
        return s;
    }
    s += &format!(
        "{:<30} {:>5} {:>6} {:>9} {:>9} {:>7} {:>8} {:>13} {:>7}\n",
        "method (within one subject)",
        "shots",
        "steps",
        "episodes",
        "acc %",
        "95% CI",
        "subjects",
        "per subject %",
        "95% CI"
    );
    for r in reports.iter().flat_map(|r| &r.rows) {
        s += &format!(
            "{:<30} {:>5} {:>6} {:>9} {:>9.2} {:>7} {:>8} {:>13.2} {:>7}\n",
            r.row.method,
            r.row.shots,
            r.row.steps.map_or("-".into(), |v| v.to_string()),
            r.row.episodes,
            r.row.accuracy,
            ci_cell(r.row.ci95, 2),
            r.subjects,
            r.subject_accuracy,
            ci_cell(r.subject_ci95, 2)
        );
    }
    s + &few_subjects_note(reports)
}

/// A line under the table when some row's interval is over 2 or 3 subjects, else nothing.
fn few_subjects_note(reports: &[SubjectReport]) -> String {
    let fewest = reports.iter().flat_map(|r| &r.rows).map(|r| r.subjects);
    crate::eval::few_units_note(fewest.min().unwrap_or(0), "subject")
}

/// Up to 6 names, then how many more.
fn preview(names: &[String]) -> String {
    match names.len() {
        0..=6 => names.join(", "),
        n => format!("{}, and {} more", names[..6].join(", "), n - 6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc_row(per_episode: Vec<f64>) -> AccRow {
        AccRow {
            method: "m".into(),
            shots: 1,
            steps: None,
            episodes: per_episode.len(),
            accuracy: 0.0,
            ci95: 0.0,
            classes: 0,
            class_accuracy: 0.0,
            class_ci95: 0.0,
            per_episode,
            per_class: Vec::new(),
        }
    }

    /// Within-subject training episodes take every row from one subject; a shot count no
    /// subject can host, and pooled training, draw from the pooled classes.
    #[test]
    fn within_subject_training_episodes_keep_to_one_subject() {
        let dir = std::env::temp_dir().join(format!("fewshot-subjects-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // 3 subjects x 6 classes x 4 rows (subject s2: 2 rows of classes 0 and 1).
        let mut csv = String::from("who,a,b,label\n");
        for s in 0..3 {
            for c in 0..6 {
                let rows = if s == 2 && c < 2 { 2 } else { 4 };
                for r in 0..rows {
                    csv += &format!("s{s},{},{},{c}\n", c * 3 + s * 10 + r % 2, r + s);
                }
            }
        }
        std::fs::write(dir.join("d.csv"), csv).unwrap();
        let mut cfg = ClsConfig {
            data: dir.join("d.csv"),
            subject_column: Some("who".into()),
            train_classes: vec![0, 1, 2, 3],
            val_classes: vec![2, 3],
            test_classes: vec![4, 5],
            ways: 2,
            shots: vec![1, 4],
            query: 1,
            train_episodes: TrainEpisodes::WithinSubject,
            ..ClsConfig::default()
        };
        let setup = Setup::new(&cfg).unwrap();
        let pools = training_pools(&setup, &cfg);
        // 1 shot: subjects with 2 training classes of 2 rows (after `val_fraction`); 4: none.
        assert!(
            !pools[0].is_empty() && pools[1].is_empty(),
            "{}",
            pools.len()
        );
        let mut subjects: Vec<usize> = pools[0].iter().map(|(s, _, _)| *s).collect();
        subjects.dedup();
        assert_eq!(subjects.len(), pools[0].len());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (s, pool, q) in pools.iter().flatten() {
            for _ in 0..20 {
                let ep = pool.sample(&setup.ds, 2, 1, *q, &mut rng).unwrap();
                assert!(ep.rows.iter().all(|&r| setup.ds.subjects[r] == *s));
            }
        }
        cfg.train_episodes = TrainEpisodes::Pooled;
        assert!(training_pools(&setup, &cfg).iter().all(Vec::is_empty));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_subject_is_the_unit_whatever_its_episode_count() {
        // Subject 3: three episodes at 100 %; subject 8: one at 0 -> the subjects' mean is 50.
        let names: Vec<String> = (0..9).map(|i| format!("s{i}")).collect();
        let r = subject_row(
            acc_row(vec![100.0, 0.0, 100.0, 100.0]),
            &[3, 8, 3, 3],
            &names,
        );
        assert_eq!(r.subjects, 2);
        assert!((r.subject_accuracy - 50.0).abs() < 1e-9, "{r:?}");
        // Each subject's own mean, named, with its episode count.
        let per: Vec<_> = r
            .per_subject
            .iter()
            .map(|p| (p.subject.as_str(), p.episodes, p.accuracy))
            .collect();
        assert_eq!(per, [("s3", 3, 100.0), ("s8", 1, 0.0)]);
        // One subject: no interval.
        let r = subject_row(acc_row(vec![100.0, 50.0]), &[4, 4], &names);
        assert_eq!(r.subjects, 1);
        assert!(r.subject_ci95.is_nan());
    }

    #[test]
    fn an_interval_over_two_or_three_subjects_is_said_to_say_little() {
        let report = |subjects: &[usize]| SubjectReport {
            shots: 1,
            rows: vec![subject_row(
                acc_row(vec![100.0; subjects.len()]),
                subjects,
                &[],
            )],
            eligible: vec![],
            query: (1, 1),
            episodes: subjects.len(),
            distinct: subjects.len(),
            fewest_splits: None,
            repeating: None,
        };
        let note = few_subjects_note(&[report(&[0, 1, 2, 3]), report(&[4, 5])]);
        assert!(
            note.starts_with("with 2 subjects") && note.contains("t = 12.7"),
            "{note}"
        );
        assert!(few_subjects_note(&[report(&[0, 1, 2, 3])]).is_empty());
        assert!(few_subjects_note(&[report(&[0])]).is_empty());
    }
}
