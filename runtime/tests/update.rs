//! Signed model updates into the second flash slot, with anti-rollback: a power cut at every
//! flash operation of an update (and of the boot after it) leaves the old or the new model to
//! run, never none, and never a version below the highest that ran; a replayed older model is
//! refused, also after a cut; a tampered chunk is refused and the old model stays active.

mod common;

use common::sim_flash::{tears, SimFlash};
use common::{random_model, Rng};
use fewshot_runtime::signature::{SigningKey, ENVELOPE_HEADER_LEN};
use fewshot_runtime::update::{Active, MappedFlash, ModelSlots};
use fewshot_runtime::{Activation, Error, Model};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

const SLOT: u32 = 8192;
const CHUNK: usize = 128;

fn key() -> SigningKey {
    SigningKey::from_seed([0x5a; 32])
}

/// The signed envelope of a small random model (a distinct one per `version`), made once.
fn envelope(version: u32) -> Vec<u8> {
    static MADE: OnceLock<Mutex<HashMap<u32, Vec<u8>>>> = OnceLock::new();
    let made = MADE.get_or_init(Default::default);
    let mut made = made.lock().expect("not poisoned");
    made.entry(version)
        .or_insert_with(|| {
            let mut rng = Rng(1000 + u64::from(version));
            let blob = random_model(
                &mut rng,
                4,
                &[(24, Activation::Relu)],
                &[(2, Activation::Identity)],
                false,
                None,
            )
            .to_bytes()
            .expect("valid");
            key().sign(&blob, version).expect("signs")
        })
        .clone()
}

/// Model slots at 0, the floor's records after them.
fn layout<F: MappedFlash>(flash: &F) -> ModelSlots {
    ModelSlots::new(flash, 0, SLOT, 2 * SLOT, key().public_key()).expect("layout")
}

fn flash_len<const E: usize>() -> usize {
    2 * SLOT as usize + 2 * E
}

/// begin, the chunks in order, finish: the first error, if any.
fn install<F: MappedFlash>(slots: &ModelSlots, flash: &mut F, env: &[u8]) -> Result<Active, Error> {
    let mut update = slots.begin(flash, env.len() as u32)?;
    for (i, chunk) in env.chunks(CHUNK).enumerate() {
        slots.write_chunk(flash, &mut update, (i * CHUNK) as u32, chunk)?;
    }
    slots.finish(flash, update)
}

/// What runs after a reboot: its version, checked against the model in its slot and the floor.
fn boot<const W: usize, const E: usize>(flash: &mut SimFlash<W, E>, slots: &ModelSlots) -> u32 {
    flash.reboot(None, 1);
    let active = slots.active(flash).expect("a model runs after every cut");
    let crc = slots.model(flash, &active).expect("loads").crc();
    let env = envelope(active.model_version);
    let blob = fewshot_runtime::format::AlignedBytes::from_slice(&env[ENVELOPE_HEADER_LEN..]);
    assert_eq!(crc, Model::from_bytes(&blob).expect("loads").crc());
    assert_eq!(slots.floor(flash).expect("floor"), active.model_version);
    active.model_version
}

fn copy<const W: usize, const E: usize>(flash: &SimFlash<W, E>) -> SimFlash<W, E> {
    SimFlash {
        mem: flash.mem.clone(),
        ..SimFlash::new(0)
    }
}

/// Flash operations `f` makes on a copy of `flash` (no cut).
fn ops<const W: usize, const E: usize>(
    flash: &SimFlash<W, E>,
    f: impl FnOnce(&mut SimFlash<W, E>),
) -> usize {
    let mut clean = copy(flash);
    clean.reboot(None, 7);
    f(&mut clean);
    assert_eq!(clean.rewrites, 0, "a byte was written without an erase");
    clean.ops
}

/// After a cut: a boot that is itself cut at every operation it makes (raising the floor), then
/// a clean boot; returns the version that runs.
fn boot_through_cuts<const W: usize, const E: usize>(
    flash: &mut SimFlash<W, E>,
    slots: &ModelSlots,
) -> u32 {
    let n = ops(flash, |f| {
        slots.active(f).expect("boots");
    });
    let clean = boot(&mut copy(flash), slots);
    for op in 0..n {
        for tear in tears(W) {
            let mut f = copy(flash);
            f.reboot(Some((op, tear)), op as u64);
            assert!(slots.active(&mut f).is_err(), "a cut boot reported success");
            assert_eq!(boot(&mut f, slots), clean, "cut at boot op {op} ({tear:?})");
        }
    }
    boot(flash, slots)
}

