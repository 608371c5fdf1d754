//! The files the firmware embeds (`firmware/fixtures/`): models written by the runtime's
//! writer, held-out sinusoid tasks, and the golden outputs that the runtime computes on the
//! host for the same inputs and the same adaptation. The firmware compares its own outputs
//! with them bit for bit (on Cortex-M4F and Cortex-M3 under QEMU).
//!
//! This test fails when the committed files are stale (the runtime's format or arithmetic
//! changed); regenerate them with `cargo xtask fixtures`
//! (`FEWSHOT_BLESS=1 cargo test -p fewshot-tests --test firmware_fixtures`).
//!
//! The demo's sinusoid model is the trainer's export, `models/sinusoid.postcard` (the firmware
//! embeds that file itself); its held-out tasks come from the trainer's sinusoid task source with
//! a fixed seed. Retraining the model makes the golden vectors stale, and this test says so.
//! The other models (multi-head tests, benchmarks) have deterministic pseudo-random weights: the
//! point there is agreement between host and device and instruction counts, not accuracy.

#[path = "firmware_fixtures/conv.rs"]
mod conv;
#[path = "firmware_fixtures/enroll.rs"]
mod enroll;
#[path = "firmware_fixtures/frontend.rs"]
mod frontend;
#[path = "firmware_fixtures/keyword.rs"]
mod keyword;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use runtime::{Activation, AdaptScope, AdaptState, Heads, Model, Support};
use std::path::PathBuf;
use trainer::tasks::{Sinusoid, Split, TaskSource};

/// Tasks, shots, query points and inner steps of the demo.
const TASKS: usize = 3;
const K: usize = 10;
const Q: usize = 16;
const STEPS: u16 = 10;
/// Adapted parameters of the sinusoid model, full network.
const SINUSOID_PARAMS: usize = 1761;
/// Adapted parameters of the proximal sinusoid model (its 40 -> 1 head), and its steps.
const PROXIMAL_PARAMS: usize = 41;
const PROXIMAL_STEPS: u16 = 1;
/// `AdaptState` capacity for either.
const P: usize = 1761;

struct Lcg(u64);
impl Lcg {
    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let u = (self.0 >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    fn dense(&mut self, inputs: usize, outputs: usize, act: Activation) -> Dense {
        let s = (6.0 / inputs as f32).sqrt();
        let w = (0..inputs * outputs).map(|_| self.uniform(-s, s)).collect();
        let b = (0..outputs).map(|_| self.uniform(-0.1, 0.1)).collect();
        Dense::new(inputs, outputs, act, w, b)
    }
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("firmware")
        .join("fixtures")
}

/// A model the trainer exported into `models/` (`how`: the command that makes it).
fn trained_model(file: &str, how: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `{how}`)", path.display()))
}

/// The trainer's exported sinusoid model (1 -> 40 -> 40 -> 1 ReLU, Meta-SGD, full network).
fn sinusoid_model() -> Vec<u8> {
    trained_model("sinusoid.postcard", "trainer train --preset sinusoid")
}

/// The trainer's sinusoid model adapted by one implicit (proximal) head step.
fn sinusoid_proximal_model() -> Vec<u8> {
    trained_model(
        "sinusoid_proximal.postcard",
        "trainer train --config trainer/configs/sinusoid_proximal.toml",
    )
}

/// A small multi-head model: 8 -> 16 -> 16 ReLU trunk; a 10-way head, a 5-way head adapted
/// from prototypes and enrollable up to 8 classes (the serial firmware's), and a two-layer
/// regression head.
fn multihead_model() -> Vec<u8> {
    let mut r = Lcg(0xd161_7500);
    let trunk1 = r.dense(8, 16, Activation::Relu);
    let trunk2 = r.dense(16, 16, Activation::Relu);
    let ten = HeadDef::classification(0, "digits10", vec![r.dense(16, 10, Activation::Identity)]);
    let five = HeadDef::classification(1, "new5", vec![r.dense(16, 5, Activation::Identity)])
        .with_adapt(
            AdaptDef::new(AdaptScope::HeadOnly, 3, RateDef::Scalar(0.05), 5.0).with_prototypes(1.0),
        )
        .with_max_classes(8);
    let reg = HeadDef::regression(
        2,
        "pose",
        vec![
            r.dense(16, 8, Activation::Tanh),
            r.dense(8, 2, Activation::Identity),
        ],
    )
    .with_adapt(AdaptDef::new(
        AdaptScope::HeadAndLastTrunk(1),
        2,
        RateDef::Scalar(0.01),
        5.0,
    ));
    ModelDef::new("multihead-fixture", 8)
        .with_id(0x3417_0001)
        .trunk(trunk1)
        .trunk(trunk2)
        .head(ten)
        .head(five)
        .head(reg)
        .to_bytes()
        .expect("the writer accepts the multi-head fixture")
}

