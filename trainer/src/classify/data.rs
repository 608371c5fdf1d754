//! A labelled data set from a user's CSV: any width, an optional header (its label column the
//! one a configuration's `label_column` names, else the one named `label`, else the last;
//! the columns `ignore_columns` names read by nothing), gzip accepted; every value finite as f32. Labels are class indices (0, 1, ...) or names
//! (`walk`, `run`; every label one or the other, a number that is not an index refused: it is
//! more often a wrong column than a class): the names in sorted order are classes 0, 1, ...
//! The index labels of a `trainer features` CSV take their names from its record (label `i`
//! is the record's word `i`), so a configuration may name its words. Also the class split used
//! by episodes.

use crate::csvio::{self, CsvError};
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// Which columns of a labelled CSV are what: a configuration's `label_column` and
/// `ignore_columns`; every other column is a feature.
#[derive(Clone, Copy, Debug, Default)]
pub struct Columns<'a> {
    /// The labels' header column (`None`: the column named `label`, else the last).
    pub label: Option<&'a str>,
    /// Header columns that are neither features nor the label (ids, timestamps, subjects).
    pub ignore: &'a [String],
    /// The header column naming each row's subject (a user, a device, a session): not a
    /// feature; the rows' subjects are kept ([`Dataset::subjects`]).
    pub subject: Option<&'a str>,
}

impl<'a> Columns<'a> {
    /// The labels in the header's column `label` (`None`: `label`, else the last), no column
    /// ignored.
    pub fn label(label: Option<&'a str>) -> Self {
        Columns {
            label,
            ..Columns::default()
        }
    }
}

/// Rows of features with one class label each.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features per row.
    pub d: usize,
    /// Row-major `rows x d`.
    pub x: Vec<f64>,
    pub labels: Vec<usize>,
    /// File line of each row (1-based), for messages.
    pub lines: Vec<usize>,
    pub file: String,
    /// SHA-256 of the file's bytes (empty for text parsed from memory).
    pub sha256: String,
    /// Column names (`f1..` without a header), features only.
    pub columns: Vec<String>,
    /// The name of each class (class `c` is `class_names[c]`): the labels in sorted order
    /// when they are names; the words of a `trainer features` CSV's record (whose labels are
    /// indices); else empty.
    pub class_names: Vec<String>,
    /// Each row's subject (an index into `subject_names`) when the columns name a subject
    /// column; else empty.
    pub subjects: Vec<usize>,
    /// The subjects' names, sorted.
    pub subject_names: Vec<String>,
}

impl Dataset {
    /// Keeps the feature columns `order` (indices into [`Dataset::columns`]), in that order: a
    /// file read by name as a model takes its inputs ([`crate::input_columns`]).
    pub fn select_columns(&mut self, order: &[usize]) {
        self.x = self
            .x
            .chunks_exact(self.d)
            .flat_map(|row| order.iter().map(|&c| row[c]))
            .collect();
        self.columns = order.iter().map(|&c| self.columns[c].clone()).collect();
        self.d = order.len();
    }

    pub fn load(path: &Path) -> Result<Self> {
        Self::load_labelled(path, Columns::default())
    }

    /// [`Dataset::load`] with the labels and ignored columns of `cols` (the configuration's
    /// `label_column` and `ignore_columns`).
    pub fn load_labelled(path: &Path, cols: Columns) -> Result<Self> {
        let (text, sha) = csvio::read_text(path)?;
        let mut ds = Self::parse_labelled(&text, &path.display().to_string(), cols)?;
        ds.sha256 = sha;
        if ds.class_names.is_empty() {
            if let Some(record) = crate::features::recorded(path)? {
                let words: Vec<String> = record.labels.into_iter().map(|(w, _)| w).collect();
                if ds.labels.iter().all(|&l| l < words.len()) {
                    ds.class_names = words;
                }
            }
        }
        Ok(ds)
    }

    pub fn parse(text: &str, file: &str) -> Result<Self, CsvError> {
        Self::parse_labelled(text, file, Columns::default())
    }

