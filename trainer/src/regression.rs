//! Regression runs on a user's own tasks: the training state with its target normalisation, the
//! run record (`<model>.run.json`: data fingerprint, split, normalisations) that `eval` checks,
//! and k-fold cross-validation over task ids for small data sets.

use crate::config::Config;
use crate::engine::Checkpoints;
use crate::eval::{self, Report, Units};
use crate::export;
use crate::input_columns::{match_by_name, Matched};
use crate::record::{file_sha256, relative_path};
use crate::tasks::{CsvTasks, NewTasks, StandardisedTargets, TaskSource};
use crate::train::{train, State};
use anyhow::{anyhow, bail, Context, Result};
use runtime::writer::ModelDef;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// A fresh training state for `cfg` on `source`: the input normalisation and, unless
/// `standardise_targets = false`, the target normalisation, both fitted on the source's
/// meta-training tasks.
pub fn fresh_state(cfg: &Config, source: &dyn TaskSource) -> Result<State> {
    let arch = cfg.arch(source)?;
    let mut s = State::new(arch, cfg.spec(), cfg.train.clone());
    s.targets = cfg.target_normalisation(source);
    Ok(s)
}

/// Trains `state` on `source`, on standardised targets when the state has a target
/// normalisation (see [`crate::train::train`]).
pub fn train_on(
    source: &dyn TaskSource,
    state: &mut State,
    ckpts: &Checkpoints,
    progress: bool,
) -> Result<bool> {
    match state.targets.clone() {
        Some((shift, scale)) => {
            let std = StandardisedTargets {
                inner: source,
                shift,
                scale,
            };
            train(&std, state, ckpts, progress)
        }
        None => train(source, state, ckpts, progress),
    }
}

/// The model of a trained state: its head carries the target normalisation (format v2), or
/// none (v1, bytes as before for the sinusoid), and is named after the target columns the
/// configuration names (`ppm`, `temp_c, humidity`; [`head_name`]), else `y`.
pub fn model_def(name: &str, cfg: &Config, s: &State) -> Result<ModelDef> {
    let mut def = export::model_def(name, &s.arch, &s.spec, &s.theta, &s.u)?;
    if let (Some(head), Some(named)) = (def.heads.first_mut(), head_name(&cfg.task.targets)) {
        head.name = named;
    }
    Ok(export::with_targets(def, &s.targets))
}

/// A regression head's name from its target columns, joined by `", "` and cut to the format's
/// [`MAX_NAME_LEN`](runtime::format::MAX_NAME_LEN) bytes on a character boundary; `None`
/// without names (the `y1..ym` layout).
pub fn head_name(targets: &[String]) -> Option<String> {
    let name = targets.join(", ");
    if name.trim().is_empty() {
        return None;
    }
    Some(export::fit_name(name))
}

/// What a regression model on CSV tasks was trained on: written beside it by `train`, checked by
/// `eval`, which refuses another data file or another split.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// Always `regression` (classification runs write their own record at the same path).
    pub kind: String,
    /// SHA-256 of the model file this record describes.
    pub model_sha256: String,
    /// The run's configuration; `task.path` relative to the record's folder.
    pub config: Config,
    /// SHA-256 of the data file as stored.
    pub data_sha256: String,
    /// Meta-training and held-out (meta-test) task ids.
    pub train_ids: Vec<String>,
    pub test_ids: Vec<String>,
    /// The input columns' names, in the order the model takes them (empty in a record written
    /// before they were kept).
    #[serde(default)]
    pub input_names: Vec<String>,
    /// The target columns' names, in output order (empty in a record written before they were
    /// kept).
    #[serde(default)]
    pub target_names: Vec<String>,
    /// The model's input normalisation `x' = (x - shift) * scale`, fitted on the meta-training
    /// tasks.
    pub input_shift: Vec<f64>,
    pub input_scale: Vec<f64>,
    /// The head's output normalisation `(shift, scale)` per output (the meta-training targets'
    /// mean and standard deviation), or none.
    pub targets: Option<(Vec<f64>, Vec<f64>)>,
}

impl Record {
    pub fn new(model: &Path, cfg: &Config, tasks: &CsvTasks, s: &State) -> Result<Self> {
        let mut config = cfg.clone();
        config.task.path = Some(relative_path(model, &tasks.path).display().to_string());
        Ok(Record {
            kind: "regression".into(),
            model_sha256: file_sha256(model)?,
            config,
            data_sha256: tasks.sha256.clone(),
            train_ids: tasks.train_ids.clone(),
            test_ids: tasks.test_ids.clone(),
            input_names: tasks.input_names.clone(),
            target_names: tasks.target_names.clone(),
            input_shift: s.arch.shift.clone(),
            input_scale: s.arch.scale.clone(),
            targets: s.targets.clone(),
        })
    }

