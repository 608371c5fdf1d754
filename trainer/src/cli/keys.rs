//! `trainer keygen` and `trainer sign`: Ed25519 keys and signed model updates.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `trainer keygen`'s options.
#[derive(Args)]
pub struct KeygenArgs {
    /// Path of the two files, without extension.
    #[arg(long, default_value = "keys/model-signing")]
    pub out: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
}

/// `trainer sign`'s options.
#[derive(Args)]
pub struct SignArgs {
    /// Model file (`train` or `export` writes it).
    pub model: PathBuf,
    /// Secret key file written by `trainer keygen` (<out>.secret).
    #[arg(long)]
    pub key: PathBuf,
    /// Signed model to write [default: the model path with extension `signed`].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Model version, signed with the model: devices refuse a version that is not greater
    /// than the newest they accepted (anti-rollback), so each release needs a larger one; a
    /// device starts at 0, so the first is 1 or more.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub version: u32,
}

/// `trainer keygen`: the secret seed (owner-only) and the public key.
pub fn keygen(a: KeygenArgs) -> Result<ExitCode> {
    let KeygenArgs { out, force } = a;
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

/// `trainer sign`: the signed envelope of a model, with its version.
pub fn sign(a: SignArgs) -> Result<ExitCode> {
    let SignArgs {
        model,
        key,
        out,
        version,
    } = a;
    let seed = std::fs::read(&key).with_context(|| format!("reading {}", key.display()))?;
    let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| {
        anyhow!(
            "{}: a secret key is 32 bytes (from `trainer keygen`), this file has {}",
            key.display(),
            seed.len()
        )
    })?;
    // keygen's two files are 32 bytes each: the public one is told by name or by its secret.
    let sibling = std::fs::read(key.with_extension("pub")).unwrap_or_default();
    if key.extension().is_some_and(|e| e == "pub") || sibling == seed {
        bail!(
            "{}: the public key: sign with the secret one ({})",
            key.display(),
            key.with_extension("secret").display()
        );
    }
    let blob = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
    if let Ok(header) = runtime::signature::read_header(&blob) {
        bail!(
            "{}: a signed envelope already (model version {}): sign the model file it was made from",
            model.display(),
            header.model_version
        );
    }
    let signed = runtime::signature::SigningKey::from_seed(seed)
        .sign(&blob, version)
        .with_context(|| format!("{}: cannot sign", model.display()))?;
    let out = out.unwrap_or_else(|| model.with_extension("signed"));
    if let Some(old) = std::fs::read(&out)
        .ok()
        .and_then(|b| runtime::signature::read_header(&b).ok())
    {
        eprintln!(
            "note: {} held an envelope of model version {}: replaced",
            out.display(),
            old.model_version
        );
    }
    std::fs::write(&out, &signed).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "wrote {} ({} bytes, model version {version})",
        out.display(),
        signed.len()
    );
    Ok(ExitCode::SUCCESS)
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
