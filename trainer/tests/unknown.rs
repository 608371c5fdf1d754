//! Unknown inputs (open-set rejection): the threshold rules on constructed scores, and the
//! false-accept / false-reject rates measured on the right query sets, as deployed, on a tiny
//! two-feature data set whose unknown rows are built to be accepted or rejected.

mod common;
use runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use trainer::classify::data::Dataset;
use trainer::classify::deploy::with_ways;
use trainer::classify::episodes::{Augment, Pool};
use trainer::classify::run::pool_episodes;
use trainer::classify::unknown::{
    choose_threshold, draws, evaluate, rates, Drawn, Rule, Score, UnknownSpec,
};

#[test]
fn eer_picks_the_crossing_and_fr_a_quantile_of_the_known_scores() {
    // Rates: known below t rejected, unknown at or above t accepted.
    assert_eq!(rates(&[0.2, 0.5, 0.9], &[0.5, 0.1], 0.5), (1.0 / 3.0, 0.5));
    // FR rises and FA falls with t; they cross between 0.5 and 0.7 (one of four each).
    let known = [0.9, 0.8, 0.7, 0.4];
    let unknown = [0.2, 0.3, 0.5, 0.75];
    let t = choose_threshold(&known, &unknown, Rule::Eer).unwrap();
    assert!(t > 0.5 && t <= 0.7, "{t}");
    assert_eq!(rates(&known, &unknown, t), (0.25, 0.25));
    // Separated scores: the threshold lies between them, nothing is wrong.
    let t = choose_threshold(&[0.99, 0.95, 0.9], &[0.6, 0.55], Rule::Eer).unwrap();
    assert!(t > 0.6 && t < 0.9, "{t}");
    // Every unknown above every known: the best is to reject or accept everything.
    let t = choose_threshold(&[0.1, 0.2], &[0.8, 0.9], Rule::Eer).unwrap();
    let (fr, fa) = rates(&[0.1, 0.2], &[0.8, 0.9], t);
    assert_eq!(fr.max(fa), 1.0);
    // A target false-reject rate: the highest threshold that rejects at most that fraction.
    let k = [0.3, 0.1, 0.4, 0.2, 0.6, 0.5, 0.8, 0.7, 1.0, 0.9];
    for (f, want) in [
        (0.0, 0.1),
        (0.05, 0.1),
        (0.1, 0.2),
        (0.25, 0.3),
        (0.99, 1.0),
    ] {
        let t = choose_threshold(&k, &[0.5], Rule::FalseReject(f)).unwrap();
        assert_eq!(t, want, "fr={f}");
        assert!(rates(&k, &[], t).0 <= f);
    }
    // A target false-accept rate: the lowest threshold that accepts at most that fraction
    // (ties included: both 0.6 scores are accepted or neither).
    let u = [0.3, 0.1, 0.6, 0.2, 0.6, 0.5, 0.8, 0.7, 1.0, 0.9];
    for (f, above) in [(0.0, 1.0), (0.1, 0.9), (0.25, 0.8), (0.5, 0.6), (0.55, 0.6)] {
        let t = choose_threshold(&[0.5], &u, Rule::FalseAccept(f)).unwrap();
        assert!(t > above && t == above.next_up(), "fa={f}: {t}");
        assert!(rates(&[], &u, t).1 <= f);
    }
    // The area under the ROC curve: known above unknown in 3 of 4 pairs, one tie (half).
    let sc = trainer::classify::unknown::Scored {
        known: vec![(0.9, true), (0.5, false)],
        unknown: vec![0.5, 0.1],
    };
    assert_eq!(sc.auroc(), Some(0.875));
    let none = trainer::classify::unknown::Scored {
        known: vec![(0.9, true)],
        unknown: vec![],
    };
    assert_eq!(none.auroc(), None);
    assert!(choose_threshold(&[], &[0.5], Rule::Eer).is_err());
    assert!(choose_threshold(&[0.5], &[f32::NAN], Rule::Eer).is_err());
    assert_eq!("eer".parse::<Rule>().unwrap(), Rule::Eer);
    assert_eq!("fr=0.05".parse::<Rule>().unwrap(), Rule::FalseReject(0.05));
    assert_eq!("fa=0.01".parse::<Rule>().unwrap(), Rule::FalseAccept(0.01));
    for bad in ["fr=1", "fr=-0.1", "fr=x", "fa=1.5", "fa=", "min"] {
        assert!(bad.parse::<Rule>().is_err(), "{bad}");
    }
}

