//! Presets and configuration files: `--preset NAME` reads `trainer/configs/NAME.toml`;
//! `--config FILE` reads FILE; both together read the preset with FILE's keys over it (tables
//! merged key by key). The file decides the kind of run: `task = "classification"` for
//! few-shot classification, `[[head]]` tables for multi-task heads, else regression tasks.
//! Data paths are relative to the file that names them.

use crate::classify::class_names::NamedClasses;
use crate::classify::config::ClsConfig;
use crate::config::{relative_to, Config, ConfigError};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The folder of the shipped presets.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

/// The names of the shipped presets.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The file of preset `name`.
pub fn path(name: &str) -> Result<PathBuf> {
    let p = dir().join(format!("{name}.toml"));
    if name.is_empty() || name.contains(['/', '\\', '.']) || !p.is_file() {
        bail!(
            "unknown preset {name:?} (available: {})",
            names().join(", ")
        );
    }
    Ok(p)
}

/// A configuration of any kind of run, and the run's name (the preset's or the file's stem).
pub enum RunConfig {
    Regression(Box<Config>),
    Classification(Box<ClsConfig>),
    /// Multi-task heads: the file (its loader resolves its own paths).
    Multitask(PathBuf),
}

/// One file's table with its data paths made relative to the working directory.
fn read_table(path: &Path) -> Result<(String, Table)> {
    let text = ConfigError::read(path)?;
    let file = path.display().to_string();
    let mut t: Table =
        toml::from_str(&text).map_err(|e| crate::config::toml_error(&text, &file, &e))?;
    if let Some(Value::String(d)) = t.get_mut("data") {
        *d = relative_to(path, Path::new(d.as_str()))
            .display()
            .to_string();
    }
    if let Some(Value::Table(task)) = t.get_mut("task") {
        if let Some(Value::String(p)) = task.get_mut("path") {
            *p = relative_to(path, Path::new(p.as_str()))
                .display()
                .to_string();
        }
    }
    Ok((text, t))
}

/// `over`'s keys over `base`, sub-tables merged key by key.
fn merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A parsed file: its text, name and table (data paths resolved).
struct Source {
    text: String,
    file: String,
    table: Table,
}

impl Source {
    fn read(path: &Path) -> Result<Self> {
        let (text, table) = read_table(path)?;
        Ok(Source {
            text,
            file: path.display().to_string(),
            table,
        })
    }
    /// Whether the file writes `key` (`name` or `section.name`).
    fn sets(&self, key: &str) -> bool {
        let mut t = &self.table;
        let parts: Vec<&str> = key.split('.').collect();
        for (i, p) in parts.iter().enumerate() {
            match t.get(*p) {
                Some(Value::Table(sub)) if i + 1 < parts.len() => t = sub,
                Some(_) => return i + 1 == parts.len(),
                None => return false,
            }
        }
        false
    }
    /// Each file's own types and key names checked, with its own lines.
    fn parse_alone<T: serde::de::DeserializeOwned>(&self) -> Result<(), ConfigError> {
        toml::from_str::<T>(&self.text)
            .map(|_| ())
            .map_err(|e| crate::config::toml_error(&self.text, &self.file, &e))
    }
}

/// The error of `key` in the file that set it (the last given), else in the first file.
fn located(sources: &[Source], key: &str, msg: String) -> ConfigError {
    let s = sources
        .iter()
        .rev()
        .find(|s| s.sets(key))
        .unwrap_or(&sources[0]);
    let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
    // A key that is a table (`[[trunk.layers]]`): its header's line.
    let header = s.text.lines().position(|l| {
        let l = l.trim();
        l.starts_with('[') && l.trim_matches(|c| c == '[' || c == ']').trim() == key
    });
    ConfigError {
        file: s.file.clone(),
        line: header.map_or_else(|| crate::config::line_of(&s.text, section, name), |i| i + 1),
        field: key.into(),
        msg,
    }
}

