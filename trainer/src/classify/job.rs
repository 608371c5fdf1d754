//! Episodic training of a trunk with a prototype head and a multi-task head, as a job of the
//! [`engine`]: the meta-batch of episodes, the weighted losses (fixed or uncertainty weights),
//! the anchor's pull, and validation on held-out episodes with early stopping.

use super::config::LossWeight;
use super::episodes::Episode;
use super::open_set::training_episode;
use super::proto::{episode_grad, EpisodeData, ProtoSpec, Scratch};
use super::setup::Setup;
use super::train::{accuracy, pool_episodes, shapes, val_episodes, Best, ClsState, CurvePoint};
use crate::engine::optim::{Adam, Optimiser};
use crate::engine::{self, Checkpoints, Flow, Job, Trainable};
use crate::net::Arch;
use anyhow::Result;
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Train `st` on to `st.config.iterations` (or its early stop): validation every `val_every`
/// iterations keeps the best parameters. Writes the checkpoint every `checkpoint_every` steps,
/// and when `ckpts` stops the run (then returns false: interrupted). A resumed run gives the
/// uninterrupted run's bytes.
pub fn train_from(
    st: &mut ClsState,
    setup: &Setup,
    ckpts: &Checkpoints,
    progress: bool,
) -> Result<bool> {
    let cfg = &st.config;
    let (trunk, aux_classes) = shapes(cfg, setup)?;
    let n = st.params.len();
    let mut job = EpisodicTraining {
        setup,
        aux_classes,
        val: val_episodes(setup, cfg, true)?,
        seen: match &setup.seen {
            Some(pool) => pool_episodes(setup, pool, setup.seen_query, cfg)?,
            None => Vec::new(),
        },
        // The identity trunk without a multi-task head has no parameter: validation only.
        nothing_to_train: n == 0 || (cfg.freeze_trunk && aux_classes == 0),
        trunk,
        within: super::subjects::training_pools(setup, cfg),
    };
    engine::run(&mut job, st, ckpts, progress)
}

impl Trainable for ClsState {
    fn optimiser(&self) -> Optimiser {
        self.config.optimiser()
    }

    fn checkpoint_every(&self) -> u64 {
        self.config.checkpoint_every
    }

    fn parts(&mut self) -> (&mut Adam, Vec<&mut [f64]>) {
        (
            &mut self.adam,
            vec![&mut self.params, &mut self.logvar, &mut self.threshold],
        )
    }
}

/// What the loop needs besides the state: the data, the validation episodes (per shot count),
/// the held-out rows of the training classes (the overfitting warning's).
struct EpisodicTraining<'a> {
    setup: &'a Setup,
    trunk: Arch,
    aux_classes: usize,
    val: Vec<Vec<Episode>>,
    seen: Vec<Vec<Episode>>,
    nothing_to_train: bool,
    /// Per shot count, the training pool cut per subject (empty: pooled episodes).
    within: Vec<Vec<super::subjects::SubjectPool>>,
}

impl Job for EpisodicTraining<'_> {
    type State = ClsState;

    fn observe(&mut self, st: &mut ClsState, it: u64, bar: &ProgressBar) -> Result<Flow> {
        let cfg = &st.config;
        // (A checkpoint written at the end of a run already holds its last validation.)
        let validated = st.curve.last().is_some_and(|c| c.iter == it);
        if (it.is_multiple_of(cfg.val_every.max(1)) || it >= cfg.iterations) && !validated {
            self.validate(st, it, bar);
        }
        let stop = st.early_stop.is_some() || self.nothing_to_train;
        Ok(if stop { Flow::Stop } else { Flow::Continue })
    }

    fn gradient(&mut self, st: &mut ClsState, it: u64) -> Result<(f64, Vec<f64>)> {
        let (bl_p, bl_a, gp, ga, g_thr) = self.batch_gradients(st, it)?;
        let cfg = &st.config;
        let nt = st.anchor.len();
        let (wp, wa) = match cfg.aux_weight {
            LossWeight::Fixed(w) => (1.0, w),
            LossWeight::Uncertainty => ((-st.logvar[0]).exp(), (-st.logvar[1]).exp()),
        };
        let mut g: Vec<f64> = gp.iter().zip(&ga).map(|(p, a)| wp * p + wa * a).collect();
        for (i, gi) in g.iter_mut().enumerate().take(nt) {
            *gi += cfg.anchor * (st.params[i] - st.anchor[i]);
            if cfg.freeze_trunk {
                // Zero from the first step: Adam never moves the trunk.
                *gi = 0.0;
            }
        }
        if cfg.aux_weight == LossWeight::Uncertainty {
            let aux = if self.aux_classes > 0 {
                1.0 - wa * bl_a
            } else {
                0.0
            };
            g.extend_from_slice(&[1.0 - wp * bl_p, aux]);
        } else {
            g.extend_from_slice(&[0.0, 0.0]);
        }
        if !st.threshold.is_empty() {
            g.push(wp * g_thr);
        }
        Ok((wp * bl_p + wa * bl_a, g))
    }
}

