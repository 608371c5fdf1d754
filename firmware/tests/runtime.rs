//! The runtime on the target: load errors for corrupted blobs, capacity
//! errors, rollback of adaptation on NaN input, reset of the adapted state,
//! and multi-head outputs equal to single-head calls (bit for bit).
#![no_std]
#![no_main]

use fewshot_firmware::entry;
use fewshot_firmware::fixtures::{MULTIHEAD, SINUSOID, SINUSOID_PARAMS};
use fewshot_firmware::{self as fw, Checks};
use fewshot_runtime::{AdaptState, Capacities, Error, Heads, Model, Support};

/// A RAM copy of a blob, 4-byte aligned, to corrupt.
#[repr(C, align(4))]
struct Blob([u8; 16384]);

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn corrupted_blobs(c: &mut Checks) {
    let n = SINUSOID.len();
    let mut blob = Blob([0; 16384]);
    if n > blob.0.len() {
        c.check(false, "the sinusoid blob fits the test buffer");
        return;
    }
    blob.0[..n].copy_from_slice(SINUSOID);
    c.check(Model::from_bytes(&blob.0[..n]).is_ok(), "a RAM copy loads");
    // A bit flip every 97 bytes (header, tensors, CRC trailer): each refused.
    let mut refused = true;
    let mut i = 0;
    while i < n {
        blob.0[i] ^= 0x10;
        refused &= Model::from_bytes(&blob.0[..n]).is_err();
        blob.0[i] ^= 0x10;
        i += 97;
    }
    c.check(refused, "every sampled single-bit flip is refused");
    let mut truncated = true;
    for len in [0, 3, 4, 16, n / 2, n - 4, n - 1] {
        truncated &= Model::from_bytes(&blob.0[..len]).is_err();
    }
    c.check(truncated, "truncated blobs are refused");
    c.check(
        Model::from_bytes(&blob.0[1..n]).is_err(),
        "a misaligned blob is refused",
    );
    blob.0[0] ^= 0xff;
    c.check(
        matches!(Model::from_bytes(&blob.0[..n]), Err(Error::BadMagic)),
        "a bad magic is reported as BadMagic",
    );
}

fn capacities(c: &mut Checks, model: &Model<'_>) {
    c.check(
        matches!(
            AdaptState::<16>::new(model, 0),
            Err(Error::Capacity {
                needed: SINUSOID_PARAMS,
                available: 16,
                ..
            })
        ),
        "AdaptState<16> is refused with the capacity it needs",
    );
    let small = Capacities {
        state: SINUSOID_PARAMS,
        scratch: 64,
        shots: 10,
    };
    c.check(
        matches!(
            Model::from_bytes_with(SINUSOID, &small),
            Err(Error::Capacity { .. })
        ),
        "a model that needs more scratch is refused at load",
    );
    let enough = Capacities {
        state: SINUSOID_PARAMS,
        scratch: 1024,
        shots: 10,
    };
    c.check(
        Model::from_bytes_with(SINUSOID, &enough).is_ok(),
        "the model fits the firmware's capacities",
    );
    let mut scratch = [0.0f32; 8];
    let mut out = [0.0f32; 1];
    c.check(
        matches!(
            model
                .network()
                .infer(&[0.5], Heads::ALL, &mut scratch, &mut out),
            Err(Error::BufferTooSmall { .. })
        ),
        "too small an inference scratch is an error",
    );
}

fn rollback_and_reset(c: &mut Checks, model: &Model<'_>) {
    let Ok(mut state) = AdaptState::<SINUSOID_PARAMS>::new(model, 0) else {
        c.check(false, "state for the sinusoid head");
        return;
    };
    let Ok(meta) = AdaptState::<SINUSOID_PARAMS>::new(model, 0) else {
        return;
    };
    let mut scratch = [0.0f32; 1024];
    let mut losses = [0.0f32; 16];
    let xs = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
    let ys = [0.1f32, 0.5, f32::NAN, 0.2, -0.4];
    let r = state.adapt(
        model,
        Support::values(&xs, &ys),
        None,
        &mut scratch,
        &mut losses,
    );
    c.check(
        matches!(r, Err(Error::NonFinite { .. })),
        "a NaN target is refused",
    );
    c.check(
        same_bits(state.params(), meta.params()),
        "after the refused call the state is bit for bit as before",
    );
    let xs_nan = [-2.0f32, f32::NAN, 0.0, 1.0, 2.0];
    let ys_ok = [0.1f32, 0.5, 0.3, 0.2, -0.4];
    let r = state.adapt(
        model,
        Support::values(&xs_nan, &ys_ok),
        None,
        &mut scratch,
        &mut losses,
    );
    c.check(r.is_err(), "a NaN input is refused");
    c.check(
        same_bits(state.params(), meta.params()),
        "... and rolled back",
    );
    let r = state.adapt(
        model,
        Support::values(&xs, &ys_ok),
        None,
        &mut scratch,
        &mut losses,
    );
    c.check(r.is_ok(), "a finite support set adapts");
    c.check(
        !same_bits(state.params(), meta.params()),
        "adaptation changes the state",
    );
    c.check(state.reset(model).is_ok(), "reset succeeds");
    c.check(
        same_bits(state.params(), meta.params()),
        "reset restores the meta-learned parameters bit for bit",
    );
}

