//! `trainer train`: the regression meta-trainer, classification runs and multi-task `[[head]]` configurations, each with its
//! checkpoints, export, evaluation and plots.

use super::threads;
use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use trainer::classify::run;
use trainer::config::Config;
use trainer::engine::checkpoint::differences;
use trainer::engine::{train_checkpointed, RunFlags, RunSettings};
use trainer::presets::{self, RunConfig};
use trainer::tasks::CsvTasks;
use trainer::train::State;
use trainer::{eval, export, plots, regression};

/// `trainer train`: meta-train, export the model, evaluate it as deployed, write plots.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// A shipped configuration: reads trainer/configs/NAME.toml (sinusoid, digits, plaid, ...);
    /// with --config, that file's keys override the preset's.
    #[arg(long)]
    pub preset: Option<String>,
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Model file to write [default: models/<preset or config name>.postcard].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of the whole run (overrides the configuration).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Meta-iterations (overrides the configuration).
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Continue from the checkpoint beside the model (<out>.ckpt), as any kind of run (regression,
    /// classification, multi-task) writes it; only --iterations and --checkpoint-every may differ from
    /// the run that wrote it.
    #[arg(long)]
    pub resume: bool,
    /// Write a checkpoint every N iterations (overrides the configuration's `checkpoint_every`;
    /// 0 = only when stopped and at the end).
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Stop after N iterations with a checkpoint and exit 130, exactly as Ctrl-C would (for tests
    /// and time-sliced runs; continue with --resume).
    #[arg(long)]
    pub stop_after: Option<u64>,
    /// Skip the evaluation and the plots after training.
    #[arg(long)]
    pub no_eval: bool,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// The data file (overrides the configuration's `data`, or a CSV task source's `path`;
    /// relative to the working directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

pub fn run(args: TrainArgs) -> Result<ExitCode> {
    let TrainArgs {
        preset,
        config,
        out,
        seed,
        iterations,
        resume,
        checkpoint_every,
        stop_after,
        no_eval,
        threads: nt,
        data,
    } = args;
    threads(nt)?;
    let flags = RunFlags {
        iterations,
        seed,
        resume,
        checkpoint_every,
        stop_after,
        no_eval,
    };
    if flags.iterations == Some(0) {
        bail!("--iterations must be >= 1");
    }
    let (run_config, name) = presets::load(preset.as_deref(), config.as_deref())?;
    let out = out.unwrap_or_else(|| PathBuf::from(format!("models/{name}.postcard")));
    // Each kind of run checkpoints alike: <out>.ckpt every `checkpoint_every` iterations and
    // when stopped; Ctrl-C or --stop-after exits 130, and --resume continues bit for bit.
    let done = match run_config {
        RunConfig::Classification(cfg) => {
            let mut cfg = *cfg;
            if let Some(d) = &data {
                cfg.set_data(d)?;
            }
            flags.apply(
                &mut cfg.iterations,
                &mut cfg.seed,
                &mut cfg.checkpoint_every,
            );
            cfg.validate()
                .map_err(|(key, msg)| anyhow!("{key} (from the command line): {msg}"))?;
            let (stop, _) = stop_on_ctrl_c()?;
            run::train_and_export(&cfg, &name, &out, &flags, &stop)?.is_some()
        }
        RunConfig::Multitask(c) => {
            let (stop, _) = stop_on_ctrl_c()?;
            trainer::multitask::train_and_export(&c, &out, &flags, &stop)?.is_some()
        }
        RunConfig::Regression(cfg) => regression_run(*cfg, &name, &out, &flags, data.as_deref())?,
    };
    Ok(match done {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(130),
    })
}

/// A regression run: meta-train (from its checkpoint with --resume), export, write the run
/// record of a CSV source, evaluate and plot; false when stopped before the end.
fn regression_run(
    mut cfg: Config,
    name: &str,
    out: &Path,
    flags: &RunFlags,
    data: Option<&Path>,
) -> Result<bool> {
    if let Some(d) = data {
        if cfg.task.kind != "csv" {
            bail!(
                "--data needs a csv task source (this configuration's task kind is {:?})",
                cfg.task.kind
            );
        }
        cfg.task.path = Some(d.display().to_string());
    }
    let t = &mut cfg.train;
    flags.apply(&mut t.iterations, &mut t.seed, &mut t.checkpoint_every);
    let csv = cfg.csv()?;
    let source: Box<dyn trainer::tasks::TaskSource> = match &csv {
        Some(t) => Box::new(t.clone()),
        None => cfg.source()?,
    };
    let fresh = regression::fresh_state(&cfg, source.as_ref())?;
    if let Some(t) = &csv {
        describe_split(t, &fresh, cfg.train.shots_max);
        if !flags.no_eval {
            check_eval_shots(t, &cfg.eval.shots)?;
        }
    }
    let (stop, trained) = stop_on_ctrl_c()?;
    let t0 = std::time::Instant::now();
    let resumed = |ckpt: &Path| {
        let mut s = State::load(ckpt)?;
        // Everything but the length of the run and the checkpoint period must be as the
        // checkpoint was made.
        let named = |s: &State| serde_json::json!({"arch": &s.arch, "spec": &s.spec, "targets": &s.targets});
        let mut differ = differences(&named(&s), &named(&fresh));
        if let Err(d) = s.settings.resume_as(&cfg.train) {
            differ.push(d);
        }
        if !differ.is_empty() {
            bail!(
                "{}: checkpoint was made with a different model, meta or train configuration: {}{}",
                ckpt.display(),
                differ.join("; "),
                trainer::engine::checkpoint::OTHER_VERSION
            );
        }
        Ok(s)
    };
    let Some(state) = train_checkpointed(
        out,
        flags,
        &stop,
        resumed,
        || Ok(fresh.clone()),
        |s, ckpts| regression::train_on(source.as_ref(), s, ckpts, true),
    )?
    else {
        return Ok(false);
    };
    trained.store(true, Ordering::SeqCst);
    let secs = t0.elapsed().as_secs_f64();
    let def = regression::model_def(name, &cfg, &state)?;
    let bytes = export::write(out, &def)?;
    eprintln!(
        "trained {} iterations in {secs:.1} s; wrote {} ({bytes} bytes)",
        state.iter,
        out.display()
    );
    if let Some(t) = &csv {
        let p = regression::Record::new(out, &cfg, t, &state)?.write(out)?;
        eprintln!("run record: {}", p.display());
    }
    if !flags.no_eval {
        evaluate_regression(out, &cfg, &state, source.as_ref())?;
    }
    Ok(true)
}

/// The exported regression model evaluated as deployed beside the baselines (printed and
/// written to `<out>.eval.json`), and its plots.
fn evaluate_regression(
    out: &Path,
    cfg: &Config,
    state: &State,
    source: &dyn trainer::tasks::TaskSource,
) -> Result<()> {
    let blob = export::read(out)?;
    let e = &cfg.eval;
    let mut report = eval::evaluate(&blob, source, &e.shots, &e.steps, e.tasks, e.query, e.seed)?;
    println!("query MSE after adaptation, as deployed, and baselines on the same draws:");
    print!("{}", eval::describe(&report));
    print!("{}", eval::table(&report.results));
    for r in &mut report.results {
        r.per_task.clear();
    }
    std::fs::write(
        out.with_extension("eval.json"),
        serde_json::to_string_pretty(&report.results)?,
    )?;
    for p in plots::write_all(out, state, &blob, source, e)? {
        eprintln!("plot: {}", p.display());
    }
    Ok(())
}

/// Prints the split of a CSV run (the held-out task ids) and its normalisations; warns when the
/// largest K of training leaves some meta-training task no query row.
fn describe_split(t: &CsvTasks, s: &State, shots_max: usize) {
    eprintln!(
        "{}: {} meta-training tasks, {} held-out tasks {:?}",
        t.path.display(),
        t.train_ids.len(),
        t.test_ids.len(),
        t.test_ids
    );
    if t.train_ids.len() < 4 {
        eprintln!(
            "warning: {} meta-training task(s): what the model meta-learns is their common shape, which a few tasks hardly show; lower test_fraction, or bring more tasks (subjects, units)",
            t.train_ids.len()
        );
    }
    eprintln!(
        "{}",
        trainer::csvio::describe_inputs(&t.path.display().to_string(), &t.input_names)
    );
    let inputs = t.task_inputs();
    for w in trainer::column_checks::input_warnings(&t.input_names, &inputs, true, "task_column") {
        eprintln!("{w}");
    }
    // Five significant digits below 0.1: a timestamp's scale (1e-8) must not print as 0.
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|&x| match x.abs() {
                a if a != 0.0 && !(0.1..1e6).contains(&a) => format!("{x:.4e}"),
                _ => format!("{x:.4}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "input standardisation (meta-training tasks): shift [{}], scale [{}]",
        fmt(&s.arch.shift),
        fmt(&s.arch.scale)
    );
    match &s.targets {
        Some((shift, scale)) => eprintln!(
            "targets standardised (meta-training tasks): mean [{}], sd [{}]; the device takes and returns raw units",
            fmt(shift),
            fmt(scale)
        ),
        None => eprintln!("targets in raw units (standardise_targets = false)"),
    }
    let short = t.rows_below(shots_max + 1);
    if !short.is_empty() {
        eprintln!(
            "warning: shots_max = {shots_max} but {} meta-training task(s) have fewer than {} rows ({}): their support sets are capped at rows - 1",
            short.len(),
            shots_max + 1,
            short.join(", ")
        );
    }
}

/// Refuses, before any training, `[eval] shots` that no held-out task can serve (K support rows
/// and at least one query row), notes the tasks each K leaves out, and notes when too few tasks
/// are held out for an interval.
fn check_eval_shots(t: &CsvTasks, shots: &[usize]) -> Result<()> {
    let held = trainer::tasks::TaskSource::held_out(t).unwrap_or_default();
    let k = shots.iter().copied().max().unwrap_or(0);
    if held.iter().all(|(_, rows)| *rows <= k) {
        if let Err(e) = trainer::eval::check_rows(k, &held, "held-out tasks") {
            bail!("`[eval] shots`: {e}: lower `[eval] shots`, or hold out other tasks (`test_fraction`, `split_seed`)");
        }
    }
    for &k in shots {
        let short = held.iter().filter(|(_, rows)| *rows <= k).count();
        if short > 0 {
            eprintln!(
                "note: `[eval] shots` K = {k}: {short} of {} held-out tasks have {k} rows or fewer (K support and a query need {}): K = {k} is scored on the other {}",
                held.len(),
                k + 1,
                held.len() - short
            );
        }
    }
    if held.len() < 5 {
        eprintln!(
            "note: {} held-out task(s): the evaluation's interval over tasks is {}; with few tasks, `trainer cv --config FILE --folds N` scores every task with a model that never saw it",
            held.len(),
            if held.len() < 2 { "undefined" } else { "wide" }
        );
    }
    Ok(())
}

/// The stop flag of a training run: the first Ctrl-C raises it (the loop then checkpoints and
/// stops); a second one, or one once `done` is raised (training over: eval, plots), exits at
/// once with 130. Returns (stop, done).
fn stop_on_ctrl_c() -> Result<(Arc<AtomicBool>, Arc<AtomicBool>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (flag, after) = (stop.clone(), done.clone());
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) || after.load(Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .map_err(|e| anyhow!("Ctrl-C handler: {e}"))?;
    Ok((stop, done))
}
