//! The demo that `cargo qemu` runs, compared bit for bit with the outputs the runtime computed
//! on the host (`firmware/fixtures/`); any difference exits with status 1.
//!
//! - The sinusoid models embedded in flash (10 gradient steps on the whole network; one
//!   implicit step on the head), each through a `Learner` of the sizes `trainer inspect --rust`
//!   generated for it (`fewshot_firmware::sizes`): for each held-out task, predict the query
//!   points, adapt on the K support points, predict again; log the query MSE before and after;
//!   compare every output, support loss and adapted parameter with the golden vectors.
//! - The digits model: 5-way episodes of novel digits, its matching head adapted from
//!   prototypes (`fewshot_firmware::episodes`).
//! - Classes added on the device (`demo/enroll.rs`): the digits model's enrollable head
//!   enrolls five digits, classifies, forgets one, classifies again.
//! - Keywords from raw audio (`demo/keyword.rs`, features `audio-frontend`, `conv` and `int8`,
//!   as `cargo xtask firmware` builds the demo): the int8 keyword model's front-end and trunk
//!   enroll three spoken words from three clips each, then recognise held-out clips and reject
//!   words never taught.
#![no_std]
#![no_main]

#[path = "demo/enroll.rs"]
mod enroll;
#[cfg(all(feature = "audio-frontend", feature = "conv", feature = "int8"))]
#[path = "demo/keyword.rs"]
mod keyword;

use fewshot_firmware::entry;
use fewshot_firmware::fixtures::{
    bit_mismatches, Episodes, Tasks, DIGITS, MAX_K, MAX_Q, SINUSOID, SINUSOID_PROXIMAL,
};
use fewshot_firmware::sizes::{sinusoid as sin, sinusoid_proximal as prox};
use fewshot_firmware::{self as fw, episodes};
use fewshot_runtime::{Learner, Model, Support};

fn mse(pred: &[f32], target: &[f32]) -> f32 {
    let mut s = 0.0;
    for (p, t) in pred.iter().zip(target) {
        s += (p - t) * (p - t);
    }
    s / pred.len().max(1) as f32
}

/// One learner type serves both sinusoid models (each size the larger of the two generated
/// ones): one copy of the code, as a firmware that hosts either model would have.
type SinusoidLearner<'m> = Learner<
    'm,
    { max(sin::PARAMS, prox::PARAMS) },
    { max(sin::SCRATCH, prox::SCRATCH) },
    { max(sin::LOSS_LOG, prox::LOSS_LOG) },
>;

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

#[entry]
fn main() -> ! {
    fw::init("demo: sinusoid few-shot adaptation, bit-exact against the host");
    let mut mismatches = sinusoid("sinusoid", SINUSOID, sin::MODEL_ID, Tasks::load());
    mismatches = mismatches.saturating_add(sinusoid(
        "sinusoid, implicit head step",
        SINUSOID_PROXIMAL,
        prox::MODEL_ID,
        Tasks::proximal(),
    ));
    mismatches = mismatches.saturating_add(episodes::run("digits", DIGITS, Episodes::digits()));
    mismatches = mismatches.saturating_add(enroll::run());
    #[cfg(all(feature = "audio-frontend", feature = "conv", feature = "int8"))]
    {
        mismatches = mismatches.saturating_add(keyword::run());
    }
    fw::finish(mismatches)
}

/// A sinusoid model on the held-out tasks, through a learner of the sizes `trainer inspect
/// --rust` generated: for each task, predict the query points (meta-learned
/// parameters), adapt on the support points for the golden file's step count, predict again;
/// logs the query MSE before and after; returns the bit mismatches against the host.
#[inline(never)]
fn sinusoid(title: &str, blob: &'static [u8], model_id: u32, tasks: Option<Tasks>) -> u32 {
    let model = match Model::from_bytes(blob) {
        Ok(m) if m.model_id() == model_id => m,
        Ok(_) => {
            defmt::error!("{=str}: the generated sizes are for another model", title);
            fw::exit(2)
        }
        Err(e) => {
            defmt::error!("{=str}: model refused: {}", title, e);
            fw::exit(2)
        }
    };
    let Some(tasks) = tasks else {
        defmt::error!("{=str}: fixtures malformed", title);
        fw::exit(2)
    };
    defmt::info!(
        "{=str}: model {=str}, {=usize} bytes, {=usize} parameters, {=usize} adapted; learner {=usize} bytes of RAM",
        title,
        model.name(),
        model.blob_len(),
        model.param_count(),
        tasks.params,
        core::mem::size_of::<SinusoidLearner<'_>>()
    );
    let steps = u16::try_from(tasks.steps).unwrap_or(u16::MAX);
    let mut mismatches = 0u32;
    for t in 0..tasks.count {
        let task = tasks.task(t);
        let (k, q) = (tasks.k, tasks.q);
        let mut sx = [0.0f32; MAX_K];
        let mut sy = [0.0f32; MAX_K];
        let mut qx = [0.0f32; MAX_Q];
        let mut qy = [0.0f32; MAX_Q];
        task.support_x.copy_to(&mut sx[..k]);
        task.support_y.copy_to(&mut sy[..k]);
        task.query_x.copy_to(&mut qx[..q]);
        task.query_y.copy_to(&mut qy[..q]);
        let mut before = [0.0f32; MAX_Q];
        let mut after = [0.0f32; MAX_Q];
        let mut run = |learner: &mut SinusoidLearner<'_>| {
            for (x, y) in qx[..q].iter().zip(&mut before[..q]) {
                learner.predict(core::slice::from_ref(x), core::slice::from_mut(y))?;
            }
            let report = learner.adapt_steps(Support::values(&sx[..k], &sy[..k]), Some(steps))?;
            for (x, y) in qx[..q].iter().zip(&mut after[..q]) {
                learner.predict(core::slice::from_ref(x), core::slice::from_mut(y))?;
            }
            Ok::<_, fewshot_runtime::Error>(report)
        };
        let mut learner = match SinusoidLearner::new(&model, 0) {
            Ok(l) => l,
            Err(e) => {
                defmt::error!("learner: {}", e);
                fw::exit(2)
            }
        };
        let report = match run(&mut learner) {
            Ok(r) => r,
            Err(e) => {
                defmt::error!("task {=usize}: {}", t, e);
                fw::exit(2)
            }
        };
        defmt::info!(
            "task {=usize}: K={=usize}, {=u16} steps, support loss {=f32} -> {=f32}; query MSE before {=f32} after {=f32}",
            t,
            k,
            report.steps,
            report.initial_loss,
            report.final_loss,
            mse(&before[..q], &qy[..q]),
            mse(&after[..q], &qy[..q])
        );
        let m = [
            bit_mismatches(&before[..q], task.golden_before),
            bit_mismatches(&after[..q], task.golden_after),
            bit_mismatches(learner.losses(), task.golden_losses),
            bit_mismatches(learner.state().params(), task.golden_params),
        ];
        defmt::info!(
            "task {=usize}: bit mismatches vs host: outputs before {=u32}, after {=u32}, losses {=u32}, adapted params {=u32}",
            t, m[0], m[1], m[2], m[3]
        );
        mismatches = m.iter().fold(mismatches, |a, b| a.saturating_add(*b));
    }
    mismatches
}
