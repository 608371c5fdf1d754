//! Inputs wider than one request carries ([`MAX_INPUT`]): staged in chunks
//! ([`Request::StageInput`]) and used by [`Request::WithStaged`], on a model of 150 inputs (a
//! sensor window, say): every answer the one the runtime gives the same input directly, and
//! every refusal (out of order, past the width, incomplete) leaves the staged values as they were.

use fewshot_protocol::device::{Device, Layout, RamFlash, Session};
use fewshot_protocol::{frame, DeviceError, InputAction, Reply, Request, Target};
use fewshot_protocol::{MAX_FRAME, MAX_INPUT};
use fewshot_runtime::signature::PublicKey;
use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use fewshot_runtime::{Activation, AdaptScope, Learner, Model, SupportSet};

/// Inputs of the model: more than two frames' worth.
const W: usize = 150;
/// Trunk features.
const F: usize = 8;
/// 150 -> 8 (tanh) -> a 3-class prototype head, enrollable up to 6 classes.
type Dev<'m> = Device<'m, RamFlash<40960>, 27, 512, 4, 12, W, 1, 78>;

fn model() -> &'static Model<'static> {
    // Feature f sums the inputs of its band of the window, so the classes (bands) separate.
    let band = W / F;
    let weights = (0..F * W)
        .map(|i| if (i % W) / band == i / W { 0.05 } else { 0.0 })
        .collect();
    let trunk = Dense::new(W, F, Activation::Tanh, weights, vec![0.0; F]);
    let adapt =
        AdaptDef::new(AdaptScope::HeadOnly, 3, RateDef::Scalar(0.1), 10.0).with_prototypes(2.0);
    let head = HeadDef::classification(0, "window", vec![Dense::zeros(F, 3, Activation::Identity)])
        .with_adapt(adapt)
        .with_max_classes(6);
    let def = ModelDef::new("wide", W).trunk(trunk).head(head);
    let blob = Box::leak(Box::new(def.to_aligned_bytes().unwrap()));
    Box::leak(Box::new(Model::from_bytes(blob.as_bytes()).unwrap()))
}

fn device(model: &'static Model<'static>) -> Box<Dev<'static>> {
    let key = PublicKey::from_bytes([7; 32]);
    Box::new(Device::new(model, 0, RamFlash::new(), &Layout::SMALL, key).unwrap())
}

fn ask(s: &mut Session, dev: &mut Dev<'_>, request: &Request) -> Reply {
    let mut buf = [0u8; MAX_FRAME];
    let mut replies = Vec::new();
    for &b in frame::encode(request, &mut buf).unwrap().iter() {
        if let Some(a) = s.feed(dev, b) {
            replies.push(frame::decode::<Reply>(&mut a.frame.to_vec()).unwrap());
        }
    }
    assert_eq!(replies.len(), 1, "one reply per request");
    replies.remove(0)
}

/// Every request `action` takes with `x`; the replies to the chunks (all `Staged`) checked.
fn act(s: &mut Session, dev: &mut Dev<'_>, action: InputAction, x: &[f32]) -> Reply {
    let requests: Vec<Request> = action.requests(x).unwrap().collect();
    let (last, chunks) = requests.split_last().unwrap();
    assert_eq!(chunks.len(), x.len().div_ceil(MAX_INPUT));
    for (i, c) in chunks.iter().enumerate() {
        let staged = ((i + 1) * MAX_INPUT).min(W) as u16;
        let want = Reply::Staged {
            staged,
            width: W as u16,
        };
        assert_eq!(ask(s, dev, c), want);
    }
    ask(s, dev, last)
}

/// Sample `i` of class `c`: band `c` of the window high, the rest low, jittered.
fn window(c: usize, i: usize) -> Vec<f32> {
    let band = W / F;
    (0..W)
        .map(|j| if j / band == c { 4.0 } else { 0.0 } + 0.1 * ((i * 7 + j) % 5) as f32)
        .collect()
}

