//! Persistent adapted state under power cuts: a RAM-backed NOR flash that loses power at every
//! erase and every write of a save (the operation not done, done in part, or leaving garbage
//! bits as NOR does), and, for every cut point, a restore that yields the complete old state or
//! the complete new one, bit for bit.

mod common;

use common::sim_flash::{tears, SimFlash, Tear};
use common::{adapt_def, random_model, Rng};
use fewshot_runtime::persist::{Slots, HEADER_LEN, RECORD_MAGIC};
use fewshot_runtime::writer::{ModelDef, RateDef};
use fewshot_runtime::{Activation, AdaptScope, AdaptState, Error, Model};

/// A real-sized model: 1-40-40-1, every parameter adapted (1761 floats, a 7 KiB record).
fn sinusoid(seed: u64) -> ModelDef {
    let mut rng = Rng(seed);
    random_model(
        &mut rng,
        1,
        &[(40, Activation::Relu), (40, Activation::Relu)],
        &[(1, Activation::Identity)],
        false,
        Some(adapt_def(AdaptScope::Everything, RateDef::Scalar(0.01))),
    )
}

type State = AdaptState<2048>;

/// Distinct adapted states: the meta-learned values shifted by `tag`.
fn state_with(model: &Model<'_>, tag: f32) -> State {
    let mut s = State::new(model, 0).expect("fits");
    let p: Vec<f32> = s.params().iter().map(|v| v + tag * 1.0e-3).collect();
    s.set_params(model, &p).expect("finite");
    s
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// What a restore after a reboot finds.
#[derive(Debug, PartialEq)]
enum Found {
    Nothing,
    Params(Vec<u32>),
}

fn restore<const W: usize, const E: usize>(
    flash: &mut SimFlash<W, E>,
    slots: &Slots,
    model: &Model<'_>,
) -> Found {
    flash.reboot(None, 1);
    let mut state = State::new(model, 0).expect("fits");
    let meta = bits(state.params());
    match slots.restore(flash, model, &mut state) {
        Ok(_) => Found::Params(bits(state.params())),
        Err(Error::NoSavedState) => {
            assert_eq!(
                bits(state.params()),
                meta,
                "a failed restore changed the state"
            );
            Found::Nothing
        }
        Err(e) => panic!("restore failed with {e}"),
    }
}

/// Saves `next` over a flash holding `before` (`None`: nothing saved yet), cutting the power at
/// every operation of the save with every tear; after each cut the restore must find exactly
/// the old or the new state. Returns (cut points, of which old, of which new).
fn cut_everywhere<const W: usize, const E: usize>(
    flash: &SimFlash<W, E>,
    slots: &Slots,
    model: &Model<'_>,
    before: &Found,
    next: &State,
) -> (usize, usize, usize) {
    // A clean run first: how many operations a save makes.
    let mut clean = SimFlash::<W, E> {
        mem: flash.mem.clone(),
        ..SimFlash::new(0)
    };
    clean.reboot(None, 7);
    slots
        .save(&mut clean, model, next)
        .expect("a save without cut");
    let ops = clean.ops;
    assert_eq!(
        clean.rewrites, 0,
        "the save wrote a byte that was not erased"
    );
    let new = Found::Params(bits(next.params()));
    assert_eq!(restore(&mut clean, slots, model), new);

    let (mut points, mut old_seen, mut new_seen) = (0, 0, 0);
    for op in 0..ops {
        for tear in tears(W) {
            let mut f = SimFlash::<W, E> {
                mem: flash.mem.clone(),
                ..SimFlash::new(0)
            };
            f.reboot(Some((op, tear)), (op as u64) << 8 | points as u64);
            assert!(
                slots.save(&mut f, model, next).is_err(),
                "a save that lost power at op {op} reported success"
            );
            assert_eq!(f.rewrites, 0);
            let found = restore(&mut f, slots, model);
            points += 1;
            if &found == before {
                old_seen += 1;
            } else if found == new {
                new_seen += 1;
            } else {
                panic!("cut at op {op}/{ops} ({tear:?}): restore found neither the old nor the new state");
            }
            // The device goes on: the next save after the cut completes and wins.
            f.reboot(None, 3);
            let after = state_with(model, 99.0);
            slots
                .save(&mut f, model, &after)
                .expect("save after the cut");
            assert_eq!(f.rewrites, 0);
            assert_eq!(
                restore(&mut f, slots, model),
                Found::Params(bits(after.params()))
            );
        }
    }
    (points, old_seen, new_seen)
}

/// Every cut point of a sequence of saves (first save on blank flash, then saves alternating
/// between the slots, then a save after a torn one), for one flash geometry.
fn scenario<const W: usize, const E: usize>(slot_size: u32) -> usize {
    let blob = sinusoid(11).to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let mut flash = SimFlash::<W, E>::new(4 * slot_size as usize);
    // The region starts one slot in, to test a non-zero offset.
    let slots = Slots::new(&flash, slot_size, slot_size).expect("layout");
    let mut total = 0;
    let mut before = Found::Nothing;
    for round in 0..4 {
        let next = state_with(&model, round as f32 + 1.0);
        let (points, old, new) = cut_everywhere(&flash, &slots, &model, &before, &next);
        assert_eq!(points, old + new);
        assert!(old > 0 && new > 0, "round {round}: old {old}, new {new}");
        total += points;
        if round == 2 {
            // Leave a torn record behind (cut in the middle of the parameters).
            flash.reboot(Some((5, Tear::Garbage(11))), 5);
            assert!(slots
                .save(&mut flash, &model, &state_with(&model, 50.0))
                .is_err());
            assert_eq!(restore(&mut flash, &slots, &model), before);
        } else {
            flash.reboot(None, 9);
            slots.save(&mut flash, &model, &next).expect("save");
            before = Found::Params(bits(next.params()));
            assert_eq!(restore(&mut flash, &slots, &model), before);
        }
    }
    total
}

#[test]
fn every_power_cut_leaves_the_old_or_the_new_state() {
    let a = scenario::<4, 1024>(8192);
    let b = scenario::<16, 2048>(8192);
    let c = scenario::<1, 4096>(8192);
    let d = scenario::<8, 8192>(8192);
    let total = a + b + c + d;
    // The figure quoted in the README.
    println!("power-cut points tested: {total} (W=4: {a}, W=16: {b}, W=1: {c}, W=8: {d})");
    assert!(total > 2000, "{total}");
}

#[test]
fn state_for_another_model_or_head_is_refused() {
    let blob = sinusoid(11).to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let other_blob = sinusoid(12).to_aligned_bytes().expect("valid");
    let other = Model::from_bytes(&other_blob).expect("loads");
    let mut flash = SimFlash::<4, 1024>::new(16384);
    let slots = Slots::new(&flash, 0, 8192).expect("layout");
    let saved = state_with(&model, 1.0);
    slots.save(&mut flash, &model, &saved).expect("save");

    let mut state = State::new(&other, 0).expect("fits");
    let before = bits(state.params());
    let err = slots.restore(&mut flash, &other, &mut state).unwrap_err();
    assert_eq!(err, Error::SavedStateMismatch { what: "model" });
    assert_eq!(bits(state.params()), before);

    // Saving a state with the wrong model is refused before anything is erased.
    let snapshot = flash.mem.clone();
    assert_eq!(
        slots.save(&mut flash, &other, &saved).unwrap_err(),
        Error::StateMismatch
    );
    assert_eq!(flash.mem, snapshot);

    // Too small a buffer for `load`, too small a slot.
    let mut buf = vec![0.0f32; 2048];
    assert!(matches!(
        slots.load(&mut flash, &model, 0, &mut buf[..10]),
        Err(Error::BufferTooSmall { .. })
    ));
    let (_, n) = slots.load(&mut flash, &model, 0, &mut buf).expect("load");
    assert_eq!(bits(&buf[..n]), bits(saved.params()));
    // The slot a state of this model needs, in whole erase blocks: its record fits, one erase
    // block less does not.
    let slot = Slots::slot_len::<SimFlash<4, 1024>>(saved.params().len()).expect("fits u32");
    let record = Slots::record_len::<SimFlash<4, 1024>>(saved.params().len()).unwrap();
    assert!(slot as usize >= record && slot as usize - record < 1024 && slot.is_multiple_of(1024));
    let exact = Slots::new(&flash, 0, slot).expect("layout");
    exact
        .save(&mut flash, &model, &saved)
        .expect("a state fits its slot_len");
    assert!(Slots::new(&flash, 0, slot - 1024)
        .unwrap()
        .save(&mut flash, &model, &saved)
        .is_err());
    assert_eq!(Slots::slot_len::<SimFlash<4, 1024>>(usize::MAX / 2), None);
    let small = Slots::new(&flash, 0, 1024).expect("layout");
    assert!(matches!(
        small.save(&mut flash, &model, &saved),
        Err(Error::Capacity {
            what: "flash slot",
            ..
        })
    ));
    // A region that does not fit the device's geometry.
    for (offset, size) in [(0, 1000), (512, 1024), (0, 16384), (u32::MAX - 1023, 1024)] {
        assert!(matches!(
            Slots::new(&flash, offset, size),
            Err(Error::FlashLayout { .. })
        ));
    }
}

#[test]
fn a_head_restores_only_its_own_record() {
    let mut rng = Rng(3);
    let def = random_model(
        &mut rng,
        4,
        &[(8, Activation::Tanh)],
        &[(3, Activation::Identity)],
        true,
        Some(adapt_def(AdaptScope::HeadOnly, RateDef::Scalar(0.1))),
    );
    let mut second = def.heads[0].clone();
    second.id = 8;
    let def = def.head(second);
    let blob = def.to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let mut flash = SimFlash::<4, 1024>::new(8192);
    let h0 = Slots::for_head(&flash, 0, 1024, 0).expect("layout");
    let h1 = Slots::for_head(&flash, 0, 1024, 1).expect("layout");
    assert_ne!(h0, h1);
    let mut s0: AdaptState<64> = AdaptState::new(&model, 0).expect("fits");
    let mut s1: AdaptState<64> = AdaptState::new(&model, 1).expect("fits");
    let p0: Vec<f32> = s0.params().iter().map(|v| v + 0.5).collect();
    let p1: Vec<f32> = s1.params().iter().map(|v| v - 0.5).collect();
    s0.set_params(&model, &p0).expect("finite");
    s1.set_params(&model, &p1).expect("finite");
    h0.save(&mut flash, &model, &s0).expect("save");
    h1.save(&mut flash, &model, &s1).expect("save");
    let mut r0: AdaptState<64> = AdaptState::new(&model, 0).expect("fits");
    let mut r1: AdaptState<64> = AdaptState::new(&model, 1).expect("fits");
    h0.restore(&mut flash, &model, &mut r0).expect("head 0");
    h1.restore(&mut flash, &model, &mut r1).expect("head 1");
    assert_eq!(bits(r0.params()), bits(&p0));
    assert_eq!(bits(r1.params()), bits(&p1));
    // Head 1's state from head 0's slots: refused, unchanged.
    let before = bits(r1.params());
    assert_eq!(
        h0.restore(&mut flash, &model, &mut r1).unwrap_err(),
        Error::SavedStateMismatch { what: "head" }
    );
    assert_eq!(bits(r1.params()), before);
}

#[test]
fn a_corrupted_newest_record_falls_back_to_the_older_one() {
    let blob = sinusoid(11).to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let mut flash = SimFlash::<4, 1024>::new(16384);
    let slots = Slots::new(&flash, 0, 8192).expect("layout");
    let old = state_with(&model, 1.0);
    let new = state_with(&model, 2.0);
    slots.save(&mut flash, &model, &old).expect("save");
    let info = slots.save(&mut flash, &model, &new).expect("save");
    assert_eq!((info.slot, info.sequence), (1, 2));
    let record = 8192 + HEADER_LEN + 4 * 1761 + 4;
    assert_eq!(&flash.mem[8192..8196], &RECORD_MAGIC);
    // Every single-bit flip of the newest record (sampled every 7 bytes): the older wins.
    let pristine = flash.mem.clone();
    let mut flips = 0;
    for at in (8192..record).step_by(7) {
        for bit in [0, 5] {
            flash.mem.copy_from_slice(&pristine);
            flash.mem[at] ^= 1 << bit;
            let found = restore(&mut flash, &slots, &model);
            assert_eq!(found, Found::Params(bits(old.params())), "flip at {at}");
            flips += 1;
        }
    }
    assert!(flips > 2000);
    // A whole record (its CRC holds) with a NaN parameter: refused, the state unchanged.
    flash.mem.copy_from_slice(&pristine);
    let at = 8192 + HEADER_LEN + 4 * 17;
    flash.mem[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let crc = fewshot_runtime::format::CRC.checksum(&flash.mem[8192..8192 + HEADER_LEN + 4 * 1761]);
    flash.mem[record - 4..record].copy_from_slice(&crc.to_le_bytes());
    let mut state = State::new(&model, 0).expect("fits");
    let before = bits(state.params());
    assert_eq!(
        slots.restore(&mut flash, &model, &mut state),
        Err(Error::NonFinite {
            what: "saved parameter",
            sample: 17
        })
    );
    assert_eq!(bits(state.params()), before);
    // Both slots erased: nothing to restore, and the state stays meta-learned.
    flash.mem.fill(0xff);
    assert_eq!(restore(&mut flash, &slots, &model), Found::Nothing);
}

#[test]
fn restore_in_place_never_keeps_values_the_flash_changed_under_it() {
    let blob = sinusoid(12).to_aligned_bytes().expect("valid");
    let model = Model::from_bytes(&blob).expect("loads");
    let mut flash = SimFlash::<4, 1024>::new(16384);
    let slots = Slots::new(&flash, 0, 8192).expect("layout");
    let saved = state_with(&model, 3.0);
    slots.save(&mut flash, &model, &saved).expect("save");
    let meta = bits(State::new(&model, 0).expect("fits").params());
    // A parameter byte is read three times by a restore: the record's CRC check, the
    // finiteness check, then the copy into the state. A change before the n-th read:
    // n = 0 or 1: the record no longer checks out: refused, the state untouched;
    // n = 2: the copy fails its second CRC check: the state goes back to the meta-learned values.
    let param_byte = HEADER_LEN + 4 * 100 + 2;
    let pristine = flash.mem.clone();
    for n in 0..3 {
        flash.mem.copy_from_slice(&pristine);
        flash.flip_on_read = Some((param_byte, n));
        let mut state = state_with(&model, 5.0);
        let before = bits(state.params());
        assert_eq!(
            slots.restore(&mut flash, &model, &mut state),
            Err(Error::NoSavedState),
            "change before read {n}"
        );
        let want = if n < 2 { &before } else { &meta };
        assert_eq!(&bits(state.params()), want, "change before read {n}");
        assert!(
            flash.flip_on_read.is_none(),
            "the byte was read {n} times only"
        );
    }
    // Untouched flash: restored exactly.
    flash.mem.copy_from_slice(&pristine);
    let mut state = State::new(&model, 0).expect("fits");
    slots
        .restore(&mut flash, &model, &mut state)
        .expect("restore");
    assert_eq!(bits(state.params()), bits(saved.params()));
}
