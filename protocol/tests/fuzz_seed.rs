//! The fuzz target `serial`'s seed (`fuzz/regressions/serial/session`): a whole session as the
//! host sends it, so the fuzzer starts from streams that reach every request, the class bank and
//! the signed update included. This test fails when the seed is stale; `FEWSHOT_BLESS=1` rewrites it.

use fewshot_protocol::{frame, Input, InputAction, Request, Target, MAX_CHUNK, MAX_FRAME};

static V1: &[u8] = include_bytes!("../../firmware/fixtures/update-v1.signed");
static V2: &[u8] = include_bytes!("../../firmware/fixtures/update-v2.signed");
const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fuzz/regressions/serial/session"
);

fn session() -> Vec<u8> {
    let mut requests = vec![Request::Info];
    for i in 0..10u16 {
        let x: Vec<f32> = (0..8).map(|j| f32::from((i + j) % 5)).collect();
        requests.push(Request::PushSample {
            target: Target::Class(i % 5),
            x: Input::from_slice(&x).unwrap(),
        });
    }
    let x = Input::from_slice(&[1.0; 8]).unwrap();
    requests.extend([
        Request::Adapt { steps: None },
        Request::Classify { x: x.clone() },
        Request::Infer { x: x.clone() },
        Request::Save,
        Request::Reset,
        Request::Restore,
        // The class bank: the buffered samples become class 100, behind a margin.
        Request::SetMargin { margin: 0.5 },
        Request::Enroll { label: 100 },
        Request::ClassifyEnrolled { x: x.clone() },
        // The same input staged in two chunks, then used.
        Request::StageInput {
            offset: 0,
            values: Input::from_slice(&x[..5]).unwrap(),
        },
        Request::StageInput {
            offset: 5,
            values: Input::from_slice(&x[5..]).unwrap(),
        },
        Request::WithStaged(InputAction::ClassifyEnrolled),
        Request::Relabel { old: 100, new: 7 },
        Request::SaveBank,
        Request::Forget { label: 7 },
        Request::RestoreBank,
        Request::ClearSamples,
    ]);
    // Two signed updates, then a third begun: a device serving an installed update in place
    // (the fuzz target's second run) refuses it, the slot it reads from being the one to erase.
    for envelope in [V1, V2] {
        requests.push(Request::UpdateBegin {
            total_len: envelope.len() as u32,
        });
        for (i, c) in envelope.chunks(MAX_CHUNK).enumerate() {
            requests.push(Request::UpdateChunk {
                offset: (i * MAX_CHUNK) as u32,
                bytes: heapless::Vec::from_slice(c).unwrap(),
            });
        }
        requests.extend([Request::UpdateFinish, Request::Info]);
    }
    requests.push(Request::UpdateBegin {
        total_len: V2.len() as u32,
    });
    let mut stream = Vec::new();
    for r in &requests {
        let mut buf = [0u8; MAX_FRAME];
        stream.extend(frame::encode(r, &mut buf).unwrap());
    }
    stream
}

#[test]
fn the_fuzz_seed_is_current() {
    let want = session();
    if std::env::var_os("FEWSHOT_BLESS").is_some() {
        std::fs::write(SEED, &want).unwrap();
    }
    let have = std::fs::read(SEED).expect("the seed (FEWSHOT_BLESS=1 writes it)");
    assert!(have == want, "{SEED} is stale: rerun with FEWSHOT_BLESS=1");
}
