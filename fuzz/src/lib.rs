//! The fuzz targets' bodies, shared by `fuzz_targets/*.rs`.
//!
//! Besides "no panic, no crash", the targets check the runtime's promises:
//! - inference on a model that loaded, with buffers of the sizes the runtime asks for, succeeds;
//! - a failing adaptation leaves the state bit for bit as before;
//! - a successful adaptation leaves only finite parameters and finite losses.
//!
//! The targets are built without debug assertions (`cargo fuzz run -O -s none`, no `-a`) but
//! with overflow checks (`[profile.release]` in `Cargo.toml`).

pub mod serial;

use arbitrary::Arbitrary;
use fewshot_runtime::signature::{self, PublicKey};
use fewshot_runtime::{AdaptState, ClassBank, Heads, Model, Support, MAX_STEPS};

// micromath's `exp` once returned NaN for finite x in [88.72, 89.42]; `math::exp` now handles
// the ends of the range and `runtime/tests/fuzz_regressions.rs` keeps the inputs. No outcome is
// exempt: every success leaves finite parameters, every error leaves the state as it was.

/// Adapted-state capacity the targets use (floats); larger heads are skipped (`Error::Capacity`).
const STATE: usize = 4096;
/// Largest scratch the targets allocate (floats).
const MAX_SCRATCH: usize = 1 << 20;

/// A 4-byte aligned copy of `data` (model blobs are read in place as f32).
struct Aligned {
    words: Vec<u32>,
    len: usize,
}

