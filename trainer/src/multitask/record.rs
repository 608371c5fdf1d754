//! The record of a multi-task run, written beside its model as `<model>.run.json` (kind
//! `multitask`): the model's SHA-256, the configuration (each head's data path relative to the
//! record), and each head's data file (SHA-256, input columns, outputs' names, held-out task
//! ids). `trainer eval` reads it: every head scored again on its held-out data as `train`
//! scored it, or one head (`--head`) on a file of data the model never saw (`--data`: new
//! subjects of a regression head, new rows of a fixed head, new classes of an adaptable one),
//! its baseline fitted on its training data.

use super::config::{HeadSource, MtConfig};
use super::deployed::{Baseline, Scored};
use super::heads::{build_heads, new_rows, Head, Origin, Source};
use crate::classify::data::{Columns, Dataset};
use crate::input_columns::{match_by_name, Matched};
use crate::record::{file_sha256, read, relative_path, write};
use crate::tasks::{CsvTasks, StandardisedTargets, TaskSource};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a multi-task model was trained on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// Always `multitask`.
    pub kind: String,
    /// SHA-256 of the model file this record describes.
    pub model_sha256: String,
    /// The run's configuration (its iterations and seed as run); each head's `path` relative
    /// to the record's folder.
    pub config: MtConfig,
    /// The input columns' names, in the order the trunk takes them (empty: the sinusoid).
    pub input_names: Vec<String>,
    /// Each head's data, in the model's head order.
    pub heads: Vec<HeadData>,
}

/// One head's data file as the run read it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeadData {
    pub name: String,
    /// SHA-256 of its data file (empty: the sinusoid).
    pub data_sha256: String,
    /// A fixed classification head's classes in output order; a `csv_tasks` head's targets.
    pub outputs: Vec<String>,
    /// A `csv_tasks` head's meta-training and held-out task ids.
    pub train_ids: Vec<String>,
    pub test_ids: Vec<String>,
}

impl Record {
    /// The record of `heads`, trained by `cfg` (read from `cfg_path`), exported as `model`.
    pub fn new(model: &Path, cfg_path: &Path, cfg: &MtConfig, heads: &[Head]) -> Result<Self> {
        let base = cfg_path.parent().unwrap_or(Path::new("."));
        let mut config = cfg.clone();
        for h in &mut config.heads {
            if let Some(p) = &h.path {
                h.path = Some(relative_path(model, &base.join(p)).display().to_string());
            }
        }
        let input_names = heads
            .iter()
            .map(|h| &h.origin.input_names)
            .find(|n| !n.is_empty())
            .cloned()
            .unwrap_or_default();
        Ok(Record {
            kind: "multitask".into(),
            model_sha256: file_sha256(model)?,
            config,
            input_names,
            heads: heads.iter().map(HeadData::of).collect(),
        })
    }

    pub fn write(&self, model: &Path) -> Result<PathBuf> {
        write(model, self)
    }

    /// The multi-task record beside `model` (None: no record, or another kind's), checked to
    /// describe exactly these model bytes; its data paths resolved.
    pub fn read(model: &Path) -> Result<Option<Self>> {
        let Some((p, v)) = read(model, Some("multitask"))? else {
            return Ok(None);
        };
        let mut r: Record = serde_json::from_value(v)
            .with_context(|| format!("{}: not a multi-task run record", p.display()))?;
        // Every head index is taken from `heads` and used in `config.heads` too.
        if r.heads.len() != r.config.heads.len() {
            bail!(
                "{}: {} heads' data for {} configured heads: not a record `train` wrote",
                p.display(),
                r.heads.len(),
                r.config.heads.len()
            );
        }
        for h in &mut r.config.heads {
            if let Some(d) = &h.path {
                let d = crate::config::relative_to(&p, Path::new(d));
                h.path = Some(d.display().to_string());
            }
        }
        Ok(Some(r))
    }

