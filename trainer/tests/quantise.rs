//! Post-training quantisation: the int8 weights dequantise to within half a step of the f32
//! ones, the int8 trunk (the runtime's kernels) tracks the f32 trunk's features on the
//! calibration rows, and activations the int8 kernels cannot express are refused.

mod common;
use common::{bin, run};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::net::conv::Conv;
use trainer::net::layer::{Op, Shape};
use trainer::net::max_pool::MaxPool;
use trainer::net::window::Window;
use trainer::net::{forward, Activation, Arch, Fwd, HeadKind, LayerSpec};
use trainer::quantise::{QLayer, QuantTrunk, Ranges};

fn arch(last: Activation) -> Arch {
    let input = Shape {
        channels: 1,
        height: 1,
        width: 16,
    };
    let conv = Conv {
        input,
        out_channels: 4,
        kernel: [1, 3],
        stride: 1,
        padding: [0, 1],
        depthwise: false,
    };
    let pooled = Shape {
        channels: 4,
        ..input
    };
    let pool = MaxPool(Window {
        input: pooled,
        kernel: [1, 2],
        stride: 2,
    });
    Arch {
        inputs: 16,
        shift: vec![0.0; 16],
        scale: vec![1.0; 16],
        layers: vec![
            LayerSpec::with_op(16, Op::Conv(conv), Activation::Relu),
            LayerSpec::with_op(64, Op::MaxPool(pool), Activation::Identity),
            LayerSpec::dense(32, 8, last),
        ],
        n_trunk: 3,
        head: HeadKind::Classification,
        window: None,
    }
}

fn setup(last: Activation) -> (Arch, Vec<f64>, Vec<f32>) {
    let a = arch(last);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut p = a.init_params(&mut rng);
    for b in [a.b_off(0), a.b_off(2)] {
        p[b] = 0.1; // biases that are not all zero
    }
    let x: Vec<f32> = (0..64 * 16).map(|_| rng.random_range(-2.0..2.0)).collect();
    (a, p, x)
}

#[test]
fn weights_dequantise_within_half_a_step() {
    let (a, p, x) = setup(Activation::Identity);
    let q = QuantTrunk::new(&a, &p, &x, Ranges::MinMax).unwrap();
    for (l, ql) in q.layers.iter().enumerate() {
        let (QLayer::Dense { q: w, .. } | QLayer::Conv { q: w, .. }) = ql else {
            continue;
        };
        let fan = w.weights.len() / w.w_scale.len();
        let orig = &p[a.w_off(l)..a.b_off(l)];
        for (i, (d, o)) in w.dequantised().iter().zip(orig).enumerate() {
            let step = f64::from(w.w_scale[i / fan]);
            assert!(
                (d - o).abs() <= step / 2.0 + 1e-12,
                "layer {l} weight {i}: {d} vs {o}"
            );
        }
        // The largest weight of each row is exactly +-127 steps.
        for row in w.weights.chunks(fan) {
            assert_eq!(row.iter().map(|v| v.unsigned_abs()).max(), Some(127));
        }
    }
    assert!(q.bytes() * 2 < trainer::quantise::f32_bytes(&a));
}

#[test]
fn int8_features_track_f32() {
    let (a, p, x) = setup(Activation::Identity);
    let q = QuantTrunk::new(&a, &p, &x, Ranges::MinMax).unwrap();
    let pf: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    let mut fwd = Fwd::default();
    forward(&a, &pf, &x, 64, &mut fwd, 0);
    let want = &fwd.ys[3];
    let range = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut got = vec![0.0f32; 8];
    let mut worst = 0.0f32;
    for (xr, wr) in x.chunks_exact(16).zip(want.chunks_exact(8)) {
        q.features(xr, &mut got).unwrap();
        for (g, w) in got.iter().zip(wr) {
            worst = worst.max((g - w).abs());
        }
    }
    // Three requantised tensors: a few output steps (range / 127) at most.
    assert!(worst < 0.05 * range, "worst {worst} of range {range}");
    assert!(worst > 0.0, "int8 features cannot equal f32 exactly");
}

