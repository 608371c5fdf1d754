//! `trainer eval` (a model as deployed, beside the baselines on the same draws: held-out tasks
//! of a regression run, novel classes of a classification run, or a data file of your own) and
//! `trainer cv` (cross-validation of a regression configuration over task ids).

use super::threads;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use trainer::classify::config::ClsConfig;
use trainer::classify::record::RunRecord;
use trainer::classify::run;
use trainer::classify::unknown::UnknownSpec;
use trainer::presets::RunConfig;
use trainer::tasks::{CsvTasks, Sinusoid, TaskSource};
use trainer::{eval, export, regression};

/// `trainer eval`'s options.
#[derive(Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub model: PathBuf,
    /// The run's configuration file (instead of the model's run record).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Regression: `sinusoid` or `csv:PATH`.
    #[arg(long)]
    pub task: Option<String>,
    /// CSV tasks: the meta-test fraction and split seed [default: the run record's; without
    /// one 0.2 and 0]. A split that is not the recorded one is refused.
    #[arg(long)]
    pub test_fraction: Option<f64>,
    #[arg(long)]
    pub split_seed: Option<u64>,
    /// Support-set sizes [regression: the run's `[eval] shots` (its record or --config), else
    /// 5,10,20; classification: 1,5 per class].
    #[arg(long, value_delimiter = ',')]
    pub shots: Option<Vec<usize>>,
    /// Device inner steps [regression: the run's `[eval] steps`, else 1,10; classification: 0
    /// and the model's default].
    #[arg(long, value_delimiter = ',')]
    pub steps: Option<Vec<usize>>,
    /// Regression: units to evaluate [default: the run's `[eval] tasks`, else 600]. Distinct
    /// held-out CSV tasks: this many
    /// (or all of them, each drawn ceil(tasks / held-out tasks) times, averaged per task: the
    /// CI is over the distinct tasks).
    #[arg(long)]
    pub tasks: Option<usize>,
    /// Query points per task [default: the run's `[eval] query`, else 100], or per class
    /// [default: 15].
    #[arg(long)]
    pub query: Option<usize>,
    /// Classification: ways of each episode [default: the model's head; another N resizes
    /// the prototype head, whose weights the device sets from the support set].
    #[arg(long)]
    pub ways: Option<usize>,
    /// Classification: a number of seeded episodes per shot count, or a FILE listing
    /// episodes (comma-separated 0-based data rows: N*K support then N*Q query rows,
    /// class-major; `#` comments).
    /// [default: 2000]
    #[arg(long)]
    pub episodes: Option<String>,
    /// Classification: the data file [default: the one the model was trained on]; its
    /// SHA-256 must be the recorded one, or it is another voice split of the same
    /// `trainer features` recording (same manifest, front-end and labels). Without a run
    /// record or --config: every class of this file is new to the model. Regression (CSV
    /// tasks, with the run record): every task of this file, all new to the model.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Classification, --data without a run record or --config: the data's label column
    /// (default: the column named `label`, else the last), as a run's `label_column`.
    #[arg(long)]
    pub label_column: Option<String>,
    /// Classification, --data without a run record or --config: header columns read as
    /// nothing (ids, timestamps), comma-separated, as a run's `ignore_columns`.
    #[arg(long, value_delimiter = ',')]
    pub ignore_columns: Vec<String>,
    /// Classification, --data without a run record or --config (or with --new-classes): the
    /// column naming each row's subject (a patient, a device), as a run's `subject_column`:
    /// episodes are also drawn within one subject, the subject as a unit [default with
    /// --new-classes: the run record's, when the file has that column].
    #[arg(long)]
    pub subject_column: Option<String>,
    /// Classification, with --data: every class of the file is new to the model (classes it
    /// meets after deployment), even when its run record lies beside it: the record is not read
    /// (its split and normalisation describe the run's own data).
    #[arg(long)]
    pub new_classes: bool,
    /// A multi-task model (with its run record): the head scored, by name or number
    /// [default: every head, each on its held-out data]; with --data, the head the file is
    /// for (a regression head's new tasks, a fixed head's rows, an adaptable classification
    /// head's new classes).
    #[arg(long)]
    pub head: Option<String>,
    /// [default: 20260101; classification: 20260105; a multi-task model: its run's seed]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// With --json: every episode's accuracy (classification), every held-out task's mean
    /// query MSE (regression), for paired comparisons.
    #[arg(long, requires = "json")]
    pub per_task: bool,
    /// Classification: also U unknown queries per episode (rows of the pool's classes
    /// outside the episode), and the "unknown input" decision: a query is accepted when the
    /// adapted head's highest class probability is at least a threshold chosen on episodes
    /// of the run's validation classes (with too few of them, also held-out rows of the
    /// trunk's classes; never the novel ones); prints the threshold, its false-reject and
    /// false-accept rates and the accuracy among accepted queries on the novel classes.
    #[arg(long, value_name = "U")]
    pub unknown_queries: Option<usize>,
    /// With --unknown-queries: how the threshold is chosen, `eer` (equal error rate),
    /// `fr=F` (the highest threshold that rejects at most the fraction F of known queries)
    /// or `fa=F` (the lowest that accepts at most the fraction F of unknown queries).
    #[arg(long, default_value = "eer", value_name = "RULE")]
    pub unknown_rule: String,
    /// With --unknown-queries: the score thresholded, `probability` (the adapted head's
    /// highest class probability), `distance` (minus the squared distance of the query's
    /// trunk features to the nearest support prototype), `relative` (that distance over
    /// the support's pooled within-class variance, `ClassScore::relative_distance`: a
    /// threshold that follows the conditions the device's samples were recorded in; 2 or
    /// more shots) or `cosine` (its cosine).
    #[arg(long, default_value = "probability", value_name = "SCORE")]
    pub unknown_score: String,
    /// With --unknown-queries: this threshold (as the table's `t` column prints it: minus
    /// the squared distance for `distance`, minus the relative distance for `relative`)
    /// instead of one chosen on validation classes,
    /// e.g. the one a device uses; no run record or config needed.
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub unknown_threshold: Option<f32>,
}

