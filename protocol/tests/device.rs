//! The device handler on the host, through frames as a serial line carries them: the firmware's
//! multi-head fixture (its 5-way prototype head), an in-memory flash, the signed update fixtures.

#[allow(dead_code)]
#[path = "../../firmware/src/serial_sizes.rs"]
mod sizes;

use fewshot_protocol::device::{Device, Layout, RamFlash, Session};
use fewshot_protocol::{frame, DeviceError, Input, InputAction, Reply, Request, Target};
use fewshot_protocol::{BankInfo, HeadInfo, HeadKind, Info, Installed, RuntimeError};
use fewshot_protocol::{
    MAX_CHUNK, MAX_CLASSES, MAX_FRAME, MAX_HEADS, MAX_INPUT, MAX_MESSAGE, MAX_NAME,
};
use fewshot_protocol::{MAX_OUTPUTS, PROTOCOL_VERSION};
use fewshot_runtime::format::AlignedBytes;
use fewshot_runtime::signature::{PublicKey, SigningKey};
use fewshot_runtime::update::MappedFlash;
use fewshot_runtime::Model;

static MODEL: &[u8] = fewshot_runtime::include_model!("../../firmware/fixtures/multihead.fsm");
static V1: &[u8] = include_bytes!("../../firmware/fixtures/update-v1.signed");
static V2: &[u8] = include_bytes!("../../firmware/fixtures/update-v2.signed");
const KEY: [u8; 32] = *include_bytes!("../../firmware/fixtures/test-signing.pub");

/// The serial firmware's device (a flash of `N` bytes, a bank of `B` floats), on the
/// flash `F` (by default a `RamFlash` of `N` bytes it owns).
type Dev<'m, const N: usize = 40960, const B: usize = { sizes::BANK }, F = RamFlash<N>> = Device<
    'm,
    F,
    { sizes::PARAMS },
    { sizes::SCRATCH },
    { sizes::LOSS_LOG },
    { sizes::K_MAX },
    { sizes::INPUTS },
    1,
    B,
>;

/// The serial firmware's device on the flash `F`.
type On<'m, F> = Dev<'m, 40960, { sizes::BANK }, F>;

fn device(model: &'static Model<'static>) -> Dev<'static> {
    Device::new(
        model,
        sizes::HEAD,
        RamFlash::new(),
        &Layout::SMALL,
        PublicKey::from_bytes(KEY),
    )
    .unwrap()
}

fn model() -> &'static Model<'static> {
    Box::leak(Box::new(Model::from_bytes(MODEL).unwrap()))
}

/// Sends `bytes` through a session; every reply decoded.
fn exchange<F: MappedFlash>(
    session: &mut Session,
    dev: &mut On<'_, F>,
    bytes: &[u8],
) -> Vec<Reply> {
    let mut replies = Vec::new();
    for &b in bytes {
        if let Some(a) = session.feed(dev, b) {
            replies.push(frame::decode(&mut a.frame.to_vec()).unwrap());
        }
    }
    replies
}

fn ask<F: MappedFlash>(session: &mut Session, dev: &mut On<'_, F>, request: &Request) -> Reply {
    let mut buf = [0u8; MAX_FRAME];
    let bytes = frame::encode(request, &mut buf).unwrap().to_vec();
    let mut replies = exchange(session, dev, &bytes);
    assert_eq!(replies.len(), 1, "one reply per request");
    replies.remove(0)
}

/// Sample `i` of class `c`: clusters far apart in input space.
fn sample(c: u16, i: usize) -> Input {
    let x: Vec<f32> = (0..8)
        .map(|j| if j % 5 == usize::from(c) { 3.0 } else { 0.0 } + 0.1 * ((i + j) % 3) as f32)
        .collect();
    Input::from_slice(&x).unwrap()
}

fn runtime_kind(reply: &Reply) -> &str {
    match reply {
        Reply::Error(DeviceError::Runtime(e)) => e.kind.as_str(),
        _ => "",
    }
}

#[test]
fn the_largest_messages_fit_a_frame() {
    let floats = |n: usize| heapless::Vec::<f32, 64>::from_iter((0..n).map(|_| f32::MIN));
    let name = heapless::String::<MAX_NAME>::try_from("n".repeat(MAX_NAME).as_str()).unwrap();
    let x = Input::from_iter(floats(MAX_INPUT));
    let values = heapless::Vec::from_iter(floats(MAX_OUTPUTS));
    let head = HeadInfo {
        name: name.clone(),
        kind: HeadKind::Matching,
        outputs: u16::MAX,
        adaptable: true,
    };
    let messages: Vec<Result<Vec<u8>, _>> = vec![
        enc(&Request::PushSample {
            target: Target::Values(values.clone()),
            x: x.clone(),
        }),
        enc(&Request::UpdateChunk {
            offset: u32::MAX,
            bytes: heapless::Vec::from_iter([0u8; MAX_CHUNK]),
        }),
        enc(&Request::StageInput {
            offset: u16::MAX,
            values: x.clone(),
        }),
        enc(&Request::WithStaged(InputAction::Push {
            target: Target::Values(values.clone()),
        })),
        enc(&Reply::Error(DeviceError::InputTooWide {
            end: u32::MAX,
            width: u16::MAX,
        })),
        enc(&Reply::Outputs(values)),
        enc(&Reply::Info(Info {
            protocol_version: u16::MAX,
            model_id: u32::MAX,
            model_crc: u32::MAX,
            model_name: name,
            input_len: u16::MAX,
            heads: heapless::Vec::from_iter((0..MAX_HEADS).map(|_| head.clone())),
            adapted_head: u8::MAX,
            max_samples: u16::MAX,
            free_samples: u16::MAX,
            installed: Some(Installed {
                slot: 1,
                model_version: u32::MAX,
            }),
            bank: Some(BankInfo {
                capacity: u16::MAX,
                labels: heapless::Vec::from_iter([u16::MAX; MAX_CLASSES]),
                margin: f32::MAX,
            }),
            served_slot: Some(1),
            installed_refused: true,
            max_steps: u16::MAX,
        })),
        enc(&Reply::Error(DeviceError::Runtime(RuntimeError {
            kind: heapless::String::try_from("k".repeat(MAX_NAME).as_str()).unwrap(),
            numbers: heapless::Vec::from_iter([u32::MAX; 4]),
            message: heapless::String::try_from("m".repeat(MAX_MESSAGE).as_str()).unwrap(),
        }))),
    ];
    for m in messages {
        assert!(m.is_ok(), "a message does not fit {MAX_FRAME} bytes");
    }
}

