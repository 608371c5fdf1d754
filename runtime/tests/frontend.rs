//! The audio front-end: against a straightforward f64 reference (window, DFT, mel, log, DCT),
//! streaming in chunks of any size against the whole clip (bit for bit), the ring keeping the
//! last second, capacities, and models that carry a front-end (format v6).
#![cfg(feature = "audio-frontend")]

use fewshot_runtime::format::Capabilities;
use fewshot_runtime::frontend::synth::Chirp;
use fewshot_runtime::frontend::{AudioConfig, FrontEnd, FrontEndSpec};
use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
use fewshot_runtime::{Activation, Error, Model};
use std::f64::consts::PI;

type Keyword = FrontEnd<512, 40, { 49 * 40 }>;

fn clip(seconds: f64, seed: u32) -> Vec<i16> {
    let mut pcm = vec![0i16; (16_000.0 * seconds) as usize];
    Chirp {
        from_hz: 150.0 + f64::from(seed % 7) * 40.0,
        to_hz: 6500.0,
        amplitude: 0.4,
        noise: 0.02,
        seed,
    }
    .fill(&mut pcm, 16_000);
    pcm
}

fn features(fe: &mut Keyword, pcm: &[i16]) -> Vec<f32> {
    fe.reset();
    fe.push(pcm).unwrap();
    let mut out = vec![0.0; fe.spec().input_len()];
    let n = fe.features(&mut out).unwrap();
    out.truncate(n * fe.ring().width());
    out
}

/// The front-end's definition, term by term in f64: window, DFT, power, mel, log, DCT.
fn reference(spec: &FrontEndSpec, pcm: &[i16]) -> Vec<f64> {
    let (frame, hop, n) = (
        usize::from(spec.frame_len),
        usize::from(spec.hop),
        usize::from(spec.fft_size),
    );
    let mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
    let hz = |m: f64| 700.0 * (10f64.powf(m / 2595.0) - 1.0);
    let m = usize::from(spec.mel_bins);
    let (lo, hi) = (mel(f64::from(spec.f_min)), mel(f64::from(spec.f_max)));
    let points: Vec<f64> = (0..m + 2)
        .map(|j| hz(lo + j as f64 * (hi - lo) / (m + 1) as f64))
        .collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start + frame <= pcm.len() {
        let x: Vec<f64> = (0..frame)
            .map(|i| {
                let w = 0.5 - 0.5 * (2.0 * PI * i as f64 / frame as f64).cos();
                f64::from(pcm[start + i]) / 32768.0 * w
            })
            .collect();
        let power: Vec<f64> = (0..=n / 2)
            .map(|k| {
                let (mut re, mut im) = (0.0, 0.0);
                for (i, v) in x.iter().enumerate() {
                    let a = -2.0 * PI * (k * i % n) as f64 / n as f64;
                    re += v * a.cos();
                    im += v * a.sin();
                }
                re * re + im * im
            })
            .collect();
        let logs: Vec<f64> = (0..m)
            .map(|b| {
                let (l, c, r) = (points[b], points[b + 1], points[b + 2]);
                let e: f64 = power
                    .iter()
                    .enumerate()
                    .map(|(k, p)| {
                        let f = k as f64 * f64::from(spec.sample_rate) / n as f64;
                        p * ((f - l) / (c - l)).min((r - f) / (r - c)).max(0.0)
                    })
                    .sum();
                (e + f64::from(spec.log_offset)).ln()
            })
            .collect();
        if spec.dct_coeffs == 0 {
            out.extend(logs);
        } else {
            for i in 0..usize::from(spec.dct_coeffs) {
                let s = if i == 0 { 1.0 } else { 2.0 };
                let sum: f64 = logs
                    .iter()
                    .enumerate()
                    .map(|(j, v)| v * (PI * i as f64 * (2 * j + 1) as f64 / (2 * m) as f64).cos())
                    .sum();
                out.push(sum * (s / m as f64).sqrt());
            }
        }
        start += hop;
    }
    out
}

