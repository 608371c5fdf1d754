//! Activation ranges of a trunk on calibration rows: the rows are drawn (seeded) from the
//! meta-training classes only, never the novel ones; each tensor's range is its minimum and
//! maximum over them, or a central percentile of its values.

use crate::classify::setup::Setup;
use crate::net::{forward, Arch, Fwd};
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// How a tensor's range is taken from its calibration values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ranges {
    /// The smallest and largest value.
    MinMax,
    /// The `p`-th and `(100 - p)`-th percentiles, the lower first (`p = 0.01` and `p = 99.99`
    /// name the same range).
    Percentile(f64),
}

/// `n` raw rows (row-major) of the meta-training classes of `setup`, drawn without
/// replacement with `seed` (all of them when there are fewer), unrotated.
pub fn calibration_rows(setup: &Setup, n: usize, seed: u64) -> Vec<f64> {
    let mut rows: Vec<usize> = setup
        .train
        .classes
        .iter()
        .filter(|c| c.rot == 0)
        .flat_map(|c| c.rows.iter().copied())
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    rows.truncate(n);
    rows.iter()
        .flat_map(|&r| setup.ds.row(r).to_vec())
        .collect()
}

/// `(lo, hi)` of the input and of every layer's output on the normalised rows `x`.
pub(super) fn measure(
    arch: &Arch,
    params: &[f64],
    x: &[f32],
    r: Ranges,
) -> Result<Vec<(f64, f64)>> {
    let k = x.len() / arch.inputs.max(1);
    if k == 0 {
        bail!("no calibration rows");
    }
    let p: Vec<f32> = params.iter().map(|&v| v as f32).collect();
    let mut fwd = Fwd::default();
    forward(arch, &p[..arch.n_params()], x, k, &mut fwd, 0);
    Ok(fwd.ys.iter().map(|y| range(y, r)).collect())
}

fn range(y: &[f32], r: Ranges) -> (f64, f64) {
    let mut v: Vec<f64> = y
        .iter()
        .map(|&a| f64::from(a))
        .filter(|a| a.is_finite())
        .collect();
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_unstable_by(f64::total_cmp);
    let at = |q: f64| v[((q / 100.0 * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    match r {
        Ranges::MinMax => (v[0], v[v.len() - 1]),
        Ranges::Percentile(p) => (at(p.min(100.0 - p)), at(p.max(100.0 - p))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentile_and_its_complement_name_the_same_range_lower_first() {
        let y: Vec<f32> = (0..=1000).map(|i| i as f32).collect();
        assert_eq!(range(&y, Ranges::Percentile(1.0)), (10.0, 990.0));
        assert_eq!(range(&y, Ranges::Percentile(99.0)), (10.0, 990.0));
        assert_eq!(range(&y, Ranges::MinMax), (0.0, 1000.0));
    }
}