/// Installs `new` over a flash running `old`, cutting the power at every operation with every
/// tear. Returns (cut points, of which old ran, of which new ran).
fn cut_everywhere<const W: usize, const E: usize>(
    flash: &SimFlash<W, E>,
    slots: &ModelSlots,
    old: u32,
    new: u32,
) -> (usize, usize, usize) {
    let n = ops(flash, |f| {
        install(slots, f, &envelope(new)).expect("a clean update");
    });
    let (mut points, mut old_seen, mut new_seen) = (0, 0, 0);
    for op in 0..n {
        for tear in tears(W) {
            let mut f = copy(flash);
            f.reboot(Some((op, tear)), (op as u64) << 8 | points as u64);
            assert!(install(slots, &mut f, &envelope(new)).is_err());
            assert_eq!(f.rewrites, 0);
            let ran = boot_through_cuts(&mut f, slots);
            points += 1;
            match ran {
                v if v == old => old_seen += 1,
                v if v == new => new_seen += 1,
                v => panic!("cut at op {op}/{n} ({tear:?}): version {v} runs"),
            }
            // A replay of anything not newer than what ran is refused, and changes nothing.
            for replay in [old - 1, old, new].into_iter().filter(|&v| v <= ran) {
                assert_eq!(
                    install(slots, &mut f, &envelope(replay)),
                    Err(Error::Rollback {
                        offered: replay,
                        floor: ran
                    }),
                    "replay of {replay} after a cut at op {op}"
                );
                assert_eq!(boot(&mut f, slots), ran);
            }
            // The device goes on: the next update installs and runs.
            install(slots, &mut f, &envelope(new + 1)).expect("update after the cut");
            assert_eq!(boot(&mut f, slots), new + 1);
        }
    }
    (points, old_seen, new_seen)
}

/// Versions 1..=3 installed one after the other, each with a cut at every operation, on one
/// flash geometry.
fn scenario<const W: usize, const E: usize>() -> usize {
    let mut flash = SimFlash::<W, E>::new(flash_len::<E>());
    let slots = layout(&flash);
    install(&slots, &mut flash, &envelope(1)).expect("first install");
    assert_eq!(boot(&mut flash, &slots), 1);
    let mut total = 0;
    for new in 2..=3 {
        let (points, old, fresh) = cut_everywhere(&flash, &slots, new - 1, new);
        assert_eq!(points, old + fresh);
        assert!(
            old > 0 && fresh > 0,
            "version {new}: old {old}, new {fresh}"
        );
        total += points;
        install(&slots, &mut flash, &envelope(new)).expect("update");
        assert_eq!(boot(&mut flash, &slots), new);
    }
    total
}

#[test]
fn every_power_cut_of_an_update_leaves_the_old_or_the_new_model() {
    let a = scenario::<4, 1024>();
    let b = scenario::<16, 2048>();
    let c = scenario::<1, 4096>();
    let d = scenario::<8, 8192>();
    let total = a + b + c + d;
    // The figure quoted in the README.
    println!("update power-cut points tested: {total} (W=4: {a}, W=16: {b}, W=1: {c}, W=8: {d})");
    assert!(total > 600, "{total}");
}

/// A flash running version 1, then 2.
fn running_two() -> (SimFlash<4, 1024>, ModelSlots) {
    let mut flash = SimFlash::<4, 1024>::new(flash_len::<1024>());
    let slots = layout(&flash);
    assert_eq!(slots.active(&mut flash), Err(Error::NoValidModel));
    assert_eq!(slots.floor(&mut flash), Ok(0));
    install(&slots, &mut flash, &envelope(1)).expect("install 1");
    let two = install(&slots, &mut flash, &envelope(2)).expect("install 2");
    assert_eq!((two.slot, two.model_version), (1, 2));
    assert_eq!(boot(&mut flash, &slots), 2);
    (flash, slots)
}

#[test]
fn a_tampered_chunk_is_refused_and_the_old_model_stays_active() {
    let (flash, slots) = running_two();
    let good = envelope(3);
    // A flipped bit in the signature, the signed version, the blob's header, weights, CRC.
    for at in [
        20,
        12,
        ENVELOPE_HEADER_LEN + 3,
        good.len() / 2,
        good.len() - 1,
    ] {
        let mut f = copy(&flash);
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        let err = install(&slots, &mut f, &bad).unwrap_err();
        assert_eq!(err, Error::BadSignature, "flip at {at}");
        assert_eq!(boot(&mut f, &slots), 2, "flip at {at}");
        install(&slots, &mut f, &good).expect("the untampered update");
        assert_eq!(boot(&mut f, &slots), 3);
    }
    // Another key.
    let mut f = copy(&flash);
    let blob = &good[ENVELOPE_HEADER_LEN..];
    let forged = SigningKey::from_seed([1; 32]).sign(blob, 9).expect("signs");
    assert_eq!(install(&slots, &mut f, &forged), Err(Error::BadSignature));
    assert_eq!(boot(&mut f, &slots), 2);
}