fn enc<T: serde::Serialize>(m: &T) -> Result<Vec<u8>, fewshot_protocol::Error> {
    let mut buf = [0u8; MAX_FRAME];
    frame::encode(m, &mut buf).map(<[u8]>::to_vec)
}

#[test]
fn an_info_of_another_version_still_names_its_version() {
    let mut buf = [0u8; 64];
    // What an older device's Info starts with (variant 0, version 4), the rest of another shape.
    let mut older = frame::encode(&(0u32, 4u16, 7u8), &mut buf)
        .unwrap()
        .to_vec();
    let mut copy = older.clone();
    assert!(frame::decode::<Reply>(&mut older).is_err());
    assert_eq!(frame::info_version(&mut copy), Some(4));
    let mut samples = frame::encode(
        &Reply::Samples {
            stored: 1,
            capacity: 4,
        },
        &mut buf,
    )
    .unwrap()
    .to_vec();
    assert_eq!(frame::info_version(&mut samples), None);
}

#[test]
fn bad_frames_get_error_replies_and_the_session_goes_on() {
    let m = model();
    let mut dev = device(m);
    let mut s = Session::new();
    let mut buf = [0u8; MAX_FRAME];
    let info = frame::encode(&Request::Info, &mut buf).unwrap().to_vec();
    // Corrupted: a COBS code byte pointing past the frame's end.
    let replies = exchange(&mut s, &mut dev, &[0x09, 0x01, 0x02, 0x00]);
    assert_eq!(
        replies,
        vec![Reply::Error(DeviceError::BadFrame { len: 3 })]
    );
    // Truncated: a push missing its last bytes.
    let push = Request::PushSample {
        target: Target::Class(1),
        x: sample(1, 0),
    };
    let whole = frame::encode(&push, &mut buf).unwrap().to_vec();
    let mut cut = whole[..whole.len() / 2].to_vec();
    cut.push(0);
    let replies = exchange(&mut s, &mut dev, &cut);
    assert!(matches!(
        replies[..],
        [Reply::Error(DeviceError::BadFrame { .. })]
    ));
    // Trailing: a whole push with one byte more inside the frame.
    let mut raw = postcard::to_allocvec(&push).unwrap();
    raw.push(7);
    let mut longer = vec![0u8; raw.len() + 8];
    let n = cobs::encode(&raw, &mut longer);
    longer.truncate(n);
    longer.push(0);
    let replies = exchange(&mut s, &mut dev, &longer);
    assert!(matches!(
        replies[..],
        [Reply::Error(DeviceError::BadFrame { .. })]
    ));
    // Oversized: one error for the whole frame, whatever its length.
    let mut long = vec![0x55u8; 3 * MAX_FRAME];
    long.push(0);
    let replies = exchange(&mut s, &mut dev, &long);
    assert_eq!(
        replies,
        vec![Reply::Error(DeviceError::FrameTooLong {
            max: MAX_FRAME as u16
        })]
    );
    // Empty frames are skipped; the next request is served.
    let mut again = vec![0, 0];
    again.extend(&info);
    let replies = exchange(&mut s, &mut dev, &again);
    assert!(matches!(&replies[..], [Reply::Info(i)] if i.input_len == 8 && i.free_samples == 20));
    // A host of protocol 6 or older asks `Info` without a check: it gets this device's `Info`
    // in its framing, and so the version it cannot serve.
    let mut answered = Vec::new();
    for b in [0x00, 0x01, 0x01, 0x00] {
        if let Some(a) = s.feed(&mut dev, b) {
            answered.push(a.frame.to_vec());
        }
    }
    let [legacy] = &mut answered[..] else {
        panic!("{answered:?}")
    };
    assert!(
        frame::decode::<Reply>(&mut legacy.clone()).is_err(),
        "unchecked"
    );
    assert_eq!(
        frame::info_version(&mut legacy.clone()),
        Some(PROTOCOL_VERSION)
    );
    assert!(matches!(
        frame::decode_unchecked::<Reply>(legacy),
        Ok(Reply::Info(i)) if i.input_len == 8
    ));
}

