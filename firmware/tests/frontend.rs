//! The audio front-end on the target (feature `audio-frontend`), bit for bit against the host:
//! three synthetic 1 s clips (`tests/tests/firmware_fixtures/frontend.rs`) fed as audio arrives,
//! in chunks of 123 and of 1000 samples, through the keyword spec's log-mel front-end (49 x 40)
//! and the MFCC front-end of a model that carries it (format v6, built by
//! `FrontEnd::for_model`), whose head then classifies the MFCCs. Every feature and output must
//! have the host's bits; audio of another sample rate is refused.
#![no_std]
#![no_main]

use fewshot_firmware::entry;
use fewshot_firmware::fixtures::frontend::{self as fx, CLIP_LEN, LOGMEL, MFCC, OUTPUTS};
use fewshot_firmware::fixtures::F32s;
use fewshot_firmware::{self as fw, Checks};
use fewshot_runtime::frontend::{AudioConfig, FrontEnd, FrontEndSpec};
use fewshot_runtime::{Error, Heads, Model};

type LogMel = FrontEnd<512, 40, LOGMEL>;
type Mfcc = FrontEnd<512, 40, MFCC>;

const AUDIO: AudioConfig = AudioConfig {
    sample_rate: 16_000,
    channels: 1,
};

/// Feeds clip `clip` in chunks of `chunk` samples; returns the frames made.
fn feed<const R: usize>(fe: &mut FrontEnd<512, 40, R>, clip: usize, chunk: usize) -> usize {
    let pcm = fx::clip(clip);
    let frames = pcm.chunks(chunk).map(|c| fe.push(c).unwrap_or(0)).sum();
    if pcm.len() == CLIP_LEN {
        frames
    } else {
        0
    }
}

fn mismatches(got: &[f32], want: F32s) -> u32 {
    let differ = got
        .iter()
        .enumerate()
        .filter(|&(i, g)| g.to_bits() != want.get(i).to_bits())
        .count();
    differ as u32 + u32::from(want.len() != got.len())
}

fn logmel(c: &mut Checks, clip: usize) {
    let Ok(mut fe) = LogMel::new(&FrontEndSpec::KEYWORD) else {
        return c.check(false, "log-mel front-end builds");
    };
    let frames = feed(&mut fe, clip, 123);
    let mut out = [0.0f32; LOGMEL];
    let held = fe.features(&mut out).unwrap_or(0);
    let bad = mismatches(&out, fx::golden(clip).0);
    defmt::info!(
        "clip {=usize}: {=usize} log-mel frames (chunks of 123), {=usize} held, {=u32} values differ from the host's",
        clip,
        frames,
        held,
        bad
    );
    c.check(
        frames == 49 && held == 49 && bad == 0,
        "log-mel features have the host's bits",
    );
}

fn mfcc(c: &mut Checks, model: &Model<'_>, clip: usize) {
    let Ok(mut fe) = Mfcc::for_model(model, AUDIO) else {
        return c.check(false, "the model's front-end builds");
    };
    let frames = feed(&mut fe, clip, 1000);
    let mut x = [0.0f32; MFCC];
    let held = fe.features(&mut x).unwrap_or(0);
    let (_, want_x, want_y) = fx::golden(clip);
    let bad = mismatches(&x, want_x);
    // The network's scratch: twice its widest layer (the 490 inputs), `infer_scratch_len`.
    let (mut scratch, mut y) = ([0.0f32; 1024], [0.0f32; OUTPUTS]);
    let ran = model.network().infer(&x, Heads::ALL, &mut scratch, &mut y);
    let bad_y = mismatches(&y, want_y);
    defmt::info!(
        "clip {=usize}: {=usize} MFCC frames (chunks of 1000), {=u32} values and {=u32} outputs differ from the host's (inference ran: {=bool})",
        clip,
        frames,
        bad,
        bad_y,
        ran.is_ok()
    );
    c.check(
        frames == 49 && held == 49 && bad == 0 && ran.is_ok() && bad_y == 0,
        "MFCCs and the model's outputs have the host's bits",
    );
}

#[entry]
fn main() -> ! {
    fw::init("frontend: log-mel and MFCC features, bit-exact against the host");
    let mut c = Checks::new();
    let Ok(model) = Model::from_bytes(fx::MODEL) else {
        c.check(false, "the fixture model loads");
        c.finish()
    };
    let spec = model.front_end();
    c.check(
        spec.is_some_and(|s| s.dct_coeffs == 10 && s.input_len() == MFCC),
        "the model carries its MFCC front-end (format v6)",
    );
    let other = AudioConfig {
        sample_rate: 8000,
        ..AUDIO
    };
    c.check(
        matches!(
            Mfcc::for_model(&model, other),
            Err(Error::AudioMismatch {
                what: "sample_rate",
                model: 16_000,
                given: 8000
            })
        ),
        "8 kHz audio is refused, naming both rates",
    );
    for clip in 0..fx::clips() {
        logmel(&mut c, clip);
        mfcc(&mut c, &model, clip);
    }
    c.finish()
}
