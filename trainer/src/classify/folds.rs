//! Fold validation of the trunk: the trained trunk against the identity on each fold of the
//! training classes.

use super::config::ClsConfig;
use super::data::Dataset;
use super::select::finish;
use super::setup::Setup;
use super::train::{train_from, ClsState};
use crate::engine::Checkpoints;
use anyhow::Result;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The validation of both trunks on each fold of the training classes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FoldScores {
    /// The held-out classes of each fold.
    pub folds: Vec<Vec<usize>>,
    /// Mean validation accuracy (over the shot counts) of each trunk, per fold.
    pub trained: Vec<f64>,
    pub identity: Vec<f64>,
    /// The trained trunk's paired gain over the identity on each fold's validation episodes,
    /// and its 95 % interval's half-width (empty in a record written before they were kept).
    #[serde(default)]
    pub gains: Vec<(f64, f64)>,
    /// The same gain class by class, per fold (empty in a record written before they were
    /// kept).
    #[serde(default)]
    pub class_gains: Vec<Vec<f64>>,
}

impl FoldScores {
    pub fn mean(&self, v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len().max(1) as f64
    }

    /// The paired gain over every fold's validation episodes (the folds' episodes are as
    /// many and independent): the mean of the folds' gains, its half-width theirs added in
    /// quadrature over the fold count. None without gains, or when a fold has no interval.
    pub fn gain(&self) -> Option<(f64, f64)> {
        if self.gains.is_empty() || self.gains.iter().any(|(_, ci)| !ci.is_finite()) {
            return None;
        }
        let n = self.gains.len() as f64;
        let gain = self.gains.iter().map(|g| g.0).sum::<f64>() / n;
        let ci = self.gains.iter().map(|g| g.1 * g.1).sum::<f64>().sqrt() / n;
        Some((gain, ci))
    }

    /// The gain with the class as the unit: the mean of every fold's validation classes'
    /// gains (each training class validates in one fold), its Student's t 95 % half-width,
    /// and the class count. None without class gains.
    pub fn class_gain(&self) -> Option<(f64, f64, usize)> {
        let all: Vec<f64> = self.class_gains.iter().flatten().copied().collect();
        if all.is_empty() {
            return None;
        }
        let (gain, ci) = crate::eval::mean_ci(&all);
        Some((gain, ci, all.len()))
    }
}

/// Trains a trunk on the other classes for each of `cfg.trunk_folds` folds of the training
/// classes (drawn with `split_seed`) and scores it and the identity trunk on the fold's classes,
/// each at its best device setting: the same procedure as the run's own validation split.
pub fn trunk_folds(cfg: &ClsConfig, ds: &Dataset, progress: bool) -> Result<FoldScores> {
    let mut classes = cfg.train_classes.clone();
    classes.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.split_seed ^ 0x0f01_d5ee));
    let n = cfg.trunk_folds;
    let folds: Vec<Vec<usize>> = (0..n)
        .map(|f| {
            let mut v: Vec<usize> = classes.iter().skip(f).step_by(n).copied().collect();
            v.sort_unstable();
            v
        })
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let none = Checkpoints {
        path: None,
        stop: &stop,
        stop_at: None,
    };
    let mut scores = FoldScores {
        folds: folds.clone(),
        trained: Vec::new(),
        identity: Vec::new(),
        gains: Vec::new(),
        class_gains: Vec::new(),
    };
    let t0 = std::time::Instant::now();
    for fold in &folds {
        let fold_cfg = ClsConfig {
            val_classes: fold.clone(),
            trunk_folds: 0,
            ..cfg.clone()
        };
        let setup = Setup::with_data(&fold_cfg, ds.clone())?;
        let mut st = ClsState::new(&fold_cfg, &setup, false)?;
        train_from(&mut st, &setup, &none, false)?;
        let t = finish(&st, &setup)?;
        let score = |name: &str| {
            t.candidates
                .iter()
                .find(|c| c.trunk == name)
                .map_or(0.0, |c| c.score)
        };
        scores.trained.push(score("trained"));
        scores.identity.push(score("identity"));
        scores
            .gains
            .push(t.trunk_gain.unwrap_or((f64::NAN, f64::NAN)));
        scores.class_gains.push(t.trunk_class_gains.clone());
        if progress {
            eprintln!(
                "trunk fold {}: trained {:.2}%, identity {:.2}% ({:.0} s)",
                ds.describe_classes(fold),
                100.0 * score("trained"),
                100.0 * score("identity"),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(class_gains: Vec<Vec<f64>>) -> FoldScores {
        FoldScores {
            folds: vec![vec![0, 1], vec![2, 3]],
            trained: vec![0.9, 0.9],
            identity: vec![0.8, 0.8],
            gains: vec![(0.1, 0.01), (0.1, 0.01)],
            class_gains,
        }
    }

    /// A gain that comes from one class of four is no gain with the class as the unit, even
    /// when every fold's episodes say +10 points +- 1.
    #[test]
    fn the_class_is_the_unit_of_the_folds_gain() {
        let (gain, ci, n) = scores(vec![vec![0.4, 0.0], vec![0.0, 0.0]])
            .class_gain()
            .unwrap();
        assert_eq!(n, 4);
        assert!((gain - 0.1).abs() < 1e-12 && ci > gain, "{gain} {ci}");
        let (gain, ci, _) = scores(vec![vec![0.1, 0.12], vec![0.09, 0.11]])
            .class_gain()
            .unwrap();
        assert!(gain > ci, "{gain} {ci}");
        // A record written before class gains were kept has none.
        assert!(scores(Vec::new()).class_gain().is_none());
    }
}