#[test]
fn push_adapt_classify_save_restore_reset() {
    let m = model();
    let mut dev = device(m);
    let mut s = Session::new();
    let info = ask(&mut s, &mut dev, &Request::Info);
    let Reply::Info(info) = info else {
        panic!("{info:?}")
    };
    assert_eq!(
        (info.model_id, info.adapted_head, info.heads.len()),
        (0x3417_0001, 1, 3)
    );
    assert_eq!(info.heads[1].kind, HeadKind::Classification);
    assert_eq!((info.installed, info.served_slot), (None, None));
    let adapt = Request::Adapt { steps: None };
    assert_eq!(runtime_kind(&ask(&mut s, &mut dev, &adapt)), "EmptySupport");
    for i in 0..4 {
        for c in 0..5 {
            let push = Request::PushSample {
                target: Target::Class(c),
                x: sample(c, i),
            };
            assert!(matches!(
                ask(&mut s, &mut dev, &push),
                Reply::Samples { .. }
            ));
        }
    }
    // The buffer (K = 20) is full: an error, the samples kept.
    let more = Request::PushSample {
        target: Target::Class(0),
        x: sample(0, 9),
    };
    let full = ask(&mut s, &mut dev, &more);
    assert_eq!(runtime_kind(&full), "SupportSetFull");
    let Reply::Adapted { steps, .. } = ask(&mut s, &mut dev, &adapt) else {
        panic!("adapts")
    };
    assert_eq!(steps, 3);
    let classes = |s: &mut Session, dev: &mut Dev<'_>| -> Vec<Reply> {
        (0..5)
            .map(|c| ask(s, dev, &Request::Classify { x: sample(c, 1) }))
            .collect()
    };
    let adapted = classes(&mut s, &mut dev);
    for (c, r) in adapted.iter().enumerate() {
        assert!(
            matches!(r, Reply::Class { class, .. } if usize::from(*class) == c),
            "{r:?}"
        );
    }
    assert!(matches!(
        ask(&mut s, &mut dev, &Request::Save),
        Reply::Saved { sequence: 1, .. }
    ));
    assert_eq!(ask(&mut s, &mut dev, &Request::Reset), Reply::Done);
    assert_ne!(
        classes(&mut s, &mut dev),
        adapted,
        "reset forgot the adaptation"
    );
    assert!(matches!(
        ask(&mut s, &mut dev, &Request::Restore),
        Reply::Restored { sequence: 1, .. }
    ));
    assert_eq!(classes(&mut s, &mut dev), adapted);
    // Wrong widths and non-finite inputs are refused.
    let short = Request::Infer {
        x: Input::from_slice(&[1.0]).unwrap(),
    };
    assert_eq!(
        runtime_kind(&ask(&mut s, &mut dev, &short)),
        "LengthMismatch"
    );
    let mut nan = sample(0, 0);
    nan[3] = f32::NAN;
    for r in [
        Request::Infer { x: nan.clone() },
        Request::Classify { x: nan },
    ] {
        assert_eq!(runtime_kind(&ask(&mut s, &mut dev, &r)), "NonFinite");
    }
    let Reply::Outputs(p) = ask(&mut s, &mut dev, &Request::Infer { x: sample(2, 0) }) else {
        panic!("infers")
    };
    assert_eq!(p.len(), 5);
}

fn install<F: MappedFlash>(
    s: &mut Session,
    dev: &mut On<'_, F>,
    envelope: &[u8],
    tamper: Option<usize>,
) -> Reply {
    let begin = Request::UpdateBegin {
        total_len: envelope.len() as u32,
    };
    assert!(matches!(ask(s, dev, &begin), Reply::UpdateStarted { .. }));
    for (i, chunk) in envelope.chunks(MAX_CHUNK).enumerate() {
        let mut bytes = heapless::Vec::from_slice(chunk).unwrap();
        if tamper == Some(i) {
            bytes[7] ^= 0x10;
        }
        let offset = (i * MAX_CHUNK) as u32;
        let r = ask(s, dev, &Request::UpdateChunk { offset, bytes });
        if !matches!(r, Reply::UpdateProgress { .. }) {
            return r;
        }
    }
    ask(s, dev, &Request::UpdateFinish)
}

fn installed(s: &mut Session, dev: &mut Dev<'_>) -> Option<Installed> {
    match ask(s, dev, &Request::Info) {
        Reply::Info(i) => i.installed,
        r => panic!("{r:?}"),
    }
}

