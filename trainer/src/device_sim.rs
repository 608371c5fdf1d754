//! A device on the host: the serial protocol's [`Device`] (the code a firmware runs) serving
//! a model file on a unix socket, so `trainer device --socket PATH ...` talks to it as to a
//! board or to the `serial` firmware under QEMU: push, adapt, classify, enroll, save, reboot,
//! signed updates. Its answers are the runtime's, as on the device (the same f32 operations in
//! the same order: bit for bit on a Cortex-M4F, `trainer/tests/device_qemu.rs` compares them);
//! its buffers are the host's ([`SimSizes`]), not a part's.
//!
//! Its flash is RAM ([`RamFlash`], [`FLASH_BYTES`]): it keeps saved states, banks and
//! installed updates across `Reboot`, which rebuilds the device as a firmware's boot does
//! (serving an installed update when one verifies and fits), and is lost when the program
//! stops, as the QEMU firmware's flash is at a cold boot; with a file ([`flash_file`],
//! [`Mirrored`]) every erase and write is made there too, and the next run starts from it, as a
//! part starts after a power cut.

use anyhow::{anyhow, bail, Context, Result};
use fewshot_protocol::device::{runtime_error, Device, Handler, Layout, RamFlash, Records};
use fewshot_protocol::device::{Session, Window};
use fewshot_protocol::{DeviceError, Reply, Request, MAX_OUTPUTS};
use runtime::persist::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use runtime::signature::PublicKey;
use runtime::update::MappedFlash;
use runtime::Model;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Bytes of the simulated flash: the device's records, and two model slots of
/// [`UPDATE_BYTES`].
pub const FLASH_BYTES: usize = 8 << 20;
/// The largest signed model update the simulated device takes (a whole envelope).
pub const UPDATE_BYTES: usize = 2 << 20;

/// The simulated device's buffers (the const generics of [`Device`]), far above what a
/// part holds; `trainer inspect --rust --device` sizes a firmware's.
#[derive(Debug, Clone, Copy)]
pub struct SimSizes;

impl SimSizes {
    /// Adapted parameters.
    pub const PARAMS: usize = 1 << 16;
    /// Scratch floats (adaptation, inference, the class bank's work).
    pub const SCRATCH: usize = 1 << 21;
    /// Support losses logged: the most inner steps a model asks for, and one.
    pub const LOSS_LOG: usize = runtime::MAX_STEPS as usize + 1;
    /// Support samples held at once.
    pub const K_MAX: usize = 256;
    /// Floats per input sample.
    pub const INPUTS: usize = 1 << 13;
    /// Floats of the class bank.
    pub const BANK: usize = 1 << 18;
}

/// The simulated flash chip.
pub type Chip = RamFlash<FLASH_BYTES>;
type Flash<'c> = Window<Mirrored<'c>>;

/// The chip, each erase and write also made in a file (`--flash FILE`) when there is one, so
/// that the flash outlives the program as a part's outlives a power cut.
pub struct Mirrored<'c> {
    chip: &'c mut Chip,
    file: Option<&'c File>,
}

impl Mirrored<'_> {
    /// The chip's bytes `at..at + len` into the file.
    fn mirror(&mut self, at: u32, len: usize) -> Result<(), NorFlashErrorKind> {
        let Some(file) = self.file else {
            return Ok(());
        };
        let (start, end) = (at as usize, at as usize + len);
        let bytes = self
            .chip
            .mapped()
            .get(start..end)
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        file.write_all_at(bytes, u64::from(at))
            .map_err(|_| NorFlashErrorKind::Other)
    }
}

impl ErrorType for Mirrored<'_> {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for Mirrored<'_> {
    const READ_SIZE: usize = Chip::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.chip.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.chip.capacity()
    }
}

impl NorFlash for Mirrored<'_> {
    const WRITE_SIZE: usize = Chip::WRITE_SIZE;
    const ERASE_SIZE: usize = Chip::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.chip.erase(from, to)?;
        self.mirror(from, to.saturating_sub(from) as usize)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.chip.write(offset, bytes)?;
        self.mirror(offset, bytes.len())
    }
}