    /// [`Dataset::parse`] with the labels and ignored columns of `cols`.
    pub fn parse_labelled(text: &str, file: &str, cols: Columns) -> Result<Self, CsvError> {
        let err = |line: usize, field: &str, msg: String| csv_error(file, line, field, msg);
        let csvio::Table { rows, columns } = csvio::records(text, file)?;
        let next = rows.get(1).map(|(_, r)| r.as_slice());
        let is_header = rows.first().is_some_and(|(_, r)| csvio::is_header(r, next));
        let mut recs = rows.into_iter().peekable();
        let Some((l0, first)) = recs.peek().cloned() else {
            return Err(err(1, "-", "no data rows".into()));
        };
        let header = is_header.then(|| {
            recs.next();
            first.clone()
        });
        let layout =
            Layout::new(header, columns, first.len(), cols).map_err(|(f, m)| err(l0, &f, m))?;
        let columns = layout.columns();
        // Two feature columns of one name: a model read by name could not tell them apart.
        if let Some(n) = columns
            .iter()
            .enumerate()
            .find(|(i, c)| columns[..*i].iter().any(|p| p.eq_ignore_ascii_case(c)))
            .map(|(_, c)| c)
        {
            return Err(err(
                l0,
                n,
                format!("the header names two feature columns {n:?}: rename one (or `ignore_columns` one)"),
            ));
        }
        let mut ds = Dataset {
            d: columns.len(),
            x: Vec::new(),
            labels: Vec::new(),
            lines: Vec::new(),
            file: file.to_string(),
            sha256: String::new(),
            columns,
            class_names: Vec::new(),
            subjects: Vec::new(),
            subject_names: Vec::new(),
        };
        let mut raw_labels = Vec::new();
        let mut raw_subjects = Vec::new();
        for (line, cells) in recs {
            for (i, c) in cells
                .iter()
                .enumerate()
                .filter(|&(i, _)| layout.is_feature(i))
            {
                let v = csvio::finite_f32(c)
                    .map_err(|m| err(line, &layout.name(i), m + &layout.hint(i, c)))?;
                ds.x.push(v);
            }
            raw_labels.push(cells[layout.label].trim().to_string());
            if let Some(j) = layout.subject {
                raw_subjects.push(cells[j].trim().to_string());
            }
            ds.lines.push(line);
        }
        if layout.subject.is_some() {
            let mut names = raw_subjects.clone();
            names.sort_unstable();
            names.dedup();
            // Every subject is in `names`, which was made from them.
            ds.subjects = raw_subjects
                .iter()
                .map(|c| names.binary_search(c).unwrap_or_default())
                .collect();
            ds.subject_names = names;
        }
        let (labels, names) = class_labels(&raw_labels, &ds.lines)
            .map_err(|(i, msg)| err(ds.lines[i], &layout.name(layout.label), msg))?;
        (ds.labels, ds.class_names) = (labels, names);
        if ds.labels.is_empty() {
            return Err(err(l0, "-", "no data rows".into()));
        }
        Ok(ds)
    }

    /// How the user calls class `c`: its name, or its index.
    pub fn class_name(&self, c: usize) -> String {
        self.class_names
            .get(c)
            .cloned()
            .unwrap_or_else(|| c.to_string())
    }

    /// Classes as the user calls them, for messages: `[0, 3]`, or `["jump", "walk"]` with
    /// named classes.
    pub fn describe_classes(&self, classes: &[usize]) -> String {
        match self.class_names.is_empty() {
            true => format!("{classes:?}"),
            false => format!(
                "{:?}",
                classes
                    .iter()
                    .map(|&c| self.class_name(c))
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// The class named `label`; an error names the data's classes when it has none of that
    /// name (or its labels are indices).
    pub fn class_of(&self, label: &str) -> Result<usize> {
        if self.class_names.is_empty() {
            bail!(
                "{}: class {label:?}: the data's labels are class indices (0, 1, ...), not names",
                self.file
            );
        }
        // Labels are read trimmed; so is a configuration's name for one.
        let label = label.trim();
        self.class_names
            .iter()
            .position(|n| n == label)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no class named {label:?}; its classes are {:?}",
                    self.file,
                    self.class_names
                )
            })
    }

