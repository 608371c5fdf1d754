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
    /// The distinct held-out tasks `(id, rows)` when the meta-test set is a finite list (CSV
    /// tasks); None when every draw is a new task (the sinusoid family).
    fn held_out(&self) -> Option<Vec<(String, usize)>> {
        None
    }
    /// A draw of `k` support and `q` query rows from held-out task `index` of [`Self::held_out`].
    fn sample_held_out(&self, _index: usize, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task {
        self.sample(Split::MetaTest, k, q, rng)
    }
    /// Mean target per output over the meta-training tasks (the population-mean baseline);
    /// by default estimated from [`meta_train_sample`].
    fn target_mean(&self) -> Vec<f64> {
        let m = self.n_out();
        let mut sum = vec![0.0; m];
        let mut n = 0usize;
        for t in meta_train_sample(self) {
            for (i, y) in t.support_y.iter().enumerate() {
                sum[i % m] += y;
            }
            n += t.k();
        }
        sum.iter().map(|s| s / n.max(1) as f64).collect()
    }
    /// The meta-training tasks' input rows (row-major, `n_in` wide), raw: what an input
    /// standardisation is fitted on (never held-out tasks). By default the support rows of
    /// [`meta_train_sample`].
    fn train_inputs(&self) -> Vec<f64> {
        let sample = meta_train_sample(self);
        sample.into_iter().flat_map(|t| t.support_x).collect()
    }
    /// The output normalisation `(shift, scale)` per output the model's head should carry, fitted
    /// on the meta-training targets (CSV tasks: their mean and standard deviation); None keeps
    /// raw targets (the sinusoid family, whose models stay format v1).
    fn target_normalisation(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        None
    }
    /// The outputs' names, in order (CSV tasks: their target columns); empty when unnamed.
    fn target_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// 2000 seeded meta-training tasks of 20 support points (and one query point): the sample the
/// default statistics of an unbounded task family are estimated from.
pub fn meta_train_sample<S: TaskSource + ?Sized>(source: &S) -> Vec<Task> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x6d65616e);
    (0..2000)
        .map(|_| source.sample(Split::MetaTrain, 20, 1, &mut rng))
        .collect()
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
    id: String,
    x: Vec<f64>,
    y: Vec<f64>,
    /// First line of the task in the file.
    line: usize,
}

/// Which columns of a task CSV hold the task id, the inputs and the targets (`[task]`'s
/// `task_column`, `targets` and `ignore_columns`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    /// The task id column's name.
    pub task_column: String,
    /// The target columns by name, in the model's output order; every other column is an
    /// input, in the file's order. Empty: the inputs are the columns named `x..`, then the
    /// targets those named `y..`, right after the task id.
    pub targets: Vec<String>,
    /// Columns read as neither input nor target nor task id (row ids, timestamps).
    pub ignore: Vec<String>,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            task_column: "task_id".into(),
            targets: Vec::new(),
            ignore: Vec::new(),
        }
    }
}

/// Column indices of a header: the task id, the inputs and the targets.
struct Layout {
    task: usize,
    inputs: Vec<usize>,
    targets: Vec<usize>,
}

