//! `trainer bench`: meta-iterations per second of every algorithm.

use super::threads;
use anyhow::{bail, Result};
use clap::Args;
use std::process::ExitCode;
use trainer::bench;
use trainer::meta::Algorithm;

/// `trainer bench`'s options.
#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 1000)]
    pub iters: u64,
    /// Inner steps.
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
    /// Worker threads (the 10x target is on 1).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Only these algorithms (repeatable; e.g. `--algorithm maml`) [default: all].
    #[arg(long = "algorithm", value_parser = parse_algorithm)]
    pub algorithms: Vec<Algorithm>,
}

/// `trainer bench`: the table of it/s per algorithm.
pub fn run(a: BenchArgs) -> Result<ExitCode> {
    let BenchArgs {
        iters,
        steps,
        threads: nt,
        algorithms,
    } = a;
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