#[test]
fn signed_updates_install_whole_or_not_at_all() {
    let m = model();
    let mut dev = device(m);
    let mut s = Session::new();
    let chunk = Request::UpdateChunk {
        offset: 0,
        bytes: heapless::Vec::new(),
    };
    let none = Reply::Error(DeviceError::NoUpdate);
    assert_eq!(ask(&mut s, &mut dev, &chunk), none);
    assert_eq!(ask(&mut s, &mut dev, &Request::UpdateFinish), none);
    let v1 = install(&mut s, &mut dev, V1, None);
    assert_eq!(
        v1,
        Reply::UpdateInstalled {
            slot: 0,
            model_version: 1
        }
    );
    // A tampered chunk of version 2: refused at finish, version 1 stays.
    let bad = install(&mut s, &mut dev, V2, Some(5));
    assert_eq!(runtime_kind(&bad), "BadSignature");
    let one = Installed {
        slot: 0,
        model_version: 1,
    };
    assert_eq!(installed(&mut s, &mut dev), Some(one));
    // An update left unfinished changes nothing either.
    let begin = Request::UpdateBegin {
        total_len: V2.len() as u32,
    };
    assert!(matches!(
        ask(&mut s, &mut dev, &begin),
        Reply::UpdateStarted { slot: 1 }
    ));
    let first = Request::UpdateChunk {
        offset: 0,
        bytes: heapless::Vec::from_slice(&V2[..MAX_CHUNK]).unwrap(),
    };
    assert!(matches!(
        ask(&mut s, &mut dev, &first),
        Reply::UpdateProgress { written: 256 }
    ));
    let early = ask(&mut s, &mut dev, &Request::UpdateFinish);
    assert_eq!(runtime_kind(&early), "UpdateIncomplete");
    assert_eq!(installed(&mut s, &mut dev), Some(one));
    // Out of order: refused with where to resume.
    assert!(matches!(
        ask(&mut s, &mut dev, &begin),
        Reply::UpdateStarted { .. }
    ));
    let skip = Request::UpdateChunk {
        offset: 512,
        bytes: heapless::Vec::from_slice(&V2[512..768]).unwrap(),
    };
    let r = ask(&mut s, &mut dev, &skip);
    let Reply::Error(DeviceError::Runtime(e)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (e.kind.as_str(), e.numbers.as_slice()),
        ("ChunkOutOfOrder", &[0, 512][..])
    );
    let v2 = install(&mut s, &mut dev, V2, None);
    assert_eq!(
        v2,
        Reply::UpdateInstalled {
            slot: 1,
            model_version: 2
        }
    );
    // Rollback to the validly signed version 1.
    let back = install(&mut s, &mut dev, V1, None);
    let Reply::Error(DeviceError::Runtime(e)) = back else {
        panic!("{back:?}")
    };
    assert_eq!(
        (e.kind.as_str(), e.numbers.as_slice()),
        ("Rollback", &[1, 2][..])
    );
    assert_eq!(
        installed(&mut s, &mut dev),
        Some(Installed {
            slot: 1,
            model_version: 2
        })
    );
}

/// After a reboot the firmware runs the installed update: the active slot's model, read in
/// place from the flash it then hands to the device, which serves it and refuses an update
/// into that slot until the next reboot; none installed: the built-in.
#[test]
fn the_installed_update_runs_after_a_reboot() {
    let key = PublicKey::from_bytes(KEY);
    let mut blank: RamFlash<40960> = RamFlash::new();
    assert_eq!(
        // SAFETY: nothing is loaded from the blank flash.
        unsafe { Layout::SMALL.installed_model(&mut blank, key) }.err(),
        Some(fewshot_runtime::Error::NoValidModel)
    );
    let m = model();
    let mut dev = device(m);
    let mut s = Session::new();
    for v in [V1, V2] {
        assert!(matches!(
            install(&mut s, &mut dev, v, None),
            Reply::UpdateInstalled { .. }
        ));
    }
    // The reboot: the same flash (where it stays, as a part's flash does), a new device on the
    // model it holds, served in place.
    let flash: &'static mut RamFlash<40960> = Box::leak(Box::new(dev.flash().clone()));
    // SAFETY: the flash is leaked, and only the device below writes it.
    let update = unsafe { Layout::SMALL.installed_model(flash, key) };
    let update: &'static Model<'static> = Box::leak(Box::new(update.expect("it loads")));
    let signed = &V2[fewshot_runtime::signature::ENVELOPE_HEADER_LEN..];
    assert_eq!(update.bytes(), signed);
    let in_slot_1 = flash.mapped()[Layout::SMALL.models_at as usize..].as_ptr() as usize
        + Layout::SMALL.model_slot as usize;
    let at = update.bytes().as_ptr() as usize;
    assert_eq!(
        at,
        in_slot_1 + fewshot_runtime::signature::ENVELOPE_HEADER_LEN
    );
    let signed = AlignedBytes::from_slice(signed);
    let expected = Model::from_bytes(signed.as_bytes()).unwrap();
    assert_eq!(update.crc(), expected.crc());
    assert_ne!(
        update.model_id(),
        m.model_id(),
        "the update is another model"
    );
    let mut rebooted: On<'_, &mut RamFlash<40960>> =
        Device::new(update, sizes::HEAD, flash, &Layout::SMALL, key).unwrap();
    let mut s = Session::new();
    match ask(&mut s, &mut rebooted, &Request::Info) {
        Reply::Info(i) => {
            assert_eq!(i.model_id, expected.model_id());
            assert_eq!(i.model_name.as_str(), expected.name());
            assert_eq!(i.served_slot, Some(1), "read in place from slot 1");
            assert_eq!(i.installed.map(|m| m.slot), Some(1));
        }
        r => panic!("{r:?}"),
    }
    // Version 3 goes to slot 0; the next update would erase slot 1, which the device reads
    // its model from: refused until the reboot, the model's bytes untouched.
    let blob = &V2[fewshot_runtime::signature::ENVELOPE_HEADER_LEN..];
    let v3 = SigningKey::from_seed(*b"fewshot firmware TEST key 000001")
        .sign(blob, 3)
        .unwrap();
    assert_eq!(
        install(&mut s, &mut rebooted, &v3, None),
        Reply::UpdateInstalled {
            slot: 0,
            model_version: 3
        }
    );
    // Installed, not yet running: Info tells the two apart.
    match ask(&mut s, &mut rebooted, &Request::Info) {
        Reply::Info(i) => assert_eq!(
            (
                i.served_slot,
                i.installed.map(|m| (m.slot, m.model_version))
            ),
            (Some(1), Some((0, 3)))
        ),
        r => panic!("{r:?}"),
    }
    let r = ask(
        &mut s,
        &mut rebooted,
        &Request::UpdateBegin {
            total_len: v3.len() as u32,
        },
    );
    let Reply::Error(DeviceError::Runtime(e)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (e.kind.as_str(), e.numbers.as_slice()),
        ("SlotInUse", &[1][..])
    );
    // The whole text arrives (it fits MAX_MESSAGE): what the host prints.
    let text = fewshot_runtime::Error::SlotInUse { slot: 1 }.to_string();
    assert_eq!(e.message.as_str(), text);
    assert_eq!(update.bytes(), blob);
}

