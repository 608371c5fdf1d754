//! A device whose adapted state or class bank would not fit its flash slot is refused when it
//! is made (`Error::Capacity`, naming the record), not at the first save; `Layout::fitting`
//! makes the layout that holds a model's records.

use fewshot_protocol::device::{Device, Layout, RamFlash, Records};
use fewshot_protocol::{Reply, Request, Target};
use fewshot_runtime::enroll::ClassBank;
use fewshot_runtime::persist::Slots;
use fewshot_runtime::signature::PublicKey;
use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use fewshot_runtime::{Activation, AdaptScope, Error, Model};

/// 8 inputs -> 64 features -> a 3-class prototype head holding up to `max` classes.
fn model(max: u16) -> &'static Model<'static> {
    let adapt =
        AdaptDef::new(AdaptScope::HeadOnly, 1, RateDef::Scalar(0.1), 10.0).with_prototypes(2.0);
    let head = HeadDef::classification(0, "c", vec![Dense::zeros(64, 3, Activation::Identity)])
        .with_adapt(adapt)
        .with_max_classes(max);
    let def = ModelDef::new("wide-features", 8)
        .trunk(Dense::zeros(8, 64, Activation::Relu))
        .head(head);
    let blob = Box::leak(Box::new(def.to_aligned_bytes().unwrap()));
    Box::leak(Box::new(Model::from_bytes(blob.as_bytes()).unwrap()))
}

/// Room for 16 classes of 64 features in RAM: 16 x (4 + 64 + 1) floats.
type Dev = Device<'static, RamFlash<65536>, 195, 2048, 2, 4, 8, 1, 1104>;
type Flash = RamFlash<65536>;

fn make_in(max: u16, layout: &Layout) -> Result<Box<Dev>, Error> {
    let key = PublicKey::from_bytes([7; 32]);
    Device::new(model(max), 0, RamFlash::new(), layout, key).map(Box::new)
}

fn make(max: u16) -> Result<Box<Dev>, Error> {
    make_in(max, &Layout::SMALL)
}

/// The records of head 0 of the model holding up to `max` classes, updates of `update` bytes.
fn records(max: u16, update: usize) -> Records {
    let m = model(max);
    Records {
        state: m.adapted_param_count(0).unwrap(),
        bank: ClassBank::<1104, 2048>::bank_len(m, 0).unwrap(),
        update,
    }
}

#[test]
fn a_bank_larger_than_its_slot_is_refused_when_the_device_is_made() {
    // 14 classes: 14 x 69 floats, 3 864 bytes and the record's header, within 4 KiB.
    assert!(make(14).is_ok());
    // 16 classes: 4 416 bytes of floats, more than the 4 KiB slot of `Layout::SMALL`.
    match make(16) {
        Err(Error::Capacity {
            what,
            needed,
            available,
        }) => {
            assert_eq!(what, "class bank's record (Layout::bank_slot)");
            assert!(needed > 4416 && available == 4096, "{needed} {available}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn the_fitting_layout_holds_what_the_small_one_cannot() {
    let layout = Layout::fitting::<Flash>(&records(16, 8192)).unwrap();
    // The bank's record (4 416 bytes of floats, its header and CRC) in two 4 KiB blocks; the
    // state's 195 floats in one; the model slots of 8 KiB; the floor one block a record.
    assert_eq!(
        layout,
        Layout {
            state_at: 0,
            state_slot: 4096,
            models_at: 8192,
            model_slot: 8192,
            floor_at: 24576,
            bank_at: 32768,
            bank_slot: 8192,
        }
    );
    assert_eq!(layout.end::<Flash>(), Some(49152));
    // The full bank is saved and restored in those slots.
    let mut device = make_in(16, &layout).unwrap();
    for label in 3..16 {
        let push = Request::PushSample {
            target: Target::Class(0),
            x: heapless::Vec::from_slice(&[label as f32; 8]).unwrap(),
        };
        let replies = [
            device.handle(&push),
            device.handle(&Request::Enroll { label }),
        ];
        assert!(
            !matches!(replies, [Reply::Error(_), _] | [_, Reply::Error(_)]),
            "{label}"
        );
    }
    assert!(matches!(
        device.handle(&Request::SaveBank),
        Reply::Saved { .. }
    ));
    assert!(matches!(
        device.handle(&Request::RestoreBank),
        Reply::Restored { .. }
    ));
    // Each slot holds its record, and no two regions overlap.
    let record = |floats| Slots::record_len::<Flash>(floats).unwrap() as u32;
    assert!(record(records(16, 0).bank) <= layout.bank_slot);
    assert!(record(records(16, 0).state) <= layout.state_slot);
}

#[test]
fn small_records_on_four_kib_blocks_give_the_small_layout() {
    let fitting = Layout::fitting::<Flash>(&records(14, 8192)).unwrap();
    assert_eq!(fitting, Layout::SMALL);
    assert_eq!(Layout::SMALL.end::<Flash>(), Some(40960));
    // Without a bank the layout ends after the floor.
    let no_bank = Records {
        bank: 0,
        ..records(14, 8192)
    };
    let layout = Layout::fitting::<Flash>(&no_bank).unwrap();
    assert_eq!((layout.bank_slot, layout.end::<Flash>()), (0, Some(32768)));
    // An update of one byte more than a block takes two.
    let layout = Layout::fitting::<Flash>(&records(14, 4097)).unwrap();
    assert_eq!(layout.model_slot, 8192);
}

#[test]
fn a_layout_beyond_four_gib_is_none() {
    let huge = Records {
        update: u32::MAX as usize,
        ..records(14, 0)
    };
    assert_eq!(Layout::fitting::<Flash>(&huge), None);
    let huge = Records {
        bank: usize::MAX / 8,
        ..records(14, 0)
    };
    assert_eq!(Layout::fitting::<Flash>(&huge), None);
}
