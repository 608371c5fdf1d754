//! The device's matching head (the runtime's `HeadKind::Matching`), its settings chosen by the
//! leave-classes-out cross-validation of `metric.rs` (folds over the meta-training classes only),
//! every candidate scored as deployed: its bytes loaded by the runtime, the head started from the
//! support set and adapted by the runtime's inner loop, the queries run by the runtime.
//!
//! A candidate is a warp set (the identity, shifts by `shift` pixels, horizontal shears by
//! `+-shear`), a number of prototypes per class, the prototype scale, and the device's inner-loop
//! rate. Selection: at 0 steps, the best mean over the validation sets among the candidates never
//! below the plain prototype head (one per class, no warps) on any set beyond one paired standard
//! error; then that candidate's rate, the best mean among 0 steps and every rate.

use super::config::ClsConfig;
use super::deploy::{episode_correct, trunk_def, with_device_head};
use super::metric::{first_best, folds, never_below, percents, print_header, set_means, Fold};
use super::proto::ProtoSpec;
use super::setup::Setup;
use crate::net::Arch;
use anyhow::{anyhow, Result};
use rayon::prelude::*;
use runtime::Model;
use serde::{Deserialize, Serialize};

/// One setting of the matching head.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchingChoice {
    /// Prototypes per class.
    pub per_class: usize,
    /// Shifts by this many pixels left, right, up and down (0: none).
    pub shift: usize,
    /// Horizontal shears `x + h y` by `+shear` and `-shear` (0: none).
    pub shear: f64,
    /// Prototype scale.
    pub scale: f64,
    /// Inner-loop rate (0: prototypes only).
    pub alpha: f64,
    /// Inner steps.
    pub steps: usize,
}

impl MatchingChoice {
    /// The warps, `[a, b, tx, c, d, ty]` each (the runtime's `WarpSet`); empty for none.
    pub fn warps(&self) -> Vec<[f32; 6]> {
        if self.shift == 0 && self.shear == 0.0 {
            return Vec::new();
        }
        let mut w = vec![[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]];
        if self.shift > 0 {
            let s = self.shift as f32;
            for (dx, dy) in [(s, 0.0), (-s, 0.0), (0.0, s), (0.0, -s)] {
                w.push([1.0, 0.0, dx, 0.0, 1.0, dy]);
            }
        }
        if self.shear != 0.0 {
            let h = self.shear as f32;
            w.push([1.0, h, 0.0, 0.0, 1.0, 0.0]);
            w.push([1.0, -h, 0.0, 0.0, 1.0, 0.0]);
        }
        w
    }

    /// One prototype per class and no warps: the plain prototype head.
    pub fn is_plain(&self) -> bool {
        self.per_class == 1 && self.warps().is_empty()
    }

    /// The device settings of this choice.
    pub fn device(&self, clip: f64) -> ProtoSpec {
        ProtoSpec {
            scale: self.scale,
            steps: self.steps,
            alpha: self.alpha,
            clip,
        }
    }

    /// A short description for tables.
    pub fn label(&self) -> String {
        format!(
            "shift {} shear {:<4} protos {} scale {:<4} rate {:<4} steps {}",
            self.shift, self.shear, self.per_class, self.scale, self.alpha, self.steps
        )
    }
}

/// A candidate's cross-validated accuracy per validation set (mean over folds).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MatchingRow {
    pub choice: MatchingChoice,
    pub acc: Vec<f64>,
    /// Mean of `acc`: the selection score.
    pub score: f64,
    /// Per validation set, the accuracy of every episode (all folds), for paired comparisons.
    #[serde(skip)]
    pub episodes: Vec<Vec<f64>>,
}