/// Sample `i` of a class the head was not exported with: every input high.
fn novel(i: usize) -> Input {
    let x: Vec<f32> = (0..8).map(|j| 2.0 + 0.1 * ((i + j) % 3) as f32).collect();
    Input::from_slice(&x).unwrap()
}

fn bank_info(s: &mut Session, dev: &mut Dev<'_>) -> (BankInfo, u16) {
    match ask(s, dev, &Request::Info) {
        Reply::Info(i) => (
            i.bank.expect("the served head is enrollable"),
            i.free_samples,
        ),
        r => panic!("Info answered {r:?}"),
    }
}

fn push_novel(s: &mut Session, dev: &mut Dev<'_>, shots: std::ops::Range<usize>) {
    for i in shots {
        let target = Target::Class(0); // ignored by Enroll
        let r = ask(
            s,
            dev,
            &Request::PushSample {
                target,
                x: novel(i),
            },
        );
        assert!(matches!(r, Reply::Samples { .. }), "{r:?}");
    }
}

fn enroll(s: &mut Session, dev: &mut Dev<'_>, label: u16) -> Reply {
    ask(s, dev, &Request::Enroll { label })
}

#[test]
fn enroll_classify_relabel_forget_and_their_refusals() {
    let (mut s, mut dev) = (Session::new(), device(model()));
    let (bank, _) = bank_info(&mut s, &mut dev);
    assert_eq!(bank.capacity, 8);
    assert_eq!(
        bank.labels.as_slice(),
        &[0, 1, 2, 3, 4],
        "the exported classes"
    );
    assert_eq!(
        runtime_kind(&enroll(&mut s, &mut dev, 100)),
        "LengthMismatch",
        "an empty buffer enrolls nothing"
    );

    push_novel(&mut s, &mut dev, 0..4);
    let r = enroll(&mut s, &mut dev, 100);
    assert_eq!(
        r,
        Reply::Bank {
            classes: 6,
            capacity: 8
        }
    );
    let (bank, free) = bank_info(&mut s, &mut dev);
    assert_eq!(bank.labels.as_slice(), &[0, 1, 2, 3, 4, 100]);
    assert_eq!(free, 20, "enrolling empties the buffer");
    for i in 4..7 {
        let r = ask(&mut s, &mut dev, &Request::ClassifyEnrolled { x: novel(i) });
        assert!(
            matches!(r, Reply::Enrolled { class: 100, .. }),
            "held-out {i}: {r:?}"
        );
        // Class 100 came from 4 samples: the bank has a within-class variance (the exported
        // classes have none), and the relative distance is the distance over it.
        let Reply::Enrolled {
            distance,
            relative_distance: Some(relative),
            ..
        } = r
        else {
            panic!("no relative distance: {r:?}")
        };
        assert!(
            distance > 0.0 && relative > 0.0 && relative.is_finite(),
            "{r:?}"
        );
    }

    push_novel(&mut s, &mut dev, 0..2);
    assert_eq!(
        runtime_kind(&enroll(&mut s, &mut dev, 100)),
        "DuplicateLabel"
    );
    assert_eq!(
        bank_info(&mut s, &mut dev).1,
        18,
        "a refused enrollment keeps the buffer"
    );
    let relabel = |old, new| Request::Relabel { old, new };
    assert_eq!(
        runtime_kind(&ask(&mut s, &mut dev, &relabel(100, 3))),
        "DuplicateLabel"
    );
    assert_eq!(
        runtime_kind(&ask(&mut s, &mut dev, &relabel(7, 8))),
        "UnknownLabel"
    );
    assert_eq!(
        ask(&mut s, &mut dev, &relabel(100, 200)),
        Reply::Bank {
            classes: 6,
            capacity: 8
        }
    );
    let r = ask(&mut s, &mut dev, &Request::ClassifyEnrolled { x: novel(5) });
    assert!(matches!(r, Reply::Enrolled { class: 200, .. }), "{r:?}");

    // Fill the bank: 8 classes, the ninth is refused and the buffer kept.
    for label in [300, 301] {
        assert!(matches!(
            enroll(&mut s, &mut dev, label),
            Reply::Bank { .. }
        ));
        push_novel(&mut s, &mut dev, 0..2);
    }
    let (bank, _) = bank_info(&mut s, &mut dev);
    assert_eq!(bank.labels.len(), 8);
    let r = enroll(&mut s, &mut dev, 302);
    assert_eq!(runtime_kind(&r), "Capacity", "{r:?}");
    assert_eq!(bank_info(&mut s, &mut dev).1, 18);

    let forget = |label| Request::Forget { label };
    assert_eq!(
        ask(&mut s, &mut dev, &forget(200)),
        Reply::Bank {
            classes: 7,
            capacity: 8
        }
    );
    assert_eq!(
        runtime_kind(&ask(&mut s, &mut dev, &forget(200))),
        "UnknownLabel"
    );
    let (bank, _) = bank_info(&mut s, &mut dev);
    assert!(!bank.labels.contains(&200));
    assert_eq!(
        enroll(&mut s, &mut dev, 302),
        Reply::Bank {
            classes: 8,
            capacity: 8
        },
        "a forgotten slot takes the next class"
    );
    let nan = Input::from_slice(&[f32::NAN; 8]).unwrap();
    let r = ask(&mut s, &mut dev, &Request::ClassifyEnrolled { x: nan });
    assert_eq!(runtime_kind(&r), "NonFinite");
}

