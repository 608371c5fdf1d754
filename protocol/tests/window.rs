//! The device on a [`Window`] of a larger flash, as the board firmwares run it (`boards/`): its
//! slots land inside the window and nowhere else, a saved state is restored by the next boot's
//! device, and a signed update is verified in place through the window's mapping.

#[path = "../../firmware/src/serial_device.rs"]
#[allow(dead_code)] // `start` and its statics are the firmware's and the boards'
mod serial_device;
#[allow(dead_code)]
#[path = "../../firmware/src/serial_sizes.rs"]
mod serial_sizes;

use fewshot_protocol::device::{Device, Layout, RamFlash, Window};
use fewshot_protocol::{Input, Reply, Request, Target, MAX_CHUNK};
use fewshot_runtime::persist::nor_flash::{NorFlash, ReadNorFlash};
use fewshot_runtime::signature::PublicKey;
use fewshot_runtime::update::MappedFlash;
use fewshot_runtime::Model;
use serial_device::SerialDevice;

static MODEL: &[u8] = fewshot_runtime::include_model!("../../firmware/fixtures/multihead.fsm");
static V2: &[u8] = include_bytes!("../../firmware/fixtures/update-v2.signed");
const KEY: [u8; 32] = *include_bytes!("../../firmware/fixtures/test-signing.pub");

/// The chip: 64 KiB; the window: 40 KiB from 16 KiB, holding the layout the boards make for
/// the served head's records (32 KiB).
const CHIP: usize = 65536;
const AT: u32 = 16384;
const LEN: u32 = 40960;

type Dev<'m, 'f> = SerialDevice<'m, Window<&'f mut RamFlash<CHIP>>>;

/// A chip that stays where it is for the rest of the test program (as a part's flash does).
fn chip() -> &'static mut RamFlash<CHIP> {
    Box::leak(Box::new(RamFlash::new()))
}

/// The window of a chip from [`chip`].
fn window(chip: &mut RamFlash<CHIP>) -> Window<&mut RamFlash<CHIP>> {
    let at = chip.as_ptr().wrapping_add(AT as usize);
    // SAFETY: `at` is where `chip` maps offset `AT`, for good (leaked by `chip`); the window is
    // its only writer while it lives.
    unsafe { Window::new(chip, AT, LEN, at) }.unwrap()
}

fn device<'m, 'f>(model: &'m Model<'m>, chip: &'f mut RamFlash<CHIP>) -> Dev<'m, 'f> {
    let key = PublicKey::from_bytes(KEY);
    let layout = Layout::fitting::<Window<&mut RamFlash<CHIP>>>(&serial_sizes::RECORDS).unwrap();
    assert!(layout.end::<Window<&mut RamFlash<CHIP>>>().unwrap() <= LEN);
    Device::new(model, serial_sizes::HEAD, window(chip), &layout, key).unwrap()
}

fn sample(c: u16, i: usize) -> Input {
    let x: Vec<f32> = (0..8)
        .map(|j| if j % 5 == usize::from(c) { 3.0 } else { 0.0 } + 0.1 * ((i + j) % 3) as f32)
        .collect();
    Input::from_slice(&x).unwrap()
}

/// Bytes of the chip outside the window that are not erased.
fn outside(chip: &mut RamFlash<CHIP>) -> usize {
    let mut bytes = vec![0u8; CHIP];
    chip.read(0, &mut bytes).unwrap();
    let (start, end) = (AT as usize, (AT + LEN) as usize);
    (bytes[..start].iter().chain(&bytes[end..]))
        .filter(|&&b| b != 0xff)
        .count()
}

#[test]
fn windows_refuse_ranges_that_are_not_whole_blocks_of_the_chip() {
    let chip = chip();
    let at = chip.as_ptr();
    for (start, len) in [
        (100, 4096),
        (4096, 100),
        (61440, 8192),
        (u32::MAX - 4095, 8192),
    ] {
        // SAFETY: never read: every range is refused.
        let w = unsafe { Window::new(&mut *chip, start, len, at) };
        assert!(w.is_none(), "{start} + {len}");
    }
    let mut w = window(chip);
    assert_eq!(w.capacity(), LEN as usize);
    assert!(w.erase(4096, 0).is_err());
    assert!(w.erase(0, LEN + 4096).is_err());
    assert!(w.write(LEN - 4, &[0; 8]).is_err());
    assert!(w.read(u32::MAX, &mut [0; 2]).is_err());
    assert!(w.write(2, &[0; 4]).is_err(), "the chip's alignment holds");
}

