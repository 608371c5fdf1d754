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

fn window(chip: &mut RamFlash<CHIP>) -> Window<&mut RamFlash<CHIP>> {
    let at = chip.mapped().as_ptr().wrapping_add(AT as usize);
    // SAFETY: `at` is where `chip` maps offset `AT`; the window is its only writer while it lives.
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
    let mut chip = RamFlash::<CHIP>::new();
    let at = chip.mapped().as_ptr();
    for (start, len) in [
        (100, 4096),
        (4096, 100),
        (61440, 8192),
        (u32::MAX - 4095, 8192),
    ] {
        // SAFETY: never read: every range is refused.
        let w = unsafe { Window::new(&mut chip, start, len, at) };
        assert!(w.is_none(), "{start} + {len}");
    }
    let mut w = window(&mut chip);
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
    let mut chip = RamFlash::<CHIP>::new();
    let adapted: Vec<Reply> = {
        let mut dev = device(&model, &mut chip);
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
    assert_eq!(outside(&mut chip), 0, "nothing written outside the window");
    // The next boot: a new device over the same chip restores the state.
    let mut dev = device(&model, &mut chip);
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