#[test]
fn tanh_is_refused() {
    let (a, p, x) = setup(Activation::Tanh);
    let e = QuantTrunk::new(&a, &p, &x, Ranges::MinMax).unwrap_err();
    assert!(e.to_string().contains("cannot be quantised"), "{e}");
}

#[test]
fn percentile_ranges_are_inside_min_max() {
    let (a, p, x) = setup(Activation::Identity);
    let mm = QuantTrunk::new(&a, &p, &x, Ranges::MinMax).unwrap();
    let pc = QuantTrunk::new(&a, &p, &x, Ranges::Percentile(1.0)).unwrap();
    assert!(pc.input.scale < mm.input.scale);
}

/// `train` a small conv trunk on a synthetic series CSV (8 classes of sine phases), then
/// `quantise` it: the int8 rows sit beside the f32 rows and the baselines, with the sizes. The
/// novel classes' 14 rows leave 9 queries at 5 shots: the evaluation takes 9, as `train`'s.
#[test]
fn quantise_command_prints_int8_beside_f32() {
    let d = common::dir("quantise", "cli");
    let o = common::conv_run(
        &d,
        1.5,
        "test_classes = [5, 6, 7]\niterations = 10\nval_every = 5\nval_episodes = 10",
        &["--no-eval"],
        "m",
    );
    let out = d.join("m");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let quantise = || {
        let mut c = bin();
        c.args(["quantise", "--episodes", "30", "--calibration", "20"]);
        c
    };
    let o = run(quantise()
        .arg("--config")
        .arg(d.join("run.toml"))
        .arg("--trained")
        .arg(out.with_extension("trained.json")));
    let text = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("with 9 queries per class"), "{err}");
    for want in [
        "9 queries per class",
        "trunk_host",
        "trunk_int8",
        "nearest_centroid_raw",
        "20 calibration rows",
        "trunk bytes: f32 64,",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    // The model alone: its run record and `<out>.trained.json`, the same table.
    let by_model = run(quantise().arg("--model").arg(&out));
    assert!(
        by_model.status.success(),
        "{}",
        String::from_utf8_lossy(&by_model.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&by_model.stdout), text);
}

/// A run with a single novel class (a device that adds it later, by enrollment): no evaluation
/// episode exists, yet `quantise --export` still calibrates and writes the int8 model, warning
/// that it could not be compared with f32 and why; without --export (the comparison alone) it
/// is refused, naming --export.
#[test]
fn quantise_exports_without_novel_classes_to_compare_on() {
    let d = common::dir("quantise", "one-novel");
    // Trained long enough that its trunk beats the identity and is exported.
    let o = common::conv_run(
        &d,
        2.0,
        "test_classes = [5]\niterations = 300\nlr = 0.01\nval_every = 20\nval_episodes = 200",
        &[],
        "m.postcard",
    );
    let out = d.join("m.postcard");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("trunk trained") && err.contains("<- exported"),
        "{err}"
    );
    // One novel class: no `ways` makes an episode, so the advice is to hold out more.
    assert!(
        err.contains("there is 1, and any episode needs 2: hold out at least 2 more classes in `test_classes`, or 1 more class and set `ways = 2`"),
        "{err}"
    );
    let int8 = d.join("m.int8.postcard");
    let o = run(bin()
        .args(["quantise", "--calibration", "20", "--model"])
        .arg(&out)
        .arg("--export")
        .arg(&int8));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning: the int8 model was not compared with the f32 one: no evaluation episode fits the novel classes [5]"),
        "{err}"
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("trunk tensors: f32"), "{text}");
    let blob = runtime::format::AlignedBytes::read(&int8).unwrap();
    runtime::Model::from_bytes(&blob).unwrap();
    assert!(int8.with_extension("run.json").exists());
    // The comparison alone has nothing to compare on.
    let o = run(bin()
        .args(["quantise", "--calibration", "20", "--model"])
        .arg(&out));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`--export OUT.postcard` writes the int8 model"),
        "{err}"
    );
}

