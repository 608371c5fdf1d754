//! The bytes on the wire, pinned: each example of `protocol/README.md` ("Examples") is what
//! `frame::encode` writes, byte for byte, and what `frame::decode` reads back. A change of the
//! encoding fails here before it breaks a client written from the README in another language.

use fewshot_protocol::{frame, DeviceError, Input, Reply, Request, Target, MAX_FRAME};

/// The README's examples: the message and its frame (after the host's leading delimiter).
fn examples() -> Vec<(Result<Request, Reply>, &'static str)> {
    let x = Input::from_slice(&[0.5, -1.0, 2.0]).unwrap();
    vec![
        (Ok(Request::Info), "01 05 8d ef 02 d2 00"),
        (
            Ok(Request::PushSample {
                target: Target::Class(2),
                x,
            }),
            "02 01 03 02 03 01 01 02 3f 01 03 80 bf 01 01 06 40 29 b7 04 15 00",
        ),
        (
            Ok(Request::Adapt { steps: Some(5) }),
            "08 03 01 05 85 a2 76 94 00",
        ),
        (
            Err(Reply::Class {
                class: 3,
                score: 0.75,
            }),
            "03 04 03 01 07 40 3f 5d fb ec 2b 00",
        ),
        (
            Err(Reply::Error(DeviceError::BadFrame { len: 300 })),
            "02 0b 07 ac 02 d4 ca f9 1a 00",
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    let h: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    h.join(" ")
}

#[test]
fn the_readme_examples_are_the_bytes_on_the_wire() {
    let readme = include_str!("../README.md");
    let mut buf = [0u8; MAX_FRAME];
    for (message, expected) in examples() {
        let bytes = match &message {
            Ok(request) => frame::encode(request, &mut buf).unwrap().to_vec(),
            Err(reply) => frame::encode(reply, &mut buf).unwrap().to_vec(),
        };
        assert_eq!(hex(&bytes), expected, "{message:?}");
        assert!(
            readme.contains(&format!("00 {expected}")),
            "protocol/README.md does not show {message:?} as `00 {expected}`"
        );
        let mut back = bytes.clone();
        match message {
            Ok(request) => assert_eq!(frame::decode::<Request>(&mut back).unwrap(), request),
            Err(reply) => assert_eq!(frame::decode::<Reply>(&mut back).unwrap(), reply),
        }
    }
}

#[test]
fn a_damaged_frame_is_told_from_an_unknown_message() {
    let mut buf = [0u8; MAX_FRAME];
    let good = frame::encode(&Request::Adapt { steps: Some(5) }, &mut buf)
        .unwrap()
        .to_vec();
    // One bit flipped in the message: the check fails.
    let mut damaged = good.clone();
    damaged[2] ^= 0x04;
    assert!(matches!(
        frame::decode::<Request>(&mut damaged),
        Err(fewshot_protocol::Error::Decode { .. })
    ));
    // A whole frame of a request variant this version does not know (99): its check holds.
    let body = [99u8];
    let mut framed = body.to_vec();
    framed.extend(frame::CHECK.checksum(&body).to_le_bytes());
    let mut unknown = cobs::encode_vec(&framed);
    assert!(matches!(
        frame::decode::<Request>(&mut unknown),
        Err(fewshot_protocol::Error::Unknown { tag: 99, .. })
    ));
}