impl Aligned {
    fn new(data: &[u8]) -> Self {
        let mut words = vec![0u32; data.len().div_ceil(4)];
        for (w, chunk) in words.iter_mut().zip(data.chunks(4)) {
            let mut b = [0u8; 4];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u32::from_ne_bytes(b);
        }
        Aligned {
            words,
            len: data.len(),
        }
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: `words` holds at least `len` initialised bytes; u8 has no alignment needs.
        unsafe { core::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and the borrow of `self` is unique.
        unsafe { core::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
}

/// Values in `[-8, 8)` from the bytes (sane inputs), cycling; `n` of them.
fn sane_values(seed: &[u8], n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let b = seed.get(i % seed.len().max(1)).copied().unwrap_or(0x5a);
            (f32::from(b) - 128.0) / 16.0 + (i % 7) as f32 * 0.01
        })
        .collect()
}

/// The firmware test key (public): envelopes signed with it verify.
static KEY: PublicKey =
    PublicKey::from_bytes(*include_bytes!("../../firmware/fixtures/test-signing.pub"));

/// Target `load`: `data` as a signed envelope, as a blob, then as a blob with its CRC trailer
/// fixed up.
pub fn load(data: &[u8]) {
    let blob = Aligned::new(data);
    if let Ok(inner) = signature::open(blob.bytes(), &KEY) {
        // Only what the signer made verifies, and the signer signs only loadable models.
        let model = Model::from_bytes(inner).expect("a signed blob loads");
        run_model(&model, data);
    }
    if let Ok(model) = Model::from_bytes(blob.bytes()) {
        run_model(&model, data);
    };
    if data.len() >= 14 {
        let mut fixed = Aligned::new(data);
        let bytes = fixed.bytes_mut();
        let body = bytes.len() - 4;
        let crc = fewshot_runtime::format::CRC.checksum(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
        if let Ok(model) = Model::from_bytes(fixed.bytes()) {
            run_model(&model, data);
        };
    }
}

/// A model that carries a front-end (format v6): it builds for its own sample rate, takes the
/// seed's bytes as PCM in uneven chunks, and its features fill the model's input once it has
/// heard a second.
fn run_front_end(model: &Model<'_>, seed: &[u8]) {
    use fewshot_runtime::frontend::{AudioConfig, FrontEnd};
    let Some(spec) = model.front_end() else {
        return;
    };
    // Fast inputs only: a second of at most ~100 FFTs of 2048 points (the keyword spec: 49 of
    // 512), not thousands.
    if spec.frames_per_second() * usize::from(spec.fft_size) > 1 << 18 {
        return;
    }
    let audio = AudioConfig {
        sample_rate: spec.sample_rate,
        channels: 1,
    };
    // The model's input is at most `MAX_WIDTH` (4096) floats: the ring of any valid spec.
    let mut fe = Box::new(
        FrontEnd::<2048, 128, 4096>::for_model(model, audio).expect("the model's front-end builds"),
    );
    let pcm: Vec<i16> = seed
        .chunks(2)
        .map(|b| i16::from_le_bytes([b[0], *b.get(1).unwrap_or(&0)]))
        .cycle()
        .take(spec.sample_rate as usize)
        .collect();
    let mut frames = 0;
    for chunk in pcm.chunks(1 + usize::from(seed.first().copied().unwrap_or(0))) {
        frames += fe.push(chunk).expect("push");
    }
    assert_eq!(frames, spec.frames_per_second());
    let mut x = vec![0.0f32; model.input_len()];
    assert_eq!(fe.features(&mut x), Ok(spec.frames_per_second()));
}

/// Runs a model that loaded: inference on every head, and a short adaptation of every adaptable
/// head that fits [`STATE`].
fn run_model(model: &Model<'_>, seed: &[u8]) {
    let n_scratch = model.infer_scratch_len();
    if n_scratch > MAX_SCRATCH {
        return;
    }
    run_front_end(model, seed);
    let net = model.network();
    let mut scratch = vec![0.0f32; n_scratch];
    let mut out = vec![0.0f32; net.output_len(Heads::ALL)];
    let x = sane_values(seed, model.input_len());
    net.infer(&x, Heads::ALL, &mut scratch, &mut out)
        .expect("inference with the buffers the runtime asks for succeeds");
    if n_scratch > 0 {
        let short = &mut scratch[..n_scratch - 1];
        assert!(net.infer(&x, Heads::ALL, short, &mut out).is_err());
    }
    for head in 0..model.heads().len() {
        run_bank(model, head, seed);
        let Ok(mut state) = AdaptState::<STATE>::new(model, head) else {
            continue;
        };
        let k = 1 + seed.len() % 4;
        let Ok(needs) = model.ram_needs(head, k) else {
            continue;
        };
        if needs.adapt_scratch > MAX_SCRATCH {
            continue;
        }
        let inputs = sane_values(seed, k * model.input_len());
        let outputs = model.heads()[head].kind.outputs();
        let labels: Vec<u16> = (0..k).map(|i| (i % outputs.max(1)) as u16).collect();
        let values = sane_values(&seed[seed.len() / 2..], k * outputs);
        let support = match model.heads()[head].kind.classes() {
            Some(_) => Support::classes(&inputs, &labels),
            None => Support::values(&inputs, &values),
        };
        let mut scratch = vec![0.0f32; needs.adapt_scratch];
        let mut losses = [0.0f32; 3];
        let steps = Some(1 + (seed.len() % 2) as u16);
        let guarded = seed.len().is_multiple_of(3);
        adapt_checked(
            model,
            &mut state,
            support,
            steps,
            &mut scratch,
            &mut losses,
            guarded,
        );
        let mut out = vec![0.0f32; model.network().output_len(Heads::ALL)];
        let mut scratch = vec![0.0f32; n_scratch];
        if let Ok(net) = state.network(model) {
            net.infer(&x, Heads::ALL, &mut scratch, &mut out)
                .expect("inference of an adapted state succeeds");
        }
    }
}

/// Floats of the class bank and its scratch the targets use (larger banks are skipped).
const BANK: usize = 1 << 15;

/// An enrollable head's class bank: classes enrolled (with and without inner steps) until the
/// bank is full, relabelled, forgotten, classified. Every error leaves the bank bit for bit as
/// it was; a classified label is an active one.
fn run_bank(model: &Model<'_>, head: usize, seed: &[u8]) {
    let Ok(bank) = ClassBank::<BANK, BANK>::from_head(model, head) else {
        return;
    };
    let mut bank = Box::new(bank);
    let n = model.input_len();
    let x = sane_values(seed, 3 * n);
    let bits = |b: &ClassBank<'_, BANK, BANK>| -> Vec<u32> {
        b.as_slice().iter().map(|v| v.to_bits()).collect()
    };
    for label in 0..bank.capacity() as u16 + 2 {
        let before = bits(&bank);
        // Inner steps replay every other class: over a bank of thousands of classes, filling it
        // with steps would cost the cube of its size, so only the first enrollments take them.
        let steps = u16::from(label % 3 == 0 && label < 24);
        if bank.enroll_steps(label ^ 0x5a5a, &x, steps, 0.5).is_err() {
            assert_eq!(bits(&bank), before, "a failed enroll changed the bank");
        }
        if let Ok((got, p)) = bank.classify(&x[..n]) {
            assert!(
                bank.labels().any(|l| l == got) && p.is_finite(),
                "{got} {p}"
            );
        }
    }
    let before = bits(&bank);
    if bank.relabel(0, 0x5a5a).is_err() {
        assert_eq!(bits(&bank), before, "a failed relabel changed the bank");
    }
    let _ = bank.forget(0x5a5a);
}

/// `state.adapt(...)`, or `state.adapt_guarded(...)` (divergence rollback) when `guarded`,
/// checking the runtime's promises on both outcomes.
fn adapt_checked<const P: usize>(
    model: &Model<'_>,
    state: &mut AdaptState<P>,
    support: Support<'_>,
    steps: Option<u16>,
    scratch: &mut [f32],
    losses: &mut [f32],
    guarded: bool,
) {
    let before: Vec<u32> = state.params().iter().map(|v| v.to_bits()).collect();
    let result = if guarded {
        let mut best = vec![0.0f32; state.params().len()];
        state.adapt_guarded(model, support, steps, scratch, losses, &mut best)
    } else {
        state.adapt(model, support, steps, scratch, losses)
    };
    match result {
        Ok(report) => {
            assert!(
                state.params().iter().all(|v| v.is_finite()),
                "adaptation left a non-finite parameter"
            );
            assert!(report.initial_loss.is_finite() && report.final_loss.is_finite());
        }
        Err(e) => {
            let after: Vec<u32> = state.params().iter().map(|v| v.to_bits()).collect();
            assert_eq!(before, after, "failed adaptation ({e}) changed the state");
        }
    }
}

/// The real models the `adapt` target adapts: the trainer's sinusoid exports (gradient steps on
/// the whole network, and the implicit head step; the firmware embeds both) and the firmware's
/// multi-head fixture.
static SINUSOID: &[u8] = fewshot_runtime::include_model!("../../models/sinusoid.postcard");
static PROXIMAL: &[u8] = fewshot_runtime::include_model!("../../models/sinusoid_proximal.postcard");
static MULTIHEAD: &[u8] = fewshot_runtime::include_model!("../../firmware/fixtures/multihead.fsm");
static DIGITS: &[u8] = fewshot_runtime::include_model!("../../models/digits.postcard");
/// Models with a convolution stem: the firmware's stem fixture (conv2d, depthwise, max and
/// average pooling, a dense trunk layer, two heads) and the trainer's `plaid_conv1d` export.
static CONV_STEM: &[u8] = fewshot_runtime::include_model!("../../firmware/fixtures/conv-stem.fsm");
static PLAID_CONV1D: &[u8] = fewshot_runtime::include_model!("../../models/plaid_conv1d.postcard");

/// How a float is made from the fuzzer's bytes.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Value {
    /// `i16 / 256`: moderate values.
    Small(i16),
    /// Any bit pattern: NaN, infinities, huge, subnormal.
    Bits(u32),
}