/// `trainer cv`'s options.
#[derive(Args)]
pub struct CvArgs {
    /// A regression configuration of CSV tasks, or a classification configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// Folds of the task ids (regression), or of the classes the configuration names
    /// (classification: at most classes / ways).
    #[arg(long)]
    pub folds: usize,
    /// Meta-iterations per fold (overrides the configuration).
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Classification: episodes per fold and shot count.
    #[arg(long, default_value_t = 2000)]
    pub episodes: usize,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// With --json: every task's mean query MSE (regression), every class's accuracy
    /// (classification).
    #[arg(long, requires = "json")]
    pub per_task: bool,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// `trainer eval`: a classification model on its run's novel classes (or a file of new
/// classes), else a regression model on held-out tasks.
pub fn run(a: EvalArgs) -> Result<ExitCode> {
    if a.new_classes && (a.data.is_none() || a.config.is_some() || a.task.is_some()) {
        bail!("--new-classes takes --data (the file of classes new to the model), without --config or --task");
    }
    if let Some(record) = trainer::multitask::record::Record::read(&a.model)? {
        // --data without --head: a model of one head is scored by it; of several, by the
        // classification path (its one classification head that adapts).
        if a.head.is_some() || a.data.is_none() || record.heads.len() == 1 {
            return multitask_model(a, record);
        }
    } else if a.head.is_some() {
        bail!(
            "--head scores one head of a multi-task model, with its run record beside it ({}: `train --config` of a multi-task configuration writes it)",
            trainer::record::path_of(&a.model).display()
        );
    }
    if a.task.is_some() && classifies(&a.model)? {
        bail!(
            "--task names regression tasks (sinusoid or csv:PATH), and {} is a classification model: it is evaluated from its run record (`eval --model MODEL`), its run's configuration (--config) or a file of your own classes (--data FILE; `--task digits` of earlier versions is the digits preset's record)",
            a.model.display()
        );
    }
    let reg_record = regression::Record::read(&a.model)?;
    let record = match reg_record {
        Some(_) => None,
        None if a.new_classes => None,
        None => RunRecord::read(&a.model)?,
    };
    let run_config = match &a.config {
        Some(c) => Some(trainer::presets::load(None, Some(c))?.0),
        None => None,
    };
    let (classification, run_config) = match run_config {
        Some(RunConfig::Classification(cfg)) => (Some(Some(*cfg)), None),
        None if record.is_some() && a.task.is_none() => (Some(None), None),
        // A user's own data for a classification model (every class new to it).
        None if a.data.is_some() && a.task.is_none() && classifies(&a.model)? => (Some(None), None),
        other => (None, other),
    };
    match classification {
        Some(cfg) => classification_model(a, cfg, record),
        // Without a record, --config, --task or --data, a classification model would be
        // taken for the sinusoid's regression model.
        None if run_config.is_none()
            && reg_record.is_none()
            && a.task.is_none()
            && classifies(&a.model)? =>
        {
            if let Some(heads) = several_heads(&a.model)? {
                bail!(
                    "{}: a model of {heads} without its run record ({}, which `train` writes beside a multi-task model): `eval --model` with the record scores every head on its held-out data (as `train`'s table, <out>.eval.json); without it, `eval --data FILE` scores its classification head that adapts on classes of FILE, each new to it",
                    a.model.display(),
                    trainer::record::path_of(&a.model).display()
                )
            }
            bail!(
                "{}: a classification model without its run record ({}): give --config (the run's configuration: its classes and split) or --data FILE (your own classes, each new to the model)",
                a.model.display(),
                trainer::record::path_of(&a.model).display()
            )
        }
        None => regression_model(a, run_config, reg_record),
    }
}

/// `trainer eval` of a multi-task model with its run record: every head (or `--head`) on its
/// held-out data as `train` scored it, or `--head` on `--data`, a file the model never saw.
fn multitask_model(a: EvalArgs, record: trainer::multitask::record::Record) -> Result<ExitCode> {
    refuse_given(
        &[
            ("--config", a.config.is_some()),
            ("--task", a.task.is_some()),
            ("--test-fraction", a.test_fraction.is_some()),
            ("--split-seed", a.split_seed.is_some()),
        ]
        .into_iter()
        .chain(classification_flags(&a))
        .collect::<Vec<_>>(),
        "single-head models; a multi-task model's heads are read with their run's columns and split (--head, --data, --shots, --steps, --tasks, --query)",
    )?;
    let mut record = record;
    let chosen = match a.head.as_deref() {
        Some(h) => Some(record.head_index(h)?),
        None => (a.data.is_some() && record.heads.len() == 1).then_some(0),
    };
    // An adaptable head of CSV tasks: the regression evaluator, as for a model of one head
    // (the same draws for the same seed, several K, paired differences, --per-task).
    if let Some(i) = chosen.filter(|&i| {
        let h = &record.config.heads[i];
        h.adaptable && h.source() == trainer::multitask::config::HeadSource::CsvTasks
    }) {
        return multitask_regression(&a, &record, i);
    }
    if a.per_task {
        bail!(
            "--per-task is for a regression head of CSV tasks (--head NAME) and single-head models"
        );
    }
    if let Some(seed) = a.seed {
        record.config.seed = seed;
    }
    let mut heads = record.heads()?;
    for (i, h) in heads.iter_mut().enumerate() {
        if chosen.is_some_and(|c| c != i) {
            continue;
        }
        match a.shots.as_deref() {
            Some([k]) if *k >= 1 => h.cfg.shots = *k,
            Some(_) => bail!("--shots: one K at a time for a multi-task model's heads (>= 1)"),
            None => {}
        }
        match a.query {
            Some(0) => bail!("--query must be >= 1"),
            Some(q) => h.cfg.query = q,
            None => {}
        }
    }
    let tasks = match a.tasks {
        Some(0) => bail!("--tasks must be >= 1"),
        Some(t) => t,
        None => trainer::multitask::DEPLOYED_TASKS,
    };
    let plan = trainer::multitask::deployed::Plan {
        tasks,
        steps: a.steps.clone(),
        new_data: a.data.is_some(),
    };
    let scored = match (&a.data, chosen) {
        (Some(data), Some(i)) => vec![record.on_new_data(&mut heads, i, data)?],
        (Some(_), None) => {
            bail!("--data of a multi-task model takes --head: the head the file is for")
        }
        (None, Some(i)) => vec![trainer::multitask::deployed::Scored::new(i, &heads[i])],
        (None, None) => (heads.iter().enumerate())
            .map(|(i, h)| trainer::multitask::deployed::Scored::new(i, h))
            .collect(),
    };
    let blob = export::read(&a.model)?;
    let rows = trainer::multitask::deployed::evaluate_heads(&blob, &scored, &record.config, &plan)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        match &a.data {
            Some(d) => println!(
                "head {:?} on {} (data the model never saw; the population mean and a fixed head's class means are its training data's):",
                scored.first().map_or("", |s| s.head.cfg.name.as_str()),
                d.display()
            ),
            None => println!("every head on its held-out data (the run's split, {}):", trainer::record::path_of(&a.model).display()),
        }
        trainer::multitask::print_deployed(&rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// `trainer eval --head H` of a multi-task model's adaptable `csv_tasks` head `i`: its run's
/// held-out tasks (or those of --data) through the regression evaluator.
fn multitask_regression(
    a: &EvalArgs,
    record: &trainer::multitask::record::Record,
    i: usize,
) -> Result<ExitCode> {
    let h = &record.config.heads[i];
    let source = record.raw_tasks(i, a.data.as_deref())?;
    let defaults = trainer::config::EvalConfig::default();
    let shots = a.shots.clone().unwrap_or_else(|| vec![h.shots]);
    let steps = a.steps.clone().unwrap_or_else(|| vec![h.steps]);
    let (tasks, query) = (
        a.tasks.unwrap_or(defaults.tasks),
        a.query.unwrap_or(h.query),
    );
    let seed = a.seed.unwrap_or(defaults.seed);
    if shots.is_empty() || shots.contains(&0) || tasks == 0 || query == 0 {
        bail!("--shots must be >= 1 each; --tasks and --query >= 1");
    }
    match &a.data {
        Some(d) => eprintln!(
            "head {:?} on {}: {} tasks, all new to the model; the population mean and the line use the head's training statistics",
            h.name,
            d.display(),
            source.held_out().map_or(0, |t| t.len())
        ),
        None => eprintln!(
            "head {:?}: its run's held-out tasks (the split in {})",
            h.name,
            trainer::record::path_of(&a.model).display()
        ),
    }
    let blob = export::read(&a.model)?;
    let report = eval::evaluate_head(
        &blob,
        i,
        source.as_ref(),
        &shots,
        &steps,
        (tasks, query, seed),
    )?;
    print_report(
        report,
        a.json,
        a.per_task,
        serde_json::json!({ "model": a.model, "head": h.name, "task": source.name(), "seed": seed }),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `trainer eval` of a classification model (`cfg`: the run's, from --config; else its
/// record's, or every class of --data new to it): refuses the regression options.
fn classification_model(
    a: EvalArgs,
    cfg: Option<ClsConfig>,
    record: Option<RunRecord>,
) -> Result<ExitCode> {
    refuse_given(
        &[
            ("--tasks", a.tasks.is_some()),
            ("--test-fraction", a.test_fraction.is_some()),
            ("--split-seed", a.split_seed.is_some()),
        ],
        "regression models; a classification model takes --episodes and its run's split",
    )?;
    let unknown = match a.unknown_queries {
        None => None,
        Some(0) => bail!("--unknown-queries must be >= 1"),
        Some(queries) => Some(UnknownSpec {
            queries,
            rule: a.unknown_rule.parse()?,
            score: a.unknown_score.parse()?,
            threshold: a.unknown_threshold,
        }),
    };
    if a.unknown_threshold.is_some() && a.unknown_queries.is_none() {
        bail!("--unknown-threshold needs --unknown-queries");
    }
    let e = ClsEval {
        unknown,
        ways: a.ways,
        shots: a.shots,
        steps: a.steps,
        episodes: a.episodes.unwrap_or_else(|| "2000".into()),
        query: a.query,
        seed: a.seed,
        json: a.json,
        per_task: a.per_task,
    };
    // The columns of a data file the model has no record or configuration of.
    let columns = trainer::classify::data::Columns {
        label: a.label_column.as_deref(),
        ignore: &a.ignore_columns,
        subject: a.subject_column.as_deref(),
    };
    let columns_given =
        columns.label.is_some() || !columns.ignore.is_empty() || columns.subject.is_some();
    if columns_given && (cfg.is_some() || record.is_some() || a.data.is_none()) {
        bail!("--label-column, --ignore-columns and --subject-column describe a --data file the model has no run record or --config of; the run's configuration names its own columns");
    }
    eval_classification(&a.model, cfg, record, a.data, columns, e)
}

/// `trainer eval` of a regression model: on the tasks of --data (new to it), or the held-out
/// tasks of its run (`run_config`, --task or its record); refuses the classification options.
fn regression_model(
    a: EvalArgs,
    run_config: Option<RunConfig>,
    reg_record: Option<regression::Record>,
) -> Result<ExitCode> {
    refuse_given(
        &classification_flags(&a),
        "classification models; a regression model takes --tasks",
    )?;
    // The run's own evaluation settings (its configuration or record), so that `eval` of a
    // trained model measures what `train` printed; the sinusoid preset's without either.
    if let (Some(c), Some(_)) = (&a.config, &reg_record) {
        eprintln!(
            "note: the evaluation settings (`[eval]` shots, steps, tasks, query, seed) are {}'s, not those of the model's run record ({}): its model may have been trained with others",
            c.display(),
            trainer::record::path_of(&a.model).display()
        );
    }
    let run_eval = match (&run_config, &reg_record) {
        (Some(RunConfig::Regression(c)), _) => c.eval.clone(),
        (None, Some(r)) => r.config.eval.clone(),
        _ => trainer::config::EvalConfig::default(),
    };
    let tasks = a.tasks.unwrap_or(run_eval.tasks);
    let query = a.query.unwrap_or(run_eval.query);
    let seed = a.seed.unwrap_or(run_eval.seed);
    let shots = a.shots.unwrap_or(run_eval.shots);
    let steps = a.steps.unwrap_or(run_eval.steps);
    if shots.is_empty() || shots.contains(&0) || tasks == 0 || query == 0 {
        bail!("--shots must be >= 1 each; --tasks and --query >= 1");
    }
    // Without a record, --task, --config or --data the tasks are the sinusoid family's.
    let implicit_sinusoid =
        a.data.is_none() && a.task.is_none() && run_config.is_none() && reg_record.is_none();
    let (source, task) = match (&a.data, &reg_record) {
        (Some(d), Some(r)) if a.task.is_none() && run_config.is_none() => {
            let new = r.new_tasks(d)?;
            eprintln!(
                "{}: {} tasks, all new to the model (none of its meta-training tasks); the population mean and the line use the model's training statistics",
                d.display(),
                new.tasks.test_ids.len()
            );
            let name = new.name();
            (Box::new(new) as Box<dyn TaskSource>, name)
        }
        (Some(_), _) => bail!(
            "--data with a regression model takes tasks new to it, with the run record beside the model and without --task or --config"
        ),
        (None, _) => regression_source(
            run_config,
            a.task,
            a.test_fraction,
            a.split_seed,
            reg_record.as_ref(),
        )?,
    };
    let blob = export::read(&a.model)?;
    if implicit_sinusoid {
        let model = runtime::Model::from_bytes(&blob).map_err(|e| anyhow!("model: {e}"))?;
        if model.input_len() != source.n_in() && model.heads().len() > 1 {
            bail!(
                "{}: a model of {} heads, without its run record beside it: a multi-task model is evaluated by `eval` with the record `train` writes (<out>.run.json), or by `train`'s table (<out>.eval.json)",
                a.model.display(),
                model.heads().len()
            );
        }
        if model.input_len() != source.n_in() {
            bail!(
                "{}: no regression run record beside it ({}), and neither --task, --config nor --data: `eval` would take the sinusoid family ({} input), the model has {} inputs. Give --task csv:PATH or --config (the run's configuration); a multi-task model's table is `train`'s (<out>.eval.json)",
                a.model.display(),
                trainer::record::path_of(&a.model).display(),
                source.n_in(),
                model.input_len()
            );
        }
    }
    let report = eval::evaluate(&blob, source.as_ref(), &shots, &steps, tasks, query, seed)?;
    print_report(
        report,
        a.json,
        a.per_task,
        serde_json::json!({ "model": a.model, "task": task, "seed": seed }),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `trainer cv`: one model per fold, each evaluated as deployed on the fold's tasks or classes.
pub fn cv(a: CvArgs) -> Result<ExitCode> {
    let CvArgs {
        config,
        folds,
        iterations,
        episodes,
        json,
        per_task,
        threads: nt,
    } = a;
    threads(nt)?;
    if iterations == Some(0) {
        bail!("--iterations must be >= 1");
    }
    let mut cfg = match trainer::presets::load(None, Some(&config))?.0 {
        RunConfig::Regression(c) => *c,
        RunConfig::Classification(c) => {
            return classification_cv(*c, folds, iterations, episodes, json, per_task)
        }
        _ => bail!(
            "{}: cross-validation takes a regression or a classification configuration",
            config.display()
        ),
    };
    if let Some(i) = iterations {
        cfg.train.iterations = i;
    }
    let (report, fold_ids) = regression::cross_validate(&cfg, folds, !json)?;
    print_report(
        report,
        json,
        per_task,
        serde_json::json!({ "config": config, "folds": fold_ids }),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `trainer cv` of a classification configuration ([`trainer::classify::cv`]).
fn classification_cv(
    mut cfg: ClsConfig,
    folds: usize,
    iterations: Option<u64>,
    episodes: usize,
    json: bool,
    per_class: bool,
) -> Result<ExitCode> {
    if episodes == 0 {
        bail!("--episodes must be >= 1");
    }
    if let Some(i) = iterations {
        cfg.iterations = i;
    }
    let mut report = trainer::classify::cv::cross_validate(&cfg, folds, episodes)?;
    if json {
        if !per_class {
            for r in report
                .pooled
                .iter_mut()
                .chain(report.within_subject.iter_mut().flatten())
            {
                r.per_class.clear();
            }
        }
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", trainer::classify::cv::describe(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// The options only a classification evaluation takes, and whether each was given.
fn classification_flags(a: &EvalArgs) -> [(&'static str, bool); 7] {
    [
        ("--unknown-queries", a.unknown_queries.is_some()),
        ("--ways", a.ways.is_some()),
        ("--episodes", a.episodes.is_some()),
        ("--label-column", a.label_column.is_some()),
        ("--subject-column", a.subject_column.is_some()),
        ("--ignore-columns", !a.ignore_columns.is_empty()),
        ("--new-classes", a.new_classes),
    ]
}

/// Refuses the first flag of `flags` that was given (`(name, given)`): it is for `kind`.
fn refuse_given(flags: &[(&str, bool)], kind: &str) -> Result<()> {
    match flags.iter().find(|(_, given)| *given) {
        Some((flag, _)) => bail!("{flag} is for {kind}"),
        None => Ok(()),
    }
}

/// The tasks of a regression evaluation: from --config, --task, or the model's run record
/// (CSV tasks are checked against the record: the same data file and held-out tasks).
fn regression_source(
    run_config: Option<RunConfig>,
    task: Option<String>,
    test_fraction: Option<f64>,
    split_seed: Option<u64>,
    record: Option<&regression::Record>,
) -> Result<(Box<dyn TaskSource>, String)> {
    let csv = match (run_config, task) {
        (Some(RunConfig::Regression(cfg)), None) => match cfg.csv()? {
            Some(t) => t,
            None => return Ok((Box::new(Sinusoid), "sinusoid".into())),
        },
        (None, Some(t)) => match t.split_once(':') {
            None if t == "sinusoid" => return Ok((Box::new(Sinusoid), t)),
            Some(("csv", p)) => {
                let r = record.map(|r| &r.config.task);
                CsvTasks::load(
                    Path::new(p),
                    test_fraction.or(r.map(|t| t.test_fraction)).unwrap_or(0.2),
                    split_seed.or(r.map(|t| t.split_seed)).unwrap_or(0),
                    2,
                    &r.map(|t| t.columns()).unwrap_or_default(),
                )?
            }
            _ => bail!("unknown task {t:?} (sinusoid or csv:PATH)"),
        },
        (None, None) => match record {
            Some(r) => {
                if test_fraction.is_some() || split_seed.is_some() {
                    let mut c = r.config.clone();
                    c.task.test_fraction = test_fraction.unwrap_or(c.task.test_fraction);
                    c.task.split_seed = split_seed.unwrap_or(c.task.split_seed);
                    c.csv()?
                        .ok_or_else(|| anyhow!("run record without CSV tasks"))?
                } else {
                    r.tasks()?
                }
            }
            None => return Ok((Box::new(Sinusoid), "sinusoid".into())),
        },
        (Some(RunConfig::Multitask(_)), _) => bail!("multi-task models are evaluated by `train` (its table: <out>.eval.json beside the model)"),
        _ => bail!("give --task or --config, not both"),
    };
    match record {
        Some(r) => r.check(&csv)?,
        None => eprintln!(
            "warning: no run record beside the model: the split (held-out tasks {:?}) is not checked against the one it was trained with",
            csv.test_ids
        ),
    }
    let name = csv.name();
    Ok((Box::new(csv), name))
}

/// Prints a regression evaluation: the units and the table, or JSON (`head`'s keys, the query
/// size asked, the units and the rows; each held-out task's score with `per_task`).
fn print_report(
    mut report: eval::Report,
    json: bool,
    per_task: bool,
    head: serde_json::Value,
) -> Result<()> {
    if !per_task {
        for r in &mut report.results {
            r.per_task.clear();
        }
    }
    if json {
        let mut v = head;
        v["query"] = report.query.into();
        v["units"] = serde_json::to_value(&report.units)?;
        v["results"] = serde_json::to_value(&report.results)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", eval::describe(&report));
        print!("{}", eval::table(&report.results));
    }
    Ok(())
}

/// A warning when some of `setup`'s classes (a file whose every class is taken as new) are,
/// by name, classes the model's trunk trained on, as its run record beside it says (None
/// without a record, or when the run's data cannot be read to name its classes).
fn trained_on_note(model: &Path, setup: &run::Setup) -> Option<String> {
    let record = RunRecord::read(model).ok().flatten()?;
    let run = trainer::classify::data::Dataset::load_labelled(
        &record.config.data,
        record.config.columns(),
    )
    .ok()?;
    // Classes by name; numbered classes (no names) by their numbers.
    let here: Vec<usize> = setup.test.classes.iter().map(|c| c.class).collect();
    let seen = |of: &[usize]| -> Vec<usize> {
        match (run.class_names.is_empty(), setup.ds.class_names.is_empty()) {
            (true, true) => of.iter().copied().filter(|c| here.contains(c)).collect(),
            _ => of
                .iter()
                .filter_map(|&c| run.class_names.get(c))
                .filter_map(|name| setup.ds.class_names.iter().position(|n| n == name))
                .filter(|c| here.contains(c))
                .collect(),
        }
    };
    let trained = seen(&record.trunk_classes);
    let validated = seen(&record.val_classes);
    let mut parts = Vec::new();
    if !trained.is_empty() {
        parts.push(format!(
            "{} are classes the model's trunk trained on",
            setup.ds.describe_classes(&trained)
        ));
    }
    if !validated.is_empty() {
        parts.push(format!(
            "{} chose its stopping point and device settings (the run's validation classes)",
            setup.ds.describe_classes(&validated)
        ));
    }
    let mut lines = Vec::new();
    if !parts.is_empty() {
        lines.push(format!(
            "warning: in {}, classes {} (its run record, {}): their episodes overrate what it does on a new class; leave their rows out of the file to measure new classes only",
            setup.ds.file,
            parts.join("; classes "),
            trainer::record::path_of(model).display()
        ));
    }
    // Subjects whose rows trained the trunk and fitted the normalisation: every subject of the
    // run's file but its `test_subjects`.
    let trained: Vec<&String> = (setup.ds.subject_names.iter())
        .filter(|s| run.subject_names.contains(s) && !record.config.test_subjects.contains(s))
        .collect();
    if !trained.is_empty() {
        let shown: Vec<String> = trained.iter().take(8).map(|s| format!("{s:?}")).collect();
        let more = match trained.len() {
            n if n > 8 => format!(" and {} more", n - 8),
            _ => String::new(),
        };
        lines.push(format!(
            "warning: in {}, {} of its {} subjects ({}{more}) gave the model's run its training rows (all its subjects but `test_subjects`): their trunk and normalisation have seen them, so the within-subject table overrates a new subject's; keep the rows of new subjects (or the run's `test_subjects`) to measure those",
            setup.ds.file,
            trained.len(),
            setup.ds.subject_names.len(),
            shown.join(", ")
        ));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The heads of a model of several (`3 heads: 0 "a" (regression), ...`), None for one head.
fn several_heads(path: &Path) -> Result<Option<String>> {
    let blob = export::read(path)?;
    let m = runtime::Model::from_bytes(&blob).map_err(|e| anyhow!("model: {e}"))?;
    let heads = m.heads();
    Ok((heads.len() > 1).then(|| {
        let list: Vec<String> = (0..heads.len())
            .map(|h| format!("{h} {:?} ({})", heads[h].name, heads[h].kind))
            .collect();
        format!("{} heads: {}", heads.len(), list.join(", "))
    }))
}

/// Whether the model at `path` has a head the device adapts from a support set of classes.
fn classifies(path: &Path) -> Result<bool> {
    let blob = export::read(path)?;
    let m = runtime::Model::from_bytes(&blob).map_err(|e| anyhow!("model: {e}"))?;
    // Any head the device adapts from classes (which one: `classifying_head`, later).
    Ok((0..m.heads().len()).any(|h| trainer::classify::deploy::adapts_classes(&m, h)))
}

/// The options of a classification evaluation.
struct ClsEval {
    unknown: Option<UnknownSpec>,
    ways: Option<usize>,
    shots: Option<Vec<usize>>,
    steps: Option<Vec<usize>>,
    episodes: String,
    query: Option<usize>,
    seed: Option<u64>,
    json: bool,
    per_task: bool,
}

/// `trainer eval` of a classification model: the run's classes, split and normalisation (from
/// `config`, else the record), checked against the record when there is one.
fn eval_classification(
    model: &Path,
    config: Option<ClsConfig>,
    record: Option<RunRecord>,
    data: Option<PathBuf>,
    columns: trainer::classify::data::Columns,
    e: ClsEval,
) -> Result<ExitCode> {
    let mut cfg = match (config, &record, &data) {
        (Some(c), _, _) => c,
        (None, Some(r), _) => r.config.clone(),
        (None, None, Some(d)) => {
            // A record beside the model (--new-classes): its label column, unless given, when
            // the file has one of that name (its split and normalisation are not read).
            let recorded = trainer::record::csv_columns(model).unwrap_or_default().label;
            let recorded_subject = RunRecord::read(model)
                .ok()
                .flatten()
                .and_then(|r| r.config.subject_column);
            let header = trainer::csvio::file_header(d)?.unwrap_or_default();
            fn in_file<'c>(header: &[String], c: &'c Option<String>) -> Option<&'c str> {
                c.as_deref()
                    .filter(|c| trainer::csvio::column(header, c).is_some())
            }
            let label = columns.label.or(in_file(&header, &recorded));
            let subject = columns.subject.or(in_file(&header, &recorded_subject));
            let columns = trainer::classify::data::Columns {
                label,
                subject,
                ..columns
            };
            eprintln!(
                "{}: {} and no --config: every class of {} is new to the model (episodes of all its classes; nearest centroid standardised on all its rows){}",
                model.display(),
                match trainer::record::path_of(model).exists() {
                    true => "its run record's split and normalisation not read (--new-classes)",
                    false => "no run record beside it",
                },
                d.display(),
                match (label, &recorded) {
                    (Some(l), Some(r)) if l == r => format!("; labels from column {l:?}, the run's"),
                    _ => String::new(),
                } + &match subject {
                    Some(s) => format!("; subjects from column {s:?}"),
                    None => String::new(),
                }
            );
            if e.unknown.is_some_and(|u| u.threshold.is_none()) {
                bail!("--unknown-queries chooses its threshold on the model's validation classes: give the run's --config (or its record), or the threshold (--unknown-threshold)");
            }
            // The record's input columns, when there is one of these bytes: the data's are
            // matched to them by name (its split and normalisation are the run's data's).
            let inputs = trainer::record::input_names(model).ok().flatten();
            let heads = several_heads(model)?;
            let (cfg, setup) = match run::Setup::new_classes(d, columns, inputs.as_deref()) {
                Ok(v) => v,
                // A multi-task model's file of another head (a regression head's subjects)
                // is read as classes here: say which head `--data` is for.
                Err(e) => match &heads {
                    Some(heads) => return Err(e.context(format!(
                        "{}: read as labelled classes for the model's classification head that adapts ({heads}); a regression head's new subjects are not evaluated by `eval` for a multi-task model (`train`'s table scores it on its held-out tasks)",
                        d.display()
                    ))),
                    None => return Err(e),
                },
            };
            if let Some(note) = trained_on_note(model, &setup) {
                eprintln!("{note}");
            }
            return eval_with_setup(model, &cfg, &setup, None, e);
        }
        (None, None, None) => bail!(
            "{}: no run record beside the model; give --config (the run's classes), or --data alone (every class of that data new to the model)",
            model.display()
        ),
    };
    let from_record = record.is_some() && data.is_some();
    if let Some(d) = data {
        cfg.set_data(&d)?;
    }
    let other_split = match &record {
        Some(r) if cfg.data != r.config.data => r.other_split(&cfg.data)?,
        _ => None,
    };
    if let Some(split) = &other_split {
        eprintln!(
            "{}: the voice split `{split}` of the run's recording, with the run's classes and normalisation",
            cfg.data.display()
        );
        // Nothing trains on it: its classes need only the rows of the evaluation's episodes.
        cfg.shots = vec![1];
        cfg.query = 1;
    }
    let mut setup = run::Setup::for_purpose(&cfg, trainer::classify::setup::Purpose::Evaluate)
        .with_context(|| {
            if from_record {
                // `--data` of a model with its record takes the run's classes from that file.
                format!(
                    "{}: evaluated with the run's classes from the record beside {} (another split of the run's data); for a file of your own classes, each new to the model, add --new-classes",
                    cfg.data.display(),
                    model.display()
                )
            } else {
                format!("{}: the run's classes", cfg.data.display())
            }
        })?;
    if let Some(r) = &record {
        if other_split.is_some() {
            r.use_normalisation(&mut setup);
        }
        r.check(&cfg, &setup).map_err(|err| {
            if from_record && setup.ds.sha256 != r.data_sha256 {
                // Another file than the run's (new sessions, subjects or units): its class
                // indices and split are not the run's, so only new classes can be read from it.
                err.context("with a run record, --data is the run's file (or another voice split that `trainer features` made of its recording); for rows of another file (new sessions or units), keep the rows of classes the model did not train on (the record's test_classes) and add --new-classes")
            } else {
                err
            }
        })?;
    }
    eval_with_setup(model, &cfg, &setup, record.as_ref(), e)
}

/// `trainer eval` of a classification model on `setup`'s test classes.
fn eval_with_setup(
    model: &Path,
    cfg: &ClsConfig,
    setup: &run::Setup,
    record: Option<&RunRecord>,
    e: ClsEval,
) -> Result<ExitCode> {
    let blob = export::read(model)?;
    let m = runtime::Model::from_bytes(&blob).map_err(|e| anyhow!("model: {e}"))?;
    match (trainer::features::recorded(&cfg.data)?, m.front_end()) {
        (Some(rec), Some(fe)) if rec.front_end != fe => bail!(
            "{}: its features were made with another front-end than the model's ({}, the model's in brackets): remake them with `trainer features --front-end`",
            cfg.data.display(),
            trainer::features::differences(&rec.front_end, &fe)
        ),
        (None, Some(_)) => eprintln!(
            "warning: {}: no features record beside it ({}): nothing tells that its features were made with the model's front-end (`trainer features` writes it)",
            cfg.data.display(),
            trainer::features::recorded_path(&cfg.data).display()
        ),
        _ => {}
    }
    let head = trainer::classify::deploy::classifying_head(&m)?;
    if let Some(note) = trainer::classify::deploy::head_note(&m, head) {
        eprintln!("{note}");
    }
    let spec = m.adapt_spec(head).map_err(|e| anyhow!("model: {e}"))?;
    let classes = m
        .head(head)
        .map_err(|e| anyhow!("model: {e}"))?
        .kind
        .classes()
        .map_or(cfg.ways, usize::from);
    let ways = e.ways.unwrap_or(classes);
    let shots = e.shots.unwrap_or_else(|| vec![1, 5]);
    // 0 steps (the prototype start) and the model's default count, once each.
    let steps = e.steps.unwrap_or_else(|| {
        let mut s = vec![0, usize::from(spec.steps)];
        s.dedup();
        s
    });
    if shots.is_empty() || shots.contains(&0) || ways < 2 || e.query == Some(0) {
        bail!("--shots must be >= 1 each, --ways >= 2, --query >= 1");
    }
    let novel: Vec<usize> = setup.test.classes.iter().map(|c| c.class).collect();
    if ways > novel.len() && e.episodes.parse::<usize>().is_ok() {
        bail!(
            "--ways {ways}: an episode draws {ways} different classes, and the novel classes are {} ({}): --ways {} at most",
            novel.len(),
            setup.ds.describe_classes(&novel),
            novel.len()
        );
    }
    note_still_steps(&m, head, &steps)?;
    let seed = e.seed.unwrap_or(trainer::classify::EVAL_SEED);
    let query = match e.query {
        Some(q) => q,
        None => {
            let most = shots.iter().copied().max().unwrap_or(1);
            match run::default_query(setup, ways, most) {
                0 => bail!(
                    "no {ways}-way {most}-shot episode fits the novel classes: {ways} of them need {} rows each (the support and a query); {} have {:?} rows (fewer --ways, lower --shots, or leave the smallest classes out)",
                    most + 1,
                    setup.ds.describe_classes(&setup.test.classes.iter().map(|c| c.class).collect::<Vec<_>>()),
                    setup.test.classes.iter().map(|c| c.rows.len()).collect::<Vec<_>>()
                ),
                q => q,
            }
        }
    };
    let path;
    let spec = match e.episodes.parse::<usize>() {
        Ok(0) => bail!("--episodes must be >= 1"),
        Ok(n) => run::EpisodeSpec::Sampled {
            n,
            query,
            seed,
            unknown: e.unknown,
        },
        Err(_) => {
            if e.unknown.is_some() {
                bail!("--unknown-queries draws seeded episodes: give --episodes a number");
            }
            path = PathBuf::from(&e.episodes);
            run::EpisodeSpec::File(&path)
        }
    };
    let baselines = run::baselines(setup, record);
    let blob = trainer::classify::deploy::with_ways(&blob, ways)?;
    let mut report = run::eval_rows(&blob, setup, ways, &shots, &steps, &spec, &baselines)?;
    let within = match &spec {
        run::EpisodeSpec::Sampled { n, .. } => trainer::classify::subjects::report(
            &blob,
            setup,
            (ways, &shots, query),
            &steps,
            (*n, seed, e.per_task),
            &baselines,
        )?,
        run::EpisodeSpec::File(_) => None,
    };
    if !e.per_task {
        for r in &mut report.rows {
            r.per_episode.clear();
        }
    }
    let sampled = matches!(spec, run::EpisodeSpec::Sampled { .. });
    if e.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "model": model, "data": cfg.data, "data_sha256": setup.ds.sha256,
                "ways": ways, "train_classes": cfg.train_classes, "val_classes": setup.val_classes,
                "test_classes": cfg.test_classes, "class_names": setup.ds.class_names,
                // A file's episodes carry their own queries and draw nothing.
                "query": sampled.then_some(query), "seed": sampled.then_some(seed),
                // A count, or the episode file's path.
                "episodes": e.episodes.parse::<usize>().map_or_else(|_| serde_json::json!(e.episodes), |n| serde_json::json!(n)),
                "units": report.units, "results": report.rows,
                "unknown": report.unknown, "within_subject": within
            }))?
        );
    } else {
        print!("{}", run::describe(cfg, &setup.ds, &report));
        print!("{}", trainer::classify::deploy::table(&report.rows));
        let note = record.and_then(|r| r.untrained_trunk_note());
        print!("{}", note.unwrap_or_default());
        if steps.contains(&0) && !trainer::classify::deploy::starts_from_prototypes(&m, head) {
            let note = trainer::classify::deploy::chance_note(&format!("head {head}"));
            println!("{note}");
        }
        if let Some(within) = &within {
            print!(
                "{}",
                trainer::classify::subjects::table(&setup.ds, ways, &cfg.test_subjects, within)
            );
        }
        print!(
            "{}",
            trainer::classify::unknown::table(&report.unknown, &setup.ds)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A note when `steps` asks for steps of a head whose step size is 0: their rows repeat the
/// 0-step row.
fn note_still_steps(m: &runtime::Model<'_>, head: usize, steps: &[usize]) -> Result<()> {
    let def = runtime::writer::ModelDef::from_model(m).map_err(|e| anyhow!("model: {e}"))?;
    let still = def
        .heads
        .get(head)
        .and_then(|h| h.adapt.as_ref())
        .is_some_and(|a| trainer::export::still_rate(&a.rate));
    if still && steps.iter().any(|&s| s > 0) {
        eprintln!(
            "note: head {head}'s step size is 0 in this model (train chose no steps: they did not help on its validation episodes), so its rows with steps repeat the 0-step row"
        );
    }
    Ok(())
}
