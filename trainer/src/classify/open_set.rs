//! Open-set training (`unknown_queries`): the rows of other classes a training episode scores
//! against a learned distance threshold, and the threshold's starting value.
//!
//! A device decides "none of the classes it was taught" when a sample's trunk features are
//! further than a threshold from every prototype (`trainer eval --unknown-score distance`).
//! A ProtoNet trunk is trained only to rank the prototypes, so that distance tells a taught
//! class from an untaught one poorly. With `unknown_queries = U` each training episode also
//! draws `U` rows of classes outside it; every scored row's softmax gains a "none of them"
//! logit at the threshold `tau` (see [`super::proto::episode_grad`]), the queries keep their
//! class and the outside rows are labelled "none", and `log tau` is learned with the trunk.

use super::config::ClsConfig;
use super::episodes::Episode;
use super::proto::{prototypes, EpisodeData};
use super::setup::Setup;
use super::unknown::draw_outside;
use crate::net::{forward, Arch, Fwd};
use crate::real::Real;
use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `ep` in the compute type, with `unknown` rows of the training pool's other classes drawn
/// from `rng` after its queries (none when `unknown` is 0).
pub fn training_episode<T: Real>(
    setup: &Setup,
    trunk: &Arch,
    ep: &Episode,
    global: Option<&[usize]>,
    unknown: usize,
    rng: &mut ChaCha8Rng,
) -> Result<EpisodeData<T>> {
    let data = EpisodeData::<T>::new(trunk, ep, global);
    if unknown == 0 {
        return Ok(data);
    }
    let raw = draw_outside(&setup.train, &setup.ds, ep, unknown, rng)?;
    Ok(data.with_unknown(trunk, &raw))
}

/// Episodes the open-set threshold's starting value is measured on.
const THRESHOLD_START_EPISODES: usize = 8;

/// The open-set threshold's starting `ln tau` (`[]` without `unknown_queries`), on the
/// initial trunk's features of a few training episodes.
pub fn start(cfg: &ClsConfig, setup: &Setup, trunk: &Arch, params: &[f64]) -> Result<Vec<f64>> {
    if cfg.unknown_queries == 0 {
        return Ok(Vec::new());
    }
    let mut sizes: Vec<usize> = setup.train.classes.iter().map(|c| c.rows.len()).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let fewest_outside: usize = sizes.iter().skip(setup.train_ways).sum();
    if fewest_outside < cfg.unknown_queries {
        bail!(
            "unknown_queries = {}: the training classes outside a {}-way episode can have as few as {fewest_outside} rows (fewer `ways` or more training classes)",
            cfg.unknown_queries,
            setup.train_ways
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x0be0_5e75);
    let shots = cfg.shots.first().copied().unwrap_or(1);
    let eps = (0..THRESHOLD_START_EPISODES)
        .map(|_| {
            let ep = setup
                .train
                .sample(&setup.ds, setup.train_ways, shots, cfg.query, &mut rng)?;
            training_episode(setup, trunk, &ep, None, cfg.unknown_queries, &mut rng)
        })
        .collect::<Result<Vec<_>>>()?;
    match initial_log_threshold(trunk, params, &eps) {
        Some(t) => Ok(vec![t]),
        None => bail!("unknown_queries: the initial trunk's distances give no starting threshold (all rows equal?)"),
    }
}

/// The threshold's starting value, `ln tau`: `tau` halfway between the mean squared distance of
/// the known queries to their own prototype and that of the other classes' rows to their
/// nearest prototype, on the features of `params` for the episodes `eps` (with their rows of
/// other classes). `None` when no episode has both kinds of rows.
pub fn initial_log_threshold(
    trunk: &Arch,
    params: &[f64],
    eps: &[EpisodeData<f64>],
) -> Option<f64> {
    let d = trunk.outputs();
    let nt = trunk.n_params();
    let (mut own, mut outside) = (Vec::new(), Vec::new());
    let mut fwd = Fwd::default();
    for ep in eps {
        forward(
            trunk,
            &params[..nt],
            &ep.x,
            ep.ns + ep.nq + ep.nu,
            &mut fwd,
            0,
        );
        let f = &fwd.ys[trunk.layers.len()];
        let (fs, rest) = f.split_at(ep.ns * d);
        let (_, _, mu, _) = prototypes(fs, &ep.sl, ep.ways, d, 1.0);
        let dist = |r: usize, c: usize| -> f64 {
            (0..d)
                .map(|j| (rest[r * d + j] - mu[c * d + j]).powi(2))
                .sum()
        };
        own.extend((0..ep.nq).map(|r| dist(r, ep.ql[r])));
        outside.extend((ep.nq..ep.nq + ep.nu).map(|r| {
            (0..ep.ways)
                .map(|c| dist(r, c))
                .fold(f64::INFINITY, f64::min)
        }));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    if own.is_empty() || outside.is_empty() {
        return None;
    }
    let tau = 0.5 * (mean(&own) + mean(&outside));
    (tau.is_finite() && tau > 0.0).then(|| tau.ln())
}