/// Scores `choice` on every fold's validation sets, as deployed.
fn score(
    arch: &Arch,
    trunk: &[f64],
    folds: &[Fold],
    choice: MatchingChoice,
    clip: f64,
) -> Result<MatchingRow> {
    let nsets = folds.first().map_or(0, |f| f.sets.len());
    let mut episodes = vec![Vec::new(); nsets];
    for fold in folds {
        for (s, set) in fold.sets.iter().enumerate() {
            let Some(ways) = set.first().map(|e| e.ways) else {
                continue;
            };
            let def = trunk_def("cv", arch, trunk)?;
            let def = with_device_head(def, 0, arch, ways, &choice.device(clip), Some(&choice))?;
            let bytes = def
                .to_aligned_bytes()
                .map_err(|e| anyhow!("cv model: {e}"))?;
            let model =
                Model::from_bytes(bytes.as_bytes()).map_err(|e| anyhow!("cv model: {e}"))?;
            let accs: Vec<f64> = set
                .par_iter()
                .map(|ep| {
                    let n = ep.query_y.len().max(1) as f64;
                    Ok(episode_correct(&model, 0, ep, choice.steps)? as f64 / n)
                })
                .collect::<Result<_>>()?;
            episodes[s].extend(accs);
        }
    }
    let (acc, score) = set_means(&episodes);
    Ok(MatchingRow {
        choice,
        acc,
        score,
        episodes,
    })
}

/// Every candidate of `cfg.matching` scored on `folds`, and the chosen one (see the module doc).
pub fn choose(
    cfg: &ClsConfig,
    arch: &Arch,
    trunk: &[f64],
    folds: &[Fold],
) -> Result<(MatchingChoice, Vec<MatchingRow>)> {
    let m = &cfg.matching;
    let mut rows = Vec::new();
    for &shift in &m.shifts {
        for &shear in &m.shears {
            for &per_class in &m.per_class {
                // One prototype per class: the argmax does not depend on the scale.
                let scales = if per_class == 1 {
                    &m.scales[..1]
                } else {
                    &m.scales[..]
                };
                for &scale in scales {
                    let choice = MatchingChoice {
                        per_class,
                        shift,
                        shear,
                        scale,
                        alpha: 0.0,
                        steps: 0,
                    };
                    rows.push(score(arch, trunk, folds, choice, cfg.device_clip)?);
                }
            }
        }
    }
    let plain = rows.iter().position(|r| r.choice.is_plain());
    let eligible =
        |r: &MatchingRow| plain.is_none_or(|p| never_below(&r.episodes, &rows[p].episodes));
    let best = first_best(rows.iter().filter(|r| eligible(r)), |r| r.score)
        .ok_or_else(|| anyhow!("no matching candidate"))?
        .clone();
    let mut chosen = best.clone();
    for &alpha in m.alphas.iter().filter(|&&a| a > 0.0) {
        let choice = MatchingChoice {
            alpha,
            steps: cfg.device_steps,
            ..best.choice
        };
        let row = score(arch, trunk, folds, choice, cfg.device_clip)?;
        if row.score > chosen.score + 1e-12 {
            chosen = row.clone();
        }
        rows.push(row);
    }
    Ok((chosen.choice, rows))
}

/// The matching head's cross-validation of a run: folds of `cfg.matching.episodes` episodes per
/// set, every candidate scored, the table on stderr with `progress`.
pub fn run(
    cfg: &ClsConfig,
    setup: &Setup,
    arch: &Arch,
    trunk: &[f64],
    progress: bool,
) -> Result<(MatchingChoice, Vec<MatchingRow>)> {
    let t0 = std::time::Instant::now();
    let fold_cfg = ClsConfig {
        cv_episodes: cfg.matching.episodes,
        ..cfg.clone()
    };
    let folds = folds(&fold_cfg, setup)?;
    let (choice, rows) = choose(cfg, arch, trunk, &folds)?;
    if progress {
        let n = cfg.matching.episodes;
        print_header(cfg, "matching head, as deployed: ", folds.len(), n, t0);
        for r in &rows {
            let mark = if r.choice == choice {
                "  <- chosen"
            } else {
                ""
            };
            let (label, acc) = (r.choice.label(), percents(&r.acc));
            eprintln!("  {label}: {acc} | mean {:.2}{mark}", 100.0 * r.score);
        }
    }
    Ok((choice, rows))
}