    pub fn rows(&self) -> usize {
        self.labels.len()
    }
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }
    /// Row indices of each class `0..=max label`.
    pub fn by_class(&self) -> Vec<Vec<usize>> {
        let n = self.labels.iter().max().map_or(0, |m| m + 1);
        let mut v = vec![Vec::new(); n];
        for (i, &l) in self.labels.iter().enumerate() {
            v[l].push(i);
        }
        v
    }
    /// Row indices of each subject (empty without a subject column).
    pub fn by_subject(&self) -> Vec<Vec<usize>> {
        let mut v = vec![Vec::new(); self.subject_names.len()];
        for (i, &s) in self.subjects.iter().enumerate() {
            v[s].push(i);
        }
        v
    }

    /// Side of a square image (`d = side^2`), if the rows are one.
    pub fn square_side(&self) -> Option<usize> {
        let s = (self.d as f64).sqrt().round() as usize;
        (s * s == self.d && s > 0).then_some(s)
    }
}

/// Meta-training classes (rows split into training and validation) and meta-test classes.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassSplit {
    /// (class, training rows) of each meta-training class.
    pub train: Vec<(usize, Vec<usize>)>,
    /// (class, held-out rows) of each meta-training class, for validation episodes.
    pub val: Vec<(usize, Vec<usize>)>,
    /// (class, all rows) of each meta-test class.
    pub test: Vec<(usize, Vec<usize>)>,
}