/// The sinusoid network adapting its head only (benchmarks).
fn sinusoid_head_model() -> Vec<u8> {
    let mut r = Lcg(0x51_4e05);
    let head = HeadDef::regression(0, "y", vec![r.dense(40, 1, Activation::Identity)]).with_adapt(
        AdaptDef::new(AdaptScope::HeadOnly, STEPS, RateDef::Scalar(0.005), 10.0),
    );
    ModelDef::new("sinusoid-head-fixture", 1)
        .with_id(0x5150_0002)
        .trunk(r.dense(1, 40, Activation::Relu))
        .trunk(r.dense(40, 40, Activation::Relu))
        .head(head)
        .to_bytes()
        .expect("the writer accepts the head-only sinusoid fixture")
}

/// The digits-sized network (benchmarks): 64 -> 64 -> 64 ReLU, a fixed 10-way head and a 5-way
/// head adapted from prototypes.
fn digits_model() -> Vec<u8> {
    digits_def()
        .to_bytes()
        .expect("the writer accepts the digits fixture")
}

/// The benchmark's digits model with its 10-way head enrollable: the device holds up to 16
/// classes in it (format v4; the firmware benchmark's enrollment rows).
fn enroll_model() -> Vec<u8> {
    let mut def = digits_def().with_id(0xd161_0002);
    def.heads[0].max_classes = Some(16);
    def.to_bytes()
        .expect("the writer accepts the enrollable digits fixture")
}

fn digits_def() -> ModelDef {
    let mut r = Lcg(0xd161_7501);
    let t1 = r.dense(64, 64, Activation::Relu);
    let t2 = r.dense(64, 64, Activation::Relu);
    let ten = HeadDef::classification(0, "digits", vec![r.dense(64, 10, Activation::Identity)]);
    let five = HeadDef::classification(1, "novel", vec![r.dense(64, 5, Activation::Identity)])
        .with_adapt(
            AdaptDef::new(AdaptScope::HeadOnly, 5, RateDef::Scalar(0.05), 10.0)
                .with_prototypes(0.1),
        );
    ModelDef::new("digits-fixture", 64)
        .with_id(0xd161_0001)
        .trunk(t1)
        .trunk(t2)
        .head(ten)
        .head(five)
}

