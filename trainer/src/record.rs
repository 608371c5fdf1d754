//! The record of a run, written beside its model as `<model>.run.json` (the model's and the
//! data's SHA-256, the configuration, the split, the normalisations), read back by `eval`:
//! the file handling every kind of run shares. `classify::record` and `regression` hold what
//! each kind records.

use crate::csvio::hex;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// `<model>.run.json`.
pub fn path_of(model: &Path) -> PathBuf {
    model.with_extension("run.json")
}

/// `target` relative to the folder of `file` (both resolved), or absolute when they share no
/// folder: the record stays valid when the repository moves.
pub fn relative_path(file: &Path, target: &Path) -> PathBuf {
    let (Ok(target), Some(Ok(dir))) = (
        std::fs::canonicalize(target),
        file.parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            })
            .map(std::fs::canonicalize),
    ) else {
        return target.to_path_buf();
    };
    let (t, d): (Vec<_>, Vec<_>) = (target.components().collect(), dir.components().collect());
    let common = t.iter().zip(&d).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return target;
    }
    let mut rel = PathBuf::new();
    for _ in common..d.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c);
    }
    rel
}

/// SHA-256 of a file's bytes, in hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// Writes `record` beside `model`; returns its path.
pub fn write<T: Serialize>(model: &Path, record: &T) -> Result<PathBuf> {
    let p = path_of(model);
    std::fs::write(&p, serde_json::to_string_pretty(record)?)
        .with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}

/// The record beside `model` as JSON, with its path: None when there is none, or when its
/// `kind` is not `kind` (a classification record has none). Refused when it describes other
/// model bytes than `model`'s.
pub fn read(model: &Path, kind: Option<&str>) -> Result<Option<(PathBuf, serde_json::Value)>> {
    let p = path_of(model);
    if !p.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a run record", p.display()))?;
    if v.get("kind").and_then(|k| k.as_str()) != kind {
        return Ok(None);
    }
    let recorded = v.get("model_sha256").and_then(|s| s.as_str()).unwrap_or("");
    let sha = file_sha256(model)?;
    if sha != recorded {
        bail!(
            "{} describes another model (SHA-256 {recorded}), not {} ({sha}): retrain, evaluate with --config, or delete the record",
            p.display(),
            model.display()
        );
    }
    Ok(Some((p, v)))
}

/// The CSV columns a run read as something other than an input: what a file of the same
/// layout is read with for its model ([`csv_columns`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsvColumns {
    /// A classification run's label column (`label_column`).
    pub label: Option<String>,
    /// Columns read as no input: the subject column, a regression run's task id column and
    /// every `ignore_columns` name.
    pub unread: Vec<String>,
    /// A regression run's target columns, in the model's output order.
    pub targets: Vec<String>,
}

/// The label and unread columns of the run record beside `model` (a classification run's
/// `label_column`, `subject_column`, `ignore_columns`; a regression run's `task_column`,
/// `ignore_columns`): default when there is no record.
pub fn csv_columns(model: &Path) -> Result<CsvColumns> {
    let found = match read(model, None)? {
        Some(r) => Some(r),
        None => read(model, Some("regression"))?,
    };
    let Some((_, record)) = found else {
        return Ok(CsvColumns::default());
    };
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let config = &record["config"];
    // A regression run's columns sit in its `task` table.
    let table = match config["task"].is_object() {
        true => &config["task"],
        false => config,
    };
    let mut unread: Vec<String> = ["subject_column", "task_column"]
        .iter()
        .filter_map(|k| text(&table[*k]))
        .collect();
    if let Some(names) = table["ignore_columns"].as_array() {
        unread.extend(names.iter().filter_map(text));
    }
    let targets = (record["target_names"].as_array().into_iter().flatten())
        .filter_map(text)
        .collect();
    Ok(CsvColumns {
        label: text(&table["label_column"]),
        unread,
        targets,
    })
}

/// The input columns' names the record beside `model` keeps (a classification or regression
/// run's, in the order the model takes them): None without a record, or one written before
/// they were kept. Refused as [`read`] refuses a record of other model bytes.
pub fn input_names(model: &Path) -> Result<Option<Vec<String>>> {
    let found = match read(model, None)? {
        Some(r) => Some(r),
        None => read(model, Some("regression"))?,
    };
    let names = found
        .and_then(|(_, v)| v.get("input_names").cloned())
        .map(serde_json::from_value::<Vec<String>>)
        .transpose()
        .context("the run record's input_names")?;
    Ok(names.filter(|n| !n.is_empty()))
}
