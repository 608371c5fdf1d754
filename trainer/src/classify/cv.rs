//! Cross-validation over classes (`trainer cv` of a classification configuration): the
//! configuration's classes are cut into folds; each fold's classes are the novel ones of a run
//! trained from scratch on the others (its own validation classes drawn from them, as `train`
//! draws them), exported and evaluated as deployed with the baselines on the same episodes.
//! Every class is novel once, so each accuracy is given with the class as the unit over all of
//! them: what a trained model does on classes it never saw, its training's chance included
//! (one run's interval over episodes says how well its few novel classes were measured, not
//! how another run or another class would do).

use super::config::ClsConfig;
use super::deploy::{model_def, AccRow};
use super::run::{eval_rows, trained_eval_shots, trunk_baselines, EpisodeSpec};
use super::select::finish;
use super::setup::Setup;
use super::train::{train_from, ClsState, Trained};
use crate::engine::Checkpoints;
use crate::eval::{ci_cell, mean_ci};
use anyhow::{anyhow, bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;

/// The method of a row: the model at 0 steps (its prototype start), the model at each fold's
/// device steps, or a baseline by its name.
const DEVICE: &str = "model (device steps)";

/// One method at one shot count over every fold: each class's accuracy in the fold that held
/// it out, their mean and Student's t 95 % CI over the classes, and the mean paired difference
/// from the best nearest-centroid baseline over the same classes.
#[derive(Clone, Debug, Serialize)]
pub struct CvRow {
    pub method: String,
    pub shots: usize,
    /// Each fold's inner steps: 0, or its device steps (the `model (device steps)` row); empty
    /// for a baseline without a head.
    pub steps: Vec<usize>,
    pub classes: usize,
    pub class_accuracy: f64,
    pub class_ci95: f64,
    /// The nearest-centroid baseline with the highest mean at these shots (raw, standardised,
    /// or on the model's input when it has a per-sample transform).
    pub centroid: String,
    /// Minus `centroid`, class by class: mean and 95 % CI, in points.
    pub minus_centroid: f64,
    pub minus_centroid_ci95: f64,
    /// Each fold's mean accuracy over its episodes.
    pub fold_accuracy: Vec<f64>,
    /// Each class (by name) and its accuracy.
    pub per_class: Vec<(String, f64)>,
}

/// The cross-validation: its folds (class names), the evaluation's shape, and the rows over
/// pooled episodes and, with a `subject_column`, over episodes within one subject.
#[derive(Clone, Debug, Serialize)]
pub struct CvReport {
    pub folds: Vec<Vec<String>>,
    pub ways: usize,
    pub shots: Vec<usize>,
    pub query: usize,
    pub episodes: usize,
    pub pooled: Vec<CvRow>,
    pub within_subject: Option<Vec<CvRow>>,
}

/// The classes a configuration names (training, validation and novel), sorted.
fn classes(cfg: &ClsConfig) -> Vec<usize> {
    let mut classes: Vec<usize> = cfg
        .train_classes
        .iter()
        .chain(&cfg.val_classes)
        .chain(&cfg.test_classes)
        .copied()
        .collect();
    classes.sort_unstable();
    classes.dedup();
    classes
}

/// How many classes a configuration names (training, validation and novel).
pub fn class_count(cfg: &ClsConfig) -> usize {
    classes(cfg).len()
}

/// The classes a configuration names, cut into `n` folds drawn with its `split_seed`.
pub fn class_folds(cfg: &ClsConfig, n: usize) -> Result<Vec<Vec<usize>>> {
    let mut classes = classes(cfg);
    let most = classes.len() / cfg.ways.max(1);
    if n < 2 || n > most {
        let fits = match most {
            0 | 1 => "no count of folds fits: name more classes, or lower `ways`".to_string(),
            2 => "--folds 2 is the only count that fits".to_string(),
            _ => format!("give 2 to {most} folds"),
        };
        bail!(
            "--folds {n}: the configuration names {} classes and a fold holds {}-way episodes' novel classes: {fits}",
            classes.len(),
            cfg.ways
        );
    }
    classes.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.split_seed ^ 0x00c1_a55f));
    Ok((0..n)
        .map(|f| {
            let mut v: Vec<usize> = classes.iter().skip(f).step_by(n).copied().collect();
            v.sort_unstable();
            v
        })
        .collect())
}

