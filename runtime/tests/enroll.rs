//! Classes added on the device ([`ClassBank`]): enrollment to capacity, the full-bank and label
//! errors (each leaving the bank as it was), forget and relabel, classification over the active
//! classes only, inner steps with replay, the bank without scratch ([`BankState`]) in a lent one, the format v4 field's validation, and the bank on
//! flash under a power cut at every operation of a save.

mod common;

use common::sim_flash::{tears, SimFlash};
use common::{dense, Rng};
use fewshot_runtime::enroll::{BankState, ClassBank, SLOT_HEADER};
use fewshot_runtime::persist::Slots;
use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use fewshot_runtime::{Activation, AdaptScope, Error, Model};

const D: usize = 4;
const MAX: u16 = 6;
/// 6 classes x (4 + 4 + 1).
type Bank<'m> = ClassBank<'m, 54, 256>;

/// Input 4 -> trunk 4 (tanh) -> a 3-class head that holds up to 6 classes, prototype scale 2.
fn model_def(max: u16) -> ModelDef {
    let mut rng = Rng(5);
    let trunk = dense(&mut rng, D, D, Activation::Tanh);
    let adapt =
        AdaptDef::new(AdaptScope::HeadOnly, 2, RateDef::Scalar(0.1), 10.0).with_prototypes(2.0);
    let head =
        HeadDef::classification(3, "bank", vec![dense(&mut rng, D, 3, Activation::Identity)])
            .with_adapt(adapt)
            .with_max_classes(max);
    ModelDef::new("enroll", D).trunk(trunk).head(head)
}