fn push_f32s(out: &mut Vec<u8>, v: &[f32]) {
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

fn push_u32s(out: &mut Vec<u8>, v: &[u32]) {
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// Held-out tasks (`FSTK`) and the runtime's outputs on them (`FSGD`) for a model with `p`
/// adapted parameters, adapted for `steps` inner steps.
fn sinusoid_tasks_and_golden(blob: &[u8], p: usize, steps: u16) -> (Vec<u8>, Vec<u8>) {
    let aligned = runtime::format::AlignedBytes::from_slice(blob);
    let model = Model::from_bytes(aligned.as_bytes()).expect("fixture loads");
    let needs = model.ram_needs(0, K).expect("ram needs");
    assert_eq!(needs.state, p, "firmware's AdaptState capacity");
    let mut rng = ChaCha8Rng::seed_from_u64(0x7a5c_0001);
    let mut tasks = b"FSTK".to_vec();
    push_u32s(
        &mut tasks,
        &[1, TASKS as u32, K as u32, Q as u32, u32::from(STEPS)],
    );
    let mut golden = b"FSGD".to_vec();
    push_u32s(
        &mut golden,
        &[1, TASKS as u32, Q as u32, u32::from(steps), p as u32],
    );
    let mut scratch = vec![0.0f32; needs.adapt_scratch.max(needs.infer_scratch)];
    for _ in 0..TASKS {
        let task = Sinusoid.sample(Split::MetaTest, K, Q, &mut rng);
        let f32s = |v: &[f64]| -> Vec<f32> { v.iter().map(|&x| x as f32).collect() };
        let (sx, sy) = (f32s(&task.support_x), f32s(&task.support_y));
        let (qx, qy) = (f32s(&task.query_x), f32s(&task.query_y));
        let (amp, phase) = task.truth.unwrap_or_default();
        push_f32s(&mut tasks, &sx);
        push_f32s(&mut tasks, &sy);
        push_f32s(&mut tasks, &qx);
        push_f32s(&mut tasks, &qy);

        let mut state = AdaptState::<P>::new(&model, 0).expect("state");
        let mut before = vec![0.0f32; Q];
        model
            .network()
            .infer_batch(&qx, Heads::ALL, &mut scratch, &mut before)
            .expect("infer before");
        let mut losses = vec![0.0f32; usize::from(steps) + 1];
        state
            .adapt(
                &model,
                Support::values(&sx, &sy),
                Some(steps),
                &mut scratch,
                &mut losses,
            )
            .expect("adapt");
        let mut after = vec![0.0f32; Q];
        state
            .network(&model)
            .expect("adapted network")
            .infer_batch(&qx, Heads::ALL, &mut scratch, &mut after)
            .expect("infer after");
        let mse = |p: &[f32]| {
            p.iter()
                .zip(&qy)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
                / Q as f32
        };
        eprintln!(
            "task: amp {amp:.2} phase {phase:.2}: query MSE {:.4} -> {:.4}, support {:?}",
            mse(&before),
            mse(&after),
            losses
        );
        assert!(
            mse(&after) < mse(&before),
            "adaptation lowers the query MSE"
        );
        push_f32s(&mut golden, &before);
        push_f32s(&mut golden, &after);
        push_f32s(&mut golden, &losses);
        push_f32s(&mut golden, state.params());
    }
    (tasks, golden)
}

/// Digits episodes for the device: 5-way, 5-shot, 4 queries per class, from the novel classes
/// 5-9 of the shared digits data set.
const DIGITS_EPISODES: Episodes = Episodes {
    count: 3,
    classes: &[5, 6, 7, 8, 9],
    shots: 5,
    queries: 4,
    seed: 0xd161_e915,
};

/// The shape of a file of classification episodes: `count` episodes, each of the data set's
/// `classes` (way `i` is `classes[i]`) with `shots` support and `queries` query rows per class,
/// drawn with `seed`.
pub struct Episodes {
    pub count: usize,
    pub classes: &'static [usize],
    pub shots: usize,
    pub queries: usize,
    pub seed: u64,
}

/// The digits model the device runs: the trainer's export when it exists, else the
/// pseudo-random benchmark model (same architecture).
fn digits_device_model() -> Vec<u8> {
    let trained = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join("digits.postcard");
    std::fs::read(trained).unwrap_or_else(|_| digits_model())
}

/// Rows of `data/FILE` (gzip CSV): `width` values, then a label.
pub fn data_rows(file: &str, width: usize) -> Vec<(Vec<f32>, usize)> {
    use std::io::Read;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("data")
        .join(file);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("gzip text");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Vec<f32> = l
                .split(',')
                .map(|c| c.trim().parse().expect("number"))
                .collect();
            let label = v[width] as usize;
            (v[..width].to_vec(), label)
        })
        .collect()
}

/// Rows of `data/digits.csv.gz`: 64 pixel values (0..16) and a label.
pub fn digits_rows() -> Vec<(Vec<f32>, usize)> {
    data_rows("digits.csv.gz", 64)
}

