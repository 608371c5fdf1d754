//! Classes added on the device survive a real reset of the core: the first boot enrolls three
//! classes from 5 samples each into the class bank of an enrollable head (`bench-enroll.fsm`),
//! classifies, relabels one, forgets another, saves the bank to the (RAM-simulated, see
//! `nor.rs`) NOR flash, hands its answers over in `.uninit` RAM and resets the core with
//! `fewshot_firmware::reset()`; the second boot restores the bank and must answer exactly the same
//! (labels and probability bits), over the active classes only.
#![no_std]
#![no_main]

use fewshot_firmware::entry;
use fewshot_firmware::fixtures::BENCH_ENROLL;
use fewshot_firmware::nor::{
    clear_handover, hand_over_and_reset, handover, Handover, NoinitNor, NOR_SIZE,
};
use fewshot_firmware::{self as fw, Checks};
use fewshot_runtime::persist::nor_flash::NorFlash;
use fewshot_runtime::persist::Slots;
use fewshot_runtime::{ClassBank, Error, Model};

/// Each slot: two 4 KiB erase blocks (a 16-class bank of 64 features is a 4 444-byte record).
const SLOT: u32 = 8192;
const D: usize = 64;

/// The fixture's bank: 16 classes x (4 + 64 + 1) floats, scratch to classify and enroll.
type Bank<'m> = ClassBank<'m, 1104, 208>;

/// Sample `i` of class `c`: a bright quarter of the image (which one: `c`) plus noise.
fn sample(c: u16, i: u32, x: &mut [f32]) {
    let mut seed = 0x9e37_79b9u32 ^ (u32::from(c) << 16) ^ i;
    for (j, v) in x.iter_mut().enumerate() {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let bright = if j / 16 == usize::from(c) % 4 {
            1.0
        } else {
            0.0
        };
        *v = bright + 0.3 * (seed >> 8) as f32 / (1u32 << 24) as f32;
    }
}

/// The bank's answers for one fresh sample of each class 0..4: (label, probability bits).
fn answers(bank: &mut Bank<'_>, out: &mut [u32; 16]) -> bool {
    let mut x = [0.0f32; D];
    for c in 0..4u16 {
        sample(c, 99, &mut x);
        let Ok((label, p)) = bank.classify(&x) else {
            return false;
        };
        out[2 * usize::from(c)] = u32::from(label);
        out[2 * usize::from(c) + 1] = p.to_bits();
    }
    true
}

fn first_boot(mut c: Checks, model: &Model<'_>, nor: &mut NoinitNor) -> ! {
    defmt::info!("boot 1: cold start");
    c.check(
        nor.erase(0, NOR_SIZE as u32).is_ok(),
        "the simulated flash erases (factory state)",
    );
    let (Ok(slots), Ok(mut bank)) = (Slots::new(nor, 0, SLOT), Bank::new(model, 0)) else {
        c.check(false, "slots and a bank for the enrollable head");
        c.finish()
    };
    let mut five = [0.0f32; 5 * D];
    for (label, class) in [(100u16, 0u16), (200, 1), (300, 2)] {
        for (i, x) in five.chunks_exact_mut(D).enumerate() {
            sample(class, i as u32, x);
        }
        c.check(
            bank.enroll(label, &five).is_ok(),
            "enrolls a class from 5 samples",
        );
    }
    let mut x = [0.0f32; D];
    sample(1, 50, &mut x);
    c.check(
        bank.classify(&x).map(|(l, _)| l) == Ok(200),
        "a fresh sample of the second class is label 200",
    );
    c.check(
        bank.enroll(200, &five) == Err(Error::DuplicateLabel { label: 200 }),
        "an active label is refused",
    );
    c.check(bank.relabel(100, 7).is_ok(), "relabels 100 as 7");
    c.check(bank.forget(300).is_ok(), "forgets 300");
    sample(2, 50, &mut x);
    c.check(
        bank.classify(&x).is_ok_and(|(l, _)| l == 7 || l == 200),
        "a forgotten class's sample goes to an active one",
    );
    let saved = slots.save_bank(nor, &bank);
    if let Ok(info) = saved {
        defmt::info!(
            "saved the bank: sequence {=u32} in slot {=u8}",
            info.sequence,
            info.slot
        );
    }
    c.check(saved.is_ok(), "saves the bank");
    let mut h = Handover {
        magic: Handover::MAGIC,
        stage: 2,
        predictions: [0; 16],
        count: 8,
    };
    c.check(answers(&mut bank, &mut h.predictions), "classifies");
    defmt::info!(
        "boot 1: labels {=u32} {=u32} {=u32} {=u32}",
        h.predictions[0],
        h.predictions[2],
        h.predictions[4],
        h.predictions[6]
    );
    hand_over_and_reset(c, h)
}

fn second_boot(c: &mut Checks, model: &Model<'_>, nor: &mut NoinitNor, h: &Handover) {
    defmt::info!("boot 2: after the reset");
    clear_handover();
    let (Ok(slots), Ok(mut bank)) = (Slots::new(nor, 0, SLOT), Bank::new(model, 0)) else {
        c.check(false, "slots and a bank for the enrollable head");
        return;
    };
    c.check(bank.is_empty(), "a new bank is empty");
    match slots.restore_bank(nor, &mut bank) {
        Ok(info) => defmt::info!("restored the bank: sequence {=u32}", info.sequence),
        Err(e) => {
            defmt::error!("restore: {}", e);
            c.check(false, "restores");
        }
    }
    let mut labels = [0u16; 2];
    for (l, got) in labels.iter_mut().zip(bank.labels()) {
        *l = got;
    }
    c.check(
        bank.len() == 2 && labels == [7, 200],
        "the active classes are 7 and 200",
    );
    let mut now = [0u32; 16];
    c.check(answers(&mut bank, &mut now), "classifies");
    defmt::info!(
        "boot 2: labels {=u32} {=u32} {=u32} {=u32}",
        now[0],
        now[2],
        now[4],
        now[6]
    );
    c.check(
        now == h.predictions,
        "labels and probabilities after the reset equal those before, bit for bit",
    );
}

#[entry]
fn main() -> ! {
    fw::init("enroll_reset");
    let mut c = Checks::new();
    let Ok(model) = Model::from_bytes(BENCH_ENROLL) else {
        c.check(false, "the enrollable fixture loads");
        c.finish()
    };
    let Some(mut nor) = NoinitNor::take() else {
        c.check(false, "the simulated flash");
        c.finish()
    };
    let h = handover();
    if h.magic == Handover::MAGIC && h.stage == 2 {
        second_boot(&mut c, &model, &mut nor, &h);
        c.finish()
    }
    first_boot(c, &model, &mut nor)
}
