//! A labelled data set from CSV (`f1..fn,label`; gzip accepted; an optional header whose last
//! field is `label`), and the class split / held-out rows used by episodes.

use crate::tasks::CsvError;
use anyhow::{Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Read;
use std::path::Path;

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
}

impl Dataset {
    pub fn load(path: &Path) -> Result<Self> {
        let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let text = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut s = String::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_string(&mut s)
                .with_context(|| format!("{}: not valid gzip/UTF-8", path.display()))?;
            s
        } else {
            String::from_utf8(raw).with_context(|| format!("{}: not UTF-8 text", path.display()))?
        };
        Ok(Self::parse(&text, &path.display().to_string())?)
    }

    pub fn parse(text: &str, file: &str) -> Result<Self, CsvError> {
        let err = |line: usize, field: String, msg: String| CsvError {
            file: file.to_string(),
            line,
            field,
            msg,
        };
        let mut ds = Dataset {
            d: 0,
            x: Vec::new(),
            labels: Vec::new(),
            lines: Vec::new(),
            file: file.to_string(),
        };
        let mut width = None;
        for (ln, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if width.is_none() && cells.last() == Some(&"label") {
                width = Some(cells.len());
                continue;
            }
            let w = *width.get_or_insert(cells.len());
            if w < 2 {
                return Err(err(
                    ln + 1,
                    "label".into(),
                    "need at least one feature and a label".into(),
                ));
            }
            if cells.len() != w {
                return Err(err(
                    ln + 1,
                    format!("f{}", cells.len().min(w)),
                    format!("expected {w} fields, found {}", cells.len()),
                ));
            }
            for (i, c) in cells[..w - 1].iter().enumerate() {
                let v: f64 = c
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| {
                        err(
                            ln + 1,
                            format!("f{}", i + 1),
                            format!("not a finite number: {c:?}"),
                        )
                    })?;
                ds.x.push(v);
            }
            let c = cells[w - 1];
            let lab: usize = c.parse().map_err(|_| {
                err(
                    ln + 1,
                    "label".into(),
                    format!("not a class index (0, 1, ...): {c:?}"),
                )
            })?;
            if lab > u16::MAX as usize {
                return Err(err(ln + 1, "label".into(), format!("class {lab} > 65535")));
            }
            ds.labels.push(lab);
            ds.lines.push(ln + 1);
        }
        ds.d = width.map_or(0, |w| w - 1);
        if ds.labels.is_empty() {
            return Err(err(1, "f1".into(), "no data rows".into()));
        }
        Ok(ds)
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
                .with_context(|| format!("{}: class {c} has no rows", ds.file))
        };
        if let Some(c) = train_classes.iter().find(|c| test_classes.contains(c)) {
            anyhow::bail!("class {c} is both a meta-training and a meta-test class");
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
}