/// An error of the merged configuration (`merged`, re-encoded from `sources`) told where the
/// user wrote it: an unknown key in the file that set it, at its line; any other as the merged
/// configuration's.
fn merged_error(sources: &[Source], merged: &str, e: &toml::de::Error) -> anyhow::Error {
    let field = e
        .message()
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    // The table the key sits in: the `[section]` header the error points at (a table's
    // unknown key is reported at its table), else the last one before it.
    let start = e.span().map_or(0, |s| s.start).min(merged.len());
    let line_end = merged[start..]
        .find('\n')
        .map_or(merged.len(), |n| start + n);
    let section = merged[..line_end]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').to_string());
    let msg = e.message().trim().to_string();
    let Some(field) = field else {
        // Another error (a value of the wrong type): the key on the line it points at, in its
        // table, told in the file that set it.
        let line = merged[..line_end].lines().last().unwrap_or("").trim();
        let key = match (line.split_once('='), section) {
            (Some((k, _)), Some(s)) if !s.is_empty() => format!("{s}.{}", k.trim()),
            (Some((k, _)), _) => k.trim().to_string(),
            (None, Some(s)) => s,
            (None, None) => return anyhow::anyhow!("configuration: {e}"),
        };
        return located(sources, &key, crate::config::with_hint(&key, &msg)).into();
    };
    let key = match section {
        Some(s) if !s.is_empty() => format!("{s}.{field}"),
        _ => field.to_string(),
    };
    located(sources, &key, crate::config::with_hint(&key, &msg)).into()
}

/// The configuration of `--preset` and/or `--config`, and the run's name: the preset's, else
/// the configuration file's stem, cut to the format's name length
/// ([`fit_name`](crate::export::fit_name)).
pub fn load(preset: Option<&str>, config: Option<&Path>) -> Result<(RunConfig, String)> {
    let (base, name) = match (preset, config) {
        (Some(p), _) => (path(p)?, p.to_string()),
        (None, Some(c)) => (
            c.to_path_buf(),
            c.file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned()),
        ),
        (None, None) => bail!("give --preset NAME or --config FILE"),
    };
    let name = crate::export::fit_name(name);
    let mut sources = vec![Source::read(&base)?];
    if let (Some(_), Some(c)) = (preset, config) {
        sources.push(Source::read(c)?);
    }
    if sources.iter().any(|s| s.table.contains_key("head")) {
        if sources.len() > 1 {
            bail!("multi-task configurations take --config alone, not with --preset");
        }
        return Ok((RunConfig::Multitask(base), name));
    }
    let is_cls = matches!(sources[0].table.get("task"), Some(Value::String(_)));
    let mut table = Table::new();
    for (i, s) in sources.iter().enumerate() {
        // Step weights are per step: a file that changes `steps` alone drops the base's.
        if i > 0 && s.sets("meta.steps") && !s.sets("meta.step_weights") {
            if let Some(Value::Table(meta)) = table.get_mut("meta") {
                meta.remove("step_weights");
            }
        }
        if is_cls {
            // Class names are resolved on the merged table; its types are checked there.
            if !NamedClasses::named_in(&s.table) {
                s.parse_alone::<ClsConfig>()?;
            }
        } else {
            s.parse_alone::<Config>()?;
        }
        merge(&mut table, s.table.clone());
    }
    let named = match is_cls {
        true => NamedClasses::resolve(&mut table)
            .with_context(|| sources[sources.len() - 1].file.clone())?,
        false => None,
    };
    let merged = toml::to_string(&table).context("re-encoding the configuration")?;
    let parsed = if is_cls {
        let mut cfg: ClsConfig =
            toml::from_str(&merged).map_err(|e| merged_error(&sources, &merged, &e))?;
        cfg.named = named;
        let trunk_file = sources.iter().rev().find(|s| s.sets("trunk"));
        if let Some(e) = trunk_file.and_then(|s| cfg.trunk_error(&s.text, &s.file)) {
            return Err(e.into());
        }
        cfg.validate()
            .map_err(|(key, msg)| located(&sources, key, msg))?;
        RunConfig::Classification(Box::new(cfg))
    } else {
        let cfg: Config =
            toml::from_str(&merged).map_err(|e| merged_error(&sources, &merged, &e))?;
        cfg.validate()
            .map_err(|(section, key, msg)| located(&sources, &format!("{section}.{key}"), msg))?;
        RunConfig::Regression(Box::new(cfg))
    };
    Ok((parsed, name))
}
