//! A signed model update across a real reset of the core: the first boot installs
//! `fixtures/update-v1.signed` (an update of the multi-head model signed as model version 1), then updates
//! to `fixtures/update-v2.signed` in 256-byte chunks into the other slot of the
//! (RAM-simulated, see `nor.rs`) NOR flash, and resets the core with `fewshot_firmware::reset()`; the
//! second boot must run version 2 from the second slot, with the floor at 2, and refuse the
//! validly signed version 1 (anti-rollback). Logs the boot's cost in instructions (two
//! signature checks).
#![no_std]
#![no_main]

use fewshot_firmware::entry;
use fewshot_firmware::nor::{
    clear_handover, hand_over_and_reset, handover, Handover, NoinitNor, NOR_SIZE,
};
use fewshot_firmware::{self as fw, measure, Checks};
use fewshot_runtime::persist::nor_flash::NorFlash;
use fewshot_runtime::signature::{PublicKey, ENVELOPE_HEADER_LEN};
use fewshot_runtime::update::{Active, ModelSlots};
use fewshot_runtime::{Error, Model};

static V1: &[u8] = fewshot_runtime::include_model!("../fixtures/update-v1.signed");
static V2: &[u8] = fewshot_runtime::include_model!("../fixtures/update-v2.signed");
/// The key a firmware trusts: compiled in.
static KEY: PublicKey = PublicKey::from_bytes(*include_bytes!("../fixtures/test-signing.pub"));

/// Model slots: one 4 KiB erase block each (a 3.5 KB envelope), at 0 and 4096; the version
/// floor's two records at 8192 and 12288.
const SLOT: u32 = 4096;
const FLOOR_AT: u32 = 2 * SLOT;
/// Bytes per chunk, as a transport would deliver them.
const CHUNK: usize = 256;

fn install(slots: &ModelSlots, nor: &mut NoinitNor, envelope: &[u8]) -> Result<Active, Error> {
    let mut update = slots.begin(nor, envelope.len() as u32)?;
    for (i, chunk) in envelope.chunks(CHUNK).enumerate() {
        slots.write_chunk(nor, &mut update, (i * CHUNK) as u32, chunk)?;
    }
    slots.finish(nor, update)
}

fn first_boot(mut c: Checks, slots: &ModelSlots, nor: &mut NoinitNor) -> ! {
    defmt::info!("boot 1: cold start");
    c.check(
        nor.erase(0, NOR_SIZE as u32).is_ok(),
        "the simulated flash erases (factory state)",
    );
    c.check(
        slots.active(nor) == Err(Error::NoValidModel),
        "an erased flash has no model",
    );
    let one = install(slots, nor, V1);
    c.check(
        matches!(one, Ok(a) if a.model_version == 1 && a.slot == 0),
        "version 1 installs into slot 0",
    );
    match install(slots, nor, V2) {
        Ok(a) => {
            defmt::info!(
                "installed version {=u32} in slot {=u8}",
                a.model_version,
                a.slot
            );
            c.check(
                a.model_version == 2 && a.slot == 1,
                "version 2 goes to slot 1",
            );
        }
        Err(e) => {
            defmt::error!("update: {}", e);
            c.check(false, "version 2 installs");
        }
    }
    let h = Handover {
        magic: Handover::MAGIC,
        stage: 3,
        predictions: [0; 16],
        count: 0,
    };
    hand_over_and_reset(c, h)
}

fn second_boot(c: &mut Checks, slots: &ModelSlots, nor: &mut NoinitNor) {
    defmt::info!("boot 2: after the reset");
    clear_handover();
    let (active, insns) = measure::instructions(|| slots.active(nor));
    defmt::info!(
        "boot: active() over two {=usize}-byte envelopes: {=u32} instructions",
        V2.len(),
        insns
    );
    let Ok(active) = active else {
        c.check(false, "a model is active after the reset");
        return;
    };
    c.check(
        active.model_version == 2 && active.slot == 1,
        "version 2 (slot 1) runs after the reset",
    );
    c.check(slots.floor(nor) == Ok(2), "the floor is 2");
    let signed = V2.get(ENVELOPE_HEADER_LEN..).unwrap_or(&[]);
    let same = match (slots.model(nor, &active), Model::from_bytes(signed)) {
        (Ok(m), Ok(plain)) => m.crc() == plain.crc() && m.heads().len() == plain.heads().len(),
        _ => false,
    };
    c.check(same, "the model in slot 1 loads in place");
    for (envelope, offered, what) in [
        (V1, 1, "the validly signed version 1 is refused (rollback)"),
        (V2, 2, "re-installing version 2 is refused"),
    ] {
        let refused = install(slots, nor, envelope);
        c.check(refused == Err(Error::Rollback { offered, floor: 2 }), what);
    }
    c.check(
        matches!(slots.active(nor), Ok(a) if a.model_version == 2),
        "version 2 still runs",
    );
}

#[entry]
fn main() -> ! {
    fw::init("update_reset");
    let mut c = Checks::new();
    measure::start();
    let Some(mut nor) = NoinitNor::take() else {
        c.check(false, "the simulated flash");
        c.finish()
    };
    let Ok(slots) = ModelSlots::new(&nor, 0, SLOT, FLOOR_AT, KEY) else {
        c.check(false, "two 4 KiB model slots and the floor fit the flash");
        c.finish()
    };
    let h = handover();
    if h.magic == Handover::MAGIC && h.stage == 3 {
        second_boot(&mut c, &slots, &mut nor);
        c.finish()
    }
    first_boot(c, &slots, &mut nor)
}
