//! After training: the device's setting (prototype scale, rate, steps) chosen on the validation
//! episodes, the trunk compared with the identity, the warnings a run earned, and the
//! [`Trained`] classifier.

use super::config::ClsConfig;
use super::deploy::ClassTally;
use super::episodes::Episode;
use super::proto::ProtoSpec;
use super::setup::{configured_trunk, trunk_arch, Setup};
use super::train::{
    overall, shapes, shares, trunk_hits, val_episodes, Best, Candidate, ClsState, CurvePoint,
    Trained,
};
use crate::net::Arch;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// (scale, rate, validation accuracy per shot count) of device settings.
type Grid = Vec<(f64, f64, Vec<f64>)>;
/// A device setting's mean validation accuracy, accuracy per shot count, and the setting.
type Choice = (f64, Vec<f64>, ProtoSpec);
/// Every device setting (prototype scale, rate, steps) tried for a trunk on the validation
/// episodes; [`DeviceGrid::choice`] is the device's.
struct DeviceGrid {
    /// Every setting tried: (mean validation accuracy, accuracy per shot count, setting), each
    /// validation episode's accuracy (shot counts in turn), for the paired tests, and each
    /// validation class's accuracy (over every episode and shot count, in key order).
    settings: Vec<(Choice, Vec<f64>, Vec<f64>)>,
}

fn device_grid(cfg: &ClsConfig, trunk: &Arch, params: &[f64], val: &[Vec<Episode>]) -> DeviceGrid {
    let mut g = DeviceGrid {
        settings: Vec::new(),
    };
    for &scale in &cfg.device_scales {
        for &alpha in &cfg.device_alphas {
            let spec = ProtoSpec {
                scale,
                steps: if alpha > 0.0 { cfg.device_steps } else { 0 },
                alpha,
                clip: cfg.device_clip,
            };
            let mut tally = ClassTally::default();
            let mut correct: Vec<Vec<usize>> = Vec::with_capacity(val.len());
            for eps in val {
                let hits = trunk_hits(trunk, params, eps, &spec);
                for (h, ep) in hits.iter().zip(eps) {
                    tally.add(h, &ep.query_y, &ep.pool_class);
                }
                correct.push(
                    hits.iter()
                        .map(|h| h.iter().filter(|&&x| x).count())
                        .collect(),
                );
            }
            let accs: Vec<f64> = correct
                .iter()
                .zip(val)
                .map(|(c, e)| overall(c, e))
                .collect();
            let each = correct.iter().zip(val).flat_map(|(c, e)| shares(c, e));
            let choice = (mean(&accs), accs, spec);
            g.settings
                .push((choice, each.collect(), tally.accuracies()));
        }
    }
    g
}

impl DeviceGrid {
    /// Every setting tried: (scale, rate, validation accuracy per shot count).
    fn grid(&self) -> Grid {
        let each = self.settings.iter();
        each.map(|((_, accs, s), _, _)| (s.scale, s.alpha, accs.clone()))
            .collect()
    }

    /// The episodes' and the classes' accuracies at setting `s` (by scale and rate).
    fn scores(&self, s: &ProtoSpec) -> Option<(&[f64], &[f64])> {
        let mut each = self.settings.iter();
        each.find(|((_, _, t), _, _)| t.scale == s.scale && t.alpha == s.alpha)
            .map(|(_, e, c)| (e.as_slice(), c.as_slice()))
    }

    /// Each validation episode's accuracy at setting `s` (by scale and rate).
    fn episodes(&self, s: &ProtoSpec) -> Option<&[f64]> {
        self.scores(s).map(|(e, _)| e)
    }

    /// The best setting without steps (the prototype start alone), or with steps when it is
    /// `steps`.
    fn best(&self, steps: bool) -> Option<&Choice> {
        let mut best: Option<&Choice> = None;
        let each = self.settings.iter().map(|(c, _, _)| c);
        for c in each.filter(|c| steps || c.2.steps == 0) {
            if best.is_none_or(|b| c.0 > b.0 + 1e-9) {
                best = Some(c);
            }
        }
        best
    }

    /// The setting the device is given: the best on the validation episodes, unless it takes
    /// steps and its paired gain over the prototype start does not lie above zero beyond the
    /// episodes' noise (its 95% interval), as for the trunk; then the prototype start. Also
    /// that test, when the best setting took steps.
    fn choice(&self) -> Result<(Choice, Option<StepsTest>)> {
        let Some(best) = self.best(true) else {
            bail!("internal: no device setting was tried");
        };
        let Some(start) = self.best(false).filter(|_| best.2.steps > 0) else {
            return Ok((best.clone(), None));
        };
        let (gain, ci) = match (self.episodes(&best.2), self.episodes(&start.2)) {
            (Some(a), Some(b)) => paired(a, b),
            _ => bail!("internal: a device setting is missing from its grid"),
        };
        let test = StepsTest { gain, ci };
        let chosen = if test.passed() { best } else { start };
        Ok((chosen.clone(), Some(test)))
    }
}

