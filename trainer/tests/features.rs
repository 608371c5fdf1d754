//! `trainer features` on a tiny manifest of synthetic WAV clips (chirps, written with hound):
//! the CSV holds the runtime front-end's features bit for bit, `trainer train` with the same
//! `[front_end]` exports a model that carries it (format v6, shown by `trainer inspect`), and
//! a config whose front-end differs from the data's is refused.

mod common;
use common::{bin, run};
use runtime::frontend::synth::Chirp;
use runtime::frontend::{FrontEnd, FrontEndSpec};
use std::path::{Path, PathBuf};
use trainer::features::Window;

fn dir(name: &str) -> PathBuf {
    common::dir("features", name)
}

const WORDS: [(&str, &str, f64); 6] = [
    ("alpha", "train", 300.0),
    ("bravo", "train", 900.0),
    ("charlie", "train", 1800.0),
    ("delta", "train", 3000.0),
    ("echo", "novel", 500.0),
    ("foxtrot", "novel", 2400.0),
];

/// Clip `i` of a word: a chirp around the word's frequency, seeded noise.
fn clip(base: f64, i: u32) -> Vec<i16> {
    let mut pcm = vec![0i16; 16_000];
    Chirp {
        from_hz: base,
        to_hz: base * (1.3 + 0.05 * f64::from(i)),
        amplitude: 0.3 + 0.05 * f64::from(i),
        noise: 0.02,
        seed: 100 + i,
    }
    .fill(&mut pcm, 16_000);
    pcm
}

/// Nine clips a word (five of `seen` voices, four `unseen`), under the manifest's header.
fn manifest(d: &Path) -> PathBuf {
    std::fs::create_dir_all(d.join("clips")).unwrap();
    let mut m = String::from(
        "file,word,word_split,voice,variant,voice_split,speed_wpm,pitch,noise,snr_db,seed,sha256\n",
    );
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    for (word, split, base) in WORDS {
        for i in 0..9 {
            let file = format!("clips/{word}-{i}.wav");
            let mut w = hound::WavWriter::create(d.join(&file), spec).unwrap();
            for s in clip(base, i) {
                w.write_sample(s).unwrap();
            }
            w.finalize().unwrap();
            let voice = if i < 5 { "seen" } else { "unseen" };
            m += &format!("{file},{word},{split},en,,{voice},160,50,0,,{i},\n");
        }
    }
    let path = d.join("manifest.csv");
    std::fs::write(&path, m).unwrap();
    path
}

const MFCC: FrontEndSpec = FrontEndSpec {
    dct_coeffs: 10,
    ..FrontEndSpec::KEYWORD
};

