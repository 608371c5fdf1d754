//! `trainer device-sim`: a device on the host, on a unix socket (`trainer::device_sim`).

use anyhow::{bail, Context, Result};
use clap::Args;
use runtime::signature::{PublicKey, PUBLIC_KEY_LEN};
use std::path::PathBuf;
use std::process::ExitCode;
use trainer::device_sim::{flash_file, listen, serve, Chip, Served, SimSizes};
use trainer::device_sim::{FLASH_BYTES, UPDATE_BYTES};

/// Stack of the device's thread: reserved, used as touched.
const STACK_BYTES: usize = 256 << 20;

/// `trainer device-sim`'s options.
#[derive(Args)]
pub struct DeviceSimArgs {
    /// Model file to serve (`trainer train` or `trainer export` writes it).
    #[arg(long)]
    pub model: PathBuf,
    /// The head the device adapts, classifies with and (when exported with --max-classes)
    /// enrolls classes into.
    #[arg(long, default_value_t = 0)]
    pub head: usize,
    /// Unix socket to listen on (`trainer device --socket PATH` connects to it).
    #[arg(long)]
    pub socket: PathBuf,
    /// Public key model updates must be signed with (`trainer keygen`'s <out>.pub); without
    /// it every update is refused.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Keep the flash in this file: every erase and write is made there too, and a run given
    /// an existing file starts from it (saved states, banks, installed updates), as a device
    /// starts after a power cut. Without it the flash is lost when this stops.
    #[arg(long)]
    pub flash: Option<PathBuf>,
    /// The most inner steps `adapt` takes, as a firmware whose sizes module was made with
    /// `trainer inspect --rust --max-steps N` (default: the runtime's 1000).
    #[arg(long)]
    pub max_steps: Option<u16>,
}

/// `trainer device-sim`: serves until stopped (Ctrl-C).
pub fn run(a: DeviceSimArgs) -> Result<ExitCode> {
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let key = match &a.key {
        Some(path) => read_key(path)?,
        // A fresh key whose secret is dropped: no update verifies.
        None => runtime::signature::SigningKey::generate().public_key(),
    };
    let mut served =
        Served::new(&bytes, a.head, key).with_context(|| format!("{}", a.model.display()))?;
    if let Some(n) = a.max_steps {
        served = served.with_max_steps(n)?;
    }
    // The socket first: a second simulator on a socket in use is refused before it creates a
    // flash file.
    let listener = listen(&a.socket)?;
    let (file, chip) = match &a.flash {
        Some(path) => match flash_file(path) {
            Ok((file, chip)) => (Some(file), chip),
            Err(e) => {
                let _ = std::fs::remove_file(&a.socket);
                return Err(e);
            }
        },
        None => (None, Chip::boxed()),
    };
    let m = served.model();
    let kind = match m.enrollable(a.head) {
        Some(e) => format!(", enrollable up to {} classes", e.max_classes),
        None => String::new(),
    };
    eprintln!(
        "device-sim: on {3}, built in: head {0} of \"{1}\" (id {2:#010x}{kind}), served unless the flash holds an update that boots",
        a.head,
        m.name(),
        m.model_id(),
        a.socket.display()
    );
    eprintln!(
        "device-sim: buffers: {} support samples of up to {} inputs; flash {} MiB (updates up \
         to {} MiB{}), kept across `reboot`, {}",
        SimSizes::K_MAX,
        SimSizes::INPUTS,
        FLASH_BYTES >> 20,
        UPDATE_BYTES >> 20,
        match a.key {
            Some(_) => "",
            None => ", refused: no --key",
        },
        match &a.flash {
            Some(p) => format!("and in {} (Ctrl-C stops it)", p.display()),
            None => "lost when this stops (Ctrl-C; --flash FILE keeps it)".to_string(),
        }
    );
    // The device's buffers (tens of MB) are built in place, but an unoptimised build makes
    // temporaries of them on the stack: a thread with room for them.
    let device = std::thread::Builder::new()
        .name("device-sim".into())
        .stack_size(STACK_BYTES)
        .spawn(move || serve(&listener, &served, chip, file.as_ref()))
        .context("starting the device's thread")?;
    device
        .join()
        .map_err(|_| anyhow::anyhow!("the device's thread panicked"))??;
    Ok(ExitCode::SUCCESS)
}

/// A public key file: its 32 bytes.
fn read_key(path: &PathBuf) -> Result<PublicKey> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let Ok(raw) = <[u8; PUBLIC_KEY_LEN]>::try_from(bytes.as_slice()) else {
        bail!(
            "{}: {} bytes, a public key is {PUBLIC_KEY_LEN} (`trainer keygen`'s <out>.pub, not \
             the .secret)",
            path.display(),
            bytes.len()
        );
    };
    // keygen's two files are 32 bytes each: the secret seed is told by the public key it makes.
    let public = runtime::signature::SigningKey::from_seed(raw).public_key();
    let sibling = std::fs::read(path.with_extension("pub")).unwrap_or_default();
    if path.extension().is_some_and(|e| e == "secret") || sibling == public.as_bytes() {
        bail!(
            "{}: the secret key (its public key is {}): give the device the public one",
            path.display(),
            path.with_extension("pub").display()
        );
    }
    Ok(PublicKey::from_bytes(raw))
}