/// The device steps' paired gain over the prototype start on the validation episodes
/// (accuracy, mean and 95% half-width) that decided whether the device takes them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepsTest {
    pub gain: f64,
    #[serde(deserialize_with = "crate::eval::nan_if_null")]
    pub ci: f64,
}

impl StepsTest {
    /// Whether the gain lies above zero beyond noise.
    pub fn passed(&self) -> bool {
        self.gain > self.ci
    }
}

/// The mean of `a - b`, paired per episode, and its 95% interval's half-width.
fn paired(a: &[f64], b: &[f64]) -> (f64, f64) {
    let diff: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    crate::eval::mean_ci(&diff)
}

/// The warning of a run whose validation never rose above its first point (iteration 0, the
/// random initial trunk): the trunk did not start learning, usually because the first steps
/// at the full rate pushed its ReLUs where no gradient reaches them.
fn stuck_warning(cfg: &ClsConfig, curve: &[CurvePoint], best_iter: u64) -> Option<String> {
    let last = curve.last()?;
    if best_iter != 0 || last.iter == 0 || cfg.freeze_trunk || !cfg.has_trunk_layers() {
        return None;
    }
    let first = curve.iter().find(|c| c.iter == best_iter)?;
    if mean(&first.val_acc) >= 0.99 {
        // Not a trunk that failed to learn: validation that cannot rise.
        return Some(format!(
            "validation was {:.1}% at iteration 0 already: its episodes are too easy to show what training adds, so the identity trunk (the normalised input) is exported; validate on more or harder classes (`val_classes`), or compare over folds (`trunk_folds`), and read the novel classes' table beside nearest centroid",
            100.0 * mean(&first.val_acc)
        ));
    }
    // Did it learn its training classes? Their held-out rows (at iteration 0 too), else the
    // training episodes' accuracy (none at iteration 0: from the first interval on).
    let rose = match (first.seen_acc.is_empty(), curve.get(1)) {
        (false, _) => Some((
            mean(&first.seen_acc),
            mean(&last.seen_acc),
            "held-out rows of the training classes",
        )),
        (true, Some(second)) if curve.len() >= 3 => {
            Some((second.train_acc, last.train_acc, "training episodes"))
        }
        _ => None,
    };
    if let Some((from, to, what)) = rose.filter(|(from, to, _)| *to >= from + 0.05) {
        return Some(format!(
            "validation never rose above the random initial trunk's ({:.1}% at iteration 0, {:.1}% at {}) while its {what} rose ({:.1}% -> {:.1}%): the trunk learned its training classes in a way that does not carry to new ones, so the identity trunk (the normalised input) is exported. More training classes (or subjects), augmentation, a smaller trunk or fewer iterations may carry; compare with nearest centroid in the table",
            100.0 * mean(&first.val_acc),
            100.0 * mean(&last.val_acc),
            last.iter,
            100.0 * from,
            100.0 * to
        ));
    }
    Some(format!(
        "validation never rose above the random initial trunk's ({:.1}% at iteration 0, {:.1}% at {}): the trunk did not start learning. A linear warm-up of the rate (`warmup = {}`), `grad_norm_clip = 1` or a lower `lr` usually lets it",
        100.0 * mean(&first.val_acc),
        100.0 * mean(&last.val_acc),
        last.iter,
        cfg.iterations.min(200)
    ))
}

/// The mean of `v` (0 when empty).
fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The warning of a run whose seen-class validation rose after the best held-out-class point
/// while the held-out classes fell.
fn overfit_warning(curve: &[CurvePoint], best_iter: u64) -> Option<String> {
    let best = curve.iter().find(|c| c.iter == best_iter)?;
    let last = curve.last()?;
    if best.seen_acc.is_empty() || last.iter == best.iter {
        return None;
    }
    let (seen0, seen1) = (mean(&best.seen_acc), mean(&last.seen_acc));
    let (val0, val1) = (mean(&best.val_acc), mean(&last.val_acc));
    (seen1 > seen0 + 0.01 && val1 < val0 - 0.01).then(|| {
        format!(
            "after iteration {best_iter} the trunk kept improving on held-out rows of its training classes ({:.1}% -> {:.1}%) while the held-out classes fell ({:.1}% -> {:.1}%): it learns the training classes, not features that transfer; the model keeps iteration {best_iter} (more classes, `anchor`, or fewer `hidden` units may help)",
            100.0 * seen0,
            100.0 * seen1,
            100.0 * val0,
            100.0 * val1
        )
    })
}