/// Two features. Novel classes 0 at (-5, 0) and 1 at (5, 0), 8 rows each; unknown-only classes
/// (too few rows for an episode of 1 + 4 rows a class) 2 on the midline (equally far from both: rejected) and 3 far
/// outside (at (+-15, 0): confidently one of them, accepted). Validation classes 10, 11 like 0
/// and 1, and 12 on the midline.
fn data() -> Dataset {
    let mut s = String::from("f1,f2,label\n");
    let jitter = |i: usize| (i % 5) as f64 * 0.01;
    for i in 0..8 {
        for (c, x) in [(0, -5.0), (1, 5.0), (10, -5.0), (11, 5.0)] {
            s += &format!("{},{},{c}\n", x + jitter(i), jitter(i + 2));
        }
    }
    for (x, y, c) in [
        (0.0, 0.0, 2),
        (0.0, 0.3, 2),
        (15.0, 0.0, 3),
        (-15.0, 0.1, 3),
        (0.0, 0.1, 12),
        (0.0, -0.2, 12),
        (0.0, 0.4, 12),
        (0.0, 0.2, 12),
    ] {
        s += &format!("{x},{y},{c}\n");
    }
    Dataset::parse(&s, "unknown.csv").unwrap()
}

fn pool(ds: &Dataset, classes: &[usize]) -> Pool {
    let by_class: Vec<(usize, Vec<usize>)> = classes
        .iter()
        .map(|&c| (c, (0..ds.rows()).filter(|&r| ds.labels[r] == c).collect()))
        .collect();
    Pool::new(ds, None, &by_class, false, Augment::default()).unwrap()
}

/// A 3-class prototype head (scale 1, no steps) on two raw features: an identity trunk.
fn prototype_model() -> runtime::format::AlignedBytes {
    let adapt = AdaptDef::new(runtime::AdaptScope::HeadOnly, 0, RateDef::Scalar(0.0), 1.0)
        .with_prototypes(1.0);
    let head = HeadDef::classification(
        0,
        "novel",
        vec![Dense::zeros(2, 3, runtime::Activation::Identity)],
    )
    .with_adapt(adapt);
    ModelDef::new("open", 2)
        .head(head)
        .to_aligned_bytes()
        .unwrap()
}

#[test]
fn false_accepts_and_rejects_are_counted_on_the_right_queries() {
    let ds = data();
    // A prototype head on the raw features, exported for 3 classes: evaluated 2-way.
    let blob = with_ways(&prototype_model(), 2).unwrap();
    let model = runtime::Model::from_bytes(&blob).unwrap();
    assert_eq!(model.head(0).unwrap().kind.classes(), Some(2));

    let (novel, val) = (pool(&ds, &[0, 1, 2, 3]), pool(&ds, &[10, 11, 12]));
    let spec = UnknownSpec {
        queries: 4,
        rule: Rule::Eer,
        score: Score::Probability,
        threshold: None,
    };
    let eps = pool_episodes(&novel, &ds, 2, 1, 4, 12, 7).unwrap();
    let cal_eps = pool_episodes(&val, &ds, 2, 1, 4, 12, 8).unwrap();
    let drawn = |p: &Pool, eps| draws(p, &ds, eps, spec.queries, 9).unwrap();
    let novel_unknown = drawn(&novel, &eps);
    // Every unknown row is one of the four rows of classes 2 and 3, each drawn once.
    for u in &novel_unknown {
        let mut rows: Vec<usize> = u
            .chunks_exact(2)
            .map(|x| (0..ds.rows()).find(|&r| ds.row(r) == x).unwrap())
            .collect();
        rows.sort_unstable();
        assert_eq!(rows, [32, 33, 34, 35]);
    }
    let cal = Drawn {
        unknown: drawn(&val, &cal_eps),
        eps: &cal_eps,
    };
    let novel = Drawn {
        unknown: novel_unknown,
        eps: &eps,
    };
    let rows = evaluate(&blob, Some((&cal, &[10, 11, 12])), &novel, &[0], &spec).unwrap();
    let [r] = rows.as_slice() else {
        panic!("{rows:?}")
    };
    // Calibration: known queries near probability 1, the midline near 1/2: separated.
    assert_eq!(
        (r.calibration_false_reject, r.calibration_false_accept),
        (0.0, 0.0)
    );
    assert!(r.threshold > 0.6 && r.threshold < 1.0, "{r:?}");
    // Novel: no known query rejected, all accepted ones right; of the four unknown rows of
    // every episode, the two far ones are accepted and the two midline ones rejected.
    assert_eq!((r.episodes, r.accepted_episodes), (12, 12));
    assert_eq!((r.false_reject, r.false_reject_ci95), (0.0, 0.0));
    assert_eq!((r.false_accept, r.false_accept_ci95), (50.0, 0.0));
    assert_eq!(r.accepted_accuracy, 100.0);
    assert_eq!((r.shots, r.steps, r.rule.as_str()), (1, 0, "eer"));
    // Threshold-free: the midline rows score below every known query, the far ones not.
    assert!((50.0..100.0).contains(&r.auroc), "{r:?}");

    // By the distance to the nearest prototype, the far rows are as unlike the taught classes
    // as the midline ones: every unknown row is rejected, no known query.
    for score in [Score::Distance, Score::Cosine] {
        let spec = UnknownSpec { score, ..spec };
        let rows = evaluate(&blob, Some((&cal, &[10, 11, 12])), &novel, &[0], &spec).unwrap();
        let [r] = rows.as_slice() else {
            panic!("{rows:?}")
        };
        assert_eq!(r.method, format!("model ({score})"));
        if score == Score::Distance {
            assert_eq!((r.false_reject, r.false_accept), (0.0, 0.0), "{r:?}");
            assert!(r.threshold < 0.0, "{r:?}");
            assert_eq!((r.auroc, r.auroc_ci95), (100.0, 0.0), "{r:?}");
        } else {
            // The cosine sees directions only: the far rows point like the taught classes.
            assert_eq!((r.false_reject, r.false_accept), (0.0, 50.0), "{r:?}");
        }
        assert_eq!(r.accepted_accuracy, 100.0);
    }
    // A threshold given (a device's): no calibration; a probability threshold of 0 accepts
    // every query, known or not.
    let spec = UnknownSpec {
        threshold: Some(0.0),
        ..spec
    };
    let rows = evaluate(&blob, None, &novel, &[0], &spec).unwrap();
    let [r] = rows.as_slice() else {
        panic!("{rows:?}")
    };
    assert_eq!((r.rule.as_str(), r.threshold), ("given", 0.0));
    assert!(r.calibration_false_reject.is_nan() && r.calibration_classes.is_empty());
    assert_eq!((r.false_reject, r.false_accept), (0.0, 100.0), "{r:?}");
    let spec = UnknownSpec {
        threshold: None,
        ..spec
    };
    assert!(evaluate(&blob, None, &novel, &[0], &spec).is_err());
    for (text, score) in [
        ("probability", Score::Probability),
        ("distance", Score::Distance),
        ("cosine", Score::Cosine),
        ("relative", Score::Relative),
    ] {
        assert_eq!(text.parse::<Score>().unwrap(), score);
        assert_eq!(score.to_string(), text);
    }
    assert!("margin".parse::<Score>().is_err());
}

