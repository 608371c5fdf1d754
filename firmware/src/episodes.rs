//! Classification episodes on the device, bit for bit against the host: for each episode of an
//! [`Episodes`] file the model's adaptable head starts from the prototypes of the support set
//! and adapts, then each query runs the trunk (and stem) once and every head. Logs the adapted
//! head's accuracy; counts every output, support loss and adapted parameter that differs in any
//! bit from the host's golden vectors.

use crate::fixtures::{
    bit_mismatches, label_at, Episodes, F32s, EPISODE_MAX_INPUT, EPISODE_MAX_OUTPUTS,
    EPISODE_MAX_PARAMS, EPISODE_MAX_SUPPORT, EPISODE_MAX_SUPPORT_FLOATS,
};
use fewshot_runtime::{AdaptState, Heads, Model, Support};

/// Scratch floats for adaptation and inference (the model's needs are checked by the runtime).
const SCRATCH: usize = 6144;

/// Runs `eps` through `blob`'s model (`title` starts each log line); returns the bit
/// mismatches against the host. A model or file that cannot run exits with status 2.
#[inline(never)]
pub fn run(title: &str, blob: &'static [u8], eps: Option<Episodes>) -> u32 {
    let model = match Model::from_bytes(blob) {
        Ok(m) => m,
        Err(e) => {
            defmt::error!("{=str} model refused: {}", title, e);
            crate::exit(2)
        }
    };
    let Some(eps) = eps else {
        defmt::error!("{=str} fixtures malformed", title);
        crate::exit(2)
    };
    let head = eps.head;
    let net_outputs = model.network().output_len(Heads::ALL);
    // Offset of the adapted head's outputs among all heads' outputs.
    let at: usize = model
        .heads()
        .iter()
        .take(head)
        .map(|h| h.kind.outputs())
        .sum();
    defmt::info!(
        "{=str} model {=str}: {=usize} bytes, {=usize} heads, {=usize} outputs per query; head {=usize} adapts {=usize} parameters from prototypes",
        title,
        model.name(),
        model.blob_len(),
        model.heads().len(),
        net_outputs,
        head,
        eps.params
    );
    if net_outputs > EPISODE_MAX_OUTPUTS || eps.input != model.input_len() {
        defmt::error!("{=str}: the episodes do not fit the model", title);
        crate::exit(2)
    }
    let mut mismatches = 0u32;
    let mut scratch = [0.0f32; SCRATCH];
    let (ns, nq) = (eps.ways * eps.shots, eps.ways * eps.queries);
    let mut correct_all = 0usize;
    for e in 0..eps.count {
        let ep = eps.episode(e);
        let mut sx = [0.0f32; EPISODE_MAX_SUPPORT_FLOATS];
        let mut sl = [0u16; EPISODE_MAX_SUPPORT];
        ep.support_x.copy_to(&mut sx[..ns * eps.input]);
        for (i, l) in sl.iter_mut().take(ns).enumerate() {
            *l = label_at(ep.support_labels, i);
        }
        let mut state = match AdaptState::<EPISODE_MAX_PARAMS>::new(&model, head) {
            Ok(s) => s,
            Err(e) => {
                defmt::error!("{=str} state: {}", title, e);
                crate::exit(2)
            }
        };
        let mut losses = [0.0f32; 32];
        let nl = (eps.steps + 1).min(losses.len());
        let report = state.adapt(
            &model,
            Support::classes(&sx[..ns * eps.input], &sl[..ns]),
            None,
            &mut scratch,
            &mut losses[..nl],
        );
        let report = match report {
            Ok(r) => r,
            Err(err) => {
                defmt::error!("{=str} episode {=usize}: {}", title, e, err);
                crate::exit(2)
            }
        };
        let Ok(net) = state.network(&model) else {
            crate::exit(2)
        };
        let mut correct = 0usize;
        let mut out_mismatch = 0u32;
        for q in 0..nq {
            let mut x = [0.0f32; EPISODE_MAX_INPUT];
            let mut out = [0.0f32; EPISODE_MAX_OUTPUTS];
            F32s::slice(&ep.query_x, q * eps.input, eps.input).copy_to(&mut x[..eps.input]);
            if net
                .infer(
                    &x[..eps.input],
                    Heads::ALL,
                    &mut scratch,
                    &mut out[..net_outputs],
                )
                .is_err()
            {
                crate::exit(2)
            }
            let new_head = out.get(at..at + eps.ways).unwrap_or(&[]);
            let mut best = 0;
            for (c, p) in new_head.iter().enumerate() {
                if *p > new_head[best] {
                    best = c;
                }
            }
            correct += usize::from(best as u16 == label_at(ep.query_labels, q));
            let want = F32s::slice(&ep.golden_outputs, q * eps.outputs, eps.outputs);
            out_mismatch = out_mismatch.saturating_add(bit_mismatches(&out[..net_outputs], want));
        }
        correct_all += correct;
        let m = [
            out_mismatch,
            bit_mismatches(&losses[..nl], ep.golden_losses),
            bit_mismatches(state.params(), ep.golden_params),
        ];
        defmt::info!(
            "{=str} episode {=usize}: {=usize}-way {=usize}-shot, {=u16} steps from prototypes, support loss {=f32} -> {=f32}; new-head accuracy {=usize}/{=usize}",
            title,
            e,
            eps.ways,
            eps.shots,
            report.steps,
            report.initial_loss,
            report.final_loss,
            correct,
            nq
        );
        defmt::info!(
            "{=str} episode {=usize}: bit mismatches vs host: outputs of every head {=u32}, losses {=u32}, adapted params {=u32}",
            title, e, m[0], m[1], m[2]
        );
        mismatches = m.iter().fold(mismatches, |a, b| a.saturating_add(*b));
    }
    defmt::info!(
        "{=str}: new-head accuracy {=usize}/{=usize} over {=usize} episodes",
        title,
        correct_all,
        nq * eps.count,
        eps.count
    );
    mismatches
}