/// What `finish` exports: the device setting chosen (validation score, setting), the grid
/// tried, the trunks that competed, the trained trunk's gain over the identity, the steps'
/// test, and the trunk with its parameters and auxiliary classes.
struct Pick {
    chosen: (f64, ProtoSpec),
    grid: Grid,
    candidates: Vec<Candidate>,
    trunk_gain: Option<(f64, f64)>,
    /// The trained trunk's accuracy minus the identity's on each validation class.
    class_gains: Vec<f64>,
    steps_test: Option<StepsTest>,
    model: (Arch, Vec<f64>, usize),
}

/// The device settings chosen on the final trunk; a trained trunk competes with the identity
/// trunk (the normalised input), so the export is never below nearest centroid on the
/// validation classes.
fn pick_trunk(
    st: &ClsState,
    setup: &Setup,
    val: &[Vec<Episode>],
    trunk_trains: bool,
    mut pick: Pick,
) -> Result<Pick> {
    let cfg = &st.config;
    let best_iter = st.best.as_ref().map_or(0, |b| b.iter);
    let g = device_grid(cfg, &pick.model.0, &pick.model.1, val);
    let ((score, per_shots, device), test) = g.choice()?;
    pick.steps_test = test;
    pick.grid = g.grid();
    pick.chosen = (score, device);
    pick.candidates.push(Candidate {
        trunk: if trunk_trains { "trained" } else { "fixed" }.into(),
        score,
        per_shots,
        device,
    });
    if !trunk_trains {
        return Ok(pick);
    }
    let identity = trunk_arch(&[], &setup.norm);
    let ig = device_grid(cfg, &identity, &[], val);
    let ((score, per_shots, device), identity_test) = ig.choice()?;
    pick.candidates.push(Candidate {
        trunk: "identity".into(),
        score,
        per_shots,
        device,
    });
    // The trained trunk must beat the identity beyond the noise of the validation
    // episodes: its paired gain's 95% interval above zero (with folds, over every fold's
    // episodes; a record without the folds' gains: a higher mean); else the simpler
    // identity trunk is exported.
    let ((a, a_classes), (b, b_classes)) = match (g.scores(&pick.chosen.1), ig.scores(&device)) {
        (Some(a), Some(b)) => (a, b),
        _ => bail!("internal: a chosen device setting is missing from its grid"),
    };
    let (gain, ci) = paired(a, b);
    pick.trunk_gain = Some((gain, ci));
    // The same validation episodes for both trunks: the classes come in the same key order.
    pick.class_gains = a_classes
        .iter()
        .zip(b_classes)
        .map(|(x, y)| x - y)
        .collect();
    // A best validation at iteration 0 is the random initial trunk, not a learned one. Over
    // folds, every training class has validated once: the gain must hold with the class as
    // the unit (a trunk can win on every fold's episodes by a lot on one class and lose on
    // the classes it never saw).
    let identity_wins = best_iter == 0
        || match &st.folds {
            Some(f) => match (f.class_gain(), f.gain()) {
                (Some((gain, ci, _)), _) if ci.is_finite() => gain <= ci,
                (_, Some((gain, ci))) => gain <= ci,
                _ => f.mean(&f.identity) >= f.mean(&f.trained),
            },
            // No interval (a single validation episode): nothing shows a gain.
            None => ci.is_nan() || gain <= ci,
        };
    if identity_wins {
        pick.candidates.swap(0, 1);
        pick.steps_test = identity_test;
        pick.chosen = (score, device);
        pick.model = (identity, Vec::new(), 0);
    }
    Ok(pick)
}

