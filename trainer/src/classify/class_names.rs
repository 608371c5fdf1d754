//! Classes named by their labels in a configuration: `train_classes = ["walk", "run"]` when the
//! data's labels are names (see [`super::data`]). Names are resolved to class indices against
//! the data file the configuration names, before the configuration is read, so everything after
//! works with indices; the names are kept to resolve them again when `--data` gives another file
//! (whose sorted names may number the classes differently).
//!
//! ```
//! use trainer::classify::class_names::NamedClasses;
//! let mut table: toml::Table = toml::from_str(r#"
//!     data = "no-such-file.csv"
//!     train_classes = [0, 1]
//! "#).unwrap();
//! // Indices only: nothing to resolve, the data is not read.
//! assert!(NamedClasses::resolve(&mut table).unwrap().is_none());
//! ```

use super::data::Dataset;
use anyhow::{anyhow, bail, Result};
use std::path::Path;
use toml::{Table, Value};

/// The configuration keys that list classes.
pub const KEYS: [&str; 3] = ["train_classes", "val_classes", "test_classes"];

/// One entry of a class list: an index, or a label of the data.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ClassRef {
    Index(usize),
    Name(String),
}

impl ClassRef {
    /// The class in `ds`: a name looked up among its labels, an index itself.
    pub fn id(&self, ds: &Dataset) -> Result<usize> {
        match self {
            ClassRef::Index(i) => Ok(*i),
            ClassRef::Name(n) => ds.class_of(n),
        }
    }
}

/// The class lists of a configuration that names at least one class (in [`KEYS`] order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamedClasses {
    lists: [Vec<ClassRef>; 3],
}

impl NamedClasses {
    /// Replaces the names in `table`'s class lists by their classes in the data file that
    /// `table`'s `data` names (a path the caller has made relative to the working directory).
    /// None when every entry is an index (the data is then not read).
    pub fn resolve(table: &mut Table) -> Result<Option<Self>> {
        let named = Self::of(table)?;
        let Some(named) = named else {
            return Ok(None);
        };
        let data = match table.get("data") {
            Some(Value::String(d)) => d.clone(),
            _ => bail!(
                "class lists name classes ({}) but `data` names no file to find them in",
                named.first_name()
            ),
        };
        let label = match table.get("label_column") {
            Some(Value::String(l)) => Some(l.as_str()),
            _ => None,
        };
        let ignore: Vec<String> = match table.get("ignore_columns") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        let subject = match table.get("subject_column") {
            Some(Value::String(l)) => Some(l.as_str()),
            _ => None,
        };
        let cols = super::data::Columns {
            label,
            ignore: &ignore,
            subject,
        };
        let ds = Dataset::load_labelled(Path::new(&data), cols)?;
        for (key, ids) in KEYS.iter().zip(named.ids(&ds)?) {
            if table.contains_key(*key) {
                let ids = ids.into_iter().map(|c| Value::Integer(c as i64)).collect();
                table.insert(key.to_string(), Value::Array(ids));
            }
        }
        Ok(Some(named))
    }

    /// Whether `table`'s class lists name a class (or hold something that is neither a name
    /// nor an index, which [`NamedClasses::resolve`] reports).
    pub fn named_in(table: &Table) -> bool {
        !matches!(Self::of(table), Ok(None))
    }

    /// The class lists of `table`, if any entry is a name.
    fn of(table: &Table) -> Result<Option<Self>> {
        let mut lists: [Vec<ClassRef>; 3] = Default::default();
        for (key, list) in KEYS.iter().zip(&mut lists) {
            let Some(Value::Array(a)) = table.get(*key) else {
                continue;
            };
            for v in a {
                list.push(match v {
                    Value::Integer(i) => ClassRef::Index(
                        usize::try_from(*i).map_err(|_| anyhow!("{key}: class {i} < 0"))?,
                    ),
                    Value::String(s) => ClassRef::Name(s.clone()),
                    other => bail!("{key}: {other} is neither a class index nor a class name"),
                });
            }
        }
        let named = lists
            .iter()
            .flatten()
            .any(|c| matches!(c, ClassRef::Name(_)));
        Ok(named.then_some(NamedClasses { lists }))
    }

    /// The classes of the three lists in `ds` (names looked up among its labels; an index is
    /// itself).
    pub fn ids(&self, ds: &Dataset) -> Result<[Vec<usize>; 3]> {
        let mut out: [Vec<usize>; 3] = Default::default();
        for ((key, list), ids) in KEYS.iter().zip(&self.lists).zip(&mut out) {
            for c in list {
                ids.push(c.id(ds).map_err(|e| anyhow!("{key}: {e}"))?);
            }
        }
        Ok(out)
    }

    fn first_name(&self) -> String {
        self.lists
            .iter()
            .flatten()
            .find_map(|c| match c {
                ClassRef::Name(n) => Some(format!("{n:?}")),
                ClassRef::Index(_) => None,
            })
            .unwrap_or_default()
    }
}