/// Classification episodes (`FSDE`) and the runtime's outputs on them (`FSDG`): for each
/// episode the adaptable head is adapted from prototypes on the support set, then every head
/// infers on each query (one trunk pass).
pub fn episodes_and_golden(
    blob: &[u8],
    rows: &[(Vec<f32>, usize)],
    spec: &Episodes,
) -> (Vec<u8>, Vec<u8>) {
    let aligned = runtime::format::AlignedBytes::from_slice(blob);
    let model = Model::from_bytes(aligned.as_bytes()).expect("model loads");
    let head = model
        .heads()
        .iter()
        .position(|h| h.adapt.is_some())
        .expect("an adaptable head");
    let steps = model.adapt_spec(head).expect("spec").steps;
    let params = model.adapted_param_count(head).expect("params");
    let outputs = model.network().output_len(Heads::ALL);
    let d = model.input_len();
    let mut r = Lcg(spec.seed);
    let header = [
        1,
        spec.count as u32,
        spec.classes.len() as u32,
        spec.shots as u32,
        spec.queries as u32,
        d as u32,
        outputs as u32,
        params as u32,
        u32::from(steps),
        head as u32,
    ];
    let mut episodes = b"FSDE".to_vec();
    push_u32s(&mut episodes, &header);
    let mut golden = b"FSDG".to_vec();
    push_u32s(&mut golden, &header);
    let needs = model
        .ram_needs(head, spec.classes.len() * spec.shots)
        .expect("needs");
    let mut scratch = vec![0.0f32; needs.adapt_scratch.max(needs.infer_scratch)];
    for _ in 0..spec.count {
        let (mut sx, mut sl, mut qx, mut ql) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut picked: Vec<(usize, usize, bool)> = Vec::new();
        for (way, &class) in spec.classes.iter().enumerate() {
            let mut pool: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].1 == class).collect();
            for n in 0..spec.shots + spec.queries {
                let at = (r.uniform(0.0, 1.0) * pool.len() as f32) as usize % pool.len();
                picked.push((pool.swap_remove(at), way, n < spec.shots));
            }
        }
        for &(row, way, support) in &picked {
            let (x, l) = if support {
                (&mut sx, &mut sl)
            } else {
                (&mut qx, &mut ql)
            };
            x.extend_from_slice(&rows[row].0);
            l.push(way as u16);
        }
        push_f32s(&mut episodes, &sx);
        push_u32s(
            &mut episodes,
            &sl.iter().map(|&v| u32::from(v)).collect::<Vec<_>>(),
        );
        push_f32s(&mut episodes, &qx);
        push_u32s(
            &mut episodes,
            &ql.iter().map(|&v| u32::from(v)).collect::<Vec<_>>(),
        );

        let mut state = AdaptState::<4096>::new(&model, head).expect("state");
        let mut losses = vec![0.0f32; usize::from(steps) + 1];
        state
            .adapt(
                &model,
                Support::classes(&sx, &sl),
                None,
                &mut scratch,
                &mut losses,
            )
            .expect("adapts");
        let mut out = vec![0.0f32; outputs * ql.len()];
        state
            .network(&model)
            .expect("same model")
            .infer_batch(&qx, Heads::ALL, &mut scratch, &mut out)
            .expect("infers");
        push_f32s(&mut golden, &out);
        push_f32s(&mut golden, &losses);
        push_f32s(&mut golden, state.params());
    }
    (episodes, golden)
}

#[test]
fn firmware_fixtures_are_current() {
    let sinusoid = sinusoid_model();
    let (tasks, golden) = sinusoid_tasks_and_golden(&sinusoid, SINUSOID_PARAMS, STEPS);
    let (same_tasks, proximal_golden) =
        sinusoid_tasks_and_golden(&sinusoid_proximal_model(), PROXIMAL_PARAMS, PROXIMAL_STEPS);
    assert_eq!(tasks, same_tasks, "both models run the same tasks");
    let digits = digits_device_model();
    let (episodes, digits_golden) = episodes_and_golden(&digits, &digits_rows(), &DIGITS_EPISODES);
    let digits_enroll = enroll::enroll_model(&digits);
    let enroll_golden = enroll::golden(&digits_enroll, &episodes, &DIGITS_EPISODES);
    let mut files = vec![
        ("digits-enroll.fsm", digits_enroll),
        ("digits-enroll-golden.bin", enroll_golden),
        ("digits-model.fsm", digits),
        ("digits-episodes.bin", episodes),
        ("digits-golden.bin", digits_golden),
        ("sinusoid-tasks.bin", tasks),
        ("sinusoid-golden.bin", golden),
        ("sinusoid-proximal-golden.bin", proximal_golden),
        ("multihead.fsm", multihead_model()),
        ("bench-sinusoid-head.fsm", sinusoid_head_model()),
        ("bench-digits.fsm", digits_model()),
        ("bench-enroll.fsm", enroll_model()),
    ];
    files.extend(conv::files());
    files.extend(frontend::files());
    files.extend(keyword::files());
    let dir = fixtures_dir();
    let bless = std::env::var_os("FEWSHOT_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, bytes) in &files {
        let path = dir.join(name);
        if bless {
            std::fs::create_dir_all(&dir).expect("create firmware/fixtures");
            std::fs::write(&path, bytes).expect("write fixture");
            eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
        } else if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(*name);
        }
    }
    assert!(
        stale.is_empty(),
        "firmware fixtures are stale or missing: {stale:?}; regenerate with `cargo xtask fixtures`"
    );
}