fn max_error(spec: &FrontEndSpec, pcm: &[i16]) -> f64 {
    let mut fe = Box::new(FrontEnd::<512, 40, { 49 * 40 }>::new(spec).unwrap());
    let got = features(&mut fe, pcm);
    let want = reference(spec, pcm);
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(&want)
        .map(|(g, w)| (f64::from(*g) - w).abs())
        .fold(0.0, f64::max)
}

/// Log-mel features and MFCCs within 1e-4 (natural log units) of the f64 definition (measured:
/// 1.2e-5 and 6.4e-6 on the keyword spec): f32 rounding in the FFT and the filter sums.
#[test]
fn features_match_an_f64_reference() {
    let pcm = clip(0.25, 3);
    let logmel = max_error(&FrontEndSpec::KEYWORD, &pcm);
    let mfcc = max_error(
        &FrontEndSpec {
            dct_coeffs: 10,
            ..FrontEndSpec::KEYWORD
        },
        &pcm,
    );
    println!("largest error: log-mel {logmel:.2e}, MFCC {mfcc:.2e}");
    assert!(logmel < 1e-4, "log-mel {logmel}");
    assert!(mfcc < 1e-4, "MFCC {mfcc}");
    // Another shape: 8 kHz, 25 ms frames, FFT 256, 23 bands, 13 MFCCs.
    let narrow = FrontEndSpec {
        sample_rate: 8000,
        frame_len: 200,
        hop: 80,
        fft_size: 256,
        mel_bins: 23,
        f_min: 0.0,
        f_max: 4000.0,
        log_offset: 1e-3,
        dct_coeffs: 13,
    };
    let mut pcm8 = vec![0i16; 2000];
    Chirp {
        from_hz: 100.0,
        to_hz: 3900.0,
        amplitude: 0.3,
        noise: 0.05,
        seed: 11,
    }
    .fill(&mut pcm8, 8000);
    let got = {
        let mut fe = Box::new(FrontEnd::<256, 23, 4096>::new(&narrow).unwrap());
        fe.push(&pcm8).unwrap();
        let mut out = vec![0.0; 4096];
        let frames = fe.features(&mut out).unwrap();
        out.truncate(frames * 13);
        out
    };
    let want = reference(&narrow, &pcm8);
    assert_eq!(got.len(), want.len());
    let err = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (f64::from(*g) - w).abs())
        .fold(0.0, f64::max);
    println!("8 kHz MFCC: {err:.2e}");
    assert!(err < 1e-4, "8 kHz MFCC {err}");
}

#[test]
fn chunks_of_any_size_give_the_same_bits_as_the_whole_clip() {
    let pcm = clip(1.0, 5);
    let mut fe = Box::new(Keyword::new(&FrontEndSpec::KEYWORD).unwrap());
    let whole = features(&mut fe, &pcm);
    assert_eq!(whole.len(), 49 * 40);
    for size in [1, 7, 319, 320, 321, 480, 1000, 4097] {
        fe.reset();
        let mut frames = 0;
        for chunk in pcm.chunks(size) {
            frames += fe.push(chunk).unwrap();
        }
        assert_eq!(frames, 49, "chunks of {size}");
        let mut out = vec![0.0; 49 * 40];
        assert_eq!(fe.features(&mut out), Ok(49));
        let same = out
            .iter()
            .zip(&whole)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "chunks of {size}");
    }
}

#[test]
fn the_ring_keeps_the_last_second() {
    // 2.5 s: 124 frames; the ring keeps the last 49, which start at sample 75 x 320.
    let pcm = clip(2.5, 9);
    let mut fe = Box::new(Keyword::new(&FrontEndSpec::KEYWORD).unwrap());
    assert_eq!(fe.push(&pcm).unwrap(), 124);
    assert!(fe.ring().is_full());
    let mut out = vec![0.0; 49 * 40];
    assert_eq!(fe.features(&mut out), Ok(49));
    let tail = features(&mut fe, &pcm[75 * 320..75 * 320 + 16_000]);
    assert_eq!(out, tail);
    // Before a second, the frames so far; a buffer too small is refused.
    fe.reset();
    assert_eq!(fe.push(&pcm[..800]).unwrap(), 2);
    assert_eq!(fe.features(&mut out), Ok(2));
    assert_eq!(
        fe.features(&mut [0.0; 79]),
        Err(Error::BufferTooSmall {
            what: "features",
            needed: 80,
            provided: 79
        })
    );
}

