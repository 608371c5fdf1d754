//! The device side of the serial protocol (`fewshot-protocol`) on UART0: reads bytes, answers
//! each request frame with a reply frame, forever. It serves the 5-way prototype head of the
//! multi-head fixture, enrollable up to 8 classes (sizes from `trainer inspect --rust --device`,
//! `src/serial_sizes.rs`), or the model and sizes `FEWSHOT_SERIAL_MODEL` and
//! `FEWSHOT_SERIAL_SIZES` name at build time (`build.rs`, `fixtures::SERIAL_MODEL`), keeps its saved state, class bank and signed model updates on the
//! simulated NOR flash (`nor.rs`, 40 KiB: `Layout::SMALL` with the bank), and resets the
//! core on `Reboot`: the flash lives through that reset, as a real part's flash lives through a
//! power cycle. A cold boot (no handover word) erases the flash first (factory state). At boot
//! it runs the signed update installed in the model slots, if any (copied into RAM, since the
//! device owns the flash), else its built-in model; an update whose sizes do not fit this
//! firmware's buffers is logged and the built-in model runs.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use fewshot_firmware::fixtures::SERIAL_MODEL;
use fewshot_firmware::nor::{handover, set_handover, Handover, NoinitNor, NOR_SIZE};
use fewshot_firmware::serial_device::SerialDevice;
use fewshot_firmware::serial_sizes as sizes;
use fewshot_firmware::uart::Uart;
use fewshot_firmware::{self as fw};
use fewshot_protocol::device::{Device, Layout, Session};
use fewshot_runtime::persist::nor_flash::NorFlash;
use fewshot_runtime::signature::PublicKey;
use fewshot_runtime::Model;

/// The key model updates must be signed with (the public test key of the fixtures).
static KEY: PublicKey = PublicKey::from_bytes(*include_bytes!("../../fixtures/test-signing.pub"));
/// The handover stage that marks the flash as this firmware's (kept across `Reboot`).
const SERIAL_STAGE: u32 = 4;
/// UART clock divisor (QEMU ignores it; a 25 MHz board at 115 200 baud would use 217).
const BAUDDIV: u32 = 217;

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

/// Words of RAM for a copy of the installed model: a whole model slot.
const MODEL_RAM_WORDS: usize = Layout::SMALL.model_slot as usize / 4;

#[entry]
fn main() -> ! {
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
    let mut nor = nor;
    let mut ram = [0u32; MODEL_RAM_WORDS];
    let installed = Serial::installed(&mut nor, &Layout::SMALL, KEY, &mut ram, sizes::HEAD)
        .unwrap_or_else(|e| {
            defmt::warn!(
                "serial: installed model refused, running the built-in one: {}",
                e
            );
            None
        });
    let model = installed.as_ref().unwrap_or(&built_in);
    // Borrowed where it was made: moving it out of the `Result` would copy the whole device
    // (its support buffer, learner and bank) into a second place on the stack.
    let mut made: Result<Serial<'_>, _> = Device::new(model, sizes::HEAD, nor, &Layout::SMALL, KEY);
    let device = match &mut made {
        Ok(d) => d,
        Err(e) => {
            defmt::error!("serial: device: {}", e);
            fw::finish(1)
        }
    };
    // SAFETY: the only handle to UART0 in this firmware.
    let mut uart = unsafe { Uart::uart0(BAUDDIV) };
    let mut session = Session::new();
    defmt::info!("serial: serving {=str} on UART0", model.name());
    session.serve(device, &mut uart);
    defmt::info!("serial: reboot");
    cortex_m::peripheral::SCB::sys_reset()
}
