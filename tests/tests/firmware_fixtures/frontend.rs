//! The audio front-end's fixtures (`firmware/tests/frontend.rs` runs them): synthetic clips
//! (chirps plus seeded noise, 1 s at 16 kHz, 16-bit PCM), the host's features of each (the
//! keyword spec's 49 x 40 log-mel frames, then its 49 x 10 MFCCs) as f32 bits, and a small
//! model that carries the MFCC front-end (format v6) with its outputs on each clip's MFCCs.

use super::{push_f32s, Lcg};
use runtime::frontend::synth::Chirp;
use runtime::frontend::{FrontEnd, FrontEndSpec};
use runtime::writer::{HeadDef, ModelDef};
use runtime::{Activation, Heads, Model};

/// The clips: (from Hz, to Hz, amplitude, noise, seed).
const CLIPS: [Chirp; 3] = [
    Chirp {
        from_hz: 200.0,
        to_hz: 4000.0,
        amplitude: 0.5,
        noise: 0.01,
        seed: 0xa0d1_0001,
    },
    Chirp {
        from_hz: 7000.0,
        to_hz: 300.0,
        amplitude: 0.2,
        noise: 0.05,
        seed: 0xa0d1_0002,
    },
    Chirp {
        from_hz: 1000.0,
        to_hz: 1000.0,
        amplitude: 0.9,
        noise: 0.1,
        seed: 0xa0d1_0003,
    },
];

/// The keyword spec with 10 MFCCs: the fixture model's front-end.
pub const MFCC: FrontEndSpec = FrontEndSpec {
    dct_coeffs: 10,
    ..FrontEndSpec::KEYWORD
};

fn features(spec: &FrontEndSpec, pcm: &[i16]) -> Vec<f32> {
    let mut fe = Box::new(FrontEnd::<512, 40, { 49 * 40 }>::new(spec).expect("front-end"));
    assert_eq!(fe.push(pcm).expect("push"), 49);
    let mut out = vec![0.0; spec.input_len()];
    assert_eq!(fe.features(&mut out), Ok(49));
    out
}

/// A 490 -> 3 classification head on the MFCCs, pseudo-random weights, carrying the front-end.
fn model() -> Vec<u8> {
    let mut r = Lcg(0xa0d1_0000);
    let head = r.dense(MFCC.input_len(), 3, Activation::Identity);
    ModelDef::new("kws-frontend-fixture", MFCC.input_len())
        .front_end(MFCC)
        .head(HeadDef::classification(0, "word", vec![head]))
        .to_bytes()
        .expect("encodes")
}

pub fn files() -> Vec<(&'static str, Vec<u8>)> {
    let blob = model();
    let aligned = runtime::format::AlignedBytes::from_slice(&blob);
    let model = Model::from_bytes(aligned.as_bytes()).expect("loads");
    let (mut clips, mut golden) = (Vec::new(), Vec::new());
    for chirp in &CLIPS {
        let mut pcm = vec![0i16; 16_000];
        chirp.fill(&mut pcm, 16_000);
        for s in &pcm {
            clips.extend_from_slice(&s.to_le_bytes());
        }
        push_f32s(&mut golden, &features(&FrontEndSpec::KEYWORD, &pcm));
        let mfcc = features(&MFCC, &pcm);
        push_f32s(&mut golden, &mfcc);
        let (mut scratch, mut out) = (vec![0.0; 2048], [0.0f32; 3]);
        model
            .network()
            .infer(&mfcc, Heads::ALL, &mut scratch, &mut out)
            .expect("infers");
        push_f32s(&mut golden, &out);
    }
    vec![
        ("frontend-model.fsm", blob),
        ("frontend-clips.bin", clips),
        ("frontend-golden.bin", golden),
    ]
}