fn multihead(c: &mut Checks) {
    let Ok(model) = Model::from_bytes(MULTIHEAD) else {
        c.check(false, "the multi-head fixture loads");
        return;
    };
    c.check(model.heads().len() == 3, "three heads");
    let mut scratch = [0.0f32; 256];
    let mut all = [0.0f32; 32];
    let mut one = [0.0f32; 32];
    let input = [0.3f32, -1.2, 0.8, 0.0, 2.5, -0.7, 1.1, 0.4];
    let net = model.network();
    let total = net.output_len(Heads::ALL);
    let ok_all = net
        .infer(&input, Heads::ALL, &mut scratch, &mut all[..total])
        .is_ok();
    let mut at = 0;
    let mut equal = ok_all;
    for h in 0..3 {
        let n = net.output_len(Heads::only(h));
        equal &= net
            .infer(&input, Heads::only(h), &mut scratch, &mut one[..n])
            .is_ok();
        equal &= same_bits(&one[..n], &all[at..at + n]);
        at += n;
    }
    c.check(
        equal && at == total,
        "every head alone equals its part of the all-heads call",
    );
    let sum: f32 = all[..10].iter().sum();
    c.check(
        (sum - 1.0).abs() < 1e-5,
        "the 10-way head's softmax sums to 1",
    );

    // The 5-way head starts from prototypes of a 5-way, 2-shot support set.
    let mut xs = [0.0f32; 80];
    let mut labels = [0u16; 10];
    for (i, l) in labels.iter_mut().enumerate() {
        *l = (i % 5) as u16;
        for d in 0..8 {
            xs[8 * i + d] =
                ((i % 5) as f32 - 2.0) * if d % 2 == 0 { 1.0 } else { -0.5 } + 0.01 * i as f32;
        }
    }
    let Ok(mut state) = AdaptState::<128>::new(&model, 1) else {
        c.check(false, "state for the 5-way head");
        return;
    };
    let mut adapt_scratch = [0.0f32; 512];
    let mut losses = [0.0f32; 8];
    let r = state.adapt(
        &model,
        Support::classes(&xs, &labels),
        None,
        &mut adapt_scratch,
        &mut losses,
    );
    c.check(
        matches!(r, Ok(rep) if rep.from_prototypes),
        "the 5-way head adapts from prototypes",
    );
    let bad = [0u16, 1, 2, 3, 9, 0, 1, 2, 3, 4];
    let before = state.params().first().copied().unwrap_or(0.0);
    let r = state.adapt(
        &model,
        Support::classes(&xs, &bad),
        None,
        &mut adapt_scratch,
        &mut losses,
    );
    c.check(r.is_err(), "a label out of range is refused");
    c.check(
        state.params().first().copied().unwrap_or(1.0).to_bits() == before.to_bits(),
        "... and the state is unchanged",
    );
    let mut correct = 0u32;
    let Ok(adapted) = state.network(&model) else {
        c.check(false, "adapted network");
        return;
    };
    for (i, l) in labels.iter().enumerate() {
        let mut p = [0.0f32; 5];
        if adapted
            .infer(&xs[8 * i..8 * i + 8], Heads::only(1), &mut scratch, &mut p)
            .is_ok()
        {
            let best = (0..5).fold(0, |b, j| if p[j] > p[b] { j } else { b });
            correct += u32::from(best == usize::from(*l));
        }
    }
    defmt::info!(
        "5-way head from prototypes: {=u32}/10 support samples correct",
        correct
    );
    c.check(
        correct >= 8,
        "the prototype head classifies its support set",
    );
}

#[entry]
fn main() -> ! {
    fw::init("runtime on target");
    let mut c = Checks::new();
    corrupted_blobs(&mut c);
    let Ok(model) = Model::from_bytes(SINUSOID) else {
        c.check(false, "the sinusoid fixture loads");
        c.finish()
    };
    capacities(&mut c, &model);
    rollback_and_reset(&mut c, &model);
    multihead(&mut c);
    c.finish()
}