#[test]
fn the_device_keeps_its_state_and_updates_inside_the_window() {
    let model = Model::from_bytes(MODEL).unwrap();
    let chip = chip();
    let adapted: Vec<Reply> = {
        let mut dev = device(&model, chip);
        for i in 0..4 {
            for c in 0..5 {
                let x = sample(c, i);
                let push = Request::PushSample {
                    target: Target::Class(c),
                    x,
                };
                assert!(matches!(dev.handle(&push), Reply::Samples { .. }));
            }
        }
        let adapt = dev.handle(&Request::Adapt { steps: None });
        assert!(
            matches!(adapt, Reply::Adapted { steps: 3, .. }),
            "{adapt:?}"
        );
        let saved = dev.handle(&Request::Save);
        assert!(
            matches!(saved, Reply::Saved { sequence: 1, .. }),
            "{saved:?}"
        );
        let begin = Request::UpdateBegin {
            total_len: V2.len() as u32,
        };
        assert!(matches!(dev.handle(&begin), Reply::UpdateStarted { .. }));
        for (i, chunk) in V2.chunks(MAX_CHUNK).enumerate() {
            let bytes = heapless::Vec::from_slice(chunk).unwrap();
            let offset = (i * MAX_CHUNK) as u32;
            let r = dev.handle(&Request::UpdateChunk { offset, bytes });
            assert!(matches!(r, Reply::UpdateProgress { .. }), "{r:?}");
        }
        let done = dev.handle(&Request::UpdateFinish);
        assert!(matches!(done, Reply::UpdateInstalled { .. }), "{done:?}");
        (0..5)
            .map(|c| dev.handle(&Request::Classify { x: sample(c, 1) }))
            .collect()
    };
    assert_eq!(outside(chip), 0, "nothing written outside the window");
    // The next boot: a new device over the same chip restores the state.
    let mut dev = device(&model, chip);
    let restored = dev.handle(&Request::Restore);
    assert!(
        matches!(restored, Reply::Restored { sequence: 1, .. }),
        "{restored:?}"
    );
    let again: Vec<Reply> = (0..5)
        .map(|c| dev.handle(&Request::Classify { x: sample(c, 1) }))
        .collect();
    assert_eq!(again, adapted);
    let Reply::Info(info) = dev.handle(&Request::Info) else {
        panic!("info")
    };
    assert!(
        info.installed.is_some(),
        "the update is found through the window"
    );
}

/// The boards' boot (`serial_device::start`): with a signed update installed in the window,
/// the device serves it, read in place from the chip (no copy); with none, the built-in model
/// (the refusal of an update into the served slot: `tests/device.rs`).
#[test]
fn the_boot_serves_an_installed_update_in_place() {
    let key = PublicKey::from_bytes(KEY);
    let layout = Layout::fitting::<Window<&mut RamFlash<CHIP>>>(&serial_sizes::RECORDS).unwrap();
    let chip = chip();
    let boot = |chip: &'static mut RamFlash<CHIP>| {
        let built_in = Model::from_bytes(MODEL).unwrap();
        let statics = serial_device::Statics {
            served: Box::leak(Box::new(std::mem::MaybeUninit::uninit())),
            device: Box::leak(Box::new(std::mem::MaybeUninit::uninit())),
        };
        let refused = |e| panic!("refused: {e}");
        let mut found = None;
        let restored = |state: &Reply, bank: &Reply| found = Some((state.clone(), bank.clone()));
        // SAFETY: the chip is leaked; the device is the window's only writer.
        let booted = unsafe {
            serial_device::start(
                window(chip),
                &layout,
                key,
                built_in,
                statics,
                refused,
                restored,
            )
        }
        .unwrap();
        (booted.0, booted.1, found.unwrap())
    };
    let (model, device, (state, _)) = boot(chip);
    assert_eq!(
        fewshot_protocol::device::restore_outcome(&state),
        "none",
        "{state:?}"
    );
    // An adapted state saved before the update comes back at the next boot of the same model.
    let x = fewshot_protocol::Input::from_slice(&[0.5; serial_sizes::INPUTS]).unwrap();
    for class in 0..serial_sizes::OUTPUTS as u16 {
        let push = Request::PushSample {
            target: fewshot_protocol::Target::Class(class),
            x: x.clone(),
        };
        assert!(matches!(device.handle(&push), Reply::Samples { .. }));
    }
    assert!(matches!(
        device.handle(&Request::Adapt { steps: None }),
        Reply::Adapted { .. }
    ));
    assert!(matches!(device.handle(&Request::Save), Reply::Saved { .. }));
    let chip1 = self::chip();
    chip1.write(AT, device.flash().mapped()).unwrap();
    let (_, _, (state, _)) = boot(chip1);
    assert!(matches!(state, Reply::Restored { .. }), "{state:?}");
    assert_eq!(
        model.bytes().as_ptr(),
        MODEL.as_ptr(),
        "none installed: the built-in"
    );
    let begin = Request::UpdateBegin {
        total_len: V2.len() as u32,
    };
    assert!(matches!(
        device.handle(&begin),
        Reply::UpdateStarted { slot: 0 }
    ));
    for (i, chunk) in V2.chunks(MAX_CHUNK).enumerate() {
        let bytes = heapless::Vec::from_slice(chunk).unwrap();
        let r = device.handle(&Request::UpdateChunk {
            offset: (i * MAX_CHUNK) as u32,
            bytes,
        });
        assert!(matches!(r, Reply::UpdateProgress { .. }), "{r:?}");
    }
    let done = device.handle(&Request::UpdateFinish);
    assert!(
        matches!(done, Reply::UpdateInstalled { slot: 0, .. }),
        "{done:?}"
    );
    // The next boot (the window's bytes on a chip of their own: the first is the first
    // device's for good) serves version 2 from slot 0 of the window, in place.
    let chip2 = self::chip();
    chip2.write(AT, device.flash().mapped()).unwrap();
    let chip_at = chip2.as_ptr() as usize;
    let (model, device, (state, _)) = boot(chip2);
    // Another model now: the state saved for the first is not restored.
    assert!(matches!(state, Reply::Error(_)), "{state:?}");
    let signed = &V2[fewshot_runtime::signature::ENVELOPE_HEADER_LEN..];
    assert_eq!(model.bytes(), signed);
    let slot0 = chip_at + AT as usize + layout.models_at as usize;
    let envelope_at = slot0 + fewshot_runtime::signature::ENVELOPE_HEADER_LEN;
    assert_eq!(model.bytes().as_ptr() as usize, envelope_at);
    let Reply::Info(info) = device.handle(&Request::Info) else {
        panic!("info")
    };
    assert_eq!(info.model_id, model.model_id());
    assert_eq!(info.installed.map(|i| i.slot), Some(0));
}
