//! A device whose adapted state or class bank would not fit its flash slot is refused when it
//! is made (`Error::Capacity`, naming the record), not at the first save.

use fewshot_protocol::device::{Device, Layout, RamFlash};
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
type Dev = Device<'static, RamFlash<40960>, 195, 2048, 2, 4, 8, 1, 1104, 2048>;

fn make(max: u16) -> Result<Box<Dev>, Error> {
    let key = PublicKey::from_bytes([7; 32]);
    Device::new(model(max), 0, RamFlash::new(), &Layout::SMALL, key).map(Box::new)
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
            assert_eq!(what, "class bank's record (Layout::state_slot)");
            assert!(needed > 4416 && available == 4096, "{needed} {available}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}