/// The quantised trunk `q` of `a` exported with a one-output regression head.
fn exported(a: &Arch, p: &[f64], q: &QuantTrunk) -> runtime::format::AlignedBytes {
    use runtime::writer::{Dense, HeadDef};
    let head = HeadDef::regression(
        0,
        "y",
        vec![Dense::zeros(8, 1, runtime::Activation::Identity)],
    );
    let def = trainer::quantise::export::int8_trunk_def("q", a, p, q).unwrap();
    def.head(head).to_aligned_bytes().unwrap()
}

#[test]
fn the_exported_int8_stem_computes_the_host_int8_trunk_bit_for_bit() {
    let (a, p, x) = setup(Activation::Relu);
    let q = QuantTrunk::new(&a, &p, &x, Ranges::MinMax).unwrap();
    let blob = exported(&a, &p, &q);
    let model = runtime::Model::from_bytes(&blob).unwrap();
    // quantise, conv, max pool, dense, dequantise; no f32 trunk layer.
    assert_eq!((model.stem().len(), model.trunk().len()), (5, 0));
    let net = model.network();
    let mut scratch = vec![0.0f32; model.infer_scratch_len()];
    let (mut got, mut want) = (vec![0.0f32; 8], vec![0.0f32; 8]);
    for row in x.chunks_exact(16) {
        net.features(row, &mut scratch, &mut got).unwrap();
        q.features(row, &mut want).unwrap();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want));
    }
    let described = trainer::inspect::describe(blob.as_bytes()).unwrap();
    for line in [
        "stem[0]    quantise 1x1x16",
        "stem[1]    int8 conv 1x1x16 -> 4x1x16",
        "stem[3]    int8 dense 32 (flat) -> 8x1x1",
        "per-channel scale",
        "bytes saved",
        "in int8 layers, stored in",
    ] {
        assert!(described.contains(line), "{line:?} in\n{described}");
    }
    // quantise's trunk bytes are the stem's tensors as the file stores them, as inspect says.
    let (int8, _) = trainer::inspect::int8_flash(&model).unwrap().unwrap();
    assert_eq!(q.bytes(), int8);
    // Its parameters are the f32 trunk's: weights and biases, each counted once.
    let params = format!("parameters {} (", a.n_params() + 8 + 1);
    assert!(described.contains(&params), "{params} in\n{described}");
}

/// `--f32-layers`: the first layers stay f32 stem layers before the quantise step, and the
/// deployed stem tracks the host's mixed trunk (the host runs them with the trainer's forward,
/// the device with the runtime's: the f32 maps agree to rounding, so a quantised value may
/// land one step apart); a trunk kept wholly in f32 is refused.
#[test]
fn f32_first_layers_run_before_the_quantise_step() {
    let (a, p, x) = setup(Activation::Relu);
    for (n, stem) in [
        (1, "stem[0]    conv 1x1x16 -> 4x1x16"),
        (2, "stem[1]    max pool"),
    ] {
        let q = QuantTrunk::with_f32_layers(&a, &p, &x, Ranges::MinMax, n).unwrap();
        assert_eq!((q.f32_layers(), q.layers.len()), (n, 3 - n));
        let blob = exported(&a, &p, &q);
        let model = runtime::Model::from_bytes(&blob).unwrap();
        let described = trainer::inspect::describe(blob.as_bytes()).unwrap();
        let quantise = format!("stem[{n}]    quantise");
        for line in [stem, quantise.as_str()] {
            assert!(described.contains(line), "{line:?} in\n{described}");
        }
        let net = model.network();
        let mut scratch = vec![0.0f32; model.infer_scratch_len()];
        let (mut got, mut want) = (vec![0.0f32; 8], vec![0.0f32; 8]);
        let (mut equal, mut total) = (0, 0);
        let step = q.output.scale;
        for row in x.chunks_exact(16) {
            net.features(row, &mut scratch, &mut got).unwrap();
            q.features(row, &mut want).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 2.0 * step, "{g} vs {w} (step {step})");
                equal += usize::from(g.to_bits() == w.to_bits());
                total += 1;
            }
        }
        assert!(equal * 10 >= total * 9, "{equal} of {total} bit-equal");
    }
    let e = QuantTrunk::with_f32_layers(&a, &p, &x, Ranges::MinMax, 3).unwrap_err();
    assert!(e.to_string().contains("at least one must be int8"), "{e}");
}