/// `SetMargin` applies to the classes enrolled after it: a class enrolled behind a margin no
/// input can overcome never answers, one enrolled after the margin is back to 0 does; a margin
/// that is not finite is refused and the margin kept.
#[test]
fn a_margin_holds_back_the_classes_enrolled_after_it() {
    let (mut s, mut dev) = (Session::new(), device(model()));
    assert_eq!(bank_info(&mut s, &mut dev).0.margin, 0.0);
    let set = |margin| Request::SetMargin { margin };
    let bank = |classes| Reply::Bank {
        classes,
        capacity: 8,
    };
    assert_eq!(ask(&mut s, &mut dev, &set(1.0e6)), bank(5));
    let r = ask(&mut s, &mut dev, &set(f32::INFINITY));
    assert_eq!(runtime_kind(&r), "NonFiniteSetting", "{r:?}");
    assert_eq!(bank_info(&mut s, &mut dev).0.margin, 1.0e6);
    push_novel(&mut s, &mut dev, 0..4);
    assert_eq!(enroll(&mut s, &mut dev, 100), bank(6));
    let r = ask(&mut s, &mut dev, &Request::ClassifyEnrolled { x: novel(5) });
    assert!(
        matches!(r, Reply::Enrolled { class, .. } if class < 5),
        "behind the margin, an exported class answers: {r:?}"
    );
    assert_eq!(ask(&mut s, &mut dev, &set(0.0)), bank(6));
    push_novel(&mut s, &mut dev, 0..4);
    assert_eq!(enroll(&mut s, &mut dev, 101), bank(7));
    let r = ask(&mut s, &mut dev, &Request::ClassifyEnrolled { x: novel(5) });
    assert!(matches!(r, Reply::Enrolled { class: 101, .. }), "{r:?}");
}

#[test]
fn the_bank_saves_and_restores_apart_from_the_adapted_state() {
    let (mut s, mut dev) = (Session::new(), device(model()));
    let r = ask(&mut s, &mut dev, &Request::RestoreBank);
    assert!(
        matches!(r, Reply::Error(DeviceError::Runtime(_))),
        "nothing saved: {r:?}"
    );
    push_novel(&mut s, &mut dev, 0..4);
    assert!(matches!(enroll(&mut s, &mut dev, 100), Reply::Bank { .. }));
    let queries: Vec<Request> = (4..8)
        .map(|i| Request::ClassifyEnrolled { x: novel(i) })
        .chain((0..5).map(|c| Request::ClassifyEnrolled { x: sample(c, 9) }))
        .collect();
    let answers = |s: &mut Session, dev: &mut Dev<'_>| -> Vec<Reply> {
        queries.iter().map(|q| ask(s, dev, q)).collect()
    };
    let before = answers(&mut s, &mut dev);
    assert_eq!(
        ask(&mut s, &mut dev, &Request::SaveBank),
        Reply::Saved {
            sequence: 1,
            slot: 0
        }
    );
    let r = ask(&mut s, &mut dev, &Request::Restore);
    assert!(
        matches!(r, Reply::Error(DeviceError::Runtime(_))),
        "the bank's record is not an adapted state: {r:?}"
    );
    assert!(matches!(
        ask(&mut s, &mut dev, &Request::Forget { label: 100 }),
        Reply::Bank { classes: 5, .. }
    ));
    assert_ne!(answers(&mut s, &mut dev), before);
    assert_eq!(
        ask(&mut s, &mut dev, &Request::RestoreBank),
        Reply::Restored {
            sequence: 1,
            slot: 0
        }
    );
    assert_eq!(answers(&mut s, &mut dev), before, "bit for bit");

    // A fresh device on the same flash (a power cycle) restores the same bank.
    let flash = dev.flash().clone();
    let mut again: Dev<'_> = Device::new(
        model(),
        sizes::HEAD,
        flash,
        &Layout::SMALL,
        PublicKey::from_bytes(KEY),
    )
    .unwrap();
    let mut s2 = Session::new();
    assert_ne!(answers(&mut s2, &mut again), before);
    assert!(matches!(
        ask(&mut s2, &mut again, &Request::RestoreBank),
        Reply::Restored { sequence: 1, .. }
    ));
    assert_eq!(answers(&mut s2, &mut again), before);
}