/// K samples of class `c`: a corner of the input cube, jittered.
fn samples(rng: &mut Rng, c: u16, k: usize) -> Vec<f32> {
    (0..k * D)
        .map(|i| if (i % D) == usize::from(c) % D { 1.5 } else { -0.5 } * if c >= 4 { -1.0 } else { 1.0 } + rng.range(-0.1, 0.1))
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn enrolls_to_capacity_then_refuses_and_classifies_by_label() {
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    assert_eq!(blob.as_bytes()[4], 4, "an enrollable head is format v4");
    let model = Model::from_bytes(&blob).unwrap();
    assert_eq!(Bank::bank_len(&model, 0).unwrap(), 54);
    let mut bank = Bank::new(&model, 0).unwrap();
    assert!(bank.is_empty());
    assert_eq!(bank.classify(&[0.0; D]), Err(Error::NoClassEnrolled));
    let mut rng = Rng(1);
    let labels = [1000u16, 7, 65535, 0, 42, 9];
    for (c, &label) in labels.iter().enumerate() {
        bank.enroll(label, &samples(&mut rng, c as u16, 5)).unwrap();
    }
    assert_eq!(bank.len(), 6);
    assert_eq!(bank.labels().collect::<Vec<_>>(), labels);
    // Full: refused, bank unchanged.
    let before = bits(bank.as_slice());
    let err = bank.enroll(5, &samples(&mut rng, 0, 5)).unwrap_err();
    assert_eq!(
        err,
        Error::Capacity {
            what: "class bank (classes)",
            needed: 7,
            available: 6
        }
    );
    assert_eq!(bits(bank.as_slice()), before);
    // Every class's fresh samples come back under its label.
    for (c, &label) in labels.iter().enumerate() {
        let x = samples(&mut rng, c as u16, 1);
        let (got, p) = bank.classify(&x).unwrap();
        assert_eq!(got, label, "class {c}");
        assert!(p > 1.0 / 6.0 && p <= 1.0, "{p}");
    }
}

#[test]
fn label_errors_leave_the_bank_unchanged() {
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut bank = Bank::new(&model, 0).unwrap();
    let mut rng = Rng(2);
    bank.enroll(1, &samples(&mut rng, 0, 3)).unwrap();
    bank.enroll(2, &samples(&mut rng, 1, 3)).unwrap();
    let before = bits(bank.as_slice());
    assert_eq!(
        bank.enroll(2, &samples(&mut rng, 2, 3)),
        Err(Error::DuplicateLabel { label: 2 })
    );
    assert_eq!(bank.forget(3), Err(Error::UnknownLabel { label: 3 }));
    assert_eq!(bank.relabel(3, 4), Err(Error::UnknownLabel { label: 3 }));
    assert_eq!(bank.relabel(1, 2), Err(Error::DuplicateLabel { label: 2 }));
    assert!(matches!(
        bank.enroll(3, &[0.0; D + 1]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        bank.enroll(3, &[]),
        Err(Error::LengthMismatch { .. })
    ));
    let mut bad = samples(&mut rng, 2, 2);
    bad[D + 1] = f32::NAN;
    // The error names the sample (the second), not the first.
    assert!(matches!(
        bank.enroll(3, &bad),
        Err(Error::NonFinite { sample: 1, .. })
    ));
    assert!(matches!(
        bank.classify(&[0.0; D - 1]),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(bits(bank.as_slice()), before);
    // Steps need the scratch for K samples and a copy of the bank: 256 floats hold K = 5 only.
    let need = Bank::scratch_len(&model, 0, 50, 1).unwrap();
    assert_eq!(
        bank.enroll_steps(3, &samples(&mut rng, 2, 50), 1, 0.1),
        Err(Error::Capacity {
            what: "class bank scratch (S)",
            needed: need,
            available: 256
        })
    );
    assert!(matches!(
        bank.enroll_steps(3, &samples(&mut rng, 2, 5), 1, f32::NAN),
        Err(Error::NonFinite { .. })
    ));
    assert_eq!(bits(bank.as_slice()), before);
    assert_eq!(bank.relabel(1, 1), Ok(()));
    assert_eq!(bits(bank.as_slice()), before);
}

#[test]
fn forget_and_relabel_change_what_classify_returns() {
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut bank = Bank::new(&model, 0).unwrap();
    let mut rng = Rng(3);
    for c in 0..3u16 {
        bank.enroll(10 + c, &samples(&mut rng, c, 4)).unwrap();
    }
    let x0 = samples(&mut rng, 0, 1);
    assert_eq!(bank.classify(&x0).unwrap().0, 10);
    bank.relabel(10, 500).unwrap();
    assert_eq!(bank.classify(&x0).unwrap().0, 500);
    // Forgotten: only the active classes are scored, so x0 goes to another one.
    bank.forget(500).unwrap();
    let (label, _) = bank.classify(&x0).unwrap();
    assert!(label == 11 || label == 12, "{label}");
    assert_eq!(bank.len(), 2);
    // Its slot is reused, and the label is free again.
    assert_eq!(bank.enroll(10, &samples(&mut rng, 0, 4)).unwrap(), 0);
    assert_eq!(bank.classify(&x0).unwrap().0, 10);
}

#[test]
fn the_prototype_start_is_the_mean_feature() {
    // Identity trunk (no trunk layer), scale 2: W = 4 mu, b = -2 |mu|^2.
    let adapt =
        AdaptDef::new(AdaptScope::HeadOnly, 1, RateDef::Scalar(0.1), 10.0).with_prototypes(2.0);
    let head = HeadDef::classification(0, "h", vec![Dense::zeros(2, 2, Activation::Identity)])
        .with_adapt(adapt.clone())
        .with_max_classes(2);
    let blob = ModelDef::new("id", 2)
        .head(head)
        .to_aligned_bytes()
        .unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut bank: ClassBank<'_, 14, 16> = ClassBank::new(&model, 0).unwrap();
    bank.enroll(3, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    // Label, flag, 2 samples, their scatter (1, 2) and (3, 4) about (2, 3): 4; the row.
    assert_eq!(
        bank.as_slice()[..7],
        [3.0, 1.0, 2.0, 4.0, 8.0, 12.0, -2.0 * (4.0 + 9.0)]
    );
    // The exported classes as the bank's start, but for rows of zeros (placeholders: this
    // head starts from prototypes): none here, class 1 of a head whose row 1 is set.
    let bank: ClassBank<'_, 14, 16> = ClassBank::from_head(&model, 0).unwrap();
    assert_eq!(bank.labels().count(), 0);
    let set = Dense::new(
        2,
        2,
        Activation::Identity,
        vec![0.0, 0.0, 0.5, 0.0],
        vec![0.0; 2],
    );
    let head = HeadDef::classification(0, "h", vec![set])
        .with_adapt(adapt)
        .with_max_classes(2);
    let blob = ModelDef::new("id", 2)
        .head(head)
        .to_aligned_bytes()
        .unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let bank: ClassBank<'_, 14, 16> = ClassBank::from_head(&model, 0).unwrap();
    assert_eq!(bank.labels().collect::<Vec<_>>(), [1]);
}

#[test]
fn replay_steps_keep_the_other_classes() {
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut with: ClassBank<'_, 54, 256> = Bank::new(&model, 0).unwrap();
    let mut rng = Rng(4);
    let sets: Vec<Vec<f32>> = (0..6u16).map(|c| samples(&mut rng, c, 5)).collect();
    for (c, s) in sets.iter().enumerate() {
        with.enroll_steps(c as u16, s, 5, 0.5).unwrap();
    }
    assert!(with.as_slice().iter().all(|v| v.is_finite()));
    for c in 0..6u16 {
        assert_eq!(with.classify(&samples(&mut rng, c, 1)).unwrap().0, c);
    }
    // The rows moved (the steps ran), unlike a bank enrolled without steps.
    let mut plain: ClassBank<'_, 54, 256> = Bank::new(&model, 0).unwrap();
    for (c, s) in sets.iter().enumerate() {
        plain.enroll(c as u16, s).unwrap();
    }
    assert_ne!(bits(plain.as_slice()), bits(with.as_slice()));
    // Steps that overflow are undone: the bank is as before and the label not enrolled (no
    // trunk here: a tanh trunk bounds the features).
    let adapt =
        AdaptDef::new(AdaptScope::HeadOnly, 1, RateDef::Scalar(0.1), 10.0).with_prototypes(2.0);
    let head = HeadDef::classification(0, "h", vec![Dense::zeros(D, 2, Activation::Identity)])
        .with_adapt(adapt)
        .with_max_classes(MAX);
    let blob = ModelDef::new("id", D)
        .head(head)
        .to_aligned_bytes()
        .unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut bank = Bank::new(&model, 0).unwrap();
    for c in 0..3u16 {
        bank.enroll(c, &samples(&mut rng, c, 5)).unwrap();
    }
    let before = bits(bank.as_slice());
    let large = vec![1.0e18f32; 5 * D];
    let r = bank.enroll_steps(5, &large, 3, f32::MAX);
    assert!(
        matches!(
            r,
            Err(Error::NonFinite {
                what: "class bank after steps",
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(bits(bank.as_slice()), before);
    // Without steps the same class enrolls.
    bank.enroll(5, &large).unwrap();
}

#[test]
fn a_bank_in_a_lent_scratch_gives_the_own_scratch_bits() {
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut own = Bank::new(&model, 0).unwrap();
    let mut lent: BankState<'_, 54> = BankState::new(&model, 0).unwrap();
    let mut scratch = vec![0.0f32; 256];
    let mut rng = Rng(9);
    for c in 0..4u16 {
        let s = samples(&mut rng, c, 5);
        own.enroll_steps(c, &s, c % 2, 0.5).unwrap();
        lent.enroll_steps(c, &s, c % 2, 0.5, &mut scratch).unwrap();
    }
    assert_eq!(bits(own.as_slice()), bits(lent.as_slice()));
    let q = samples(&mut rng, 2, 1);
    assert_eq!(
        own.score(&q).unwrap(),
        lent.score(&q, &mut scratch).unwrap()
    );
    // A scratch too short for the call is refused, saying what it needs; nothing changes.
    let needed = BankState::<54>::scratch_len(&model, 0, 5, 2).unwrap();
    let before = bits(lent.as_slice());
    let r = lent.enroll_steps(
        9,
        &samples(&mut rng, 1, 5),
        2,
        0.5,
        &mut scratch[..needed - 1],
    );
    assert_eq!(
        r,
        Err(Error::BufferTooSmall {
            what: "class bank scratch",
            needed,
            provided: needed - 1,
        })
    );
    let classify = BankState::<54>::scratch_len(&model, 0, 0, 0).unwrap();
    let r = lent.classify(&q, &mut scratch[..classify - 1]);
    assert!(matches!(r, Err(Error::BufferTooSmall { .. })), "{r:?}");
    assert_eq!(bits(lent.as_slice()), before);
    // The same bank saved from one and restored into the other.
    let mut flash = SimFlash::<4, 256>::new(2048);
    let slots = Slots::new(&flash, 512, 512).unwrap();
    slots.save_bank(&mut flash, &own).unwrap();
    let mut back: BankState<'_, 54> = BankState::new(&model, 0).unwrap();
    slots.restore_bank(&mut flash, &mut back).unwrap();
    assert_eq!(bits(back.as_slice()), bits(own.as_slice()));
}

#[test]
fn the_enrollable_field_is_validated_at_load() {
    // Fewer than the head's classes, above the cap, a regression head, two layers.
    for max in [2, fewshot_runtime::format::MAX_ENROLL_CLASSES + 1] {
        assert_eq!(
            model_def(max).to_bytes().unwrap_err(),
            Error::InvalidHeader {
                field: "enrollable.max_classes"
            }
        );
    }
    let mut rng = Rng(6);
    let reg = HeadDef::regression(0, "r", vec![dense(&mut rng, D, 1, Activation::Identity)])
        .with_max_classes(4);
    let two = HeadDef::classification(
        1,
        "two",
        vec![
            dense(&mut rng, D, 3, Activation::Relu),
            dense(&mut rng, 3, 2, Activation::Identity),
        ],
    )
    .with_max_classes(4);
    for head in [reg, two] {
        let def = ModelDef::new("bad", D).head(head);
        assert_eq!(
            def.to_bytes().unwrap_err(),
            Error::InvalidHeader {
                field: "enrollable.head"
            }
        );
    }
    // Not enrollable: no bank; a v3 encoding of an enrollable model is refused.
    let plain = ModelDef::new("plain", D).head(HeadDef::classification(
        0,
        "c",
        vec![dense(&mut rng, D, 2, Activation::Identity)],
    ));
    let blob = plain.to_aligned_bytes().unwrap();
    assert_eq!(blob.as_bytes()[4], 3);
    let model = Model::from_bytes(&blob).unwrap();
    assert_eq!(
        Bank::new(&model, 0).unwrap_err(),
        Error::NotEnrollable { head: 0 }
    );
    assert_eq!(
        Bank::new(&model, 1).unwrap_err(),
        Error::NoSuchHead { head: 1 }
    );
    assert_eq!(
        model_def(MAX).to_bytes_as(3).unwrap_err(),
        Error::UnsupportedVersion { found: 3 }
    );
    // The round trip keeps the field.
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let again = ModelDef::from_model(&model).unwrap().to_bytes().unwrap();
    assert_eq!(again, blob.as_bytes());
    // Sizes made for another model are refused at `new`.
    assert!(matches!(
        ClassBank::<'_, 53, 256>::new(&model, 0),
        Err(Error::Capacity { needed: 54, .. })
    ));
    assert!(matches!(
        ClassBank::<'_, 54, 8>::new(&model, 0),
        Err(Error::Capacity { .. })
    ));
}

/// What a restore after a reboot finds: nothing, or the bank's floats.
fn restored<const W: usize, const E: usize>(
    flash: &mut SimFlash<W, E>,
    slots: &Slots,
    model: &Model<'_>,
) -> Option<Vec<u32>> {
    flash.reboot(None, 1);
    let mut bank = Bank::new(model, 0).unwrap();
    match slots.restore_bank(flash, &mut bank) {
        Ok(_) => Some(bits(bank.as_slice())),
        Err(Error::NoSavedState) => {
            assert!(bank.is_empty(), "a failed restore changed the bank");
            None
        }
        Err(e) => panic!("restore failed with {e}"),
    }
}

#[test]
fn every_power_cut_restores_the_old_or_the_new_bank() {
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut flash = SimFlash::<4, 256>::new(2048);
    let slots = Slots::new(&flash, 512, 512).unwrap();
    let mut bank = Bank::new(&model, 0).unwrap();
    let mut rng = Rng(8);
    let mut old: Option<Vec<u32>> = None;
    let mut points = 0;
    // Each round changes the bank (enroll, relabel, forget) and saves it with a cut at every
    // erase and write, with every tear.
    for round in 0..4u16 {
        match round {
            2 => bank.relabel(0, 77).unwrap(),
            3 => bank.forget(1).unwrap(),
            _ => {
                bank.enroll(round, &samples(&mut rng, round, 3)).unwrap();
            }
        }
        let new = Some(bits(bank.as_slice()));
        let mut clean = SimFlash::<4, 256> {
            mem: flash.mem.clone(),
            ..SimFlash::new(0)
        };
        clean.reboot(None, 7);
        slots.save_bank(&mut clean, &bank).unwrap();
        let ops = clean.ops;
        assert_eq!(restored(&mut clean, &slots, &model), new);
        let (mut old_seen, mut new_seen) = (0, 0);
        for op in 0..ops {
            for tear in tears(4) {
                let mut f = SimFlash::<4, 256> {
                    mem: flash.mem.clone(),
                    ..SimFlash::new(0)
                };
                f.reboot(Some((op, tear)), (op as u64) << 8 | points as u64);
                assert!(slots.save_bank(&mut f, &bank).is_err());
                assert_eq!(f.rewrites, 0);
                let found = restored(&mut f, &slots, &model);
                if found == old {
                    old_seen += 1;
                } else if found == new {
                    new_seen += 1;
                } else {
                    panic!("round {round}, cut at op {op}/{ops} ({tear:?}): a mix of banks");
                }
                points += 1;
            }
        }
        assert!(
            old_seen > 0 && new_seen > 0,
            "round {round}: {old_seen} / {new_seen}"
        );
        flash.reboot(None, 9);
        slots.save_bank(&mut flash, &bank).unwrap();
        old = new;
    }
    // The restored bank classifies as the saved one.
    let mut again = Bank::new(&model, 0).unwrap();
    slots.restore_bank(&mut flash, &mut again).unwrap();
    let x = samples(&mut rng, 2, 1);
    assert_eq!(again.classify(&x).unwrap(), bank.classify(&x).unwrap());
    println!("bank power-cut points tested: {points}");
    assert!(points > 80, "{points}");
}

#[test]
fn a_bank_record_is_checked_before_it_is_used() {
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let other_blob = model_def(MAX + 1).to_aligned_bytes().unwrap();
    let other = Model::from_bytes(&other_blob).unwrap();
    let mut flash = SimFlash::<4, 256>::new(1024);
    let slots = Slots::new(&flash, 0, 512).unwrap();
    let mut bank = Bank::new(&model, 0).unwrap();
    let mut rng = Rng(9);
    bank.enroll(4, &samples(&mut rng, 0, 3)).unwrap();
    bank.enroll(5, &samples(&mut rng, 1, 3)).unwrap();
    slots.save_bank(&mut flash, &bank).unwrap();
    // Another model's bank: refused, untouched.
    let mut theirs: ClassBank<'_, 63, 256> = ClassBank::new(&other, 0).unwrap();
    assert_eq!(
        slots.restore_bank(&mut flash, &mut theirs).unwrap_err(),
        Error::SavedStateMismatch { what: "model" }
    );
    assert!(theirs.is_empty());
    // Records whose CRC holds but whose values the bank refuses (a foreign writer): a label
    // active twice, a label that is not a whole u16, a flag other than 0 or 1, a sample count
    // that is not a whole u16, a negative scatter. The bank is emptied.
    let info = slots.newest(&mut flash).ok();
    assert_eq!(info, Some(None), "a bank record is not an adapted state's");
    let stride = SLOT_HEADER + D + 1;
    for (at, value) in [
        (stride, 4.0f32),
        (stride, 4.5),
        (stride + 1, 0.5),
        (stride + 2, 2.5),
        (stride + 2, -1.0),
        (stride + 3, -0.25),
    ] {
        let mut f = SimFlash::<4, 256> {
            mem: flash.mem.clone(),
            ..SimFlash::new(0)
        };
        // The only record is in slot 0 (bytes 0..512): values from byte 24.
        let v = 24 + 4 * at;
        f.mem[v..v + 4].copy_from_slice(&value.to_le_bytes());
        let n = 24 + 4 * bank.as_slice().len();
        let crc = fewshot_runtime::format::CRC.checksum(&f.mem[..n]);
        f.mem[n..n + 4].copy_from_slice(&crc.to_le_bytes());
        let mut r = Bank::new(&model, 0).unwrap();
        r.enroll(9, &samples(&mut rng, 2, 2)).unwrap();
        assert!(slots.restore_bank(&mut f, &mut r).is_err(), "{at}: {value}");
        assert!(r.is_empty());
    }
    // The untouched record restores.
    let mut r = Bank::new(&model, 0).unwrap();
    slots.restore_bank(&mut flash, &mut r).unwrap();
    assert_eq!(r.labels().collect::<Vec<_>>(), [4, 5]);
    assert_eq!(bits(r.as_slice()), bits(bank.as_slice()));
}

#[derive(Debug, Clone)]
enum Op {
    Enroll {
        label: u16,
        class: u16,
        k: usize,
        steps: u16,
    },
    Forget(u16),
    Relabel(u16, u16),
    Classify(u16),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0u16..8, 0u16..6, 1usize..5, 0u16..3).prop_map(|(label, class, k, steps)| Op::Enroll {
            label,
            class,
            k,
            steps
        }),
        (0u16..8).prop_map(Op::Forget),
        (0u16..8, 0u16..8).prop_map(|(a, b)| Op::Relabel(a, b)),
        (0u16..6).prop_map(Op::Classify),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 64, ..Default::default() })]

    /// Any sequence of calls: no panic, never `Error::Internal`, an error leaves the bank as it
    /// was, at most `MAX` classes, no label active twice, and a classified label is active.
    #[test]
    fn any_sequence_of_calls_keeps_the_bank_consistent(ops in proptest::collection::vec(op(), 1..30)) {
        let blob = model_def(MAX).to_aligned_bytes().unwrap();
        let model = Model::from_bytes(&blob).unwrap();
        let mut bank = Bank::new(&model, 0).unwrap();
        let mut rng = Rng(17);
        for op in ops {
            let before = bits(bank.as_slice());
            let result = match op {
                Op::Enroll { label, class, k, steps } => {
                    bank.enroll_steps(label, &samples(&mut rng, class, k), steps, 0.3).map(|_| ())
                }
                Op::Forget(label) => bank.forget(label),
                Op::Relabel(a, b) => bank.relabel(a, b),
                Op::Classify(class) => bank.classify(&samples(&mut rng, class, 1)).map(|(label, p)| {
                    assert!(bank.labels().any(|l| l == label), "{label} is not active");
                    assert!(p > 0.0 && p <= 1.0, "{p}");
                }),
            };
            if let Err(e) = result {
                assert!(!matches!(e, Error::Internal { .. }), "{e}");
                assert_eq!(bits(bank.as_slice()), before, "{e} changed the bank");
            }
            let mut labels: Vec<u16> = bank.labels().collect();
            proptest::prop_assert!(labels.len() <= usize::from(MAX));
            labels.sort_unstable();
            labels.dedup();
            proptest::prop_assert_eq!(labels.len(), bank.len());
        }
    }
}

/// `enroll_each`, one sample at a time into the caller's buffer, makes the rows `enroll` makes
/// from the K samples at once, bit for bit; an error of the caller's `fill`, a K of 0 or a
/// buffer of the wrong width leaves the bank as it was.
#[test]
fn enrolls_one_sample_at_a_time_with_the_same_bits() {
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let (mut whole, mut each) = (Bank::new(&model, 0).unwrap(), Bank::new(&model, 0).unwrap());
    let mut rng = Rng(9);
    let mut x = [0.0; D];
    for c in 0..3u16 {
        let s = samples(&mut rng, c, 5);
        assert_eq!(whole.enroll(20 + c, &s).unwrap(), usize::from(c));
        let slot = each
            .enroll_each(20 + c, 5, &mut x, |j, x| {
                x.copy_from_slice(&s[j * D..(j + 1) * D]);
                Ok(())
            })
            .unwrap();
        assert_eq!(slot, usize::from(c));
    }
    assert_eq!(bits(whole.as_slice()), bits(each.as_slice()));
    let before = bits(each.as_slice());
    let stop = Error::NonFinite {
        what: "microphone",
        sample: 2,
    };
    let failing = |j: usize, x: &mut [f32]| {
        x.fill(0.5);
        if j == 2 {
            Err(stop)
        } else {
            Ok(())
        }
    };
    assert_eq!(each.enroll_each(30, 4, &mut x, failing), Err(stop));
    assert!(matches!(
        each.enroll_each(30, 0, &mut x, |_, _| Ok(())),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        each.enroll_each(30, 2, &mut [0.0; D + 1], |_, _| Ok(())),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(
        each.enroll_each(20, 1, &mut x, |_, _| Ok(())),
        Err(Error::DuplicateLabel { label: 20 })
    );
    assert_eq!(
        bits(each.as_slice()),
        before,
        "refusals leave the bank as it was"
    );
}

#[test]
fn score_gives_the_distance_to_the_chosen_prototype() {
    // An identity trunk (two features), prototype scale 0.5.
    let adapt =
        AdaptDef::new(AdaptScope::HeadOnly, 0, RateDef::Scalar(0.0), 1.0).with_prototypes(0.5);
    let head = HeadDef::classification(0, "who", vec![Dense::zeros(2, 2, Activation::Identity)])
        .with_adapt(adapt)
        .with_max_classes(3);
    let blob = ModelDef::new("score", 2)
        .head(head)
        .to_aligned_bytes()
        .unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut bank: ClassBank<'_, 21, 16> = ClassBank::new(&model, 0).unwrap();
    bank.enroll(7, &[1.0, 0.0, 0.9, 0.1]).unwrap(); // prototype (0.95, 0.05)
    bank.enroll(3, &[-1.0, 0.0, -1.0, 0.2]).unwrap(); // prototype (-1, 0.1)
    for (x, label, d) in [
        ([0.95f32, 0.05], 7, 0.0f32),
        ([2.0, 0.05], 7, 1.05 * 1.05),
        ([-1.0, 3.1], 3, 9.0),
        ([9.95, 0.05], 7, 81.0),
    ] {
        let s = bank.score(&x).unwrap();
        assert_eq!(s.label, label, "{x:?}");
        assert!((s.distance - d).abs() < 1e-4 * (1.0 + d), "{x:?}: {s:?}");
        assert_eq!((s.label, s.probability), bank.classify(&x).unwrap());
    }
    // Far from both, yet one class is almost certain: the probability cannot tell it, the
    // distance does.
    let far = bank.score(&[30.0, 0.0]).unwrap();
    assert!(far.probability > 0.99 && far.distance > 800.0, "{far:?}");
}

#[test]
fn the_relative_distance_divides_by_the_pooled_within_class_variance() {
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut rng = Rng(21);
    let mut bank = Bank::new(&model, 0).unwrap();
    // The exported head's classes and classes of one sample have no spread.
    assert_eq!(
        Bank::from_head(&model, 0).unwrap().within_class_variance(),
        None
    );
    bank.enroll(0, &samples(&mut rng, 0, 1)).unwrap();
    let s = bank.score(&samples(&mut rng, 0, 1)).unwrap();
    assert_eq!(
        (bank.within_class_variance(), s.relative_distance),
        (None, None)
    );
    // Classes of 3, 5 and 2 samples, one of them forgotten: the active ones' scatter about
    // their mean feature (two passes in f64 here), over their samples less one each.
    let sets = [(1u16, 3usize), (2, 5), (3, 2)].map(|(c, k)| (c, samples(&mut rng, c, k)));
    for (c, x) in &sets {
        bank.enroll(*c, x).unwrap();
    }
    bank.forget(2).unwrap();
    let net = model.network();
    let (mut scratch, mut f) = ([0.0f32; 64], [0.0f32; D]);
    let (mut scatter, mut degrees) = (0.0f64, 0.0f64);
    for (_, x) in sets.iter().filter(|(c, _)| *c != 2) {
        let feats: Vec<[f64; D]> = x
            .chunks_exact(D)
            .map(|row| {
                net.features(row, &mut scratch, &mut f).unwrap();
                f.map(f64::from)
            })
            .collect();
        let k = feats.len() as f64;
        let mean: Vec<f64> = (0..D)
            .map(|j| feats.iter().map(|v| v[j]).sum::<f64>() / k)
            .collect();
        scatter += feats
            .iter()
            .map(|v| (0..D).map(|j| (v[j] - mean[j]).powi(2)).sum::<f64>())
            .sum::<f64>();
        degrees += k - 1.0;
    }
    let want = scatter / degrees;
    let got = f64::from(bank.within_class_variance().unwrap());
    assert!((got - want).abs() < 1e-5 * want, "{got} against {want}");
    for c in [0u16, 1, 3, 5] {
        let s = bank.score(&samples(&mut rng, c, 1)).unwrap();
        let v = bank.within_class_variance().unwrap();
        assert_eq!(
            s.relative_distance.map(f32::to_bits),
            Some((s.distance / v).to_bits())
        );
    }
    // Forgetting every class of two or more samples takes the variance away again.
    bank.forget(1).unwrap();
    bank.forget(3).unwrap();
    assert_eq!(bank.within_class_variance(), None);
}

#[test]
fn a_margin_lowers_the_rows_enrolled_after_it_and_nothing_else() {
    let blob = model_def(MAX).to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut rng = Rng(11);
    let sets: Vec<Vec<f32>> = (0..4u16).map(|c| samples(&mut rng, c, 5)).collect();
    let stride = SLOT_HEADER + D + 1;
    let bias = |bank: &Bank<'_>, slot: usize| bank.as_slice()[slot * stride + stride - 1];
    // Scale 2, margin 0.75: each new row's bias 1.5 lower, its weights and the older rows as
    // without the margin; by `enroll`, `enroll_each` and `enroll_steps` alike.
    let (mut plain, mut with) = (Bank::new(&model, 0).unwrap(), Bank::new(&model, 0).unwrap());
    plain.enroll(0, &sets[0]).unwrap();
    with.enroll(0, &sets[0]).unwrap();
    assert_eq!(
        with.set_margin(f32::NAN),
        Err(Error::NonFiniteSetting {
            what: "enrollment margin",
        })
    );
    assert_eq!(
        with.set_margin(f32::MAX),
        Err(Error::NonFiniteSetting {
            what: "enrollment margin",
        })
    );
    assert_eq!(with.margin(), 0.0);
    with.set_margin(0.75).unwrap();
    plain.enroll(1, &sets[1]).unwrap();
    with.enroll(1, &sets[1]).unwrap();
    let mut x = [0.0; D];
    for bank in [&mut plain, &mut with] {
        bank.enroll_each(2, 5, &mut x, |j, x| {
            x.copy_from_slice(&sets[2][j * D..(j + 1) * D]);
            Ok(())
        })
        .unwrap();
    }
    for slot in 0..3 {
        let row = |b: &Bank<'_>| bits(&b.as_slice()[slot * stride..(slot + 1) * stride - 1]);
        assert_eq!(
            row(&plain),
            row(&with),
            "slot {slot}'s label, flag and weights"
        );
        let lowered = if slot == 0 { 0.0 } else { 1.5 };
        assert_eq!(
            bias(&with, slot),
            bias(&plain, slot) - lowered,
            "slot {slot}"
        );
    }
    // With steps the margin lowers the row after them: the same steps without the margin on
    // the same bank give a bias 1.5 higher.
    let mut again = with.clone();
    with.enroll_steps(3, &sets[3], 3, 0.5).unwrap();
    again.set_margin(0.0).unwrap();
    again.enroll_steps(3, &sets[3], 3, 0.5).unwrap();
    assert_eq!(bias(&with, 3), bias(&again, 3) - 1.5);
    // The distance a score reports includes the margin (identity trunk, scale 0.5).
    let adapt =
        AdaptDef::new(AdaptScope::HeadOnly, 0, RateDef::Scalar(0.0), 1.0).with_prototypes(0.5);
    let head = HeadDef::classification(0, "who", vec![Dense::zeros(2, 2, Activation::Identity)])
        .with_adapt(adapt)
        .with_max_classes(2);
    let blob = ModelDef::new("margin", 2)
        .head(head)
        .to_aligned_bytes()
        .unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let mut bank: ClassBank<'_, 14, 16> = ClassBank::new(&model, 0).unwrap();
    bank.enroll(7, &[0.0, 0.0]).unwrap();
    bank.set_margin(2.0).unwrap();
    bank.enroll(8, &[2.0, 0.0]).unwrap();
    let s = bank.score(&[2.0, 0.0]).unwrap();
    assert_eq!((s.label, s.distance), (8, 2.0));
    // Class 8 wins only where it is nearer by more than the margin: at 1.3, 0.49 + 2 > 1.69;
    // at 1.7, 0.09 + 2 < 2.89.
    assert_eq!(bank.classify(&[1.3, 0.0]).unwrap().0, 7);
    assert_eq!(bank.classify(&[1.7, 0.0]).unwrap().0, 8);
}