impl ClassSplit {
    /// `val_fraction` of each meta-training class's rows (seeded shuffle) are held out.
    pub fn new(
        ds: &Dataset,
        train_classes: &[usize],
        test_classes: &[usize],
        val_fraction: f64,
        seed: u64,
    ) -> Result<Self> {
        let by = ds.by_class();
        let rows = |c: usize| -> Result<Vec<usize>> {
            by.get(c)
                .filter(|r| !r.is_empty())
                .cloned()
                .with_context(|| format!("{}: class {} has no rows", ds.file, ds.class_name(c)))
        };
        if let Some(c) = train_classes.iter().find(|c| test_classes.contains(c)) {
            anyhow::bail!(
                "class {} is both a meta-training and a meta-test class",
                ds.class_name(*c)
            );
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for &c in train_classes {
            let mut r = rows(c)?;
            r.shuffle(&mut rng);
            let nv = ((r.len() as f64) * val_fraction).round() as usize;
            let t = r.split_off(nv.min(r.len()));
            let (mut t, mut v) = (t, r);
            t.sort_unstable();
            v.sort_unstable();
            train.push((c, t));
            val.push((c, v));
        }
        let test = test_classes
            .iter()
            .map(|&c| Ok((c, rows(c)?)))
            .collect::<Result<_>>()?;
        Ok(ClassSplit { train, val, test })
    }

    /// The rows of subjects `held` (indices into [`Dataset::subject_names`]) taken out of the
    /// training classes' training and validation rows; the test classes' rows only theirs
    /// (refused when a test class has none).
    pub fn hold_out_subjects(&mut self, ds: &Dataset, held: &[usize]) -> Result<()> {
        let of_held = |r: &usize| ds.subjects.get(*r).is_some_and(|s| held.contains(s));
        for (_, rows) in self.train.iter_mut().chain(self.val.iter_mut()) {
            rows.retain(|r| !of_held(r));
        }
        for (c, rows) in &mut self.test {
            rows.retain(of_held);
            if rows.is_empty() {
                anyhow::bail!(
                    "{}: novel class {} has no rows of the held-out subjects (`test_subjects`): hold out subjects that recorded it, or leave it out of `test_classes`",
                    ds.file,
                    ds.class_name(*c)
                );
            }
        }
        Ok(())
    }
}

/// A CSV error at `file:line`, field `field`.
fn csv_error(file: &str, line: usize, field: &str, msg: String) -> CsvError {
    CsvError {
        file: file.to_string(),
        line,
        field: field.to_string(),
        msg,
    }
}

/// What each column of a labelled CSV is: its header, the label's column, the ignored ones.
struct Layout {
    header: Option<Vec<String>>,
    /// Where each column was in the file (`f3` is the file's third column).
    file_columns: csvio::FileColumns,
    width: usize,
    /// The label's column.
    label: usize,
    ignored: Vec<usize>,
    /// The label's column was chosen by name (the configuration's `label_column`, or the
    /// header's `label`), not as the last column.
    label_by_name: bool,
    /// The subjects' column, when `subject_column` names one.
    subject: Option<usize>,
}

/// The labels' column of rows `width` wide when the configuration names none: the header's
/// column `label`, else the last.
pub fn default_label(header: Option<&[String]>, width: usize) -> usize {
    header
        .and_then(|h| csvio::column(h, "label"))
        .unwrap_or(width.saturating_sub(1))
}

impl Layout {
    /// The columns of rows `width` wide under `header`, the label's chosen by `cols` (the
    /// header's `label` column, else the last, unless `cols` names one); `(field, message)`
    /// when `cols` names what the file does not have, or leaves no feature.
    fn new(
        header: Option<Vec<String>>,
        file_columns: csvio::FileColumns,
        width: usize,
        cols: Columns<'_>,
    ) -> Result<Self, (String, String)> {
        let by_default = header.as_ref().and_then(|h| csvio::column(h, "label"));
        let label_by_name = cols.label.is_some() || by_default.is_some();
        let label = match (cols.label, &header) {
            (None, _) => default_label(header.as_deref(), width),
            (Some(l), Some(h)) => csvio::column(h, l).ok_or_else(|| {
                let msg = format!(
                    "no column named {l:?} (`label_column`); the header's columns: {}",
                    preview(h)
                );
                (l.to_string(), msg)
            })?,
            (Some(l), None) => {
                let msg =
                    "`label_column` names a header column, and this file has no header row".into();
                return Err((l.to_string(), msg));
            }
        };
        let ignored = csvio::ignored(header.as_deref(), cols.ignore)
            .map_err(|m| ("ignore_columns".to_string(), m))?;
        if ignored.contains(&label) {
            let msg = match label_by_name {
                true => "`ignore_columns` names the label column".into(),
                false => format!(
                    "`ignore_columns` names the label column: with no `label_column` set and no header column named `label`, the labels are the last column{}; name the label's column with `label_column` (`eval`: --label-column)",
                    header
                        .as_ref()
                        .and_then(|h| h.get(label))
                        .map_or(String::new(), |n| format!(" ({n:?})"))
                ),
            };
            return Err(("ignore_columns".into(), msg));
        }
        let subject = match (cols.subject, &header) {
            (None, _) => None,
            (Some(n), Some(h)) => Some(csvio::column(h, n).ok_or_else(|| {
                let msg = format!(
                    "no column named {n:?} (`subject_column`); the header's columns: {}",
                    preview(h)
                );
                (n.to_string(), msg)
            })?),
            (Some(n), None) => {
                let msg = "`subject_column` names a header column, and this file has no header row"
                    .into();
                return Err((n.to_string(), msg));
            }
        };
        if subject == Some(label) {
            let msg = "`subject_column` names the label column".into();
            return Err(("subject_column".into(), msg));
        }
        let ignored: Vec<usize> = ignored.into_iter().chain(subject).collect();
        if width < 2 + ignored.len() {
            let msg = "need at least one feature and a label".into();
            return Err(("label".into(), msg));
        }
        Ok(Layout {
            header,
            file_columns,
            width,
            label,
            ignored,
            label_by_name,
            subject,
        })
    }

    fn is_feature(&self, i: usize) -> bool {
        i != self.label && !self.ignored.contains(&i)
    }

    /// Column `i`'s name: the header's, else `label` or `f1`, `f2`, ... (numbered as in the
    /// file).
    fn name(&self, i: usize) -> String {
        match &self.header {
            None if i == self.label => "label".into(),
            _ => self.feature_name(i),
        }
    }

    /// Feature column `i`'s name: the header's, else `f` and its column in the file.
    fn feature_name(&self, i: usize) -> String {
        match &self.header {
            Some(h) => h[i].clone(),
            None => format!("f{}", self.file_columns.number(i)),
        }
    }

    /// The feature columns' names (`f1..` without a header).
    fn columns(&self) -> Vec<String> {
        (0..self.width)
            .filter(|&i| self.is_feature(i))
            .map(|i| self.feature_name(i))
            .collect()
    }

