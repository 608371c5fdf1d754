//! The files in `firmware/fixtures/`, embedded in flash: models written by the
//! runtime's writer, held-out tasks, and the golden outputs the runtime
//! computed on the host (`tests/tests/firmware_fixtures.rs` writes them;
//! `cargo xtask fixtures` regenerates them).

/// The trainer's sinusoid model (`models/sinusoid.postcard`): 1 -> 40 -> 40 -> 1 ReLU,
/// Meta-SGD rates, full-network adaptation.
pub static SINUSOID: &[u8] = fewshot_runtime::include_model!("../../models/sinusoid.postcard");
/// A 3-head model: 8 -> 16 -> 16 trunk; 10-way, 5-way (prototypes), regression heads.
pub static MULTIHEAD: &[u8] = fewshot_runtime::include_model!("../fixtures/multihead.fsm");
/// A model of the user's own the benchmark measures beside its own (`cargo xtask
/// bench-firmware --model PATH`, through `FEWSHOT_BENCH_MODEL` and `build.rs`); empty without.
pub static BENCH_USER_MODEL: &[u8] =
    fewshot_runtime::include_model!(concat!(env!("OUT_DIR"), "/bench_model.bin"));
/// The model the `serial` firmware serves: the multi-head fixture, or the model file
/// `FEWSHOT_SERIAL_MODEL` names at build time (`build.rs`; its sizes: [`crate::serial_sizes`]).
pub static SERIAL_MODEL: &[u8] =
    fewshot_runtime::include_model!(concat!(env!("OUT_DIR"), "/serial_model.bin"));
// Sizes generated for another model fail the build here, not at boot.
const _: () = crate::serial_sizes::check_model(SERIAL_MODEL);
/// Benchmarks: the sinusoid network adapting its head only.
pub static BENCH_SINUSOID_HEAD: &[u8] =
    fewshot_runtime::include_model!("../fixtures/bench-sinusoid-head.fsm");
/// Benchmarks: 64 -> 64 -> 64 ReLU trunk, a 10-way head and a 5-way head from prototypes.
pub static BENCH_DIGITS: &[u8] = fewshot_runtime::include_model!("../fixtures/bench-digits.fsm");
/// Benchmarks: the same network with its 10-way head enrollable (up to 16 classes, format v4).
pub static BENCH_ENROLL: &[u8] = fewshot_runtime::include_model!("../fixtures/bench-enroll.fsm");
/// The trainer's sinusoid model adapted by one implicit (proximal) head step
/// (`models/sinusoid_proximal.postcard`, `trainer/configs/sinusoid_proximal.toml`).
pub static SINUSOID_PROXIMAL: &[u8] =
    fewshot_runtime::include_model!("../../models/sinusoid_proximal.postcard");
static TASKS: &[u8] = include_bytes!("../fixtures/sinusoid-tasks.bin");
static GOLDEN: &[u8] = include_bytes!("../fixtures/sinusoid-golden.bin");
static PROXIMAL_GOLDEN: &[u8] = include_bytes!("../fixtures/sinusoid-proximal-golden.bin");

/// Adapted parameters of the sinusoid model (full network).
pub const SINUSOID_PARAMS: usize = crate::sizes::sinusoid::PARAMS;
/// Capacity for shots and query points in the firmware's buffers.
pub const MAX_K: usize = 20;
pub const MAX_Q: usize = 16;

