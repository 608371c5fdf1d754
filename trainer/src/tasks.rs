//! Task sources: the sinusoid family (MAML protocol) and regression task sets from CSV.

use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One few-shot task: a support set to adapt on and a query set to score the adaptation.
/// Inputs are raw (un-normalised), row-major `rows x n_in`; targets `rows x n_out`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Task {
    pub n_in: usize,
    pub n_out: usize,
    pub support_x: Vec<f64>,
    pub support_y: Vec<f64>,
    pub query_x: Vec<f64>,
    pub query_y: Vec<f64>,
    /// Ground-truth function parameters when known (sinusoid: amplitude, phase), for plots.
    pub truth: Option<(f64, f64)>,
}

impl Task {
    pub fn k(&self) -> usize {
        self.support_x.len() / self.n_in.max(1)
    }
    pub fn q(&self) -> usize {
        self.query_x.len() / self.n_in.max(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    MetaTrain,
    MetaTest,
}

/// Anything that can hand out tasks; sampling is a pure function of the rng.
pub trait TaskSource: Send + Sync {
    fn name(&self) -> String;
    fn n_in(&self) -> usize;
    fn n_out(&self) -> usize;
    /// Draw a task with `k` support and `q` query points.
    fn sample(&self, split: Split, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task;
    /// Suggested (shift, scale) input normalisation from the input range.
    fn normalisation(&self) -> (Vec<f64>, Vec<f64>) {
        (vec![0.0; self.n_in()], vec![1.0; self.n_in()])
    }
}

/// MAML sinusoid: A ~ U[0.1, 5], phase ~ U[0, pi], x ~ U[-5, 5], y = A sin(x - phase).
#[derive(Clone, Copy, Debug)]
pub struct Sinusoid;

impl Sinusoid {
    pub const AMP: (f64, f64) = (0.1, 5.0);
    pub const PHASE: (f64, f64) = (0.0, std::f64::consts::PI);
    pub const X: (f64, f64) = (-5.0, 5.0);
    pub fn points(a: f64, ph: f64, n: usize, rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        let x: Vec<f64> = (0..n)
            .map(|_| rng.random_range(Self::X.0..Self::X.1))
            .collect();
        let y = x.iter().map(|&x| a * (x - ph).sin()).collect();
        (x, y)
    }
}

impl TaskSource for Sinusoid {
    fn name(&self) -> String {
        "sinusoid".into()
    }
    fn n_in(&self) -> usize {
        1
    }
    fn n_out(&self) -> usize {
        1
    }
    fn sample(&self, _split: Split, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task {
        let a = rng.random_range(Self::AMP.0..Self::AMP.1);
        let ph = rng.random_range(Self::PHASE.0..Self::PHASE.1);
        let (support_x, support_y) = Self::points(a, ph, k, rng);
        let (query_x, query_y) = Self::points(a, ph, q, rng);
        Task {
            n_in: 1,
            n_out: 1,
            support_x,
            support_y,
            query_x,
            query_y,
            truth: Some((a, ph)),
        }
    }
    /// x in [-5, 5] becomes [-1, 1].
    fn normalisation(&self) -> (Vec<f64>, Vec<f64>) {
        (vec![0.0], vec![0.2])
    }
}

/// Rows of one CSV task.
#[derive(Clone, Debug)]
struct CsvTask {
    x: Vec<f64>,
    y: Vec<f64>,
    /// First line of the task in the file.
    line: usize,
}

/// Regression tasks from a CSV file `task_id, x1..xn, y1..ym` (header required; `.gz` or gzip
/// magic accepted). Task ids are split into meta-train / meta-test by a seeded shuffle.
#[derive(Clone, Debug)]
pub struct CsvTasks {
    pub path: PathBuf,
    n_in: usize,
    n_out: usize,
    train: Vec<CsvTask>,
    test: Vec<CsvTask>,
    pub train_ids: Vec<String>,
    pub test_ids: Vec<String>,
}

/// A CSV error that names the file, line and field.
pub use crate::csvio::CsvError;

impl CsvTasks {
    /// Load and split. `test_fraction` of the tasks (at least one) go to meta-test; every task
    /// must have at least `min_rows` rows.
    pub fn load(path: &Path, test_fraction: f64, split_seed: u64, min_rows: usize) -> Result<Self> {
        let (text, _) = crate::csvio::read_text(path)?;
        Self::parse(
            &text,
            &path.display().to_string(),
            test_fraction,
            split_seed,
            min_rows,
        )
        .map(|mut t| {
            t.path = path.to_path_buf();
            t
        })
    }

    pub fn parse(
        text: &str,
        file: &str,
        test_fraction: f64,
        split_seed: u64,
        min_rows: usize,
    ) -> Result<Self> {
        let err = |line: usize, field: &str, msg: String| CsvError {
            file: file.to_string(),
            line,
            field: field.to_string(),
            msg,
        };
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            bail!("test_fraction must be in (0, 1), got {test_fraction}");
        }
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((hl, header)) = lines.next() else {
            return Err(err(
                1,
                "header",
                "empty file: expected `task_id,x1..,y1..`".into(),
            )
            .into());
        };
        let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
        if names.first().map(String::as_str) != Some("task_id") {
            return Err(err(
                hl + 1,
                names.first().map_or("", |s| s),
                "first column must be `task_id`".into(),
            )
            .into());
        }
        let n_in = names.iter().filter(|n| n.starts_with('x')).count();
        let n_out = names.iter().filter(|n| n.starts_with('y')).count();
        for (i, n) in names.iter().enumerate().skip(1) {
            let ok = if i <= n_in {
                n.starts_with('x')
            } else {
                n.starts_with('y')
            };
            if !ok {
                return Err(err(hl + 1, n, "expected columns x1..xn then y1..ym".into()).into());
            }
        }
        if n_in == 0 || n_out == 0 {
            return Err(err(
                hl + 1,
                "header",
                "need at least one x and one y column".into(),
            )
            .into());
        }
        let mut tasks: BTreeMap<String, CsvTask> = BTreeMap::new();
        for (ln, line) in lines {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != names.len() {
                let f = names.get(cells.len()).map_or("(extra)", |s| s.as_str());
                return Err(err(
                    ln + 1,
                    f,
                    format!("expected {} fields, found {}", names.len(), cells.len()),
                )
                .into());
            }
            let t = tasks.entry(cells[0].to_string()).or_insert(CsvTask {
                x: vec![],
                y: vec![],
                line: ln + 1,
            });
            for (i, c) in cells.iter().enumerate().skip(1) {
                let v: f64 = c
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| err(ln + 1, &names[i], format!("not a finite number: {c:?}")))?;
                if i <= n_in {
                    t.x.push(v)
                } else {
                    t.y.push(v)
                }
            }
        }
        for (id, t) in &tasks {
            let rows = t.x.len() / n_in;
            if rows < min_rows {
                return Err(err(
                    t.line,
                    "task_id",
                    format!("task {id:?} (first row on this line) has {rows} rows, needs at least {min_rows}"),
                )
                .into());
            }
        }
        let mut ids: Vec<String> = tasks.keys().cloned().collect();
        if ids.len() < 2 {
            return Err(err(
                hl + 1,
                "task_id",
                format!(
                    "{} task(s): the meta-train/meta-test split needs at least 2",
                    ids.len()
                ),
            )
            .into());
        }
        ids.shuffle(&mut ChaCha8Rng::seed_from_u64(split_seed));
        let n_test = ((ids.len() as f64 * test_fraction).round() as usize).clamp(1, ids.len() - 1);
        let test_ids = ids[..n_test].to_vec();
        let train_ids = ids[n_test..].to_vec();
        let get = |ids: &[String]| ids.iter().filter_map(|i| tasks.get(i).cloned()).collect();
        Ok(CsvTasks {
            path: PathBuf::from(file),
            n_in,
            n_out,
            train: get(&train_ids),
            test: get(&test_ids),
            train_ids,
            test_ids,
        })
    }
}

impl TaskSource for CsvTasks {
    fn name(&self) -> String {
        format!("csv:{}", self.path.display())
    }
    fn n_in(&self) -> usize {
        self.n_in
    }
    fn n_out(&self) -> usize {
        self.n_out
    }
    /// Support and query are disjoint rows of one task; with too few rows the support keeps at
    /// least one row back for the query.
    fn sample(&self, split: Split, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task {
        let set = match split {
            Split::MetaTrain => &self.train,
            Split::MetaTest => &self.test,
        };
        let t = &set[rng.random_range(0..set.len())];
        let rows = t.x.len() / self.n_in;
        let mut idx: Vec<usize> = (0..rows).collect();
        idx.shuffle(rng);
        let k = k.min(rows.saturating_sub(1)).max(1);
        let q = q.min(rows - k).max(1);
        let take = |ix: &[usize], v: &[f64], w: usize| {
            ix.iter()
                .flat_map(|&r| v[r * w..(r + 1) * w].iter().copied())
                .collect()
        };
        let (s, qi) = (&idx[..k], &idx[k..(k + q).min(rows)]);
        let qi = if qi.is_empty() { s } else { qi };
        Task {
            n_in: self.n_in,
            n_out: self.n_out,
            support_x: take(s, &t.x, self.n_in),
            support_y: take(s, &t.y, self.n_out),
            query_x: take(qi, &t.x, self.n_in),
            query_y: take(qi, &t.y, self.n_out),
            truth: None,
        }
    }
    fn normalisation(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.n_in;
        let mut shift = vec![0.0; n];
        let mut scale = vec![1.0; n];
        let all: Vec<&CsvTask> = self.train.iter().collect();
        for j in 0..n {
            let vals: Vec<f64> = all
                .iter()
                .flat_map(|t| t.x.iter().skip(j).step_by(n).copied())
                .collect();
            let c = vals.len().max(1) as f64;
            let mean = vals.iter().sum::<f64>() / c;
            let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / c;
            shift[j] = mean;
            scale[j] = if var > 1e-12 { 1.0 / var.sqrt() } else { 1.0 };
        }
        (shift, scale)
    }
}