impl Value {
    fn get(self) -> f32 {
        match self {
            Value::Small(v) => f32::from(v) / 256.0,
            Value::Bits(b) => f32::from_bits(b),
        }
    }
}

/// Steps to ask for.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Steps {
    /// The model's default.
    Default,
    /// A few (0..=7).
    Few(u8),
    /// Any count (above [`MAX_STEPS`] is refused; runs are capped at 7 steps to keep the
    /// target fast, so counts in `8..=MAX_STEPS` become 7).
    Any(u16),
}

/// One fuzzed adaptation and inference on a real model.
#[derive(Arbitrary, Debug)]
pub struct AdaptInput {
    /// Which model: below 128, `% 4`: sinusoid, multihead, sinusoid with the implicit head step,
    /// digits with its matching head; from 128, `% 2`: the conv stem fixture, `plaid_conv1d`.
    pub model: u8,
    /// Head index (out-of-range ones are tried too).
    pub head: u8,
    /// Support inputs (their count need not match the targets').
    pub inputs: Vec<Value>,
    /// Class labels, used when `classes`.
    pub labels: Vec<u16>,
    /// Regression targets, used unless `classes`.
    pub values: Vec<Value>,
    /// Classification support set (else regression).
    pub classes: bool,
    /// Steps.
    pub steps: Steps,
    /// Scratch size relative to what the runtime asks for.
    pub scratch_delta: i8,
    /// Length of the loss log.
    pub losses: u8,
    /// Adapt with the divergence rollback (`adapt_guarded`).
    pub guarded: bool,
    /// A second adaptation on the same state (a fresh support set built from `inputs` reversed).
    pub again: bool,
    /// Query inputs for inference afterwards.
    pub query: Vec<Value>,
    /// Heads selected for inference.
    pub heads: u8,
    /// Output buffer length relative to what inference needs.
    pub out_delta: i8,
}