    pub fn write(&self, model: &Path) -> Result<PathBuf> {
        crate::record::write(model, self)
    }

    /// The regression record beside `model` (None: no record, or another kind's), checked to
    /// describe exactly these model bytes; its data path resolved.
    pub fn read(model: &Path) -> Result<Option<Self>> {
        let Some((p, v)) = crate::record::read(model, Some("regression"))? else {
            return Ok(None);
        };
        let mut r: Record = serde_json::from_value(v)
            .with_context(|| format!("{}: not a regression run record", p.display()))?;
        if let Some(d) = &r.config.task.path {
            r.config.task.path = Some(
                crate::config::relative_to(&p, Path::new(d))
                    .display()
                    .to_string(),
            );
        }
        Ok(Some(r))
    }

    /// Every task of `path` as tasks new to this record's model ([`NewTasks`]): read with the
    /// run's columns, the inputs matched by name to the model's ([`match_by_name`]: another
    /// order, or columns the model does not read, are read as the model takes its inputs);
    /// refused when one of them is a task the model meta-trained on. The
    /// meta-training targets' mean is the record's (a run that standardised its targets), else
    /// read from the run's own data file.
    pub fn new_tasks(&self, path: &Path) -> Result<NewTasks> {
        let mut columns = self.config.task.columns();
        let Some(header) = crate::csvio::file_header(path)? else {
            bail!(
                "{}: no header line (its first row is data, as the next): a file of new tasks is read by its columns' names, the run's: task column {:?}, inputs {}, targets {}; give it the training file's header line",
                path.display(),
                columns.task_column,
                self.input_names.join(", "),
                self.target_names.join(", ")
            );
        };
        // Columns the run ignored need not be in a file of new tasks.
        columns
            .ignore
            .retain(|n| crate::csvio::column(&header, n).is_some());
        if columns.targets.is_empty() && !self.input_names.is_empty() {
            // The run's targets by name: every other column is an input, matched below.
            columns.targets = self.target_names.clone();
        }
        let mut tasks = CsvTasks::read(path, 2, &columns)?.all_held_out();
        if !self.input_names.is_empty() {
            let file = path.display().to_string();
            let matched = match_by_name(&self.input_names, &tasks.input_names, &file)?;
            if let Some(note) = matched.note(&file, &self.input_names) {
                eprintln!("{note}");
            }
            if let Matched::Select { order, .. } = &matched {
                tasks.select_inputs(order);
            }
        }
        if let Some(id) = tasks.test_ids.iter().find(|i| self.train_ids.contains(i)) {
            bail!(
                "{}: task {id:?} is one of the model's meta-training tasks: --data takes tasks new to the model (without --data, eval takes the run's held-out tasks)",
                path.display()
            );
        }
        let target_mean = match &self.targets {
            Some((mean, _)) => mean.clone(),
            None => self.tasks()?.target_mean(),
        };
        Ok(NewTasks {
            tasks,
            target_mean,
            shift: self.input_shift.clone(),
            scale: self.input_scale.clone(),
        })
    }

    /// Refuses tasks that are not the run's: another data file, or another split (its held-out
    /// tasks would include tasks the model was trained on).
    pub fn check(&self, tasks: &CsvTasks) -> Result<()> {
        if tasks.sha256 != self.data_sha256 {
            bail!(
                "{}: SHA-256 {} but the model was trained on {} (SHA-256 {}): its split and normalisation belong to that file",
                tasks.path.display(),
                tasks.sha256,
                self.config.task.path.as_deref().unwrap_or("?"),
                self.data_sha256
            );
        }
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        if sorted(&tasks.test_ids) != sorted(&self.test_ids) {
            let trained_on: Vec<&String> = tasks
                .test_ids
                .iter()
                .filter(|i| self.train_ids.contains(i))
                .collect();
            bail!(
                "this split's held-out tasks {:?} are not the model's {:?} (its run: test_fraction {}, split_seed {}); {} of them were meta-training tasks {:?}: evaluate without --split-seed/--test-fraction to use the recorded split",
                tasks.test_ids,
                self.test_ids,
                self.config.task.test_fraction,
                self.config.task.split_seed,
                trained_on.len(),
                trained_on
            );
        }
        Ok(())
    }

