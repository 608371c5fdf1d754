//! The `serial` target's body: an arbitrary byte stream into the device side of the serial
//! protocol (`fewshot_protocol::device`), as the `serial` firmware runs it, on an in-memory flash:
//! once serving the built-in model, once serving an installed update in place from the flash
//! (as the firmware does after a reboot), whose bytes must never change.

use fewshot_protocol::device::{Device, Handler, Layout, RamFlash, Session};
use fewshot_protocol::{frame, Reply};
use fewshot_runtime::signature::{PublicKey, ENVELOPE_HEADER_LEN};
use fewshot_runtime::update::{Active, MappedFlash};
use fewshot_runtime::{Error, Model};
use std::sync::OnceLock;

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

/// Feeds `data` to a device byte by byte, twice: serving the built-in model, and serving the
/// installed update in place; each time as it is, then with every frame's check made right
/// ([`checked`]: a mutation of a frame would else stop at its check, never reaching the
/// request). Every reply must decode, and at the end the update slots hold no
/// model or a whole, validly signed one: the update fixture's (the only model the test key
/// signed), never a half-written one; the model served in place reads the same bytes.
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
    let checked = checked(data);
    feed(&mut dev, data);
    feed(&mut dev, &checked);
    check_slots(dev.flash().clone(), key);
    in_place(data, key);
    in_place(&checked, key);
}

/// `data` with the check of every frame that is COBS and holds a check's 4 bytes replaced by
/// the right one (`frame::CHECK` of the bytes before it); other bytes as they are.
fn checked(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    for (i, piece) in data.split(|&b| b == 0).enumerate() {
        if i > 0 {
            out.push(0);
        }
        let mut bytes = piece.to_vec();
        match cobs::decode_in_place(&mut bytes) {
            Ok(n) if n >= 4 => {
                let body = n - 4;
                let check = frame::CHECK.checksum(&bytes[..body]);
                bytes.truncate(body);
                bytes.extend(check.to_le_bytes());
                out.extend(cobs::encode_vec(&bytes));
            }
            _ => out.extend(piece),
        }
    }
    out
}

/// The in-place run's flash: a static, so the model read from it stays where it is while the
/// device that owns the flash moves (as a part's memory-mapped flash does).
static mut CHIP: Flash = RamFlash::new();

/// The device after a reboot that found the update fixture (version 1) installed in slot 0:
/// it serves that model in place from `CHIP` (as `Device::installed` reads it), and `data`
/// must not change its bytes (an update into its slot is refused until the next reboot).
fn in_place(data: &[u8], key: PublicKey) {
    // SAFETY: one input at a time, and nothing else takes `CHIP`: this is its only reference.
    let chip: &'static mut Flash = unsafe { &mut *core::ptr::addr_of_mut!(CHIP) };
    let (image, active) = installed(key);
    chip.clone_from(image);
    let Ok(slots) = LAYOUT.model_slots(&*chip, key) else {
        panic!("the layout is valid")
    };
    // What `Device::installed` finds at boot (`active`, from the install), without verifying
    // the signature again for every input.
    // SAFETY: `CHIP` is a static; the device below is its only writer while the model is used.
    let Ok(served) = (unsafe { slots.model_in_place(&*chip, active) }) else {
        panic!("the installed update loads in place")
    };
    let before = served.bytes().to_vec();
    let Ok(mut dev): Result<InPlace<'_>, _> =
        Device::new(&served, serial_sizes::HEAD, chip, &LAYOUT, key)
    else {
        panic!("the device is made")
    };
    feed(&mut dev, data);
    assert!(served.bytes() == before, "the served model's bytes changed");
    // Unchanged slots hold the installed update (verified once): only changed ones are checked
    // (two signature verifications, which would otherwise take most of every input's time).
    let flash: &Flash = dev.flash();
    if flash.mapped() != installed(key).0.mapped() {
        check_slots(flash.clone(), key);
    }
}

/// The device on the static chip.
type InPlace<'m> = serial_device::SerialDevice<'m, &'static mut Flash>;

/// A flash with the update fixture installed (version 1, slot 0), and what `finish` made of it;
/// made once.
fn installed(key: PublicKey) -> &'static (Flash, Active) {
    static IMAGE: OnceLock<(Flash, Active)> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let mut flash = Flash::new();
        let Ok(slots) = LAYOUT.model_slots(&flash, key) else {
            panic!("the layout is valid")
        };
        let Ok(mut update) = slots.begin(&mut flash, UPDATE.len() as u32) else {
            panic!("an update begins on a blank flash")
        };
        let written = slots.write_chunk(&mut flash, &mut update, 0, UPDATE);
        match written.and_then(|()| slots.finish(&mut flash, update)) {
            Ok(active) => (flash, active),
            Err(e) => panic!("the update fixture installs: {e}"),
        }
    })
}

/// Feeds `data` to `handler` byte by byte; every reply must decode: checked, or (the answer to
/// an older host's unchecked `Info`, `frame::LEGACY_INFO`) an `Info` without the check.
fn feed<H: Handler>(handler: &mut H, data: &[u8]) {
    let mut session = Session::new();
    for &b in data {
        if let Some(answer) = session.feed(handler, b) {
            let (mut f, mut unchecked) = (answer.frame.to_vec(), answer.frame.to_vec());
            if let Err(e) = frame::decode::<Reply>(&mut f) {
                if !matches!(
                    frame::decode_unchecked::<Reply>(&mut unchecked),
                    Ok(Reply::Info(_))
                ) {
                    panic!("a reply does not decode: {e}");
                }
            }
        }
    }
}

/// The update slots of `flash` hold no model or the update fixture's, never a half-written one.
fn check_slots(mut flash: Flash, key: PublicKey) {
    let Ok(signed) = Model::from_bytes(UPDATE.get(ENVELOPE_HEADER_LEN..).unwrap_or(&[])) else {
        panic!("the update fixture's model loads")
    };
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