/// Little-endian f32 values in flash (any alignment).
#[derive(Clone, Copy)]
pub struct F32s(&'static [u8]);

impl F32s {
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }
    pub fn is_empty(&self) -> bool {
        self.0.len() < 4
    }
    /// Value `i` (NaN when out of range, which no comparison accepts).
    pub fn get(&self, i: usize) -> f32 {
        match self.0.get(4 * i..4 * i + 4) {
            Some(b) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => f32::NAN,
        }
    }
    /// Values `from..from + n` (empty when out of range).
    pub fn slice(&self, from: usize, n: usize) -> F32s {
        F32s(self.0.get(4 * from..4 * (from + n)).unwrap_or(&[]))
    }
    /// Copies into `out` (its length, or fewer); returns the count copied.
    pub fn copy_to(&self, out: &mut [f32]) -> usize {
        let n = out.len().min(self.len());
        for (i, o) in out.iter_mut().take(n).enumerate() {
            *o = self.get(i);
        }
        n
    }
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(4 * i..4 * i + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The sinusoid tasks file (`FSTK` v1) and one model's golden outputs on them (`FSGD` v1).
#[derive(Clone, Copy)]
pub struct Tasks {
    golden: &'static [u8],
    pub count: usize,
    pub k: usize,
    pub q: usize,
    pub steps: usize,
    pub params: usize,
}

/// One task with the host's results for it.
pub struct Task {
    pub support_x: F32s,
    pub support_y: F32s,
    pub query_x: F32s,
    pub query_y: F32s,
    pub golden_before: F32s,
    pub golden_after: F32s,
    pub golden_losses: F32s,
    pub golden_params: F32s,
}

impl Tasks {
    /// The tasks with the sinusoid model's golden outputs ([`SINUSOID`]); `None` when a file is
    /// malformed or the two disagree.
    pub fn load() -> Option<Tasks> {
        Self::with_golden(GOLDEN)
    }

    /// The tasks with the proximal model's golden outputs ([`SINUSOID_PROXIMAL`]).
    pub fn proximal() -> Option<Tasks> {
        Self::with_golden(PROXIMAL_GOLDEN)
    }

    /// Parses the headers (the golden file says how many steps it ran).
    fn with_golden(golden: &'static [u8]) -> Option<Tasks> {
        if TASKS.get(..4)? != b"FSTK" || golden.get(..4)? != b"FSGD" {
            return None;
        }
        let h = |i| u32_at(TASKS, i).map(|v| v as usize);
        let g = |i| u32_at(golden, i).map(|v| v as usize);
        let t = Tasks {
            golden,
            count: h(2)?,
            k: h(3)?,
            q: h(4)?,
            steps: g(4)?,
            params: g(5)?,
        };
        let ok = h(1)? == 1
            && g(1)? == 1
            && g(2)? == t.count
            && g(3)? == t.q
            && t.k <= MAX_K
            && t.q <= MAX_Q
            && TASKS.len() == 24 + t.count * 4 * (2 * t.k + 2 * t.q)
            && golden.len() == 24 + t.count * 4 * (2 * t.q + t.steps + 1 + t.params);
        ok.then_some(t)
    }

    /// Task `i` (`i < count`).
    pub fn task(&self, i: usize) -> Task {
        let per = 4 * (2 * self.k + 2 * self.q);
        let base = 24 + i * per;
        let cut = |from: usize, n: usize, src: &'static [u8]| {
            F32s(src.get(from..from + 4 * n).unwrap_or(&[]))
        };
        let gper = 4 * (2 * self.q + self.steps + 1 + self.params);
        let gbase = 24 + i * gper;
        Task {
            support_x: cut(base, self.k, TASKS),
            support_y: cut(base + 4 * self.k, self.k, TASKS),
            query_x: cut(base + 8 * self.k, self.q, TASKS),
            query_y: cut(base + 8 * self.k + 4 * self.q, self.q, TASKS),
            golden_before: cut(gbase, self.q, self.golden),
            golden_after: cut(gbase + 4 * self.q, self.q, self.golden),
            golden_losses: cut(gbase + 8 * self.q, self.steps + 1, self.golden),
            golden_params: cut(
                gbase + 4 * (2 * self.q + self.steps + 1),
                self.params,
                self.golden,
            ),
        }
    }
}

/// Number of positions where `got` and `want` differ in any bit (lengths
/// differing count as differences too).
pub fn bit_mismatches(got: &[f32], want: F32s) -> u32 {
    let mut n = u32::try_from(got.len().abs_diff(want.len())).unwrap_or(u32::MAX);
    for (i, g) in got.iter().enumerate().take(want.len()) {
        if g.to_bits() != want.get(i).to_bits() {
            n = n.saturating_add(1);
        }
    }
    n
}

/// The digits model the demo runs (`fixtures/digits-model.fsm`: the trainer's
/// `models/digits.postcard` when it exists, else the benchmark model).
pub static DIGITS: &[u8] = fewshot_runtime::include_model!("../fixtures/digits-model.fsm");
static DIGITS_EPISODES: &[u8] = include_bytes!("../fixtures/digits-episodes.bin");
static DIGITS_GOLDEN: &[u8] = include_bytes!("../fixtures/digits-golden.bin");

/// Capacities of the episodes' buffers ([`crate::episodes::run`]): support samples, their
/// floats, one input, outputs of every head, adapted parameters.
pub const EPISODE_MAX_SUPPORT: usize = 25;
pub const EPISODE_MAX_SUPPORT_FLOATS: usize = 2560;
pub const EPISODE_MAX_INPUT: usize = 256;
pub const EPISODE_MAX_OUTPUTS: usize = 32;
pub const EPISODE_MAX_PARAMS: usize = 2048;

/// A file of classification episodes (`FSDE` v1) and one model's golden outputs on them
/// (`FSDG` v1), as `tests/tests/firmware_fixtures.rs` writes them.
#[derive(Clone, Copy)]
pub struct Episodes {
    episodes: &'static [u8],
    golden: &'static [u8],
    pub count: usize,
    pub ways: usize,
    pub shots: usize,
    pub queries: usize,
    pub input: usize,
    pub outputs: usize,
    pub params: usize,
    pub steps: usize,
    pub head: usize,
}

/// One episode with the host's results for it.
pub struct Episode {
    pub support_x: F32s,
    pub support_labels: &'static [u8],
    pub query_x: F32s,
    pub query_labels: &'static [u8],
    pub golden_outputs: F32s,
    pub golden_losses: F32s,
    pub golden_params: F32s,
}

impl Episodes {
    /// The digits episodes of [`DIGITS`].
    pub fn digits() -> Option<Episodes> {
        Self::load(DIGITS_EPISODES, DIGITS_GOLDEN)
    }

    /// Parses the headers; `None` when a file is malformed, the two disagree or the episodes
    /// exceed the buffers' capacities.
    pub fn load(episodes: &'static [u8], golden: &'static [u8]) -> Option<Episodes> {
        if episodes.get(..4)? != b"FSDE" || golden.get(..4)? != b"FSDG" {
            return None;
        }
        let h = |i| u32_at(episodes, i).map(|v| v as usize);
        for i in 1..11 {
            if h(i)? != u32_at(golden, i)? as usize {
                return None;
            }
        }
        let e = Episodes {
            episodes,
            golden,
            count: h(2)?,
            ways: h(3)?,
            shots: h(4)?,
            queries: h(5)?,
            input: h(6)?,
            outputs: h(7)?,
            params: h(8)?,
            steps: h(9)?,
            head: h(10)?,
        };
        let (ns, nq) = (e.ways * e.shots, e.ways * e.queries);
        let ok = h(1)? == 1
            && ns <= EPISODE_MAX_SUPPORT
            && ns * e.input <= EPISODE_MAX_SUPPORT_FLOATS
            && e.input <= EPISODE_MAX_INPUT
            && e.outputs <= EPISODE_MAX_OUTPUTS
            && e.params <= EPISODE_MAX_PARAMS
            && episodes.len() == 44 + e.count * 4 * ((ns + nq) * (e.input + 1))
            && golden.len() == 44 + e.count * 4 * (nq * e.outputs + e.steps + 1 + e.params);
        ok.then_some(e)
    }

    /// Episode `i` (`i < count`).
    pub fn episode(&self, i: usize) -> Episode {
        let (ns, nq) = (self.ways * self.shots, self.ways * self.queries);
        let base = 44 + i * 4 * ((ns + nq) * (self.input + 1));
        let cut = |from: usize, n: usize, src: &'static [u8]| {
            F32s(src.get(from..from + 4 * n).unwrap_or(&[]))
        };
        let bytes = |from: usize, n: usize| self.episodes.get(from..from + 4 * n).unwrap_or(&[]);
        let sx = base;
        let sl = sx + 4 * ns * self.input;
        let qx = sl + 4 * ns;
        let ql = qx + 4 * nq * self.input;
        let gbase = 44 + i * 4 * (nq * self.outputs + self.steps + 1 + self.params);
        Episode {
            support_x: cut(sx, ns * self.input, self.episodes),
            support_labels: bytes(sl, ns),
            query_x: cut(qx, nq * self.input, self.episodes),
            query_labels: bytes(ql, nq),
            golden_outputs: cut(gbase, nq * self.outputs, self.golden),
            golden_losses: cut(gbase + 4 * nq * self.outputs, self.steps + 1, self.golden),
            golden_params: cut(
                gbase + 4 * (nq * self.outputs + self.steps + 1),
                self.params,
                self.golden,
            ),
        }
    }
}