impl EpisodicTraining<'_> {
    /// Validation accuracy (0 steps) per shot count: the curve, the best parameters, the early
    /// stop and the progress message.
    fn validate(&self, st: &mut ClsState, it: u64, bar: &ProgressBar) {
        let cfg = &st.config;
        let zero_steps = ProtoSpec {
            steps: 0,
            ..cfg.proto
        };
        let score_on = |eps: &[Vec<Episode>]| -> Vec<f64> {
            eps.iter()
                .map(|e| accuracy(&self.trunk, &st.params, e, &zero_steps))
                .collect()
        };
        let (accs, seen_accs) = (score_on(&self.val), score_on(&self.seen));
        let score = accs.iter().sum::<f64>() / accs.len().max(1) as f64;
        if st
            .best
            .as_ref()
            .is_none_or(|b| score > b.score || (cfg.freeze_trunk && score >= b.score))
        {
            st.best = Some(Best {
                score,
                iter: it,
                params: st.params.clone(),
                threshold: st.threshold.clone(),
            });
        }
        let w = std::mem::take(&mut st.since);
        let c = w.episodes.max(1) as f64;
        st.curve.push(CurvePoint {
            iter: it,
            proto_loss: w.proto_loss / c,
            aux_loss: w.aux_loss / c,
            train_acc: w.train_acc / c,
            val_acc: accs.clone(),
            seen_acc: seen_accs,
        });
        let (best, best_iter) = st.best.as_ref().map_or((score, it), |b| (b.score, b.iter));
        if cfg.patience > 0 && it - best_iter >= cfg.patience as u64 * cfg.val_every {
            st.early_stop = Some(it);
        }
        let accs: Vec<String> = accs.iter().map(|a| format!("{a:.3}")).collect();
        // Before any training batch (the validation at iteration 0) there is no loss yet.
        let losses = match w.episodes {
            0 => "proto - aux -".to_string(),
            _ => format!("proto {:.3} aux {:.3}", w.proto_loss / c, w.aux_loss / c),
        };
        bar.set_message(format!(
            "{losses} | val acc {} (best {best:.3} @ {best_iter})",
            accs.join("/"),
        ));
    }

    /// The meta-batch of iteration `it` (a pure function of the seed and `it`): mean prototype
    /// and multi-task losses, their gradients over the parameters and the prototype loss's
    /// gradient wrt the open-set threshold; the window's sums.
    fn batch_gradients(&self, st: &mut ClsState, it: u64) -> Result<BatchGradients> {
        let cfg = &st.config;
        let setup = self.setup;
        let global: Vec<usize> = (0..setup.train.classes.len()).collect();
        let mut r = ChaCha8Rng::seed_from_u64(cfg.seed);
        r.set_stream(it + 1);
        let shot_idx = (it as usize) % cfg.shots.len();
        let shots = cfg.shots[shot_idx];
        let within = self.within.get(shot_idx).map_or(&[][..], |w| &w[..]);
        let eps: Vec<Episode> = (0..cfg.meta_batch)
            .map(|_| match within.len() {
                0 => setup
                    .train
                    .sample(&setup.ds, setup.train_ways, shots, cfg.query, &mut r),
                n => {
                    let (_, pool, query) = &within[r.random_range(0..n)];
                    pool.sample(&setup.ds, setup.train_ways, shots, *query, &mut r)
                }
            })
            .collect::<Result<_>>()?;
        // The rows of other classes are drawn after the episodes: a closed-set run's stream
        // is unchanged.
        let data: Vec<EpisodeData<f32>> = eps
            .iter()
            .map(|ep| {
                let g = cfg.aux.then_some(&global[..]);
                training_episode(setup, &self.trunk, ep, g, cfg.unknown_queries, &mut r)
            })
            .collect::<Result<_>>()?;
        let n = st.params.len();
        let p32: Vec<f32> = st.params.iter().map(|&x| x as f32).collect();
        let log_tau = st.threshold.first().map(|&t| t as f32);
        let outs: Vec<_> = data
            .par_iter()
            .map(|d| {
                let (mut gp, mut ga) = (vec![0.0f32; n], vec![0.0f32; n]);
                let l = episode_grad(
                    &self.trunk,
                    self.aux_classes,
                    &p32,
                    d,
                    &cfg.proto,
                    log_tau,
                    &mut Scratch::default(),
                    &mut gp,
                    &mut ga,
                );
                (l, d.nq, gp, ga)
            })
            .collect();
        let b = cfg.meta_batch as f64;
        let (mut gp, mut ga) = (vec![0.0f64; n], vec![0.0f64; n]);
        let (mut bl_p, mut bl_a, mut g_thr) = (0.0, 0.0, 0.0);
        let w = &mut st.since;
        for (l, q, g1, g2) in &outs {
            bl_p += l.proto as f64 / b;
            bl_a += l.aux as f64 / b;
            g_thr += l.threshold_grad as f64 / b;
            w.train_acc += l.correct as f64 / *q as f64;
            w.episodes += 1;
            for i in 0..n {
                gp[i] += g1[i] as f64 / b;
                ga[i] += g2[i] as f64 / b;
            }
        }
        w.proto_loss += bl_p * b;
        w.aux_loss += bl_a * b;
        Ok((bl_p, bl_a, gp, ga, g_thr))
    }
}

/// A meta-batch's mean prototype and multi-task losses, their gradients over the parameters,
/// and the prototype loss's gradient wrt the open-set threshold `ln tau`.
type BatchGradients = (f64, f64, Vec<f64>, Vec<f64>, f64);
