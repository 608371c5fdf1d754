//! Adapted state survives a real reset of the core: the first boot adapts the sinusoid model
//! twice (saving after each, so both slots are used), predicts on the query points, hands the
//! predictions over in `.uninit` RAM and resets the core with `fewshot_firmware::reset()`; the second
//! boot restores the state from the (RAM-simulated, see `nor.rs`) NOR flash and must predict
//! exactly the same bits.
#![no_std]
#![no_main]

use fewshot_firmware::entry;
use fewshot_firmware::fixtures::{Tasks, MAX_K, MAX_Q, MULTIHEAD, SINUSOID, SINUSOID_PARAMS};
use fewshot_firmware::nor::{
    clear_handover, hand_over_and_reset, handover, Handover, NoinitNor, NOR_SIZE,
};
use fewshot_firmware::{self as fw, Checks};
use fewshot_runtime::persist::nor_flash::NorFlash;
use fewshot_runtime::persist::Slots;
use fewshot_runtime::{AdaptState, Error, Heads, Model, Support};

/// Each slot: the sinusoid state's record in whole erase blocks (a 1761-parameter record is
/// 7 072 bytes: two 4 KiB blocks), from the generated sizes (`trainer inspect --rust`).
const SLOT: u32 = fewshot_firmware::sizes::sinusoid::state_slot::<NoinitNor>();
const _: () = assert!(SLOT == 8192);

type State = AdaptState<SINUSOID_PARAMS>;

/// Predictions of `state` on the first task's query points, as bits.
fn predict(model: &Model<'_>, state: &State, tasks: &Tasks, out: &mut [u32; 16]) -> Option<usize> {
    let task = tasks.task(0);
    let q = tasks.q.min(MAX_Q);
    let mut qx = [0.0f32; MAX_Q];
    task.query_x.copy_to(&mut qx[..q]);
    let mut y = [0.0f32; MAX_Q];
    let mut scratch = [0.0f32; 256];
    let net = state.network(model).ok()?;
    net.infer_batch(&qx[..q], Heads::ALL, &mut scratch, &mut y[..q])
        .ok()?;
    for (o, v) in out.iter_mut().zip(&y[..q]) {
        *o = v.to_bits();
    }
    Some(q)
}

fn first_boot(mut c: Checks, model: &Model<'_>, tasks: &Tasks, nor: &mut NoinitNor) -> ! {
    defmt::info!("boot 1: cold start");
    c.check(
        nor.erase(0, NOR_SIZE as u32).is_ok(),
        "the simulated flash erases (factory state)",
    );
    let Ok(slots) = Slots::new(nor, 0, SLOT) else {
        c.check(false, "two 8 KiB slots fit the flash");
        c.finish()
    };
    let Ok(mut state) = State::new(model, 0) else {
        c.check(false, "state for the sinusoid head");
        c.finish()
    };
    let mut scratch = [0.0f32; 1024];
    let mut losses = [0.0f32; 32];
    let k = tasks.k.min(MAX_K);
    for t in 0..2 {
        let task = tasks.task(t);
        let mut sx = [0.0f32; MAX_K];
        let mut sy = [0.0f32; MAX_K];
        task.support_x.copy_to(&mut sx[..k]);
        task.support_y.copy_to(&mut sy[..k]);
        let r = state.adapt(
            model,
            Support::values(&sx[..k], &sy[..k]),
            None,
            &mut scratch,
            &mut losses,
        );
        c.check(r.is_ok(), "adapts on a task's support set");
        match slots.save(nor, model, &state) {
            Ok(info) => defmt::info!(
                "saved sequence {=u32} in slot {=u8} ({=u32} parameters)",
                info.sequence,
                info.slot,
                info.params
            ),
            Err(e) => {
                defmt::error!("save: {}", e);
                c.check(false, "saves");
            }
        }
    }
    let mut h = Handover {
        magic: Handover::MAGIC,
        stage: 2,
        predictions: [0; 16],
        count: 0,
    };
    match predict(model, &state, tasks, &mut h.predictions) {
        Some(n) => h.count = n as u32,
        None => c.check(false, "the adapted state predicts"),
    }
    defmt::info!(
        "boot 1: predictions {=u32:#010x} {=u32:#010x} {=u32:#010x} ...",
        h.predictions[0],
        h.predictions[1],
        h.predictions[2]
    );
    hand_over_and_reset(c, h)
}

fn second_boot(
    c: &mut Checks,
    model: &Model<'_>,
    tasks: &Tasks,
    nor: &mut NoinitNor,
    h: &Handover,
) {
    defmt::info!("boot 2: after the reset");
    // A second run must start cold again.
    clear_handover();
    let Ok(slots) = Slots::new(nor, 0, SLOT) else {
        c.check(false, "two 8 KiB slots fit the flash");
        return;
    };
    let Ok(mut state) = State::new(model, 0) else {
        c.check(false, "state for the sinusoid head");
        return;
    };
    let mut meta = [0u32; 16];
    let meta_n = predict(model, &state, tasks, &mut meta);
    // Straight into the state: no second 7 KB buffer.
    match slots.restore(nor, model, &mut state) {
        Ok(info) => {
            defmt::info!(
                "restored sequence {=u32} from slot {=u8}",
                info.sequence,
                info.slot
            );
            c.check(
                info.sequence == 2 && info.slot == 1,
                "the newest record wins",
            );
        }
        Err(e) => {
            defmt::error!("restore: {}", e);
            c.check(false, "restores");
        }
    }
    let mut now = [0u32; 16];
    let n = predict(model, &state, tasks, &mut now);
    defmt::info!(
        "boot 2: predictions {=u32:#010x} {=u32:#010x} {=u32:#010x} ...",
        now[0],
        now[1],
        now[2]
    );
    c.check(
        n == Some(h.count as usize) && h.count > 0 && now == h.predictions,
        "predictions after the reset equal those before, bit for bit",
    );
    c.check(
        meta_n == n && meta != now,
        "... and differ from the meta-learned model's (the restore mattered)",
    );
    // The state saved for the sinusoid model is refused for another model.
    let refused = match Model::from_bytes(MULTIHEAD) {
        Ok(other) => match AdaptState::<512>::new(&other, 2) {
            Ok(mut s) => matches!(
                slots.restore(nor, &other, &mut s),
                Err(Error::SavedStateMismatch { what: "model" })
            ),
            Err(_) => false,
        },
        Err(_) => false,
    };
    c.check(refused, "state saved for another model is refused");
}

#[entry]
fn main() -> ! {
    fw::init("persist_reset");
    let mut c = Checks::new();
    let Ok(model) = Model::from_bytes(SINUSOID) else {
        c.check(false, "the sinusoid fixture loads");
        c.finish()
    };
    let Some(tasks) = Tasks::load() else {
        c.check(false, "the task fixtures load");
        c.finish()
    };
    let Some(mut nor) = NoinitNor::take() else {
        c.check(false, "the simulated flash");
        c.finish()
    };
    let h = handover();
    if h.magic == Handover::MAGIC && h.stage == 2 {
        second_boot(&mut c, &model, &tasks, &mut nor, &h);
        c.finish()
    }
    first_boot(c, &model, &tasks, &mut nor)
}