    /// The recorded run's tasks, split as recorded.
    pub fn tasks(&self) -> Result<CsvTasks> {
        let p = self
            .config
            .task
            .path
            .clone()
            .ok_or_else(|| anyhow!("run record without a data path"))?;
        let mut t = CsvTasks::read(Path::new(&p), 2, &self.config.task.columns())?;
        t.set_test_ids(&self.test_ids)?;
        self.check(&t)?;
        Ok(t)
    }
}

/// k-fold cross-validation over task ids (`folds` = the number of tasks: leave-one-task-out):
/// for each fold, a model trained from scratch on the other folds' tasks (normalisations fitted
/// on them), exported, and evaluated as deployed on the fold's tasks; every task's scores from
/// its own fold, aggregated over all tasks (mean +- t-interval over tasks). Returns the report
/// and the folds.
pub fn cross_validate(
    cfg: &Config,
    folds: usize,
    progress: bool,
) -> Result<(Report, Vec<Vec<String>>)> {
    let Some(all) = cfg.csv()? else {
        bail!("cross-validation needs CSV tasks (`[task] kind = \"csv\"`)");
    };
    let fold_ids = all.fold_ids(folds, cfg.task.split_seed)?;
    let e = &cfg.eval;
    let steps = eval::with_zero(&e.steps);
    let per = e.tasks.div_ceil(all.ids().len()).max(1);
    // Per K: (ids, per-unit scores, query range).
    // Per K: the tasks scored, their scores, the query rows' range, the tasks too short.
    type Scores = (Vec<String>, Vec<Vec<f64>>, usize, usize, Vec<String>);
    let mut acc: Vec<Scores> = vec![(vec![], vec![], usize::MAX, 0, vec![]); e.shots.len()];
    // Every task is held out by one fold: each K is checked against all of them before any
    // fold trains, not when the fold holding out the smallest task comes.
    let mut held = Vec::new();
    for test in &fold_ids {
        let mut tasks = all.clone();
        tasks.set_test_ids(test)?;
        held.extend(tasks.held_out().unwrap_or_default());
    }
    held.sort();
    // A K no task can serve is refused before any fold trains; the tasks too short for a K
    // are left out of it (each fold's draws name them).
    for &k in &e.shots {
        if held.iter().all(|(_, rows)| *rows <= k) {
            eval::check_rows(k, &held, "tasks the folds hold out")?;
        }
    }
    let stop = AtomicBool::new(false);
    for (f, test) in fold_ids.iter().enumerate() {
        let mut tasks = all.clone();
        tasks.set_test_ids(test)?;
        let mut state = fresh_state(cfg, &tasks)?;
        let ckpts = Checkpoints {
            path: None,
            stop: &stop,
            stop_at: None,
        };
        eprintln!("fold {}/{folds}: held-out tasks {test:?}", f + 1);
        train_on(&tasks, &mut state, &ckpts, progress)?;
        let bytes = model_def("cv", cfg, &state)?
            .to_bytes()
            .map_err(|e| anyhow!("runtime writer refused the model: {e}"))?;
        let blob = runtime::format::AlignedBytes::from_slice(&bytes);
        let model = eval::load_for(&blob, &tasks)?;
        let (mean, norm) = (tasks.target_mean(), tasks.normalisation());
        for (j, &k) in e.shots.iter().enumerate() {
            // A fold whose held-out tasks are all too short for K: none scored at K.
            let held_here = tasks.held_out().unwrap_or_default();
            if held_here.iter().all(|(_, rows)| *rows <= k) {
                let short = held_here
                    .iter()
                    .map(|(id, rows)| format!("{id:?} ({rows} rows)"));
                acc[j].4.extend(short);
                continue;
            }
            let d = eval::draws(&tasks, k, test.len() * per, e.query, e.seed)?;
            let scores = eval::score(&model, &d, &steps, &mean, &norm)?;
            let (lo, hi) = eval::query_range(&d);
            let a = &mut acc[j];
            a.0.extend(d.ids);
            a.1.extend(scores);
            (a.2, a.3) = (a.2.min(lo), a.3.max(hi));
            a.4.extend(d.short);
        }
    }
    let mut report = Report {
        query: e.query,
        inputs: all.n_in(),
        units: vec![],
        results: vec![],
    };
    for (&k, (ids, scores, lo, hi, short)) in e.shots.iter().zip(acc) {
        report
            .results
            .extend(eval::rows(k, &steps, &ids, &scores, per, &all.target_names));
        report.units.push(Units {
            shots: k,
            distinct: true,
            tasks: ids.len(),
            draws: per,
            query_min: lo,
            query_max: hi,
            of: ids.len(),
            ids,
            short,
        });
    }
    Ok((report, fold_ids))
}