fn resized(len: usize, delta: i8) -> usize {
    len.saturating_add_signed(isize::from(delta))
        .min(MAX_SCRATCH)
}

/// Target `adapt`.
pub fn adapt(input: &AdaptInput) {
    let blob = match (input.model >= 128, input.model % 4) {
        (false, 0) => SINUSOID,
        (false, 1) => MULTIHEAD,
        (false, 2) => PROXIMAL,
        (false, _) => DIGITS,
        (true, 0 | 2) => CONV_STEM,
        (true, _) => PLAID_CONV1D,
    };
    let model = Model::from_bytes(blob).expect("the fixtures load");
    let d = model.input_len();
    // Keep each run short: at most 10 shots.
    let inputs: Vec<f32> = input
        .inputs
        .iter()
        .take(10 * d + 3)
        .map(|v| v.get())
        .collect();
    let labels: Vec<u16> = input.labels.iter().take(12).copied().collect();
    let values: Vec<f32> = input.values.iter().take(24).map(|v| v.get()).collect();
    let support = if input.classes {
        Support::classes(&inputs, &labels)
    } else {
        Support::values(&inputs, &values)
    };
    let steps = match input.steps {
        Steps::Default => None,
        Steps::Few(s) => Some(u16::from(s % 8)),
        Steps::Any(s) if s > MAX_STEPS => Some(s),
        Steps::Any(s) => Some(s.min(7)),
    };
    let head = usize::from(input.head % 4);
    let k = if input.classes {
        labels.len()
    } else {
        values.len()
    };
    let needed = model
        .ram_needs(head, k.max(1))
        .map(|n| n.adapt_scratch)
        .unwrap_or(64);
    let mut scratch = vec![0.0f32; resized(needed, input.scratch_delta)];
    let mut losses = vec![0.0f32; usize::from(input.losses)];

    let mut state = match AdaptState::<2048>::new(&model, head) {
        Ok(s) => Some(s),
        Err(_) => {
            // Not adaptable or no such head: adaptation must not exist for it.
            assert!(head >= model.heads().len() || model.heads()[head].adapt.is_none());
            None
        }
    };
    if let Some(state) = state.as_mut() {
        adapt_checked(
            &model,
            state,
            support,
            steps,
            &mut scratch,
            &mut losses,
            input.guarded,
        );
        if input.again {
            let rev: Vec<f32> = inputs.iter().rev().copied().collect();
            let support = if input.classes {
                Support::classes(&rev, &labels)
            } else {
                Support::values(&rev, &values)
            };
            adapt_checked(
                &model,
                state,
                support,
                steps,
                &mut scratch,
                &mut losses,
                input.guarded,
            );
        }
    }

    // Inference: fuzzed input, heads, buffer sizes; on the meta-learned and the adapted model.
    let query: Vec<f32> = input.query.iter().take(2 * d).map(|v| v.get()).collect();
    let heads = Heads(input.heads);
    let mut scratch = vec![0.0f32; resized(model.infer_scratch_len(), input.scratch_delta)];
    let nets = [
        Some(model.network()),
        state.as_ref().and_then(|s| s.network(&model).ok()),
    ];
    for net in nets.into_iter().flatten() {
        let mut out = vec![0.0f32; resized(net.output_len(heads), input.out_delta)];
        let r = net.infer(&query, heads, &mut scratch, &mut out);
        // A selection must name at least one of the model's heads (`Error::NoHeadSelected`).
        let selects = (0..model.heads().len()).any(|h| heads.contains(h));
        let fits = query.len() == d
            && selects
            && scratch.len() >= model.infer_scratch_len()
            && out.len() >= net.output_len(heads);
        assert_eq!(r.is_ok(), fits, "inference result {r:?} for valid={fits}");
        let _ = net.infer_batch(&query, heads, &mut scratch, &mut out);
    }
}
