//! `trainer inspect`: a model file's architecture, sizes and RAM, or its firmware constants.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use trainer::inspect;

/// `trainer inspect`'s options.
#[derive(Args)]
pub struct InspectArgs {
    pub file: PathBuf,
    /// Print instead the Rust constants of `fewshot_runtime::Learner` for this model (save
    /// them as a module of the firmware: no size written by hand).
    #[arg(long)]
    pub rust: bool,
    /// With --rust: the head to adapt (default: the first adaptable one).
    #[arg(long, requires = "rust")]
    pub head: Option<usize>,
    /// With --rust: the largest support set to size the scratch for, in samples (all classes'
    /// together: ways x shots; at least 1).
    #[arg(long, default_value_t = 20, requires = "rust", value_parser = clap::value_parser!(u32).range(1..))]
    pub k: u32,
    /// With --rust: the most inner steps an adaptation may ask for (the loss log holds one
    /// loss per step and one more; default: the model's default steps).
    #[arg(long, requires = "rust")]
    pub max_steps: Option<u16>,
    /// With --rust: also the serial protocol's `Device` for the head (a firmware that
    /// serves it over a UART with `fewshot-protocol`, feature `device`).
    #[arg(long, requires = "rust")]
    pub device: bool,
    /// With --device: bytes of the largest signed model update the device takes (each of its
    /// two model slots on flash, from which an installed update is served in place; default:
    /// this model's envelope, rounded up to 4 KiB).
    #[arg(long, requires = "device")]
    pub update_bytes: Option<usize>,
}

/// `trainer inspect`: the description, or with `--rust` the firmware's sizes module.
pub fn run(a: InspectArgs) -> Result<ExitCode> {
    let InspectArgs {
        file,
        rust,
        head,
        k,
        max_steps,
        device,
        update_bytes,
    } = a;
    let blob = runtime::format::AlignedBytes::read(&file)
        .with_context(|| format!("reading {}", file.display()))?;
    if blob.starts_with(&runtime::signature::ENVELOPE_MAGIC) {
        anyhow::bail!(
            "{}: a signed envelope (`trainer sign`'s), not a model file: inspect the model it was signed from",
            file.display()
        );
    }
    let device = device.then_some(inspect::DeviceOptions { update_bytes });
    // The input columns' names, from the run record beside the model (a record of other
    // bytes is left out, said once: inspect describes the bytes whatever the record says).
    let inputs = trainer::record::input_names(&file).unwrap_or_else(|e| {
        eprintln!("note: the run record beside the model is left out: {e:#}");
        None
    });
    let text = if rust {
        // A regression run's target columns name the head's outputs.
        let targets = trainer::record::csv_columns(&file)
            .map(|c| c.targets)
            .unwrap_or_default();
        let source = inspect::Source {
            file: &file.display().to_string(),
            inputs: inputs.as_deref(),
            targets: Some(&targets)
                .filter(|t| !t.is_empty())
                .map(|t| t.as_slice()),
        };
        let sizing = inspect::Sizing {
            k: k as usize,
            max_steps,
        };
        inspect::rust_sizes(&blob, head, sizing, &source, device)
    } else {
        inspect::describe(&blob).map(|mut s| {
            if let Some(names) = &inputs {
                let what = "inputs (from the run record)";
                s.push_str(&trainer::csvio::describe_inputs(what, names));
                s.push('\n');
            }
            s
        })
    };
    print!("{}", text.with_context(|| format!("{}", file.display()))?);
    Ok(ExitCode::SUCCESS)
}
