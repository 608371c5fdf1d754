//! Size probe: loads a dense regression model, infers, adapts it by gradient steps and resets
//! it, then adapts a classification head; with `probe-persist` it also saves and restores the
//! adapted state on NOR flash, with `probe-signature` it opens a signed envelope, with
//! `probe-frontend` it builds the audio front-end and computes a frame. `cargo xtask
//! bench-firmware` reports it with the default features, `cargo xtask size-table` per feature
//! set. The runtime's own features (`matching-head`, `implicit-step`) are this crate's
//! features of the same names: the dispatch links a feature's op whether or not the model uses
//! it, which is what the table measures. `size_baseline` is the same program without the
//! runtime calls.
#![no_std]
#![no_main]

use core::hint::black_box;
use fewshot_firmware::entry;
use fewshot_firmware::fixtures::{BENCH_DIGITS, SINUSOID, SINUSOID_PARAMS};
use fewshot_runtime::{AdaptState, Heads, Model, Support};

#[entry]
fn main() -> ! {
    let mut scratch = [0.0f32; 1024];
    let mut out = [0.0f32; 16];
    let mut losses = [0.0f32; 8];
    let x = [black_box(0.5f32); 4];
    let y = [black_box(0.25f32); 4];
    let mut failures = 0;
    #[cfg(feature = "probe-signature")]
    let opened = {
        static KEY: fewshot_runtime::signature::PublicKey =
            fewshot_runtime::signature::PublicKey::from_bytes([7; 32]);
        Model::from_signed_bytes(black_box(SINUSOID), &KEY)
    };
    #[cfg(not(feature = "probe-signature"))]
    let opened = Model::from_bytes(black_box(SINUSOID));
    if let Ok(model) = opened {
        failures += model
            .network()
            .infer(&x[..1], Heads::ALL, &mut scratch, &mut out)
            .is_err() as i32;
        if let Ok(mut state) = AdaptState::<SINUSOID_PARAMS>::new(&model, 0) {
            let r = state.adapt(
                &model,
                Support::values(&x, &y),
                None,
                &mut scratch,
                &mut losses,
            );
            failures += r.is_err() as i32;
            #[cfg(feature = "probe-persist")]
            {
                failures += persist(&model, &mut state) as i32;
            }
            failures += state.reset(&model).is_err() as i32;
        }
    }
    failures += classify(&mut scratch, &mut out, &mut losses) as i32;
    #[cfg(feature = "probe-frontend")]
    {
        failures += frontend() as i32;
    }
    black_box(&out);
    fewshot_firmware::exit(failures)
}

/// Builds the keyword spec's log-mel front-end and computes a frame: true on failure.
#[cfg(feature = "probe-frontend")]
fn frontend() -> bool {
    use fewshot_runtime::frontend::{FrontEnd, FrontEndSpec};
    let Ok(mut fe) = FrontEnd::<512, 40, 1960>::new(black_box(&FrontEndSpec::KEYWORD)) else {
        return true;
    };
    let pcm = [black_box(100i16); 480];
    let pushed = fe.push(&pcm);
    let mut x = [0.0f32; 1960];
    pushed.is_err() || black_box(fe.features(&mut x)).is_err()
}

/// Adapts the classification head of the digits bench model and infers: true on failure.
fn classify(scratch: &mut [f32], out: &mut [f32], losses: &mut [f32]) -> bool {
    let Ok(model) = Model::from_bytes(black_box(BENCH_DIGITS)) else {
        return false;
    };
    let Ok(mut state) = AdaptState::<325>::new(&model, 1) else {
        return true;
    };
    let inputs = [black_box(0.5f32); 64 * 5];
    let labels = [0, 1, 2, 3, 4];
    let support = Support::classes(&inputs, &labels);
    if state.adapt(&model, support, None, scratch, losses).is_err() {
        return true;
    }
    let Ok(net) = state.network(&model) else {
        return true;
    };
    net.infer(&inputs[..64], Heads::ALL, scratch, out).is_err()
}

/// Saves the state to the simulated NOR flash and restores it: true on failure.
#[cfg(feature = "probe-persist")]
fn persist(model: &Model<'_>, state: &mut AdaptState<SINUSOID_PARAMS>) -> bool {
    use fewshot_firmware::nor::{NoinitNor, NOR_SIZE};
    use fewshot_runtime::persist::Slots;
    let Some(mut nor) = NoinitNor::take() else {
        return true;
    };
    let Ok(slots) = Slots::new(&nor, 0, NOR_SIZE as u32 / 2) else {
        return true;
    };
    slots.save(&mut nor, model, state).is_err() || slots.restore(&mut nor, model, state).is_err()
}
