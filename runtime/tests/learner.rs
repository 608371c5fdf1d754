//! The `Learner` API on the multi-head fixture: the same numbers as the state / network calls it
//! wraps, every size refused up front, each head's outputs by head.

use fewshot_runtime::{AdaptState, Error, Heads, Learner, Model, Support};

static MULTIHEAD: &[u8] = fewshot_runtime::include_model!("../../firmware/fixtures/multihead.fsm");

/// Head 1 ("new5", 5-way, prototypes + 3 steps) needs 85 parameters; 5-way 2-shot support sets.
type New5<'m> = Learner<'m, 85, 256, 4>;

fn support() -> (Vec<f32>, Vec<u16>) {
    let x: Vec<f32> = (0..10 * 8).map(|i| ((i * 7) % 11) as f32 * 0.3).collect();
    let y: Vec<u16> = (0..10).map(|i| (i % 5) as u16).collect();
    (x, y)
}

#[test]
fn a_learner_computes_what_the_state_and_network_compute() {
    let model = Model::from_bytes(MULTIHEAD).unwrap();
    let (x, y) = support();
    let mut learner = New5::new(&model, 1).unwrap();
    let report = learner.adapt(Support::classes(&x, &y)).unwrap();
    assert_eq!(learner.losses().len(), 4);
    // By hand: the same state, scratch and loss log the learner owns.
    let mut state: AdaptState<85> = AdaptState::new(&model, 1).unwrap();
    let mut scratch = vec![0.0f32; 256];
    let mut losses = [0.0f32; 4];
    let by_hand = state
        .adapt(
            &model,
            Support::classes(&x, &y),
            None,
            &mut scratch,
            &mut losses,
        )
        .unwrap();
    assert_eq!(report, by_hand);
    assert_eq!(learner.losses(), &losses[..]);
    let q: Vec<f32> = (0..8).map(|i| i as f32 * 0.4).collect();
    let mut probs = [0.0f32; 5];
    learner.predict(&q, &mut probs).unwrap();
    let mut want = [0.0f32; 5];
    let net = state.network(&model).unwrap();
    net.infer(&q, Heads::only(1), &mut scratch, &mut want)
        .unwrap();
    assert_eq!(probs, want);
    let (class, p) = learner.classify(&q).unwrap();
    let best = (0..5).fold(0, |a, j| if want[j] > want[a] { j } else { a });
    assert_eq!((usize::from(class), p), (best, want[best]));
    // Another head of the same model, from the same trunk, by head index.
    let mut pose = [0.0f32; 2];
    learner.predict_head(2, &q, &mut pose).unwrap();
    let mut pose_want = [0.0f32; 2];
    net.infer(&q, Heads::only(2), &mut scratch, &mut pose_want)
        .unwrap();
    assert_eq!(pose, pose_want);
    // Reset: the meta-learned start again, the log empty.
    learner.reset().unwrap();
    assert!(learner.losses().is_empty());
}

#[test]
fn sizes_for_another_model_are_refused_at_construction() {
    let model = Model::from_bytes(MULTIHEAD).unwrap();
    let what = |e: Error| match e {
        Error::Capacity { what, .. } => what,
        other => panic!("{other:?}"),
    };
    // The pose head adapts 426 parameters.
    assert_eq!(
        what(Learner::<85, 256, 4>::new(&model, 2).unwrap_err()),
        "adapted state (AdaptState<P>)"
    );
    assert_eq!(
        what(Learner::<85, 8, 4>::new(&model, 1).unwrap_err()),
        "learner scratch (S)"
    );
    assert_eq!(
        what(Learner::<85, 256, 3>::new(&model, 1).unwrap_err()),
        "learner loss log (LOG)"
    );
    assert!(matches!(
        Learner::<85, 256, 4>::new(&model, 0),
        Err(Error::HeadNotAdaptable { .. })
    ));
    assert!(matches!(
        Learner::<85, 256, 4>::new(&model, 9),
        Err(Error::NoSuchHead { .. })
    ));
}

/// More steps than the loss log holds are `TooManySteps` with the learner's limit (the
/// runtime's own limit past it), before anything changes.
#[test]
fn more_steps_than_the_loss_log_holds_are_refused_with_the_limit() {
    let model = Model::from_bytes(MULTIHEAD).unwrap();
    let mut learner = Learner::<85, 512, 6>::new(&model, 1).unwrap();
    assert_eq!(learner.max_steps(), 5);
    let x = [0.5f32; 8];
    let support = Support::classes(&x, &[0]);
    assert_eq!(
        learner.adapt_steps(support, Some(6)).unwrap_err(),
        Error::TooManySteps { steps: 6, max: 5 }
    );
    let big = Learner::<85, 512, 2000>::new(&model, 1).unwrap();
    assert_eq!(big.max_steps(), fewshot_runtime::MAX_STEPS);
}