#[test]
fn features_are_the_runtimes_and_the_model_carries_the_front_end() {
    let d = dir("mfcc");
    let manifest = manifest(&d);
    std::fs::write(d.join("fe.toml"), "dct_coeffs = 10\n").unwrap();
    let out = d.join("features.csv.gz");
    let o = run(bin()
        .args(["features", "--manifest"])
        .arg(&manifest)
        .arg("--front-end")
        .arg(d.join("fe.toml"))
        .args(["--voice-split", "seen", "--out"])
        .arg(&out));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rec = trainer::features::recorded(&out).unwrap().unwrap();
    assert_eq!(rec.front_end, MFCC);
    assert_eq!(rec.rows, 30);
    assert_eq!(rec.labels[0], ("alpha".to_string(), "train".to_string()));
    assert_eq!(rec.labels[4], ("echo".to_string(), "novel".to_string()));

    // The rows, as the trainer's loader reads them, are the runtime's features bit for bit.
    let ds = trainer::classify::data::Dataset::load(&out).unwrap();
    assert_eq!((ds.rows(), ds.d), (30, 490));
    // Its index labels are named by the record's words, so a configuration may name them.
    assert_eq!(ds.class_names[4], "echo");
    assert_eq!(ds.class_names.len(), 6);
    let mut fe = Box::new(FrontEnd::<512, 40, 490>::new(&MFCC).unwrap());
    fe.push(&clip(WORDS[1].2, 2)).unwrap();
    let mut want = [0.0f32; 490];
    assert_eq!(fe.features(&mut want), Ok(49));
    let row = (0..ds.rows())
        .find(|&r| ds.labels[r] == 1 && ds.lines[r] == 2 + 5 + 2)
        .expect("bravo's third clip");
    let got: Vec<f32> = ds.row(row).iter().map(|&v| v as f32).collect();
    assert!(got
        .iter()
        .zip(&want)
        .all(|(g, w)| g.to_bits() == w.to_bits()));

    // Train on it with the same front-end: the export carries it.
    let config = r#"task = "classification"
data = "features.csv.gz"
train_classes = ["alpha", "bravo", "charlie", "delta"]
val_classes = ["charlie", "delta"]
test_classes = ["echo", "foxtrot"]
ways = 2
shots = [1]
query = 2
hidden = [16]
iterations = 20
val_every = 10
val_episodes = 10
device_scales = [0.5]
device_alphas = [0.0]
device_steps = 1
val_fraction = 0.4

[front_end]
dct_coeffs = 10
"#;
    let model = d.join("kws.postcard");
    let o = common::train_no_eval(&d, config, &model);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let blob = runtime::format::AlignedBytes::from_slice(&std::fs::read(&model).unwrap());
    assert_eq!(blob.as_bytes()[4], 6, "format v6");
    let loaded = runtime::Model::from_bytes(blob.as_bytes()).unwrap();
    assert_eq!(loaded.front_end(), Some(MFCC));
    let o = run(bin().arg("inspect").arg(&model));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("front-end  16000 Hz mono"), "{text}");
    assert!(
        text.contains("10 MFCCs: 49 frames x 10 = the input"),
        "{text}"
    );

    // The voices held out of training: another voice split of the same recording is evaluated
    // with the run's classes and normalisation; the same clips through another front-end are
    // refused.
    let unseen = d.join("unseen.csv.gz");
    let o = run(bin()
        .args(["features", "--manifest"])
        .arg(&manifest)
        .arg("--front-end")
        .arg(d.join("fe.toml"))
        .args(["--voice-split", "unseen", "--out"])
        .arg(&unseen));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let eval_of = |model: &Path, data: &Path, extra: &[&std::ffi::OsStr]| {
        run(bin()
            .args(["eval", "--model"])
            .arg(model)
            .arg("--data")
            .arg(data)
            .args(extra)
            .args(["--ways", "2", "--shots", "1", "--query", "1"])
            .args(["--steps", "0", "--episodes", "4"]))
    };
    let eval = |data: &Path| eval_of(&model, data, &[]);
    let o = eval(&unseen);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.contains("the voice split `unseen` of the run's recording"),
        "{err}"
    );
    // Without the run record, the config names the classes; the unseen split's few clips a
    // word could not train (2 training rows a word for shots + query = 3), but nothing trains
    // in an evaluation.
    let bare = d.join("bare.postcard");
    std::fs::copy(&model, &bare).unwrap();
    let run_toml = d.join("run.toml");
    let o = eval_of(&bare, &unseen, &["--config".as_ref(), run_toml.as_os_str()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && text.contains("nearest_centroid_standardised"),
        "{}{text}",
        String::from_utf8_lossy(&o.stderr)
    );
    let other = d.join("other.csv.gz");
    let o = run(bin()
        .args(["features", "--manifest"])
        .arg(&manifest)
        .args(["--voice-split", "seen", "--out"])
        .arg(&other));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = eval(&other);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("SHA-256"), "{err}");
    // Without a record or config (every class new to the model), features of another
    // front-end than the model's are refused before any episode.
    let o = eval_of(&bare, &other, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("another front-end than the model's"),
        "{err}"
    );
    let o = eval_of(&bare, &unseen, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Another front-end than the data's is refused before training.
    std::fs::write(
        d.join("run.toml"),
        config.replace("dct_coeffs = 10", "dct_coeffs = 12"),
    )
    .unwrap();
    let o = run(bin()
        .args(["train", "--no-eval", "--config"])
        .arg(d.join("run.toml"))
        .arg("--out")
        .arg(d.join("other.postcard")));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("differs from the front-end"),
        "{err}"
    );
}

