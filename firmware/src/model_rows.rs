//! One model's rows of the benchmark tables (feature `conv`): the `bench` firmware's
//! convolution presets and the `bench_model` firmware's model of yours. Each stem layer as
//! the model runs it; then loading (CRC and validation), one inference of every head in
//! instructions and per MAC, adapting the first head from a support set, and the model's flash
//! and RAM (its bytes; inference scratch; adapted state and adaptation scratch; the peak stack
//! of each call). MACs: every tap of every output of the stem (the padding's included), one per
//! value a pooling reads or a boundary converts, and the dense layers'.

use crate::measure::{instructions_x100, peak_stack, whole};
use core::hint::black_box;
use core::mem::MaybeUninit;
use fewshot_runtime::format::MAX_STEPS;
use fewshot_runtime::ops::layer::{LayerOp, Stem};
use fewshot_runtime::{AdaptState, Heads, Model, Support};

/// The header of the [`stem_rows`] table.
pub fn stem_header() {
    defmt::info!("| stem layer, as the model runs it | instructions | per MAC |");
    defmt::info!("|---|---:|---:|");
}

/// The header of the [`model_row`] table.
pub fn model_header() {
    defmt::info!("| model | flash | load | inference (stem, head) | adaptation from prototypes (stem passes, head steps) | inference RAM | adaptation RAM |");
    defmt::info!("|---|---:|---:|---|---:|---|---|");
}

/// One row per stem layer of `model` as the network runs it (`Stem::run` between the two
/// halves of `buffers`, the first holding `x`: its quantise step reads f32); returns the stem's
/// MACs. Ends the run with status 1 when a layer does not fit a half of `buffers`.
pub fn stem_rows(name: &str, model: &Model<'_>, x: &[f32], buffers: &mut [f32]) -> u32 {
    let half = buffers.len() / 2;
    let (a, b) = buffers.split_at_mut(half);
    let (mut src, mut dst) = (a, &mut b[..half]);
    let d = model.input_len().min(half).min(x.len());
    src[..d].copy_from_slice(&x[..d]);
    let mut macs = 0;
    for (i, layer) in model.stem().iter().enumerate() {
        let (Ok(op), Ok((w, bias))) = (Stem::of(layer), model.stem_params(layer)) else {
            crate::finish(1)
        };
        // (An int8 map's values take a quarter of its count in floats: a layer checks its
        // input's length itself.)
        if op.buffer_len().max(op.work_len()) > half {
            crate::finish(1)
        }
        // A padded f32 convolution overwrites its input: the repetitions read what the last one
        // left (the counts do not depend on the values).
        let mut in_dst = Ok(true);
        let n = instructions_x100(1, || {
            in_dst = op.run(w, bias, black_box(&mut src[..]), &mut dst[..]);
        });
        defmt::info!(
            "| {=str} stem[{=usize}], {=u32} MACs | {=u32} | {=f32} per MAC |",
            name,
            i,
            op.macs() as u32,
            crate::measure::whole(n),
            n as f32 / 100.0 / op.macs().max(1) as f32
        );
        macs += op.macs() as u32;
        match in_dst {
            Ok(true) => core::mem::swap(&mut src, &mut dst),
            Ok(false) => {}
            Err(_) => crate::finish(1),
        }
    }
    macs
}

/// Floats of the two halves [`stem_rows`] runs `model`'s stem between.
pub fn stem_buffers(model: &Model<'_>) -> usize {
    let widest = model
        .stem()
        .iter()
        .filter_map(|l| Stem::of(l).ok())
        .map(|op| op.buffer_len().max(op.work_len()))
        .fold(model.input_len(), usize::max);
    2 * widest
}

/// `model` loaded from `blob`, or the run ends with status 1.
pub fn load<'a>(name: &str, blob: &'a [u8]) -> Model<'a> {
    match Model::from_bytes(blob) {
        Ok(m) => m,
        Err(e) => {
            defmt::error!("{=str}: {}", name, e);
            crate::finish(1)
        }
    }
}

/// Multiply-accumulates of `model`'s dense layers (trunk and every head) in one forward pass.
pub fn dense_macs(model: &Model<'_>) -> u32 {
    let trunk: usize = model.trunk().iter().map(|l| l.macs()).sum();
    let heads: usize = model
        .heads()
        .iter()
        .flat_map(|h| h.layers.iter())
        .map(|l| l.macs())
        .sum();
    (trunk + heads) as u32
}

