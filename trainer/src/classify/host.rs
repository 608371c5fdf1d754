//! Evaluation of a trained trunk with the trainer's own forward pass on the host, in f32 and,
//! for `trainer quantise`, as the int8 trunk (the runtime's int8 kernels): the prototype head
//! the device would build, without and with its inner steps, beside nearest centroid on the
//! same episodes.

use super::config::ClsConfig;
use super::deploy::{baseline, row, AccRow};
use super::run::test_episodes;
use super::setup::Setup;
use super::train::{trunk_hits, Trained};
use crate::net::Arch;
use crate::quantise::QuantTrunk;
use anyhow::{bail, Result};

/// Rows of `trunk` with `params` and the device settings of `t` on `n` seeded `ways`-way
/// episodes of the novel classes per shot count (`query` per class); with `int8`, the
/// quantised trunk's rows (`trunk_int8`) on the same episodes.
#[allow(clippy::too_many_arguments)]
pub fn host_rows(
    setup: &Setup,
    t: &Trained,
    (trunk, params): (&Arch, &[f64]),
    int8: Option<&QuantTrunk>,
    ways: usize,
    shots: &[usize],
    (n, query, seed): (usize, usize, u64),
) -> Result<Vec<AccRow>> {
    let device = t
        .candidates
        .iter()
        .find(|c| c.trunk == "trained")
        .map_or(t.device, |c| c.device);
    let mut rows = Vec::new();
    for &k in shots {
        let eps = test_episodes(setup, ways, k, query, n, seed)?;
        if eps.is_empty() {
            bail!("no episodes");
        }
        for steps in device.step_counts() {
            let spec = super::proto::ProtoSpec { steps, ..device };
            let hits = trunk_hits(trunk, params, &eps, &spec);
            rows.push(row("trunk_host", k, Some(steps), &hits, &eps));
        }
        if let Some(q) = int8 {
            for steps in device.step_counts() {
                let spec = super::proto::ProtoSpec { steps, ..device };
                let hits = crate::quantise::episode_hits(q, trunk, &eps, &spec)?;
                rows.push(row("trunk_int8", k, Some(steps), &hits, &eps));
            }
        }
        let raw = baseline(&eps, None);
        rows.push(row("nearest_centroid_raw", k, None, &raw, &eps));
        let std = baseline(&eps, Some(&setup.standardise));
        rows.push(row("nearest_centroid_standardised", k, None, &std, &eps));
        if setup.norm.window.is_some() {
            let own = baseline(&eps, Some(&setup.norm));
            rows.push(row("nearest_centroid_model_input", k, None, &own, &eps));
        }
    }
    Ok(rows)
}

/// The lines above a host evaluation's table.
pub fn describe(
    cfg: &ClsConfig,
    ds: &super::data::Dataset,
    ways: usize,
    n: usize,
    query: usize,
) -> String {
    format!(
        "novel classes {} (never seen in training or validation), on the host (the trainer's forward pass in f32; the runtime cannot run this trunk yet):\n  {ways}-way: {n} episodes per shot count, {query} queries per class; 95% CI over episodes, then with the class as the unit\n",
        ds.describe_classes(&cfg.test_classes)
    )
}
