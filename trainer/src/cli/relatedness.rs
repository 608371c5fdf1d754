//! `trainer relatedness`: which heads of a multi-task configuration should share a trunk.

use anyhow::{bail, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `trainer relatedness`'s options.
#[derive(Args)]
pub struct RelatednessArgs {
    #[arg(long)]
    pub config: PathBuf,
    /// Heatmap PNG [default: <config stem>.relatedness.png beside the config].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Batches each head's trunk gradient is averaged over before the cosines (overrides
    /// [relatedness] batches; at least 2 for the diagonal's reliability).
    #[arg(long)]
    pub batches: Option<usize>,
    /// Joint / alone / pair training iterations (overrides [relatedness] budget; 0 = cosines
    /// at the initial weights, no transfer gain).
    #[arg(long)]
    pub budget: Option<u64>,
    /// Repeat every measurement over this many seeds (overrides [relatedness] seeds).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Skip the transfer-gain runs.
    #[arg(long)]
    pub no_transfer: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `trainer relatedness`: the table (or JSON) and the heatmap.
pub fn run(a: RelatednessArgs) -> Result<ExitCode> {
    let RelatednessArgs {
        config,
        out,
        batches,
        budget,
        seeds,
        no_transfer,
        json,
    } = a;
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
