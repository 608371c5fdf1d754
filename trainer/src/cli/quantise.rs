//! `trainer quantise`: int8 post-training quantisation of a trained convolution trunk, with its
//! accuracy beside f32 and the baselines.

use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `trainer quantise`'s options.
#[derive(Args)]
pub struct QuantiseArgs {
    /// The run's model: its run record (configuration, data) and its `<out>.trained.json`
    /// beside it, instead of --config and --trained.
    #[arg(long, conflicts_with_all = ["config", "trained"])]
    pub model: Option<PathBuf>,
    /// The run's configuration file (with --trained).
    #[arg(long, requires = "trained")]
    pub config: Option<PathBuf>,
    /// The run's `<out>.trained.json` (with --config).
    #[arg(long, requires = "config")]
    pub trained: Option<PathBuf>,
    /// Calibration rows, drawn (seeded) from the training classes only.
    #[arg(long, default_value_t = 512)]
    pub calibration: usize,
    /// Activation ranges from the P-th and (100 - P)-th percentiles instead of min/max (0.01 and
    /// 99.99 name the same range).
    #[arg(long)]
    pub percentile: Option<f64>,
    /// Episodes per shot count.
    #[arg(long, default_value_t = 2000)]
    pub episodes: usize,
    /// Write the int8 model (the f32 export's heads on an int8 stem) to this file, and
    /// evaluate it and the f32 export as deployed on the same episodes instead of on the host.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Keep the trunk's first N layers in f32 (convolutions and pools), quantising the map
    /// after them: a thin first layer costs more in int8 than in f32 on the device.
    #[arg(long, default_value_t = 0)]
    f32_layers: usize,
}

/// `trainer quantise`: the run from its model's record or from its configuration and trained
/// weights.
pub fn run(a: QuantiseArgs) -> Result<ExitCode> {
    let QuantiseArgs {
        model,
        config,
        trained,
        calibration,
        percentile,
        episodes,
        export,
        f32_layers,
    } = a;
    if let Some(p) = percentile {
        if !(p > 0.0 && p < 100.0 && p != 50.0) {
            bail!(
                "--percentile {p}: the range runs from the P-th to the (100 - P)-th percentile of each tensor's calibration values, so P is above 0, below 100 and not 50 (0.01 and 99.99 name the same range)"
            );
        }
    }
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
