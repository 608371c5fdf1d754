//! The demo that `cargo qemu` runs: the sinusoid models embedded in flash (10
//! gradient steps on the whole network; one implicit step on the head),
//! adapted on the device on each held-out task, compared bit for bit with the
//! outputs the runtime computed on the host (`firmware/fixtures/`).
//!
//! For each task: infer on the query points (meta-learned parameters),
//! adapt on the K support points, infer again; log the query MSE before and
//! after; compare every output, support loss and adapted parameter with the
//! golden vectors. Any difference exits with status 1.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use fewshot_firmware::fixtures::{
    bit_mismatches, Episodes, Tasks, DIGITS, MAX_K, MAX_Q, SINUSOID, SINUSOID_PARAMS,
    SINUSOID_PROXIMAL,
};
use fewshot_firmware::{self as fw, episodes};
use fewshot_runtime::{AdaptState, Heads, Model, Support};

/// Scratch floats for adaptation and inference (checked against the model's needs).
const SCRATCH: usize = 1024;

fn mse(pred: &[f32], target: &[f32]) -> f32 {
    let mut s = 0.0;
    for (p, t) in pred.iter().zip(target) {
        s += (p - t) * (p - t);
    }
    s / pred.len().max(1) as f32
}

#[entry]
fn main() -> ! {
    fw::init("demo: sinusoid few-shot adaptation, bit-exact against the host");
    let mut mismatches = sinusoid("sinusoid", SINUSOID, Tasks::load());
    mismatches = mismatches.saturating_add(sinusoid(
        "sinusoid, implicit head step",
        SINUSOID_PROXIMAL,
        Tasks::proximal(),
    ));
    mismatches = mismatches.saturating_add(episodes::run("digits", DIGITS, Episodes::digits()));
    fw::finish(mismatches)
}

/// A sinusoid model on the held-out tasks: for each, infer on the query points, adapt on the
/// support points for the golden file's step count, infer again; logs the query MSE before and
/// after; returns the bit mismatches against the host. One state capacity serves both models
/// (the full network's), so the code is not duplicated per capacity.
#[inline(never)]
fn sinusoid(title: &str, blob: &'static [u8], tasks: Option<Tasks>) -> u32 {
    let model = match Model::from_bytes(blob) {
        Ok(m) => m,
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
        "{=str}: model {=str}, {=usize} bytes, {=usize} parameters, {=usize} adapted",
        title,
        model.name(),
        model.blob_len(),
        model.param_count(),
        tasks.params
    );
    match model.ram_needs(0, tasks.k) {
        Ok(n) => defmt::info!("RAM needs at K={=usize} (floats): {}", tasks.k, n),
        Err(e) => defmt::error!("ram_needs: {}", e),
    }
    let steps = u16::try_from(tasks.steps).unwrap_or(u16::MAX);
    let mut scratch = [0.0f32; SCRATCH];
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

        let mut state = match AdaptState::<SINUSOID_PARAMS>::new(&model, 0) {
            Ok(s) => s,
            Err(e) => {
                defmt::error!("state: {}", e);
                fw::exit(2)
            }
        };
        let mut before = [0.0f32; MAX_Q];
        let mut after = [0.0f32; MAX_Q];
        let mut losses = [0.0f32; 32];
        let nl = tasks.steps + 1;
        let run = (|| {
            model
                .network()
                .infer_batch(&qx[..q], Heads::ALL, &mut scratch, &mut before[..q])?;
            let report = state.adapt(
                &model,
                Support::values(&sx[..k], &sy[..k]),
                Some(steps),
                &mut scratch,
                losses.get_mut(..nl).unwrap_or(&mut []),
            )?;
            state.network(&model)?.infer_batch(
                &qx[..q],
                Heads::ALL,
                &mut scratch,
                &mut after[..q],
            )?;
            Ok::<_, fewshot_runtime::Error>(report)
        })();
        let report = match run {
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
            bit_mismatches(losses.get(..nl).unwrap_or(&[]), task.golden_losses),
            bit_mismatches(state.params(), task.golden_params),
        ];
        defmt::info!(
            "task {=usize}: bit mismatches vs host: outputs before {=u32}, after {=u32}, losses {=u32}, adapted params {=u32}",
            t, m[0], m[1], m[2], m[3]
        );
        mismatches = m.iter().fold(mismatches, |a, b| a.saturating_add(*b));
    }
    mismatches
}