/// Recordings as users have them (48 kHz stereo 24-bit, 8 kHz mono 16-bit) become the
/// front-end's 16 kHz 16-bit mono: channels averaged, band-limited resampling. A 16 kHz mono
/// 16-bit clip is read as it is.
#[test]
fn clips_of_another_rate_or_layout_are_converted() {
    let d = dir("rate");
    std::fs::create_dir_all(&d).unwrap();
    let tone = |rate: u32, i: usize| {
        0.4 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / f64::from(rate)).sin()
    };
    let write = |name: &str, rate: u32, channels: u16, bits: u16| {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let path = d.join(name);
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        let full = f64::from(1u32 << (bits - 1));
        for i in 0..rate as usize {
            for c in 0..channels {
                // The right channel is the left one halved: the average is 0.75 of the tone.
                let gain = if c == 0 { 1.0 } else { 0.5 };
                let v = if channels == 1 { 0.75 } else { gain } * tone(rate, i) * full;
                w.write_sample(v.round() as i32).unwrap();
            }
        }
        w.finalize().unwrap();
        path
    };
    let spec = FrontEndSpec::KEYWORD;
    let read = |path: &Path, window| trainer::features::read_clip(path, &spec, window).unwrap();
    let native = read(&write("native.wav", 16_000, 1, 16), Window::Centred);
    assert!(!native.converted && native.len == 16_000);
    let native = native.pcm;
    for (name, rate, channels, bits) in [("studio.wav", 48_000, 2, 24), ("phone.wav", 8_000, 1, 16)]
    {
        let clip = read(&write(name, rate, channels, bits), Window::Centred);
        let pcm = clip.pcm;
        assert!(
            clip.converted && clip.len == 16_000 && pcm.len() == 16_000,
            "{name}"
        );
        // Away from the clip's ends (the resampler's filter sees silence past them), the same
        // 440 Hz tone within 0.5 % of full scale.
        let worst = pcm[800..15_200]
            .iter()
            .zip(&native[800..15_200])
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap();
        assert!(worst < 164, "{name}: {worst}");
    }
    // A long recording, its first second kept (`--window first`): only that second (and the
    // resampler's margin) is decoded, and it is what resampling the whole recording gives.
    let long: Vec<f32> = (0..3 * 48_000).map(|i| tone(48_000, i) as f32).collect();
    let path = d.join("long.wav");
    let spec32 = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&path, spec32).unwrap();
    long.iter().for_each(|&v| w.write_sample(v).unwrap());
    w.finalize().unwrap();
    let first = read(&path, Window::First);
    assert_eq!(first.len, 48_000);
    let pcm = first.pcm;
    let whole = {
        use rubato::audioadapter_buffers::direct::InterleavedSlice;
        use rubato::{Fft, FixedSync, Resampler};
        let mut r = Fft::<f32>::new(48_000, 16_000, 1024, 1, FixedSync::Input).unwrap();
        let input = InterleavedSlice::new(&long, 1, long.len()).unwrap();
        r.process_all(&input, long.len(), None).unwrap().take_data()
    };
    let whole: Vec<i16> = whole[..16_000]
        .iter()
        .map(|v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    assert_eq!(pcm, whole);
    // Through the command: the 16 kHz manifest's clips, for an 8 kHz front-end.
    let manifest = manifest(&d);
    std::fs::write(d.join("fe.toml"), "sample_rate = 8000\nf_max = 4000\n").unwrap();
    let o = run(bin()
        .args(["features", "--manifest"])
        .arg(&manifest)
        .arg("--front-end")
        .arg(d.join("fe.toml"))
        .arg("--out")
        .arg(d.join("f.csv")));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("54 of 54 clips converted to 8000 Hz"), "{err}");
    let rec = std::fs::read_to_string(d.join("f.front_end.json")).unwrap();
    assert!(rec.contains("\"converted\": 54"), "{rec}");
}