#[test]
fn wide_inputs_are_staged_and_answered_as_the_runtime_answers_them() {
    let model = model();
    let (mut s, mut dev) = (Session::new(), device(model));
    let mut direct: SupportSet<12, W, 1> = SupportSet::new();
    for c in 0..3 {
        for i in 0..3 {
            let x = window(c, i);
            let push = InputAction::Push {
                target: Target::Class(c as u16),
            };
            let r = act(&mut s, &mut dev, push, &x);
            direct.push_labelled(&x, c as u16).unwrap();
            assert_eq!(
                r,
                Reply::Samples {
                    stored: direct.len() as u16,
                    capacity: 12
                }
            );
        }
    }
    let adapted = ask(&mut s, &mut dev, &Request::Adapt { steps: None });
    let mut learner = Learner::<27, 512, 4>::new(model, 0).unwrap();
    let report = learner.adapt(direct.as_support()).unwrap();
    assert_eq!(
        adapted,
        Reply::Adapted {
            steps: report.steps,
            initial_loss: report.initial_loss,
            final_loss: report.final_loss
        }
    );
    for c in 0..3 {
        let x = window(c, 9);
        let (class, score) = learner.classify(&x).unwrap();
        assert_eq!(class as usize, c);
        let r = act(&mut s, &mut dev, InputAction::Classify, &x);
        assert_eq!(r, Reply::Class { class, score });
        // The staged input stays: the same input again, without staging it.
        let again = ask(
            &mut s,
            &mut dev,
            &Request::WithStaged(InputAction::Classify),
        );
        assert_eq!(again, r);
        let mut out = [0.0; 3];
        learner.predict(&x, &mut out).unwrap();
        match ask(&mut s, &mut dev, &Request::WithStaged(InputAction::Infer)) {
            Reply::Outputs(o) => assert_eq!(o.as_slice(), out),
            r => panic!("{r:?}"),
        }
    }

    // A class enrolled from staged windows, then classified by its label.
    for i in 0..3 {
        let push = InputAction::Push {
            target: Target::Class(0),
        };
        act(&mut s, &mut dev, push, &window(5, i));
    }
    let r = ask(&mut s, &mut dev, &Request::Enroll { label: 40 });
    // The head's rows are zeros (placeholders for the prototype start): the bank started
    // empty, and holds this class alone.
    assert_eq!(
        r,
        Reply::Bank {
            classes: 1,
            capacity: 6
        }
    );
    match act(
        &mut s,
        &mut dev,
        InputAction::ClassifyEnrolled,
        &window(5, 8),
    ) {
        Reply::Enrolled { class, .. } => assert_eq!(class, 40),
        r => panic!("{r:?}"),
    }
}

#[test]
fn chunks_out_of_order_past_the_width_or_short_are_refused_and_change_nothing() {
    let (mut s, mut dev) = (Session::new(), device(model()));
    let chunk = |offset: u16, n: usize| Request::StageInput {
        offset,
        values: (0..n).map(|i| i as f32).collect(),
    };
    let classify = Request::WithStaged(InputAction::Classify);
    let incomplete = |staged| {
        Reply::Error(DeviceError::InputIncomplete {
            staged,
            width: W as u16,
        })
    };
    assert_eq!(ask(&mut s, &mut dev, &classify), incomplete(0));
    let out_of_order = ask(&mut s, &mut dev, &chunk(64, 64));
    assert_eq!(
        out_of_order,
        Reply::Error(DeviceError::InputOutOfOrder {
            offset: 64,
            staged: 0
        })
    );
    let staged = |n| Reply::Staged {
        staged: n,
        width: W as u16,
    };
    assert_eq!(ask(&mut s, &mut dev, &chunk(0, 64)), staged(64));
    assert_eq!(ask(&mut s, &mut dev, &chunk(64, 64)), staged(128));
    let past = ask(&mut s, &mut dev, &chunk(128, 64));
    assert_eq!(
        past,
        Reply::Error(DeviceError::InputTooWide {
            end: 192,
            width: W as u16
        })
    );
    let again = ask(&mut s, &mut dev, &chunk(64, 64));
    assert_eq!(
        again,
        Reply::Error(DeviceError::InputOutOfOrder {
            offset: 64,
            staged: 128
        }),
        "a chunk is not written twice"
    );
    assert_eq!(ask(&mut s, &mut dev, &classify), incomplete(128));
    assert_eq!(ask(&mut s, &mut dev, &chunk(128, 22)), staged(W as u16));
    // Complete: the input reaches the head, which has no classes before a support set (a
    // prototype head): the runtime's refusal, not the staging's.
    match ask(&mut s, &mut dev, &classify) {
        Reply::Error(DeviceError::Runtime(e)) => assert_eq!(e.kind.as_str(), "NoClassEnrolled"),
        r => panic!("{r:?}"),
    }
    // Offset 0 starts anew; a value that is not finite is refused when the input is used.
    let nan = Request::StageInput {
        offset: 0,
        values: [f32::NAN].into_iter().collect(),
    };
    assert_eq!(ask(&mut s, &mut dev, &nan), staged(1));
    assert_eq!(ask(&mut s, &mut dev, &classify), incomplete(1));
    assert_eq!(ask(&mut s, &mut dev, &chunk(1, 64)), staged(65));
    assert_eq!(ask(&mut s, &mut dev, &chunk(65, 64)), staged(129));
    assert_eq!(ask(&mut s, &mut dev, &chunk(129, 21)), staged(W as u16));
    match ask(&mut s, &mut dev, &classify) {
        Reply::Error(DeviceError::Runtime(e)) => assert_eq!(e.kind.as_str(), "NonFinite"),
        r => panic!("{r:?}"),
    }
    let push = Request::WithStaged(InputAction::Push {
        target: Target::Class(0),
    });
    match ask(&mut s, &mut dev, &push) {
        Reply::Error(DeviceError::Runtime(e)) => assert_eq!(e.kind.as_str(), "NonFinite"),
        r => panic!("{r:?}"),
    }
    // An inline request of the wrong width is the runtime's refusal, as before.
    let narrow = Request::Classify {
        x: [1.0; MAX_INPUT].into_iter().collect(),
    };
    match ask(&mut s, &mut dev, &narrow) {
        Reply::Error(DeviceError::Runtime(_)) => {}
        r => panic!("{r:?}"),
    }
}
