//! Meta-training augmentation along a time axis (`[augment]`): what a shift and the masks do to
//! a row, which inputs take it, and that only meta-training episodes see it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trainer::classify::augment::{Axes, TimeAugment};
use trainer::classify::config::{ClsConfig, InputKind};
use trainer::classify::data::Dataset;
use trainer::classify::episodes::{Augment, Pool};

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A 2-channel series of 6 steps, channel-major: channel c, step t holds 10 c + t.
fn series() -> (Axes, Vec<f64>) {
    let axes = Axes::of(&InputKind::Series {
        channels: 2,
        length: 6,
    })
    .unwrap();
    let row = (0..2)
        .flat_map(|c| (0..6).map(move |t| f64::from(10 * c + t)))
        .collect();
    (axes, row)
}

#[test]
fn a_shift_moves_every_channel_together_and_repeats_the_edge() {
    let (axes, row) = series();
    let aug = TimeAugment {
        time_shift: 2,
        ..Default::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut out = vec![0.0; 12];
    for seed in 0..200 {
        aug.apply(&axes, &row, &mut rng(seed), &mut out);
        // Channel 1 is channel 0 plus 10 at every step: both moved by the same dt.
        assert!((0..6).all(|t| out[6 + t] == out[t] + 10.0), "{out:?}");
        // Steps stay in order, each from at most two steps away, the gap the edge's value.
        let shifted =
            |dt: i64| -> Vec<f64> { (0..6i64).map(|t| (t - dt).clamp(0, 5) as f64).collect() };
        let dt = (-2..=2).find(|&dt| out[..6] == shifted(dt)[..]);
        let dt = dt.unwrap_or_else(|| panic!("not a shift of at most 2: {out:?}"));
        seen.insert(dt);
    }
    assert_eq!(seen.len(), 5, "every shift in -2..=2 drawn: {seen:?}");
}

#[test]
fn masks_set_runs_of_steps_or_features_to_the_row_mean() {
    let (axes, row) = series();
    let mean = row.iter().sum::<f64>() / 12.0;
    let mut out = vec![0.0; 12];
    let time = TimeAugment {
        time_mask: 3,
        ..Default::default()
    };
    let mut widths = std::collections::BTreeSet::new();
    for seed in 0..100 {
        time.apply(&axes, &row, &mut rng(seed), &mut out);
        let masked: Vec<usize> = (0..6).filter(|&t| out[t] == mean).collect();
        // The same steps of both channels, consecutive, at most 3.
        assert!(masked.iter().all(|&t| out[6 + t] == mean));
        assert!(masked.len() <= 3 && masked.windows(2).all(|w| w[1] == w[0] + 1));
        assert!((0..6)
            .filter(|t| !masked.contains(t))
            .all(|t| out[t] == row[t] && out[6 + t] == row[6 + t]));
        widths.insert(masked.len());
    }
    assert_eq!(widths.len(), 4, "widths 0..=3 drawn: {widths:?}");
    let feature = TimeAugment {
        feature_mask: 1,
        ..Default::default()
    };
    let mut channels = [0; 2];
    for seed in 0..100 {
        feature.apply(&axes, &row, &mut rng(seed), &mut out);
        for (c, n) in channels.iter_mut().enumerate() {
            let whole = out[6 * c..6 * c + 6].iter().all(|&v| v == mean);
            let kept = out[6 * c..6 * c + 6] == row[6 * c..6 * c + 6];
            assert!(whole || kept, "{out:?}");
            *n += usize::from(whole);
        }
        assert!(
            out[..6] == row[..6] || out[6..] == row[6..],
            "at most one channel"
        );
    }
    assert!(channels.iter().all(|&n| n > 10), "{channels:?}");
}

#[test]
fn an_image_shifts_along_its_rows() {
    let axes = Axes::of(&InputKind::grey(3, 4)).unwrap();
    assert_eq!((axes.steps, axes.features), (4, 3));
    let row: Vec<f64> = (0..12).map(f64::from).collect();
    let aug = TimeAugment {
        time_shift: 1,
        ..Default::default()
    };
    let mut out = vec![0.0; 12];
    for seed in 0..50 {
        aug.apply(&axes, &row, &mut rng(seed), &mut out);
        // Whole rows move: each output row is some input row.
        assert!(
            out.chunks(3).all(|r| row.chunks(3).any(|s| s == r)),
            "{out:?}"
        );
    }
}

#[test]
fn every_channel_of_an_image_shifts_and_is_masked_alike() {
    let axes = Axes::of(&InputKind::Image {
        width: 3,
        height: 4,
        channels: 2,
    })
    .unwrap();
    assert_eq!((axes.steps, axes.features, axes.planes), (4, 3, 2));
    // Plane 1 is plane 0 plus 100: any shift or mask that treats the planes alike keeps
    // that, except where a mask wrote the row's mean into both.
    let row: Vec<f64> = (0..24)
        .map(|i| f64::from(i % 12 + 100 * (i / 12)))
        .collect();
    let mean = row.iter().sum::<f64>() / 24.0;
    let aug = TimeAugment {
        time_shift: 1,
        time_mask: 2,
        feature_mask: 1,
    };
    let mut out = vec![0.0; 24];
    let mut masked = 0;
    for seed in 0..100 {
        aug.apply(&axes, &row, &mut rng(seed), &mut out);
        for i in 0..12 {
            if out[i] == mean {
                assert_eq!(out[12 + i], mean, "{out:?}");
                masked += 1;
            } else {
                assert_eq!(out[12 + i], out[i] + 100.0, "{out:?}");
            }
        }
        assert!(
            out[..12]
                .chunks(3)
                .all(|r| r.contains(&mean) || row[..12].chunks(3).any(|s| s == r)),
            "{out:?}"
        );
    }
    assert!(masked > 0);
}

#[test]
fn no_augmentation_draws_nothing() {
    let (axes, row) = series();
    let mut r = rng(7);
    let mut out = vec![0.0; 12];
    TimeAugment::default().apply(&axes, &row, &mut r, &mut out);
    assert_eq!(out, row);
    use rand::Rng;
    assert_eq!(r.random::<u64>(), rng(7).random::<u64>());
}

#[test]
fn configs_take_augment_only_on_series_and_images_within_their_axes() {
    let head = "task = \"classification\"\ndata = \"x.csv\"\ntrain_classes = [0, 1, 2, 3]\n";
    let series = "[input]\nkind = \"series\"\nchannels = 2\nlength = 16\n";
    let cases = [
        ("[augment]\ntime_shift = 2\n", "a series or an image"),
        (
            &*format!("{series}[augment]\ntime_mask = 16\n"),
            "below the 16 steps",
        ),
        (
            &*format!("{series}[augment]\nfeature_mask = 2\n"),
            "below the 2 features",
        ),
    ];
    for (tail, msg) in cases {
        let text = format!("{head}{tail}");
        let e = ClsConfig::parse(&text, "c.toml").unwrap_err();
        assert_eq!(e.field, "augment", "{text}\n{e}");
        assert!(e.to_string().contains(msg), "{e}");
    }
    let e =
        ClsConfig::parse(&format!("{head}{series}[augment]\nshift = 1\n"), "c.toml").unwrap_err();
    assert!(e.to_string().contains("shift"), "unknown keys refused: {e}");
    let text =
        format!("{head}{series}[augment]\ntime_shift = 3\ntime_mask = 4\nfeature_mask = 1\n");
    let cfg = ClsConfig::parse(&text, "c.toml").unwrap();
    assert_eq!(
        cfg.augment,
        TimeAugment {
            time_shift: 3,
            time_mask: 4,
            feature_mask: 1
        }
    );
}

#[test]
fn only_an_augmenting_pool_changes_its_rows() {
    // 3 classes of 4 rows, 2 channels x 4 steps, every value distinct per row.
    let mut csv = String::new();
    for r in 0..12 {
        let v: Vec<String> = (0..8).map(|i| format!("{}", r * 8 + i)).collect();
        csv.push_str(&format!("{},{}\n", v.join(","), r / 4));
    }
    let ds = Dataset::parse(&csv, "s.csv").unwrap();
    let classes: Vec<(usize, Vec<usize>)> =
        (0..3).map(|c| (c, (4 * c..4 * c + 4).collect())).collect();
    let input = InputKind::Series {
        channels: 2,
        length: 4,
    };
    let aug = Augment {
        time: TimeAugment {
            time_shift: 1,
            time_mask: 1,
            feature_mask: 0,
        },
        axes: Axes::of(&input),
        ..Default::default()
    };
    let plain = Pool::new(&ds, None, &classes, false, Augment::default()).unwrap();
    let ep = plain.sample(&ds, 3, 1, 2, &mut rng(1)).unwrap();
    let rows: Vec<&[f64]> = ep.support_x.chunks(8).chain(ep.query_x.chunks(8)).collect();
    assert!(rows.iter().zip(&ep.rows).all(|(x, &r)| *x == ds.row(r)));
    let augmenting = Pool::new(&ds, None, &classes, false, aug).unwrap();
    let changed = (0..20)
        .map(|s| augmenting.sample(&ds, 3, 1, 2, &mut rng(s)).unwrap())
        .flat_map(|ep| {
            let x: Vec<f64> = ep.support_x.iter().chain(&ep.query_x).copied().collect();
            x.chunks(8)
                .zip(&ep.rows)
                .map(|(x, &r)| x != ds.row(r))
                .collect::<Vec<_>>()
        })
        .filter(|&c| c)
        .count();
    assert!(changed > 50, "{changed} of 300 rows changed");
    // Rows of another shape are refused.
    let wrong = Augment {
        axes: Axes::of(&InputKind::Series {
            channels: 3,
            length: 4,
        }),
        ..aug
    };
    assert!(Pool::new(&ds, None, &classes, false, wrong).is_err());
    // So are widths that would leave no step of a row.
    let too_wide = Augment {
        time: TimeAugment {
            time_mask: 4,
            ..Default::default()
        },
        ..aug
    };
    assert!(Pool::new(&ds, None, &classes, false, too_wide).is_err());
}
