//! `trainer`: meta-train, export, evaluate as deployed, inspect, benchmark, sign.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    Eval(Box<cli::eval::EvalArgs>),
    /// Cross-validation: for each of N folds, train from scratch on the other folds, evaluate as
    /// deployed on the fold's, beside the baselines. A regression configuration of CSV tasks is
    /// cut by task ids (N = the number of tasks: leave one task out); a classification one by
    /// its classes, each novel once, every accuracy with the class as the unit. Writes no model.
    Cv(cli::eval::CvArgs),
    /// Post-training int8 quantisation of a classification run's trained trunk (TFLM semantics,
    /// the runtime's int8 kernels): accuracy beside the f32 trunk and the baselines on the same
    /// novel-class episodes, and the trunk's bytes in f32 and int8.
    Quantise(cli::quantise::QuantiseArgs),
    /// Task relatedness of a multi-task configuration's heads: trunk-gradient cosines and the
    /// transfer gain of training pairs together vs alone; prints a table, writes a heatmap PNG.
    Relatedness(cli::relatedness::RelatednessArgs),
    /// Log-mel (or MFCC) features of a manifest's WAV clips, computed by the runtime's own
    /// front-end (the device's code), as a classification CSV (`label` column) for `trainer
    /// train`, with the front-end recorded beside it (`<name>.front_end.json`).
    Features(cli::features::FeaturesArgs),
    /// Print a model file's architecture, sizes, RAM needs and adaptation spec.
    Inspect(cli::inspect::InspectArgs),
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
    Keygen(cli::keys::KeygenArgs),
    /// Sign a model file: writes the signed envelope that `Model::from_signed_bytes` verifies.
    Sign(cli::keys::SignArgs),
    /// Talk to a device running the serial protocol (`fewshot-protocol`): info, push samples,
    /// adapt, classify, save/restore, enroll/forget/relabel classes, signed model updates. Over
    /// a serial port (--port) or QEMU's unix socket (--socket).
    Device(cli::device::DeviceArgs),
    /// A device on the host, for `trainer device --socket PATH`: the serial protocol's device
    /// code (the firmware's) serving a model file's head on a unix socket, its flash in RAM
    /// (kept across `reboot`), until stopped. Answers as the firmware does, with the host's
    /// buffers (256 support samples) instead of a part's.
    DeviceSim(cli::device_sim::DeviceSimArgs),
    /// Meta-iterations per second for every algorithm (meta-batch 25, K=10, 1-40-40-1 ReLU).
    Bench(cli::bench::BenchArgs),
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

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Train(args) => cli::train::run(args),
        Cmd::Eval(args) => cli::eval::run(*args),
        Cmd::Cv(args) => cli::eval::cv(args),
        Cmd::Quantise(args) => cli::quantise::run(args),
        Cmd::Relatedness(args) => cli::relatedness::run(args),
        Cmd::Features(args) => cli::features::run(args),
        Cmd::Inspect(args) => cli::inspect::run(args),
        Cmd::Export(args) => cli::enroll::export(args),
        Cmd::EnrollEval(args) => cli::enroll::enroll_eval(args),
        Cmd::Keygen(args) => cli::keys::keygen(args),
        Cmd::Sign(args) => cli::keys::sign(args),
        Cmd::Device(args) => cli::device::run(args),
        Cmd::DeviceSim(args) => cli::device_sim::run(args),
        Cmd::Bench(args) => cli::bench::run(args),
    }
}