#[test]
fn capacities_and_settings_are_checked() {
    let spec = FrontEndSpec::KEYWORD;
    let small = FrontEnd::<256, 40, { 49 * 40 }>::new(&spec).map(|_| ());
    assert_eq!(
        small,
        Err(Error::Capacity {
            what: "FFT points (FFT)",
            needed: 512,
            available: 256
        })
    );
    let few = FrontEnd::<512, 20, { 49 * 40 }>::new(&spec).map(|_| ());
    assert!(matches!(few, Err(Error::Capacity { needed: 40, .. })));
    let short = FrontEnd::<512, 40, 1000>::new(&spec).map(|_| ());
    assert!(matches!(short, Err(Error::Capacity { needed: 1960, .. })));
    let bad = FrontEndSpec { hop: 0, ..spec };
    assert!(matches!(
        Keyword::new(&bad).map(|_| ()),
        Err(Error::FrontEndSetting { field: "hop", .. })
    ));
}

fn keyword_model(spec: FrontEndSpec) -> ModelDef {
    let head = HeadDef::classification(
        0,
        "word",
        vec![Dense::zeros(spec.input_len(), 3, Activation::Identity)],
    );
    ModelDef::new("kws", spec.input_len())
        .front_end(spec)
        .head(head)
}

#[test]
fn a_model_carries_its_front_end_and_refuses_other_audio() {
    let spec = FrontEndSpec {
        dct_coeffs: 10,
        ..FrontEndSpec::KEYWORD
    };
    let def = keyword_model(spec);
    assert_eq!(def.version(), 6);
    let blob = def.to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    assert_eq!(model.front_end(), Some(spec));
    assert!(model.capabilities().contains(Capabilities::AUDIO_FRONTEND));
    assert_eq!(ModelDef::from_model(&model).unwrap().front_end, Some(spec));
    let audio = AudioConfig {
        sample_rate: 16_000,
        channels: 1,
    };
    type Mfcc = FrontEnd<512, 40, 490>;
    let fe = Box::new(Mfcc::for_model(&model, audio).unwrap());
    assert_eq!(fe.spec(), &spec);
    let other = AudioConfig {
        sample_rate: 44_100,
        ..audio
    };
    assert_eq!(
        Mfcc::for_model(&model, other).map(|_| ()),
        Err(Error::AudioMismatch {
            what: "sample_rate",
            model: 16_000,
            given: 44_100
        })
    );
    // A model without a front-end has none to build.
    let plain = ModelDef::new("plain", 4)
        .head(HeadDef::classification(
            0,
            "c",
            vec![Dense::zeros(4, 2, Activation::Identity)],
        ))
        .to_aligned_bytes()
        .unwrap();
    let plain = Model::from_bytes(&plain).unwrap();
    assert_eq!(plain.front_end(), None);
    assert_eq!(
        Mfcc::for_model(&plain, audio).map(|_| ()),
        Err(Error::NoFrontEnd)
    );
    // Older versions cannot carry it.
    assert_eq!(
        def.to_bytes_as(5).unwrap_err(),
        Error::UnsupportedVersion { found: 5 }
    );
}

#[test]
fn the_input_must_be_the_front_ends_second_and_the_spec_valid() {
    let spec = FrontEndSpec::KEYWORD;
    let mut def = keyword_model(spec);
    def.input_len = 1000;
    def.heads[0].layers[0] = Dense::zeros(1000, 3, Activation::Identity);
    assert_eq!(
        def.to_bytes().unwrap_err(),
        Error::InvalidHeader {
            field: "front_end (input_len is not frames x features)"
        }
    );
    let mut def = keyword_model(spec);
    def.front_end = Some(FrontEndSpec {
        fft_size: 500,
        ..spec
    });
    assert!(matches!(
        def.to_bytes().unwrap_err(),
        Error::FrontEndSetting {
            field: "fft_size (a power of two)",
            ..
        }
    ));
}