    /// The run's heads on their data, read again: refused when a data file is not the one
    /// the run read (its split and normalisations belong to that file).
    pub fn heads(&self) -> Result<Vec<Head>> {
        let heads = build_heads(&self.config, Path::new(""))
            .context("reading the run's data again (the paths its record names)")?;
        for (h, r) in heads.iter().zip(&self.heads) {
            if h.origin.sha256 != r.data_sha256 {
                bail!(
                    "head {:?}: {} has SHA-256 {}, the run read {}: its split and normalisations belong to that file",
                    r.name,
                    h.cfg.path.as_deref().unwrap_or("?"),
                    h.origin.sha256,
                    r.data_sha256
                );
            }
        }
        Ok(heads)
    }

    /// The index of the head named `name` (or numbered so), listing the heads otherwise.
    pub fn head_index(&self, name: &str) -> Result<usize> {
        let by_name = self.heads.iter().position(|h| h.name == name);
        let by_number = name.parse::<usize>().ok().filter(|&i| i < self.heads.len());
        by_name.or(by_number).ok_or_else(|| {
            anyhow!(
                "no head {name:?}: the model's heads are {}",
                self.heads
                    .iter()
                    .enumerate()
                    .map(|(i, h)| format!("{i} {:?}", h.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// Head `index` of `heads` (this run's, [`Record::heads`]) scored on `data`, a file the
    /// model never saw: its source replaced by the file's tasks or rows, read with the head's
    /// columns and the inputs matched by name to the model's; its baseline kept (fitted on its
    /// training data).
    pub fn on_new_data<'a>(
        &self,
        heads: &'a mut [Head],
        index: usize,
        data: &Path,
    ) -> Result<Scored<'a>> {
        let h = heads
            .get_mut(index)
            .ok_or_else(|| anyhow!("no head {index}"))?;
        let baseline = Baseline::of(h);
        let file = data.display().to_string();
        let recorded = &self.heads[index];
        h.source = match h.cfg.source() {
            HeadSource::Sinusoid => bail!(
                "head {:?} takes the sinusoid family's tasks, not a file: `eval --model` alone scores it on fresh tasks",
                h.cfg.name
            ),
            HeadSource::CsvTasks => new_tasks(h, recorded, &self.input_names, data)?,
            HeadSource::Classes | HeadSource::Intensity => {
                let header = crate::csvio::file_header(data)?.unwrap_or_default();
                let mut ignore = h.cfg.ignore_columns.clone();
                ignore.retain(|n| crate::csvio::column(&header, n).is_some());
                let columns = Columns {
                    label: h.cfg.label_column.as_deref(),
                    ignore: &ignore,
                    subject: None,
                };
                let mut ds = Dataset::load_labelled(data, columns)?;
                if let Some(order) = matched(&self.input_names, &ds.columns, &file)? {
                    ds.select_columns(&order);
                }
                let rows = new_rows(&ds, &h.cfg, &recorded.outputs)
                    .with_context(|| format!("head {:?}", h.cfg.name))?;
                if h.cfg.adaptable && h.is_cls() && rows.classes < h.cfg.ways {
                    bail!(
                        "{file}: {} classes, head {:?} takes {}-way episodes (its rows were meta-learned for {} ways)",
                        rows.classes,
                        h.cfg.name,
                        h.cfg.ways,
                        h.cfg.ways
                    );
                }
                Source::Rows(rows)
            }
        };
        let heads: &'a [Head] = heads;
        Ok(Scored {
            index,
            head: &heads[index],
            baseline,
        })
    }
}

impl Record {
    /// The tasks of `csv_tasks` head `index` in raw units, as a regression run's evaluator
    /// takes them (the device returns raw units): its run's held-out tasks, split as
    /// recorded, or (`data`) every task of a file new to it, with the run's training targets'
    /// mean and input normalisation for the baselines.
    pub fn raw_tasks(&self, index: usize, data: Option<&Path>) -> Result<Box<dyn TaskSource>> {
        let h = self
            .config
            .heads
            .get(index)
            .ok_or_else(|| anyhow!("no head {index}"))?;
        let recorded = &self.heads[index];
        let path = h
            .path
            .as_deref()
            .ok_or_else(|| anyhow!("head {:?}: no path", h.name))?;
        let (test_fraction, split_seed) = h.task_split();
        let mut run = CsvTasks::load(Path::new(path), test_fraction, split_seed, 2, &h.columns())?;
        if let Some(order) = matched(&self.input_names, &run.input_names, path)? {
            run.select_inputs(&order);
        }
        let mut held = run.test_ids.clone();
        held.sort();
        let mut want = recorded.test_ids.clone();
        want.sort();
        if run.sha256 != recorded.data_sha256 || held != want {
            bail!(
                "head {:?}: {path} is not the file the run split (SHA-256 or held-out tasks differ): its split and normalisations belong to that file",
                h.name
            );
        }
        let Some(data) = data else {
            return Ok(Box::new(run));
        };
        let tasks = read_new_tasks(h, recorded, &self.input_names, data)?;
        let (shift, scale) = run.normalisation();
        Ok(Box::new(crate::tasks::NewTasks {
            tasks,
            target_mean: run.target_mean(),
            shift,
            scale,
        }))
    }
}

impl HeadData {
    fn of(h: &Head) -> Self {
        let Origin {
            sha256,
            outputs,
            train_ids,
            test_ids,
            ..
        } = h.origin.clone();
        HeadData {
            name: h.cfg.name.clone(),
            data_sha256: sha256,
            outputs,
            train_ids,
            test_ids,
        }
    }
}

/// A file's input columns `file` in the model's order `model`: the columns to keep (None: as
/// they are), noted; refused when some of the model's are missing.
fn matched(model: &[String], file: &[String], what: &str) -> Result<Option<Vec<usize>>> {
    if model.is_empty() {
        return Ok(None);
    }
    let m = match_by_name(model, file, what)?;
    if let Some(note) = m.note(what, model) {
        eprintln!("{note}");
    }
    Ok(match m {
        Matched::Select { order, .. } => Some(order),
        _ => None,
    })
}

/// A `csv_tasks` head's source of the tasks of `data`, every one held out: read with the
/// head's columns, its inputs matched by name, its targets standardised as the head trained
/// (the device returns raw units); refused when one is a task the head meta-trained on.
fn new_tasks(h: &Head, recorded: &HeadData, inputs: &[String], data: &Path) -> Result<Source> {
    let tasks = read_new_tasks(&h.cfg, recorded, inputs, data)?;
    Ok(Source::Tasks(match &h.targets {
        Some((shift, scale)) => Box::new(StandardisedTargets {
            inner: Box::new(tasks) as Box<dyn TaskSource>,
            shift: shift.clone(),
            scale: scale.clone(),
        }),
        None => Box::new(tasks),
    }))
}

/// The tasks of `data` for `csv_tasks` head `cfg`, every one held out, in raw units: read with
/// the head's columns, inputs matched by name to the trunk's `inputs`; refused when one is a
/// task the head meta-trained on.
fn read_new_tasks(
    cfg: &super::config::HeadConfig,
    recorded: &HeadData,
    inputs: &[String],
    data: &Path,
) -> Result<CsvTasks> {
    let file = data.display().to_string();
    let mut columns = cfg.columns();
    let header = crate::csvio::file_header(data)?.ok_or_else(|| {
        anyhow!(
            "{file}: no header line: a file of new tasks is read by its columns' names, the run's"
        )
    })?;
    columns
        .ignore
        .retain(|n| crate::csvio::column(&header, n).is_some());
    if columns.targets.is_empty() {
        columns.targets = recorded.outputs.clone();
    }
    let mut tasks = CsvTasks::read(data, 2, &columns)?.all_held_out();
    if let Some(order) = matched(inputs, &tasks.input_names, &file)? {
        tasks.select_inputs(&order);
    }
    if let Some(id) = tasks
        .test_ids
        .iter()
        .find(|i| recorded.train_ids.contains(i))
    {
        bail!(
            "{file}: task {id:?} is one of head {:?}'s meta-training tasks: --data takes tasks new to the model (without --data, eval scores the run's held-out tasks)",
            cfg.name
        );
    }
    Ok(tasks)
}
