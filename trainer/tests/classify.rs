//! Classification data, episodes, and the prototype / multi-task heads' gradients against
//! central finite differences (f64, tiny trunk).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trainer::classify::data::{ClassSplit, Dataset};
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
    let ok = Dataset::parse("f1,f2,label\n1,2,0\n\n3,4,1\n", "d.csv").unwrap();
    assert_eq!((ok.d, ok.rows(), ok.lines.clone()), (2, 2, vec![2, 4]));
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
    let pool = Pool::new(&ds, &split.train, true, Augment::default()).unwrap();
    assert_eq!(pool.classes.len(), 12);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let ep = pool.sample(&ds, 3, 1, 2, &mut rng).unwrap();
    assert_eq!(ep.support_y, vec![0, 1, 2]);
    assert_eq!(ep.query_y, vec![0, 0, 1, 1, 2, 2]);
    assert_eq!(ep.rows.len(), 9);
    let test = Pool::new(&ds, &split.test, false, Augment::default()).unwrap();
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

fn grad_case(spec: ProtoSpec, aux: usize, tol: f64) {
    let ds = tiny();
    let split = ClassSplit::new(&ds, &[0, 1, 2, 3], &[4, 5], 0.0, 1).unwrap();
    let pool = Pool::new(&ds, &split.train, false, Augment::default()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let arch = trunk();
    let global = [0, 1, 2, 3];
    let ep = pool.sample(&ds, 3, 2, 2, &mut rng).unwrap();
    let d: EpisodeData<f64> = EpisodeData::new(&arch, &ep, Some(&global[..aux.min(4)]));
    let n = arch.n_params() + aux * (arch.outputs() + 1);
    let p = params(n);
    let mut sc = Scratch::default();
    let (mut gp, mut ga) = (vec![0.0; n], vec![0.0; n]);
    let loss = |p: &[f64]| {
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        let l = episode_grad(
            &arch,
            aux,
            p,
            &d,
            &spec,
            &mut Scratch::default(),
            &mut a,
            &mut b,
        );
        l.proto + l.aux
    };
    episode_grad(&arch, aux, &p, &d, &spec, &mut sc, &mut gp, &mut ga);
    let h = 1e-6;
    for i in 0..n {
        let (mut a, mut b) = (p.clone(), p.clone());
        a[i] += h;
        b[i] -= h;
        let fd = (loss(&a) - loss(&b)) / (2.0 * h);
        let an = gp[i] + ga[i];
        assert!(
            (fd - an).abs() <= tol * (1.0 + fd.abs()),
            "param {i}: analytic {an} vs fd {fd}"
        );
    }
}

#[test]
fn protonet_and_multitask_gradients_match_fd() {
    let spec = ProtoSpec {
        scale: 0.7,
        steps: 0,
        alpha: 0.0,
        clip: 10.0,
    };
    grad_case(spec, 0, 1e-6);
    grad_case(spec, 4, 1e-6);
}