/// The flash of `--flash FILE`: its bytes when the file exists (as long as the simulated
/// flash), else a new file of erased flash.
pub fn flash_file(path: &Path) -> Result<(File, Box<Chip>)> {
    let mut chip = Chip::boxed();
    let existed = path.exists();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // One device on one flash: a second simulator would overwrite the first's records.
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor this function owns; the lock goes with the file.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!(
            "{}: another device-sim keeps its flash in this file (one device, one flash)",
            path.display()
        );
    }
    if existed {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if bytes.len() != FLASH_BYTES {
            bail!(
                "{}: {} bytes, the simulated flash is {FLASH_BYTES}: a file another program wrote? (give a new path)",
                path.display(),
                bytes.len()
            );
        }
        // Programming an erased chip leaves exactly these bytes (NOR writes clear bits).
        chip.write(0, &bytes)
            .map_err(|e| anyhow!("{}: {e:?}", path.display()))?;
    } else {
        file.write_all_at(chip.mapped(), 0)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok((file, chip))
}
type SimDevice<'m, 'c> = Device<
    'm,
    Flash<'c>,
    { SimSizes::PARAMS },
    { SimSizes::SCRATCH },
    { SimSizes::LOSS_LOG },
    { SimSizes::K_MAX },
    { SimSizes::INPUTS },
    MAX_OUTPUTS,
    { SimSizes::BANK },
>;

/// What the simulated device serves: head `head` of `model`, updates signed with `key`.
pub struct Served {
    model: &'static Model<'static>,
    head: usize,
    key: PublicKey,
    layout: Layout,
    /// The most inner steps `Adapt` takes (a firmware's `MAX_STEPS`, to mirror it).
    max_steps: u16,
}

impl Served {
    /// The device takes at most `n` inner steps, as a firmware whose sizes module says
    /// `MAX_STEPS = n` (`trainer inspect --rust --max-steps n`); refused below the served
    /// head's default steps.
    pub fn with_max_steps(mut self, n: u16) -> Result<Self> {
        let default = self.model.adapt_spec(self.head).map_or(0, |a| a.steps);
        if n < default || n > runtime::MAX_STEPS {
            bail!(
                "--max-steps {n}: the head's default is {default} inner steps and the runtime takes at most {}",
                runtime::MAX_STEPS
            );
        }
        self.max_steps = n;
        Ok(self)
    }

    /// Head `head` of the model in `bytes`; refused when the head does not exist or the
    /// protocol's device cannot serve it (the error names the size at fault).
    pub fn new(bytes: &[u8], head: usize, key: PublicKey) -> Result<Self> {
        let aligned = Box::leak(Box::new(runtime::format::AlignedBytes::from_slice(bytes)));
        let bytes: &'static [u8] = aligned.as_bytes();
        let model = Model::from_bytes(bytes).map_err(|e| match signed(bytes) {
            true => anyhow!("a signed envelope, not a model file: serve the model it was signed from, and send this one with `trainer device update --envelope`"),
            false => anyhow!("not a valid model: {e}"),
        })?;
        let model: &'static Model<'static> = Box::leak(Box::new(model));
        let heads = model.heads().len();
        if head >= heads {
            let which = match heads {
                1 => "one head, --head 0".to_string(),
                n => format!("{n} heads, 0 to {}", n - 1),
            };
            bail!("--head {head}: the model has {which}");
        }
        if let Err(e) = SimDevice::check_sizes(model, head) {
            let servable: Vec<String> = (0..heads)
                .filter(|&h| SimDevice::check_sizes(model, h).is_ok())
                .map(|h| format!("--head {h}"))
                .collect();
            let hint = match servable.is_empty() {
                true => "no head of this model can be".to_string(),
                false => format!("{} can be", servable.join(", ")),
            };
            let why = match e {
                // The protocol's device is a `Learner` of the head it serves (its class bank
                // beside it): a fixed head has nothing to adapt.
                runtime::Error::HeadNotAdaptable { .. } => ": the protocol's device adapts the head it serves (and enrolls into it when it is enrollable); a fixed head's class bank runs in a firmware of your own (`ClassBank`, template/)",
                _ => "",
            };
            bail!("head {head} cannot be served over the protocol: {e}{why} ({hint})");
        }
        // Slots for the largest records the buffers hold, so that an update the buffers
        // serve fits the flash as well.
        let records = Records {
            state: SimSizes::PARAMS,
            bank: SimSizes::BANK,
            update: UPDATE_BYTES,
        };
        let layout = Layout::fitting::<Flash<'_>>(&records)
            .filter(|l| {
                l.end::<Flash<'_>>()
                    .is_some_and(|e| e as usize <= FLASH_BYTES)
            })
            .ok_or_else(|| anyhow!("the simulated device's records do not fit its flash"))?;
        Ok(Served {
            model,
            head,
            key,
            layout,
            max_steps: runtime::MAX_STEPS,
        })
    }

    /// The model served at a cold boot.
    pub fn model(&self) -> &Model<'static> {
        self.model
    }
}

/// Whether `bytes` start as a signed envelope does (`trainer sign`'s output).
fn signed(bytes: &[u8]) -> bool {
    runtime::signature::read_header(bytes).is_ok()
}