    /// What to add to the error of a feature cell `c` of column `i` that is not a number:
    /// where the labels were taken from and how to name another column or skip this one.
    fn hint(&self, i: usize, c: &str) -> String {
        // A first line of numbers but one cell (a label) was taken as the header: likely data.
        let numbers = |h: &[String]| h.iter().filter(|c| c.parse::<f64>().is_ok()).count();
        match (&self.header, self.label_by_name) {
            _ if csvio::is_missing(c) => {
                " (a missing value: the model takes every feature of every row, so fill it in or drop the row)".into()
            }
            // A number (too large for f32) or one with a decimal comma: the message says so.
            _ if csvio::decimal_comma(c) => String::new(),
            (Some(h), false) if 2 * numbers(h) > h.len() => format!(
                " (the first line was taken as the header, for its cell {:?}, though its other cells are numbers: if it is a row of data, add a header line naming the columns, e.g. `label,f1,f2,...`)",
                h.iter().find(|c| c.parse::<f64>().is_err()).map_or("", String::as_str)
            ),
            (Some(_), false) => format!(
                " (the labels were taken from column `{}`; a header column named `label` is taken instead, or set `label_column` (`eval`: --label-column); a column that is neither a feature nor the label: `ignore_columns = [{:?}]` (`eval`: --ignore-columns {}))",
                self.name(self.label),
                self.name(i),
                csvio::shell_word(&self.name(i))
            ),
            (Some(_), true) => format!(
                " (a column that is neither a feature nor the label: `ignore_columns = [{:?}]` (`eval`: --ignore-columns {}))",
                self.name(i),
                csvio::shell_word(&self.name(i))
            ),
            (None, _) => format!(
                " (the file has no header line, so its last column ({}) is the label and every other a feature: add a header line naming the columns, e.g. `label,f1,f2,...`, with `label` over the labels)",
                self.label + 1
            ),
        }
    }
}

/// The class of each raw label and the class names: indices as given (no names), or names
/// numbered in sorted order; `(row, message)` of an empty label, a number among names, an
/// index above 65535 or a number that is not an index. `lines` are the rows' file lines.
fn class_labels(
    raw: &[String],
    lines: &[usize],
) -> Result<(Vec<usize>, Vec<String>), (usize, String)> {
    if let Some(i) = raw.iter().position(|c| c.is_empty()) {
        return Err((i, "empty class label".into()));
    }
    let is_number = |c: &str| c.parse::<f64>().is_ok();
    let Some(first) = raw.iter().position(|c| !is_number(c)) else {
        let mut labels = Vec::with_capacity(raw.len());
        for (i, c) in raw.iter().enumerate() {
            match c.parse::<usize>() {
                Ok(l) if l <= u16::MAX as usize => labels.push(l),
                Ok(l) => return Err((i, format!("class {l} > 65535"))),
                Err(_) => {
                    let whole = c
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.fract() == 0.0 && *v >= 0.0);
                    let msg = match whole {
                        // `7.0`, as a spreadsheet or pandas writes an integer label.
                        Some(v) => format!(
                            "not a class index (0, 1, ...) or a class name: {c:?} (write it {v})"
                        ),
                        None => format!("not a class index (0, 1, ...) or a class name: {c:?}"),
                    };
                    return Err((i, msg));
                }
            }
        }
        return Ok((labels, Vec::new()));
    };
    if let Some(i) = raw.iter().position(|c| is_number(c)) {
        let msg = format!(
            "a number among class names (line {} names {:?}): give every class a name, or every class an index",
            lines[first], raw[first]
        );
        return Err((i, msg));
    }
    let mut names = raw.to_vec();
    names.sort_unstable();
    names.dedup();
    if names.len() > u16::MAX as usize + 1 {
        return Err((0, format!("{} class names, at most 65536", names.len())));
    }
    // Every label is in `names`, which was made from them.
    let labels = raw
        .iter()
        .map(|c| names.binary_search(c).unwrap_or_default())
        .collect();
    Ok((labels, names))
}

fn preview(h: &[String]) -> String {
    let shown: Vec<&str> = h.iter().take(6).map(String::as_str).collect();
    let more = h.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