#[test]
fn a_head_that_is_not_enrollable_has_no_bank() {
    use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
    use fewshot_runtime::{Activation, AdaptScope};
    let dense = Dense::new(2, 1, Activation::Identity, vec![0.0; 2], vec![0.0]);
    let head = HeadDef::regression(0, "y", vec![dense]).with_adapt(AdaptDef::new(
        AdaptScope::HeadOnly,
        5,
        RateDef::Scalar(0.1),
        10.0,
    ));
    let blob = ModelDef::new("line", 2)
        .head(head)
        .to_aligned_bytes()
        .unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    // A 32 KiB flash: no room for a bank, none needed.
    let mut dev: Device<'_, RamFlash<32768>, 3, 64, 6, 4, 2, 1> = Device::new(
        &model,
        0,
        RamFlash::new(),
        &Layout::SMALL,
        PublicKey::from_bytes(KEY),
    )
    .unwrap();
    assert!(matches!(dev.handle(&Request::Info), Reply::Info(i) if i.bank.is_none()));
    let x = Input::from_slice(&[1.0, 2.0]).unwrap();
    for r in [
        Request::Enroll { label: 1 },
        Request::Forget { label: 1 },
        Request::Relabel { old: 1, new: 2 },
        Request::ClassifyEnrolled { x },
        Request::SaveBank,
        Request::RestoreBank,
    ] {
        assert_eq!(dev.handle(&r), Reply::Error(DeviceError::NoBank), "{r:?}");
    }
}

#[test]
fn an_enrollable_head_needs_room_for_its_bank() {
    let key = PublicKey::from_bytes(KEY);
    // 32 KiB: no room for the bank's slots at 32 KiB.
    let small = Dev::<'_, 32768>::new(model(), sizes::HEAD, RamFlash::new(), &Layout::SMALL, key);
    assert!(matches!(
        small,
        Err(fewshot_runtime::Error::FlashLayout { .. })
    ));
    // B left at 0: no bank fits.
    let no_bank =
        Dev::<'_, 40960, 0>::new(model(), sizes::HEAD, RamFlash::new(), &Layout::SMALL, key);
    assert!(matches!(
        no_bank,
        Err(fewshot_runtime::Error::Capacity { .. })
    ));
}

#[test]
fn a_staged_input_is_answered_as_the_same_input_inline() {
    let (mut s, mut dev) = (Session::new(), device(model()));
    for c in 0..5 {
        for i in 0..2 {
            let (inline, staged) = (sample(c, i), sample(c, i + 2));
            let push = |x: Input| Request::PushSample {
                target: Target::Class(c),
                x,
            };
            assert!(matches!(
                ask(&mut s, &mut dev, &push(inline)),
                Reply::Samples { .. }
            ));
            let stage = Request::StageInput {
                offset: 0,
                values: staged,
            };
            assert_eq!(
                ask(&mut s, &mut dev, &stage),
                Reply::Staged {
                    staged: 8,
                    width: 8
                }
            );
            let push = Request::WithStaged(InputAction::Push {
                target: Target::Class(c),
            });
            assert!(matches!(
                ask(&mut s, &mut dev, &push),
                Reply::Samples { .. }
            ));
        }
    }
    assert!(matches!(
        ask(&mut s, &mut dev, &Request::Adapt { steps: None }),
        Reply::Adapted { .. }
    ));
    let x = sample(3, 9);
    let inline = [
        Request::Infer { x: x.clone() },
        Request::Classify { x: x.clone() },
        Request::ClassifyEnrolled { x: x.clone() },
    ];
    let staged = [
        InputAction::Infer,
        InputAction::Classify,
        InputAction::ClassifyEnrolled,
    ];
    let stage = Request::StageInput {
        offset: 0,
        values: x,
    };
    assert_eq!(
        ask(&mut s, &mut dev, &stage),
        Reply::Staged {
            staged: 8,
            width: 8
        }
    );
    for (r, a) in inline.iter().zip(staged) {
        let want = ask(&mut s, &mut dev, r);
        assert!(!matches!(want, Reply::Error(_)), "{want:?}");
        assert_eq!(ask(&mut s, &mut dev, &Request::WithStaged(a)), want);
    }
}