/// The digits model with its 20-way base head enrollable (up to 24 classes held on the
/// device): the demo's class bank. Its sizes are `crate::sizes::digits_enroll`.
pub static DIGITS_ENROLL: &[u8] = fewshot_runtime::include_model!("../fixtures/digits-enroll.fsm");
static DIGITS_ENROLL_GOLDEN: &[u8] = include_bytes!("../fixtures/digits-enroll-golden.bin");

/// The class bank's answers the host computed on the digits episodes (`FSEG` v1): the label
/// of each way, then per episode, after enrolling each way's support samples (label = the digit) and again after
/// forgetting one label, each query's label and probability bits.
#[derive(Clone, Copy)]
pub struct EnrollGolden {
    bytes: &'static [u8],
    /// Episodes (those of [`Episodes::digits`]).
    pub count: usize,
    /// Classes enrolled per episode.
    pub ways: usize,
    /// Queries per episode.
    pub queries: usize,
    /// The label forgotten after the first round of answers.
    pub forget: u16,
}

impl EnrollGolden {
    /// The answers on the digits episodes; `None` when the file is malformed.
    pub fn digits() -> Option<EnrollGolden> {
        let b = DIGITS_ENROLL_GOLDEN;
        if b.get(..4)? != b"FSEG" || u32_at(b, 1)? != 1 {
            return None;
        }
        let g = EnrollGolden {
            bytes: b,
            count: u32_at(b, 2)? as usize,
            ways: u32_at(b, 3)? as usize,
            queries: u32_at(b, 4)? as usize,
            forget: u16::try_from(u32_at(b, 5)?).ok()?,
        };
        (b.len() == 24 + 4 * g.ways + g.count * 2 * g.queries * 8).then_some(g)
    }

    /// The label enrolled from way `way`'s support samples.
    pub fn label(&self, way: usize) -> Option<u16> {
        u16::try_from(u32_at(self.bytes, 6 + way)?).ok()
    }

    /// Episode `e`'s answer to query `q`, after enrolling (`phase` 0) or after forgetting
    /// (`phase` 1): (label, probability bits).
    pub fn answer(&self, e: usize, phase: usize, q: usize) -> Option<(u16, u32)> {
        let word = 6 + self.ways + 2 * ((e * 2 + phase) * self.queries + q);
        let label = u16::try_from(u32_at(self.bytes, word)?).ok()?;
        Some((label, u32_at(self.bytes, word + 1)?))
    }
}

/// Label `i` of a little-endian u32 label list.
pub fn label_at(labels: &[u8], i: usize) -> u16 {
    u32_at(labels, i).map_or(u16::MAX, |v| v as u16)
}

#[cfg(feature = "conv")]
pub mod conv;
#[cfg(feature = "audio-frontend")]
pub mod frontend;
#[cfg(all(feature = "audio-frontend", feature = "conv", feature = "int8"))]
pub mod keyword;
