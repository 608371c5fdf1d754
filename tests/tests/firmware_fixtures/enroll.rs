//! The demo's enrollment fixtures: the trained digits model with its 20-way base head made
//! enrollable (up to 24 classes held on the device: at least its 20), and the class bank's
//! answers on the digits episodes' novel classes as the runtime computes them on the host.
//!
//! For each digits episode (`digits-episodes.bin`), an empty bank enrolls the novel digits 5-9
//! from their support samples (label = the digit), classifies every query, forgets [`FORGET`]
//! and classifies every query again. The golden file (`FSEG` v1) holds the labels enrolled,
//! then per episode and phase each query's label and probability bits; the demo must give the
//! same.

use super::{push_u32s, Episodes};
use runtime::writer::ModelDef;
use runtime::{ClassBank, Model};

/// The class the demo forgets after enrolling the five.
pub const FORGET: u16 = 7;
/// Classes the enrollable head holds on the device.
const MAX_CLASSES: u16 = 24;

/// `digits` (the device's digits model) with head 0 enrollable, under its own id.
pub fn enroll_model(digits: &[u8]) -> Vec<u8> {
    let aligned = runtime::format::AlignedBytes::from_slice(digits);
    let model = Model::from_bytes(aligned.as_bytes()).expect("digits model loads");
    let mut def = ModelDef::from_model(&model)
        .expect("the digits model re-exports")
        .with_id(model.model_id() ^ 0x0e00_0000);
    def.heads[0].max_classes = Some(MAX_CLASSES);
    def.to_bytes()
        .expect("the writer accepts the enrollable head")
}

/// The golden answers (`FSEG` v1) of `model`'s class bank on `episodes` (an `FSDE` file of
/// `spec`'s shape).
pub fn golden(model: &[u8], episodes: &[u8], spec: &Episodes) -> Vec<u8> {
    let aligned = runtime::format::AlignedBytes::from_slice(model);
    let model = Model::from_bytes(aligned.as_bytes()).expect("enrollable model loads");
    let d = model.input_len();
    let ways = spec.classes.len();
    let (ns, nq) = (ways * spec.shots, ways * spec.queries);
    let floats = |at: usize, n: usize| -> Vec<f32> {
        episodes[at..at + 4 * n]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect()
    };
    let mut out = b"FSEG".to_vec();
    push_u32s(
        &mut out,
        &[
            1,
            spec.count as u32,
            ways as u32,
            nq as u32,
            u32::from(FORGET),
        ],
    );
    let labels: Vec<u32> = spec.classes.iter().map(|&c| c as u32).collect();
    push_u32s(&mut out, &labels);
    for e in 0..spec.count {
        let base = 44 + e * 4 * ((ns + nq) * (d + 1));
        let support = floats(base, ns * d);
        let queries = floats(base + 4 * (ns * (d + 1)), nq * d);
        let mut bank = ClassBank::<2048, 1024>::new(&model, 0).expect("a bank");
        for (way, &class) in spec.classes.iter().enumerate() {
            let samples = &support[way * spec.shots * d..(way + 1) * spec.shots * d];
            bank.enroll(class as u16, samples).expect("enrolls");
        }
        answers(&mut bank, &queries, d, &mut out);
        bank.forget(FORGET).expect("forgets");
        answers(&mut bank, &queries, d, &mut out);
    }
    out
}

/// Each query's (label, probability bits), appended to `out`.
fn answers(bank: &mut ClassBank<'_, 2048, 1024>, queries: &[f32], d: usize, out: &mut Vec<u8>) {
    for x in queries.chunks_exact(d) {
        let (label, p) = bank.classify(x).expect("classifies");
        push_u32s(out, &[u32::from(label), p.to_bits()]);
    }
}
