//! Classification data, episodes, and the prototype / multi-task heads' gradients against
//! central finite differences (f64, tiny trunk).

mod common;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trainer::classify::data::{ClassSplit, Columns, Dataset};
use trainer::classify::episodes::{parse_file, transform, Augment, Pool};
use trainer::classify::proto::{episode_grad, EpisodeData, ProtoSpec, Scratch};
use trainer::net::{Activation, Arch, HeadKind};

/// 2x2 images, 6 classes, 6 rows each: pixel values depend on class and row.
fn tiny() -> Dataset {
    let mut s = String::from("a,b,c,d,label\n");
    for r in 0..36 {
        let c = r % 6;
        let v: Vec<String> = (0..4)
            .map(|j| format!("{}", ((c * 3 + j * 5 + r) % 7) as f64 / 2.0))
            .collect();
        s += &format!("{},{c}\n", v.join(","));
    }
    Dataset::parse(&s.replace("a,b,c,d,label", "f1,f2,f3,f4,label"), "tiny.csv").unwrap()
}

#[test]
fn csv_errors_name_file_line_and_field() {
    let e = Dataset::parse("1,2,0\n1,x,1\n", "d.csv")
        .unwrap_err()
        .to_string();
    assert!(e.contains("d.csv:2") && e.contains("f2"), "{e}");
    // A text column beside a header's `label` column: the hint is to ignore it; without a
    // `label` column (the last one taken), also where the labels came from.
    let e = Dataset::parse("subject,a,label\ns1,1,walk\n", "d.csv")
        .unwrap_err()
        .to_string();
    assert!(e.contains("ignore_columns = [\"subject\"]"), "{e}");
    assert!(!e.contains("taken from"), "{e}");
    let e = Dataset::parse("subject,a,cls\ns1,1,walk\n", "d.csv")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("taken from column `cls`") && e.contains("ignore_columns"),
        "{e}"
    );
    // A file without a header whose first cell is a class name: its first line is data (its
    // text where the next line's is), its last column the label; the error says so and how to
    // mend it.
    let e = Dataset::parse("walk,0.5,1.5\nrun,0.2,0.1\n", "d.csv")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("d.csv:1") && e.contains("no header line") && e.contains("add a header line"),
        "{e}"
    );
    // A first line of numbers and one word, text elsewhere on the next: taken as a header.
    let e = Dataset::parse("0.5,1.5,x\nrun,0.2,0.1\n", "d.csv")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("first line was taken as the header") && e.contains("add a header line"),
        "{e}"
    );
    let e = Dataset::parse("1,2,0\n1,2\n", "d.csv")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("d.csv:2") && e.contains("expected 3 fields"),
        "{e}"
    );
    let e = Dataset::parse("1,2,0\n1,2,-1\n", "d.csv")
        .unwrap_err()
        .to_string();
    assert!(e.contains("d.csv:2") && e.contains("label"), "{e}");
    // Without a header, features are named by their column in the file, also past a column
    // empty on every line (dropped).
    let e = Dataset::parse("1,,2,0\n1,,x,1\n", "d.csv")
        .unwrap_err()
        .to_string();
    assert!(e.contains("field `f3`"), "{e}");
    let ok = Dataset::parse("f1,f2,label\n1,2,0\n\n3,4,1\n", "d.csv").unwrap();
    assert_eq!((ok.d, ok.rows(), ok.lines.clone()), (2, 2, vec![2, 4]));
    // Finite in f64 but not in f32 (the device's type): refused where it is read.
    let e = Dataset::parse("1,2,0\n1e300,2,1\n", "d.csv")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("d.csv:2") && e.contains("f1") && e.contains("32-bit"),
        "{e}"
    );
    // A header names the label column anywhere; without `label` the last column is the label.
    let ok = Dataset::parse("label,a,b\n1,-2.5,3\n0,4,5e-3\n", "d.csv").unwrap();
    assert_eq!(
        (ok.d, ok.labels.clone(), ok.x.clone()),
        (2, vec![1, 0], vec![-2.5, 3.0, 4.0, 5e-3])
    );
    assert_eq!(ok.columns, vec!["a", "b"]);
    let ok = Dataset::parse("a,b,class\n1,2,3\n", "d.csv").unwrap();
    assert_eq!((ok.d, ok.labels.clone()), (2, vec![3]));
    // Class names: numbered in sorted order, whatever the rows' order.
    let ok = Dataset::parse("a,label\n1,walk\n2, run\n3,walk\n", "d.csv").unwrap();
    assert_eq!(
        (ok.labels.clone(), ok.class_names.clone()),
        (vec![1, 0, 1], vec!["run".to_string(), "walk".into()])
    );
    assert_eq!(
        (ok.class_of("walk").unwrap(), ok.describe_classes(&[1, 0])),
        (1, r#"["walk", "run"]"#.into())
    );
    let e = ok.class_of("jump").unwrap_err().to_string();
    assert!(
        e.contains(r#"no class named "jump"; its classes are ["run", "walk"]"#),
        "{e}"
    );
    // Another header column named by `label_column`: the labels, wherever it is.
    let text = "gesture,ax,ay\nswipe up,1,2\ntap,-3,4\n";
    let ok = Dataset::parse_labelled(text, "d.csv", Columns::label(Some("gesture"))).unwrap();
    assert_eq!(
        (ok.labels.clone(), ok.columns.clone(), ok.x.clone()),
        (
            vec![0, 1],
            vec!["ax".to_string(), "ay".into()],
            vec![1.0, 2.0, -3.0, 4.0]
        )
    );
    // Named as the device command names it: trimmed, any ASCII case; an exact match first.
    let same = Dataset::parse_labelled(text, "d.csv", Columns::label(Some(" Gesture"))).unwrap();
    assert_eq!((same.labels.clone(), same.x.clone()), (ok.labels, ok.x));
    let both = "Label,x,label\n5,1,0\n6,2,1\n";
    let exact = Dataset::parse_labelled(both, "d.csv", Columns::label(Some("label"))).unwrap();
    assert_eq!(exact.columns, vec!["Label".to_string(), "x".into()]);
    // Without it the last column is the label, and the names in `gesture` are refused with
    // the way out.
    let e = Dataset::parse(text, "d.csv").unwrap_err().to_string();
    assert!(
        e.contains("field `gesture`: not a number") && e.contains("set `label_column`"),
        "{e}"
    );
    for (text, want) in [
        (text, "no column named \"kind\""),
        ("1,2,0\n", "has no header row"),
    ] {
        let e = Dataset::parse_labelled(text, "d.csv", Columns::label(Some("kind")))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
    // Columns that are neither features nor the label (a subject's name, a timestamp): the
    // message for the first names the key, and with it they are read by nothing.
    let logged = "subject,t,gesture,ax,ay\nana,17,swipe up,1,2\nben,18,tap,-3,4\n";
    let gesture = Columns::label(Some("gesture"));
    let e = Dataset::parse_labelled(logged, "d.csv", gesture)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field `subject`") && e.contains(r#"`ignore_columns = ["subject"]`"#),
        "{e}"
    );
    let ignore = ["Subject".to_string(), "t".into()];
    let cols = Columns {
        label: Some("gesture"),
        ignore: &ignore,
        subject: None,
    };
    let read = Dataset::parse_labelled(logged, "d.csv", cols).unwrap();
    assert_eq!(
        (read.d, read.columns.clone(), read.x.clone(), read.labels),
        (
            2,
            vec!["ax".to_string(), "ay".into()],
            vec![1.0, 2.0, -3.0, 4.0],
            vec![0, 1]
        )
    );
    for (ignore, want) in [
        (&["gesture".to_string()][..], "names the label column"),
        (&["when".to_string()][..], "no such column"),
    ] {
        let cols = Columns {
            label: Some("gesture"),
            ignore,
            subject: None,
        };
        let e = Dataset::parse_labelled(logged, "d.csv", cols).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
    // A subject column is no feature: each row's subject is kept by name.
    let cols = Columns {
        label: Some("gesture"),
        ignore: &["t".to_string()],
        subject: Some("Subject"),
    };
    let read = Dataset::parse_labelled(logged, "d.csv", cols).unwrap();
    assert_eq!(read.columns, ["ax", "ay"]);
    assert_eq!(read.subject_names, ["ana", "ben"]);
    assert_eq!(
        (read.subjects.clone(), read.by_subject()),
        (vec![0, 1], vec![vec![0], vec![1]])
    );
    for (subject, want) in [
        ("who", "no column named \"who\" (`subject_column`)"),
        ("gesture", "`subject_column` names the label column"),
    ] {
        let cols = Columns {
            label: Some("gesture"),
            ignore: &["t".to_string()],
            subject: Some(subject),
        };
        let e = Dataset::parse_labelled(logged, "d.csv", cols).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
    // The label taken as the last column by default, and ignored: the message says so.
    let ignore = ["ay".to_string()];
    let cols = Columns {
        label: None,
        ignore: &ignore,
        subject: None,
    };
    let e = Dataset::parse_labelled(logged, "d.csv", cols).unwrap_err();
    assert!(
        e.to_string()
            .contains("the labels are the last column (\"ay\"); name the label's column"),
        "{e}"
    );
    // A number that is not an index, or an empty label, is more likely a wrong column: refused.
    for (text, want) in [
        ("1,2.5\n", "or a class name: \"2.5\""),
        ("1,walk\n2,\n", "empty class label"),
    ] {
        let e = Dataset::parse(text, "d.csv").unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn rotations_and_shifts() {
    // 2x2: [a b; c d] rotated 90 degrees counter-clockwise is [b d; a c].
    let mut out = Vec::new();
    transform(&[1.0, 2.0, 3.0, 4.0], 2, 1, 0, 0, &mut out);
    assert_eq!(out, vec![2.0, 4.0, 1.0, 3.0]);
    transform(&[1.0, 2.0, 3.0, 4.0], 2, 2, 0, 0, &mut out);
    assert_eq!(out, vec![4.0, 3.0, 2.0, 1.0]);
    transform(&[1.0, 2.0, 3.0, 4.0], 2, 0, 1, 0, &mut out);
    assert_eq!(out, vec![0.0, 1.0, 0.0, 3.0]);
}

#[test]
fn episodes_are_class_major_and_split() {
    let ds = tiny();
    let split = ClassSplit::new(&ds, &[0, 1, 2], &[3, 4, 5], 0.34, 1).unwrap();
    for ((c, t), (_, v)) in split.train.iter().zip(&split.val) {
        assert_eq!(t.len() + v.len(), 6);
        assert!(t.iter().chain(v).all(|&r| ds.labels[r] == *c));
        assert!(t.iter().all(|r| !v.contains(r)));
    }
    let pool = Pool::new(&ds, Some(2), &split.train, true, Augment::default()).unwrap();
    assert_eq!(pool.classes.len(), 12);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let ep = pool.sample(&ds, 3, 1, 2, &mut rng).unwrap();
    assert_eq!(ep.support_y, vec![0, 1, 2]);
    assert_eq!(ep.query_y, vec![0, 0, 1, 1, 2, 2]);
    assert_eq!(ep.rows.len(), 9);
    let test = Pool::new(&ds, Some(2), &split.test, false, Augment::default()).unwrap();
    let ep = test.sample(&ds, 3, 2, 2, &mut rng).unwrap();
    assert!(ep.rows.iter().all(|&r| ds.labels[r] >= 3));
    // The same rows listed in a file give the same episode.
    let line = ep
        .rows
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let eps = parse_file(&format!("# comment\n{line}\n"), "e.txt", &ds, 3, 2, 2).unwrap();
    assert_eq!(
        (&eps[0].support_x, &eps[0].query_y),
        (&ep.support_x, &ep.query_y)
    );
    // Too few classes for the request, a bad row, a mixed block.
    assert!(test.sample(&ds, 4, 1, 1, &mut rng).is_err());
    let e = parse_file("0,1,x", "e.txt", &ds, 1, 1, 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("e.txt:1: field 3"), "{e}");
    let e = parse_file("0,1", "e.txt", &ds, 1, 1, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("class 1"), "{e}");
    // A support row listed again as a query row of the same episode.
    let mut rows = ep.rows.clone();
    let last = rows.len() - 1;
    rows[last] = rows[0];
    let line = rows
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let e = parse_file(&line, "e.txt", &ds, 3, 2, 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("listed twice"), "{e}");
}

/// The normalisation `x * factor` of `d` features.
fn scaled(d: usize, factor: f64) -> trainer::classify::setup::Normalisation {
    trainer::classify::setup::Normalisation {
        shift: vec![0.0; d],
        scale: vec![factor; d],
        window: None,
    }
}

/// The digits preset's image settings on the 2x2 test images.
fn image_cfg() -> trainer::classify::config::ClsConfig {
    use trainer::classify::config::{ClsConfig, InputKind, Normalise, ValidateOn};
    ClsConfig {
        input: InputKind::grey(2, 2),
        normalise: Normalise::Scale { factor: 1.0 / 16.0 },
        validate_on: ValidateOn::HeldOutRows,
        rotations: true,
        identity_init: true,
        freeze_trunk: true,
        ..ClsConfig::default()
    }
}

fn trunk() -> Arch {
    let mut a = Arch::mlp(4, &[5], 3, Activation::Tanh, HeadKind::Regression);
    a.n_trunk = a.layers.len();
    a.scale = vec![0.5; 4];
    a
}

fn params(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((i * 7919 % 23) as f64 / 23.0 - 0.5) * 0.8)
        .collect()
}

/// Checks `episode_grad`'s gradients (and, with `open`, the open-set threshold's, with two
/// rows of classes outside the episode) against central finite differences.
fn grad_case(spec: ProtoSpec, aux: usize, open: bool, tol: f64) {
    use trainer::classify::unknown::draw_outside;
    let ds = tiny();
    let split = ClassSplit::new(&ds, &[0, 1, 2, 3], &[4, 5], 0.0, 1).unwrap();
    let pool = Pool::new(&ds, Some(2), &split.train, false, Augment::default()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let arch = trunk();
    let global = [0, 1, 2, 3];
    let ep = pool.sample(&ds, 3, 2, 2, &mut rng).unwrap();
    let mut d: EpisodeData<f64> = EpisodeData::new(&arch, &ep, Some(&global[..aux.min(4)]));
    if open {
        let raw = draw_outside(&pool, &ds, &ep, 2, &mut rng).unwrap();
        d = d.with_unknown(&arch, &raw);
        assert_eq!(d.nu, 2);
    }
    let n = arch.n_params() + aux * (arch.outputs() + 1);
    let p = params(n);
    let log_tau = open.then_some(0.3f64);
    let mut sc = Scratch::default();
    let (mut gp, mut ga) = (vec![0.0; n], vec![0.0; n]);
    let loss = |p: &[f64], log_tau: Option<f64>| {
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        let mut sc = Scratch::default();
        let l = episode_grad(&arch, aux, p, &d, &spec, log_tau, &mut sc, &mut a, &mut b);
        l.proto + l.aux
    };
    let l = episode_grad(
        &arch, aux, &p, &d, &spec, log_tau, &mut sc, &mut gp, &mut ga,
    );
    let h = 1e-6;
    for i in 0..n {
        let (mut a, mut b) = (p.clone(), p.clone());
        a[i] += h;
        b[i] -= h;
        let fd = (loss(&a, log_tau) - loss(&b, log_tau)) / (2.0 * h);
        let an = gp[i] + ga[i];
        assert!(
            (fd - an).abs() <= tol * (1.0 + fd.abs()),
            "param {i}: analytic {an} vs fd {fd}"
        );
    }
    if let Some(t) = log_tau {
        let fd = (loss(&p, Some(t + h)) - loss(&p, Some(t - h))) / (2.0 * h);
        let an = l.threshold_grad;
        assert!(fd.abs() > 1e-4, "the threshold moves the loss: {fd}");
        assert!(
            (fd - an).abs() <= tol * (1.0 + fd.abs()),
            "threshold: analytic {an} vs fd {fd}"
        );
    } else {
        assert_eq!(l.threshold_grad, 0.0);
    }
}

/// A ProtoNet head (no inner step): the gradients are exact.
const PROTONET: ProtoSpec = ProtoSpec {
    scale: 0.7,
    steps: 0,
    alpha: 0.0,
    clip: 10.0,
};

#[test]
fn protonet_and_multitask_gradients_match_fd() {
    grad_case(PROTONET, 0, false, 1e-6);
    grad_case(PROTONET, 4, false, 1e-6);
}

#[test]
fn open_set_gradients_match_fd() {
    grad_case(PROTONET, 0, true, 1e-6);
    grad_case(PROTONET, 4, true, 1e-6);
}

#[test]
fn covariance_metric_is_exact_through_the_trunk() {
    use trainer::classify::metric::{matrix_power, metric_trunk, sym_eig};
    use trainer::classify::setup::trunk_arch;
    let d = 6;
    // A symmetric positive definite matrix.
    let b: Vec<f64> = (0..d * d)
        .map(|i| ((i * 37 % 11) as f64 - 5.0) / 7.0)
        .collect();
    let mut c = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            c[i * d + j] = (0..d).map(|k| b[i * d + k] * b[j * d + k]).sum::<f64>();
        }
        c[i * d + i] += 0.1;
    }
    let (w, v) = sym_eig(&c, d);
    for k in 0..d {
        for i in 0..d {
            let cv: f64 = (0..d).map(|j| c[i * d + j] * v[j * d + k]).sum();
            assert!((cv - w[k] * v[i * d + k]).abs() < 1e-9, "C v = lambda v");
        }
    }
    let h = matrix_power(&c, d, 0.5);
    for i in 0..d {
        for j in 0..d {
            let hh: f64 = (0..d).map(|k| h[i * d + k] * h[k * d + j]).sum();
            assert!((hh - c[i * d + j]).abs() < 1e-8, "(C^1/2)^2 = C");
        }
    }
    // Features A x + c for inputs in [0, x_max]: no ReLU clips, every layer after the first is
    // the identity.
    let arch = trunk_arch(&[d, d], &scaled(d, 0.5));
    let p = metric_trunk(&arch, &h, 2.0).unwrap();
    let mut fwd = trainer::net::Fwd::default();
    let x: Vec<f64> = (0..3 * d).map(|i| (i * 7 % 5) as f64).collect(); // 0..4 raw = 0..2
    let xn = arch.normalise(&x);
    trainer::net::forward(&arch, &p, &xn, 3, &mut fwd, 0);
    let f = &fwd.ys[2];
    let bias = &p[arch.b_off(0)..arch.b_off(0) + d];
    for r in 0..3 {
        for i in 0..d {
            let ax: f64 = (0..d).map(|j| h[i * d + j] * xn[r * d + j]).sum();
            assert!((f[r * d + i] - ax - bias[i]).abs() < 1e-12);
        }
    }
    assert!(metric_trunk(&trunk_arch(&[4, d], &scaled(d, 0.5)), &h, 2.0).is_none());
}

#[test]
fn leave_digits_out_cross_validation_never_touches_test_classes() {
    use trainer::classify::config::ClsConfig;
    use trainer::classify::metric::{cross_validate, folds};
    use trainer::classify::setup::{trunk_arch, Setup};
    let ds = tiny();
    let cfg = ClsConfig {
        train_classes: vec![0, 1, 2, 3],
        test_classes: vec![4, 5],
        ways: 3,
        shots: vec![1],
        hidden: vec![4, 4],
        cv_holdout: 2,
        cv_episodes: 4,
        query: 2,
        metric_powers: vec![0.0, 0.5],
        ..image_cfg()
    };
    let setup = Setup::with_data(&cfg, ds).unwrap();
    let f = folds(&cfg, &setup).unwrap();
    assert_eq!(f.len(), 6); // C(4, 2)
    for fold in &f {
        let fit: Vec<usize> = fold.fit.classes.iter().map(|c| c.class).collect();
        assert!(fit.iter().all(|c| !fold.held_out.contains(c) && *c < 4));
        for set in &fold.sets {
            for ep in set {
                for &r in &ep.rows {
                    assert!(fold.held_out.contains(&setup.ds.labels[r]));
                }
            }
        }
    }
    let arch = trunk_arch(&[4, 4], &scaled(4, 1.0 / 16.0));
    let spec = ProtoSpec {
        scale: 0.5,
        steps: 0,
        alpha: 0.0,
        clip: 10.0,
    };
    let rows = cross_validate(&setup, &arch, &f, &[0.0, 0.5], &[spec]).unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.acc.len(), 2); // 3-way rotated, 2-way upright
        assert!(r.acc.iter().all(|a| (0.0..=1.0).contains(a)));
    }
    assert!(rows[0].never_below(&rows[0]));
}

#[test]
fn val_classes_are_kept_out_of_training_and_sizes_are_checked_first() {
    use trainer::classify::config::ClsConfig;
    use trainer::classify::setup::Setup;
    let cfg = ClsConfig {
        train_classes: vec![0, 1, 2, 3],
        test_classes: vec![4, 5],
        val_classes: vec![1, 3],
        shots: vec![1],
        query: 2,
        ..ClsConfig::default()
    };
    cfg.validate().unwrap();
    let setup = Setup::with_data(&cfg, tiny()).unwrap();
    let classes = |p: &trainer::classify::episodes::Pool| -> Vec<usize> {
        p.classes.iter().map(|c| c.class).collect()
    };
    assert_eq!(classes(&setup.train), vec![0, 2]);
    assert_eq!(classes(&setup.val), vec![1, 3]);
    // Every row of a held-out class validates (its training and held-out rows alike); the
    // seen-class check takes the held-out rows of the trunk's classes.
    assert!(setup.val.classes.iter().all(|c| c.rows.len() == 6));
    assert_eq!(classes(setup.seen.as_ref().unwrap()), vec![0, 2]);
    // Each pool's queries are what its own smallest class leaves beside the shots: the few
    // held-out rows of the seen-class check do not limit the validation classes' queries.
    assert_eq!(
        (setup.val_ways, setup.val_query, setup.seen_query),
        (2, 5, 1)
    );
    // The normalisation is fitted on the meta-training classes only.
    let rows: Vec<usize> = (0..36).filter(|r| r % 6 < 4).collect();
    let n = trainer::classify::setup::Normalisation::fit(&setup.ds, &rows);
    for (a, b) in setup
        .norm
        .shift
        .iter()
        .chain(&setup.norm.scale)
        .zip(n.shift.iter().chain(&n.scale))
    {
        assert!((a - b).abs() < 1e-12, "{a} {b}");
    }
    assert!(n.scale.iter().all(|s| s.is_finite() && *s > 0.0));
    // Held-out rows too few for the seen-class check (2 a class, 2 shots): it is left out, a
    // diagnostic, not a reason to refuse a small data set.
    let few = ClsConfig {
        shots: vec![2],
        ..cfg.clone()
    };
    let s = Setup::with_data(&few, tiny()).unwrap();
    assert!(s.seen.is_none() && s.val_query == 4);
    // Evaluations take 15 queries a class, or what the novel classes' 6 rows leave.
    use trainer::classify::run::{default_query, trained_eval_shots};
    assert_eq!((default_query(&s, 2, 1), default_query(&s, 2, 6)), (5, 0));
    assert_eq!(trained_eval_shots(&s, 2, &[]), Some((vec![1, 5], 1)));
    // The configuration's shots too, where the rows allow them (6 do not).
    assert_eq!(trained_eval_shots(&s, 2, &[2, 6]), Some((vec![1, 2, 5], 1)));
    // A validation class that is not a training class, and episodes too large for the rows,
    // are refused before any work.
    let bad = ClsConfig {
        val_classes: vec![5],
        ..cfg.clone()
    };
    assert_eq!(bad.validate().unwrap_err().0, "val_classes");
    let big = ClsConfig {
        shots: vec![5],
        query: 10,
        ..cfg.clone()
    };
    let e = Setup::with_data(&big, tiny()).err().unwrap().to_string();
    // The refusal says what each training class has.
    assert!(
        e.contains("shots + query = 5 + 10 = 15") && e.contains("rows (after `val_fraction`"),
        "{e}"
    );
    // Image-only options on a vector input name their key.
    let rot = ClsConfig {
        rotations: true,
        ..cfg
    };
    let (key, msg) = rot.validate().unwrap_err();
    assert_eq!(key, "rotations");
    assert!(msg.contains("image"), "{msg}");
}

#[test]
fn matching_cross_validation_scores_every_candidate_as_deployed_and_picks_the_best() {
    use trainer::classify::config::{ClsConfig, MatchingSpec};
    use trainer::classify::matching::{choose, MatchingChoice};
    use trainer::classify::metric::folds;
    use trainer::classify::setup::{init_trunk, trunk_arch, Setup};
    let ds = tiny();
    let cfg = ClsConfig {
        train_classes: vec![0, 1, 2, 3],
        test_classes: vec![4, 5],
        ways: 3,
        shots: vec![1, 2],
        hidden: vec![4, 4],
        cv_holdout: 2,
        cv_episodes: 3,
        query: 1,
        val_fraction: 0.5,
        device_steps: 2,
        matching: MatchingSpec {
            enabled: true,
            per_class: vec![1, 2],
            shifts: vec![0, 1],
            shears: vec![0.0, 0.3],
            scales: vec![0.5, 1.0],
            alphas: vec![0.0, 0.5],
            episodes: 3,
        },
        ..image_cfg()
    };
    let setup = Setup::with_data(&cfg, ds).unwrap();
    let f = folds(&cfg, &setup).unwrap();
    let arch = trunk_arch(&[4, 4], &scaled(4, 1.0 / 16.0));
    let trunk = init_trunk(&arch, true, &mut ChaCha8Rng::seed_from_u64(0));
    let (choice, rows) = choose(&cfg, &arch, &trunk, &f).unwrap();
    // Warp sets 2 x 2; one prototype per class is scale-free (1 row), two take both scales: 12
    // rows at 0 steps, then one per non-zero rate for the best of them.
    assert_eq!(rows.len(), 4 * (1 + 2) + 1);
    assert!(rows.iter().any(|r| r.choice.is_plain()));
    for r in &rows {
        assert_eq!(r.acc.len(), 4); // 3-way 1-/2-shot rotated, 2-way 1-/2-shot upright
        assert!(r.acc.iter().all(|a| (0.0..=1.0).contains(a)));
        assert!((r.score - r.acc.iter().sum::<f64>() / 4.0).abs() < 1e-12);
    }
    let best = rows
        .iter()
        .map(|r| r.score)
        .fold(f64::NEG_INFINITY, f64::max);
    let chosen = rows
        .iter()
        .find(|r| r.choice == choice)
        .expect("the choice is a scored row");
    // The chosen row is the best 0-step candidate or one of its rates, never worse than the
    // 0-step candidate it refines.
    let base = rows.iter().take(12).filter(|r| {
        MatchingChoice {
            alpha: 0.0,
            steps: 0,
            ..choice
        } == r.choice
    });
    assert_eq!(base.count(), 1);
    assert!(chosen.score <= best + 1e-12);
    // Shifts and shears give the identity, 4 shifted copies and 2 sheared ones.
    let c = MatchingChoice {
        per_class: 2,
        shift: 1,
        shear: 0.3,
        scale: 1.0,
        alpha: 0.0,
        steps: 0,
    };
    assert_eq!(c.warps().len(), 7);
    assert_eq!(c.warps()[0], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    assert!(MatchingChoice {
        shift: 0,
        shear: 0.0,
        ..c
    }
    .warps()
    .is_empty());
}

/// 8 classes x 24 rows of 4 features: class information in features 0-1 at scale `a`, noise in
/// features 2-3 at scale `b`.
fn scaled_features(a: f64, b: f64) -> Dataset {
    let mut s = String::new();
    let mut noise = common::Noise(99);
    for r in 0..192 {
        let c = r % 8;
        let f0 = a * ((c % 4) as f64 + 0.3 * noise.next());
        let f1 = a * ((c / 4) as f64 * 2.0 + 0.3 * noise.next());
        s += &format!("{f0},{f1},{},{},{c}\n", b * noise.next(), b * noise.next());
    }
    Dataset::parse(&s, "scaled.csv").unwrap()
}

#[test]
fn auto_normalisation_is_chosen_by_nearest_centroid_on_the_validation_classes() {
    use trainer::classify::config::ClsConfig;
    use trainer::classify::setup::Setup;
    let cfg = ClsConfig {
        train_classes: vec![0, 1, 2, 3, 4, 5],
        test_classes: vec![6, 7],
        shots: vec![1],
        query: 3,
        ways: 3,
        val_episodes: 50,
        ..ClsConfig::default()
    };
    // Informative features large, noise small: standardising inflates the noise.
    let setup = Setup::with_data(&cfg, scaled_features(10.0, 0.01)).unwrap();
    let c = setup.normalise_choice.unwrap();
    assert!(c.common && c.common_score > c.standardise_score, "{c:?}");
    assert!(setup.norm.scale.windows(2).all(|w| w[0] == w[1]));
    // Informative features tiny, noise large: only standardisation puts them on equal terms.
    let setup = Setup::with_data(&cfg, scaled_features(0.01, 10.0)).unwrap();
    let c = setup.normalise_choice.unwrap();
    assert!(!c.common && c.standardise_score > c.common_score, "{c:?}");
    assert_eq!(setup.norm, setup.standardise);
}

#[test]
fn within_subject_episodes_keep_to_one_subject() {
    use trainer::classify::config::ClsConfig;
    use trainer::classify::setup::Setup;
    // 3 subjects; subject 2 has one row of class 5 only: it cannot host a 2-way 1-shot episode
    // with a query of each class.
    let mut s = String::from("who,f1,f2,f3,f4,label\n");
    for r in 0..54 {
        let (subject, class) = (r % 3, (r / 3) % 6);
        if subject == 2 && class == 5 && r > 20 {
            continue;
        }
        let v: Vec<String> = (0..4)
            .map(|j| format!("{}", (class * 3 + j + r) % 7))
            .collect();
        s += &format!("s{subject},{},{class}\n", v.join(","));
    }
    let cols = Columns {
        subject: Some("who"),
        ..Columns::default()
    };
    let ds = Dataset::parse_labelled(&s, "s.csv", cols).unwrap();
    let cfg = ClsConfig {
        train_classes: vec![0, 1, 2, 3],
        val_classes: vec![2, 3],
        test_classes: vec![4, 5],
        ways: 2,
        shots: vec![1],
        query: 1,
        subject_column: Some("who".into()),
        ..ClsConfig::default()
    };
    let setup = Setup::with_data(&cfg, ds).unwrap();
    let within = trainer::classify::subjects::episodes(&setup, 2, 1, 2, (40, 1))
        .unwrap()
        .unwrap();
    let (eps, subjects, eligible) = (within.eps, within.subjects, within.eligible);
    assert_eq!(eligible, ["s0", "s1"]);
    for (ep, &subject) in eps.iter().zip(&subjects) {
        assert!(subject < 2);
        assert!(
            ep.rows.iter().all(|&r| setup.ds.subjects[r] == subject),
            "{ep:?}"
        );
        assert_eq!((ep.query, ep.rows.len()), (2, 6));
    }
    assert!(subjects.contains(&0) && subjects.contains(&1));
    // The validation episodes (validation classes 2 and 3) keep to one subject too.
    let val = trainer::classify::train::val_episodes(&setup, &cfg, false).unwrap();
    assert_eq!(val[0].len(), cfg.val_episodes);
    for ep in &val[0] {
        let first = setup.ds.subjects[ep.rows[0]];
        assert!(
            ep.rows.iter().all(|&r| setup.ds.subjects[r] == first),
            "{ep:?}"
        );
        assert!(ep
            .rows
            .iter()
            .all(|&r| [2, 3].contains(&setup.ds.labels[r])));
    }
}
