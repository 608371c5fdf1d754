//! `trainer features`: log-mel / MFCC features of WAV clips, by the runtime's own front-end.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `trainer features`' options.
#[derive(Args)]
pub struct FeaturesArgs {
    /// The clips: a CSV with a header naming `file` (relative to it) and `word` (also read:
    /// `word_split`, `voice_split`, `sha256`).
    #[arg(long)]
    pub manifest: PathBuf,
    /// The front-end (TOML: `sample_rate`, `frame_len`, `hop`, `fft_size`, `mel_bins`,
    /// `f_min`, `f_max`, `log_offset`, `dct_coeffs`; each defaults to the keyword spec:
    /// 16 kHz, 480/320, FFT 512, 40 log-mel bands 20-8000 Hz).
    #[arg(long)]
    pub front_end: Option<PathBuf>,
    /// Only the clips of this `voice_split` (e.g. `seen`).
    #[arg(long)]
    pub voice_split: Option<String>,
    /// Which second of a clip longer than one second is kept: the one centred on the word
    /// (its energy above the recording's noise floor) or the first.
    #[arg(long, value_enum, default_value_t = trainer::features::Window::Centred)]
    pub window: trainer::features::Window,
    /// The CSV to write (gzip when it ends in `.gz`).
    #[arg(long)]
    pub out: PathBuf,
}

/// `trainer features`: the CSV and its recorded front-end.
pub fn run(a: FeaturesArgs) -> Result<ExitCode> {
    let FeaturesArgs {
        manifest,
        front_end,
        voice_split,
        window,
        out,
    } = a;
    let spec = match &front_end {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            trainer::features::spec_from_toml(&text, &path.display().to_string())?
        }
        None => runtime::frontend::FrontEndSpec::KEYWORD,
    };
    let rec = trainer::features::run(&manifest, &spec, voice_split.as_deref(), window, &out)?;
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
