//! The demo's enrollment: classes added on the device to the digits model's enrollable head,
//! as a firmware author writes it. The sizes come from the generated module
//! (`fewshot_firmware::sizes::digits_enroll`); the caller owns only its input buffers (the
//! samples of a class to enroll, a sample to classify): the bank's answers are values.
//!
//! For each digits episode: an empty class bank enrolls the novel digits 5-9 from their 5
//! support samples each (label = the digit), classifies the queries, forgets one digit and
//! classifies them again. Every answer (label and probability bits) is compared with the
//! host's (`digits-enroll-golden.bin`).

use fewshot_firmware::fixtures::{label_at, EnrollGolden, Episode, Episodes, F32s, DIGITS_ENROLL};
use fewshot_firmware::sizes::digits_enroll as sizes;
use fewshot_runtime::{Error, Model};

/// Enrolls, classifies, forgets and classifies again on each episode; returns the answers that
/// differ from the host's.
#[inline(never)]
pub fn run() -> u32 {
    let (Some(eps), Some(golden)) = (Episodes::digits(), EnrollGolden::digits()) else {
        defmt::error!("enroll: fixtures malformed");
        fewshot_firmware::exit(2)
    };
    match episodes(&eps, &golden) {
        Ok(mismatches) => mismatches,
        Err(e) => {
            defmt::error!("enroll: {}", e);
            fewshot_firmware::exit(2)
        }
    }
}

fn episodes(eps: &Episodes, golden: &EnrollGolden) -> Result<u32, Error> {
    let model = Model::from_bytes(DIGITS_ENROLL)?;
    if model.model_id() != sizes::MODEL_ID
        || golden.count != eps.count
        || golden.queries != eps.ways * eps.queries
        || eps.shots > sizes::K_MAX
    {
        defmt::error!("enroll: the sizes or answers are for another model");
        fewshot_firmware::exit(2)
    }
    defmt::info!(
        "enroll: model {=str}, head {=str} holds up to {=usize} classes ({=usize} bytes of RAM)",
        model.name(),
        sizes::HEAD_NAMES[sizes::HEAD],
        sizes::MAX_CLASSES,
        core::mem::size_of::<sizes::ClassBank<'_>>()
    );
    let mut mismatches = 0u32;
    for e in 0..eps.count {
        let ep = eps.episode(e);
        let mut bank = sizes::ClassBank::new(&model, sizes::HEAD)?;
        let mut samples = [0.0f32; sizes::INPUTS * sizes::K_MAX];
        let per_class = eps.shots * sizes::INPUTS;
        for way in 0..eps.ways {
            let taken = F32s::slice(&ep.support_x, way * per_class, per_class)
                .copy_to(samples.get_mut(..per_class).unwrap_or(&mut []));
            let label = golden.label(way).unwrap_or(u16::MAX);
            bank.enroll(label, samples.get(..taken).unwrap_or(&[]))?;
        }
        let (m0, right0) = answers(&mut bank, &ep, golden, (e, 0))?;
        bank.forget(golden.forget)?;
        let (m1, right1) = answers(&mut bank, &ep, golden, (e, 1))?;
        defmt::info!(
            "enroll episode {=usize}: {=usize} digits from {=usize} samples each, {=usize}/{=usize} queries right; after forgetting {=u16}, {=usize}/{=usize} (the forgotten digit's queries cannot be); answers differing from the host: {=u32}",
            e,
            eps.ways,
            eps.shots,
            right0,
            golden.queries,
            golden.forget,
            right1,
            golden.queries,
            m0 + m1
        );
        mismatches = mismatches.saturating_add(m0 + m1);
    }
    Ok(mismatches)
}

/// Classifies every query of `ep`: (answers differing from the host's for `(episode, phase)`,
/// queries labelled right).
fn answers(
    bank: &mut sizes::ClassBank<'_>,
    ep: &Episode,
    golden: &EnrollGolden,
    (e, phase): (usize, usize),
) -> Result<(u32, usize), Error> {
    let mut x = [0.0f32; sizes::INPUTS];
    let (mut differ, mut right) = (0u32, 0usize);
    for q in 0..golden.queries {
        F32s::slice(&ep.query_x, q * sizes::INPUTS, sizes::INPUTS).copy_to(&mut x);
        let (label, p) = bank.classify(&x)?;
        let way = usize::from(label_at(ep.query_labels, q));
        right += usize::from(golden.label(way) == Some(label));
        differ += u32::from(golden.answer(e, phase, q) != Some((label, p.to_bits())));
    }
    Ok((differ, right))
}