impl Columns {
    /// The task id column, the input columns and the target columns of a header, or the
    /// offending field and why.
    fn of(&self, names: &[String]) -> Result<Layout, (String, String)> {
        let find = |n: &str| crate::csvio::column(names, n);
        let ignored = crate::csvio::ignored(Some(names), &self.ignore)
            .map_err(|m| ("ignore_columns".to_string(), m))?;
        let Some(task) = find(&self.task_column).filter(|i| !ignored.contains(i)) else {
            return Err((
                self.task_column.clone(),
                format!(
                    "no `{}` column (its columns: {}); set `task_column` (under [task], or in a multi-task run the head's [[head]] table) to the column naming each task",
                    self.task_column,
                    names.join(", ")
                ),
            ));
        };
        if !self.targets.is_empty() {
            let mut targets = Vec::new();
            for t in &self.targets {
                match find(t) {
                    Some(i) if i != task && !targets.contains(&i) && !ignored.contains(&i) => {
                        targets.push(i)
                    }
                    _ => {
                        let msg = format!(
                            "`targets` names {t:?}: not a distinct data column of {}",
                            names.join(", ")
                        );
                        return Err((t.clone(), msg));
                    }
                }
            }
            let inputs: Vec<usize> = (0..names.len())
                .filter(|i| *i != task && !targets.contains(i) && !ignored.contains(i))
                .collect();
            if inputs.is_empty() {
                return Err((
                    "targets".into(),
                    "every column is a target: no input left".into(),
                ));
            }
            return Ok(Layout {
                task,
                inputs,
                targets,
            });
        }
        let hint = "expected columns x1..xn then y1..ym, or name the targets (`targets = [\"..\"]` under [task]: every other column is an input; `ignore_columns = [\"..\"]`: columns read as neither)";
        // The columns read, in the file's order: the task id first, then x.., then y...
        let kept: Vec<usize> = (0..names.len()).filter(|i| !ignored.contains(i)).collect();
        let rest = match kept.split_first() {
            Some((&first, rest)) if first == task => rest,
            first => {
                let first = first.map_or("header", |(&i, _)| names[i].as_str());
                return Err((
                    first.to_string(),
                    format!("the task id must be the first column; {hint}"),
                ));
            }
        };
        let starts = |i: &usize, c: char| names[*i].starts_with(c);
        let n_in = rest.iter().filter(|i| starts(i, 'x')).count();
        let n_out = rest.len() - n_in;
        for (k, i) in rest.iter().enumerate() {
            if !starts(i, if k < n_in { 'x' } else { 'y' }) {
                return Err((names[*i].clone(), hint.into()));
            }
        }
        if n_in == 0 || n_out == 0 {
            return Err((
                "header".into(),
                format!("need at least one x and one y column; {hint}"),
            ));
        }
        let (inputs, targets) = rest.split_at(n_in);
        Ok(Layout {
            task,
            inputs: inputs.to_vec(),
            targets: targets.to_vec(),
        })
    }
}

/// Regression tasks from a CSV file `task_id, x1..xn, y1..ym` (header required; `.gz` or gzip
/// magic accepted; parsed by the `csv` crate, every value finite as f32). Task ids are split
/// into meta-train / meta-test by a seeded shuffle, or given explicitly (cross-validation folds).
/// The input standardisation and the target statistics are fitted on the meta-train tasks only.
#[derive(Clone, Debug)]
pub struct CsvTasks {
    pub path: PathBuf,
    /// SHA-256 of the file's bytes as stored (hex).
    pub sha256: String,
    n_in: usize,
    n_out: usize,
    /// The input columns' names, in the order the model takes them (the header's).
    pub input_names: Vec<String>,
    /// The target columns' names, in output order (the header's).
    pub target_names: Vec<String>,
    /// Every task, sorted by id.
    all: Vec<CsvTask>,
    train: Vec<usize>,
    test: Vec<usize>,
    pub train_ids: Vec<String>,
    pub test_ids: Vec<String>,
}

/// A CSV error that names the file, line and field.
pub use crate::csvio::CsvError;

impl CsvTasks {
    /// Load and split. `test_fraction` of the tasks (at least one) go to meta-test; every task
    /// must have at least `min_rows` rows.
    pub fn load(
        path: &Path,
        test_fraction: f64,
        split_seed: u64,
        min_rows: usize,
        columns: &Columns,
    ) -> Result<Self> {
        let mut t = Self::read(path, min_rows, columns)?;
        let test = t.split_ids(test_fraction, split_seed)?;
        t.set_test_ids(&test)?;
        Ok(t)
    }

    /// Every task of a file, not split yet (see [`CsvTasks::set_test_ids`]).
    pub fn read(path: &Path, min_rows: usize, columns: &Columns) -> Result<Self> {
        let (text, sha) = crate::csvio::read_text(path)?;
        let mut t = Self::parse_all(&text, &path.display().to_string(), min_rows, columns)?;
        t.path = path.to_path_buf();
        t.sha256 = sha;
        Ok(t)
    }

    pub fn parse(
        text: &str,
        file: &str,
        test_fraction: f64,
        split_seed: u64,
        min_rows: usize,
        columns: &Columns,
    ) -> Result<Self> {
        let mut t = Self::parse_all(text, file, min_rows, columns)?;
        let test = t.split_ids(test_fraction, split_seed)?;
        t.set_test_ids(&test)?;
        Ok(t)
    }