#[test]
fn chunks_must_come_in_order_and_complete() {
    let (mut flash, slots) = running_two();
    let env = envelope(3);
    let mut update = slots.begin(&mut flash, env.len() as u32).expect("begin");
    assert_eq!(update.slot(), 0);
    assert_eq!(
        slots.write_chunk(&mut flash, &mut update, 128, &env[128..256]),
        Err(Error::ChunkOutOfOrder {
            expected: 0,
            offset: 128
        })
    );
    slots
        .write_chunk(&mut flash, &mut update, 0, &env[..128])
        .expect("first chunk");
    assert!(matches!(
        slots.write_chunk(&mut flash, &mut update, 128, &env[128..131]),
        Err(Error::FlashLayout { .. })
    ));
    let mut past = env[128..].to_vec();
    past.extend_from_slice(&[0; 8]);
    assert!(matches!(
        slots.write_chunk(&mut flash, &mut update, 128, &past),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(update.written(), 128);
    assert_eq!(
        slots.finish(&mut flash, update),
        Err(Error::UpdateIncomplete {
            written: 128,
            len: env.len() as u32
        })
    );
    assert_eq!(boot(&mut flash, &slots), 2);
    // A length that disagrees with the header, a slot too small, a header-less length.
    let mut update = slots
        .begin(&mut flash, env.len() as u32 + 4)
        .expect("begin");
    assert!(matches!(
        slots.write_chunk(&mut flash, &mut update, 0, &env[..128]),
        Err(Error::BadEnvelope { .. })
    ));
    assert!(matches!(
        slots.begin(&mut flash, SLOT + 1),
        Err(Error::Capacity { .. })
    ));
    assert!(matches!(
        slots.begin(&mut flash, 40),
        Err(Error::BadEnvelope { .. })
    ));
    assert_eq!(boot(&mut flash, &slots), 2);
}

#[test]
fn replays_and_version_1_envelopes_are_refused() {
    let (mut flash, slots) = running_two();
    // Replays, including the running version; refused at the first chunk (the header) and,
    // with a header split over chunks, at finish.
    for replay in [1, 2] {
        let env = envelope(replay);
        let err = install(&slots, &mut flash, &env).unwrap_err();
        assert_eq!(
            err,
            Error::Rollback {
                offered: replay,
                floor: 2
            }
        );
        let mut update = slots.begin(&mut flash, env.len() as u32).expect("begin");
        for (i, chunk) in env.chunks(8).enumerate() {
            slots
                .write_chunk(&mut flash, &mut update, 8 * i as u32, chunk)
                .expect("small chunks");
        }
        assert_eq!(slots.finish(&mut flash, update), Err(err));
        assert_eq!(boot(&mut flash, &slots), 2);
    }
    // A version 1 envelope of a newer model.
    let blob = &envelope(5)[ENVELOPE_HEADER_LEN..];
    let mut v1 = b"FSSG".to_vec();
    v1.extend_from_slice(&1u16.to_le_bytes());
    v1.extend_from_slice(&1u16.to_le_bytes());
    v1.extend_from_slice(&(blob.len() as u32).to_le_bytes());
    v1.extend_from_slice(&key().sign_detached(blob));
    v1.extend_from_slice(blob);
    v1.resize(v1.len().next_multiple_of(4), 0);
    assert_eq!(
        install(&slots, &mut flash, &v1),
        Err(Error::UnsupportedEnvelope { found: 1 })
    );
    assert_eq!(boot(&mut flash, &slots), 2);
}

#[test]
fn a_newer_model_found_at_boot_raises_the_floor() {
    // Power lost after the last chunk, before finish: the boot accepts the model (its
    // signature verifies and it is newer) and raises the floor, so the older one cannot return.
    let (mut flash, slots) = running_two();
    let env = envelope(3);
    let mut update = slots.begin(&mut flash, env.len() as u32).expect("begin");
    slots
        .write_chunk(&mut flash, &mut update, 0, &env)
        .expect("all at once");
    assert_eq!(slots.floor(&mut flash), Ok(2));
    assert_eq!(boot(&mut flash, &slots), 3);
    assert_eq!(slots.floor(&mut flash), Ok(3));
    assert!(matches!(
        install(&slots, &mut flash, &envelope(2)),
        Err(Error::Rollback {
            offered: 2,
            floor: 3
        })
    ));
    // Both floor records destroyed (not a power cut): the floor reads 0, the newest slot runs.
    flash.mem[2 * SLOT as usize..].fill(0xff);
    assert_eq!(boot(&mut flash, &slots), 3);
}

/// begin_keeping, the chunks in order, finish, keeping the bytes of `served`.
fn install_keeping<F: MappedFlash>(
    slots: &ModelSlots,
    flash: &mut F,
    env: &[u8],
    served: &Model<'_>,
) -> Result<Active, Error> {
    let mut update = slots.begin_keeping(flash, env.len() as u32, served.bytes())?;
    for (i, chunk) in env.chunks(CHUNK).enumerate() {
        slots.write_chunk(flash, &mut update, (i * CHUNK) as u32, chunk)?;
    }
    slots.finish(flash, update)
}

#[test]
fn a_model_served_in_place_keeps_its_slot_until_the_reboot() {
    // The flash lives as long as the program (as a part's memory-mapped flash does).
    let flash: &'static mut SimFlash<4, 1024> = Box::leak(Box::new(running_two().0));
    let slots = layout(flash);
    let active = slots.active(flash).expect("version 2 runs");
    // SAFETY: the flash is leaked (its bytes stay put); every update below keeps the model's.
    let served = unsafe { slots.model_in_place(&*flash, &active) }.expect("loads in place");
    let blob = |v: u32| envelope(v)[ENVELOPE_HEADER_LEN..].to_vec();
    assert_eq!(served.bytes(), blob(2));
    let at = flash.mapped().as_ptr() as usize + active.slot as usize * SLOT as usize;
    assert_eq!(served.bytes().as_ptr() as usize, at + ENVELOPE_HEADER_LEN);
    // Version 3 goes into the other slot; version 4 would erase the served one: refused before
    // anything is erased, and the served model reads the same bytes.
    let three = install_keeping(&slots, flash, &envelope(3), &served).expect("installs");
    assert_ne!(three.slot, active.slot);
    let ops = flash.ops;
    assert_eq!(
        install_keeping(&slots, flash, &envelope(4), &served),
        Err(Error::SlotInUse { slot: active.slot })
    );
    assert_eq!(flash.ops, ops, "nothing erased or written");
    assert_eq!(served.bytes(), blob(2));
    assert_eq!(
        Error::SlotInUse { slot: 1 }.to_string(),
        "model slot 1 holds the served model: reboot first (the installed update is served \
         after it)"
    );
    // After the reboot version 3 is served, from its slot, and version 4 installs.
    let active = slots.active(flash).expect("version 3 runs");
    // SAFETY: as above.
    let served = unsafe { slots.model_in_place(&*flash, &active) }.expect("loads in place");
    assert_eq!(
        (active.model_version, served.bytes()),
        (3, blob(3).as_slice())
    );
    let four = install_keeping(&slots, flash, &envelope(4), &served).expect("installs");
    assert_eq!(four.slot, 1 - active.slot);
    // A model served from elsewhere (RAM, the program's flash) never stops an update.
    let ram = fewshot_runtime::format::AlignedBytes::from_slice(&blob(1));
    let built_in = Model::from_bytes(&ram).expect("loads");
    install_keeping(&slots, flash, &envelope(5), &built_in).expect("installs");
    install_keeping(&slots, flash, &envelope(6), &built_in).expect("installs");
    assert_eq!(boot(flash, &slots), 6);
}

#[test]
fn the_layout_is_checked() {
    let flash = SimFlash::<4, 1024>::new(flash_len::<1024>());
    let public = key().public_key();
    for (models, size, floor) in [
        (0, SLOT, SLOT),            // the floor inside the second model slot
        (0, SLOT, 2 * SLOT - 1024), // overlapping by one block
        (0, 1000, 2 * SLOT),        // not whole erase blocks
        (0, SLOT, 2 * SLOT + 1024), // the floor's second record past the end
        (512, SLOT, 2 * SLOT),      // misaligned
    ] {
        assert!(
            matches!(
                ModelSlots::new(&flash, models, size, floor, public),
                Err(Error::FlashLayout { .. })
            ),
            "{models} {size} {floor}"
        );
    }
}