/// What [`model_row`] measures of one model.
pub struct Row<'a> {
    /// Its name in the table.
    pub name: &'a str,
    /// The model, loaded from its file (its bytes: [`Model::bytes`]).
    pub model: &'a Model<'a>,
    /// The stem's MACs ([`stem_rows`]).
    pub stem_macs: u32,
    /// One input sample (or more).
    pub x: &'a [f32],
    /// The head adapted.
    pub head: usize,
    /// Its support set.
    pub support: Support<'a>,
    /// Its samples.
    pub samples: usize,
    /// Classes of the support set (0 for values).
    pub ways: usize,
}

/// Adapts head `head` of `model` on `support` from its meta-learned start, its state built in
/// `slot` (never on the stack), its losses logged in `losses`: true on success, else the error
/// is logged.
fn adapt_once<const P: usize>(
    slot: &mut MaybeUninit<AdaptState<P>>,
    model: &Model<'_>,
    head: usize,
    support: Support<'_>,
    (scratch, losses): (&mut [f32], &mut [f32]),
) -> bool {
    let r = AdaptState::init(slot, model, head)
        .and_then(|state| state.adapt(model, support, None, scratch, losses));
    if let Err(e) = &r {
        defmt::error!("adaptation: {}", e);
    }
    r.is_ok()
}

/// Logs `row`'s line; `state` holds the adapted state (`P` parameters at most). Ends the run
/// with status 1 when a call fails.
pub fn model_row<const P: usize>(
    row: &Row<'_>,
    state: &mut MaybeUninit<AdaptState<P>>,
    scratch: &mut [f32],
    out: &mut [f32],
) {
    let (model, blob) = (row.model, row.model.bytes());
    let loads = instructions_x100(3, || {
        black_box(Model::from_bytes(black_box(blob)).is_ok());
    });
    let (d, head) = (model.input_len(), row.head);
    let (Ok(needs), Some(x)) = (model.ram_needs(head, row.samples), row.x.get(..d)) else {
        crate::finish(1)
    };
    let no = model.network().output_len(Heads::ALL).min(out.len());
    let (r, infer_stack) = peak_stack(|| {
        model
            .network()
            .infer(x, Heads::ALL, scratch, &mut out[..no])
    });
    if let Err(e) = r {
        defmt::error!("inference: {}", e);
        crate::finish(1)
    }
    let infer = instructions_x100(3, || {
        let r = model
            .network()
            .infer(black_box(x), Heads::ALL, scratch, &mut out[..no]);
        black_box(r.is_ok());
    });
    // Any step count a model may declare; outside the measured calls' frames.
    let mut losses = [0.0f32; MAX_STEPS as usize + 1];
    let mut adapt = || adapt_once(state, model, head, row.support, (scratch, &mut losses));
    let (ok, adapt_stack) = peak_stack(&mut adapt);
    if !ok {
        crate::finish(1)
    }
    let adapt_x100 = instructions_x100(1, || {
        black_box(adapt());
    });
    let macs = row.stem_macs + dense_macs(model);
    let per_mac = infer as f32 / 100.0 / macs.max(1) as f32;
    let (infer_ram, state, adapt_ram) = (
        4 * needs.infer_scratch,
        4 * needs.state,
        4 * needs.adapt_scratch,
    );
    if row.ways > 0 {
        defmt::info!(
            "| {=str} | {=usize} B | load {=u32} | inference {=u32} ({=u32} MACs, {=f32} per MAC) | adapt {=usize}-way, {=usize} samples {=u32} | inference scratch {=usize} B, stack {=u32} B | adaptation state {=usize} B + scratch {=usize} B, stack {=u32} B |",
            row.name, blob.len(), whole(loads), whole(infer), macs, per_mac, row.ways,
            row.samples, whole(adapt_x100), infer_ram, infer_stack, state, adapt_ram, adapt_stack
        );
    } else {
        defmt::info!(
            "| {=str} | {=usize} B | load {=u32} | inference {=u32} ({=u32} MACs, {=f32} per MAC) | adapt to {=usize} samples' values {=u32} | inference scratch {=usize} B, stack {=u32} B | adaptation state {=usize} B + scratch {=usize} B, stack {=u32} B |",
            row.name, blob.len(), whole(loads), whole(infer), macs, per_mac,
            row.samples, whole(adapt_x100), infer_ram, infer_stack, state, adapt_ram, adapt_stack
        );
    }
}

/// The classes of head `head` of `model` (0 when it takes values).
pub fn classes(model: &Model<'_>, head: usize) -> usize {
    model
        .head(head)
        .ok()
        .and_then(|h| h.kind.classes())
        .map_or(0, usize::from)
}
