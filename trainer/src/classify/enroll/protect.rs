//! `trainer enroll-eval --protect P`: the smallest enrollment margin
//! ([`runtime::BankState::set_margin`]) that keeps the original classes' accuracy within `P`
//! points of where it started after 10 enrollments, chosen without the held-out classes.
//!
//! Calibration episodes use the original classes alone: each episode splits them at random
//! into classes the device "ships with" (the larger half) and classes enrolled in turn (the
//! rest), with the margin, under the protocol of the [parent module](super) (10 enrollments,
//! forgetting and re-enrolling past the class count). Per episode the shipped classes'
//! accuracy cannot fall as the margin grows (a larger margin only moves queries from enrolled
//! classes to shipped ones), so the mean drop falls too, and the margin is found by doubling
//! then bisection on the same draws.

use super::{draw, run, Centroids, Device, Draw, EnrollSpec, CHECKPOINTS};
use crate::classify::setup::Setup;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use runtime::Model;
use serde::Serialize;

/// Mixed into the seed so that calibration draws differ from the evaluation's.
const CALIBRATION_STREAM: u64 = 0x70_726f_7465_6374;
/// Bisection steps after the doubling (the margin to about 1/1000 of its bracket).
const BISECTIONS: usize = 10;
/// Doublings before giving up.
const DOUBLINGS: usize = 40;

/// The margin `--protect` chose, and what it was chosen on.
#[derive(Clone, Debug, Serialize)]
pub struct Protection {
    /// The bound asked for, in points.
    pub bound: f64,
    pub margin: f32,
    /// The shipped classes' mean drop after 10 enrollments with that margin, and with none.
    pub drop: f64,
    pub drop_without: f64,
    /// Classes shipped and enrolled per calibration episode, and the episodes.
    pub shipped: usize,
    pub enrolled: usize,
    pub episodes: usize,
}

/// Chooses the margin of the [module docs](self) for head `head` of `model` over `episodes`
/// calibration episodes of the `original` classes.
pub fn choose_margin(
    model: &Model<'_>,
    head: usize,
    setup: &Setup,
    original: &[usize],
    spec: &EnrollSpec,
    bound: f64,
    episodes: usize,
) -> Result<Protection> {
    if original.len() < 2 {
        bail!("--protect needs at least 2 original classes to calibrate on");
    }
    if !(bound.is_finite() && bound >= 0.0) {
        bail!("--protect takes a drop in points, at least 0");
    }
    // An original class is shipped or enrolled in turn: it needs queries and either's samples.
    let need = spec.query + spec.shots.max(spec.original_shots);
    let by = setup.ds.by_class();
    if let Some(&c) = original
        .iter()
        .find(|&&c| by.get(c).map_or(0, Vec::len) < need)
    {
        bail!(
            "--protect: class {} has fewer than {need} rows ({} queries + {} samples)",
            setup.ds.class_name(c),
            spec.query,
            spec.shots.max(spec.original_shots)
        );
    }
    let enrolled = original.len() / 2;
    let shipped = original.len() - enrolled;
    let draws: Vec<Draw> = (0..episodes)
        .map(|e| {
            let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ CALIBRATION_STREAM);
            rng.set_stream(e as u64);
            let mut classes = original.to_vec();
            classes.shuffle(&mut rng);
            let (ship, new) = classes.split_at(shipped);
            draw(
                setup,
                (ship, &[]),
                new,
                spec.query,
                spec.seed ^ CALIBRATION_STREAM,
                e,
            )
        })
        .collect();
    let drop = |margin: f32| -> Result<f64> {
        let drops = draws
            .par_iter()
            .map(|d| {
                let device = Device::new(model, head, 0, 0.0, margin)?;
                let s = run(device, setup, d, shipped, [spec.shots, spec.original_shots])?;
                match (s.first(), s.get(CHECKPOINTS.len() - 1)) {
                    (Some(first), Some(last)) => Ok(100.0 * (first.all[0] - last.all[0])),
                    _ => bail!("calibration episode without its checkpoints"),
                }
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(drops.iter().sum::<f64>() / drops.len().max(1) as f64)
    };
    let without = drop(0.0)?;
    let found = |margin: f32, drop: f64| Protection {
        bound,
        margin,
        drop,
        drop_without: without,
        shipped,
        enrolled,
        episodes,
    };
    if without <= bound {
        return Ok(found(0.0, without));
    }
    let (mut lo, mut hi) = (0.0f32, spread(model, setup, &draws[0])? / 4.0);
    let mut at_hi = drop(hi)?;
    for _ in 0..DOUBLINGS {
        if at_hi <= bound {
            break;
        }
        (lo, hi) = (hi, 2.0 * hi);
        at_hi = drop(hi)?;
    }
    if at_hi > bound {
        bail!("no margin up to {hi} keeps the drop within {bound} points (at {hi}: {at_hi:.2})");
    }
    for _ in 0..BISECTIONS {
        let mid = 0.5 * (lo + hi);
        let at = drop(mid)?;
        if at <= bound {
            (hi, at_hi) = (mid, at);
        } else {
            lo = mid;
        }
    }
    Ok(found(hi, at_hi))
}

/// The mean squared distance from a shipped class's query features to the mean of its pool's:
/// where the margin search starts.
fn spread(model: &Model<'_>, setup: &Setup, d: &Draw) -> Result<f32> {
    let c = Centroids {
        model,
        features: true,
        means: Vec::new(),
    };
    let embed = |r: usize| -> Result<Vec<f64>> {
        let x: Vec<f32> = setup.ds.row(r).iter().map(|&v| v as f32).collect();
        c.embed(&x)
    };
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (pool, queries) in d.pools.iter().zip(&d.queries) {
        let feats = pool.iter().map(|&r| embed(r)).collect::<Result<Vec<_>>>()?;
        let mut mean = vec![0.0; feats.first().map_or(0, Vec::len)];
        for f in &feats {
            mean.iter_mut()
                .zip(f)
                .for_each(|(m, v)| *m += v / feats.len() as f64);
        }
        for &q in queries {
            let f = embed(q)?;
            sum += f
                .iter()
                .zip(&mean)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>();
            n += 1;
        }
    }
    Ok(((sum / n.max(1) as f64) as f32).max(f32::MIN_POSITIVE))
}
