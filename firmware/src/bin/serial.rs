//! The device side of the serial protocol (`fewshot-protocol`) on the machine's UART (`uart`): reads bytes, answers
//! each request frame with a reply frame, forever. It serves the 5-way prototype head of the
//! multi-head fixture, enrollable up to 8 classes (sizes from `trainer inspect --rust --device`,
//! `src/serial_sizes.rs`), or the model and sizes `FEWSHOT_SERIAL_MODEL` and
//! `FEWSHOT_SERIAL_SIZES` name at build time (`build.rs`, `fixtures::SERIAL_MODEL`), keeps its saved state, class bank and signed model updates on the
//! simulated NOR flash (`nor.rs`, in the layout `Layout::fitting` makes for the model's
//! records, `sizes::RECORDS`), and resets the
//! core on `Reboot`: the flash lives through that reset, as a real part's flash lives through a
//! power cycle. A cold boot (no handover word) erases the flash first (factory state). At boot
//! it runs the signed update installed in the model slots, if any (read in place from the
//! flash, as a part's memory-mapped flash is; the device refuses an update into that slot until
//! the next reboot), else its built-in model; an update whose sizes do not fit this firmware's
//! buffers is logged and the built-in model runs.
#![no_std]
#![no_main]

#[cfg(not(any(feature = "mps2", target_arch = "riscv32")))]
compile_error!("the serial firmware needs the machine's UART: the feature `mps2` on the Cortex-M");

use fewshot_firmware::entry;
use fewshot_firmware::fixtures::SERIAL_MODEL;
use fewshot_firmware::measure::{stack_size, StackWatch};
use fewshot_firmware::nor::{handover, set_handover, Handover, NoinitNor, NOR_SIZE};
use fewshot_firmware::serial_device::{start, SerialDevice, Statics};
use fewshot_firmware::serial_sizes as sizes;
use fewshot_firmware::uart::Uart;
use fewshot_firmware::{self as fw};
use fewshot_protocol::device::{Layout, Session};
use fewshot_protocol::Reply;
use fewshot_runtime::persist::nor_flash::NorFlash;
use fewshot_runtime::signature::PublicKey;
use fewshot_runtime::Model;
use static_cell::StaticCell;

// A model that needs a runtime feature this build lacks (`--features conv`, ...) fails the
// build here, not at boot.
const _: () = sizes::check_features();

/// The key model updates must be signed with (the public test key of the fixtures).
static KEY: PublicKey = PublicKey::from_bytes(*include_bytes!("../../fixtures/test-signing.pub"));
/// The handover stage that marks the flash as this firmware's (kept across `Reboot`).
const SERIAL_STAGE: u32 = 4;

type Serial<'m> = SerialDevice<'m, NoinitNor>;

/// The flash, erased on a cold boot and kept after `Reboot`.
fn flash() -> Option<NoinitNor> {
    let mut nor = NoinitNor::take()?;
    let h = handover();
    if h.magic == Handover::MAGIC && h.stage == SERIAL_STAGE {
        defmt::info!("serial: warm boot, flash kept");
        return Some(nor);
    }
    nor.erase(0, NOR_SIZE as u32).ok()?;
    set_handover(Handover {
        magic: Handover::MAGIC,
        stage: SERIAL_STAGE,
        predictions: [0; 16],
        count: 0,
    });
    defmt::info!("serial: cold boot, flash erased");
    Some(nor)
}

/// Where the device keeps its records on the simulated flash: the layout made for the served
/// model's (a build error when a size overflows, or when they need more than `NOR_SIZE`).
const LAYOUT: Layout =
    Layout::fitting::<NoinitNor>(&sizes::RECORDS).expect("flash layout overflows");
const _: () = match LAYOUT.end::<NoinitNor>() {
    Some(n) if n as usize <= NOR_SIZE => {}
    _ => panic!("the model's records need more flash than the simulated NOR holds (nor.rs)"),
};

/// The RAM of the part this firmware stands for (QEMU's machine has more).
const RAM_BUDGET: usize = 64 * 1024;
/// Stack the firmware needs besides its statics: it peaks at about 14.2 KB serving (the
/// model's loader, the session's frames, inference) and 18.8 KB in a session that verifies a
/// signed model update (Ed25519), logged at each reboot (`device_qemu_user.rs` checks it).
const STACK_NEEDED: usize = 20 * 1024;
/// The device and the served model are statics: with the stack they fit the part's RAM, or
/// the build fails here.
const _: () = assert!(
    size_of::<Serial<'static>>()
        + size_of::<Model<'static>>()
        + STACK_NEEDED
        <= RAM_BUDGET,
    "the device needs more than the 64 KiB of RAM (the learner, class bank and support buffer `trainer inspect --rust --device` lists, the model and 20 KiB of stack): a smaller --k or fewer classes (export --max-classes)"
);

/// The model served: the installed update or the built-in one.
static MODEL: StaticCell<Model<'static>> = StaticCell::new();
/// The device, built in place (`Device::init`): its learner, class bank and support buffer
/// are statics, which the linker checks against the RAM, not values on the stack.
static DEVICE: StaticCell<Serial<'static>> = StaticCell::new();

#[entry]
fn main() -> ! {
    let stack = StackWatch::paint();
    fw::init("serial");
    let Some(nor) = flash() else {
        defmt::error!("serial: no flash");
        fw::finish(1)
    };
    let built_in = match Model::from_bytes(SERIAL_MODEL) {
        Ok(m) => m,
        Err(e) => {
            defmt::error!("serial: model: {}", e);
            fw::finish(1)
        }
    };
    let statics = Statics {
        served: MODEL.uninit(),
        device: DEVICE.uninit(),
    };
    let refused = |e| {
        defmt::warn!(
            "serial: installed model refused, running the built-in one: {}",
            e
        )
    };
    let restored = |state: &Reply, bank: &Reply| {
        defmt::info!(
            "serial: at boot, saved state: {}; saved bank: {}",
            fewshot_protocol::device::restore_outcome(state),
            fewshot_protocol::device::restore_outcome(bank)
        )
    };
    // SAFETY: the NOR's bytes are a static region (`nor.rs`), and the device is its only
    // writer from here on.
    let started = unsafe { start(nor, &LAYOUT, KEY, built_in, statics, refused, restored) };
    let (model, device) = match started {
        Ok(started) => started,
        Err(e) => {
            defmt::error!("serial: device: {}", e);
            fw::finish(1)
        }
    };
    // SAFETY: the only handle to UART0 in this firmware.
    let mut uart = unsafe { Uart::uart0() };
    let mut session = Session::new();
    defmt::info!("serial: serving {=str} on UART0", model.name());
    session.serve(device, &mut uart);
    let peak = stack.peak();
    defmt::info!(
        "serial: reboot; stack peak {=u32} of {=u32} bytes",
        peak,
        stack_size()
    );
    if peak as usize > STACK_NEEDED {
        // The compile-time RAM check assumed less: a part with only the budget would overflow.
        defmt::warn!(
            "serial: the stack peaked above the {=usize} bytes the RAM check allows",
            STACK_NEEDED
        );
    }
    fewshot_firmware::reset()
}
