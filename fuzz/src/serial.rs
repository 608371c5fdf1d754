//! The `serial` target's body: an arbitrary byte stream into the device side of the serial
//! protocol (`fewshot_protocol::device`), as the `serial` firmware runs it, on an in-memory flash.

use fewshot_protocol::device::{Device, Layout, RamFlash, Session};
use fewshot_protocol::{frame, Reply};
use fewshot_runtime::signature::{PublicKey, ENVELOPE_HEADER_LEN};
use fewshot_runtime::{Error, Model};

#[path = "../../firmware/src/serial_device.rs"]
#[allow(dead_code)] // `start` and its statics are the firmware's and the boards'
mod serial_device;
#[allow(dead_code)]
#[path = "../../firmware/src/serial_sizes.rs"]
mod serial_sizes;

static MODEL: &[u8] = fewshot_runtime::include_model!("../../firmware/fixtures/multihead.fsm");
/// The signed update of the seed (versions 1 and 2 sign the same model).
static UPDATE: &[u8] = fewshot_runtime::include_model!("../../firmware/fixtures/update-v1.signed");
const KEY: [u8; 32] = *include_bytes!("../../firmware/fixtures/test-signing.pub");

type Flash = RamFlash<40960>;
type Dev<'m> = serial_device::SerialDevice<'m, Flash>;

/// The `serial` firmware's layout: the one made for the served head's records.
const LAYOUT: Layout = match Layout::fitting::<Flash>(&serial_sizes::RECORDS) {
    Some(layout) => layout,
    None => panic!("the fixture's records fit a layout"),
};

/// Feeds `data` to a device byte by byte. Every reply must decode, and at the end the update
/// slots hold no model or a whole, validly signed one: the update fixture's (the only model the
/// test key signed), never a half-written one.
pub fn serial(data: &[u8]) {
    let Ok(model) = Model::from_bytes(MODEL) else {
        panic!("the multi-head fixture loads")
    };
    let key = PublicKey::from_bytes(KEY);
    let Ok(mut dev): Result<Dev<'_>, _> =
        Device::new(&model, serial_sizes::HEAD, RamFlash::new(), &LAYOUT, key)
    else {
        panic!("the device is made")
    };
    let mut session = Session::new();
    for &b in data {
        if let Some(answer) = session.feed(&mut dev, b) {
            let mut f = answer.frame.to_vec();
            if let Err(e) = frame::decode::<Reply>(&mut f) {
                panic!("a reply does not decode: {e}");
            }
        }
    }
    let Ok(signed) = Model::from_bytes(UPDATE.get(ENVELOPE_HEADER_LEN..).unwrap_or(&[])) else {
        panic!("the update fixture's model loads")
    };
    let mut flash = dev.flash().clone();
    let Ok(slots) = LAYOUT.model_slots(&flash, key) else {
        panic!("the layout is valid")
    };
    match slots.active(&mut flash) {
        Err(Error::NoValidModel) => {}
        Ok(a) => match slots.model(&flash, &a) {
            Ok(m) => assert_eq!(
                m.crc(),
                signed.crc(),
                "an installed model is the signed one"
            ),
            Err(e) => panic!("the active slot does not load: {e}"),
        },
        Err(e) => panic!("the update slots are neither empty nor valid: {e}"),
    }
}