/// The trained classifier of a finished run: its best parameters, and the device's prototype
/// scale and rate chosen for them.
pub fn finish(st: &ClsState, setup: &Setup) -> Result<Trained> {
    let cfg = &st.config;
    let (trunk, aux_classes) = shapes(cfg, setup)?;
    let Some(Best {
        score: best_val,
        iter: best_iter,
        params,
        threshold,
    }) = &st.best
    else {
        bail!("the run has not been validated yet");
    };
    let (best_val, best_iter) = (*best_val, *best_iter);
    let val = val_episodes(setup, cfg, false)?;
    let cv = &st.cv;
    let curve = st.curve.clone();
    // The device's prototype scale and rate, chosen on validation episodes: the
    // cross-validation's when it ran (0-step rows: the prototype start, scale-free), else on
    // the validation episodes with the final trunk.
    let mut chosen = (f64::NEG_INFINITY, cfg.proto);
    if let Some((p, rows)) = &cv {
        for r in rows.iter().filter(|r| r.power == *p) {
            if r.score > chosen.0 + 1e-9 {
                chosen = (r.score, r.device);
            }
        }
    }
    let matching = st.matching.as_ref().map(|(choice, _)| *choice);
    let trunk_trains = !cfg.freeze_trunk && cfg.has_trunk_layers();
    let mut pick = Pick {
        chosen,
        grid: Vec::new(),
        candidates: Vec::new(),
        trunk_gain: None,
        class_gains: Vec::new(),
        steps_test: None,
        model: (trunk, params.clone(), aux_classes),
    };
    if cv.is_none() && matching.is_none() {
        pick = pick_trunk(st, setup, &val, trunk_trains, pick)?;
    }
    let Pick {
        chosen,
        grid,
        candidates,
        trunk_gain,
        class_gains,
        steps_test,
        model: (trunk, params, aux_classes),
    } = pick;
    let configured = configured_trunk(cfg, &setup.norm)?;
    let trained_trunk = trunk_trains.then(|| {
        let nt = configured.n_params();
        let p = st
            .best
            .as_ref()
            .map_or_else(Vec::new, |b| b.params[..nt].to_vec());
        (configured, p)
    });
    Ok(Trained {
        trunk,
        params,
        aux_classes,
        ways: cfg.ways,
        device: match &matching {
            Some(m) => m.device(cfg.device_clip),
            // Steps at rate 0 change nothing: the device is told to take none.
            None => ProtoSpec {
                steps: if chosen.1.alpha > 0.0 {
                    cfg.device_steps
                } else {
                    0
                },
                ..chosen.1
            },
        },
        matching,
        matching_cv: st.matching.as_ref().map_or_else(Vec::new, |m| m.1.clone()),
        best_iter,
        best_val,
        val_shots: cfg.shots.clone(),
        curve,
        device_grid: grid,
        metric_power: cv.as_ref().map_or(0.0, |c| c.0),
        cv_sets: if cv.is_some() {
            super::metric::set_names(cfg)
        } else {
            Vec::new()
        },
        cv: cv.as_ref().map_or_else(Vec::new, |c| c.1.clone()),
        candidates,
        trained_trunk,
        early_stop: st.early_stop,
        warning: stuck_warning(cfg, &st.curve, best_iter)
            .or_else(|| overfit_warning(&st.curve, best_iter)),
        folds: st.folds.clone(),
        trunk_gain,
        trunk_class_gains: class_gains,
        steps_test,
        open_set_threshold: threshold.first().map(|t| t.exp()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(iter: u64, val: f64, seen: f64) -> CurvePoint {
        CurvePoint {
            iter,
            proto_loss: 0.0,
            aux_loss: 0.0,
            train_acc: 0.0,
            val_acc: vec![val],
            seen_acc: vec![seen],
        }
    }

    #[test]
    fn a_run_that_never_beats_its_initial_trunk_is_told_so() {
        let cfg = ClsConfig::default();
        let flat = [
            point(0, 0.22, 0.2),
            point(100, 0.21, 0.2),
            point(200, 0.2, 0.2),
        ];
        let w = stuck_warning(&cfg, &flat, 0).expect("stuck");
        assert!(
            w.contains("22.0% at iteration 0") && w.contains("warmup"),
            "{w}"
        );
        // Validation at 100 % from the start: saturated, not stuck.
        let full = [point(0, 1.0, 1.0), point(100, 1.0, 1.0)];
        let w = stuck_warning(&cfg, &full, 0).expect("saturated");
        assert!(w.contains("too easy") && !w.contains("warmup"), "{w}");
        // Training classes' held-out rows that rose while validation did not: it learned.
        let mut fitted = flat.clone();
        fitted[2].seen_acc = vec![0.9];
        let w = stuck_warning(&cfg, &fitted, 0).expect("fitted");
        assert!(
            w.contains("training classes rose (20.0% -> 90.0%)") && !w.contains("warmup"),
            "{w}"
        );
        // Without them, the training episodes' accuracy from the first interval on.
        for p in &mut fitted {
            p.seen_acc.clear();
        }
        fitted[1].train_acc = 0.4;
        fitted[2].train_acc = 0.8;
        let w = stuck_warning(&cfg, &fitted, 0).expect("fitted");
        assert!(w.contains("training episodes rose (40.0% -> 80.0%)"), "{w}");
        // Learning runs, a run of no iterations and a frozen trunk get no warning.
        assert!(stuck_warning(&cfg, &flat, 100).is_none());
        assert!(stuck_warning(&cfg, &flat[..1], 0).is_none());
        let frozen = ClsConfig {
            freeze_trunk: true,
            ..ClsConfig::default()
        };
        assert!(stuck_warning(&frozen, &flat, 0).is_none());
    }

    #[test]
    fn a_trunk_that_learns_its_training_classes_only_is_told_so() {
        let curve = [
            point(0, 0.3, 0.3),
            point(100, 0.5, 0.5),
            point(200, 0.4, 0.7),
        ];
        let w = overfit_warning(&curve, 100).expect("overfits");
        assert!(w.contains("50.0% -> 70.0%"), "{w}");
        assert!(overfit_warning(&curve, 200).is_none());
    }
}