#[test]
fn a_device_built_in_place_answers_as_one_built_by_new() {
    let key = PublicKey::from_bytes(KEY);
    // In place in a heap slot, as a firmware's `static` would hold it.
    let mut slot: Box<std::mem::MaybeUninit<Dev<'static>>> = Box::new_uninit();
    let in_place = Device::init(
        &mut slot,
        model(),
        sizes::HEAD,
        RamFlash::new(),
        &Layout::SMALL,
        key,
    )
    .unwrap();
    let mut by_value = device(model());
    let (mut s1, mut s2) = (Session::new(), Session::new());
    for c in 0..5 {
        for i in 0..2 {
            let push = Request::PushSample {
                target: Target::Class(c),
                x: sample(c, i),
            };
            assert_eq!(
                ask(&mut s1, in_place, &push),
                ask(&mut s2, &mut by_value, &push)
            );
        }
    }
    for r in [
        Request::Adapt { steps: None },
        Request::Classify { x: sample(3, 7) },
        Request::Enroll { label: 9 },
        Request::ClassifyEnrolled { x: sample(3, 7) },
        Request::SaveBank,
        Request::Info,
    ] {
        assert_eq!(
            ask(&mut s1, in_place, &r),
            ask(&mut s2, &mut by_value, &r),
            "{r:?}"
        );
    }
    // A refusal leaves nothing to drop: the slot is taken as uninitialised again.
    let mut small: Box<std::mem::MaybeUninit<Dev<'static, 32768>>> = Box::new_uninit();
    let refused = Device::init(
        &mut small,
        model(),
        sizes::HEAD,
        RamFlash::new(),
        &Layout::SMALL,
        key,
    );
    assert!(matches!(
        refused,
        Err(fewshot_runtime::Error::FlashLayout { .. })
    ));
}

/// The refusals a host meets in a session (a class missing from the support set, a label out
/// of range, a full buffer, an update before the reboot, a replay) and the longest texts reach
/// it whole: they fit a reply's `MAX_MESSAGE` bytes, so the hint at the end is not cut.
#[test]
fn common_refusals_fit_a_reply_whole() {
    use fewshot_protocol::device::runtime_error;
    use fewshot_runtime::Error;
    for e in [
        Error::ClassWithoutSamples { class: u16::MAX },
        Error::LabelOutOfRange {
            sample: 65_535,
            label: 65_535,
            classes: 65_535,
        },
        Error::SupportSetFull { capacity: 65_535 },
        Error::SlotInUse { slot: 1 },
        Error::Rollback {
            offered: u32::MAX,
            floor: u32::MAX,
        },
        Error::UnknownLabel { label: u16::MAX },
        Error::NoSavedState,
        // The longest texts, at their longest numbers and names.
        Error::ScopeReachesStem { head: usize::MAX },
        Error::IllConditioned {
            output: usize::MAX,
            sample: usize::MAX,
            ratio: u32::MAX,
            limit: u32::MAX,
        },
        Error::NotEnrollable { head: usize::MAX },
        Error::UnsupportedEnvelope { found: u16::MAX },
        Error::CrcMismatch {
            stored: u32::MAX,
            computed: u32::MAX,
        },
        Error::BufferTooSmall {
            what: "learner scratch S (more samples than K_MAX: `--k`)",
            needed: usize::MAX,
            provided: usize::MAX,
        },
        Error::FrontEndSetting {
            field: "log_offset (finite, > 0; value: its f32 bits)",
            value: u32::MAX,
            min: u32::MAX,
            max: u32::MAX,
        },
        Error::FeatureDisabled {
            feature: "audio-frontend",
        },
    ] {
        let text = e.to_string();
        assert!(text.len() <= fewshot_protocol::MAX_MESSAGE, "{text}");
        let wire = runtime_error(&e);
        assert_eq!(wire.message.as_str(), text);
        // The whole reply fits a frame.
        let reply = Reply::Error(DeviceError::Runtime(wire));
        let mut buf = [0u8; fewshot_protocol::MAX_FRAME];
        assert!(
            fewshot_protocol::frame::encode(&reply, &mut buf).is_ok(),
            "{text}"
        );
    }
}

/// A validly signed update of a model this device cannot serve (its input wider than the
/// support buffer's `D`) is refused when it is accepted, not at the next boot: the slot is
/// erased, the running model and the installed update stay, and a boot finds no other model.
#[test]
fn an_update_the_device_cannot_serve_is_refused_at_finish() {
    use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
    use fewshot_runtime::{Activation, AdaptScope};
    let key = PublicKey::from_bytes(KEY);
    let m = model();
    let mut dev = device(m);
    let mut s = Session::new();
    let wide = sizes::INPUTS + 4;
    let layer = || vec![Dense::zeros(wide, 5, Activation::Identity)];
    let adapt = AdaptDef::new(AdaptScope::HeadOnly, 3, RateDef::Scalar(0.1), 10.0);
    // Head 1, as the device serves.
    let blob = ModelDef::new("too wide", wide)
        .head(HeadDef::classification(0, "first", layer()))
        .head(HeadDef::classification(1, "wide", layer()).with_adapt(adapt))
        .to_bytes()
        .unwrap();
    let signed = SigningKey::from_seed(*b"fewshot firmware TEST key 000001")
        .sign(&blob, 7)
        .unwrap();
    let r = install(&mut s, &mut dev, &signed, None);
    let Reply::Error(DeviceError::Runtime(e)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (e.kind.as_str(), e.numbers.as_slice()),
        ("Capacity", &[wide as u32, sizes::INPUTS as u32][..]),
        "{}",
        e.message
    );
    assert_eq!(installed(&mut s, &mut dev), None);
    let mut flash = dev.flash().clone();
    assert_eq!(
        // SAFETY: the model is not kept.
        unsafe { Layout::SMALL.installed_model(&mut flash, key) }.err(),
        Some(fewshot_runtime::Error::NoValidModel),
        "the refused slot was erased"
    );
    // The same device still takes an update it can serve, above the refused version.
    assert!(matches!(
        install(&mut s, &mut dev, V2, None),
        Reply::UpdateInstalled { .. }
    ));
}