/// A recording longer than a second keeps the second centred on its word (the default,
/// `--window centred`): a word-like burst in 3 s of a microphone's noise floor ends up whole
/// and in the middle, whatever the recording's rate and the noise; `--window first` keeps the
/// first second; clips shorter than a second are padded. The command counts both and records
/// the rule.
#[test]
fn long_recordings_keep_the_second_centred_on_the_word() {
    let d = dir("window");
    std::fs::create_dir_all(&d).unwrap();
    // 3 s of silence at `rate` with a 300 Hz burst from 1.6 s to 1.9 s (the 16 kHz sample
    // indices 25 600..30 400).
    let write = |name: &str, rate: u32, seconds: f64| {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let path = d.join(name);
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        // A noise floor of about +-60 (-55 dBFS), from a fixed LCG.
        let mut state = 0x2545_f491u32;
        for i in 0..(seconds * f64::from(rate)) as usize {
            let t = i as f64 / f64::from(rate);
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = f64::from((state >> 16) % 121) - 60.0;
            let burst = (1.6..1.9).contains(&t);
            let v = if burst {
                8_000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()
            } else {
                0.0
            };
            w.write_sample((v + noise).round() as i16).unwrap();
        }
        w.finalize().unwrap();
        path
    };
    let spec = FrontEndSpec::KEYWORD;
    let read = |path: &Path, window| trainer::features::read_clip(path, &spec, window).unwrap();
    let loud = |pcm: &[i16]| {
        let on: Vec<usize> = (0..pcm.len()).filter(|&i| pcm[i].abs() > 1_000).collect();
        (on[0], on[on.len() - 1])
    };
    let native = read(&write("native.wav", 16_000, 3.0), Window::Centred);
    assert_eq!((native.len, native.converted), (48_000, false));
    // The burst (4 800 samples) in the middle of the kept second: 5 600..10 400, within a
    // frame or two.
    let (a, b) = loud(&native.pcm);
    assert!(
        a.abs_diff(5_600) < 320 && b.abs_diff(10_400) < 320,
        "{a}..{b}"
    );
    // The same from a 44.1 kHz recording, converted.
    let cd = read(&write("cd.wav", 44_100, 3.0), Window::Centred);
    assert!(cd.converted && cd.len == 48_000);
    let (c, e) = loud(&cd.pcm);
    assert!(
        c.abs_diff(a) < 200 && e.abs_diff(b) < 200,
        "{c}..{e} vs {a}..{b}"
    );
    // The first second: the noise floor only.
    let first = read(&write("first.wav", 16_000, 3.0), Window::First);
    assert!(first.pcm.iter().all(|&v| v.abs() <= 60) && first.len == 48_000);
    // Through the command: one long clip, one short one.
    write("short.wav", 16_000, 0.5);
    std::fs::write(
        d.join("m.csv"),
        "file,word\nnative.wav,burst\nshort.wav,nothing\n",
    )
    .unwrap();
    for (window, rule) in [
        ("centred", "the second centred on the word"),
        ("first", "the first second"),
    ] {
        let o = run(bin()
            .args(["features", "--manifest"])
            .arg(d.join("m.csv"))
            .args(["--window", window, "--out"])
            .arg(d.join(format!("{window}.csv"))));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(
            err.contains(&format!("1 of 2 clips longer than a second, cut to {rule}")),
            "{err}"
        );
        assert!(
            err.contains("1 of 2 clips shorter than a second, padded with silence"),
            "{err}"
        );
        let rec = std::fs::read_to_string(d.join(format!("{window}.front_end.json"))).unwrap();
        assert!(rec.contains(&format!("\"window\": \"{window}\"")), "{rec}");
    }
    // Too long a recording is refused, naming it.
    let o = run(bin()
        .args(["features", "--manifest"])
        .arg({
            write("hour.wav", 8_000, 61.0);
            std::fs::write(d.join("h.csv"), "file,word\nhour.wav,x\n").unwrap();
            d.join("h.csv")
        })
        .arg("--out")
        .arg(d.join("h.out.csv")));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("hour.wav: 61.0 s long"),
        "{err}"
    );
}