#[test]
fn wrong_buffers_and_kinds_are_errors_not_panics() {
    let model = Model::from_bytes(MULTIHEAD).unwrap();
    let mut learner = New5::new(&model, 1).unwrap();
    let q = [0.0f32; 8];
    assert!(matches!(
        learner.predict(&q, &mut [0.0; 4]),
        Err(Error::LengthMismatch {
            expected: 5,
            found: 4,
            ..
        })
    ));
    assert!(matches!(
        learner.predict_head(7, &q, &mut [0.0; 1]),
        Err(Error::NoSuchHead { .. })
    ));
    assert!(learner.predict(&[0.0; 7], &mut [0.0; 5]).is_err());
    // More steps than the log holds: refused, the learner unchanged.
    let (x, y) = support();
    let e = learner.adapt_steps(Support::classes(&x, &y), Some(10));
    assert!(e.is_err(), "{e:?}");
    assert!(learner.losses().is_empty());
    // More samples than the scratch was sized for: the learner's scratch named.
    let x: Vec<f32> = (0..100 * 8).map(|i| (i % 13) as f32 * 0.1).collect();
    let y: Vec<u16> = (0..100).map(|i| (i % 5) as u16).collect();
    assert!(matches!(
        learner.adapt(Support::classes(&x, &y)),
        Err(Error::Capacity {
            what: "learner scratch S (more samples than K_MAX: `--k`)",
            available: 256,
            ..
        })
    ));
    let mut pose: Learner<'_, 426, 1200, 3> = Learner::new(&model, 2).unwrap();
    assert!(matches!(pose.classify(&q), Err(Error::TargetKindMismatch)));
}

#[test]
fn a_selection_of_no_head_is_refused_not_silently_empty() {
    let model = Model::from_bytes(MULTIHEAD).unwrap();
    let net = model.network();
    let mut scratch = vec![0.0f32; model.infer_scratch_len()];
    let mut out = [0.0f32; 20];
    for bad in [3usize, 7, 8, 100] {
        let e = net.infer(&[0.0; 8], Heads::only(bad), &mut scratch, &mut out);
        assert!(
            matches!(e, Err(Error::NoHeadSelected { model_heads: 3, .. })),
            "{bad}: {e:?}"
        );
        let e = net.infer_batch(&[0.0; 16], Heads::only(bad), &mut scratch, &mut out);
        assert!(
            matches!(e, Err(Error::NoHeadSelected { .. })),
            "{bad}: {e:?}"
        );
    }
    assert!(net
        .infer(&[0.0; 8], Heads::only(2), &mut scratch, &mut out)
        .is_ok());
}

#[test]
fn a_sample_that_is_not_finite_or_a_head_without_classes_is_an_error_not_an_answer() {
    let model = Model::from_bytes(MULTIHEAD).unwrap();
    let mut learner = New5::new(&model, 1).unwrap();
    let q: Vec<f32> = (0..8).map(|i| i as f32 * 0.4).collect();
    // A prototype head before any support set has no classes: it answered class 0 at 1/5.
    assert!(matches!(learner.classify(&q), Err(Error::NoClassEnrolled)));
    assert!(matches!(
        learner.predict(&q, &mut [0.0; 5]),
        Err(Error::NoClassEnrolled)
    ));
    let (x, y) = support();
    learner.adapt(Support::classes(&x, &y)).unwrap();
    assert!(learner.classify(&q).is_ok());
    // A NaN or infinite input (a disconnected sensor) was answered as a class.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = q.clone();
        x[3] = bad;
        assert!(matches!(
            learner.classify(&x),
            Err(Error::NonFinite { what: "input", .. })
        ));
        assert!(matches!(
            learner.predict(&x, &mut [0.0; 5]),
            Err(Error::NonFinite { what: "input", .. })
        ));
    }
    // Reset: the prototype start again, no classes.
    learner.reset().unwrap();
    assert!(matches!(learner.classify(&q), Err(Error::NoClassEnrolled)));
    // A fixed head's outputs need no support set.
    let mut pose = [0.0f32; 2];
    learner.predict_head(2, &q, &mut pose).unwrap();
}