/// 12 classes x 12 rows of 2 features, every value times `scale`: class `c` a noisy point of
/// its own.
fn scaled(scale: f64) -> Dataset {
    let mut s = String::from("f1,f2,label\n");
    let mut noise = common::Noise(5);
    for row in 0..144 {
        let c = row % 12;
        let centre = [(c % 4) as f64 * 1.5, (c / 4) as f64 * 1.5];
        let x = centre.map(|v| scale * (v + 1.5 * noise.next()));
        s += &format!("{},{},{c}\n", x[0], x[1]);
    }
    Dataset::parse(&s, "scaled.csv").unwrap()
}

#[test]
fn the_relative_distance_keeps_its_rates_when_the_features_scale() {
    // An identity trunk and a prototype head; the same episodes and unknown rows of data
    // recorded at two scales (another microphone gain, a louder room): a threshold on the
    // squared distance accepts differently, one on the relative distance the same.
    let blob = prototype_model();
    let rows_at = |scale: f64, score: Score, t: f32, shots: usize| {
        let ds = scaled(scale);
        let p = pool(&ds, &(0..12).collect::<Vec<_>>());
        let eps = pool_episodes(&p, &ds, 3, shots, 4, 30, 3).unwrap();
        let novel = Drawn {
            unknown: draws(&p, &ds, &eps, 6, 4).unwrap(),
            eps: &eps,
        };
        let spec = UnknownSpec {
            queries: 6,
            rule: Rule::Eer,
            score,
            threshold: Some(t),
        };
        evaluate(&blob, None, &novel, &[0], &spec).map(|r| (r[0].false_reject, r[0].false_accept))
    };
    let (relative, distance) = (
        [1.0, 3.0].map(|k| rows_at(k, Score::Relative, -4.0, 3).unwrap()),
        [1.0, 3.0].map(|k| rows_at(k, Score::Distance, -1.0, 3).unwrap()),
    );
    assert_eq!(relative[0], relative[1]);
    assert!(
        relative[0].0 < 50.0 && relative[0].1 < 100.0,
        "{relative:?}"
    );
    // Nine times the squared distances: more known queries rejected, fewer unknown accepted.
    assert!(
        distance[1].0 > distance[0].0 && distance[1].1 < distance[0].1,
        "{distance:?}"
    );
    // One shot of a class gives no within-class variance.
    let err = rows_at(1.0, Score::Relative, -4.0, 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 or more shots"), "{err}");
}

/// 12 classes x 20 rows of 4 features: each class a noisy point of its own.
fn clusters_csv(path: &std::path::Path) {
    let mut s = String::from("label,a,b,c,d\n");
    let mut noise = common::Noise(99);
    for row in 0..240 {
        let c = row % 12;
        s += &c.to_string();
        for j in 0..4 {
            let centre = ((c * 5 + j * 3) % 7) as f64 - 3.0;
            s += &format!(",{:.4}", centre + 0.8 * noise.next());
        }
        s += "\n";
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn eval_prints_the_threshold_and_its_rates_for_every_shots_and_steps() {
    let d = common::dir("unknown", "cli");
    clusters_csv(&d.join("c.csv"));
    std::fs::write(
        d.join("run.toml"),
        r#"task = "classification"
data = "c.csv"
train_classes = [0, 1, 2, 3, 4, 5, 6, 7]
val_classes = [5, 6, 7]
test_classes = [8, 9, 10, 11]
ways = 3
shots = [1, 3]
query = 4
hidden = [8]
iterations = 6
val_every = 3
val_episodes = 5
device_steps = 2
"#,
    )
    .unwrap();
    let model = d.join("m.postcard");
    let o = common::run(
        common::bin()
            .args(["train", "--no-eval", "--config"])
            .arg(d.join("run.toml"))
            .arg("--out")
            .arg(&model),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let eval = |extra: &[&str]| {
        common::run(
            common::bin()
                .args([
                    "eval",
                    "--episodes",
                    "20",
                    "--shots",
                    "1,3",
                    "--steps",
                    "0,2",
                ])
                .arg("--model")
                .arg(&model)
                .args(extra),
        )
    };
    // A 3-class head evaluated 2-way: two of the four novel classes are unknown in each episode.
    let o = eval(&["--ways", "2", "--unknown-queries", "6", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["units"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["ways"] == 2));
    let rows = v["unknown"].as_array().unwrap();
    let keys: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| (r["shots"].as_u64().unwrap(), r["steps"].as_u64().unwrap()))
        .collect();
    assert_eq!(keys, [(1, 0), (1, 2), (3, 0), (3, 2)]);
    for r in rows {
        assert_eq!(
            r["calibration_classes"],
            serde_json::json!([5, 6, 7]),
            "{r}"
        );
        assert_eq!(
            (r["episodes"].as_u64(), r["unknown_per_episode"].as_u64()),
            (Some(20), Some(6))
        );
        let t = r["threshold"].as_f64().unwrap();
        assert!((0.0..=1.5).contains(&t), "{r}");
        for k in ["false_reject", "false_accept", "calibration_false_reject"] {
            assert!((0.0..=100.0).contains(&r[k].as_f64().unwrap()), "{k}: {r}");
        }
    }
    // The relative score needs 2 shots: the 1-shot rows are left out with a note, the rest
    // measured.
    let o = eval(&[
        "--ways",
        "2",
        "--unknown-queries",
        "6",
        "--unknown-score",
        "relative",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no unknown-input rows at 1 shot"));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<(u64, u64, &str)> = v["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            (n("shots"), n("steps"), r["score"].as_str().unwrap())
        })
        .collect();
    assert_eq!(keys, [(3, 0, "relative"), (3, 2, "relative")]);
    // The table prints the threshold; without --unknown-queries there is no unknown row.
    let with_rule = |rule: &str| {
        eval(&[
            "--ways",
            "2",
            "--unknown-queries",
            "6",
            "--unknown-rule",
            rule,
        ])
    };
    let o = with_rule("fr=0.1");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("rule fr=0.1 on episodes of classes [5, 6, 7]"),
        "{out}"
    );
    let o = eval(&["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["unknown"], serde_json::json!([]));
    // Refused: a bad rule; 4-way episodes of the 4 novel classes leave no unknown class.
    let o = with_rule("fr=2");
    assert_eq!(o.status.code(), Some(2));
    let o = eval(&["--ways", "4", "--unknown-queries", "6"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("an episode takes every one of the 4 classes: lower --ways"),
        "{e}"
    );
    // 3-way episodes of the 3 validation classes leave none either: the held-out rows of the
    // trunk's classes 0-4 join them, the novel classes never.
    let o = eval(&["--unknown-queries", "2", "--query", "2", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["unknown"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        let c = &r["calibration_classes"];
        assert_eq!(c, &serde_json::json!([0, 1, 2, 3, 4, 5, 6, 7]), "{r}");
    }
}
