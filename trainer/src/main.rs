//! `trainer`: meta-train, export, evaluate as deployed, inspect, benchmark, sign.

mod cli;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use cli::threads;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use trainer::classify::config::ClsConfig;
use trainer::classify::record::RunRecord;
use trainer::classify::run;
use trainer::classify::unknown::UnknownSpec;
use trainer::meta::Algorithm;
use trainer::presets::RunConfig;
use trainer::tasks::{CsvTasks, Sinusoid, TaskSource};
use trainer::{bench, eval, export, inspect, regression};

#[derive(Parser)]
#[command(
    name = "trainer",
    version,
    about = "Meta-train compact models for few-shot adaptation on microcontrollers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Meta-train, export the model, evaluate it as deployed, write plots.
    ///
    /// Every kind of run (regression, classification, multi-task) keeps its checkpoint beside the model
    /// (<out>.ckpt): every `checkpoint_every` iterations, at the end, and on Ctrl-C or
    /// --stop-after, which then exit 130; --resume continues to the same bytes as an
    /// uninterrupted run.
    Train(cli::train::TrainArgs),
    /// Evaluate a model file as deployed (the runtime's own inner loop, on the host) on held-out
    /// tasks or novel classes, beside the simple baselines on the same draws.
    ///
    /// A classification model is evaluated with its run's own classes, split and normalisation:
    /// from its run record (<model>.run.json, written by `train`) or from --config; another data
    /// file or split is refused. Regression models on CSV tasks likewise use their record's data
    /// file and held-out tasks (or --task csv:PATH / --config, checked against the record); the
    /// sinusoid takes --task sinusoid (the default without a record).
    Eval {
        #[arg(long)]
        model: PathBuf,
        /// The run's configuration file (instead of the model's run record).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Regression: `sinusoid` or `csv:PATH`.
        #[arg(long)]
        task: Option<String>,
        /// CSV tasks: the meta-test fraction and split seed [default: the run record's; without
        /// one 0.2 and 0]. A split that is not the recorded one is refused.
        #[arg(long)]
        test_fraction: Option<f64>,
        #[arg(long)]
        split_seed: Option<u64>,
        /// Support-set sizes [regression: 5,10,20; classification: 1,5 per class].
        #[arg(long, value_delimiter = ',')]
        shots: Option<Vec<usize>>,
        /// Device inner steps [regression: 1,10; classification: 0 and the model's default].
        #[arg(long, value_delimiter = ',')]
        steps: Option<Vec<usize>>,
        /// Regression: units to evaluate [default: 600]. Distinct held-out CSV tasks: this many
        /// (or all of them, each drawn ceil(tasks / held-out tasks) times, averaged per task: the
        /// CI is over the distinct tasks).
        #[arg(long)]
        tasks: Option<usize>,
        /// Query points per task [default: 100], or per class [default: 15].
        #[arg(long)]
        query: Option<usize>,
        /// Classification: ways of each episode [default: the model's head; another N resizes
        /// the prototype head, whose weights the device sets from the support set].
        #[arg(long)]
        ways: Option<usize>,
        /// Classification: a number of seeded episodes per shot count, or a FILE listing
        /// episodes (comma-separated 0-based data rows: N*K support then N*Q query rows,
        /// class-major; `#` comments).
        /// [default: 2000]
        #[arg(long)]
        episodes: Option<String>,
        /// Classification: the data file [default: the one the model was trained on]; its
        /// SHA-256 must be the recorded one, or it is another voice split of the same
        /// `trainer features` recording (same manifest, front-end and labels). Without a run
        /// record or --config: every class of this file is new to the model. Regression (CSV
        /// tasks, with the run record): every task of this file, all new to the model.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Classification, --data without a run record or --config: the data's label column
        /// (default: the column named `label`, else the last), as a run's `label_column`.
        #[arg(long)]
        label_column: Option<String>,
        /// Classification, --data without a run record or --config: header columns read as
        /// nothing (ids, timestamps), comma-separated, as a run's `ignore_columns`.
        #[arg(long, value_delimiter = ',')]
        ignore_columns: Vec<String>,
        /// [default: 20260101; classification: 20260105]
        #[arg(long)]
        seed: Option<u64>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// With --json: every episode's accuracy (classification), every held-out task's mean
        /// query MSE (regression), for paired comparisons.
        #[arg(long)]
        per_task: bool,
        /// Classification: also U unknown queries per episode (rows of the pool's classes
        /// outside the episode), and the "unknown input" decision: a query is accepted when the
        /// adapted head's highest class probability is at least a threshold chosen on episodes
        /// of the run's validation classes (with too few of them, also held-out rows of the
        /// trunk's classes; never the novel ones); prints the threshold, its false-reject and
        /// false-accept rates and the accuracy among accepted queries on the novel classes.
        #[arg(long, value_name = "U")]
        unknown_queries: Option<usize>,
        /// With --unknown-queries: how the threshold is chosen, `eer` (equal error rate),
        /// `fr=F` (the highest threshold that rejects at most the fraction F of known queries)
        /// or `fa=F` (the lowest that accepts at most the fraction F of unknown queries).
        #[arg(long, default_value = "eer", value_name = "RULE")]
        unknown_rule: String,
        /// With --unknown-queries: the score thresholded, `probability` (the adapted head's
        /// highest class probability), `distance` (minus the squared distance of the query's
        /// trunk features to the nearest support prototype), `relative` (that distance over
        /// the support's pooled within-class variance, `ClassScore::relative_distance`: a
        /// threshold that follows the conditions the device's samples were recorded in; 2 or
        /// more shots) or `cosine` (its cosine).
        #[arg(long, default_value = "probability", value_name = "SCORE")]
        unknown_score: String,
        /// With --unknown-queries: this threshold (as the table's `t` column prints it: minus
        /// the squared distance for `distance`, minus the relative distance for `relative`)
        /// instead of one chosen on validation classes,
        /// e.g. the one a device uses; no run record or config needed.
        #[arg(long, value_name = "T", allow_hyphen_values = true)]
        unknown_threshold: Option<f32>,
    },
    /// Cross-validation of a regression configuration on CSV tasks over task ids: for each of N
    /// folds, train from scratch on the other folds' tasks, evaluate as deployed on the fold's
    /// tasks; the table aggregates every task's scores (N = the number of tasks: leave one task
    /// out). Writes no model.
    Cv {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        folds: usize,
        /// Meta-iterations per fold (overrides the configuration).
        #[arg(long)]
        iterations: Option<u64>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// With --json: every task's mean query MSE.
        #[arg(long)]
        per_task: bool,
        /// Worker threads (0 = all cores).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Post-training int8 quantisation of a classification run's trained trunk (TFLM semantics,
    /// the runtime's int8 kernels): accuracy beside the f32 trunk and the baselines on the same
    /// novel-class episodes, and the trunk's bytes in f32 and int8.
    Quantise {
        /// The run's model: its run record (configuration, data) and its `<out>.trained.json`
        /// beside it, instead of --config and --trained.
        #[arg(long, conflicts_with_all = ["config", "trained"])]
        model: Option<PathBuf>,
        /// The run's configuration file (with --trained).
        #[arg(long, requires = "trained")]
        config: Option<PathBuf>,
        /// The run's `<out>.trained.json` (with --config).
        #[arg(long, requires = "config")]
        trained: Option<PathBuf>,
        /// Calibration rows, drawn (seeded) from the training classes only.
        #[arg(long, default_value_t = 512)]
        calibration: usize,
        /// Activation ranges from the P-th and (100 - P)-th percentiles instead of min/max.
        #[arg(long)]
        percentile: Option<f64>,
        /// Episodes per shot count.
        #[arg(long, default_value_t = 2000)]
        episodes: usize,
        /// Write the int8 model (the f32 export's heads on an int8 stem) to this file, and
        /// evaluate it and the f32 export as deployed on the same episodes instead of on the host.
        #[arg(long)]
        export: Option<PathBuf>,
        /// Keep the trunk's first N layers in f32 (convolutions and pools), quantising the map
        /// after them: a thin first layer costs more in int8 than in f32 on the device.
        #[arg(long, default_value_t = 0)]
        f32_layers: usize,
    },
    /// Task relatedness of a multi-task configuration's heads: trunk-gradient cosines and the
    /// transfer gain of training pairs together vs alone; prints a table, writes a heatmap PNG.
    Relatedness {
        #[arg(long)]
        config: PathBuf,
        /// Heatmap PNG [default: <config stem>.relatedness.png beside the config].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Batches the cosines are averaged over (overrides [relatedness] batches).
        #[arg(long)]
        batches: Option<usize>,
        /// Joint / alone / pair training iterations (overrides [relatedness] budget; 0 = cosines
        /// at the initial weights, no transfer gain).
        #[arg(long)]
        budget: Option<u64>,
        /// Repeat every measurement over this many seeds (overrides [relatedness] seeds).
        #[arg(long)]
        seeds: Option<usize>,
        /// Skip the transfer-gain runs.
        #[arg(long)]
        no_transfer: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Log-mel (or MFCC) features of a manifest's WAV clips, computed by the runtime's own
    /// front-end (the device's code), as a classification CSV (`label` column) for `trainer
    /// train`, with the front-end recorded beside it (`<name>.front_end.json`).
    Features {
        /// The clips: a CSV with a header naming `file` (relative to it) and `word` (also read:
        /// `word_split`, `voice_split`, `sha256`).
        #[arg(long)]
        manifest: PathBuf,
        /// The front-end (TOML: `sample_rate`, `frame_len`, `hop`, `fft_size`, `mel_bins`,
        /// `f_min`, `f_max`, `log_offset`, `dct_coeffs`; each defaults to the keyword spec:
        /// 16 kHz, 480/320, FFT 512, 40 log-mel bands 20-8000 Hz).
        #[arg(long)]
        front_end: Option<PathBuf>,
        /// Only the clips of this `voice_split` (e.g. `seen`).
        #[arg(long)]
        voice_split: Option<String>,
        /// Which second of a clip longer than one second is kept: the one centred on the word
        /// (its energy above the recording's noise floor) or the first.
        #[arg(long, value_enum, default_value_t = trainer::features::Window::Centred)]
        window: trainer::features::Window,
        /// The CSV to write (gzip when it ends in `.gz`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a model file's architecture, sizes, RAM needs and adaptation spec.
    Inspect {
        file: PathBuf,
        /// Print instead the Rust constants of `fewshot_runtime::Learner` for this model (save
        /// them as a module of the firmware: no size written by hand).
        #[arg(long)]
        rust: bool,
        /// With --rust: the head to adapt (default: the first adaptable one).
        #[arg(long)]
        head: Option<usize>,
        /// With --rust: the largest support set (samples) to size the scratch for.
        #[arg(long, default_value_t = 20)]
        k: usize,
        /// With --rust: also the serial protocol's `Device` for the head (a firmware that
        /// serves it over a UART with `fewshot-protocol`, feature `device`).
        #[arg(long, requires = "rust")]
        device: bool,
        /// With --device: bytes of the largest signed model update the device takes (its model
        /// slots and the RAM it loads an update into; default: this model's envelope, rounded
        /// up to 4 KiB).
        #[arg(long, requires = "device")]
        update_bytes: Option<usize>,
    },
    /// Re-export a model with a head of another class count (`--ways`: what `Learner::adapt`
    /// is given), a classification head the device adds classes to (`--max-classes`, format
    /// v4: the most the runtime's `ClassBank` holds at once) or other default steps.
    Export(cli::enroll::ExportArgs),
    /// Classes added on the device one after another (enroll / forget), run by the runtime's
    /// own class bank on the host: accuracy on the classes the device started with before and
    /// after 1, 5 and 10 enrollments, and on the enrolled ones, beside nearest centroid on the
    /// same draws (see trainer/README.md, "Classes added on the device").
    EnrollEval(cli::enroll::EnrollEvalArgs),
    /// Make an Ed25519 key pair for signing models: <out>.secret (the 32-byte seed: keep it
    /// secret) and <out>.pub (the 32-byte public key the firmware compiles in).
    Keygen {
        /// Path of the two files, without extension.
        #[arg(long, default_value = "keys/model-signing")]
        out: PathBuf,
        /// Overwrite existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Sign a model file: writes the signed envelope that `Model::from_signed_bytes` verifies.
    Sign {
        /// Model file (format v1).
        model: PathBuf,
        /// Secret key file written by `trainer keygen` (<out>.secret).
        #[arg(long)]
        key: PathBuf,
        /// Signed model to write [default: the model path with extension `signed`].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Model version, signed with the model: devices refuse a version that is not greater
        /// than the newest they accepted (anti-rollback), so each release needs a larger one.
        #[arg(long)]
        version: u32,
    },
    /// Talk to a device running the serial protocol (`fewshot-protocol`): info, push samples,
    /// adapt, classify, save/restore, enroll/forget/relabel classes, signed model updates. Over
    /// a serial port (--port) or QEMU's unix socket (--socket).
    Device(cli::device::DeviceArgs),
    /// Meta-iterations per second for every algorithm (meta-batch 25, K=10, 1-40-40-1 ReLU).
    Bench {
        #[arg(long, default_value_t = 1000)]
        iters: u64,
        /// Inner steps.
        #[arg(long, default_value_t = 1)]
        steps: usize,
        /// Worker threads (the 10x target is on 1).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Only these algorithms (repeatable; e.g. `--algorithm maml`) [default: all].
        #[arg(long = "algorithm", value_parser = parse_algorithm)]
        algorithms: Vec<Algorithm>,
    },
}

/// An algorithm by its name in configs and tables (`maml`, `meta_sgd`, ...).
fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    Algorithm::ALL
        .into_iter()
        .find(|a| a.name() == name)
        .ok_or_else(|| {
            let names: Vec<_> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            format!("unknown algorithm `{name}` (one of {})", names.join(", "))
        })
}

fn main() -> ExitCode {
    // Output piped into `head` and the like ends the process quietly, as other Unix tools do,
    // instead of a panic at the next print (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: restores the default action of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Writes a secret key readable by its owner only (on Unix).
fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
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
        (Some(RunConfig::Multitask(_)), _) => bail!("multi-task models are evaluated by `train`"),
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

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Train(args) => cli::train::run(args),
        Cmd::Export(args) => cli::enroll::export(args),
        Cmd::EnrollEval(args) => cli::enroll::enroll_eval(args),
        Cmd::Device(args) => cli::device::run(args),
        Cmd::Eval {
            model,
            config,
            task,
            test_fraction,
            split_seed,
            shots,
            steps,
            tasks,
            query,
            ways,
            episodes,
            data,
            label_column,
            ignore_columns,
            seed,
            json,
            per_task,
            unknown_queries,
            unknown_rule,
            unknown_score,
            unknown_threshold,
        } => {
            // The columns of a data file the model has no record or configuration of.
            let columns = trainer::classify::data::Columns {
                label: label_column.as_deref(),
                ignore: &ignore_columns,
            };
            let columns_given = columns.label.is_some() || !columns.ignore.is_empty();
            let reg_record = regression::Record::read(&model)?;
            let record = match reg_record {
                Some(_) => None,
                None => trainer::classify::record::RunRecord::read(&model)?,
            };
            let run_config = match &config {
                Some(c) => Some(trainer::presets::load(None, Some(c))?.0),
                None => None,
            };
            let (classification, run_config) = match run_config {
                Some(RunConfig::Classification(cfg)) => (Some(Some(*cfg)), None),
                None if record.is_some() && task.is_none() => (Some(None), None),
                // A user's own data for a classification model (every class new to it).
                None if data.is_some() && task.is_none() && classifies(&model)? => {
                    (Some(None), None)
                }
                other => (None, other),
            };
            if let Some(cfg) = classification {
                refuse_given(
                    &[
                        ("--tasks", tasks.is_some()),
                        ("--test-fraction", test_fraction.is_some()),
                        ("--split-seed", split_seed.is_some()),
                    ],
                    "regression models; a classification model takes --episodes and its run's split",
                )?;
                let episodes = episodes.unwrap_or_else(|| "2000".into());
                let unknown = match unknown_queries {
                    None => None,
                    Some(0) => bail!("--unknown-queries must be >= 1"),
                    Some(queries) => Some(UnknownSpec {
                        queries,
                        rule: unknown_rule.parse()?,
                        score: unknown_score.parse()?,
                        threshold: unknown_threshold,
                    }),
                };
                if unknown_threshold.is_some() && unknown_queries.is_none() {
                    bail!("--unknown-threshold needs --unknown-queries");
                }
                let e = ClsEval {
                    unknown,
                    ways,
                    shots,
                    steps,
                    episodes,
                    query,
                    seed,
                    json,
                    per_task,
                };
                if columns_given && (cfg.is_some() || record.is_some() || data.is_none()) {
                    bail!("--label-column and --ignore-columns describe a --data file the model has no run record or --config of; the run's configuration names its own columns");
                }
                return eval_classification(&model, cfg, record, data, columns, e);
            }
            refuse_given(
                &[
                    ("--unknown-queries", unknown_queries.is_some()),
                    ("--ways", ways.is_some()),
                    ("--episodes", episodes.is_some()),
                    ("--label-column", columns.label.is_some()),
                    ("--ignore-columns", !columns.ignore.is_empty()),
                ],
                "classification models; a regression model takes --tasks",
            )?;
            let tasks = tasks.unwrap_or(600);
            let query = query.unwrap_or(100);
            let seed = seed.unwrap_or(20_260_101);
            let shots = shots.unwrap_or_else(|| vec![5, 10, 20]);
            let steps = steps.unwrap_or_else(|| vec![1, 10]);
            if shots.is_empty() || shots.contains(&0) || tasks == 0 || query == 0 {
                bail!("--shots must be >= 1 each; --tasks and --query >= 1");
            }
            let (source, task) = match (&data, &reg_record) {
                (Some(d), Some(r)) if task.is_none() && run_config.is_none() => {
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
                    task,
                    test_fraction,
                    split_seed,
                    reg_record.as_ref(),
                )?,
            };
            let blob = export::read(&model)?;
            let report =
                eval::evaluate(&blob, source.as_ref(), &shots, &steps, tasks, query, seed)?;
            print_report(
                report,
                json,
                per_task,
                serde_json::json!({ "model": model, "task": task, "seed": seed }),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Cv {
            config,
            folds,
            iterations,
            json,
            per_task,
            threads: nt,
        } => {
            threads(nt)?;
            let mut cfg = match trainer::presets::load(None, Some(&config))?.0 {
                RunConfig::Regression(c) => *c,
                _ => bail!(
                    "{}: cross-validation takes a regression configuration",
                    config.display()
                ),
            };
            if let Some(i) = iterations {
                if i == 0 {
                    bail!("--iterations must be >= 1");
                }
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
        Cmd::Quantise {
            model,
            config,
            trained,
            calibration,
            percentile,
            episodes,
            export,
            f32_layers,
        } => {
            let ranges = percentile.map_or(trainer::quantise::Ranges::MinMax, |p| {
                trainer::quantise::Ranges::Percentile(p)
            });
            use trainer::quantise::report::Run;
            let run = match (&model, &config, &trained) {
                (Some(m), _, _) => Run::Model(m),
                (None, Some(config), Some(trained)) => Run::Files { config, trained },
                _ => bail!("give --model (a model with its run record), or --config and --trained"),
            };
            trainer::quantise::report::run(&trainer::quantise::report::QuantiseArgs {
                run,
                calibration,
                ranges,
                episodes,
                export: export.as_deref(),
                f32_layers,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Relatedness {
            config,
            out,
            batches,
            budget,
            seeds,
            no_transfer,
            json,
        } => {
            use trainer::multitask::{config::MtConfig, plots, relatedness};
            let mut cfg = MtConfig::load(&config)?;
            if let Some(b) = batches {
                if b == 0 {
                    bail!("--batches must be >= 1");
                }
                cfg.relatedness.batches = b;
            }
            if let Some(b) = budget {
                cfg.relatedness.budget = b;
            }
            if let Some(s) = seeds {
                if !(1..=100).contains(&s) {
                    bail!("--seeds must be in 1..=100");
                }
                cfg.relatedness.seeds = s;
            }
            let base = config.parent().unwrap_or(Path::new("."));
            let r = relatedness::measure(&cfg, base, !no_transfer)?;
            let out = out.unwrap_or_else(|| config.with_extension("relatedness.png"));
            plots::relatedness(&out, &r)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", relatedness::table(&r));
            }
            eprintln!("heatmap: {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Features {
            manifest,
            front_end,
            voice_split,
            window,
            out,
        } => {
            let spec = match &front_end {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    trainer::features::spec_from_toml(&text, &path.display().to_string())?
                }
                None => runtime::frontend::FrontEndSpec::KEYWORD,
            };
            let rec =
                trainer::features::run(&manifest, &spec, voice_split.as_deref(), window, &out)?;
            eprintln!(
                "wrote {} ({} clips, {} words, {} features a clip: {} frames x {}) and {}",
                out.display(),
                rec.rows,
                rec.labels.len(),
                spec.input_len(),
                spec.frames_per_second(),
                spec.features_per_frame(),
                trainer::features::recorded_path(&out).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Inspect {
            file,
            rust,
            head,
            k,
            device,
            update_bytes,
        } => {
            let blob = runtime::format::AlignedBytes::read(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let device = device.then_some(inspect::DeviceOptions { update_bytes });
            let text = if rust {
                inspect::rust_sizes(&blob, head, k, &file.display().to_string(), device)
            } else {
                inspect::describe(&blob)
            };
            print!("{}", text.with_context(|| format!("{}", file.display()))?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Keygen { out, force } => {
            let secret = out.with_extension("secret");
            let public = out.with_extension("pub");
            for p in [&secret, &public] {
                if p.exists() && !force {
                    bail!("{}: exists (use --force to overwrite)", p.display());
                }
            }
            if let Some(d) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            }
            let key = runtime::signature::SigningKey::generate();
            write_secret(&secret, &key.to_seed())?;
            std::fs::write(&public, key.public_key().as_bytes())
                .with_context(|| format!("writing {}", public.display()))?;
            eprintln!(
                "wrote {} (secret) and {} (public key for the firmware)",
                secret.display(),
                public.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Sign {
            model,
            key,
            out,
            version,
        } => {
            let seed = std::fs::read(&key).with_context(|| format!("reading {}", key.display()))?;
            let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| {
                anyhow!(
                    "{}: a secret key is 32 bytes (from `trainer keygen`), this file has {}",
                    key.display(),
                    seed.len()
                )
            })?;
            let blob =
                std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
            let signed = runtime::signature::SigningKey::from_seed(seed)
                .sign(&blob, version)
                .with_context(|| format!("{}: cannot sign", model.display()))?;
            let out = out.unwrap_or_else(|| model.with_extension("signed"));
            std::fs::write(&out, &signed).with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "wrote {} ({} bytes, model version {version})",
                out.display(),
                signed.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench {
            iters,
            steps,
            threads: nt,
            algorithms,
        } => {
            if iters == 0 || steps == 0 {
                bail!("--iters and --steps must be >= 1");
            }
            threads(nt)?;
            println!("meta-batch 25, K=10, 1-40-40-1 ReLU, {steps} inner step(s), {} thread(s), {iters} iterations", rayon::current_num_threads());
            println!(
                "{:>10} {:>12} {:>16} {:>16}",
                "algorithm", "it/s", "s/1000 (median)", "s/1000 (best)"
            );
            let algorithms = if algorithms.is_empty() {
                Algorithm::ALL.to_vec()
            } else {
                algorithms
            };
            for r in bench::run(&algorithms, iters, steps, nt != 1) {
                println!(
                    "{:>10} {:>12.0} {:>16.3} {:>16.3}",
                    r.algorithm.name(),
                    1000.0 / r.secs_per_1000,
                    r.secs_per_1000,
                    r.best_secs_per_1000
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
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

/// Whether the model at `path` has a head the device adapts from a support set of classes.
fn classifies(path: &Path) -> Result<bool> {
    let blob = export::read(path)?;
    let m = runtime::Model::from_bytes(&blob).map_err(|e| anyhow!("model: {e}"))?;
    Ok(trainer::classify::deploy::prototype_head(&m).is_ok())
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
            eprintln!(
                "{}: no run record beside the model and no --config: every class of {} is new to the model (episodes of all its classes; nearest centroid standardised on all its rows)",
                model.display(),
                d.display()
            );
            if e.unknown.is_some_and(|u| u.threshold.is_none()) {
                bail!("--unknown-queries chooses its threshold on the model's validation classes: give the run's --config (or its record), or the threshold (--unknown-threshold)");
            }
            let (cfg, setup) = run::Setup::new_classes(d, columns)?;
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
    let mut setup = run::Setup::for_purpose(&cfg, trainer::classify::train::Purpose::Evaluate)
        .with_context(|| {
            if from_record {
                // `--data` of a model with its record takes the run's classes from that file.
                format!(
                    "{}: evaluated with the run's classes from the record beside {} (another split of the run's data); for a file of your own classes, each new to the model, evaluate a copy of the model without its `.run.json`",
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
        r.check(&cfg, &setup)?;
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
    if let (Some(rec), Some(fe)) = (trainer::features::recorded(&cfg.data)?, m.front_end()) {
        if rec.front_end != fe {
            bail!(
                "{}: its features were made with another front-end than the model's ({:?}; the model: {:?}): remake them with `trainer features --front-end`",
                cfg.data.display(),
                rec.front_end,
                fe
            );
        }
    }
    let head = trainer::classify::deploy::prototype_head(&m)?;
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
    let seed = e.seed.unwrap_or(trainer::classify::EVAL_SEED);
    let query = match e.query {
        Some(q) => q,
        None => {
            let most = shots.iter().copied().max().unwrap_or(1);
            match run::default_query(setup, ways, most) {
                0 => run::DEFAULT_QUERY,
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
    if !e.per_task {
        for r in &mut report.rows {
            r.per_episode.clear();
        }
    }
    if e.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "model": model, "data": cfg.data, "data_sha256": setup.ds.sha256,
                "ways": ways, "train_classes": cfg.train_classes, "val_classes": setup.val_classes,
                "test_classes": cfg.test_classes, "class_names": setup.ds.class_names,
                "query": query, "seed": seed,
                "episodes": e.episodes, "units": report.units, "results": report.rows,
                "unknown": report.unknown
            }))?
        );
    } else {
        print!("{}", run::describe(cfg, &setup.ds, &report));
        print!("{}", trainer::classify::deploy::table(&report.rows));
        print!("{}", trainer::classify::unknown::table(&report.unknown));
    }
    Ok(ExitCode::SUCCESS)
}