/// Serves `served` on `listener` until the program stops: one connection at a time (each
/// `trainer device` command is one), a `Reboot` rebuilding the device from its flash, `chip`
/// (erased, or [`flash_file`]'s, each change made in `file` too).
pub fn serve(
    listener: &UnixListener,
    served: &Served,
    chip: Box<Chip>,
    file: Option<&File>,
) -> Result<()> {
    let chip: &'static mut Chip = Box::leak(chip);
    let mapped = chip.as_ptr();
    let mut conn = None;
    loop {
        let mirrored = Mirrored {
            chip: &mut *chip,
            file,
        };
        // SAFETY: `mapped` is where the leaked chip's bytes stay for the rest of the program;
        // the device built on this window is their only writer until it is dropped.
        let mut flash = unsafe { Window::new(mirrored, 0, FLASH_BYTES as u32, mapped) }
            .ok_or_else(|| anyhow!("the simulated flash is not whole erase blocks"))?;
        // SAFETY: as above: a model read in place from the chip stays readable there.
        let installed =
            unsafe { SimDevice::installed(&mut flash, &served.layout, served.key, served.head) };
        let model: &'static Model<'static> = match installed {
            Ok(Some(m)) => {
                eprintln!(
                    "device-sim: boot, serving the installed update \"{}\"",
                    m.name()
                );
                Box::leak(Box::new(m))
            }
            Ok(None) => served.model,
            Err(e) => {
                eprintln!("device-sim: boot, installed update refused ({e}): the model file");
                served.model
            }
        };
        let mut slot = Box::<SimDevice<'_, '_>>::new_uninit();
        let device = SimDevice::init(
            &mut *slot,
            model,
            served.head,
            flash,
            &served.layout,
            served.key,
        )
        .map_err(|e| anyhow!("the device: {e}"))?;
        let (state, bank) = device.restore_saved();
        eprintln!(
            "device-sim: boot, saved state: {}; saved class bank: {}",
            fewshot_protocol::device::restore_outcome(&state),
            fewshot_protocol::device::restore_outcome(&bank)
        );
        let mut capped = Capped {
            device,
            max_steps: served.max_steps,
        };
        until_reboot(listener, &mut conn, &mut capped)?;
        // SAFETY: `init` initialised the slot, and `device`, its only borrow, is done.
        unsafe { slot.assume_init_drop() };
        eprintln!("device-sim: reboot (the flash stays)");
    }
}

/// The simulated device with a firmware's limit of inner steps: `Info` says it, and `Adapt`
/// past it is refused as a firmware's learner refuses it (`TooManySteps` with the limit).
struct Capped<'d, 'm, 'c> {
    device: &'d mut SimDevice<'m, 'c>,
    max_steps: u16,
}

impl Handler for Capped<'_, '_, '_> {
    fn handle(&mut self, request: &Request) -> Reply {
        let max = self.max_steps;
        match request {
            Request::Adapt { steps: Some(steps) } if *steps > max => {
                Reply::Error(DeviceError::Runtime(runtime_error(
                    &runtime::Error::TooManySteps { steps: *steps, max },
                )))
            }
            _ => match self.device.handle(request) {
                Reply::Info(mut i) => {
                    i.max_steps = i.max_steps.min(max);
                    Reply::Info(i)
                }
                r => r,
            },
        }
    }
}

/// Answers the requests of one connection after another until one asks for a reboot (its
/// reply sent; `conn` stays open for the next boot, as a serial line does).
fn until_reboot(
    listener: &UnixListener,
    conn: &mut Option<UnixStream>,
    device: &mut Capped<'_, '_, '_>,
) -> Result<()> {
    let mut session = Session::new();
    let mut buf = [0u8; 4096];
    loop {
        let stream = match conn {
            Some(s) => s,
            None => {
                let (s, _) = listener.accept().context("accepting a connection")?;
                session = Session::new(); // no half frame of another connection
                conn.insert(s)
            }
        };
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => {
                *conn = None;
                continue;
            }
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            let Some(answer) = session.feed(device, b) else {
                continue;
            };
            let reboot = answer.reboot;
            if stream.write_all(answer.frame).is_err() {
                *conn = None;
                break;
            }
            if reboot {
                return Ok(());
            }
        }
    }
}

/// The listening socket at `path`, replacing a stale socket (one nothing answers on); a live
/// one, or a file of another kind, is refused.
pub fn listen(path: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!("{}: exists and is not a socket", path.display());
        }
        if UnixStream::connect(path).is_ok() {
            bail!(
                "{}: a device serves it already (another device-sim, or QEMU): stop it, or give another --socket",
                path.display()
            );
        }
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    }
    UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))
}