/// The configuration of the run that holds out `fold`: it trains on the other classes, its
/// validation classes drawn from them, and its `trunk_folds` (if any) the most its training
/// classes allow, up to the configuration's ([`fitted_trunk_folds`]).
fn fold_config(cfg: &ClsConfig, folds: &[Vec<usize>], fold: usize) -> ClsConfig {
    let test = folds[fold].clone();
    let mut train: Vec<usize> = folds
        .iter()
        .enumerate()
        .filter(|(f, _)| *f != fold)
        .flat_map(|(_, c)| c.iter().copied())
        .collect();
    train.sort_unstable();
    ClsConfig {
        trunk_folds: fitted_trunk_folds(cfg.trunk_folds, train.len()),
        train_classes: train,
        val_classes: Vec::new(),
        test_classes: test,
        ..cfg.clone()
    }
}

/// `trunk_folds` for a run on `classes` training classes: at most the asked `folds`, each fold
/// of at least two classes; 0 (the trunk chosen on validation classes) when not even two folds
/// fit, or none were asked.
fn fitted_trunk_folds(folds: usize, classes: usize) -> usize {
    match folds.min(classes / 2) {
        n if n >= 2 => n,
        _ => 0,
    }
}

/// Trains and evaluates one run per fold of `cfg`'s classes (`episodes` per shot count and
/// fold), pooling every class's accuracy; progress lines on stderr.
pub fn cross_validate(cfg: &ClsConfig, n: usize, episodes: usize) -> Result<CvReport> {
    let folds = class_folds(cfg, n)?;
    let configs: Vec<ClsConfig> = (0..n).map(|f| fold_config(cfg, &folds, f)).collect();
    // A fold trains on fewer classes than the configuration: its values are checked again.
    for (f, fcfg) in configs.iter().enumerate() {
        if fcfg.trunk_folds != cfg.trunk_folds {
            eprintln!(
                "note: fold {}/{n} trains on {} classes: its trunk is chosen over {} (`trunk_folds = {}` needs {} classes)",
                f + 1,
                fcfg.train_classes.len(),
                match fcfg.trunk_folds {
                    0 => "its validation classes".to_string(),
                    k => format!("{k} folds of them"),
                },
                cfg.trunk_folds,
                2 * cfg.trunk_folds
            );
        }
        if let Err((key, msg)) = fcfg.validate() {
            bail!(
                "fold {}/{n} trains on {} classes, and its `{key}` does not fit them: {msg} (fewer --folds leave more)",
                f + 1,
                fcfg.train_classes.len()
            );
        }
    }
    let in_fold = |f: usize| {
        move || {
            format!("fold {}/{n} (its validation classes drawn from its training classes, as `train` draws them)", f + 1)
        }
    };
    let first = Setup::new(&configs[0]).with_context(in_fold(0))?;
    let ds = first.ds.clone();
    // Every fold's setup before any training: a fold its classes cannot serve stops the run
    // now, and the shots and queries are those every fold allows.
    let mut setups = vec![first];
    for (f, fcfg) in configs.iter().enumerate().skip(1) {
        setups.push(Setup::with_data(fcfg, ds.clone()).with_context(in_fold(f))?);
    }
    let mut shots = super::run::eval_shot_counts(&cfg.shots);
    let mut query = usize::MAX;
    for (setup, fold) in setups.iter().zip(&folds) {
        let Some((s, q)) = trained_eval_shots(setup, cfg.ways, &cfg.shots) else {
            bail!(
                "fold {}: {}-way 1-shot episodes with a query need {} classes of 2 rows",
                ds.describe_classes(fold),
                cfg.ways,
                cfg.ways
            );
        };
        shots.retain(|k| s.contains(k));
        query = query.min(q);
    }
    let mut pooled = Tally::default();
    let mut within = Tally::default();
    for (f, ((setup, fold), fcfg)) in setups.iter().zip(&folds).zip(&configs).enumerate() {
        // This fold's time: its training and evaluation.
        let t0 = std::time::Instant::now();
        let t = train_fold(fcfg, setup)?;
        let (rows, within_rows) = evaluate_fold(fcfg, setup, &t, (&shots, query, episodes))?;
        let names = |key: usize| {
            let class = setup.test.classes.get(key).map_or(key, |c| c.class);
            ds.class_name(class)
        };
        pooled.add(&rows, t.device.steps, &names);
        within.add(&within_rows, t.device.steps, &names);
        let model = rows.iter().find(|r| r.steps == Some(t.device.steps));
        let centroid = rows
            .iter()
            .find(|r| r.method == "nearest_centroid_standardised");
        eprintln!(
            "fold {}/{n}: novel {}, trained on {} ({}); {}device {} steps; {}-shot model after them {:.2}% (the `model (device steps)` row), nearest centroid standardised {:.2}% ({:.0} s)",
            f + 1,
            ds.describe_classes(fold),
            ds.describe_classes(&trunk_classes(fcfg, setup)),
            match setup.val_classes.is_empty() {
                true => "validation on held-out rows".to_string(),
                false => format!("validation {}", ds.describe_classes(&setup.val_classes)),
            },
            t.candidates
                .first()
                .map_or(String::new(), |c| format!("trunk {}, ", c.trunk)),
            t.device.steps,
            model.map_or(0, |r| r.shots),
            model.map_or(f64::NAN, |r| r.accuracy),
            centroid.map_or(f64::NAN, |r| r.accuracy),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(CvReport {
        folds: folds
            .iter()
            .map(|f| f.iter().map(|&c| ds.class_name(c)).collect())
            .collect(),
        ways: cfg.ways,
        shots,
        query,
        episodes,
        pooled: pooled.rows(n),
        within_subject: (!ds.subjects.is_empty()).then(|| within.rows(n)),
    })
}

/// A fold's run from scratch, as `train` makes it (without checkpoints or progress).
fn train_fold(cfg: &ClsConfig, setup: &Setup) -> Result<Trained> {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let none = Checkpoints {
        path: None,
        stop: &stop,
        stop_at: None,
    };
    let mut st = ClsState::new(cfg, setup, false)?;
    train_from(&mut st, setup, &none, false)?;
    finish(&st, setup)
}

/// A fold's run exported and evaluated as deployed on its novel classes, `n` episodes of each
/// of `shots` (`query` queries per class), every baseline on the same episodes: the rows over
/// pooled episodes, then those within one subject (none without a subject column).
fn evaluate_fold(
    cfg: &ClsConfig,
    setup: &Setup,
    t: &Trained,
    (shots, query, n): (&[usize], usize, usize),
) -> Result<(Vec<AccRow>, Vec<AccRow>)> {
    let mut def = model_def("cv", t)?;
    def.front_end = cfg.front_end;
    let bytes = def
        .to_bytes()
        .map_err(|e| anyhow!("runtime writer refused the model: {e}"))?;
    let blob = runtime::format::AlignedBytes::from_slice(&bytes);
    let steps = t.device.step_counts();
    let plain = cfg.proto.steps == 0 && !cfg.aux;
    let baselines = trunk_baselines(setup, t.trained_trunk.as_ref(), plain);
    let spec = EpisodeSpec::Sampled {
        n,
        query,
        seed: crate::classify::EVAL_SEED,
        unknown: None,
    };
    let report = eval_rows(&blob, setup, cfg.ways, shots, &steps, &spec, &baselines)?;
    let within = super::subjects::report(
        &blob,
        setup,
        (cfg.ways, shots, query),
        &steps,
        (n, crate::classify::EVAL_SEED, false),
        &baselines,
    )?;
    let within_rows = within
        .iter()
        .flatten()
        .flat_map(|r| r.rows.iter().map(|r| r.row.clone()))
        .collect();
    Ok((report.rows, within_rows))
}

/// The classes a fold's trunk trains on: its training classes but the validation ones.
fn trunk_classes(cfg: &ClsConfig, setup: &Setup) -> Vec<usize> {
    let val = &setup.val_classes;
    cfg.train_classes
        .iter()
        .copied()
        .filter(|c| !val.contains(c))
        .collect()
}

/// One fold's row of a method: its steps, its accuracy over episodes, each class's.
struct FoldRow {
    steps: Option<usize>,
    accuracy: f64,
    classes: Vec<(String, f64)>,
}

/// Every fold's rows by (shots, method).
#[derive(Default)]
struct Tally(BTreeMap<(usize, String), Vec<FoldRow>>);

impl Tally {
    /// One fold's rows (`device`: its device steps; `name`: a class key's name). The model at
    /// 0 steps is `model`, at the device steps `model (device steps)` (both when they are 0).
    fn add(&mut self, rows: &[AccRow], device: usize, name: &dyn Fn(usize) -> String) {
        for r in rows {
            let mut methods = Vec::new();
            match (r.method.as_str(), r.steps) {
                ("model", Some(s)) => {
                    if s == 0 {
                        methods.push("model");
                    }
                    if s == device {
                        methods.push(DEVICE);
                    }
                }
                (m, _) => methods.push(m),
            }
            for m in methods {
                let classes = r.per_class.iter().map(|&(k, a)| (name(k), a)).collect();
                let fold = FoldRow {
                    steps: r.steps,
                    accuracy: r.accuracy,
                    classes,
                };
                self.0
                    .entry((r.shots, m.to_string()))
                    .or_default()
                    .push(fold);
            }
        }
    }

    /// Each class's accuracy under `method` at `shots`, over every fold (None: not in all `n`).
    fn classes(&self, shots: usize, method: &str, n: usize) -> Option<Vec<(String, f64)>> {
        let folds = self.0.get(&(shots, method.to_string()))?;
        (folds.len() == n).then(|| {
            folds
                .iter()
                .flat_map(|f| f.classes.iter().cloned())
                .collect()
        })
    }

    /// The nearest-centroid baseline with the highest mean over the classes at `shots`.
    fn best_centroid(&self, shots: usize, n: usize) -> Option<(String, Vec<f64>)> {
        self.0
            .keys()
            .filter(|(k, m)| *k == shots && m.starts_with("nearest_centroid"))
            .filter_map(|(_, m)| {
                let acc: Vec<f64> = self.classes(shots, m, n)?.iter().map(|c| c.1).collect();
                Some((m.clone(), acc))
            })
            .max_by(|a, b| mean_ci(&a.1).0.total_cmp(&mean_ci(&b.1).0))
    }

    /// The rows of the methods every one of `n` folds has, the model first, each with its
    /// paired difference from the best nearest-centroid baseline.
    fn rows(&self, n: usize) -> Vec<CvRow> {
        let mut out = Vec::new();
        let mut best: BTreeMap<usize, (String, Vec<f64>)> = BTreeMap::new();
        for ((shots, method), folds) in &self.0 {
            let Some(per_class) = self.classes(*shots, method, n) else {
                continue;
            };
            let acc: Vec<f64> = per_class.iter().map(|c| c.1).collect();
            let (m, ci) = mean_ci(&acc);
            let (centroid, base) = &*best
                .entry(*shots)
                .or_insert_with(|| self.best_centroid(*shots, n).unwrap_or_default());
            let diff: Vec<f64> = match base.len() == acc.len() {
                true => acc.iter().zip(base).map(|(a, b)| a - b).collect(),
                false => Vec::new(),
            };
            let (dm, dci) = mean_ci(&diff);
            out.push(CvRow {
                method: method.clone(),
                shots: *shots,
                steps: folds.iter().filter_map(|f| f.steps).collect(),
                classes: acc.len(),
                class_accuracy: 100.0 * m,
                class_ci95: 100.0 * ci,
                centroid: centroid.clone(),
                minus_centroid: 100.0 * dm,
                minus_centroid_ci95: 100.0 * dci,
                fold_accuracy: folds.iter().map(|f| f.accuracy).collect(),
                per_class: per_class.into_iter().map(|(c, a)| (c, 100.0 * a)).collect(),
            });
        }
        let rank = |m: &str| match m {
            "model" => 0,
            DEVICE => 1,
            _ => 2,
        };
        out.sort_by(|a, b| {
            (a.shots, rank(&a.method), &a.method).cmp(&(b.shots, rank(&b.method), &b.method))
        });
        out
    }
}

/// The report as text: what was done, then a table per kind of episode.
pub fn describe(r: &CvReport) -> String {
    let mut s = format!(
        "{} folds of the classes, each novel once: {}\n{}-way, {:?} shots, {} queries per class, {} episodes per fold and shot count; a class's accuracy is over its queries in the fold that held it out; 95% CI with the class as the unit (Student's t), its training's chance included; \"- best NC\": minus the best nearest centroid (named below the table) on the same classes and episodes\n",
        r.folds.len(),
        r.folds
            .iter()
            .map(|f| format!("[{}]", f.join(", ")))
            .collect::<Vec<_>>()
            .join(" "),
        r.ways,
        r.shots,
        r.query,
        r.episodes
    );
    s += &table("method", &r.pooled);
    if let Some(w) = &r.within_subject {
        s += "episodes within one subject (each fold's subjects that can host one); the unit is still the class (its accuracy over its queries within one subject each):\n";
        s += &table("method (within one subject)", w);
        let missing: Vec<String> = (r.shots.iter())
            .filter(|k| !w.iter().any(|row| row.shots == **k))
            .map(|k| k.to_string())
            .collect();
        if !missing.is_empty() {
            s += &format!(
                "within one subject, {} shot(s): no subject has {}-way episodes of K + 1 rows of each class in any fold\n",
                missing.join(", "),
                r.ways
            );
        }
    }
    s
}

fn table(head: &str, rows: &[CvRow]) -> String {
    let mut s = format!(
        "{head:<30} shots  steps    classes  acc %  95% CI   - best NC  95% CI  per fold %\n"
    );
    let mut best = Vec::new();
    for r in rows {
        // One count when every fold took it, else each fold's.
        let steps = match r.steps.split_first() {
            None => "-".into(),
            Some((s, rest)) if rest.iter().all(|x| x == s) => s.to_string(),
            Some(_) => r
                .steps
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("/"),
        };
        let folds: Vec<String> = r.fold_accuracy.iter().map(|a| format!("{a:.1}")).collect();
        let diff = match r.method == r.centroid {
            true => {
                best.push(format!(
                    "{}: {}",
                    crate::eval::count(r.shots, "shot"),
                    r.centroid
                ));
                ("-".to_string(), "-".to_string())
            }
            false => (
                format!("{:+.2}", r.minus_centroid),
                ci_cell(r.minus_centroid_ci95, 2),
            ),
        };
        s += &format!(
            "{:<30} {:>5}  {:>5}  {:>9}  {:>5.2}  {:>6}  {:>10}  {:>6}  {}\n",
            r.method,
            r.shots,
            steps,
            r.classes,
            r.class_accuracy,
            ci_cell(r.class_ci95, 2),
            diff.0,
            diff.1,
            folds.join(" ")
        );
    }
    s + &format!("best nearest centroid: {}\n", best.join(", "))
}

#[cfg(test)]
mod tests {
    use super::fitted_trunk_folds;

    #[test]
    fn a_folds_trunk_folds_is_the_most_its_classes_allow() {
        // (asked, training classes) -> folds of at least two classes each, or none.
        for (asked, classes, fitted) in [(3, 6, 3), (3, 5, 2), (4, 12, 4), (2, 3, 0), (0, 10, 0)] {
            assert_eq!(
                fitted_trunk_folds(asked, classes),
                fitted,
                "{asked} of {classes}"
            );
        }
    }
}