    /// Every task of the text, unsplit.
    pub fn parse_all(text: &str, file: &str, min_rows: usize, columns: &Columns) -> Result<Self> {
        let err = |line: usize, field: &str, msg: String| CsvError {
            file: file.to_string(),
            line,
            field: field.to_string(),
            msg,
        };
        let table = crate::csvio::records(text, file).map_err(|mut e| {
            // A record of the wrong width: name the header's column when there is one.
            let col = e
                .field
                .strip_prefix("column ")
                .and_then(|c| c.parse::<usize>().ok());
            let header = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'));
            if let (Some(c), Some(h)) = (col, header) {
                let sep = char::from(crate::csvio::delimiter(text));
                if let Some(name) = h.split(sep).nth(c.saturating_sub(1)) {
                    e.msg = format!("column {c}: {}", e.msg);
                    e.field = name.trim().to_string();
                }
            }
            e
        })?;
        let (file_columns, mut records) = (table.columns, table.rows.into_iter());
        let Some((hl, names)) = records.next() else {
            return Err(err(
                1,
                "header",
                "empty file: expected `task_id,x1..,y1..`".into(),
            )
            .into());
        };
        let Layout {
            task: task_col,
            inputs,
            targets,
        } = columns.of(&names).map_err(|(f, m)| err(hl, &f, m))?;
        let (n_in, n_out) = (inputs.len(), targets.len());
        let mut tasks: BTreeMap<String, CsvTask> = BTreeMap::new();
        for (line, cells) in records {
            let id = &cells[task_col];
            let t = tasks.entry(id.clone()).or_insert(CsvTask {
                id: id.clone(),
                x: vec![],
                y: vec![],
                line,
            });
            for (&i, to_x) in inputs
                .iter()
                .map(|i| (i, true))
                .chain(targets.iter().map(|i| (i, false)))
            {
                let v = crate::csvio::finite_f32(&cells[i]).map_err(|m| {
                    let c = &cells[i];
                    let hint = match (crate::csvio::is_missing(c), c.trim().parse::<f64>()) {
                        (true, _) => " (a missing value: fill it in or drop the row)".to_string(),
                        (false, Err(_)) if !m.contains("decimal comma") => format!(
                            " (a column that is neither an input nor a target: `ignore_columns = [{:?}]` in `[task]`)",
                            names[i]
                        ),
                        _ => String::new(),
                    };
                    err(
                        line,
                        &names[i],
                        format!("column {}: {m}{hint}", file_columns.number(i)),
                    )
                })?;
                if to_x {
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
                    &names[task_col],
                    format!("task {id:?} (first row on this line) has {rows} rows, needs at least {min_rows}"),
                )
                .into());
            }
        }
        if tasks.len() < 2 {
            return Err(err(
                hl,
                &names[task_col],
                format!(
                    "{} task(s): a split into meta-training and held-out tasks, and an evaluation's confidence interval over tasks, need at least 2",
                    tasks.len()
                ),
            )
            .into());
        }
        Ok(CsvTasks {
            path: PathBuf::from(file),
            sha256: String::new(),
            n_in,
            n_out,
            input_names: inputs.iter().map(|&i| names[i].clone()).collect(),
            target_names: targets.iter().map(|&i| names[i].clone()).collect(),
            all: tasks.into_values().collect(),
            train: vec![],
            test: vec![],
            train_ids: vec![],
            test_ids: vec![],
        })
    }

    /// Every task's inputs (row-major, its rows in file order), sorted by id.
    pub fn task_inputs(&self) -> Vec<&[f64]> {
        self.all.iter().map(|t| t.x.as_slice()).collect()
    }

    /// Every task id, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.all.iter().map(|t| t.id.clone()).collect()
    }

    /// The meta-test ids of the seeded split: `test_fraction` of the tasks, at least one, leaving
    /// at least one to train on.
    pub fn split_ids(&self, test_fraction: f64, split_seed: u64) -> Result<Vec<String>> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            bail!("test_fraction must be in (0, 1), got {test_fraction}");
        }
        let mut ids = self.ids();
        ids.shuffle(&mut ChaCha8Rng::seed_from_u64(split_seed));
        let n_test = ((ids.len() as f64 * test_fraction).round() as usize).clamp(1, ids.len() - 1);
        Ok(ids[..n_test].to_vec())
    }

    /// `folds` disjoint sets of task ids covering every task (a seeded shuffle dealt round-robin;
    /// `folds` = the number of tasks is leave-one-task-out).
    pub fn fold_ids(&self, folds: usize, split_seed: u64) -> Result<Vec<Vec<String>>> {
        let n = self.all.len();
        if !(2..=n).contains(&folds) {
            bail!("--folds must be in 2..={n} (the data set's tasks), got {folds}");
        }
        let mut ids = self.ids();
        ids.shuffle(&mut ChaCha8Rng::seed_from_u64(split_seed));
        let mut out = vec![Vec::new(); folds];
        for (i, id) in ids.into_iter().enumerate() {
            out[i % folds].push(id);
        }
        for f in &mut out {
            f.sort();
        }
        Ok(out)
    }

    /// Meta-test = exactly `test` (known ids, at least one task left to train on); meta-train =
    /// the rest.
    pub fn set_test_ids(&mut self, test: &[String]) -> Result<()> {
        let (mut tr, mut te) = (vec![], vec![]);
        for (i, t) in self.all.iter().enumerate() {
            if test.contains(&t.id) {
                te.push(i)
            } else {
                tr.push(i)
            }
        }
        if let Some(u) = test
            .iter()
            .find(|id| !self.all.iter().any(|t| &t.id == *id))
        {
            bail!("{}: no task {u:?}", self.path.display());
        }
        if te.is_empty() || tr.is_empty() {
            bail!("the split needs at least one meta-train and one meta-test task");
        }
        // Ids in the split's order (the seeded shuffle's, or as given).
        self.test_ids = test.to_vec();
        self.train_ids = tr.iter().map(|&i| self.all[i].id.clone()).collect();
        self.train = tr;
        self.test = te;
        Ok(())
    }

    /// Every task held out (none meta-trains): a file of tasks all new to a model, which
    /// [`NewTasks`] evaluates with that model's training statistics.
    pub fn all_held_out(mut self) -> Self {
        self.test = (0..self.all.len()).collect();
        self.test_ids = self.all.iter().map(|t| t.id.clone()).collect();
        self.train.clear();
        self.train_ids.clear();
        self
    }

    /// Keeps the input columns `order` (indices into [`CsvTasks::input_names`]), in that order:
    /// a file read by name as a model takes its inputs ([`crate::input_columns`]).
    pub fn select_inputs(&mut self, order: &[usize]) {
        let n = self.n_in;
        for t in &mut self.all {
            t.x =
                t.x.chunks_exact(n)
                    .flat_map(|row| order.iter().map(|&c| row[c]))
                    .collect();
        }
        self.input_names = order.iter().map(|&c| self.input_names[c].clone()).collect();
        self.n_in = order.len();
    }

    /// The meta-training tasks with fewer than `rows` rows, as `id (rows)`.
    pub fn rows_below(&self, rows: usize) -> Vec<String> {
        self.train
            .iter()
            .map(|&i| &self.all[i])
            .filter(|t| t.x.len() / self.n_in < rows)
            .map(|t| format!("{:?} ({} rows)", t.id, t.x.len() / self.n_in))
            .collect()
    }

    /// Support and query are disjoint rows of task `t`; with too few rows the support keeps at
    /// least one row back for the query.
    fn draw(&self, t: &CsvTask, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task {
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

    /// Per-column mean and standard deviation of `col(task)` over the meta-train tasks' rows
    /// (a constant column gets scale 1).
    fn train_stats(&self, width: usize, col: impl Fn(&CsvTask) -> &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut mean = vec![0.0; width];
        let mut sd = vec![1.0; width];
        for j in 0..width {
            let vals: Vec<f64> = self
                .train
                .iter()
                .flat_map(|&i| col(&self.all[i]).iter().skip(j).step_by(width).copied())
                .collect();
            let c = vals.len().max(1) as f64;
            let m = vals.iter().sum::<f64>() / c;
            let var = vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / c;
            mean[j] = m;
            sd[j] = if var > 1e-12 { var.sqrt() } else { 1.0 };
        }
        (mean, sd)
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
    fn sample(&self, split: Split, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task {
        let set = match split {
            Split::MetaTrain => &self.train,
            Split::MetaTest => &self.test,
        };
        let t = &self.all[set[rng.random_range(0..set.len())]];
        self.draw(t, k, q, rng)
    }
    fn held_out(&self) -> Option<Vec<(String, usize)>> {
        Some(
            self.test
                .iter()
                .map(|&i| (self.all[i].id.clone(), self.all[i].x.len() / self.n_in))
                .collect(),
        )
    }
    fn sample_held_out(&self, index: usize, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task {
        self.draw(&self.all[self.test[index]], k, q, rng)
    }
    /// Standardisation fitted on the meta-train tasks' rows: x' = (x - mean) / sd.
    fn normalisation(&self) -> (Vec<f64>, Vec<f64>) {
        let (mean, sd) = self.train_stats(self.n_in, |t| &t.x);
        (mean, sd.iter().map(|s| 1.0 / s).collect())
    }
    fn target_mean(&self) -> Vec<f64> {
        self.train_stats(self.n_out, |t| &t.y).0
    }
    /// Every row of the meta-training tasks.
    fn train_inputs(&self) -> Vec<f64> {
        let rows = self.train.iter().flat_map(|&i| &self.all[i].x);
        rows.copied().collect()
    }
    fn target_names(&self) -> Vec<String> {
        self.target_names.clone()
    }
    fn target_normalisation(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        Some(self.train_stats(self.n_out, |t| &t.y))
    }
}

/// Tasks that are all new to a model (another file than its training data), evaluated with the
/// statistics of the tasks it was meta-trained on: the population-mean baseline predicts their
/// targets' mean, and the per-task line standardises inputs as the model does. Every task is
/// held out ([`CsvTasks::all_held_out`]).
pub struct NewTasks {
    pub tasks: CsvTasks,
    /// The meta-training targets' mean per output.
    pub target_mean: Vec<f64>,
    /// The model's input normalisation `x' = (x - shift) * scale`.
    pub shift: Vec<f64>,
    pub scale: Vec<f64>,
}

impl TaskSource for NewTasks {
    fn name(&self) -> String {
        self.tasks.name()
    }
    fn n_in(&self) -> usize {
        self.tasks.n_in
    }
    fn n_out(&self) -> usize {
        self.tasks.n_out
    }
    fn sample(&self, _split: Split, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task {
        self.tasks.sample(Split::MetaTest, k, q, rng)
    }
    fn held_out(&self) -> Option<Vec<(String, usize)>> {
        self.tasks.held_out()
    }
    fn sample_held_out(&self, index: usize, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task {
        self.tasks.sample_held_out(index, k, q, rng)
    }
    fn normalisation(&self) -> (Vec<f64>, Vec<f64>) {
        (self.shift.clone(), self.scale.clone())
    }
    fn target_mean(&self) -> Vec<f64> {
        self.target_mean.clone()
    }
    fn target_names(&self) -> Vec<String> {
        self.tasks.target_names()
    }
}

/// A task source whose targets are standardised, `(y - shift) / scale` per output: what the
/// trainer fits when the model's regression head carries that output normalisation (the device
/// then takes and returns raw units).
pub struct StandardisedTargets<S> {
    /// The source (a reference or a box).
    pub inner: S,
    pub shift: Vec<f64>,
    pub scale: Vec<f64>,
}

impl<S> StandardisedTargets<S> {
    fn apply(&self, y: &mut [f64]) {
        let m = self.shift.len().max(1);
        for (i, v) in y.iter_mut().enumerate() {
            *v = (*v - self.shift[i % m]) / self.scale[i % m];
        }
    }
}

impl<S> TaskSource for StandardisedTargets<S>
where
    S: std::ops::Deref + Send + Sync,
    S::Target: TaskSource,
{
    fn name(&self) -> String {
        self.inner.name()
    }
    fn n_in(&self) -> usize {
        self.inner.n_in()
    }
    fn n_out(&self) -> usize {
        self.inner.n_out()
    }
    fn sample(&self, split: Split, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task {
        let mut t = self.inner.sample(split, k, q, rng);
        self.apply(&mut t.support_y);
        self.apply(&mut t.query_y);
        t
    }
    fn normalisation(&self) -> (Vec<f64>, Vec<f64>) {
        self.inner.normalisation()
    }
    fn train_inputs(&self) -> Vec<f64> {
        self.inner.train_inputs()
    }
    fn target_names(&self) -> Vec<String> {
        self.inner.target_names()
    }
    fn held_out(&self) -> Option<Vec<(String, usize)>> {
        self.inner.held_out()
    }
    fn sample_held_out(&self, index: usize, k: usize, q: usize, rng: &mut ChaCha8Rng) -> Task {
        let mut t = self.inner.sample_held_out(index, k, q, rng);
        self.apply(&mut t.support_y);
        self.apply(&mut t.query_y);
        t
    }
}
